package extproc

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/internal/ids"
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
	// Authorizer runs the routes' Lambda authorizers through Invoker, with its cache. NewServer sets one when
	// nil; without one, authorizers run uncached.
	Authorizer *authorizer.Authorizer
	// Metrics records every invocation (metrics.go); nil records nothing.
	Metrics *Metrics
	// OmitLogMetadata leaves the access log's processor values (logmeta.go) out of the answers: the access log
	// then shows "-" for them. For operators who keep no access log, and for measuring their cost.
	OmitLogMetadata bool
	// APIKeys checks the API key a route's Lambda authorizer names (usageIdentifierKey) when the route's API key
	// source is AUTHORIZER: the authorization service (authz.Service), which serve and extproc share with
	// ext_authz. nil refuses such requests 403 Forbidden.
	APIKeys APIKeyChecker
	// floods aggregates failed-invocation lines once they come faster than one a second per function and class.
	floods floodLog
}

// Exchange is one Lambda proxy request's outcome.
type Exchange struct {
	// Event is the JSON event sent to the function; nil when the request failed before it was built.
	Event    []byte
	Response *lambdaproxy.Response
	// Context holds the ids and time the gateway generated for this request.
	Context lambdaproxy.Context
	// Authorization is the route's Lambda authorizer outcome (zero when the route has none).
	Authorization authorizer.Outcome
	// settled is true when nothing can still read Event: the invoker returned normally.
	settled bool
	// pooled is the recycled buffer Event was built in (servePooled), returned by release; conv holds the pooled
	// memory of a function's Response (servePooled), also returned by release.
	pooled *[]byte
	conv   lambdaproxy.PooledResponse
	inv    lambdaproxy.Invocation
	// invoked is set once Invoke was called; latency is how long it took and invokeStatus the Invoke API's status
	// (200, or an InvokeError's; 0 when none came back): the access log's integration values (logmeta.go).
	invoked      bool
	latency      time.Duration
	invokeStatus int
}

// Serve builds the event, invokes the function within the integration timeout and converts what it returned.
// Cancelling ctx (Envoy gave up on the stream) cancels the invocation.
func (l *Lambda) Serve(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request) *Exchange {
	x := l.serve(ctx, pr, nil, req, nil, &Exchange{}, false)
	applyGatewayResponses(pr, req, x) // mock.go
	return x
}

// eventBuffers recycles event buffers on the service's request path (ServePooled).
var eventBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// ServePooled is Serve with the event and the function's response built in recycled memory; the Exchange's Event
// and Response are invalid once done is called (the service needs them only until its answer is written).
func (l *Lambda) ServePooled(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request) (x *Exchange, done func()) {
	x = &Exchange{}
	l.servePooled(ctx, pr, nil, req, x)
	return x, x.release
}

// servePooled is ServePooled into an Exchange the caller owns (the service's stream state); call x.release when
// done with it. er, when not nil, is pr's prepared event parts (eventroutes.go).
func (l *Lambda) servePooled(ctx context.Context, pr *ir.ProcessorRoute, er *lambdaproxy.EventRoute, req *lambdaproxy.Request, x *Exchange) {
	bp := eventBuffers.Get().(*[]byte)
	l.serve(ctx, pr, er, req, (*bp)[:0], x, true)
	x.pooled = bp
	applyGatewayResponses(pr, req, x) // mock.go
}

// release returns the event buffer and the response memory of servePooled to their pools.
func (x *Exchange) release() {
	x.conv.Release()
	x.Response = nil
	bp := x.pooled
	x.pooled = nil
	// An invoker cut short by a timeout or an error may still be reading the payload: drop that buffer.
	if bp != nil && x.settled && cap(x.Event) <= 1<<20 { // keep huge events out of the pool too
		*bp = x.Event[:0]
		eventBuffers.Put(bp)
	}
}

func (l *Lambda) serve(ctx context.Context, pr *ir.ProcessorRoute, er *lambdaproxy.EventRoute, req *lambdaproxy.Request, buf []byte, x *Exchange, pooled bool) *Exchange {
	*x = Exchange{Context: l.newContext(ctx, req)}
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
	if a := pr.Route.Authorization; a != nil && a.Lambda != nil {
		// The authorizer comes before the integration (AUTHORIZERS.md §1-§3).
		if l.authorize(ctx, pr, req, &x.Context, &x.Authorization) != nil {
			x.Response = x.Authorization.Refusal
			return x
		}
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
	var event []byte
	var err error
	if er != nil && er.Route() == pr {
		event, err = lambdaproxy.AppendPreparedEvent(buf, er, req, c)
	} else {
		event, err = lambdaproxy.AppendEvent(buf, pr, req, c)
	}
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
	// The trace continues into the invocation (lambdainvoke.TraceHeader).
	ictx := newInvokeContext(ctx, c.TraceID, timeout)
	defer ictx.end()
	inv := &x.inv
	start := time.Now()
	res, err := l.Invoker.Invoke(ictx, lam.FunctionARN, event)
	x.invoked, x.latency = true, time.Since(start)
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		inv.TimedOut = true
	case err != nil:
		inv.Err = err
	default:
		inv.Payload, inv.FunctionError = res.Payload, res.FunctionError
		x.settled = true
	}
	if pooled {
		x.Response, x.conv = lambdaproxy.ConvertResponsePooled(req, pr.BinaryMediaTypes, inv, c)
	} else {
		x.Response = lambdaproxy.ConvertResponse(req, pr.BinaryMediaTypes, inv, c)
	}
	class := ""
	if err != nil {
		class = l.logInvokeError(ctx, lam.FunctionARN, c.RequestID, err, x.Response)
		var ie *lambdainvoke.InvokeError
		if errors.As(err, &ie) {
			x.invokeStatus = ie.StatusCode
		}
	} else {
		x.invokeStatus = 200
	}
	l.Metrics.invoked(lam.FunctionARN, x.latency, class, x.Response)
	return x
}

