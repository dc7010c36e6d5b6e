package extproc

import (
	"fmt"
	"net/url"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
)

// RequestHeaders is the request as the processor sees it in a request_headers message: pseudo-headers split out,
// names lower case (envoy-notes EXT-2).
type RequestHeaders struct {
	Method    string
	Path      string // :path, with the query
	Authority string
	Headers   [][2]string
	// known, when scanned, is where the lines read on every Lambda request are (scanKnown).
	known knownHeaders
}

// knownHeaders are where the lines the processor reads on every Lambda request are, found in one pass over the
// names (scanKnown) rather than one pass per name (Get): the last content-length, x-envoy-external-address and
// x-forwarded-for lines (index + 1, 0 when none; names compared as Get compares them) and how many x-forwarded-for
// lines there are. The four passes were ≈ 2k of BenchmarkLambdaServe's ≈ 54k instructions per request
// (callgrind, Dec 2026). Headers must not change after the scan, except in values.
type knownHeaders struct {
	scanned                                   bool
	contentLength, externalAddress, forwarded int
	forwardedLines                            int
}

// scanKnown fills r.known, comparing each name by its length first. strings.EqualFold folds a non-ASCII rune to an
// ASCII letter only for U+017F (ſ, to s, two bytes) and U+212A (K, to k, three bytes); so a name folds to
// content-length or x-forwarded-for (no s, no k) only at their length, and to x-envoy-external-address (two s)
// only at 24 to 26 bytes. headerIs compares within those lengths.
func (r *RequestHeaders) scanKnown() {
	k := knownHeaders{scanned: true}
	for i, h := range r.Headers {
		switch n := h[0]; len(n) {
		case len("content-length"):
			if headerIs(n, "content-length") {
				k.contentLength = i + 1
			}
		case len("x-forwarded-for"):
			if headerIs(n, "x-forwarded-for") {
				k.forwarded = i + 1
				k.forwardedLines++
			}
		case len("x-envoy-external-address"), len("x-envoy-external-address") + 1, len("x-envoy-external-address") + 2:
			if headerIs(n, "x-envoy-external-address") {
				k.externalAddress = i + 1
			}
		}
	}
	r.known = k
}

// getKnown is Get for a line scanKnown found: at is its index + 1, 0 when absent.
func (r *RequestHeaders) getKnown(at int) (string, bool) {
	if at == 0 {
		return "", false
	}
	return r.Headers[at-1][1], true
}

// NewRequestHeaders splits a header list as Envoy sends it (pseudo-headers included) into a RequestHeaders.
func NewRequestHeaders(list [][2]string) *RequestHeaders {
	out := &RequestHeaders{}
	for _, kv := range list {
		out.add(kv[0], kv[1])
	}
	return out
}

func (r *RequestHeaders) add(name, value string) {
	switch name {
	case ":method":
		r.Method = value
	case ":path":
		r.Path = value
	case ":authority":
		r.Authority = value
	default:
		if !strings.HasPrefix(name, ":") {
			r.Headers = append(r.Headers, [2]string{name, value})
		}
	}
}

// Get returns the last value of a header (names compared case-insensitively) and whether it was present.
func (r *RequestHeaders) Get(name string) (string, bool) {
	v, ok := "", false
	for _, h := range r.Headers {
		if headerIs(h[0], name) {
			v, ok = h[1], true
		}
	}
	return v, ok
}

