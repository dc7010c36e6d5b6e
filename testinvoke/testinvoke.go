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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/xds/evaluator"
	xdstranslator "github.com/proxyplus/proxyplus/xds/translator"
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

// Result is test-invoke's output; its JSON form is the CLI's contract.
type Result struct {
	Route       *RouteRef    `json:"route"`
	Integration *Integration `json:"integration"`
	Response    *Message     `json:"response"`
}

// RouteRef is the (resource, method) that handles the request.
type RouteRef struct {
	Resource string `json:"resource"`
	Method   string `json:"method"`
}

// Integration is what the gateway asks of the integration: the HTTP request for HTTP_PROXY, the event for
// AWS_PROXY.
type Integration struct {
	Type    string          `json:"type"`
	Request *Message        `json:"request,omitempty"`
	Event   json.RawMessage `json:"event,omitempty"`
}

// Message is an HTTP request or response; Body is text when valid UTF-8, else base64 with IsBase64Encoded.
type Message struct {
	Method          string      `json:"method,omitempty"`
	URL             string      `json:"url,omitempty"`
	StatusCode      int         `json:"statusCode,omitempty"`
	Headers         [][2]string `json:"headers"`
	Body            string      `json:"body"`
	IsBase64Encoded bool        `json:"isBase64Encoded"`
}

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
	// Processor, when set, serves every route that enables ext_proc over gRPC with the message sequence Envoy
	// plays for the generated configuration (wire.go), instead of calling the processor's code in-process.
	Processor extprocsvcv3.ExternalProcessorClient
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
	res, err := xdstranslator.Build(cfg)
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
		// Several APIs: the route configuration is split per Host scope (xds/translator scoped.go).
		ev, err = evaluator.NewScoped(hcm, res.ScopedRoutes, res.Routes, evOpts...)
	} else {
		ev, err = evaluator.New(res.Routes[0], hcm, evOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("route evaluator: %w", err)
	}
	inv := &Invoker{eval: ev, backends: map[string]ir.Backend{}, routeTypes: map[string]string{}, routeKeys: cfg.ExtProc.RouteKeys,
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
					inv.backends[xdstranslator.ClusterName(h.Backend)] = h.Backend
				}
			}
		}
	}
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
	if ep := sel.ExtProc; ep != nil {
		pr, err := processorRoute(ep.GRPCInitialMetadata, inv.routeKeys)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", sel.Name, err)
		}
		switch {
		case inv.Processor != nil && pr.Route.Integration.Type == ir.HTTPProxy:
			hm, err := inv.rewriteOverWire(ctx, sel, req)
			if err != nil {
				return nil, err
			}
			if err := inv.eval.ApplyExtProcHeaderMutation(req, hm, true); err != nil {
				return nil, err
			}
		case inv.Processor != nil && pr.Route.Integration.Type == ir.AWSProxy:
			return inv.invokeLambdaWire(ctx, sel, req, out)
		case pr.Route.Integration.Type == ir.HTTPProxy:
			// The same rewrite the ext_proc service answers Envoy with, applied as Envoy applies it.
			view, err := inv.eval.ProcessorView(sel, req)
			if err != nil {
				return nil, err
			}
			hm, err := extproc.RewriteHTTPProxy(pr, extproc.NewRequestHeaders(view.Headers))
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
			return inv.invokeLambda(ctx, sel, req, pr, out)
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
func (inv *Invoker) invokeLambda(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, pr *ir.ProcessorRoute, out *Result) (*Result, error) {
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
	lam := inv.Lambda
	if lam == nil {
		// Show the event the function would get, invoking nothing.
		dry := &extproc.Lambda{Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
			return nil, errDryRun
		})}
		x := dry.Serve(ctx, pr, lreq)
		out.Integration = &Integration{Type: string(ir.AWSProxy), Event: x.Event}
		return out, nil
	}
	x := lam.Serve(ctx, pr, lreq)
	out.Integration = &Integration{Type: string(ir.AWSProxy), Event: x.Event}
	// The service's answer, exactly as it sends it to Envoy, becomes the client's response the way Envoy builds a
	// local reply from an immediate response (mutation rules, mappers, date, framing, HEAD).
	r, err := inv.eval.ImmediateResponse(sel, req, extproc.ImmediateResponse(x.Response))
	if err != nil {
		return nil, err
	}
	out.Response = fromEvaluatorResponse(r)
	return out, nil
}

var errDryRun = errors.New("dry run: the function is not invoked")

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
	for _, kv := range md {
		if kv[0] == ir.RouteMetadataKey {
			return ir.DecodeProcessorRoute(kv[1], keys)
		}
	}
	return nil, fmt.Errorf("route enables ext_proc without %s metadata", ir.RouteMetadataKey)
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
