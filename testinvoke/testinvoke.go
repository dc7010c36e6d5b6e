// Package testinvoke answers "what does the gateway do with this request?" the way Envoy would with the
// configuration proxyplus generates: it builds the real Envoy resources, applies Envoy's route matching and
// route actions to them with the route evaluator, runs the processor where a route enables it, and — unless it
// is a dry run — sends the integration request like API Gateway's test invoke.
package testinvoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke/output"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// Request is what the client sent.
type Request struct {
	Method string
	// Target is the raw request target: stage prefix, path and query, exactly as sent.
	Target  string
	Headers [][2]string
	Body    []byte
	// RemoteAddr is the client address Envoy would see; 127.0.0.1 when empty.
	RemoteAddr string
}

// The output types live in testinvoke/output, so that checkers of the CLI's output (internal/conformance, which
// packages under test here depend on) read them without importing testinvoke.
type (
	Result          = output.Result
	AuthorizerCalls = output.AuthorizerCalls
	RouteRef        = output.RouteRef
	Integration     = output.Integration
	Message         = output.Message
)

func setBody(m *Message, b []byte) {
	if utf8.Valid(b) {
		m.Body = string(b)
		return
	}
	m.Body, m.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
}

// Invoker runs test invokes against one generated configuration.
type Invoker struct {
	eval *evaluator.Evaluator
	// Backends maps a cluster name to its backend, to send HTTP_PROXY requests where Envoy would.
	backends map[string]ir.Backend
	// routeTypes maps route names to their integration type, for the output.
	routeTypes map[string]string
	// routeKeys verify the route data as the processor does.
	routeKeys ir.RouteKeys
	// localAddr is the listener address clients connect to; defaultHost is used when no Host header is given.
	localAddr, defaultHost string
	// Lambda serves AWS_PROXY routes as the ext_proc service does; nil shows the event without invoking.
	Lambda *extproc.Lambda
	// DryRun stops before any HTTP backend is called (leave Lambda nil to stop before functions too).
	DryRun bool
	// Client sends integration requests; http.DefaultTransport-like with no redirects followed (HTP-16).
	Client *http.Client
	// AuthorizerInvoker answers Lambda authorizer invocations when Lambda is nil (a dry run: the integration is
	// not invoked, authorizers still decide); nil refuses them like the integration's function.
	AuthorizerInvoker lambdainvoke.Invoker
	// authzCache is the authorizer cache shared by the requests of this invoker, as one processor shares it.
	authzCache *authorizer.Cache
	// Processor, when set, serves every route that enables ext_proc over gRPC with the message sequence Envoy
	// plays for the generated configuration (wire.go), instead of calling the processor's code in-process.
	Processor extprocsvcv3.ExternalProcessorClient
	// JWKS stands for the Cognito user pools' key sets (--jwks); routes with a Cognito authorizer need it.
	JWKS *evaluator.JWKS
	// Authz is the authorization service ext_authz calls (API keys, usage plans, Cognito scopes), in-process;
	// AuthzClient, when set, calls it over gRPC instead. Set Authz.Keys for API-key routes (--api-keys).
	Authz       *authz.Service
	AuthzClient authv3.AuthorizationClient
	// Now is the clock jwt_authn and the usage plans see; time.Now when nil.
	Now func() time.Time
}

// RouteKeys are the keys the invoker's route data is signed with: a processor serving it over the wire
// (Processor) must verify with them.
func (inv *Invoker) RouteKeys() ir.RouteKeys { return inv.routeKeys }

