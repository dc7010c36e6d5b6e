package extproc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// maxEventBytes is Lambda's synchronous request limit (LIM-5): a larger event is API Gateway's 413 (OUT-4).
const maxEventBytes = 6 * 1024 * 1024

// MaxBodyBytes is API Gateway's request payload limit (LIM-1): a larger body gets 413 "HTTP content length
// exceeded 10485760 bytes." before anything else. On Lambda routes the processor enforces it: Envoy keeps no copy
// of a FULL_DUPLEX_STREAMED body, so no Envoy buffer limit applies (envoy-notes EXT-7).
const MaxBodyBytes = 10 * 1024 * 1024

// Lambda serves AWS_PROXY routes: event in, function out, client response back (apigateway-rest §3–§5). The gRPC
// service and test-invoke both run requests through Serve, so test-invoke shows what the service does.
type Lambda struct {
	Invoker lambdainvoke.Invoker
	// AccountID is requestContext.accountId (12 digits).
	AccountID string
	// Now and NewID default to the clock and crypto/rand; tests fix them.
	Now   func() time.Time
	NewID func() [16]byte
	// Log receives one line per failed invocation (lambda_log.go); nil means slog.Default(). NewServer sets it.
	Log *slog.Logger
}

// Exchange is one Lambda proxy request's outcome.
type Exchange struct {
	// Event is the JSON event sent to the function; nil when the request failed before it was built.
	Event    []byte
	Response *lambdaproxy.Response
	// Context holds the ids and time the gateway generated for this request.
	Context lambdaproxy.Context
	// settled is true when nothing can still read Event: the invoker returned normally.
	settled bool
	// pooled is the recycled buffer Event was built in (servePooled), returned by release.
	pooled *[]byte
	inv    lambdaproxy.Invocation
}

// Serve builds the event, invokes the function within the integration timeout and converts what it returned.
// Cancelling ctx (Envoy gave up on the stream) cancels the invocation.
func (l *Lambda) Serve(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request) *Exchange {
	x := l.serve(ctx, pr, req, nil, &Exchange{})
	applyGatewayResponses(pr, req, x) // mock.go
	return x
}

// eventBuffers recycles event buffers on the service's request path (ServePooled).
var eventBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// ServePooled is Serve with the event built in a recycled buffer; the Exchange's Event is invalid once done is
// called (the service only needs the response).
func (l *Lambda) ServePooled(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request) (x *Exchange, done func()) {
	x = &Exchange{}
	l.servePooled(ctx, pr, req, x)
	return x, x.release
}

// servePooled is ServePooled into an Exchange the caller owns (the service's stream state); call x.release when
// done with it.
func (l *Lambda) servePooled(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request, x *Exchange) {
	bp := eventBuffers.Get().(*[]byte)
	l.serve(ctx, pr, req, (*bp)[:0], x)
	x.pooled = bp
	applyGatewayResponses(pr, req, x) // mock.go
}

// release returns the event buffer of servePooled to the pool.
func (x *Exchange) release() {
	bp := x.pooled
	x.pooled = nil
	// An invoker cut short by a timeout or an error may still be reading the payload: drop that buffer.
	if bp != nil && x.settled && cap(x.Event) <= 1<<20 { // keep huge events out of the pool too
		*bp = x.Event[:0]
		eventBuffers.Put(bp)
	}
}

