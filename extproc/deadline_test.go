package extproc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// TestInvokeContextWaits: an invoker that waits on Done sees the deadline fire (a hung function ends with
// DeadlineExceeded, the 504 of OUT-17), and a context derived from it ends with it.
func TestInvokeContextWaits(t *testing.T) {
	c := newInvokeContext(context.Background(), "", 20*time.Millisecond)
	defer c.end()
	child, cancel := context.WithCancel(c)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline never ended the derived context")
	}
	<-c.Done()
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("Err %v, derived %v; want DeadlineExceeded", c.Err(), child.Err())
	}
}

// TestInvokeContextWithoutDone: an invoker that never calls Done still reads the deadline and the error.
func TestInvokeContextWithoutDone(t *testing.T) {
	before := time.Now()
	c := newInvokeContext(context.Background(), "", time.Hour)
	if d, ok := c.Deadline(); !ok || d.Before(before.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Errorf("Deadline %v %v, want an hour from now", d, ok)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err before the deadline: %v", err)
	}
	c.end()
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after end: %v, want Canceled", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done after end is not closed")
	}

	c = newInvokeContext(context.Background(), "", -time.Second) // already past its deadline
	if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err past the deadline: %v", err)
	}
	c.end()
	if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err after end past the deadline: %v, want DeadlineExceeded kept", err)
	}
}

// TestInvokeContextParent: the parent's cancellation (Envoy gave up on the stream) and its deadline and values
// reach the invoker, with or without Done.
func TestInvokeContextParent(t *testing.T) {
	parent, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Minute))
	const trace = "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e"
	c := newInvokeContext(parent, trace, time.Hour)
	if d, _ := c.Deadline(); d.After(time.Now().Add(2 * time.Minute)) {
		t.Errorf("Deadline %v, want the parent's earlier one", d)
	}
	if h := lambdainvoke.TraceHeader(c); h != trace {
		t.Errorf("trace header %q", h)
	}
	cancel()
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after the parent's cancel: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the parent's cancel")
	}
	if h := lambdainvoke.TraceHeader(c); h != trace {
		t.Errorf("trace header through the standard context %q", h)
	}
	c.end()
}
