package authorizer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
	"github.com/proxyplus/proxyplus/translator"
)

// The gateway's answers (AUTHORIZERS.md §1, §2; ERR-1 headers).
const (
	bodyUnauthorized = `{"message":"Unauthorized"}`
	// The explicit-deny body of the 2023 recordings (loige); AUTHORIZERS.md §8: not pinned by the cases.
	bodyExplicitDeny = `{"Message":"User is not authorized to access this resource with an explicit deny"}`
	bodyImplicitDeny = `{"Message":"User is not authorized to access this resource"}`
	bodyConfigError  = `{"message":null}`

	errTypeUnauthorized = "UnauthorizedException"
	errTypeAccessDenied = "AccessDeniedException"
	errTypeConfig       = "AuthorizerConfigurationException"

	// Details name the outcome in Envoy's access log (%RESPONSE_CODE_DETAILS%).
	DetailsUnauthorized = "proxyplus_authorizer_unauthorized"
	DetailsDenied       = "proxyplus_authorizer_denied"
	DetailsConfigError  = "proxyplus_authorizer_configuration_error"
)

// invokeTimeout bounds one authorizer invocation (API Gateway's integration maximum, RES-14).
const invokeTimeout = 29 * time.Second

// Authorizer runs a route's Lambda authorizer. Safe for concurrent use; the cache is shared by every route.
type Authorizer struct {
	// Invoker invokes the authorizer function: the integrations' invoker (AWS, an Invoke API endpoint, the local
	// function host).
	Invoker lambdainvoke.Invoker
	// Cache holds results for their TTL; nil disables caching.
	Cache *Cache
	// AccountID is the account of the method ARN.
	AccountID string
	// Now defaults to time.Now.
	Now func() time.Time
	// Log receives one line per 500 answered; nil means slog.Default().
	Log *slog.Logger

	regexMu sync.Mutex
	regexps map[string]*regexp.Regexp
}

// Outcome is one request's authorization.
type Outcome struct {
	// Refusal is the gateway's answer when the request is refused (401, 403, 500); nil when allowed.
	Refusal *lambdaproxy.Response
	// Result is the authorizer's answer that allowed the request (nil when refused before one).
	Result *Result
	// Calls is how many times the function was invoked (0 or 1); Event the event of that call.
	Calls int
	Event []byte
	// Decision is the policy's decision for the method ARN; CacheHit says the result came from the cache.
	Decision Decision
	CacheHit bool
	// Latency is the authorizer call's duration (0 from the cache): requestContext.authorizer.integrationLatency.
	Latency time.Duration
}

// ContextJSON is requestContext.authorizer for the integration's event; nil when the request was not allowed.
func (o *Outcome) ContextJSON() []byte {
	if o.Result == nil || o.Refusal != nil {
		return nil
	}
	return o.Result.AppendContextJSON(make([]byte, 0, 128), o.Latency.Milliseconds())
}

// scratch is per-request working memory: the method ARN and the cache key.
type scratch struct {
	arn, key []byte
	params   []translator.PathParam
}

var scratches = sync.Pool{New: func() any { return &scratch{arn: make([]byte, 0, 256), key: make([]byte, 0, 256)} }}