func (l *Lambda) serve(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request, buf []byte, x *Exchange) *Exchange {
	*x = Exchange{Context: l.newContext(req)}
	c := &x.Context
	lam := pr.Route.Integration.Lambda
	if lam == nil {
		x.Response = lambdaproxy.GatewayError(500, c)
		return x
	}
	// Refused before the event is built: a body over LIM-1, or one whose event cannot fit Lambda's limit
	// (MinEventSize counts the body as it will be encoded — a NUL byte takes six — in one pass, so a body that
	// would make a 36 MB event costs no memory beyond itself).
	if len(req.Body) > MaxBodyBytes {
		x.Response = lambdaproxy.ContentLengthExceeded()
		return x
	}
	// A byte of the body is at most six in the event (\u0000), so small bodies skip the scan.
	if 6*len(req.Body)+2*len(req.Path) > maxEventBytes && lambdaproxy.MinEventSize(pr, req) > maxEventBytes {
		x.Response = lambdaproxy.GatewayError(413, c)
		return x
	}
	if need := 4096 + len(req.Body)*4/3; cap(buf) < need {
		// Sized for the usual event plus a base64 body, so appending never regrows the buffer.
		buf = make([]byte, 0, need)
	}
	event, err := lambdaproxy.AppendEvent(buf, pr, req, c)
	if err != nil {
		r := lambdaproxy.GatewayError(500, c)
		r.Details = "proxyplus_lambda_event_error"
		x.Response = r
		return x
	}
	x.Event = event
	if len(event) > maxEventBytes {
		x.Response = lambdaproxy.GatewayError(413, c)
		return x
	}
	timeout := time.Duration(lam.Timeout)
	if timeout <= 0 {
		timeout = 29 * time.Second
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inv := &x.inv
	res, err := l.Invoker.Invoke(ictx, lam.FunctionARN, event)
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		inv.TimedOut = true
	case err != nil:
		inv.Err = err
	default:
		inv.Payload, inv.FunctionError = res.Payload, res.FunctionError
		x.settled = true
	}
	x.Response = lambdaproxy.ConvertResponse(req, pr.BinaryMediaTypes, inv, c)
	if err != nil {
		l.logInvokeError(ctx, lam.FunctionARN, c.RequestID, err, x.Response)
	}
	return x
}

// refuse answers a request whose body was too large to keep (the service stops keeping it past the invoke limit):
// OUT-4's 413, with the ids the gateway generates for the request.
func (l *Lambda) refuse(pr *ir.ProcessorRoute, req *lambdaproxy.Request, x *Exchange) {
	*x = Exchange{Context: l.newContext(req)}
	x.Response = lambdaproxy.GatewayError(413, &x.Context)
	applyGatewayResponses(pr, req, x) // mock.go
}

func (l *Lambda) newContext(req *lambdaproxy.Request) lambdaproxy.Context {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	id, ext, trace := l.threeIDs()
	c := lambdaproxy.Context{AccountID: l.AccountID, Now: now().UTC()}
	// The generated ids share one string: one allocation per request instead of one or more per id.
	var b [36 + 16 + 40]byte
	ids := appendUUID(b[:0], id)
	// API Gateway's extended id: 15 base64 characters and "=", e.g. TWegAcC4EowCHnA= (EVT-23).
	var ext64 [16]byte
	base64.StdEncoding.Encode(ext64[:], ext[:11]) // 11 bytes → 15 characters and one "="
	ids = append(ids, ext64[:15]...)
	ids = append(ids, '=')
	client := headerValue(req.Headers, "x-amzn-trace-id")
	if client == "" {
		ids = appendNewTraceID(ids, c.Now, trace)
	}
	all := string(ids)
	c.RequestID, c.ExtendedRequestID = all[:36], all[36:52]
	if client == "" {
		c.TraceID = all[52:]
	} else {
		c.TraceID = traceID(client, c.Now, trace)
	}
	return c
}

// threeIDs are the request id's, the extended id's and the trace id's random bytes, in that order; without NewID
// read under one lock.
func (l *Lambda) threeIDs() (a, b, c [16]byte) {
	if l.NewID != nil {
		return l.NewID(), l.NewID(), l.NewID()
	}
	var buf [48]byte
	ids.Lock()
	_, _ = ids.r.Read(buf[:])
	ids.Unlock()
	return [16]byte(buf[:16]), [16]byte(buf[16:32]), [16]byte(buf[32:])
}

// ids is a ChaCha8 stream seeded from crypto/rand: request ids need to be unique and unpredictable, not a
// syscall per id on the request path.
var ids = struct {
	sync.Mutex
	r *mrand.ChaCha8
}{r: newChaCha()}

func newChaCha() *mrand.ChaCha8 {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}

func randomID() (b [16]byte) {
	ids.Lock()
	_, _ = ids.r.Read(b[:])
	ids.Unlock()
	return b
}

// NewUUID is a random lower-case v4 UUID, as API Gateway request ids (and Envoy's %UNIQUE_ID%) are.
func NewUUID() string { return uuidString(randomID()) }

// uuidString formats a v4 UUID in lower case (EVT-23 requestId).
func uuidString(b [16]byte) string {
	var out [36]byte
	return string(appendUUID(out[:0], b))
}

