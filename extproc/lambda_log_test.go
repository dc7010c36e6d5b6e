package extproc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// logRecords keeps what a logger received.
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (r *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecords) WithGroup(string) slog.Handler            { return r }
func (r *logRecords) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}

// TestInvokeErrorLogged: every failed invocation is logged once, with the function, the request id the client
// gets, the error class, the cause under "error" and the status and details of the answer.
func TestInvokeErrorLogged(t *testing.T) {
	throttled := &lambdainvoke.InvokeError{Function: "fn", Code: "TooManyRequestsException", StatusCode: 429,
		Class: lambdainvoke.ErrThrottled, RequestID: "lambda-req-1", Err: errors.New("Rate Exceeded.")}
	for _, tc := range []struct {
		name      string
		err       error
		class     string
		status    int
		level     slog.Level
		cancelled bool
	}{
		{"throttled", throttled, "throttled", 502, slog.LevelError, false},
		{"other", &lambdainvoke.InvokeError{Function: "fn", Err: errors.New("something else")}, "error", 502, slog.LevelError, false},
		{"timeout", &lambdainvoke.InvokeError{Function: "fn", Err: context.DeadlineExceeded}, "timeout", 504, slog.LevelError, false},
		{"client gone", &lambdainvoke.InvokeError{Function: "fn", Err: context.Canceled}, "canceled", 502, slog.LevelWarn, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := &logRecords{}
			l := &Lambda{AccountID: "123456789012", Log: slog.New(recs),
				Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) { return nil, tc.err })}
			pr := &ir.ProcessorRoute{APIID: "api0000001", Stage: "prod", Route: ir.Route{Method: "GET", ResourcePath: "/", Integration: ir.Integration{
				Type: ir.AWSProxy, Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn"}}}}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancelled {
				cancel()
			}
			defer cancel()
			x := l.Serve(ctx, pr, &lambdaproxy.Request{Method: "GET", Path: "/prod/", Protocol: "HTTP/1.1"})
			if len(recs.recs) != 1 {
				t.Fatalf("%d log records, want 1: %v (response %+v)", len(recs.recs), recs.recs, x.Response)
			}
			r := recs.recs[0]
			if r["msg"] != "lambda invoke failed" || r["level"] != tc.level || r["function"] != "arn:aws:lambda:us-east-1:123456789012:function:fn" ||
				r["request_id"] != x.Context.RequestID || r["error_class"] != tc.class || r["error"] == nil ||
				r["status"] != int64(x.Response.StatusCode) || x.Response.StatusCode != tc.status || r["details"] != x.Response.Details {
				t.Errorf("log record %v for response %d %s", r, x.Response.StatusCode, x.Response.Details)
			}
			if tc.err == throttled && (r["invoke_status"] != int64(429) || r["invoke_request_id"] != "lambda-req-1") {
				t.Errorf("log record %v: want the Invoke API's status and request id", r)
			}
		})
	}
}

// TestInvokeErrorFlood: past floodBurst failures a second for one function and class the lines are aggregated:
// the next second's first failure brings one line with the count, first and last request id, then its own line.
func TestInvokeErrorFlood(t *testing.T) {
	recs := &logRecords{}
	now := time.Unix(1_700_000_000, 0)
	l := &Lambda{AccountID: "123456789012", Log: slog.New(recs), Now: func() time.Time { return now },
		Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
			return nil, &lambdainvoke.InvokeError{Function: "fn", Err: errors.New("connection refused")}
		})}
	pr := &ir.ProcessorRoute{APIID: "api0000001", Stage: "prod", Route: ir.Route{Method: "GET", ResourcePath: "/", Integration: ir.Integration{
		Type: ir.AWSProxy, Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn"}}}}
	var ids []string
	for i := range floodBurst + 3 {
		now = now.Add(time.Duration(i) * time.Millisecond)
		ids = append(ids, l.Serve(context.Background(), pr, &lambdaproxy.Request{Method: "GET", Path: "/prod/", Protocol: "HTTP/1.1"}).Context.RequestID)
	}
	if len(recs.recs) != floodBurst {
		t.Fatalf("%d lines during the flood, want %d", len(recs.recs), floodBurst)
	}
	now = now.Add(time.Second)
	l.Serve(context.Background(), pr, &lambdaproxy.Request{Method: "GET", Path: "/prod/", Protocol: "HTTP/1.1"})
	if len(recs.recs) != floodBurst+2 {
		t.Fatalf("%d lines, want %d", len(recs.recs), floodBurst+2)
	}
	agg := recs.recs[floodBurst]
	if agg["msg"] != "lambda invoke failures aggregated" || agg["count"] != int64(3) || agg["first_request_id"] != ids[floodBurst] ||
		agg["last_request_id"] != ids[floodBurst+2] || agg["error_class"] != "error" {
		t.Errorf("aggregate line %v", agg)
	}
	if recs.recs[floodBurst+1]["msg"] != "lambda invoke failed" {
		t.Errorf("after the aggregate: %v", recs.recs[floodBurst+1])
	}
}
