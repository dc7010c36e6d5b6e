package builder

import (
	"fmt"
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/ir"
)

// Gateway-generated bodies (apigateway-rest ERR-2): the 403s come from the default gateway-response template and
// have no space after the colon.
const (
	missingTokenBody = `{"message":"Missing Authentication Token"}`
	forbiddenBody    = `{"message":"Forbidden"}`
)

// MetadataNamespace is the filter_metadata key of every route's (resource, method) identity.
const MetadataNamespace = "proxyplus"

func routeConfiguration(cfg *ir.Config) (*routev3.RouteConfiguration, error) {
	rc := &routev3.RouteConfiguration{
		Name: RouteConfigName,
		// Virtual-host domains match with or without :port while Host stays as sent (envoy-notes HCM-15).
		IgnorePortInHostMatching: true,
	}
	claimsAll := false
	z := newRegexSizer()
	for _, api := range cfg.APIs {
		vh, err := virtualHost(cfg, z, api)
		if err != nil {
			return nil, err
		}
		for _, d := range vh.Domains {
			claimsAll = claimsAll || d == "*"
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	if !claimsAll {
		// A Host that names no API: 403 Forbidden (RTE-18).
		rc.VirtualHosts = append(rc.VirtualHosts, unknownHostVirtualHost())
	}
	return rc, nil
}

// unknownHostVirtualHost answers a Host that names no API: 403 Forbidden (RTE-18).
func unknownHostVirtualHost() *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:    "unknown-host",
		Domains: []string{"*"},
		Routes: []*routev3.Route{
			nonASCIITargetRoute("unknown-host/non-ascii-target"),
			errorRoute("unknown-host/forbidden", prefixMatch("/"), 403, forbiddenBody, "ForbiddenException"),
		},
	}
}

func virtualHost(cfg *ir.Config, z *regexSizer, api ir.API) (*routev3.VirtualHost, error) {
	vh, err := virtualHostShell(cfg, api)
	if err != nil {
		return nil, err
	}
	proc := vh.TypedPerFilterConfig != nil // the virtual host enables ext_proc (apiDeploymentPerFilter)
	vh.Routes = []*routev3.Route{nonASCIITargetRoute(api.ID + "/non-ascii-target")}
	for _, st := range api.Stages {
		routes, err := stageRoutes(cfg, z, api, st, proc)
		if err != nil {
			return nil, fmt.Errorf("API %s stage %s: %w", api.ID, st.Name, err)
		}
		vh.Routes = append(vh.Routes, routes...)
	}
	vh.Routes = append(vh.Routes, unknownStageRoute(api))
	if proc {
		disableExtProc(vh.Routes...)
	}
	return vh, nil
}

// virtualHostShell is the API's virtual host without its routes: name, domains, the stages' virtual clusters and,
// when the API has processor routes, the ext_proc per-filter config with its deployment ids
// (apiDeploymentPerFilter; every route then that does not use the processor disables it). Its routes are, in
// order: nonASCIITargetRoute, each stage's stageRoutes, unknownStageRoute.
func virtualHostShell(cfg *ir.Config, api ir.API) (*routev3.VirtualHost, error) {
	pf, err := apiDeploymentPerFilter(cfg.ExtProc.RouteKeys, api)
	if err != nil {
		return nil, err
	}
	vh := &routev3.VirtualHost{Name: api.ID, Domains: api.Hosts, TypedPerFilterConfig: pf}
	if len(cfg.APIs) == 1 {
		// One API served: it answers whatever Host a request carries (issue 10 scope 5), so clients that address it
		// by its AWS execute-api host, a custom domain or an IP keep working; hosts only choose between APIs.
		vh.Domains = []string{"*"}
	}
	for _, st := range api.Stages {
		if vc := stageVirtualCluster(st.Name); vc != nil {
			vh.VirtualClusters = append(vh.VirtualClusters, vc)
		}
	}
	return vh, nil
}

// unknownStageRoute ends the API's virtual host: an unknown first segment is an undeployed stage, 403 Forbidden
// (RTE-17).
func unknownStageRoute(api ir.API) *routev3.Route {
	return gatewayErrorRoute(api.ID+"/unknown-stage", prefixMatch("/"), api, unknownStageGateway(api), unknownStage())
}

