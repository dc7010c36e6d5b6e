package lambdainvoke

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
)

// Retrying an invocation (issue 10 scope 7). A function must not run twice for one request, so the Lambda client
// makes one attempt (Options.MaxAttempts 0) and only failures where the request cannot have reached the
// function are retried, at most maxSendRetries times, on a new connection:
//
//   - the connection could not be made: a dial error (connection refused, no route, DNS), *net.OpError with Op
//     "dial" in net/http's error: nothing was sent;
//   - nothing of the request was written on a reused keep-alive connection: net/http's transport retries this
//     itself when the request body can be rewound (net/http transport.go, persistConn.shouldRetryRequest:
//     nothingWrittenError → req.GetBody != nil). The SDK sends the payload without GetBody, so sendRetrier
//     sets it from the payload the invoker put in the request's context;
//   - "http: server closed idle connection" (net/http errServerClosedIdle): the transport read end-of-file on
//     the connection before this request was registered on it, i.e. the server had closed the idle keep-alive
//     connection before the request reached it (the keep-alive race); a server that has closed a connection
//     reads no further request from it. net/http retries this only for idempotent requests.
//
// Everything else is not retried: a reset or end-of-file after the request was sent, a timeout, any HTTP answer.
// The server may have run the function.
const maxSendRetries = 2

// payloadKey carries an invocation's payload in the request context to sendRetrier.
type payloadKey struct{}

// sendRetrier is the HTTP client of the Lambda clients NewAWS creates: the SDK's (or Options.HTTPClient) with
// the retries above.
type sendRetrier struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
}

func (s *sendRetrier) Do(req *http.Request) (*http.Response, error) {
	if p, ok := req.Context().Value(payloadKey{}).([]byte); ok && req.GetBody == nil && req.ContentLength == int64(len(p)) {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p)), nil }
	}
	for retry := 0; ; retry++ {
		resp, err := s.next.Do(req)
		if err == nil || retry == maxSendRetries || !NotSent(err) || req.Context().Err() != nil ||
			(req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			if err != nil && retry > 0 {
				err = &retriedError{retries: retry, err: err}
			}
			return resp, err
		}
		if req.GetBody != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return resp, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retriedError is the last error of a request sent more than once.
type retriedError struct {
	retries int
	err     error
}

func (e *retriedError) Error() string {
	return e.err.Error() + " (after " + strconv.Itoa(e.retries) + " retries of a request that had not been sent)"
}

func (e *retriedError) Unwrap() error { return e.err }

// NotSent reports whether err, an error of an HTTP client's Do, means the request cannot have reached the
// server: no connection could be made, or the server had closed the keep-alive connection before the request
// was sent on it (see maxSendRetries).
func NotSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	return strings.Contains(err.Error(), "http: server closed idle connection")
}

// ErrorClass names the kind of an Invoke failure for logs: throttled, not_found, access_denied,
// payload_too_large (the classes of this package), timeout (the context's deadline), canceled (the caller went
// away), not_sent (no connection to the Invoke API), connection (the connection failed after the request was
// sent: the function may have run), api_error (any other answer of the Invoke API), or error.
func ErrorClass(err error) string {
	var ie *InvokeError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrAccessDenied):
		return "access_denied"
	case errors.Is(err, ErrPayloadTooLarge):
		return "payload_too_large"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ie) && (ie.Code != "" || ie.StatusCode != 0):
		return "api_error"
	case NotSent(err):
		return "not_sent"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return "connection"
	}
	return "error"
}