func appendUUID(dst []byte, b [16]byte) []byte {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return append(dst, out[:]...)
}

// appendNewTraceID appends a new X-Ray trace id, Root=1-<8 hex epoch seconds>-<24 hex> (EVT-11).
func appendNewTraceID(dst []byte, now time.Time, rnd [16]byte) []byte {
	var sec [4]byte
	binary.BigEndian.PutUint32(sec[:], uint32(now.Unix()))
	dst = append(dst, "Root=1-"...)
	dst = hex.AppendEncode(dst, sec[:])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, rnd[:12])
}

// traceID keeps a client's Root=…;Parent=…;Sampled=…, adds a Parent to a bare Root, or starts a new X-Ray trace
// Root=1-<8 hex epoch seconds>-<24 hex> (EVT-11).
func traceID(client string, now time.Time, rnd [16]byte) string {
	switch {
	case client == "":
		return string(appendNewTraceID(nil, now, rnd))
	case strings.HasPrefix(client, "Root=") && !strings.Contains(client, "Parent="):
		return client + ";Parent=" + hex.EncodeToString(rnd[:8])
	}
	return client
}

func headerValue(hs [][2]string, name string) string {
	v := ""
	for _, h := range hs {
		if h[0] == name {
			v = h[1]
		}
	}
	return v
}

// LambdaRequest turns the processor's view of a request into the event builder's input.
func LambdaRequest(rh *RequestHeaders, body []byte, sourceIP, protocol string) *lambdaproxy.Request {
	req := &lambdaproxy.Request{}
	fillLambdaRequest(req, rh, body, sourceIP, protocol)
	return req
}

// fillLambdaRequest is LambdaRequest into dst (the service's stream state owns one). It rewrites rh's
// X-Forwarded-For separator in place (apiGatewayXFF).
func fillLambdaRequest(dst *lambdaproxy.Request, rh *RequestHeaders, body []byte, sourceIP, protocol string) {
	if protocol == "" {
		protocol = "HTTP/1.1"
	}
	apiGatewayXFF(rh.Headers)
	*dst = lambdaproxy.Request{Method: rh.Method, Path: rh.Path, Authority: rh.Authority, Headers: rh.Headers, Body: body, SourceIP: sourceIP, Protocol: protocol}
}

// apiGatewayXFF rewrites, in place, the separator Envoy put before the client address it appended to
// X-Forwarded-For: Envoy appends with "," (source/common/http/utility.cc, Utility::appendXff:
// appendForwardedFor(address, ",")), API Gateway with ", " (EVT-10). Only that last separator is Envoy's; commas
// the client sent stay as sent. With use_remote_address (HCM-5) Envoy always appends, so the last entry is its.
func apiGatewayXFF(hs [][2]string) {
	for i := range hs {
		if !strings.EqualFold(hs[i][0], "x-forwarded-for") {
			continue
		}
		v := hs[i][1]
		if c := strings.LastIndexByte(v, ','); c >= 0 && (c+1 == len(v) || v[c+1] != ' ') {
			hs[i][1] = v[:c+1] + " " + v[c+1:]
		}
	}
}

// sourceIP is the client address Envoy trusted. At the edge (use_remote_address, HCM-5; no client is internal,
// HCM-16) Envoy sets x-envoy-external-address to exactly that address (ConnectionManagerUtility::
// mutateRequestHeaders, source/common/http/conn_manager_utility.cc, main 1.37.0-dev): it is read first. The last
// x-forwarded-for entry is not always the client: for a loopback client Envoy appends its own LocalInfo address
// instead (appendXff), so it is only the fallback, without port.
func sourceIP(rh *RequestHeaders) string {
	if ext, ok := rh.Get("x-envoy-external-address"); ok && ext != "" {
		return ext
	}
	xff, _ := rh.Get("x-forwarded-for")
	ip := strings.TrimSpace(xff[strings.LastIndexByte(xff, ',')+1:])
	if i := strings.LastIndex(ip, ":"); i > 0 && strings.Count(ip, ":") == 1 {
		if _, err := strconv.Atoi(ip[i+1:]); err == nil {
			ip = ip[:i]
		}
	}
	return ip
}
