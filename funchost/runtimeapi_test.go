//go:build unix

package funchost

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
