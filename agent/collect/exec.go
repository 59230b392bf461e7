package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sbinDirs are searched after PATH: Debian leaves /usr/sbin, where
// smartctl lives, out of the PATH of unprivileged users.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// lookPath finds a tool in PATH, then in sbinDirs.
func lookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	for _, dir := range sbinDirs {
		if p, err2 := exec.LookPath(filepath.Join(dir, name)); err2 == nil {
			return p, nil
		}
	}
	return "", err
}

// commandExec runs commands on the live system, each bounded by timeout.
// Output is standard output only; standard error is attached to the error.
func commandExec(timeout time.Duration) ExecFunc {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		path, err := lookPath(name)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", name, err)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			if msg != "" {
				return out, fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, msg)
			}
			return out, fmt.Errorf("run %s %s: %w", name, strings.Join(args, " "), err)
		}
		return out, nil
	}
}

// RecordedName returns the file name under which the output of a command is
// recorded in a root's cmd/ directory: the command and its arguments joined
// with "_", every "/" turned into "_" and a leading "/" of an argument
// dropped, followed by ".json" when the output is JSON (or ".txt"):
//
//	smartctl --json -a /dev/sda  ->  smartctl_--json_-a_dev_sda.json
//	iw dev wlp2s0 link           ->  iw_dev_wlp2s0_link.txt
//
// The replaying Exec looks for the name with ".json", then ".txt", then no
// extension. A file "<name>.exit" holding a number makes the replay return
// that exit status as an error along with the output, like os/exec does.
func RecordedName(name string, args ...string) string {
	parts := make([]string, 0, len(args)+1)
	parts = append(parts, filepath.Base(name))
	for _, a := range args {
		parts = append(parts, strings.ReplaceAll(strings.TrimPrefix(a, "/"), "/", "_"))
	}
	return strings.Join(parts, "_")
}

// errExit is the error a replayed command returns for a recorded non-zero
// exit status.
type errExit struct{ code string }

func (e errExit) Error() string { return "exit status " + e.code }

// replayExec returns outputs recorded under dir instead of running commands.
func replayExec(dir string) ExecFunc {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		base := filepath.Join(dir, RecordedName(name, args...))
		for _, ext := range []string{".json", ".txt", ""} {
			out, err := os.ReadFile(base + ext)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("replay %s: %w", name, err)
			}
			if code, err := os.ReadFile(base + ".exit"); err == nil {
				if c := strings.TrimSpace(string(code)); c != "0" {
					return out, fmt.Errorf("replay %s %s: %w", name, strings.Join(args, " "), errExit{c})
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("run %s %s: %w under %s: %w", name, strings.Join(args, " "), ErrNotRecorded, dir, exec.ErrNotFound)
	}
}

// missingTool reports whether err says the tool is not installed.
func missingTool(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist)
}
