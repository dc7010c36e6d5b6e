package builder

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxyplus/proxyplus/ir"
)

// Request headers API Gateway drops towards an HTTP_PROXY backend unless a mapping sets them (HTP-9, HTP-5).
// Envoy strips the hop-by-hop ones itself too; listing them keeps the rule visible in one place.
var httpProxyDroppedRequestHeaders = []string{
	"content-encoding", "content-md5", "expect", "max-forwards", "proxy-authenticate", "server",
	"te", "trailer", "transfer-encoding", "upgrade", "via", "www-authenticate",
	// Envoy's own marker for external clients (use_remote_address); API Gateway sends nothing like it.
	"x-envoy-external-address",
}

// httpProxyRoute fills an HTTP_PROXY route (envoy-notes RTM-12): cluster, host and path rewrite, timeout, header
// drops and mappings, response remapping. When the IR says route configuration cannot express the integration,
// the processor rewrites method, path and query in headers-only mode and the route only forwards.
func httpProxyRoute(route *routev3.Route, keys ir.RouteKeys, z *regexSizer, api ir.API, st ir.Stage, r ir.Route) error {
	h := r.Integration.HTTP
	action := &routev3.RouteAction{
		ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: ClusterName(h.Backend)},
		HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: hostHeader(h.Backend)},
		// Envoy's default route timeout is 15 s; API Gateway's integration timeout applies (HTP-14, RTM-12).
		Timeout: durationpb.New(time.Duration(h.Timeout)),
	}
	if !h.Processor {
		pattern, sub, err := pathRewrite(z, h, st.Name, r.Segments)
		if err != nil {
			return err
		}
		// The pattern is the resource's regex capturing the parameters the substitution uses; Envoy rewrites the
		// path without the query and keeps the client's query (route_components.proto RouteAction.regex_rewrite).
		action.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: pattern},
			Substitution: sub,
		}
	}
	route.Action = &routev3.Route_Route{Route: action}

	mapped := map[string]bool{}
	for _, m := range h.HeaderMappings {
		mapped[strings.ToLower(m.Name)] = true
	}
	for _, name := range httpProxyDroppedRequestHeaders {
		if !mapped[name] {
			route.RequestHeadersToRemove = append(route.RequestHeadersToRemove, name)
		}
	}
	route.RequestHeadersToAdd = append(route.RequestHeadersToAdd, setHeader("X-Amzn-Apigateway-Api-Id", api.ID))
	for _, m := range h.HeaderMappings {
		switch m.Source.Kind {
		case ir.FromHeader:
			// A mapped header overrides the client's (HTP-5); a missing source header adds nothing (HTP-4), which is
			// what Envoy does with an empty formatter result.
			route.RequestHeadersToAdd = append(route.RequestHeadersToAdd, setHeader(m.Name, "%REQ("+m.Source.Name+")%"))
		case ir.FromStatic:
			route.RequestHeadersToAdd = append(route.RequestHeadersToAdd, setHeader(m.Name, strings.ReplaceAll(m.Source.Name, "%", "%%")))
		}
	}
	remapResponse(route)

	perFilter := map[string]*anypb.Any{}
	hm, err := responseRemapFilterConfig()
	if err != nil {
		return err
	}
	buf, err := bufferPerRoute()
	if err != nil {
		return err
	}
	for _, m := range []map[string]*anypb.Any{hm, buf} {
		for k, v := range m {
			perFilter[k] = v
		}
	}
	if h.Processor {
		ep, err := extProcPerRoute(keys, api, st, r, false)
		if err != nil {
			return err
		}
		for k, v := range ep {
			perFilter[k] = v
		}
	}
	route.TypedPerFilterConfig = perFilter
	return nil
}

// pathRewrite is the regex_rewrite pattern and the upstream path with \N for path parameters (RE2 substitution
// syntax, \1..\9): only the parameters the path uses are captured, so any nine of a resource's parameters can be.
func pathRewrite(z *regexSizer, h *ir.HTTPIntegration, stage string, segs []ir.Segment) (pattern, sub string, err error) {
	used := map[string]bool{}
	for _, p := range h.Path {
		if src, ok := h.Placeholders[p.Placeholder]; ok && p.Placeholder != "" && src.Kind == ir.FromPath {
			used[src.Name] = true
		}
	}
	pattern, captureOf, err := rewritePattern(z, stage, segs, used)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	for _, p := range h.Path {
		if p.Placeholder == "" {
			b.WriteString(strings.ReplaceAll(p.Literal, `\`, `\\`))
			continue
		}
		src := h.Placeholders[p.Placeholder]
		switch src.Kind {
		case ir.FromStatic:
			b.WriteString(strings.ReplaceAll(src.Name, `\`, `\\`))
		case ir.FromPath:
			n := captureOf[src.Name]
			if n == 0 {
				return "", "", fmt.Errorf("placeholder {%s}: %q is not a path parameter of the resource", p.Placeholder, src.Name)
			}
			if n > 9 {
				return "", "", fmt.Errorf("placeholder {%s}: path parameter %q is the upstream path's parameter number %d; RE2 substitutions stop at \\9", p.Placeholder, src.Name, n)
			}
			b.WriteString(`\` + strconv.Itoa(n))
		default:
			return "", "", fmt.Errorf("placeholder {%s} fed from %s needs the processor", p.Placeholder, src.Kind)
		}
	}
	return pattern, b.String(), nil
}

// hostHeader is the Host the backend receives: its host, with the port when it is not the scheme's default (HTP-9).
func hostHeader(b ir.Backend) string {
	if (b.Scheme == "http" && b.Port == 80) || (b.Scheme == "https" && b.Port == 443) {
		return b.Host
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

// Backend response headers API Gateway returns as x-amzn-Remapped-<name> (HTP-13) and those it drops.
var (
	remappedResponseHeaders = []string{"connection", "content-length", "date", "server", "x-amzn-requestid",
		"authorization", "content-md5", "max-forwards", "user-agent", "www-authenticate"}
	remappedSpelling = map[string]string{
		"connection": "Connection", "content-length": "Content-Length", "date": "Date", "server": "Server",
		"x-amzn-requestid": "x-amzn-RequestId", "authorization": "Authorization", "content-md5": "Content-MD5",
		"max-forwards": "Max-Forwards", "user-agent": "User-Agent", "www-authenticate": "WWW-Authenticate",
	}
	droppedResponseHeaders = []string{"expect", "host", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "via"}
)

// remapResponse captures the backend's values at route level, where %RESP()% still sees them (envoy-notes HCM-19);
// the originals are removed later by the per-route header_mutation filter.
func remapResponse(route *routev3.Route) {
	for _, name := range remappedResponseHeaders {
		route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, setHeader("x-amzn-Remapped-"+remappedSpelling[name], "%RESP("+name+")%"))
	}
}
