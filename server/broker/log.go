package broker

import (
	"context"
	"log/slog"
	"sync"
)

// logOnce logs a message the first time its key is seen, so that a device
// misbehaving in a loop fills the metrics, not the log.
type logOnce struct {
	l    *slog.Logger
	mu   sync.Mutex
	seen map[string]struct{}
}

func newLogOnce(l *slog.Logger) *logOnce {
	return &logOnce{l: l, seen: make(map[string]struct{})}
}

func (o *logOnce) first(key string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.seen[key]; ok || len(o.seen) >= maxLogged {
		return false
	}
	o.seen[key] = struct{}{}
	return true
}

func (o *logOnce) warn(key, msg string, args ...any) {
	if o.first(key) {
		o.l.Warn(msg+" (logged once, then only counted)", args...)
	}
}

func (o *logOnce) error(key, msg string, args ...any) {
	if o.first(key) {
		o.l.Error(msg+" (logged once, then only counted)", args...)
	}
}

// minLevel drops records below a level; mochi logs every connection at Info.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
