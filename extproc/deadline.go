package extproc

import (
	"context"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// invokeContext is an invocation's context: its parent (the stream's, with the trace header) and the integration
// timeout as a deadline, with the deadline's timer started only when the invoker waits on Done.
//
// context.WithTimeout costs four allocations per request (the timerCtx, its timer, the timer's closure and the
// cancel func) and arms a runtime timer, whether or not anything waits on it: ≈ 0.45 µs of BenchmarkLambdaServe's
// 9.9 µs (4.8% of its CPU profile) and 4 of its 9 allocations, Dec 2026. An invoker that answers without waiting
// (an in-process function) needs no timer: it reads the deadline (Deadline) or the error (Err), both computed
// from the clock. The first Done builds the standard context.WithDeadline over the same parent and deadline and
// everything then delegates to it, so an invoker that waits (the AWS invoker, the local function host) sees
// exactly the standard context: Done closes at the deadline or when the parent ends, and a hung function still
// gives API Gateway's 504 (TestLambdaTimeoutAndErrors, TestInvokeContext*).
//
// One is allocated per invocation, the trace context in it (one allocation where context.WithTimeout made four):
// an invoker may keep using its context after it returned (net/http's connection goroutines do), so it must not
// live in memory a later request reuses. Kept in the stream state's Exchange, a context reused while such a
// goroutine still held it left about one invocation in 10,000 hanging until its timeout
// (cmd/proxyplus TestServeSequentialInvokes).
type invokeContext struct {
	trace    lambdainvoke.TraceContext // the parent: the stream's context and the trace header
	parent   context.Context
	deadline time.Time

	mu sync.Mutex
	// std is context.WithDeadline(parent, deadline), made by the first Done; cancelStd its cancel func.
	std       context.Context
	cancelStd context.CancelFunc
	// err is what Err reports once end was called without std: fixed at that moment, as a cancelled context's is.
	err error
}

// newInvokeContext is the context of one invocation under ctx that continues trace (lambdainvoke.TraceHeader)
// and ends after timeout; call end once the invoker has returned.
func newInvokeContext(ctx context.Context, trace string, timeout time.Duration) *invokeContext {
	c := &invokeContext{trace: lambdainvoke.TraceContext{Context: ctx, Header: trace}, deadline: time.Now().Add(timeout)}
	c.parent = &c.trace
	return c
}

// end is the cancel func of context.WithTimeout: it releases the timer, if Done started one, and fixes Err.
func (c *invokeContext) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelStd != nil {
		c.cancelStd()
		return
	}
	if c.err == nil {
		c.err = c.liveErr()
		if c.err == nil {
			c.err = context.Canceled
		}
	}
}

// Deadline is the earlier of the parent's deadline and the integration timeout's.
func (c *invokeContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done starts the standard deadline context on first use.
func (c *invokeContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.std == nil {
		c.std, c.cancelStd = context.WithDeadline(c.parent, c.deadline)
		if c.err != nil {
			c.cancelStd() // Done after end: closed, as a cancelled context's is
		}
	}
	return c.std.Done()
}

// Err is the standard context's once Done made one; else the parent's error, DeadlineExceeded past the deadline,
// or, after end, what it was then.
func (c *invokeContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return c.err
	case c.std != nil:
		return c.std.Err()
	}
	return c.liveErr()
}

func (c *invokeContext) liveErr() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value delegates to the standard context once there is one (so that a context derived from this one registers
// with its cancellation directly, without a goroutine), else to the parent.
func (c *invokeContext) Value(key any) any {
	c.mu.Lock()
	std := c.std
	c.mu.Unlock()
	if std != nil {
		return std.Value(key)
	}
	return c.parent.Value(key)
}