// headerIs is strings.EqualFold(have, want) for a lower-case ASCII want, mostly without calling it. Folding maps
// an ASCII letter to one ASCII letter and a non-ASCII rune (two bytes or more) to an ASCII letter only when it is
// U+017F or U+212A: so a name of want's length folds to it only byte for byte in ASCII, a shorter one never, and
// only a longer one needs EqualFold. The processor looks up four headers per Lambda request over every line
// (content-length, x-envoy-external-address, x-forwarded-for twice); with EqualFold's call per line that was ≈ 3.8%
// of BenchmarkLambdaServe's CPU (Dec 2026).
func headerIs(have, want string) bool {
	switch {
	case len(have) == len(want):
		for i := 0; i < len(have); i++ {
			if lowerASCII(have[i]) != want[i] {
				return false
			}
		}
		return true
	case len(have) < len(want) || len(want) == 0:
		return false
	}
	if c := have[0]; c < 0x80 && lowerASCII(c) != want[0] {
		return false
	}
	return strings.EqualFold(have, want)
}

// RewriteHTTPProxyAuthorized computes the request-header mutation for an HTTP_PROXY route that route configuration cannot
// express (envoy-notes RTM-12): the fixed integration method (HTP-7), the upstream path with every placeholder
// filled (HTP-1), the query as API Gateway merges it — the uri's own parameters first, then mapped ones, then the
// client's (HTP-6) — and header mappings from sources Envoy's formatters cannot read. The route's cluster and
// host rewrite stay in route configuration, so no re-routing is needed. auth is the answer of the route's Lambda
// authorizer that allowed the request (nil without one): mappings from context.authorizer.principalId and
// context.authorizer.KEY read it (DG api-gateway-lambda-authorizer-output.md: the context reaches HTTP integrations
// through mappings).
func RewriteHTTPProxyAuthorized(pr *ir.ProcessorRoute, req *RequestHeaders, auth *authorizer.Result) (*extprocsvcv3.HeaderMutation, error) {
	h := pr.Route.Integration.HTTP
	if h == nil {
		return nil, fmt.Errorf("route %s has no HTTP_PROXY integration", pr.Route.Name)
	}
	rawPath, rawQuery, _ := strings.Cut(req.Path, "?")
	_, rest, ok := translator.SplitStagePath(rawPath)
	if !ok {
		return nil, fmt.Errorf("path %q has no stage", rawPath)
	}
	params, ok := translator.MatchResource(pr.Route.Segments, rest)
	if !ok {
		return nil, fmt.Errorf("path %q does not match resource %s of route %s", rawPath, pr.Route.ResourcePath, pr.Route.Name)
	}
	query := parseQuery(rawQuery)
	src := &sources{pr: pr, req: req, params: params, query: query, rawPath: rawPath, auth: auth}

	var path strings.Builder
	for _, p := range h.Path {
		if p.Placeholder == "" {
			path.WriteString(p.Literal)
			continue
		}
		v, _ := src.value(h.Placeholders[p.Placeholder])
		if h.Placeholders[p.Placeholder].Kind == ir.FromPath {
			path.WriteString(v) // raw, as route-configuration rewrites copy it (DEV-5)
		} else {
			path.WriteString(url.PathEscape(v))
		}
	}
	var q []string
	for _, part := range h.Query {
		var v strings.Builder
		for _, p := range part.Value {
			if p.Placeholder == "" {
				v.WriteString(p.Literal)
				continue
			}
			val, _ := src.value(h.Placeholders[p.Placeholder])
			v.WriteString(url.QueryEscape(val))
		}
		q = append(q, part.Name+"="+v.String())
	}
	for _, m := range h.QueryMappings {
		for _, v := range src.values(m.Source) {
			q = append(q, url.QueryEscape(m.Name)+"="+url.QueryEscape(v))
		}
	}
	if rawQuery != "" {
		q = append(q, rawQuery)
	}
	target := path.String()
	if len(q) > 0 {
		target += "?" + strings.Join(q, "&")
	}
	hm := &extprocsvcv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader(":path", target)}}
	if h.Method != "" && h.Method != req.Method {
		hm.SetHeaders = append(hm.SetHeaders, rawHeader(":method", h.Method))
	}
	for _, m := range h.HeaderMappings {
		if m.Source.Kind == ir.FromHeader || m.Source.Kind == ir.FromStatic {
			continue // route configuration sets these (request_headers_to_add)
		}
		vals := src.values(m.Source)
		if len(vals) == 0 {
			continue // an absent source adds nothing (HTP-4)
		}
		hm.SetHeaders = append(hm.SetHeaders, rawHeader(strings.ToLower(m.Name), strings.Join(vals, ",")))
	}
	return hm, nil
}