// stageRoutes: the ANY guard, the (resource, method) routes in first-match order, the 403 catch-all.
func stageRoutes(cfg *ir.Config, z *regexSizer, api ir.API, st ir.Stage, proc bool) ([]*routev3.Route, error) {
	out, err := stageHead(api, st)
	if err != nil {
		return nil, err
	}
	for _, r := range st.Routes {
		if out, err = appendResourceRoutes(out, cfg, z, api, st, r, proc); err != nil {
			return nil, err
		}
	}
	return append(out, stageTail(api, st)), nil
}

// stageHead is what comes before a stage's (resource, method) routes: the ANY guard when a route is ANY.
func stageHead(api ir.API, st ir.Stage) ([]*routev3.Route, error) {
	if err := checkProgramSize(stageRegex(st.Name)); err != nil {
		return nil, fmt.Errorf("stage catch-all: %w", err)
	}
	hasAny := false
	for i := range st.Routes { // by index: a route is a large struct
		hasAny = hasAny || st.Routes[i].Method == "ANY"
	}
	if !hasAny {
		return nil, nil
	}
	// ANY routes carry no method matcher, so methods outside ANY's seven are refused first (RTE-12, RTM-5).
	guard := regexMatch(stageRegex(st.Name))
	guard.Headers = []*routev3.HeaderMatcher{{
		Name:                 ":method",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "^(?:" + strings.Join(ir.AnyMethods, "|") + ")$"}}}},
		InvertMatch:          true,
	}}
	route := gatewayErrorRoute(fmt.Sprintf("%s/%s/unsupported-method", api.ID, st.Name), guard, api, st, missingToken())
	markAccessLogStage(route, api, st) // a stage with its own access-log format logs all its routes (accesslog.go)
	return []*routev3.Route{route}, nil
}

// stageTail ends a stage's routes: under a deployed stage, no (resource, method) pair is 403 Missing
// Authentication Token (RTE-16).
func stageTail(api ir.API, st ir.Stage) *routev3.Route {
	route := gatewayErrorRoute(fmt.Sprintf("%s/%s/no-match", api.ID, st.Name), regexMatch(stageRegex(st.Name)), api, st, missingToken())
	markAccessLogStage(route, api, st)
	return route
}

// appendResourceRoutes appends the routes of one (resource, method) pair (two for a MOCK whose answers depend on
// the request template). They depend on the route, its stage and API without their other routes, and the
// configuration-wide settings only (Builder caches them on that basis), and proc: whether their virtual host enables
// the ext_proc filter (apiUsesProcessor), which routes that do not use it then disable. The stage's deployment id
// is not read (a deployment changes no route, extproc.go).
func appendResourceRoutes(out []*routev3.Route, cfg *ir.Config, z *regexSizer, api ir.API, st ir.Stage, r ir.Route, proc bool) ([]*routev3.Route, error) {
	pm, err := resourceMatch(z, st.Name, r.Segments)
	if err != nil {
		return nil, fmt.Errorf("resource %s (%s %s): %w", r.ResourceID, r.Method, r.ResourcePath, err)
	}
	n := len(out)
	if r.Integration.Type == ir.Mock && api.Refusal(r) == nil {
		routes, err := mockRoutes(cfg, api, st, r, pm)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Name, err)
		}
		out = append(out, routes...)
	} else {
		route, err := integrationRoute(cfg, z, api, st, r, pm)
		if err != nil {
			return nil, fmt.Errorf("resource %s (%s %s), route %s: %w", r.ResourceID, r.Method, r.ResourcePath, r.Name, err)
		}
		route.Name = r.Name
		out = append(out, route)
	}
	for _, route := range out[n:] {
		markAccessLogStage(route, api, st) // a stage with its own access-log format logs all its routes (accesslog.go)
		if _, ok := route.TypedPerFilterConfig[ExtProcFilterName]; ok && !proc {
			// The processor would get route data without the deployment value it needs, and refuse every request.
			return nil, fmt.Errorf("route %s enables ext_proc but apiUsesProcessor says the API has no processor route (a proxyplus bug)", r.Name)
		}
	}
	if proc {
		disableExtProc(out[n:]...)
	}
	return out, nil
}