// Authorize runs pr's Lambda authorizer for req (c: the request's gateway ids, for the answers and the REQUEST
// event) into out.
func (a *Authorizer) Authorize(ctx context.Context, pr *ir.ProcessorRoute, req *lambdaproxy.Request, c *lambdaproxy.Context, out *Outcome) {
	*out = Outcome{}
	l := pr.Route.Authorization.Lambda
	s := scratches.Get().(*scratch)
	defer func() {
		if cap(s.arn) <= 4096 && cap(s.key) <= maxCacheKeyBytes*2 {
			clear(s.params)
			scratches.Put(s)
		}
	}()
	var ok bool
	if s.arn, s.params, ok = AppendMethodARN(s.arn[:0], s.params[:0], pr, l.Region, a.AccountID, req.Method, req.Path); !ok {
		a.fail(ctx, pr, c, out, fmt.Errorf("request path %q is not under route %s", req.Path, pr.Route.Name))
		return
	}
	// Identity: the key is the authorizer (name and function) of the API, stage and deployment — a redeployment
	// starts afresh — and the identity-source values; every source must be present and non-empty for TOKEN, and
	// for REQUEST with caching (AUTHORIZERS.md §1).
	key := append(s.key[:0], l.Name...)
	key = append(key, 0)
	key = append(key, l.FunctionARN...)
	key = append(key, 0)
	key = append(key, pr.APIID...)
	key = append(key, 0)
	key = append(key, pr.Stage...)
	key = append(key, 0)
	key = append(key, pr.DeploymentID...)
	var token string
	complete := true
	for i, src := range l.IdentitySources {
		v, _ := identityValue(src, pr, req)
		if v == "" {
			complete = false
		}
		if i == 0 {
			token = v
		}
		key = append(key, 0)
		key = append(key, v...)
	}
	s.key = key
	if (l.Type == ir.AuthorizerToken || l.TTL > 0) && !complete {
		a.unauthorized(c, out)
		return
	}
	if l.Type == ir.AuthorizerToken && l.ValidationExpression != "" {
		re, err := a.regexp(l.ValidationExpression)
		if err != nil {
			a.fail(ctx, pr, c, out, fmt.Errorf("identityValidationExpression: %w", err))
			return
		}
		if !re.MatchString(token) {
			a.unauthorized(c, out)
			return
		}
	}
	now := a.now()
	caching := l.TTL > 0 && a.Cache != nil
	if caching {
		if res := a.Cache.get(key, now); res != nil {
			out.CacheHit = true
			a.decide(res, unsafe.String(unsafe.SliceData(s.arn), len(s.arn)), c, out)
			return
		}
	}
	event := a.event(l, pr, req, c, s.arn, token)
	out.Event, out.Calls = event, 1
	ictx, cancel := context.WithTimeout(ctx, invokeTimeout)
	defer cancel()
	start := time.Now()
	r, err := a.Invoker.Invoke(ictx, l.FunctionARN, event)
	out.Latency = time.Since(start)
	if err != nil {
		a.fail(ctx, pr, c, out, fmt.Errorf("invoke authorizer %s: %w", l.FunctionARN, err))
		return
	}
	res, err := ParseResult(r.Payload, r.FunctionError)
	switch {
	case errors.Is(err, errUnauthorized):
		a.unauthorized(c, out)
		return
	case err != nil:
		a.fail(ctx, pr, c, out, fmt.Errorf("authorizer %s: %w", l.FunctionARN, err))
		return
	}
	if caching {
		a.Cache.put(key, res, now, now.Add(time.Duration(l.TTL)))
	}
	a.decide(res, unsafe.String(unsafe.SliceData(s.arn), len(s.arn)), c, out)
}

// decide evaluates res's policy for the method ARN (only read during the call: it may be scratch memory).
func (a *Authorizer) decide(res *Result, arn string, c *lambdaproxy.Context, out *Outcome) {
	out.Decision = res.Policy.Evaluate(arn)
	switch out.Decision {
	case Allow:
		out.Result = res
	case ExplicitDeny:
		out.Refusal = lambdaproxy.GatewayResponse(403, bodyExplicitDeny, errTypeAccessDenied, DetailsDenied, c)
	default:
		out.Refusal = lambdaproxy.GatewayResponse(403, bodyImplicitDeny, errTypeAccessDenied, DetailsDenied, c)
	}
}

func (a *Authorizer) unauthorized(c *lambdaproxy.Context, out *Outcome) {
	out.Refusal = lambdaproxy.GatewayResponse(401, bodyUnauthorized, errTypeUnauthorized, DetailsUnauthorized, c)
}

