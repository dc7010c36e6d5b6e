package funchost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/internal/ids"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

const (
	// MaxEventPayload is Lambda's asynchronous (Event) invocation payload limit (1 MB).
	MaxEventPayload = 1 << 20
	// MaxLogTail is how much of an invocation's log X-Amz-Log-Type: Tail returns (Lambda's last 4 KB).
	MaxLogTail = 4 * 1024
	// maxEventInFlight bounds the Event invocations an InvokeAPIHandler runs in the background at once; beyond
	// it Event requests get TooManyRequestsException.
	maxEventInFlight = 64
	// tailSettle is how long a Tail request waits for output lines still in the pipe after the response: the
	// function wrote them before posting its response, but the host reads its output asynchronously.
	tailSettle    = 5 * time.Millisecond
	tailSettleMax = 50 * time.Millisecond
)

// InvokeAPIHandler serves the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations, name may be a
// URL-escaped ARN and carry a qualifier, or the qualifier comes as ?Qualifier=) on the host's functions, so the
// AWS CLI (--endpoint-url), the SDKs and lambdainvoke.NewAWS with Options.Endpoint invoke local functions.
//
// Like Lambda:
//   - X-Amz-Invocation-Type RequestResponse (the default): 200 with the function's response (or, for a function
//     error, the error document with X-Amz-Function-Error), X-Amz-Executed-Version and X-Amzn-RequestId (the
//     request id the function saw). With X-Amz-Log-Type: Tail, X-Amz-Log-Result is the base64 of the last 4 KB
//     of the invocation's log: START, the function's output lines, END and REPORT;
//   - Event: 202 at once and the invocation runs in the background (at most 64 at a time per handler, beyond
//     that 429; payload limit 1 MB); its outcome is only logged;
//   - DryRun: 204 when the function exists;
//   - errors as Lambda sends them: X-Amzn-ErrorType and a JSON body {"Type":"User","message":…}:
//     ResourceNotFoundException (404), TooManyRequestsException (429), RequestEntityTooLargeException (413),
//     InvalidRequestContentException (400, a payload that is not JSON), InvalidParameterValueException (400),
//     ServiceException (500, e.g. the host closed).
//
// An empty payload is sent to the function as {}. X-Amz-Client-Context is ignored.
//
// The handler checks no signature and no credentials: any client may invoke any function with any credentials.
// It is meant for local development only; serve it on a loopback address (127.0.0.1), never on a public one.
// Because a web page the developer visits can make the browser send requests to loopback addresses, the handler
// refuses, with 403 AccessDeniedException and a message saying why:
//   - a request whose Host is not a loopback name: localhost, an address of 127.0.0.0/8 or [::1], each with or
//     without a port (DNS rebinding: a page of an attacker's domain that resolves to 127.0.0.1 sends its own
//     name as Host);
//   - a request carrying an Origin header (cross-site requests from a page: browsers send Origin with every
//     POST; the AWS SDKs and CLI never do).
func (h *Host) InvokeAPIHandler() http.Handler {
	a := &invokeAPI{h: h, events: make(chan struct{}, maxEventInFlight)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", a.serveInvoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "UnknownOperationException", "User", "Unknown operation "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := refuseNonLocal(r); msg != "" {
			apiError(w, http.StatusForbidden, "AccessDeniedException", "User", msg)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// refuseNonLocal says why the local Invoke API refuses r, or "" when it serves it.
func refuseNonLocal(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" || len(r.Header.Values("Origin")) > 0 {
		return fmt.Sprintf("proxyplus local Invoke API: request with an Origin header (%q) refused: "+
			"browsers send Origin, and a web page must not invoke local functions (CSRF); SDKs and the AWS CLI send none", o)
	}
	if !isLoopbackHost(r.Host) {
		return fmt.Sprintf("proxyplus local Invoke API: Host %q refused: only loopback names are served "+
			"(localhost, 127.0.0.0/8, [::1], with or without a port; DNS rebinding protection)", r.Host)
	}
	return ""
}

// isLoopbackHost reports whether a Host header names the loopback interface: localhost, an IPv4 address of
// 127.0.0.0/8 or [::1], optionally with a port.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

type invokeAPI struct {
	h      *Host
	events chan struct{} // one token per Event invocation running in the background
}

// apiError writes an error as the Lambda API does.
func apiError(w http.ResponseWriter, status int, code, typ, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": typ, "message": msg})
}

// writeInvokeError writes an error of Host.Invoke.
func writeInvokeError(w http.ResponseWriter, err error) {
	var ie *lambdainvoke.InvokeError
	if errors.As(err, &ie) && ie.Code != "" {
		apiError(w, ie.StatusCode, ie.Code, "User", ie.Message)
		return
	}
	apiError(w, http.StatusInternalServerError, "ServiceException", "Service", err.Error())
}

func (a *invokeAPI) serveInvoke(w http.ResponseWriter, r *http.Request) {
	function := r.PathValue("name")
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		pf := lambdainvoke.ParseFunction(function)
		switch {
		case pf.Qualifier == "":
			function += ":" + q
		case pf.Qualifier != q:
			apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "User",
				fmt.Sprintf("The derived qualifier from the function name does not match the specified qualifier (%s, %s).", pf.Qualifier, q))
			return
		}
	}
	invType := r.Header.Get("X-Amz-Invocation-Type")
	limit := MaxPayload
	switch invType {
	case "", "RequestResponse":
	case "Event":
		limit = MaxEventPayload
	case "DryRun":
	default:
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "User",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invType))
		return
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "User",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", logType))
		return
	}
	if _, _, err := a.h.lookup(function); err != nil {
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "User", "Function not found: "+function)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "User", "Could not read request body: "+err.Error())
		return
	}
	if len(payload) > limit {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "User",
			fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, "InvokeFunction"))
		return
	}
	if len(strings.TrimSpace(string(payload))) == 0 {
		payload = []byte("{}")
	} else if !json.Valid(payload) {
		var v any
		msg := "invalid JSON"
		if err := json.Unmarshal(payload, &v); err != nil {
			msg = err.Error()
		}
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "User",
			"Could not parse request body into json: Could not parse payload into json: "+msg)
		return
	}
	requestID := ids.NewUUID()
	w.Header().Set("X-Amzn-RequestId", requestID)
	switch invType {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		select {
		case a.events <- struct{}{}:
		default:
			apiError(w, http.StatusTooManyRequests, "TooManyRequestsException", "User",
				fmt.Sprintf("Rate Exceeded: %d Event invocations already running", maxEventInFlight))
			return
		}
		go a.runEvent(function, payload, requestID)
		w.WriteHeader(http.StatusAccepted)
		return
	}

	var tail *tailLog
	if logType == "Tail" {
		tail = &tailLog{}
		tail.add([]byte(fmt.Sprintf("START RequestId: %s Version: %s", requestID, LatestVersion)))
	}
	start := time.Now()
	res, err := a.h.invoke(lambdainvoke.WithTraceHeader(r.Context(), r.Header.Get("X-Amzn-Trace-Id")), function, payload, requestID, tail)
	if err != nil {
		writeInvokeError(w, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Amz-Executed-Version", res.ExecutedVersion)
	if res.FunctionError != "" {
		hd.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if tail != nil {
		elapsed := time.Since(start)
		tail.settle()
		p, _, _ := a.h.lookup(function)
		tail.add([]byte("END RequestId: " + requestID))
		tail.add([]byte(fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t",
			requestID, float64(elapsed.Microseconds())/1000, elapsed.Milliseconds()+1, p.fn.MemoryMB)))
		hd.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(tail.bytes()))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

// runEvent runs an Event invocation in the background and logs its outcome.
func (a *invokeAPI) runEvent(function string, payload []byte, requestID string) {
	defer func() { <-a.events }()
	res, err := a.h.invoke(context.Background(), function, payload, requestID, nil)
	switch {
	case err != nil:
		a.h.log.Warn("event invocation failed", "function", function, "request_id", requestID, "error", err)
	case res.FunctionError != "":
		a.h.log.Warn("event invocation function error", "function", function, "request_id", requestID,
			"function_error", res.FunctionError, "payload", string(res.Payload))
	default:
		a.h.log.Debug("event invocation done", "function", function, "request_id", requestID)
	}
}

// tailLog keeps the last MaxLogTail bytes of one invocation's log lines (bounded: at most 2×MaxLogTail held).
type tailLog struct {
	mu   sync.Mutex
	buf  []byte
	last time.Time // when the last line was added
}

func (t *tailLog) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(line) > MaxLogTail {
		line = line[len(line)-MaxLogTail:]
	}
	t.buf = append(t.buf, line...)
	t.buf = append(t.buf, '\n')
	if len(t.buf) > 2*MaxLogTail {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-MaxLogTail:]...)
	}
	t.last = time.Now()
}

// settle waits until no line has come for tailSettle (at most tailSettleMax), so that output the function wrote
// before responding, still on its way through the pipe, is included.
func (t *tailLog) settle() {
	deadline := time.Now().Add(tailSettleMax)
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		t.mu.Lock()
		last := t.last
		t.mu.Unlock()
		if last.After(quietSince) {
			quietSince = last
		}
		if time.Since(quietSince) >= tailSettle {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (t *tailLog) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > MaxLogTail {
		b = b[len(b)-MaxLogTail:]
	}
	return append([]byte(nil), b...)
}
