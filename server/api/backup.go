package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/valise-numerique/valise/server/fleet"
)

// Backuper copies the whole store as of one read transaction, calling
// begin with the size of the copy before its first byte (store.Store).
type Backuper interface {
	StreamBackup(w io.Writer, begin func(size int64) error) (int64, error)
}

// BackupIdleTimeout is how long a backup download may make no progress
// before the server gives up on it: the read transaction it holds keeps
// the pages of every later change from being reused.
const BackupIdleTimeout = time.Minute

// backup streams a copy of the store. Writers and ingest go on meanwhile.
// The size is announced in Content-Length, so a copy cut short (a store
// error, a client gone silent) is seen as such by the client.
func (a *API) backup(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	if a.cfg.Backup == nil {
		a.fail(w, r, fmt.Errorf("%w: this server has no store to back up", errNotImplemented))
		return
	}
	start := time.Now()
	name := "valise-" + a.cfg.Now().UTC().Format("20060102T150405Z") + ".db"
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), idle: BackupIdleTimeout}
	began := false
	n, err := a.cfg.Backup.StreamBackup(dw, func(size int64) error {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		began = true
		return nil
	})
	switch {
	case err != nil && !began:
		a.fail(w, r, fmt.Errorf("back up the store: %w", err))
	case err != nil:
		// The status is sent: the short body (against Content-Length)
		// and the closed connection tell the client.
		a.log.Error("backup cut short", "user", p.ID, "bytes", n, "err", err)
	default:
		a.log.Info("backup sent", "user", p.ID, "bytes", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// deadlineWriter pushes the connection's write deadline idle ahead at
// each write: a large copy may take long, a stalled client may not.
type deadlineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	idle time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.rc.SetWriteDeadline(time.Now().Add(d.idle)) // unsupported by some writers (tests): no deadline then
	return d.w.Write(p)
}
