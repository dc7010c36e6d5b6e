package evaluator

import (
	"fmt"
	"net"
	"regexp"
	"sync/atomic"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
)

// MetadataNamespace is the route metadata filter_metadata key exposed as
// Selection.Metadata (RTM-9).
const MetadataNamespace = "proxyplus"

// DefaultRouteTimeout is Envoy's route timeout when RouteAction.timeout is unset
// (route_components.proto: "If not specified, the default is 15s").
const DefaultRouteTimeout = 15 * time.Second

// Evaluator answers "what does Envoy do with this request" for one RouteConfiguration
// served by one HttpConnectionManager. It is safe for concurrent use.
type Evaluator struct {
	rc     *compiledRC
	scoped *scopedRoutes // set instead of rc by NewScoped
	hcm    *hcmConfig
	uuid   func() string
	now    func() time.Time
	// serverAddr is Envoy's LocalInfo address (WithServerAddress).
	serverAddr string
	// connBufferLimit is the listener's per_connection_buffer_limit_bytes, every stream's initial buffer limit.
	connBufferLimit uint64
}

// Option configures an Evaluator.
type Option func(*Evaluator)

// WithUUIDSource replaces the UUID generator used for %UNIQUE_ID% and x-request-id (it
// must be safe for concurrent use if the Evaluator is shared). The default is
// deterministic: 00000000-0000-4000-8000-000000000001, ...0002, and so on.
func WithUUIDSource(f func() string) Option { return func(e *Evaluator) { e.uuid = f } }

// WithClock sets the clock used for the date header the HCM adds to responses. The
// default is a fixed time, 2026-01-02T03:04:05Z, so outputs are reproducible.
func WithClock(f func() time.Time) Option { return func(e *Evaluator) { e.now = f } }

// WithServerAddress sets Envoy's own address, LocalInfo::address(): what
// ConnectionManagerUtility::appendXff appends to x-forwarded-for in place of a loopback
// peer. Envoy takes it at start-up from Network::Utility::getLocalAddress (source/exe/
// main_common.cc; source/common/network/utility.cc, main 1.37.0-dev, 321a098d81): the
// first non-loopback address of --local-address-ip-version (default v4) in getifaddrs
// order, else 127.0.0.1 - not the listener's address. The default here is 127.0.0.1 (a
// host without such an interface); ServerAddress computes the real one.
func WithServerAddress(ip string) Option { return func(e *Evaluator) { e.serverAddr = ip } }

// ServerAddress is Network::Utility::getLocalAddress(v4) on this machine: the first
// non-loopback IPv4 interface address (interfaces in index order, as getifaddrs lists
// them), else 127.0.0.1.
func ServerAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// DefaultConnectionBufferLimit is Envoy's per_connection_buffer_limit_bytes when the listener sets none (1 MiB,
// api/envoy/config/listener/v3/listener.proto).
const DefaultConnectionBufferLimit = 1 << 20

// WithConnectionBufferLimit sets the listener's per_connection_buffer_limit_bytes (default
// DefaultConnectionBufferLimit): the buffer limit of a stream whose route has no route entry (EXT-7).
func WithConnectionBufferLimit(n uint64) Option { return func(e *Evaluator) { e.connBufferLimit = n } }

// Selection is the result of route selection.
type Selection struct {
	VirtualHost string         // name of the selected virtual host, "" if none matched
	Route       *routev3.Route // nil: no route; Envoy answers 404 (response flag NR)
	Name        string         // route name
	// Metadata is the route's metadata.filter_metadata["proxyplus"] (nil if absent).
	Metadata map[string]any
	// ExtProc is non-nil when the ext_proc filter runs for this route.
	ExtProc *ExtProcOverride
	// JWTAuthn is the jwt_authn requirement of the route (VerifyJWT), nil when the filter does not run.
	JWTAuthn *JWTAuthnRequirement
	// ExtAuthz is the ext_authz check of the route (ExtAuthzCheckRequest, ExtAuthzResult), nil when none. Forward
	// and the processor calls assume the caller played both first, in filter order (jwt_authn, ext_authz).
	ExtAuthz *ExtAuthzCall
	// HeaderMutation reports whether the header_mutation filter runs for this route.
	HeaderMutation bool
	// VirtualCluster is the stat name of the virtual cluster the router charges if it forwards this request
	// (vhost.<VirtualHost>.vcluster.<VirtualCluster>.upstream_rq_*): the first of the virtual host's
	// virtual_clusters whose headers match, else "other"; "" when the virtual host has none, or when the route does
	// not forward (no route, direct_response), since the router picks it only on its upstream path
	// (source/common/router/router.cc Filter::decodeHeaders; main 1.37.0-dev, 321a098d81). A request a filter
	// answers before the router (ext_proc immediate response, jwt_authn, ext_authz) is not charged either; callers
	// that play those filters know when that happens.
	VirtualCluster string
	// RequestBodyBufferLimit is the route's (or else the virtual host's)
	// request_body_buffer_limit, 0 when unset (HCM-18).
	RequestBodyBufferLimit uint64

	vh *vhost
	rt *route
	rc *compiledRC // the route configuration vh belongs to
}