// New builds the Envoy resources for cfg and an evaluator over them.
func New(cfg *ir.Config) (*Invoker, error) {
	if len(cfg.ExtProc.RouteKeys) == 0 {
		// The route data is signed and verified as between serve and its processor; a key of this run's own.
		secret := make([]byte, ir.MinRouteKeyBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("route key: %w", err)
		}
		key, err := ir.NewRouteKey(secret)
		if err != nil {
			return nil, err
		}
		c := *cfg
		c.ExtProc.RouteKeys = ir.RouteKeys{key}
		cfg = &c
	}
	res, err := builder.Build(cfg)
	if err != nil {
		return nil, err
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		return nil, err
	}
	// A loopback client's X-Forwarded-For entry is this machine's address, as Envoy's appendXff writes it.
	evOpts := []evaluator.Option{evaluator.WithUUIDSource(extproc.NewUUID), evaluator.WithClock(time.Now),
		evaluator.WithServerAddress(evaluator.ServerAddress())}
	var ev *evaluator.Evaluator
	if len(res.ScopedRoutes) > 0 {
		// Several APIs: the route configuration is split per Host scope (xds/builder scoped.go).
		ev, err = evaluator.NewScoped(hcm, res.ScopedRoutes, res.Routes, evOpts...)
	} else {
		ev, err = evaluator.New(res.Routes[0], hcm, evOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("route evaluator: %w", err)
	}
	inv := &Invoker{eval: ev, backends: map[string]ir.Backend{}, routeTypes: map[string]string{}, routeKeys: cfg.ExtProc.RouteKeys, authzCache: authorizer.NewCache(0),
		localAddr: net.JoinHostPort(cfg.Listener.Address, strconv.Itoa(int(cfg.Listener.Port)))}
	if cfg.Listener.Address == "0.0.0.0" {
		inv.localAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(cfg.Listener.Port)))
	}
	for _, api := range cfg.APIs {
		if len(cfg.APIs) == 1 {
			inv.defaultHost = api.ID + ".execute-api.us-east-1.amazonaws.com"
		}
		for _, st := range api.Stages {
			for _, r := range st.Routes {
				if api.Refusal(r) != nil {
					continue // refused before any integration: the output names none
				}
				inv.routeTypes[r.Name] = string(r.Integration.Type)
				if h := r.Integration.HTTP; h != nil {
					inv.backends[builder.ClusterName(h.Backend)] = h.Backend
				}
			}
		}
	}
	inv.Authz = &authz.Service{RouteKeys: cfg.ExtProc.RouteKeys, Limits: authz.NewLimiter()}
	inv.Client = &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return inv, nil
}

