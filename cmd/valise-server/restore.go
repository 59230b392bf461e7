package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/server"
	"github.com/valise-numerique/valise/server/store"
)

func restoreCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "put a backup in place of the store, the server stopped",
		UsageText: "valise-server restore FILE [--data DIR]\n\n" +
			"Refuses while a server runs on DIR. FILE must be a Valise store this server reads\n" +
			"(an older schema is migrated) whose audit log verifies. The current store is kept\n" +
			"as DIR/valise.db.before-restore-TIME; the backup replaces it in one rename.",
		Flags: []cli.Flag{dataFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cmdmain.Usagef(c, "give the backup FILE to restore")
			}
			// The flag parser stops at FILE: read a --data that follows it.
			dir, rest := c.String("data"), c.Args().Slice()[1:]
			for len(rest) > 0 {
				switch v, ok := strings.CutPrefix(rest[0], "--data="); {
				case ok:
					dir, rest = v, rest[1:]
				case rest[0] == "--data" || rest[0] == "-data":
					if len(rest) < 2 {
						return cmdmain.Usagef(c, "flag needs an argument: %s", rest[0])
					}
					dir, rest = rest[1], rest[2:]
				default:
					return cmdmain.Usagef(c, "unexpected argument %q: give one backup FILE", rest[0])
				}
			}
			return restore(stdout, c.Args().First(), dir, time.Now())
		},
	}
}

// restore puts the backup file in place of dir's store.
func restore(stdout io.Writer, file, dir string, now time.Time) error {
	dst := filepath.Join(dir, server.StoreFile)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	if abs(file) == abs(dst) {
		return fmt.Errorf("backup %s is the store itself", file)
	}
	// A server running on dir holds the lock of its store.
	if _, err := store.Inspect(dst, lockWait); errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a valise-server runs on %s: stop it before restoring", dir)
	}
	if _, err := store.Inspect(file, lockWait); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("backup %s: no such file", file)
		}
		return fmt.Errorf("backup %s: %w", file, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	// Check the very bytes that go in place: a copy next to the store,
	// opened (migrated if older) and verified.
	tmp := dst + ".restore.tmp"
	if err := copyFile(tmp, file); err != nil {
		return err
	}
	st, err := store.Open(tmp, store.Options{Timeout: lockWait})
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", file, err)
	}
	counts, err := checkStore(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", file, err)
	}

	// Keep the current store under a second name (a hard link: valise.db
	// never goes missing), then replace it in one rename.
	kept := ""
	if _, err := os.Stat(dst); err == nil {
		kept = dst + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		if err := os.Link(dst, kept); err != nil {
			if err := copyFile(kept, dst); err != nil {
				os.Remove(tmp)
				return fmt.Errorf("keep the current store: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put the backup in place: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s\n%s\n", file, dst, describe(counts))
	if kept != "" {
		fmt.Fprintf(stdout, "the previous store is kept as %s\n", kept)
	}
	if _, err := os.Stat(filepath.Join(dir, server.CommandKeyFile)); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "%s has no %s: put back the keys of the server the backup comes from (command.key, ca.crt, ca.key, admin.token, mqtt.password), or agents will refuse its commands\n",
			dir, server.CommandKeyFile)
	}
	return nil
}

// copyFile copies src to a new file dst (mode 0600), synced.
func copyFile(dst, src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(dst)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return out.Close()
}