// authorize runs pr's Lambda authorizer for req into out and returns the refusal, or nil with
// req.Authorizer set to what the integration receives in requestContext.authorizer.
func (l *Lambda) authorize(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request, c *lambdaproxy.Context, out *authorizer.Outcome) *lambdaproxy.Response {
	az := l.Authorizer
	if az == nil {
		az = &authorizer.Authorizer{Invoker: l.Invoker, AccountID: l.AccountID, Log: l.Log}
	}
	az.Authorize(ctx, pr, req, c, out)
	if out.Refusal != nil {
		return out.Refusal
	}
	if a := pr.Route.Authorization; a.APIKeyRequired && a.APIKeySource == ir.APIKeySourceAuthorizer {
		if out.Refusal = l.checkAuthorizerKey(pr, req, c, out); out.Refusal != nil {
			return out.Refusal
		}
	}
	req.Authorizer = out.ContextJSON()
	return nil
}

// APIKeyChecker checks an API key against the stage's keys and usage plans (authz.Service.CheckKey).
type APIKeyChecker interface {
	CheckKey(apiID, stage, value string, now time.Time) (*authz.Denial, *authz.Key)
}

// checkAuthorizerKey is the API-key check of a route whose key source is AUTHORIZER (AUTHORIZERS.md §6): the key
// is the allowing authorizer's usageIdentifierKey, checked as ext_authz checks x-api-key — 403 Forbidden when
// absent, unknown or disabled, 429 from its usage plan. Allowed, the key reaches requestContext.identity.
func (l *Lambda) checkAuthorizerKey(pr *ir.ProcessorRoute, req *lambdaproxy.Request, c *lambdaproxy.Context, out *authorizer.Outcome) *lambdaproxy.Response {
	var value string
	if out.Result != nil {
		value = out.Result.UsageIdentifierKey
	}
	d, k := &authz.Forbidden, (*authz.Key)(nil)
	if l.APIKeys != nil {
		now := time.Now()
		if l.Now != nil {
			now = l.Now()
		}
		d, k = l.APIKeys.CheckKey(pr.APIID, pr.Stage, value, now)
	}
	if d != nil {
		return lambdaproxy.GatewayResponse(d.Status, d.Body, d.ErrorType, detailsAPIKeyRefused, c)
	}
	if req.Auth == nil {
		req.Auth = &lambdaproxy.Auth{}
	}
	req.Auth.APIKey, req.Auth.APIKeyID = k.Value, k.ID
	return nil
}

// AuthorizeHeaders runs the Lambda authorizer of an HTTP_PROXY route (the processor's headers-mode pass) and
// returns the gateway's refusal, nil when the request goes on.
func (l *Lambda) AuthorizeHeaders(ctx context.Context, pr *ir.ProcessorRoute, rh *RequestHeaders, sourceIP string, out *authorizer.Outcome) *lambdaproxy.Response {
	req := &lambdaproxy.Request{Method: rh.Method, Path: rh.Path, Authority: rh.Authority, Headers: rh.Headers, SourceIP: sourceIP, Protocol: "HTTP/1.1"}
	c := l.newContext(ctx, req)
	refusal := l.authorize(ctx, pr, req, &c, out)
	if refusal != nil && len(pr.GatewayResponses) != 0 {
		ApplyGatewayResponses(pr, headerValue(rh.Headers, "accept"), refusal) // mock.go
	}
	return refusal
}

// refuse answers a request whose body was too large to keep (the service stops keeping it past the invoke limit):
// OUT-4's 413, with the ids the gateway generates for the request. The route's authorizer comes first, as in
// serve: the 413 is the integration's, so a request the authorizer refuses gets the authorizer's answer.
func (l *Lambda) refuse(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request, x *Exchange) {
	*x = Exchange{Context: l.newContext(ctx, req)}
	if a := pr.Route.Authorization; a != nil && a.Lambda != nil {
		if refusal := l.authorize(ctx, pr, req, &x.Context, &x.Authorization); refusal != nil {
			x.Response = refusal
			applyGatewayResponses(pr, req, x) // mock.go
			return
		}
	}
	x.Response = lambdaproxy.GatewayError(413, &x.Context)
	applyGatewayResponses(pr, req, x) // mock.go
}

