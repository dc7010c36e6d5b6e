package extproc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// logInvokeError logs a failed invocation, once, where the processor learns of it: the function, the request id
// the client got (x-amzn-RequestId), the error class (lambdainvoke.ErrorClass), the cause (key "error"), the
// Invoke API's status and request id when it answered, and the status and details the client gets. A request
// the caller gave up on (Envoy reset the stream: the client went away) is logged at Warn, every other failure
// at Error: each 5xx of an invocation is explained by this line.
//
// A flood is aggregated (floodLog): past floodBurst lines a second for one function and error class, the failures
// are counted and reported in one "lambda invoke failures aggregated" line (count, first and last request id, the
// last cause) when the next second's first failure comes. It returns the error class.
func (l *Lambda) logInvokeError(ctx context.Context, function, requestID string, err error, resp *lambdaproxy.Response) string {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	class := lambdainvoke.ErrorClass(err)
	level := slog.LevelError
	if class == "canceled" || (ctx.Err() != nil && class != "timeout") {
		class, level = "canceled", slog.LevelWarn
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	full, agg := l.floods.note(function, class, requestID, err, now)
	if agg != nil {
		log.LogAttrs(ctx, level, "lambda invoke failures aggregated", slog.String("function", function),
			slog.String("error_class", class), slog.Int("count", agg.count), slog.String("first_request_id", agg.first),
			slog.String("last_request_id", agg.last), slog.Any("error", agg.err), slog.Duration("window", agg.window))
	}
	if !full {
		return class
	}
	attrs := []slog.Attr{slog.String("function", function), slog.String("request_id", requestID),
		slog.String("error_class", class), slog.Any("error", err)}
	var ie *lambdainvoke.InvokeError
	if errors.As(err, &ie) && ie.StatusCode != 0 {
		attrs = append(attrs, slog.Int("invoke_status", ie.StatusCode), slog.String("invoke_request_id", ie.RequestID))
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("details", resp.Details))
	}
	log.LogAttrs(ctx, level, "lambda invoke failed", attrs...)
	return class
}

// floodBurst is how many failures per function and class a second are logged one line each.
const floodBurst = 5

// maxFloodKeys bounds the flood table; it starts over when full.
const maxFloodKeys = 1024

// floodLog rate-limits the per-invoke failure lines per (function, class) in one-second windows.
type floodLog struct {
	mu sync.Mutex
	m  map[floodKey]*floodWindow
}

type floodKey struct{ function, class string }

type floodWindow struct {
	start       time.Time
	logged      int
	count       int // failures not logged one by one in this window
	first, last string
	err         error
	window      time.Duration
}

// note counts one failure: full says whether to log it in its own line; agg, when not nil, is the previous
// window's suppressed failures, to be logged as one line now.
func (f *floodLog) note(function, class, requestID string, err error, now time.Time) (full bool, agg *floodWindow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := floodKey{function, class}
	w := f.m[k]
	if w == nil {
		if f.m == nil || len(f.m) >= maxFloodKeys {
			f.m = map[floodKey]*floodWindow{}
		}
		w = &floodWindow{start: now}
		f.m[k] = w
	}
	if now.Sub(w.start) >= time.Second {
		if w.count > 0 {
			done := *w
			done.window = now.Sub(w.start)
			agg = &done
		}
		*w = floodWindow{start: now}
	}
	if w.logged < floodBurst {
		w.logged++
		return true, agg
	}
	if w.count == 0 {
		w.first = requestID
	}
	w.count++
	w.last, w.err = requestID, err
	return false, agg
}
