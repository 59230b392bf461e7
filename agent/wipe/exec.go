package wipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"

	"github.com/valise-numerique/valise/internal/certificate"
)

// maxOutput bounds the raw output kept per command in a medium record.
const maxOutput = 4 << 10

// runCommand is the default Options.Exec: the command's combined output,
// in the C locale, since hdparm and cryptsetup output is parsed as text
// and kept in certificates, whatever the technician's language.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// exitCode tells the exit status carried by err: 0 for nil, the process's
// status when err has an ExitCode method (exec.ExitError does), -1 when
// the command could not run at all.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

// recorder runs commands through Options.Exec and keeps each one, with
// its raw output, for the medium record.
type recorder struct {
	exec     func(ctx context.Context, name string, args ...string) ([]byte, error)
	commands []certificate.Command
}

// run runs one command and records it.
func (r *recorder) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := r.exec(ctx, name, args...)
	text := string(out)
	if err != nil && exitCode(err) == -1 && len(out) == 0 {
		text = err.Error()
	}
	r.commands = append(r.commands, certificate.Command{
		Command:  commandLine(name, args),
		ExitCode: exitCode(err),
		Output:   truncate(text, maxOutput),
	})
	return string(out), err
}

// poll runs a status command as run does, but replaces the record of the
// same command just before it: of a polling loop, the last answer is kept.
func (r *recorder) poll(ctx context.Context, name string, args ...string) (string, error) {
	line := commandLine(name, args)
	if n := len(r.commands); n > 0 && r.commands[n-1].Command == line {
		r.commands = r.commands[:n-1]
	}
	return r.run(ctx, name, args...)
}

// commandLine renders a command as a shell would need it typed.
func commandLine(name string, args []string) string {
	parts := make([]string, 0, len(args)+1)
	for _, a := range append([]string{name}, args...) {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// truncate keeps the first n bytes of s, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "\n[truncated]"
	return s[:n-len(mark)] + mark
}
