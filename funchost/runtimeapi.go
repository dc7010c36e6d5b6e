package funchost

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// The Runtime API server of an instance: a small HTTP/1.1 server of its own rather than net/http's, because a
// warm invoke is two HTTP exchanges with the runtime and the server's per-request machinery was most of the
// host's share of it (a background-read goroutine per request, response-writer buffering, the handoffs
// between the Invoke goroutine and the handler waiting on …/next).
//
// One goroutine per connection reads requests with http.ReadRequest (chunked bodies, trailers, keep-alive). A
// …/invocation/next that finds no invocation pending parks its connection among the instance's waiters and the
// goroutine goes back to reading (which notices a runtime that hangs up while waiting); Invoke then writes the
// event on the waiting connection itself. Responses are written with one write (writev for large bodies).
//
// Limits, because anything on the machine can connect to the loopback port, and a runtime with a bug must not
// hold the host up (runtimeLimits): request line and headers at most maxHeaderBytes (431 and close beyond), a
// time limit from a request's first byte to the end of its headers, one to read a body and one to write a
// response or event, at most maxConnsPerInstance connections, and a connection that is neither in a request nor
// waiting on …/invocation/next is closed after the instance's idle limit (the function timeout plus a margin:
// the connection that carried an event stays open for as long as the function may take to post its response
// on it). A …/invocation/next waits without limit, as on Lambda. A body that cannot be read to its end (a
// malformed chunked encoding, a timeout) closes the connection: what follows it is not parsed as another request. A …/invocation/next while another of the instance's is waiting is refused as
// Lambda refuses it: 403 InvalidStateTransition (the runtime interface emulator,
// lambda/rapi/handler/invocationnext.go: runtime.Ready() fails from the Ready state, RenderForbiddenWithTypeMsg).

const (
	// maxDrain is how much of a request body the server reads and discards to keep a connection open (e.g.
	// the rest of a response over the 6 MB limit); beyond it the connection is closed.
	maxDrain = 64 << 20
	// inlineBody is the largest body copied into the connection's write buffer; larger ones go out with writev.
	inlineBody = 64 << 10

	// maxHeaderBytes bounds a request's line and headers (a runtime sends a few hundred bytes).
	maxHeaderBytes = 64 << 10
	// maxConnsPerInstance bounds the Runtime API connections of one instance (a runtime uses one or two).
	maxConnsPerInstance = 64
	// maxLinger is how much unread input is discarded, for at most runtimeLimits.linger, before closing a
	// connection after an error answer: closing with unread input makes the kernel send a reset, which can
	// destroy the answer before the runtime reads it (net/http's server does the same, closeWriteAndWait).
	maxLinger = 256 << 10
)

// runtimeLimits are the Runtime API server's time limits (Host.rtl; tests shorten them).
type runtimeLimits struct {
	headers    time.Duration // from a request's first byte to the end of its headers
	body       time.Duration // reading a request body (6 MB over loopback takes milliseconds)
	write      time.Duration // writing a response or an event to a runtime that does not read
	idleMargin time.Duration // added to the function timeout: the idle limit of a connection
	linger     time.Duration // see maxLinger
	idle       time.Duration // when set, the idle limit itself (tests)
}

var defaultRuntimeLimits = runtimeLimits{headers: 10 * time.Second, body: 60 * time.Second, write: 30 * time.Second,
	idleMargin: 5 * time.Minute, linger: 500 * time.Millisecond}

// errHeaderTooLarge: a request's line and headers are longer than maxHeaderBytes.
var errHeaderTooLarge = errors.New("request header too large")

// limitReader is the connection as its bufio.Reader reads it: while a request's headers are read, at most n
// bytes (net/http's server does the same with its connReader and MaxHeaderBytes).
type limitReader struct {
	c net.Conn
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= int64(n)
	return n, err
}

const noLimit = 1<<63 - 1

// rconn is one connection of a runtime to its instance's Runtime API.
type rconn struct {
	in  *instance
	c   net.Conn
	br  *bufio.Reader
	lim limitReader

	wmu       sync.Mutex
	wbuf      []byte
	closeNext bool // the …/next request asked for Connection: close (set before the conn becomes a waiter)
	continued bool // 100 Continue sent for the current request
	linger    bool // close after an error with input possibly unread: lingerClose
}

// lingerClose half-closes c and discards what the peer still sends, up to maxLinger bytes or for d, so that the
// error answer just written is not destroyed by a reset.
func lingerClose(c net.Conn, d time.Duration) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, _ = io.CopyN(io.Discard, c, maxLinger)
}

