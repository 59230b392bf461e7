package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

func (e *env) completionCommand() *cli.Command {
	return &cli.Command{
		Name:  "completion",
		Usage: "print a shell completion script: source <(valise completion bash)",
		Description: "Load it in the current shell with one of\n" +
			"  source <(valise completion bash)\n" +
			"  source <(valise completion zsh)     # after compinit\n" +
			"  valise completion fish | source\n" +
			"or write it where your shell loads completions from.",
		ArgsUsage: "bash|zsh|fish",
		Action:    e.completion,
	}
}

func (e *env) completion(c *cli.Context) error {
	pos, err := args(c, "shell (bash, zsh or fish)")
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		_, err = fmt.Fprint(e.stdout, bashCompletion)
	case "zsh":
		_, err = fmt.Fprint(e.stdout, zshCompletion)
	case "fish":
		var script string
		if script, err = c.App.ToFishCompletion(); err == nil {
			_, err = fmt.Fprint(e.stdout, script)
		}
	default:
		return cmdmain.Usagef(c, "no completion for shell %q: use bash, zsh or fish", pos[0])
	}
	return err
}

// complete prints the candidate words for shell completion. The shell
// scripts call "valise <words so far> [<partial flag>] --generate-bash-completion";
// urfave/cli's own completion reads os.Args, this one the arguments given
// to run, so that tests drive it too.
func (e *env) complete(c *cli.Context) {
	w := c.App.Writer
	last := ""
	if n := len(e.args); n > 2 {
		last = e.args[n-2]
	}
	cmd := c.Command
	if strings.HasPrefix(last, "-") {
		if values := flagValues(strings.TrimLeft(last, "-")); values != nil {
			for _, v := range values {
				fmt.Fprintln(w, v)
			}
			return
		}
		flags := cmd.Flags
		if cmd.HelpName == "" || cmd.HelpName == c.App.Name {
			flags = c.App.Flags
		}
		prefix := strings.TrimLeft(last, "-")
		for _, f := range flags {
			name := f.Names()[0]
			if len(name) > 1 && strings.HasPrefix(name, prefix) && !slices.Contains(e.args, "--"+name) {
				fmt.Fprintln(w, "--"+name)
			}
		}
		return
	}
	for _, sub := range cmd.Subcommands {
		if !sub.Hidden && sub.Name != "help" && c.NArg() == 0 {
			fmt.Fprintln(w, sub.Name)
		}
	}
	switch {
	case cmd.ArgsUsage == refArg+"…",
		c.NArg() == 0 && (cmd.ArgsUsage == refArg || cmd.ArgsUsage == certRefArg || strings.HasPrefix(cmd.ArgsUsage, refArg+" ")):
		for _, ref := range e.deviceRefs(c) {
			if !slices.Contains(c.Args().Slice(), ref) {
				fmt.Fprintln(w, ref)
			}
		}
	case strings.HasPrefix(cmd.ArgsUsage, kitArg+" "+refArg) && c.NArg() > 0:
		// kits add KIT DEVICE…: the devices after the kit.
		for _, ref := range e.deviceRefs(c) {
			if !slices.Contains(c.Args().Slice()[1:], ref) {
				fmt.Fprintln(w, ref)
			}
		}
	case cmd.Name == "set-state" && c.NArg() == 1:
		fmt.Fprintln(w, strings.Join(settableStates, "\n"))
	case cmd.Name == "completion" && c.NArg() == 0:
		fmt.Fprintln(w, "bash\nzsh\nfish")
	}
}

// completionFlag ends the command lines the completion scripts send.
const completionFlag = "--generate-bash-completion"

// completionArgs adapts a completion request: urfave/cli gives up on a
// line that holds "--", which is what the shell sends while the user has
// typed just "--"; that word becomes "-", which lists every flag.
func completionArgs(args []string) []string {
	n := len(args)
	if n < 2 || args[n-1] != completionFlag || args[n-2] != "--" {
		return args
	}
	args = slices.Clone(args)
	args[n-2] = "-"
	return args
}

// lifecycleStates are the server's lifecycle states, in the order of the
// cycle, for completion of --state.
var lifecycleStates = []string{"intake", "needs_wipe", "wiping", "wipe_failed", "wiped", "provisioning", "ready", "on_loan", "maintenance", "lost", "retired"}

// flagValues lists the values a flag takes, for completion; nil for flags
// without a fixed set.
func flagValues(flag string) []string {
	switch flag {
	case "class":
		return enrollClasses
	case "metric":
		return apitype.Metrics
	case "state":
		return lifecycleStates
	case "method":
		return methodNames()
	case "verify":
		return verifyModes
	case "destination":
		return destinations
	case "profile":
		return profileNames
	case "role":
		return roles
	case "kind":
		return venueKinds
	}
	return nil
}

// bashCompletion is urfave/cli's bash script with the program name fixed,
// so that it also works when sourced from a pipe.
const bashCompletion = `# bash completion for valise: source <(valise completion bash)
_valise_init_completion() {
  COMPREPLY=()
  _get_comp_words_by_ref "$@" cur prev words cword
}

_valise_bash_autocomplete() {
  if [[ "${COMP_WORDS[0]}" != "source" ]]; then
    local cur opts base words cword
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if declare -F _init_completion >/dev/null 2>&1; then
      _init_completion -n "=:" || return
    elif declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
      _valise_init_completion -n "=:" || return
    else
      words=("${COMP_WORDS[@]}")
      cword=$COMP_CWORD
    fi
    words=("${words[@]:0:$cword}")
    if [[ "$cur" == "-"* ]]; then
      requestComp="${words[*]} ${cur} --generate-bash-completion"
    else
      requestComp="${words[*]} --generate-bash-completion"
    fi
    opts=$(eval "${requestComp}" 2>/dev/null)
    COMPREPLY=($(compgen -W "${opts}" -- ${cur}))
    return 0
  fi
}

complete -o bashdefault -o default -o nospace -F _valise_bash_autocomplete valise
`

// zshCompletion is urfave/cli's zsh script with the program name fixed.
const zshCompletion = `#compdef valise
# zsh completion for valise: source <(valise completion zsh), after compinit

_valise_zsh_autocomplete() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi

  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

compdef _valise_zsh_autocomplete valise
`