// Outcome is what Envoy does after route selection: forward upstream, or answer locally.
type Outcome struct {
	Upstream *UpstreamRequest // set for a `route` action
	Response *Response        // set for direct_response and for "no route" (404)
}

// UpstreamRequest is the HTTP/1.1 request Envoy's router sends to the upstream cluster.
type UpstreamRequest struct {
	Cluster   string
	Method    string
	Authority string // the Host header sent upstream
	Path      string // after prefix/regex rewrite; the query string is kept
	// Headers are the request headers on the wire, names lower-case, "host" first,
	// including HTTP/1 framing (content-length / transfer-encoding) added by the codec.
	Headers [][2]string
	Body    []byte
	// Timeout is the route timeout (Envoy's default 15s when unset); 0 means disabled.
	Timeout time.Duration
}

// UpstreamResponse is what the upstream answered.
type UpstreamResponse struct {
	Status  int
	Headers [][2]string // names as sent; lower-cased like Envoy's codec
	Body    []byte
}

// Response is what the client receives.
type Response struct {
	Status int
	// Headers are the response headers, names lower-case (HCM-17 default), including the
	// HCM's date/server handling and the HTTP/1 codec's framing headers.
	Headers [][2]string
	Body    []byte // nil for a HEAD request
	Details string // %RESPONSE_CODE_DETAILS% for local replies ("via_upstream" otherwise)
}

// Header returns the values of a response header (name matched case-insensitively).
func (r *Response) Header(name string) []string { return headerValues(r.Headers, name) }

// Header returns the values of an upstream request header.
func (u *UpstreamRequest) Header(name string) []string { return headerValues(u.Headers, name) }

func headerValues(hs [][2]string, name string) []string {
	var out []string
	n := asciiLower(name)
	for _, kv := range hs {
		if asciiLower(kv[0]) == n {
			out = append(out, kv[1])
		}
	}
	return out
}

// New compiles rc as served by hcm (rc may be nil when hcm carries an inline
// route_config). It refuses, with an *UnsupportedError naming the
// virtual host, route and field, any configuration it does not implement and any
// configuration Envoy itself rejects, so that an evaluation is never silently wrong.
func New(rc *routev3.RouteConfiguration, hcm *hcmv3.HttpConnectionManager, opts ...Option) (*Evaluator, error) {
	e := newEvaluator(opts)
	h, err := compileHCM(hcm)
	if err != nil {
		return nil, err
	}
	if hcm.GetScopedRoutes() != nil {
		return nil, &UnsupportedError{Field: "http_connection_manager.scoped_routes", Reason: "use NewScoped"}
	}
	// An HCM with an inline route_config: rc may be nil (use it) or must be the same.
	if inline := hcm.GetRouteConfig(); inline != nil {
		if rc == nil {
			rc = inline
		} else if !proto.Equal(rc, inline) {
			return nil, &UnsupportedError{Field: "http_connection_manager.route_config", Reason: "differs from the RouteConfiguration passed to New"}
		}
	}
	e.hcm = h
	c, err := compileRouteConfig(rc, h)
	if err != nil {
		return nil, err
	}
	e.rc = c
	return e, nil
}

func newEvaluator(opts []Option) *Evaluator {
	e := &Evaluator{serverAddr: "127.0.0.1", connBufferLimit: DefaultConnectionBufferLimit}
	var n atomic.Uint64
	e.uuid = func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.now = func() time.Time { return fixed }
	for _, o := range opts {
		o(e)
	}
	return e
}

