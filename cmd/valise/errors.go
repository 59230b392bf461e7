package main

// errHelpShown stops a command whose help was asked for after its
// arguments ("devices show VAL-0001 --help"); err is the printing error.
type errHelpShown struct{ err error }

func (e errHelpShown) Error() string { return "help shown" }

// toldError is a failure already explained on stderr (one line per failed
// device): run exits 1 without printing it again.
type toldError struct{ msg string }

func (e *toldError) Error() string { return e.msg }
