package lambdainvoke

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// flakyConn fails a write with a connection reset before writing anything, once armed, on a connection that has
// carried a request before (a reused keep-alive connection).
type flakyConn struct {
	net.Conn
	armed *atomic.Bool
	used  atomic.Bool
}

func (c *flakyConn) Write(p []byte) (int, error) {
	if c.used.Load() && c.armed.CompareAndSwap(true, false) {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Write(p)
}

func (c *flakyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.used.Store(true) // a response came: the next write is another request's
	}
	return n, err
}

// closedPort is a loopback address nothing listens on (connection refused).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRetryConnectionRefused: a request that could not be sent (the first dial is refused) is sent again; the
// function runs once.
func TestRetryConnectionRefused(t *testing.T) {
	awsEnv(t)
	fake := newFakeLambda(t, nil)
	refused := closedPort(t)
	var dials atomic.Int32
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return d.DialContext(ctx, network, refused)
		}
		return d.DialContext(ctx, network, addr)
	}}}
	inv := newAWS(t, Options{Endpoint: fake.URL, HTTPClient: client})
	res, err := inv.Invoke(t.Context(), "fn", []byte(`{"a":1}`))
	if err != nil || string(res.Payload) != `{"a":1}` {
		t.Fatalf("Invoke after a refused connection: %v %+v", err, res)
	}
	if n := len(fake.Calls()); n != 1 || dials.Load() != 2 {
		t.Errorf("%d requests, %d dials; want 1 and 2", n, dials.Load())
	}
}

// TestRetryNothingWritten: a keep-alive connection that fails before any byte of the request is written (reset)
// is retried by net/http on a new connection, because the invoker makes the body rewindable.
func TestRetryNothingWritten(t *testing.T) {
	awsEnv(t)
	fake := newFakeLambda(t, nil)
	var armed atomic.Bool
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &flakyConn{Conn: c, armed: &armed}, nil
	}}}
	inv := newAWS(t, Options{Endpoint: fake.URL, HTTPClient: client})
	// The transport puts a connection back among the idle ones just after the response was read: invoke until a
	// request went out on a kept-alive connection and met the reset.
	for i := 0; ; i++ {
		armed.Store(true)
		payload := fmt.Sprintf(`{"n":%d}`, i)
		res, err := inv.Invoke(t.Context(), "fn", []byte(payload))
		if err != nil || string(res.Payload) != payload {
			t.Fatalf("Invoke %d: %v %+v", i, err, res)
		}
		if !armed.Load() {
			if n := len(fake.Calls()); n != i+1 {
				t.Errorf("%d requests reached the server for %d invocations", n, i+1)
			}
			return
		}
		if i == 100 {
			t.Fatal("no request went out on a reused connection")
		}
	}
}

// TestNoRetryAfterSent: a connection that fails after the request was sent (the server read it and hung up) is
// not retried, since the function may have run: one request, one error of class "connection".
func TestNoRetryAfterSent(t *testing.T) {
	awsEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var requests atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				requests.Add(1)
			}
			c.Close() // no answer
		}
	}()
	inv := newAWS(t, Options{Endpoint: "http://" + ln.Addr().String()})
	_, err = inv.Invoke(t.Context(), "fn", []byte(`{}`))
	if err == nil {
		t.Fatal("Invoke succeeded without an answer")
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the request was sent %d times, want once", n)
	}
	if c := ErrorClass(err); c != "connection" {
		t.Errorf("ErrorClass = %q, want connection (%v)", c, err)
	}
	ln.Close()
	wg.Wait()
}

func TestErrorClass(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: err} }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&InvokeError{Class: ErrThrottled, Code: "TooManyRequestsException", StatusCode: 429, Err: errors.New("x")}, "throttled"},
		{&InvokeError{Class: ErrNotFound, Err: errors.New("x")}, "not_found"},
		{&InvokeError{Class: ErrAccessDenied, Err: errors.New("x")}, "access_denied"},
		{&InvokeError{Class: ErrPayloadTooLarge, Err: errors.New("x")}, "payload_too_large"},
		{&InvokeError{Err: errors.New("x"), ctxErr: context.DeadlineExceeded}, "timeout"},
		{&InvokeError{Err: context.Canceled}, "canceled"},
		{&InvokeError{Code: "ServiceException", StatusCode: 500, Err: errors.New("x")}, "api_error"},
		{&InvokeError{Err: urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})}, "not_sent"},
		{&InvokeError{Err: urlErr(errors.New("http: server closed idle connection"))}, "not_sent"},
		{&InvokeError{Err: urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})}, "connection"},
		{&InvokeError{Err: urlErr(io.EOF)}, "connection"},
		{&InvokeError{Err: fmt.Errorf("serialization: %w", errors.New("bad"))}, "error"},
	} {
		if got := ErrorClass(tc.err); got != tc.want {
			t.Errorf("ErrorClass(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