func (l *Lambda) newContext(ctx context.Context, req *lambdaproxy.Request) lambdaproxy.Context {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	id, ext, trace := l.threeIDs()
	c := lambdaproxy.Context{AccountID: l.AccountID, Now: now().UTC()}
	// The generated ids share one string: one allocation per request instead of one or more per id.
	var b [36 + 16 + 40]byte
	buf := ids.AppendUUID(b[:0], id)
	// API Gateway's extended id: 15 base64 characters and "=", e.g. TWegAcC4EowCHnA= (EVT-23).
	var ext64 [16]byte
	base64.StdEncoding.Encode(ext64[:], ext[:11]) // 11 bytes → 15 characters and one "="
	buf = append(buf, ext64[:15]...)
	buf = append(buf, '=')
	client, parent := traceHeaders(req.Headers)
	edge := edgeTrace(ctx)
	if client == "" && parent == "" && edge == "" {
		buf = ids.AppendNewTraceID(buf, c.Now, trace)
	}
	all := string(buf)
	c.RequestID, c.ExtendedRequestID = all[:36], all[36:52]
	if len(all) > 52 {
		c.TraceID = all[52:]
	} else {
		c.TraceID = ids.Continue(client, parent, edge, c.Now, trace)
	}
	return c
}

// edgeTrace is the trace Envoy started or continued at the edge for this request: with the HCM's X-Ray tracer
// (xds/builder/accesslog.go) the ext_proc stream's initial metadata carries x-amzn-trace-id, injected by the
// gRPC async client from a child of the request's span (source/common/grpc/async_client_impl.cc
// AsyncStreamImpl::initialize → Span::injectContext, source/extensions/tracers/xray/tracer.cc; the parent span
// is set in ext_proc.cc Filter::openStream; main 1.37.0-dev 321a098d81). "" without one.
func edgeTrace(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, "x-amzn-trace-id"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// threeIDs are the request id's, the extended id's and the trace id's random bytes, in that order; without NewID
// read under one lock.
func (l *Lambda) threeIDs() (a, b, c [16]byte) {
	if l.NewID != nil {
		return l.NewID(), l.NewID(), l.NewID()
	}
	var buf [48]byte
	ids.Read(buf[:])
	return [16]byte(buf[:16]), [16]byte(buf[16:32]), [16]byte(buf[32:])
}

// NewUUID is a random lower-case v4 UUID, as API Gateway request ids (and Envoy's %UNIQUE_ID%) are (ids.NewUUID).
func NewUUID() string { return ids.NewUUID() }

// traceHeaders is headerValue(hs, "x-amzn-trace-id") and headerValue(hs, "traceparent") in one pass that compares
// only names of their lengths (two passes comparing every name were ≈ 0.3k of BenchmarkLambdaServe's ≈ 48k
// instructions per request; callgrind, Dec 2026).
func traceHeaders(hs [][2]string) (client, parent string) {
	for _, h := range hs {
		switch n := h[0]; len(n) {
		case len("x-amzn-trace-id"):
			if n == "x-amzn-trace-id" {
				client = h[1]
			}
		case len("traceparent"):
			if n == "traceparent" {
				parent = h[1]
			}
		}
	}
	return client, parent
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
	switch k := &rh.known; {
	case k.scanned && k.forwardedLines == 0:
	case k.scanned && k.forwardedLines == 1:
		apiGatewayXFF(rh.Headers[k.forwarded-1 : k.forwarded])
	default:
		apiGatewayXFF(rh.Headers)
	}
	*dst = lambdaproxy.Request{Method: rh.Method, Path: rh.Path, Authority: rh.Authority, Headers: rh.Headers, Body: body, SourceIP: sourceIP, Protocol: protocol}
}

// apiGatewayXFF rewrites, in place, the separator Envoy put before the client address it appended to
// X-Forwarded-For: Envoy appends with "," (source/common/http/utility.cc, Utility::appendXff:
// appendForwardedFor(address, ",")), API Gateway with ", " (EVT-10). Only that last separator is Envoy's; commas
// the client sent stay as sent. With use_remote_address (HCM-5) Envoy always appends, so the last entry is its.
func apiGatewayXFF(hs [][2]string) {
	for i := range hs {
		if !headerIs(hs[i][0], "x-forwarded-for") {
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
	ext, xff := "", ""
	if rh.known.scanned {
		ext, _ = rh.getKnown(rh.known.externalAddress)
		xff, _ = rh.getKnown(rh.known.forwarded)
	} else {
		ext, _ = rh.Get("x-envoy-external-address")
		if ext == "" {
			xff, _ = rh.Get("x-forwarded-for")
		}
	}
	if ext != "" {
		return ext
	}
	ip := strings.TrimSpace(xff[strings.LastIndexByte(xff, ',')+1:])
	if i := strings.LastIndex(ip, ":"); i > 0 && strings.Count(ip, ":") == 1 {
		if _, err := strconv.Atoi(ip[i+1:]); err == nil {
			ip = ip[:i]
		}
	}
	return ip
}