// Invoke evaluates one request.
func (inv *Invoker) Invoke(ctx context.Context, in Request) (*Result, error) {
	req := inv.evaluatorRequest(in)
	out := &Result{}
	sel, err := inv.eval.Select(req)
	var rejected *evaluator.RejectedError
	if errors.As(err, &rejected) {
		// Envoy answers before routing (its HTTP/1 parser: a header block over the limit → 431, a method or target
		// it refuses → 400; the HCM: no Host → 400, ...): its local reply, through the HCM's mappers.
		r, err := inv.eval.Reject(req, rejected)
		if err != nil {
			return nil, err
		}
		out.Response = fromEvaluatorResponse(r)
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	if sel.Route == nil {
		// Envoy's own 404 when no route matches; the generated catch-alls make this unreachable.
		r, err := inv.eval.LocalReply(sel, req, 404, "", "NR", "route_not_found")
		if err != nil {
			return nil, err
		}
		out.Response = fromEvaluatorResponse(r)
		return out, nil
	}
	if res, _ := sel.Metadata["resource"].(string); res != "" {
		meth, _ := sel.Metadata["method"].(string)
		out.Route = &RouteRef{Resource: res, Method: meth}
	}
	meta, denied, err := inv.authorize(ctx, sel, req)
	if err != nil {
		return nil, err
	}
	if denied != nil {
		out.Response = fromEvaluatorResponse(denied)
		return out, nil
	}
	if ep := sel.ExtProc; ep != nil {
		pr, err := processorRoute(ep.GRPCInitialMetadata, inv.routeKeys)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", sel.Name, err)
		}
		switch {
		case inv.Processor != nil && pr.Route.Integration.Type == ir.HTTPProxy:
			a, err := inv.processOverWire(ctx, sel, req, meta)
			if err != nil {
				return nil, err
			}
			if a.GetImmediateResponse() != nil {
				// Refused in the processor's headers pass (the route's Lambda authorizer).
				return inv.immediateOverWire(sel, req, a, out)
			}
			hm, err := rewriteAnswer(a)
			if err != nil {
				return nil, err
			}
			if err := inv.eval.ApplyExtProcHeaderMutation(req, hm, true); err != nil {
				return nil, err
			}
		case inv.Processor != nil && pr.Route.Integration.Type == ir.AWSProxy:
			return inv.invokeLambdaWire(ctx, sel, req, out, meta)
		case pr.Route.Integration.Type == ir.HTTPProxy:
			// The same rewrite the ext_proc service answers Envoy with, applied as Envoy applies it.
			view, err := inv.eval.ProcessorView(sel, req)
			if err != nil {
				return nil, err
			}
			rh := extproc.NewRequestHeaders(view.Headers)
			var auth *authorizer.Result
			if a := pr.Route.Authorization; a != nil && a.Lambda != nil {
				// The processor's headers-mode authorizer pass: a refusal is its immediate response.
				var o authorizer.Outcome
				resp := inv.lambda().AuthorizeHeaders(ctx, pr, rh, trustedIP(view.TrustedAddress), &o)
				out.Authorizer = &AuthorizerCalls{Calls: o.Calls, Event: o.Event}
				if resp != nil {
					r, err := inv.eval.ImmediateResponse(sel, req, extproc.ImmediateResponse(resp))
					if err != nil {
						return nil, err
					}
					out.Response = fromEvaluatorResponse(r)
					return out, nil
				}
				auth = o.Result
			}
			hm, err := extproc.RewriteHTTPProxyAuthorized(pr, rh, auth)
			if err != nil {
				return nil, err
			}
			if err := inv.eval.ApplyExtProcHeaderMutation(req, hm, true); err != nil {
				// A mutation Envoy cannot apply fails the request with the ext_proc filter's local reply.
				var xe *evaluator.ExtProcError
				if !errors.As(err, &xe) {
					return nil, err
				}
				r, err := inv.eval.LocalReply(sel, req, xe.Status, "", "", xe.Details)
				if err != nil {
					return nil, err
				}
				out.Response = fromEvaluatorResponse(r)
				return out, nil
			}
		case pr.Route.Integration.Type == ir.AWSProxy:
			return inv.invokeLambda(ctx, sel, req, pr, out, meta)
		case pr.Route.Integration.Type == ir.Mock:
			return inv.invokeMock(ctx, sel, req, pr, out)
		}
	}
	oc, err := inv.eval.Forward(sel, req)
	if err != nil {
		return nil, err
	}
	if oc.Response != nil {
		if out.Route != nil {
			if t := inv.routeTypes[sel.Name]; t != "" {
				out.Integration = &Integration{Type: t}
			}
		}
		out.Response = fromEvaluatorResponse(oc.Response)
		return out, nil
	}
	up := oc.Upstream
	b, ok := inv.backends[up.Cluster]
	if !ok {
		return nil, fmt.Errorf("route %s forwards to unknown cluster %q", sel.Name, up.Cluster)
	}
	ireq := &Message{Method: up.Method, URL: b.Scheme + "://" + up.Authority + up.Path, Headers: nonNil(up.Headers)}
	setBody(ireq, up.Body)
	out.Integration = &Integration{Type: string(ir.HTTPProxy), Request: ireq}
	if inv.DryRun {
		return out, nil
	}
	r, err := inv.send(ctx, sel, req, b, up)
	if err != nil {
		return nil, err
	}
	out.Response = fromEvaluatorResponse(r)
	return out, nil
}