// Select picks the virtual host and route for req as Envoy's RouteMatcher does, after the
// codec and the HCM processed the request (route matching sees e.g. the HCM-set
// x-forwarded-proto and not the hop-by-hop headers). A *RejectedError means Envoy answers
// before routing.
func (e *Evaluator) Select(req *Request) (*Selection, error) {
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	return e.selectDecoded(d), nil
}

func (e *Evaluator) selectDecoded(d *decodedRequest) *Selection {
	authority, hasAuthority := d.h.first(":authority")
	rc := e.routeConfig(d)
	sel := &Selection{}
	if rc == nil {
		return sel
	}
	vh := rc.findVirtualHost(authority, hasAuthority)
	if vh == nil {
		return sel
	}
	sel.VirtualHost, sel.vh, sel.rc = vh.name, vh, rc
	path := d.path()
	// VirtualHostImpl::getRouteFromRoutes: routes are evaluated in order, first match wins.
	for _, r := range vh.routes {
		if r.matches(d.h, path) {
			sel.Route, sel.Name, sel.rt = r.pb, r.name, r
			sel.Metadata = r.metadata
			sel.ExtProc = e.extProcFor(vh, r)
			sel.JWTAuthn, sel.ExtAuthz = e.jwtAuthnFor(vh, r), e.extAuthzFor(vh, r)
			sel.HeaderMutation = e.hcm.headerMutation != nil && filterEnabled(e.hcm.headerMutation, vh, r)
			sel.RequestBodyBufferLimit = r.bufferLimit
			if sel.RequestBodyBufferLimit == 0 {
				sel.RequestBodyBufferLimit = vh.bufferLimit
			}
			if r.direct == nil {
				sel.VirtualCluster = vh.virtualClusterFor(d.h)
			}
			return sel
		}
	}
	sel.HeaderMutation = e.hcm.headerMutation != nil && filterEnabled(e.hcm.headerMutation, vh, nil)
	return sel
}

// compiled route configuration ------------------------------------------------------------

type compiledRC struct {
	name           string
	vhosts         []*vhost
	exact          map[string]*vhost
	suffix, prefix []wildcardGroup
	deflt          *vhost
	ignorePort     bool
	reqOps         *headerOps
	respOps        *headerOps
}

type vhost struct {
	name        string
	pb          *routev3.VirtualHost
	routes      []*route
	reqOps      *headerOps
	respOps     *headerOps
	pf          *perFilter
	bufferLimit uint64
	vclusters   []*virtualCluster
}

type route struct {
	name          string
	pb            *routev3.Route
	kind          pathKind
	value         string
	re            *regexp.Regexp
	caseSensitive bool
	headers       []*headerMatcher

	// route action
	cluster     string
	prefixRW    string
	regexRW     *regexp.Regexp
	regexTpl    rewriteTemplate
	hostRewrite string
	timeout     time.Duration
	// direct_response action (direct != nil)
	direct *directResponse

	reqOps      *headerOps
	respOps     *headerOps
	pf          *perFilter
	metadata    map[string]any
	bufferLimit uint64
}

type directResponse struct {
	status int
	body   string
}