// serveRuntimeAPI accepts the runtime's connections until the listener is closed.
func (in *instance) serveRuntimeAPI(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		in.mu.Lock()
		if in.apiClosed {
			in.mu.Unlock()
			_ = c.Close()
			return
		}
		if len(in.conns) >= maxConnsPerInstance {
			first := !in.connLimitLogged // logged once per instance: a flood of connections is no flood of lines
			in.connLimitLogged = true
			in.mu.Unlock()
			if first {
				in.p.h.log.Warn("runtime API connection refused: too many connections", "function", in.p.fn.Name,
					"instance", in.id, "limit", maxConnsPerInstance)
			}
			_ = c.Close()
			continue
		}
		in.conns[c] = struct{}{}
		in.mu.Unlock()
		go in.serveConn(c)
	}
}

// idleLimit is how long a Runtime API connection may stay without a request when it is not waiting on
// …/invocation/next: longer than the function may run, so that a keep-alive connection the runtime will post the
// response on is never closed while the function runs.
func (in *instance) idleLimit() time.Duration {
	if d := in.p.h.rtl.idle; d > 0 {
		return d
	}
	return in.p.fn.Timeout + in.p.h.rtl.idleMargin
}

// closeRuntimeAPI closes the listener and every connection.
func (in *instance) closeRuntimeAPI() {
	in.mu.Lock()
	in.apiClosed = true
	conns := in.conns
	in.conns = nil
	in.waiters = nil
	in.mu.Unlock()
	_ = in.ln.Close()
	for c := range conns {
		_ = c.Close()
	}
}

func (in *instance) serveConn(c net.Conn) {
	rc := &rconn{in: in, c: c}
	rc.lim = limitReader{c: c, n: noLimit}
	rc.br = bufio.NewReaderSize(&rc.lim, 4<<10)
	lim := &in.p.h.rtl
	idle := in.idleLimit()
	defer func() {
		in.mu.Lock()
		in.unwait(rc)
		delete(in.conns, c)
		in.mu.Unlock()
		if rc.linger {
			lingerClose(c, lim.linger)
		}
		_ = c.Close()
	}()
	_ = c.SetReadDeadline(time.Now().Add(idle))
	for {
		rc.lim.n = maxHeaderBytes + 4096 // the bufio.Reader may read up to a buffer beyond the headers
		if _, err := rc.br.Peek(1); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(lim.headers))
		req, err := http.ReadRequest(rc.br)
		rc.lim.n = noLimit
		if err != nil {
			switch {
			case errors.Is(err, errHeaderTooLarge):
				rc.linger = true
				_ = rc.write(http.StatusRequestHeaderFieldsTooLarge, nil,
					fmt.Appendf(nil, `{"errorType":"InvalidRequest","errorMessage":"request line and headers exceed %d bytes"}`, maxHeaderBytes), true)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF),
				errors.Is(err, os.ErrDeadlineExceeded):
			default:
				rc.linger = true
				_ = rc.write(http.StatusBadRequest, nil, []byte(`{"errorType":"InvalidRequest","errorMessage":"malformed HTTP request"}`), true)
			}
			return
		}
		in.mu.Lock()
		waiting := in.unwait(rc)
		in.mu.Unlock()
		if waiting {
			return // a request while its …/next is unanswered: not a runtime client we can serve
		}
		_ = c.SetReadDeadline(time.Now().Add(lim.body))
		if !rc.handle(req) {
			return
		}
		// Between requests: no limit while the runtime waits on …/next here, else the idle limit until the next
		// request's first byte. Under mu: Invoke sets the idle limit once it has written the event
		// (sendInvocation), after taking rc from the waiters under mu.
		in.mu.Lock()
		if slices.Contains(in.waiters, rc) {
			_ = c.SetReadDeadline(time.Time{})
		} else {
			_ = c.SetReadDeadline(time.Now().Add(idle))
		}
		in.mu.Unlock()
	}
}

// unwait removes rc from the waiters and reports whether it was one. Called with mu held.
func (in *instance) unwait(rc *rconn) bool {
	i := slices.Index(in.waiters, rc)
	if i < 0 {
		return false
	}
	in.waiters = slices.Delete(in.waiters, i, i+1)
	return true
}