// invokeLambda runs an AWS_PROXY route as Envoy and the ext_proc service do: Envoy streams the body to the service
// (FULL_DUPLEX_STREAMED: no Envoy buffer limit applies; a BUFFERED route meets the stream's limit first, EXT-7),
// the service refuses a body over 10 MB or one that cannot fit an invoke, builds the event, invokes the function
// and answers with an immediate response, which Envoy sends as a local reply (evaluator.ImmediateResponse: mutation rules, mappers, date, framing, HEAD).
func (inv *Invoker) invokeLambda(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, pr *ir.ProcessorRoute, out *Result, meta map[string]*structpb.Struct) (*Result, error) {
	view, err := inv.eval.ProcessorView(sel, req)
	if err != nil {
		return nil, err
	}
	if sel.ExtProc.ProcessingMode.GetRequestBodyMode() == extprocfilterv3.ProcessingMode_BUFFERED {
		// The evaluator decides whether Envoy's buffer limit answers 413 before the processor sees the body.
		oc, err := inv.eval.Forward(sel, req)
		if err != nil {
			return nil, err
		}
		if oc.Response != nil && oc.Response.Status == 413 {
			out.Response = fromEvaluatorResponse(oc.Response)
			return out, nil
		}
	}
	rh := extproc.NewRequestHeaders(view.Headers)
	ip, _, err := net.SplitHostPort(view.TrustedAddress)
	if err != nil {
		ip = view.TrustedAddress
	}
	lreq := extproc.LambdaRequest(rh, view.Body, ip, "")
	// Cognito claims and the API key that jwt_authn and ext_authz established reach the processor in the
	// metadata the ext_proc filter forwards.
	lreq.Auth = extproc.AuthFromMetadata(inv.eval.ExtProcForwardedMetadata(meta))
	lam := inv.lambda()
	x := lam.Serve(ctx, pr, lreq)
	if a := pr.Route.Authorization; a != nil && a.Lambda != nil {
		out.Authorizer = &AuthorizerCalls{Calls: x.Authorization.Calls, Event: x.Authorization.Event}
	}
	out.Integration = &Integration{Type: string(ir.AWSProxy), Event: x.Event}
	if x.Authorization.Refusal != nil {
		out.Integration = nil // the authorizer answered: the integration is not reached
	}
	if inv.Lambda == nil && x.Authorization.Refusal == nil {
		// A dry run shows the event the function would get, invoking nothing; an authorizer's refusal is the
		// answer.
		return out, nil
	}
	// The service's answer, exactly as it sends it to Envoy, becomes the client's response the way Envoy builds a
	// local reply from an immediate response (mutation rules, mappers, date, framing, HEAD).
	ans, err := extproc.Answer(x)
	if err != nil {
		return nil, err
	}
	r, err := inv.eval.ImmediateResponse(sel, req, ans)
	if err != nil {
		return nil, err
	}
	out.Response = fromEvaluatorResponse(r)
	return out, nil
}

var errDryRun = errors.New("dry run: the function is not invoked")

// discardLog silences a dry run's failed invocations: not invoking is the point.
var discardLog = slog.New(slog.DiscardHandler)

// lambda is the Lambda server test-invoke runs routes with: inv.Lambda with an authorizer sharing the invoker's
// cache, or for a dry run one whose integration invocations fail (the event is shown) and whose authorizers
// answer through AuthorizerInvoker.
func (inv *Invoker) lambda() *extproc.Lambda {
	lam := inv.Lambda
	if lam == nil {
		dry := lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) { return nil, errDryRun })
		authz := inv.AuthorizerInvoker
		if authz == nil {
			authz = dry
		}
		return &extproc.Lambda{Invoker: dry, Authorizer: &authorizer.Authorizer{Invoker: authz, Cache: inv.authzCache}, Log: discardLog, APIKeys: inv.apiKeys()}
	}
	if lam.Authorizer == nil {
		lam.Authorizer = &authorizer.Authorizer{Invoker: lam.Invoker, Cache: inv.authzCache, AccountID: lam.AccountID, Now: lam.Now, Log: lam.Log}
	}
	if lam.APIKeys == nil {
		lam.APIKeys = inv.apiKeys()
	}
	return lam
}

// apiKeys is the key check the processor makes for AUTHORIZER-source routes: the invoker's authorization service,
// as serve shares one between ext_authz and the processor; nil without one.
func (inv *Invoker) apiKeys() extproc.APIKeyChecker {
	if inv.Authz == nil {
		return nil
	}
	return inv.Authz
}

