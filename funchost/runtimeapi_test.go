//go:build unix

package funchost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// lineHandler is a slog handler passing the function's output lines on.
type lineHandler chan string

func (h lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h lineHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h lineHandler) WithGroup(string) slog.Handler            { return h }
func (h lineHandler) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "function output" {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				h <- a.Value.String()
			}
			return true
		})
	}
	return nil
}

// TestRuntimeAPIProtocol plays the runtime over raw HTTP/1.1: errors for unknown resources, methods and request
// ids, HTTP/1.0 and Connection: close, Expect: 100-continue, chunked bodies with trailers, keep-alive.
func TestRuntimeAPIProtocol(t *testing.T) {
	lines := make(lineHandler, 10)
	h, err := New([]Function{{Name: "raw", Command: []string{"sh", "-c", `echo "$AWS_LAMBDA_RUNTIME_API"; exec sleep 600`}}},
		Options{Logger: slog.New(lines)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	type outcome struct {
		res *lambdainvoke.Result
		err error
	}
	call := func(event string) chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := h.Invoke(ctx, "raw", []byte(event))
			ch <- outcome{res, err}
		}()
		return ch
	}
	first := call(`{"n":1}`)
	addr := <-lines

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	roundTrip := func(c net.Conn, br *bufio.Reader, raw string, status int) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		if resp.StatusCode != status {
			t.Fatalf("%q: status %d, want %d: %s", raw, resp.StatusCode, status, body)
		}
		return resp
	}
	const api = "/2018-06-01/runtime"

	c1, br1 := dial()
	roundTrip(c1, br1, "GET "+api+"/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404)
	roundTrip(c1, br1, "POST "+api+"/invocation/next HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405)
	resp := roundTrip(c1, br1, "POST "+api+"/invocation/bogus/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400)
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "InvalidRequestID") {
		t.Errorf("unknown request id: %s", b)
	}
	// HTTP/1.0: the event, then the connection closes.
	resp = roundTrip(c1, br1, "GET "+api+"/invocation/next HTTP/1.0\r\n\r\n", 200)
	id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"n":1}` || id == "" || !resp.Close ||
		resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" || resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") == "" {
		t.Errorf("next: %v %s", resp.Header, b)
	}
	if _, err := br1.ReadByte(); err != io.EOF {
		t.Errorf("connection open after an HTTP/1.0 answer: %v", err)
	}

	// Expect: 100-continue and a chunked body with a trailer, on a keep-alive connection.
	c2, br2 := dial()
	roundTrip(c2, br2, "POST "+api+"/invocation/"+id+"/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+
		"Trailer: Lambda-Runtime-Function-Error-Type\r\nExpect: 100-continue\r\n\r\n", 100)
	roundTrip(c2, br2, "6\r\n{\"ok\":\r\n2\r\n1}\r\n0\r\nLambda-Runtime-Function-Error-Type: none\r\n\r\n", 202)
	o := <-first
	if o.err != nil || string(o.res.Payload) != `{"ok":1}` || o.res.FunctionError != "" {
		t.Fatalf("first invocation: %v %+v", o.err, o.res)
	}

	second := call(`{"n":2}`)
	resp = roundTrip(c2, br2, "GET "+api+"/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n", 200)
	id = resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	roundTrip(c2, br2, "POST "+api+"/invocation/"+id+"/error HTTP/1.1\r\nHost: x\r\nLambda-Runtime-Function-Error-Type: X.Y\r\n"+
		"Content-Length: 5\r\n\r\nplain", 202)
	o = <-second
	var doc map[string]string
	if o.err != nil || o.res.FunctionError != "Unhandled" || json.Unmarshal(o.res.Payload, &doc) != nil ||
		doc["errorType"] != "X.Y" || doc["errorMessage"] != "plain" {
		t.Fatalf("second invocation: %v %+v", o.err, o.res)
	}
	roundTrip(c2, br2, "POST "+api+"/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 403)
	// A malformed request gets 400 and the connection closes.
	roundTrip(c2, br2, "BOGUS\r\n\r\n", 400)
}

// abuseLog passes the function's output lines on and keeps the host's warnings.
type abuseLog struct {
	lines chan string
	mu    sync.Mutex
	warns []string
}

func (h *abuseLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *abuseLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *abuseLog) WithGroup(string) slog.Handler            { return h }
func (h *abuseLog) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns = append(h.warns, rec.Message)
		h.mu.Unlock()
	}
	if rec.Message == "function output" {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				h.lines <- a.Value.String()
			}
			return true
		})
	}
	return nil
}

// rawRuntimeHost starts a host whose function is played by the test over raw HTTP/1.1: the process only prints
// its Runtime API address, which log.lines receives on the first call. call invokes the function in the
// background.
func rawRuntimeHost(t *testing.T, limits runtimeLimits) (call func(event string) chan invokeOutcome, log *abuseLog) {
	t.Helper()
	log = &abuseLog{lines: make(chan string, 10)}
	h, err := New([]Function{{Name: "raw", Timeout: time.Minute,
		Command: []string{"sh", "-c", `echo "$AWS_LAMBDA_RUNTIME_API"; exec sleep 600`}}}, Options{Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	h.rtl = limits
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	call = func(event string) chan invokeOutcome {
		ch := make(chan invokeOutcome, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := h.Invoke(ctx, "raw", []byte(event))
			ch <- invokeOutcome{res, err}
		}()
		return ch
	}
	return call, log
}

type invokeOutcome struct {
	res *lambdainvoke.Result
	err error
}

// rawConn is a test connection to a Runtime API. Reads give up after 20 s so that a server that fails to close a
// connection fails the test instead of hanging it.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(raw string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, raw); err != nil {
		rc.t.Fatal(err)
	}
}

// response reads a response and its body.
func (rc *rawConn) response() (*http.Response, string, error) {
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// closed asserts that the server closes the connection without sending anything (more).
func (rc *rawConn) closed(what string) {
	rc.t.Helper()
	b, err := rc.br.ReadByte()
	if err == nil {
		rest, _ := rc.br.Peek(rc.br.Buffered())
		rc.t.Errorf("%s: the connection stays open: got %q", what, append([]byte{b}, rest...))
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		rc.t.Errorf("%s: want the server to close the connection, got %v", what, err)
	}
}

// TestRuntimeAPIAbuse plays a misbehaving runtime against the real Runtime API server over real sockets:
// oversized and slow headers, idle connections, a malformed chunked body with a request hidden behind it, a
// second concurrent …/invocation/next, and more connections than an instance accepts.
func TestRuntimeAPIAbuse(t *testing.T) {
	limits := defaultRuntimeLimits
	limits.headers, limits.body, limits.idle, limits.linger = 300*time.Millisecond, 300*time.Millisecond, 500*time.Millisecond, 100*time.Millisecond
	call, log := rawRuntimeHost(t, limits)
	first := call(`{"n":1}`)
	addr := <-log.lines
	const api = "/2018-06-01/runtime"

	// Each step on a connection of its own: the idle limit is half a second.
	c := dialRaw(t, addr)
	c.send("GET " + api + "/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body, err := c.response()
	if err != nil || resp.StatusCode != 200 || body != `{"n":1}` {
		t.Fatalf("next: %v %v %s", err, resp, body)
	}
	id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	c = dialRaw(t, addr)
	c.send("POST " + api + "/invocation/" + id + "/response HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"ok\":1}")
	if resp, _, err := c.response(); err != nil || resp.StatusCode != 202 {
		t.Fatalf("response: %v %v", err, resp)
	}
	if o := <-first; o.err != nil || string(o.res.Payload) != `{"ok":1}` {
		t.Fatalf("first invocation: %v %+v", o.err, o.res)
	}

	t.Run("header too large", func(t *testing.T) {
		c := dialRaw(t, addr)
		go io.WriteString(c.c, "GET "+api+"/invocation/next HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2*maxHeaderBytes)+"\r\n\r\n")
		resp, body, err := c.response()
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !resp.Close {
			t.Fatalf("want 431 and Connection: close, got %v %v %s", err, resp, body)
		}
		c.closed("after 431")
	})
	t.Run("slow headers", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send("GET " + api + "/invocation/next HTTP/1.1\r\nHost: x\r\n") // and never the blank line
		c.closed("headers never finished")
	})
	t.Run("slow body", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send("POST " + api + "/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{") // 99 bytes never come
		resp, body, err := c.response()
		if err == nil && resp.StatusCode < 400 {
			t.Fatalf("a body that never arrives was accepted: %v %s", resp, body)
		}
		c.closed("body never finished")
	})
	t.Run("idle", func(t *testing.T) {
		dialRaw(t, addr).closed("idle connection")
	})
	t.Run("malformed chunked body", func(t *testing.T) {
		// The body's chunk size is not hex; what follows must not be read as a request (request smuggling).
		c := dialRaw(t, addr)
		c.send("POST " + api + "/invocation/bogus/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"zz\r\nGET " + api + "/nope HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body, err := c.response(); err != nil || resp.StatusCode != 400 {
			t.Fatalf("want 400, got %v %v %s", err, resp, body)
		}
		c.closed("after a malformed chunked body")
	})
	t.Run("second next", func(t *testing.T) {
		a, b := dialRaw(t, addr), dialRaw(t, addr)
		type answer struct {
			conn *rawConn
			resp *http.Response
			body string
			err  error
		}
		answers := make(chan answer, 2)
		for _, c := range []*rawConn{a, b} {
			c.send("GET " + api + "/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
			go func() {
				resp, body, err := c.response()
				answers <- answer{c, resp, body, err}
			}()
		}
		refused := <-answers
		if refused.err != nil || refused.resp.StatusCode != http.StatusForbidden || !strings.Contains(refused.body, "InvalidStateTransition") {
			t.Fatalf("second …/next: want 403 InvalidStateTransition, got %v %v %s", refused.err, refused.resp, refused.body)
		}
		// The idle limit does not apply to the waiting …/next: once a connection opened after it has been closed
		// as idle, the invocation still reaches the waiting one.
		dialRaw(t, addr).closed("idle connection")
		second := call(`{"n":2}`)
		got := <-answers
		if got.err != nil || got.resp.StatusCode != 200 || got.body != `{"n":2}` {
			t.Fatalf("waiting …/next: %v %v %s", got.err, got.resp, got.body)
		}
		id := got.resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		c := dialRaw(t, addr)
		c.send("POST " + api + "/invocation/" + id + "/response HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"ok\":2}")
		if resp, _, err := c.response(); err != nil || resp.StatusCode != 202 {
			t.Fatalf("response: %v %v", err, resp)
		}
		if o := <-second; o.err != nil || string(o.res.Payload) != `{"ok":2}` {
			t.Fatalf("second invocation: %v %+v", o.err, o.res)
		}
	})
}

// TestRuntimeAPIConnectionLimit: an instance accepts maxConnsPerInstance connections; more are closed at once
// and logged.
func TestRuntimeAPIConnectionLimit(t *testing.T) {
	call, log := rawRuntimeHost(t, defaultRuntimeLimits)
	call(`{}`)
	addr := <-log.lines
	var conns []*rawConn
	for range maxConnsPerInstance + 1 {
		conns = append(conns, dialRaw(t, addr))
	}
	conns[maxConnsPerInstance].closed("connection over the limit")
	// The first ones are served.
	c := conns[0]
	c.send("GET /2018-06-01/runtime/nope HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _, err := c.response(); err != nil || resp.StatusCode != 404 {
		t.Fatalf("a connection within the limit: %v %v", err, resp)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !slices.Contains(log.warns, "runtime API connection refused: too many connections") {
		t.Errorf("no warning logged: %q", log.warns)
	}
}