// rawHeader overwrites a header through raw_value only: Envoy ignores value-only mutations and fails requests
// that set both (envoy-notes EXT-4). Overwrite is the deprecated append=false, which ext_proc honours; its reading
// of append_action is not relied on (EXT-9).
func rawHeader(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: name, RawValue: []byte(value)},
		Append: wrapperspb.Bool(false), //nolint:staticcheck // deprecated but the field ext_proc reads (EXT-9)
	}
}

type queryParam struct{ name, value string }

// parseQuery splits on & and ; and form-decodes names and values (EVT-13); invalid escapes stay literal (EVT-15).
func parseQuery(raw string) []queryParam {
	var out []queryParam
	for _, kv := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		name, value, _ := strings.Cut(kv, "=")
		out = append(out, queryParam{formDecode(name), formDecode(value)})
	}
	return out
}

func formDecode(s string) string {
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	return strings.ReplaceAll(s, "+", " ")
}

type sources struct {
	pr      *ir.ProcessorRoute
	req     *RequestHeaders
	params  map[string]string
	query   []queryParam
	rawPath string
	auth    *authorizer.Result
}

// values returns every value of a source, in request order.
func (s *sources) values(src ir.ValueSource) []string {
	switch src.Kind {
	case ir.FromQuery:
		// A single-valued source reads the last value, as the event's queryStringParameters do (EVT-14).
		if v, ok := s.value(src); ok {
			return []string{v}
		}
		return nil
	case ir.FromMultiQuery:
		var out []string
		for _, p := range s.query {
			if p.name == src.Name {
				out = append(out, p.value)
			}
		}
		return out
	case ir.FromMultiHeader:
		var out []string
		for _, h := range s.req.Headers {
			if strings.EqualFold(h[0], src.Name) {
				out = append(out, h[1])
			}
		}
		return out
	}
	if v, ok := s.value(src); ok {
		return []string{v}
	}
	return nil
}

// value returns one value of a source and whether the request has it.
func (s *sources) value(src ir.ValueSource) (string, bool) {
	switch src.Kind {
	case ir.FromStatic:
		return src.Name, true
	case ir.FromPath:
		v, ok := s.params[src.Name]
		return v, ok
	case ir.FromQuery, ir.FromMultiQuery:
		v, ok := "", false
		for _, p := range s.query {
			if p.name == src.Name {
				v, ok = p.value, true
			}
		}
		return v, ok
	case ir.FromHeader, ir.FromMultiHeader:
		return s.req.Get(src.Name)
	case ir.FromContext:
		return s.contextValue(src.Name)
	}
	return "", false
}

// contextValue serves the $context variables a route can know without the Lambda event machinery.
func (s *sources) contextValue(name string) (string, bool) {
	if key, ok := strings.CutPrefix(name, "authorizer."); ok {
		if s.auth == nil {
			return "", false
		}
		if key == "principalId" {
			return s.auth.PrincipalID, true
		}
		for _, kv := range s.auth.Context {
			if kv[0] == key {
				return kv[1], true
			}
		}
		return "", false
	}
	r := s.pr.Route
	vals := map[string]string{
		"apiId": s.pr.APIID, "stage": s.pr.Stage, "deploymentId": s.pr.DeploymentID, "resourceId": r.ResourceID,
		"resourcePath": r.ResourcePath, "httpMethod": s.req.Method, "path": s.rawPath, "domainName": s.req.Authority,
		"domainPrefix": strings.SplitN(s.req.Authority, ".", 2)[0],
	}
	v, ok := vals[name]
	return v, ok
}