// trustedIP is the client address without its port.
func trustedIP(addr string) string {
	if ip, _, err := net.SplitHostPort(addr); err == nil {
		return ip
	}
	return addr
}

// send performs the integration request where Envoy's cluster connects, and turns its outcome into the client
// response through the same evaluator: response header rules, or the local reply for a failure.
func (inv *Invoker) send(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, b ir.Backend, up *evaluator.UpstreamRequest) (*evaluator.Response, error) {
	if up.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, up.Timeout)
		defer cancel()
	}
	u := b.Scheme + "://" + net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) + up.Path
	hreq, err := http.NewRequestWithContext(ctx, up.Method, u, bytes.NewReader(up.Body))
	if err != nil {
		return nil, err
	}
	hreq.ContentLength = int64(len(up.Body))
	for _, h := range up.Headers {
		switch strings.ToLower(h[0]) {
		case "host", "content-length", "transfer-encoding":
			continue // net/http writes these from Host and ContentLength
		}
		hreq.Header.Add(h[0], h[1])
	}
	hreq.Host = up.Authority
	client := inv.Client
	if b.InsecureSkipVerify {
		c := *client
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // tlsConfig.insecureSkipVerification (HTP-16)
		client = &c
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		// Envoy's response flags: UT for the route timeout, UF for connect failures (HCM-12 mappers).
		flag, code := "UF", 503
		if errors.Is(err, context.DeadlineExceeded) {
			flag, code = "UT", 504
		}
		return inv.eval.LocalReply(sel, req, code, "", flag, "upstream_failure")
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(hresp.Body)
	if err != nil {
		return inv.eval.LocalReply(sel, req, 504, "", "UT", "upstream_response_timeout")
	}
	ur := &evaluator.UpstreamResponse{Status: hresp.StatusCode, Body: body}
	for name, vals := range hresp.Header {
		for _, v := range vals {
			ur.Headers = append(ur.Headers, [2]string{strings.ToLower(name), v})
		}
	}
	if hresp.ContentLength >= 0 && hresp.Header.Get("Content-Length") == "" && len(hresp.TransferEncoding) == 0 {
		ur.Headers = append(ur.Headers, [2]string{"content-length", strconv.FormatInt(hresp.ContentLength, 10)})
	}
	return inv.eval.Respond(sel, req, ur)
}

func (inv *Invoker) evaluatorRequest(in Request) *evaluator.Request {
	req := &evaluator.Request{Method: in.Method, Path: in.Target, Scheme: "http", Body: in.Body, RemoteAddr: in.RemoteAddr, LocalAddr: inv.localAddr}
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:50000"
	}
	hasHost := false
	for _, h := range in.Headers {
		if strings.EqualFold(h[0], "host") {
			hasHost = true
			req.Authority = h[1]
			continue
		}
		req.Headers = append(req.Headers, [2]string{strings.ToLower(h[0]), h[1]})
	}
	if !hasHost {
		req.Authority = inv.defaultHost
	}
	return req
}

func processorRoute(md [][2]string, keys ir.RouteKeys) (*ir.ProcessorRoute, error) {
	var route, deployment string
	for _, kv := range md {
		switch kv[0] {
		case ir.RouteMetadataKey:
			route = kv[1]
		case ir.DeploymentMetadataKey:
			deployment = kv[1] // from the virtual host (Envoy merges it in, evaluator extProcFor)
		}
	}
	if route == "" {
		return nil, fmt.Errorf("route enables ext_proc without %s metadata", ir.RouteMetadataKey)
	}
	return ir.DecodeDeployedRoute(route, deployment, keys)
}

func fromEvaluatorResponse(r *evaluator.Response) *Message {
	m := &Message{StatusCode: r.Status, Headers: nonNil(r.Headers)}
	setBody(m, r.Body)
	return m
}

func nonNil(h [][2]string) [][2]string {
	if h == nil {
		return [][2]string{}
	}
	return h
}