// resourceRouteMatch matches one (resource, method) pair: the resource's path match and an exact :method.
func resourceRouteMatch(r ir.Route, pm pathMatch) *routev3.RouteMatch {
	match := regexMatch(pm.path)
	if r.Method != "ANY" {
		// An exact :method matcher: GET never covers HEAD (RTE-13).
		match.Headers = append(match.Headers, &routev3.HeaderMatcher{
			Name:                 ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: r.Method}}},
		})
	}
	// The rest of a long resource's literal text (resourceMatch).
	for _, re := range pm.headers {
		match.Headers = append(match.Headers, &routev3.HeaderMatcher{
			Name:                 ":path",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}},
		})
	}
	return match
}

// integrationRoute is the route of one (resource, method) pair.
func integrationRoute(cfg *ir.Config, z *regexSizer, api ir.API, st ir.Stage, r ir.Route, pm pathMatch) (*routev3.Route, error) {
	route := &routev3.Route{Match: resourceRouteMatch(r, pm), Metadata: routeMetadata(r)}
	if refusal := api.Refusal(r); refusal != nil {
		// Fail closed: proxyplus enforces no authorizer, IAM signature or API key yet, so every request is refused
		// as API Gateway refuses one without credentials, before any integration (and the processor, disabled
		// unless a route enables it) is reached (issue 10 scope 1).
		shapeGatewayError(route, api, st, refusalError(refusal)) // gateway.go
		return route, nil
	}
	in := r.Integration
	switch in.Type {
	case ir.Mock:
		// MOCK: status of the default integration response and an empty body (scope item 6).
		route.Action = directResponse(in.Mock.StatusCode, "")
		route.ResponseHeadersToAdd = gatewayHeaders("")
	case ir.GatewayError:
		route.Action = directResponse(in.GatewayError.StatusCode, in.GatewayError.Body)
		if in.GatewayError.StatusCode != 500 {
			route.ResponseHeadersToAdd = gatewayHeaders(in.GatewayError.ErrorType)
		}
		// A 500 takes its API Gateway headers from the HCM's 500 mapper (hcm.go), not from per-route headers.
	case ir.AWSProxy:
		// Never served by this action when the processor works: it answers with an immediate response. A clean
		// processor close would continue the request; this is the safe answer then (envoy-notes RTM-10, EXT-8).
		// Its API Gateway headers come from the HCM's 500 mapper, which keeps them out of every Lambda route.
		route.Action = directResponse(500, `{"message": "Internal server error"}`)
		// No request_body_buffer_limit: the router applies it only after its direct_response branch (router.cc
		// Router::Filter::decodeHeaders) and refreshBufferLimit skips routes without a route entry
		// (conn_manager_impl.cc), so on this route it would never apply (EXT-7); the processor enforces LIM-1.
		pf, err := extProcPerRoute(cfg.ExtProc.RouteKeys, api, st, r, true)
		if err != nil {
			return nil, err
		}
		// An empty function body keeps its Content-Type (OUT-15; localReplyConfig explains the mechanism).
		hm, err := lambdaContentTypeFilterConfig()
		if err != nil {
			return nil, err
		}
		pf[HeaderMutationFilterName] = hm
		route.TypedPerFilterConfig = pf
	case ir.HTTPProxy:
		if err := httpProxyRoute(route, cfg.ExtProc.RouteKeys, z, api, st, r); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("integration type %q has no route builder", in.Type)
	}
	if err := addAuthorization(route, cfg.ExtProc.RouteKeys, api, st, r); err != nil {
		return nil, err
	}
	return route, nil
}

func routeMetadata(r ir.Route) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		MetadataNamespace: {Fields: map[string]*structpb.Value{
			"resource": structpb.NewStringValue(r.ResourcePath),
			"method":   structpb.NewStringValue(r.Method),
		}},
	}}
}

func regexMatch(re string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

// prefixMatch is used only for routes that must see every path: the catch-alls at the end of a virtual host and the
// non-ASCII guard at its start.
func prefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func directResponse(status uint32, body string) *routev3.Route_DirectResponse {
	dr := &routev3.DirectResponseAction{Status: status}
	if body != "" {
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: dr}
}

// nonASCIITargetRoute answers 400 "Bad Request" to a request target (path or query) holding a byte ≥ 0x80, ahead
// of every resource route. Envoy's HTTP/1 parser already refuses such a target with 400 "Bad Request" before
// routing (source/common/http/http1/balsa_parser.cc isUrlValid → ServerConnectionImpl::sendProtocolError →
// sendLocalReply, main 1.37.0-dev, 321a098d81); HTTP/2 lets it through (nghttp2_check_path accepts 0x80-0xFF,
// lib/nghttp2_helper.c VALID_PATH_CHARS; Envoy's default HTTP/2 codec is nghttp2, runtime guard
// http2_use_oghttp2 false). The guard makes both protocols answer alike, and it is what lets the resource regexes
// use ASCII byte classes (match.go): every path they see is ASCII, where segChar is exactly [^/]. The header
// regex is full-matched against :path (HeaderDataStringMatch); RE2's [\x00-\x7f] matches no byte ≥ 0x80,
// whether in valid UTF-8 or not, so the inverted matcher fires for any such byte.
func nonASCIITargetRoute(name string) *routev3.Route {
	m := prefixMatch("/")
	m.Headers = []*routev3.HeaderMatcher{{
		Name:                 ":path",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `[\x00-\x7f]*`}}}},
		InvertMatch:          true,
	}}
	return &routev3.Route{Name: name, Match: m, Action: directResponse(400, "Bad Request")}
}