// handle serves one request; false closes the connection.
func (rc *rconn) handle(req *http.Request) bool {
	in := rc.in
	rc.continued = false
	rest, _ := strings.CutPrefix(req.URL.Path, runtimePrefix+"/")
	switch {
	case rest == "invocation/next":
		if req.Method != http.MethodGet {
			return rc.reply(req, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
		}
		return rc.next(req)
	case rest == "init/error":
		if req.Method != http.MethodPost {
			return rc.reply(req, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		}
		if in.invocations.Load() > 0 {
			return rc.reply(req, http.StatusForbidden, "InvalidStateTransition", "init error after initialization")
		}
		rc.expectContinue(req)
		body, _, err := readBody(req)
		if err != nil {
			return rc.reply(req, http.StatusBadRequest, "InvalidRequest", "reading the body: "+err.Error())
		}
		in.initOnce.Do(func() {
			in.initErr = errorDocument(body, req.Header.Get("Lambda-Runtime-Function-Error-Type"))
			in.p.h.log.Warn("function init error", "function", in.p.fn.Name, "instance", in.id, "error", string(in.initErr))
			close(in.initFailed)
		})
		return rc.accepted(req)
	case strings.HasPrefix(rest, "invocation/"):
		id, kind, ok := strings.Cut(strings.TrimPrefix(rest, "invocation/"), "/")
		if !ok || (kind != "response" && kind != "error") || id == "" || strings.Contains(id, "/") {
			break
		}
		if req.Method != http.MethodPost {
			return rc.reply(req, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		}
		return rc.answer(req, id, kind == "error")
	}
	return rc.reply(req, http.StatusNotFound, "NotFound", "no such Runtime API resource: "+req.Method+" "+req.URL.Path)
}

// next hands the pending invocation to the runtime, or parks the connection until Invoke brings one.
func (rc *rconn) next(req *http.Request) bool {
	in := rc.in
	in.readyOnce.Do(func() {
		in.p.h.log.Info("function cold start", "function", in.p.fn.Name, "instance", in.id,
			"pid", in.cmd.Process.Pid, "init_duration", time.Since(in.started))
	})
	rc.closeNext = req.Close
	in.mu.Lock()
	if in.apiClosed {
		in.mu.Unlock()
		return false
	}
	inv := in.pending
	if inv == nil {
		if len(in.waiters) > 0 {
			// One runtime, one …/next at a time: Lambda answers a second one from the Ready state with 403
			// (runtime interface emulator lambda/rapi/handler/invocationnext.go).
			in.mu.Unlock()
			return rc.reply(req, http.StatusForbidden, "InvalidStateTransition",
				"State transition from Ready to Ready failed for runtime. Error: another /runtime/invocation/next is already waiting")
		}
		in.waiters = append(in.waiters, rc)
		in.mu.Unlock()
		return true // keep reading: Invoke writes the answer
	}
	in.pending = nil
	in.handLocked(inv)
	in.mu.Unlock()
	if err := rc.sendInvocation(inv); err != nil {
		in.requeue(inv)
		return false
	}
	return !req.Close
}

// sendInvocation writes inv as the answer to the connection's pending …/next.
func (rc *rconn) sendInvocation(inv *invocation) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	b := rc.status(http.StatusOK)
	b = append(b, "Lambda-Runtime-Aws-Request-Id: "...)
	b = append(b, inv.id...)
	b = append(b, "\r\nLambda-Runtime-Deadline-Ms: "...)
	b = strconv.AppendInt(b, inv.deadline.UnixMilli(), 10)
	b = append(b, "\r\nLambda-Runtime-Invoked-Function-Arn: "...)
	b = append(b, inv.invokedARN...)
	b = append(b, "\r\nLambda-Runtime-Trace-Id: "...)
	b = append(b, inv.traceID...)
	b = append(b, "\r\n"...)
	err := rc.finish(b, inv.payload, rc.closeNext)
	if rc.closeNext {
		_ = rc.c.Close()
	} else {
		// The connection's reader waits without a deadline while the runtime waits here; from now on the idle
		// limit applies until the runtime's next request.
		_ = rc.c.SetReadDeadline(time.Now().Add(rc.in.idleLimit()))
	}
	return err
}

// answer takes a runtime's …/response or …/error.
func (rc *rconn) answer(req *http.Request, id string, isError bool) bool {
	in := rc.in
	inv := in.take(id)
	if inv == nil {
		return rc.reply(req, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
	}
	rc.expectContinue(req)
	body, ok, err := readBody(req)
	// The result goes to the caller before the runtime gets its 202: a runtime may exit as soon as it has it
	// (aws-lambda-go does after reporting a panic), and the caller must find the result when it sees the exit.
	switch {
	case err != nil:
		inv.result <- unhandled("Runtime.InvalidResponse", fmt.Sprintf("RequestId: %s Error: reading the response: %v", inv.id, err))
		return rc.reply(req, http.StatusBadRequest, "InvalidRequest", err.Error())
	case !ok:
		inv.result <- unhandled("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayload))
		return rc.reply(req, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxPayload))
	case isError:
		inv.result <- &lambdainvoke.Result{Payload: errorDocument(body, req.Header.Get("Lambda-Runtime-Function-Error-Type")),
			FunctionError: "Unhandled", ExecutedVersion: LatestVersion}
	default:
		inv.result <- &lambdainvoke.Result{Payload: body, ExecutedVersion: LatestVersion}
	}
	return rc.accepted(req)
}

// expectContinue answers Expect: 100-continue (curl sends it for large bodies) before the body is read.
func (rc *rconn) expectContinue(req *http.Request) {
	if req.ContentLength != 0 && expects100(req) {
		rc.continued = true
		rc.wmu.Lock()
		_ = rc.c.SetWriteDeadline(time.Now().Add(rc.in.p.h.rtl.write))
		_, _ = io.WriteString(rc.c, "HTTP/1.1 100 Continue\r\n\r\n")
		rc.wmu.Unlock()
	}
}

func expects100(req *http.Request) bool {
	return strings.EqualFold(req.Header.Get("Expect"), "100-continue")
}

func (rc *rconn) accepted(req *http.Request) bool {
	return rc.done(req, http.StatusAccepted, []byte(`{"status":"OK"}`+"\n"))
}

// reply answers with an error document.
func (rc *rconn) reply(req *http.Request, status int, errorType, msg string) bool {
	body := fmt.Appendf(nil, `{"errorType":%q,"errorMessage":%q}`+"\n", errorType, msg)
	return rc.done(req, status, body)
}

// done discards what is left of the request body, writes the response and says whether the connection stays
// open. A body the client holds back for a 100 Continue it did not get is not waited for, and a body that cannot
// be read to its end (a malformed chunked encoding, a read timeout) or is over maxDrain is not parsed further:
// the connection closes, so what follows it is never taken for another request.
func (rc *rconn) done(req *http.Request, status int, body []byte) bool {
	keep := !req.Close && (rc.continued || req.ContentLength == 0 || !expects100(req))
	if keep {
		if n, err := io.CopyN(io.Discard, req.Body, maxDrain); n == maxDrain || !errors.Is(err, io.EOF) {
			keep, rc.linger = false, true
		}
	}
	if rc.write(status, nil, body, !keep) != nil {
		return false
	}
	return keep
}

// write writes a response with a JSON body and header lines hdr ("Name: value\r\n" each).
func (rc *rconn) write(status int, hdr []byte, body []byte, closeConn bool) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	b := append(rc.status(status), hdr...)
	return rc.finish(b, body, closeConn)
}

// status starts a response in the write buffer: the status line and the headers every response has.
func (rc *rconn) status(code int) []byte {
	b := append(rc.wbuf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: application/json\r\nDate: "...)
	b = append(b, httpDate()...)
	return append(b, "\r\n"...)
}

// finish ends the headers of the response in b, adds body and writes it all. Called with wmu held.
func (rc *rconn) finish(b, body []byte, closeConn bool) error {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if closeConn {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	_ = rc.c.SetWriteDeadline(time.Now().Add(rc.in.p.h.rtl.write))
	var err error
	if len(body) <= inlineBody {
		b = append(b, body...)
		_, err = rc.c.Write(b)
	} else {
		bufs := net.Buffers{b, body}
		_, err = bufs.WriteTo(rc.c)
	}
	if cap(b) <= 2*inlineBody {
		rc.wbuf = b[:0]
	}
	return err
}

// httpDate is the Date header value, formatted once per second.
func httpDate() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateText{sec: sec, text: now.UTC().AppendFormat(nil, http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text []byte
}

var cachedDate atomic.Pointer[dateText]

// readBody reads at most MaxPayload bytes; ok is false when the body is larger.
func readBody(r *http.Request) (body []byte, ok bool, err error) {
	if n := r.ContentLength; n >= 0 && n <= MaxPayload {
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
		return body, true, err
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	return body, len(body) <= MaxPayload, err
}
