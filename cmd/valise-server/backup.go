package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/server"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// lockWait is how long backup and restore wait for the store's lock
// before they take it for held by a running server.
const lockWait = 500 * time.Millisecond

func dataFlag() cli.Flag {
	return &cli.StringFlag{Name: "data", Value: "./" + server.DefaultDataDir, EnvVars: []string{"VALISE_DATA"},
		Usage: "data directory of the server"}
}

func backupCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "copy the store to a file, consistent to one transaction, while the server runs or not",
		UsageText: "valise-server backup --to FILE [--data DIR] [--server URL]\n\n" +
			"While a server runs on DIR (its store is locked), the copy comes through its API\n" +
			"(GET /api/v1/backup) with the admin token of DIR/admin.token, trusting DIR/ca.crt\n" +
			"for https; ingest goes on meanwhile. Otherwise the store is read directly.\n" +
			"The copy is written to FILE.tmp, synced, checked (schema, audit log) and only then\n" +
			"renamed to FILE. The backup holds the store only: keep a copy of the data\n" +
			"directory's keys too (command.key, ca.crt, ca.key, admin.token, mqtt.password).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "file to write the backup to (replaced if it exists)"},
			dataFlag(),
			&cli.StringFlag{Name: "server", EnvVars: []string{"VALISE_SERVER_URL"},
				Usage: "API of the running server (default: from --http and --tls, as the server reads them)"},
			&cli.StringFlag{Name: "http", Value: server.DefaultHTTPAddr, EnvVars: []string{"VALISE_HTTP"},
				Usage: "the server's --http, to find it without --server (0.0.0.0 becomes 127.0.0.1)"},
			&cli.BoolFlag{Name: "tls", EnvVars: []string{"VALISE_TLS"},
				Usage: "the server's --tls, to find it without --server (https is used off loopback anyway)"},
		},
		Action: func(c *cli.Context) error {
			if err := cmdmain.NoArgs(c); err != nil {
				return err
			}
			to := c.String("to")
			if to == "" {
				return cmdmain.Usagef(c, "--to FILE is required")
			}
			base := c.String("server")
			if base == "" {
				var err error
				if base, err = serverURL(c.String("http"), c.Bool("tls")); err != nil {
					return cmdmain.Usage(c, err)
				}
			} else if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return cmdmain.Usagef(c, "--server %q is not an http:// or https:// URL", base)
			}
			return backup(c.Context, stdout, c.String("data"), to, base)
		},
	}
}

// serverURL is the URL of a server listening on addr, as the server decides
// whether to speak TLS.
func serverURL(addr string, forceTLS bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http %q: %v", addr, err)
	}
	scheme := "http"
	ip := net.ParseIP(host)
	loopback := strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
	if forceTLS || !loopback {
		scheme = "https"
	}
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// backup copies the store of dir to to, through the server running on dir
// or directly when none runs.
func backup(ctx context.Context, stdout io.Writer, dir, to, base string) error {
	start := time.Now()
	src := filepath.Join(dir, server.StoreFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no store to back up in %s: %w", dir, err)
	}
	if fi, err := os.Stat(to); err == nil && fi.IsDir() {
		return fmt.Errorf("--to %s is a directory: give a file name", to)
	}
	tmp := to + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create the backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()

	var how string
	st, err := store.OpenReadOnly(src, store.Options{Timeout: lockWait})
	switch {
	case err == nil:
		how = "read directly (no server runs on " + dir + ")"
		_, err = st.Backup(f)
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	case errors.Is(err, store.ErrLocked):
		how = "through the server at " + base
		if err := fetchBackup(ctx, f, dir, base); err != nil {
			return err
		}
	default:
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write the backup %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the backup %s: %w", tmp, err)
	}
	done = true
	counts, err := verifyCopy(tmp)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("the copy does not check out, %s is left as it was: %w", to, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put the backup in place: %w", err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return err
	}
	fi, err := os.Stat(to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s: %s in %s, %s\n", to, size(fi.Size()), time.Since(start).Round(time.Millisecond), how)
	fmt.Fprintf(stdout, "%s\n", describe(counts))
	return nil
}

// fetchBackup downloads the backup of the server at base into w, as the
// admin of dir.
func fetchBackup(ctx context.Context, w io.Writer, dir, base string) error {
	tokenFile := filepath.Join(dir, server.AdminTokenFile)
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return fmt.Errorf("a server runs on %s, and its admin token is needed to ask it for the backup: %w", dir, err)
	}
	token := strings.TrimSpace(string(b))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if pem, err := os.ReadFile(filepath.Join(dir, server.CACertFile)); err == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("read %s: no certificate in it", filepath.Join(dir, server.CACertFile))
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read the server's CA: %w", err)
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/v1/backup", nil)
	if err != nil {
		return fmt.Errorf("--server %q: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "valise-server/"+version)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("a server runs on %s but does not answer at %s (give its URL with --server): %w", dir, base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb apitype.ErrorBody
		msg := resp.Status
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb) == nil && eb.Error.Message != "" {
			msg = eb.Error.Message
		}
		return fmt.Errorf("the server at %s refused the backup (%d): %s", base, resp.StatusCode, msg)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("backup from %s cut short after %s: %w", base, size(n), err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("backup from %s cut short: %d of %d bytes", base, n, resp.ContentLength)
	}
	return nil
}

// verifyCopy opens a copy of a store read-only and checks that it is one
// this server reads, and that its audit log verifies.
func verifyCopy(path string) (store.Counts, error) {
	st, err := store.OpenReadOnly(path, store.Options{Timeout: lockWait})
	if err != nil {
		return store.Counts{}, err
	}
	defer st.Close()
	return checkStore(st)
}

// checkStore verifies the audit log of st and counts its records.
func checkStore(st *store.Store) (store.Counts, error) {
	fl, err := fleet.New(fleet.Config{Store: st})
	if err != nil {
		return store.Counts{}, err
	}
	if _, err := fl.VerifyAudit(); err != nil {
		return store.Counts{}, err
	}
	return st.Counts()
}

// describe tells the counts of a store in one line.
func describe(c store.Counts) string {
	return fmt.Sprintf("schema %d: %d devices, %d kits, %d loans, %d users, %d audit events (chain verified), %d history points",
		c.Schema, c.Devices, c.Kits, c.Loans, c.Users, c.AuditEvents, c.HistoryPoints)
}

// size words a number of bytes.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