// errorRoute answers a gateway error with API Gateway's headers (ERR-1).
func errorRoute(name string, m *routev3.RouteMatch, status uint32, body, errorType string) *routev3.Route {
	return &routev3.Route{Name: name, Match: m, Action: directResponse(status, body), ResponseHeadersToAdd: gatewayHeaders(errorType)}
}

// gatewayHeaders are the headers of responses the gateway generates (ERR-1). %UNIQUE_ID% is Envoy's per-request
// UUID; x-amz-apigw-id cannot take AWS's format in plain Envoy (DEV-8).
func gatewayHeaders(errorType string) []*corev3.HeaderValueOption {
	hs := []*corev3.HeaderValueOption{
		setHeader("content-type", "application/json"),
		setHeader("x-amzn-RequestId", "%UNIQUE_ID%"),
		setHeader("x-amz-apigw-id", "%UNIQUE_ID%"),
	}
	if errorType != "" {
		hs = append(hs, setHeader("x-amzn-ErrorType", errorType))
	}
	return hs
}

func setHeader(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// stageVirtualCluster gives the stage its own router stats on the API's virtual host (issue 14 scope 2):
// vhost.<API id>.vcluster.<stage>.upstream_rq_total, upstream_rq_<code>, upstream_rq_<N>xx, upstream_rq_time, ...
// The router picks the first virtual cluster whose headers all match, else the catch-all "other", and charges it only
// for requests it forwards (source/common/router/router.cc Filter::decodeHeaders sets request_vcluster_ after the
// cluster lookup; source/common/router/config_impl.cc CommonVirtualHostImpl::virtualClusterFromEntries and
// VirtualClusterEntry; envoy/router/router.h ALL_VIRTUAL_CLUSTER_STATS; source/common/http/codes.cc
// CodeStatsImpl::chargeResponseStat; main 1.37.0-dev, 321a098d81). So HTTP_PROXY routes are counted; direct_response
// routes and Lambda/MOCK routes answered by ext_proc never reach the router's upstream path.
// Why virtual clusters and not Route.stat_prefix: route_components.proto warns each stat_prefix costs ~1 KiB of stats
// per route, and a fleet has tens of thousands of (resource, method) routes; one virtual cluster per stage is the
// granularity API Gateway's own CloudWatch metrics have (ApiName, Stage), at ~1 KiB per stage.
// Names are the stage name under the virtual host named by the API id, both stable across deployments and both
// restricted to [A-Za-z0-9_-] (RES-10 and the API id), so no '.' splits the stat name.
// The matcher is on :path, which holds the query (unlike route path matching), so the stage ends at '/', '?', '#' or the
// end. The regex is smaller than stageRegex (ASCII class instead of '.'), which stageRoutes already checked against
// RE2 program size 100, so it always fits; the check stays so a future change cannot emit a regex Envoy refuses:
// nil then, and the stage simply has no virtual cluster (its requests count under "other").
func stageVirtualCluster(stage string) *routev3.VirtualCluster {
	re := stageHeaderRegex(stage)
	if checkProgramSize(re) != nil {
		return nil
	}
	return &routev3.VirtualCluster{
		Name: stage,
		Headers: []*routev3.HeaderMatcher{{
			Name:                 ":path",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}},
		}},
	}
}

// stageHeaderRegex matches a :path header (query included) under stage: what stageRegex matches on the path alone.
func stageHeaderRegex(stage string) string {
	return "^/+" + regexp.QuoteMeta(stage) + hdrRest + "$"
}
