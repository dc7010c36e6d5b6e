package lambdainvoke

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFunc(t *testing.T) {
	var inv Invoker = Func(func(_ context.Context, function string, payload []byte) (*Result, error) {
		return &Result{Payload: append([]byte(function+":"), payload...)}, nil
	})
	res, err := inv.Invoke(t.Context(), "f", []byte("x"))
	if err != nil || string(res.Payload) != "f:x" {
		t.Errorf("Invoke = %+v, %v", res, err)
	}
}

func TestRouting(t *testing.T) {
	type got struct{ Via, Function string }
	var calls []got
	record := func(via string) Invoker {
		return Func(func(_ context.Context, function string, payload []byte) (*Result, error) {
			calls = append(calls, got{via, function})
			return &Result{Payload: payload}, nil
		})
	}
	r := NewRouting(record("local"), []string{"hello", "orders"}, record("remote"))
	tests := []struct{ function, via string }{
		{"hello", "local"},
		{"hello:live", "local"},
		{"123456789012:function:orders", "local"},
		{"arn:aws:lambda:us-east-1:123456789012:function:orders:3", "local"},
		{"arn:aws:lambda:us-east-1:123456789012:function:other", "remote"},
		{"hello-world", "remote"},
		{"Hello", "remote"}, // names are case-sensitive
	}
	for _, tt := range tests {
		calls = nil
		res, err := r.Invoke(t.Context(), tt.function, []byte("p"))
		if err != nil || string(res.Payload) != "p" {
			t.Errorf("Invoke(%q) = %+v, %v", tt.function, res, err)
		}
		// The chosen invoker receives the function exactly as given.
		if diff := cmp.Diff([]got{{tt.via, tt.function}}, calls); diff != "" {
			t.Errorf("Invoke(%q) (-want +got):\n%s", tt.function, diff)
		}
		if r.IsLocal(tt.function) != (tt.via == "local") {
			t.Errorf("IsLocal(%q) = %v", tt.function, !(tt.via == "local"))
		}
	}

	localOnly := NewRouting(record("local"), []string{"hello"}, nil)
	calls = nil
	_, err := localOnly.Invoke(t.Context(), "arn:aws:lambda:us-east-1:123456789012:function:other", nil)
	if !errors.Is(err, ErrNotFound) || len(calls) != 0 {
		t.Errorf("local-only Routing, unknown function: err = %v, calls %v; want ErrNotFound and no call", err, calls)
	}

	remoteOnly := NewRouting(nil, nil, record("remote"))
	calls = nil
	if _, err := remoteOnly.Invoke(t.Context(), "hello", nil); err != nil || len(calls) != 1 || calls[0].Via != "remote" {
		t.Errorf("remote-only Routing: err = %v, calls %v", err, calls)
	}
}

func TestInvokeErrorUnwrap(t *testing.T) {
	base := errors.New("transport")
	e := &InvokeError{Function: "f", Class: ErrThrottled, Err: base, ctxErr: context.DeadlineExceeded}
	for _, target := range []error{ErrThrottled, base, context.DeadlineExceeded} {
		if !errors.Is(e, target) {
			t.Errorf("errors.Is(%v, %v) = false", e, target)
		}
	}
	if errors.Is(e, ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound) = true", e)
	}
	if got, want := e.Error(), "invoke f: lambda invoke throttled: transport"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