func compileRouteConfig(rc *routev3.RouteConfiguration, h *hcmConfig) (*compiledRC, error) {
	l := loc{path: []string{"route_configuration"}}
	if rc == nil {
		return nil, l.errf("nil RouteConfiguration")
	}
	if err := rc.ValidateAll(); err != nil {
		return nil, l.errf("Envoy rejects this configuration (protoc-gen-validate): %v", err)
	}
	if err := onlyFields(rc, l, "name", "virtual_hosts", "ignore_port_in_host_matching", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove",
		"most_specific_header_mutations_wins", "max_direct_response_body_size_bytes"); err != nil {
		return nil, err
	}
	if rc.GetMostSpecificHeaderMutationsWins() {
		return nil, l.at("most_specific_header_mutations_wins").errf("only false (route -> virtual host -> route configuration) is modelled")
	}
	c := &compiledRC{name: rc.GetName(), exact: map[string]*vhost{}, ignorePort: rc.GetIgnorePortInHostMatching()}
	var err error
	if c.reqOps, err = compileHeaderOps(rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove(), l, "request_headers_to_add", "request_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	if c.respOps, err = compileHeaderOps(rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove(), l, "response_headers_to_add", "response_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	// max_direct_response_body_size_bytes: "If not specified the default is 4096."
	maxBody := 4096
	if v := rc.GetMaxDirectResponseBodySizeBytes(); v != nil {
		maxBody = int(v.GetValue())
	}
	for i, v := range rc.GetVirtualHosts() {
		vl := loc{vh: v.GetName(), path: []string{fmt.Sprintf("virtual_hosts[%d]", i)}}
		vh, err := compileVirtualHost(v, vl, h, maxBody)
		if err != nil {
			return nil, err
		}
		c.vhosts = append(c.vhosts, vh)
		// RouteMatcher::RouteMatcher: domains are lower-cased; "*" may appear once; every
		// domain must be unique across virtual hosts ("Only unique values for domains are
		// permitted"); "*x" is a suffix wildcard, "x*" a prefix wildcard.
		for j, d := range v.GetDomains() {
			dl := vl.at(fmt.Sprintf("domains[%d]", j))
			d = asciiLower(d)
			var ok bool
			switch {
			case d == "*":
				ok = c.deflt == nil
				if ok {
					c.deflt = vh
				}
			case len(d) > 0 && d[0] == '*':
				c.suffix, ok = addWildcard(c.suffix, d[1:], vh)
			case len(d) > 0 && d[len(d)-1] == '*':
				c.prefix, ok = addWildcard(c.prefix, d[:len(d)-1], vh)
			default:
				_, dup := c.exact[d]
				ok = !dup
				if ok {
					c.exact[d] = vh
				}
			}
			if !ok {
				return nil, dl.errf("Envoy rejects this configuration: duplicate domain %q", d)
			}
		}
	}
	return c, nil
}

func compileVirtualHost(v *routev3.VirtualHost, l loc, h *hcmConfig, maxBody int) (*vhost, error) {
	if err := onlyFields(v, l, "name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
		"response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config", "metadata",
		"request_body_buffer_limit", "virtual_clusters"); err != nil {
		return nil, err
	}
	vh := &vhost{name: v.GetName(), pb: v, bufferLimit: v.GetRequestBodyBufferLimit().GetValue()}
	var err error
	if vh.vclusters, err = compileVirtualClusters(v.GetVirtualClusters(), l); err != nil {
		return nil, err
	}
	if vh.reqOps, err = compileHeaderOps(v.GetRequestHeadersToAdd(), v.GetRequestHeadersToRemove(), l, "request_headers_to_add", "request_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	if vh.respOps, err = compileHeaderOps(v.GetResponseHeadersToAdd(), v.GetResponseHeadersToRemove(), l, "response_headers_to_add", "response_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	if vh.pf, err = compilePerFilter(v.GetTypedPerFilterConfig(), l.at("typed_per_filter_config"), h, false); err != nil {
		return nil, err
	}
	for i, r := range v.GetRoutes() {
		rl := loc{vh: v.GetName(), route: r.GetName(), path: []string{fmt.Sprintf("routes[%d]", i)}}
		cr, err := compileRoute(r, rl, h, maxBody)
		if err != nil {
			return nil, err
		}
		vh.routes = append(vh.routes, cr)
	}
	return vh, nil
}

func compileRoute(r *routev3.Route, l loc, h *hcmConfig, maxBody int) (*route, error) {
	if err := onlyFields(r, l, "name", "match", "route", "direct_response", "metadata", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove",
		"typed_per_filter_config", "request_body_buffer_limit"); err != nil {
		return nil, err
	}
	cr := &route{name: r.GetName(), pb: r, caseSensitive: true, bufferLimit: r.GetRequestBodyBufferLimit().GetValue()}
	m := r.GetMatch()
	ml := l.at("match")
	if err := onlyFields(m, ml, "prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive", "headers"); err != nil {
		return nil, err
	}
	if m.GetCaseSensitive() != nil {
		cr.caseSensitive = m.GetCaseSensitive().GetValue()
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		cr.kind, cr.value = pathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		cr.kind, cr.value = pathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		cr.kind, cr.value = pathSeparatedPrefix, p.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileFullRegex(p.SafeRegex, ml.at("safe_regex"))
		if err != nil {
			return nil, err
		}
		cr.kind, cr.re = pathRegex, re
	default:
		// RouteCreator::createAndValidateRoute: "Invalid route config" when unset.
		return nil, ml.errf("no supported path specifier (%T)", p)
	}
	for i, hm := range m.GetHeaders() {
		c, err := compileHeaderMatcher(hm, ml.at(fmt.Sprintf("headers[%d]", i)))
		if err != nil {
			return nil, err
		}
		cr.headers = append(cr.headers, c)
	}

	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		if err := compileRouteAction(a.Route, cr, l.at("route")); err != nil {
			return nil, err
		}
	case *routev3.Route_DirectResponse:
		dl := l.at("direct_response")
		if err := onlyFields(a.DirectResponse, dl, "status", "body"); err != nil {
			return nil, err
		}
		st := int(a.DirectResponse.GetStatus())
		// The router adds a Location header to 201 and 3xx direct responses
		// (Router::Filter::decodeHeaders); not modelled.
		if st == 201 || (st >= 300 && st < 400) {
			return nil, dl.at("status").errf("direct responses with status %d get a Location header; not modelled", st)
		}
		dr := &directResponse{status: st}
		if a.DirectResponse.GetBody() != nil {
			b, err := dataSource(a.DirectResponse.GetBody(), dl.at("body"))
			if err != nil {
				return nil, err
			}
			if len(b) > maxBody {
				return nil, dl.at("body").errf("Envoy rejects this configuration: body of %d bytes exceeds max_direct_response_body_size_bytes %d", len(b), maxBody)
			}
			dr.body = b
		}
		cr.direct = dr
	default:
		return nil, l.errf("route action %T is not supported by the evaluator (only route and direct_response)", a)
	}

	var err error
	if cr.reqOps, err = compileHeaderOps(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove(), l, "request_headers_to_add", "request_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	if cr.respOps, err = compileHeaderOps(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove(), l, "response_headers_to_add", "response_headers_to_remove", opsHeader); err != nil {
		return nil, err
	}
	if cr.pf, err = compilePerFilter(r.GetTypedPerFilterConfig(), l.at("typed_per_filter_config"), h, true); err != nil {
		return nil, err
	}
	if md := r.GetMetadata(); md != nil {
		if err := onlyFields(md, l.at("metadata"), "filter_metadata", "typed_filter_metadata"); err != nil {
			return nil, err
		}
		if s := md.GetFilterMetadata()[MetadataNamespace]; s != nil {
			cr.metadata = s.AsMap()
		}
	}
	return cr, nil
}

func compileRouteAction(a *routev3.RouteAction, cr *route, l loc) error {
	if err := onlyFields(a, l, "cluster", "regex_rewrite", "prefix_rewrite", "host_rewrite_literal", "timeout"); err != nil {
		return err
	}
	cr.cluster = a.GetCluster()
	if cr.cluster == "" {
		return l.errf("only the `cluster` cluster specifier is supported")
	}
	cr.timeout = DefaultRouteTimeout
	if a.GetTimeout() != nil {
		cr.timeout = a.GetTimeout().AsDuration() // 0 disables the timeout
	}
	cr.hostRewrite = a.GetHostRewriteLiteral()
	cr.prefixRW = a.GetPrefixRewrite()
	if rr := a.GetRegexRewrite(); rr != nil {
		// RouteEntryImplBase: "Specify only one of prefix_rewrite, regex_rewrite or
		// path_rewrite_policy".
		if cr.prefixRW != "" {
			return l.errf("Envoy rejects this configuration: specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy")
		}
		if err := onlyFields(rr, l.at("regex_rewrite"), "pattern", "substitution"); err != nil {
			return err
		}
		if err := onlyFields(rr.GetPattern(), l.at("regex_rewrite.pattern"), "google_re2", "regex"); err != nil {
			return err
		}
		// The rewrite regex is not anchored: RE2::GlobalReplace replaces every match.
		re, err := regexp.Compile(rr.GetPattern().GetRegex())
		if err != nil {
			return l.at("regex_rewrite.pattern.regex").errf("Envoy would reject this RE2 regex: %v", err)
		}
		if err := checkRE2ProgramSize(rr.GetPattern().GetRegex(), l.at("regex_rewrite.pattern.regex")); err != nil {
			return err
		}
		tpl, err := compileRewrite(rr.GetSubstitution(), re.NumSubexp())
		if err != nil {
			return l.at("regex_rewrite.substitution").errf("%v", err)
		}
		cr.regexRW, cr.regexTpl = re, tpl
	}
	return nil
}
