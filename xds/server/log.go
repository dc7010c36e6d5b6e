package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/envoyproxy/go-control-plane/pkg/log"
)

// slogAdapter implements go-control-plane's log.Logger on top of log/slog.
//
// go-control-plane logs one Infof line per watch it opens ("open delta watch …") and per stale nonce, which floods
// the log with hundreds of nodes, so Infof is mapped to slog's Debug level; Warnf and Errorf keep their levels
// (e.g. "ADS mode: not responding to request …", which is the XDS-8 hold-back and worth seeing).
type slogAdapter struct {
	l *slog.Logger
}

// NewLogAdapter returns a go-control-plane logger writing to l (slog.Default() when nil).
func NewLogAdapter(l *slog.Logger) log.Logger {
	if l == nil {
		l = slog.Default()
	}
	return slogAdapter{l: l.With("component", "go-control-plane")}
}

func (a slogAdapter) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, fmt.Sprintf(format, args...))
}

func (a slogAdapter) Debugf(format string, args ...any) { a.logf(slog.LevelDebug, format, args) }
func (a slogAdapter) Infof(format string, args ...any)  { a.logf(slog.LevelDebug, format, args) }
func (a slogAdapter) Warnf(format string, args ...any)  { a.logf(slog.LevelWarn, format, args) }
func (a slogAdapter) Errorf(format string, args ...any) { a.logf(slog.LevelError, format, args) }