// fail answers 500 AuthorizerConfigurationException (AUTHORIZERS.md §2) and logs why, in one line.
func (a *Authorizer) fail(ctx context.Context, pr *ir.ProcessorRoute, c *lambdaproxy.Context, out *Outcome, err error) {
	out.Refusal = lambdaproxy.GatewayResponse(500, bodyConfigError, errTypeConfig, DetailsConfigError, c)
	log := a.Log
	if log == nil {
		log = slog.Default()
	}
	var id string
	if c != nil {
		id = c.RequestID
	}
	log.ErrorContext(ctx, "Lambda authorizer failed: 500 AuthorizerConfigurationException", "route", pr.Route.Name,
		"authorizer", pr.Route.Authorization.Lambda.Name, "request_id", id, "error", err)
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// maxRegexps bounds the compiled validation expressions kept (they come from signed route data).
const maxRegexps = 1024

// regexp compiles expr as a whole-token match (Java's String.matches, which API Gateway applies).
func (a *Authorizer) regexp(expr string) (*regexp.Regexp, error) {
	a.regexMu.Lock()
	defer a.regexMu.Unlock()
	if re, ok := a.regexps[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, err
	}
	if a.regexps == nil || len(a.regexps) >= maxRegexps {
		a.regexps = map[string]*regexp.Regexp{}
	}
	a.regexps[expr] = re
	return re, nil
}

// AppendMethodARN appends arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path} for a request of
// route pr (AUTHORIZERS.md §2): the path is the request's resource path as matched against the route's
// template — literal segments exactly the template's, parameter values raw (percent-encoding kept, so an encoded
// slash stays inside its segment), trailing slashes removed — so nothing a client sends can name another
// resource, stage or API. The verb is the route's method, or on an ANY route the request's method when it is one
// ANY covers. ok is false when the request is not one of the route's.
func AppendMethodARN(dst []byte, params []translator.PathParam, pr *ir.ProcessorRoute, region, account, method, target string) ([]byte, []translator.PathParam, bool) {
	rawPath, _, _ := strings.Cut(target, "?")
	stage, rest, ok := translator.SplitStagePath(rawPath)
	if !ok || stage != pr.Stage {
		return dst, params, false
	}
	// The verb is the route's; on an ANY route the request's, which Envoy matched against ANY's seven (RTE-12).
	if pr.Route.Method != "ANY" {
		method = pr.Route.Method
	} else if !slices.Contains(ir.AnyMethods, method) {
		return dst, params, false
	}
	if params, ok = translator.AppendParams(params, pr.Route.Segments, rest); !ok {
		return dst, params, false
	}
	if account == "" {
		account = "000000000000"
	}
	dst = append(dst, "arn:aws:execute-api:"...)
	dst = append(dst, region...)
	dst = append(dst, ':')
	dst = append(dst, account...)
	dst = append(dst, ':')
	dst = append(dst, pr.APIID...)
	dst = append(dst, '/')
	dst = append(dst, pr.Stage...)
	dst = append(dst, '/')
	dst = append(dst, method...)
	dst = append(dst, '/')
	// Rebuilt from the template and the parameter values.
	pi := 0
	for i, seg := range pr.Route.Segments {
		if i > 0 {
			dst = append(dst, '/')
		}
		if seg.Kind == ir.Literal {
			dst = append(dst, seg.Text...)
			continue
		}
		dst = append(dst, params[pi].Value...)
		pi++
	}
	return dst, params, true
}

// identityValue reads one identity source of req.
func identityValue(src ir.ValueSource, pr *ir.ProcessorRoute, req *lambdaproxy.Request) (string, bool) {
	switch src.Kind {
	case ir.FromHeader:
		v, ok := "", false
		for _, h := range req.Headers {
			if strings.EqualFold(h[0], src.Name) {
				v, ok = h[1], true
			}
		}
		return v, ok
	case ir.FromQuery:
		_, q, _ := strings.Cut(req.Path, "?")
		v, ok := "", false
		for q != "" {
			var pair string
			pair, q, _ = strings.Cut(q, "&")
			name, val, _ := strings.Cut(pair, "=")
			if name == src.Name || (strings.ContainsAny(name, "%+") && formDecode(name) == src.Name) {
				v, ok = formDecode(val), true
			}
		}
		return v, ok
	case ir.FromStatic:
		return src.Name, true
	case ir.FromContext:
		switch src.Name {
		case "apiId":
			return pr.APIID, true
		case "stage":
			return pr.Stage, true
		case "httpMethod":
			return req.Method, true
		case "resourcePath":
			return pr.Route.ResourcePath, true
		case "resourceId":
			return pr.Route.ResourceID, true
		case "domainName":
			return req.Authority, req.Authority != ""
		case "identity.sourceIp":
			return req.SourceIP, req.SourceIP != ""
		case "identity.userAgent":
			for _, h := range req.Headers {
				if strings.EqualFold(h[0], "user-agent") {
					return h[1], true
				}
			}
		}
	}
	return "", false
}

func formDecode(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	return s
}

// event is the authorizer event (DG api-gateway-lambda-authorizer-input.md): TOKEN {type, authorizationToken,
// methodArn}; REQUEST the proxy event's request fields (headers, query, path parameters, stage variables,
// requestContext) with type and methodArn, without a body.
func (a *Authorizer) event(l *ir.LambdaAuthorizer, pr *ir.ProcessorRoute, req *lambdaproxy.Request, c *lambdaproxy.Context, arn []byte, token string) []byte {
	if l.Type == ir.AuthorizerToken {
		ev := make([]byte, 0, 64+len(token)+len(arn))
		ev = append(ev, `{"type":"TOKEN","authorizationToken":`...)
		ev = appendJSONString(ev, token)
		ev = append(ev, `,"methodArn":`...)
		ev = appendJSONString(ev, string(arn))
		return append(ev, '}')
	}
	r := *req
	r.Body, r.Authorizer = nil, nil
	if c == nil {
		c = &lambdaproxy.Context{}
	}
	proxy, err := lambdaproxy.AppendEvent(nil, pr, &r, c)
	const tail = `,"body":null,"isBase64Encoded":false}`
	if err != nil || !bytes.HasSuffix(proxy, []byte(tail)) || len(proxy) < 2 {
		// AppendMethodARN has matched the path already, so the event builder cannot refuse it.
		proxy = []byte(`{}` + tail)
	}
	ev := make([]byte, 0, len(proxy)+64+len(arn))
	ev = append(ev, `{"type":"REQUEST","methodArn":`...)
	ev = appendJSONString(ev, string(arn))
	if body := proxy[1 : len(proxy)-len(tail)]; len(body) > 0 {
		ev = append(ev, ',')
		ev = append(ev, body...)
	}
	return append(ev, '}')
}
