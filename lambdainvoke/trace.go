package lambdainvoke

import "context"

// traceKey carries an invocation's X-Ray trace header in its context.
type traceKey struct{}

// WithTraceHeader returns ctx carrying the X-Ray trace header (Root=…;Parent=…;Sampled=…) an invocation
// continues: the AWS invoker sends it as X-Amzn-Trace-Id on Invoke, the local function host hands it to the
// runtime (Lambda-Runtime-Trace-Id, from which runtimes set _X_AMZN_TRACE_ID).
func WithTraceHeader(ctx context.Context, header string) context.Context {
	if header == "" {
		return ctx
	}
	return &TraceContext{Context: ctx, Header: header}
}

// TraceContext is WithTraceHeader as a value, for a caller that keeps it in memory it already owns (the
// processor's per-stream state) rather than allocating one per request. It must outlive the invocation.
type TraceContext struct {
	context.Context
	Header string
}

// Value answers the trace key and delegates everything else, so context.WithTimeout over it still finds the
// parent's cancellation without a goroutine.
func (c *TraceContext) Value(key any) any {
	if _, ok := key.(traceKey); ok {
		return c.Header
	}
	return c.Context.Value(key)
}

// TraceHeader is the trace header ctx carries; "" when none.
func TraceHeader(ctx context.Context) string {
	h, _ := ctx.Value(traceKey{}).(string)
	return h
}
