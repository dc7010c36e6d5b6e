package builder

import (
	"regexp"
	"strings"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/proxyplus/proxyplus/ir"
)

// maxDirectResponseBody is Envoy's default max_direct_response_body_size_bytes: a longer direct_response body
// makes the route configuration invalid (source/common/router/config_impl.cc,
// DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES, main 1.37.0-dev, 321a098d81). Longer static answers are served by
// the processor.
const maxDirectResponseBody = 4096

// mockRoutes are the routes of a MOCK (resource, method) pair (MOCK-CORS.md §1, issue 12 scope 5). Requests whose
// Content-Type selects a request template (ir.MockTemplates.Static) and the others (StaticOther: the default
// integration response, or the passthrough behaviour's 415) are answered by Envoy alone with a direct_response
// when nothing in the answer reads the request, by the processor otherwise; one route when both are answered
// the same way, else a route with a Content-Type matcher before the route for the rest.
func mockRoutes(cfg *ir.Config, api ir.API, st ir.Stage, r ir.Route, pm pathMatch) ([]*routev3.Route, error) {
	m := r.Integration.Mock
	matched, other, split := mockAnswers(m)
	var out []*routev3.Route
	if split {
		route := &routev3.Route{Name: r.Name, Match: resourceRouteMatch(r, pm), Metadata: routeMetadata(r)}
		route.Match.Headers = append(route.Match.Headers, contentTypeMatcher(m.RequestTemplates))
		if err := mockAction(cfg, api, st, r, route, matched); err != nil {
			return nil, err
		}
		out = append(out, route)
	}
	route := &routev3.Route{Name: r.Name, Match: resourceRouteMatch(r, pm), Metadata: routeMetadata(r)}
	if err := mockAction(cfg, api, st, r, route, other); err != nil {
		return nil, err
	}
	return append(out, route), nil
}

// mockAnswers are the static answers Envoy can send for requests that select a request template (matched) and
// for the others; nil where the processor answers. split is set when the two need routes of their own.
func mockAnswers(m *ir.MockIntegration) (matched, other *ir.MockAnswer, split bool) {
	matched, other = m.Static, m.StaticOther
	if len(m.Responses) == 0 && len(m.RequestTemplates) == 0 && matched == nil && other == nil {
		// IR written by hand with only a status: that status, an empty body and the default Content-Type.
		other = &ir.MockAnswer{StatusCode: m.StatusCode, Headers: [][2]string{{"Content-Type", "application/json"}}}
	}
	if !staticServable(matched) {
		matched = nil
	}
	if !staticServable(other) {
		other = nil
	}
	split = len(m.RequestTemplates) > 0 && !(matched == nil && other == nil) && !(matched != nil && other != nil && sameMockAnswer(matched, other))
	return matched, other, split
}

// mockNeedsProcessor reports whether a MOCK route has a route the processor answers.
func mockNeedsProcessor(m *ir.MockIntegration) bool {
	matched, other, split := mockAnswers(m)
	return other == nil || (split && matched == nil)
}

// mockAction answers with the static answer a, or through the processor when a is nil.
func mockAction(cfg *ir.Config, api ir.API, st ir.Stage, r ir.Route, route *routev3.Route, a *ir.MockAnswer) error {
	if a == nil {
		return processorMockRoute(cfg, api, st, r, route)
	}
	route.Action = directResponse(a.StatusCode, a.Body)
	for _, h := range a.Headers {
		route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, setHeader(h[0], escapeFormatter(h[1])))
	}
	route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, gatewayHeaders("")[1:]...)
	if a.Body == "" {
		// Utility::prepareLocalReply removes content-type from a local reply with an empty body
		// (source/common/http/utility.cc, main 1.37.0-dev, 321a098d81), and a direct_response is one
		// (router.cc Filter::decodeHeaders → sendLocalReply). API Gateway keeps it (MOCK-CORS.md §2,
		// preflight-console-enable-cors): the header_mutation encoder filter, which runs on the local reply after
		// prepareLocalReply, puts it back.
		pf, err := enableFilter(HeaderMutationFilterName, restoreContentType(contentTypeOf(a.Headers)))
		if err != nil {
			return err
		}
		route.TypedPerFilterConfig = pf
	}
	return nil
}

func sameMockAnswer(a, b *ir.MockAnswer) bool {
	if a.StatusCode != b.StatusCode || a.Body != b.Body || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i] != b.Headers[i] {
			return false
		}
	}
	return true
}

// staticServable reports whether Envoy can send a static answer unchanged: a body within the direct_response
// limit, and a status no local-reply mapper of localReplyConfig rewrites (they match Envoy's own 500, 504 and
// 413 replies by status; a direct_response carries no processor marker to tell them apart).
func staticServable(a *ir.MockAnswer) bool {
	if a == nil || len(a.Body) > maxDirectResponseBody {
		return false
	}
	switch a.StatusCode {
	case 413, 500, 504:
		return false
	}
	return true
}

// processorMockRoute makes route a processor route answering the MOCK: the request (body included, as a Lambda
// route streams it) goes to the processor, which answers with an immediate response carrying the marker.
func processorMockRoute(cfg *ir.Config, api ir.API, st ir.Stage, r ir.Route, route *routev3.Route) error {
	route.Action = directResponse(500, `{"message": "Internal server error"}`)
	pf, err := extProcPerRoute(cfg.ExtProc.RouteKeys, api, st, r, true)
	if err != nil {
		return err
	}
	hm, err := lambdaContentTypeFilterConfig()
	if err != nil {
		return err
	}
	pf[HeaderMutationFilterName] = hm
	route.TypedPerFilterConfig = pf
	return nil
}

// contentTypeMatcher matches a Content-Type whose media type is one of types (case-insensitive, parameters
// ignored); an absent or empty one counts as application/json (MOCK-CORS.md §1). treat_missing_header_as_empty
// makes an absent header the empty string (route_components.proto HeaderMatcher; HeaderUtility::matchHeaders).
func contentTypeMatcher(templates []ir.MediaTemplate) *routev3.HeaderMatcher {
	alts := make([]string, len(templates))
	json := false
	for i, t := range templates {
		alts[i] = regexp.QuoteMeta(t.MediaType)
		json = json || t.MediaType == "application/json"
	}
	re := `(?i)[ \t]*(?:` + strings.Join(alts, "|") + `)[ \t]*(?:;.*)?`
	if json {
		re = `(?i)(?:[ \t]*(?:` + strings.Join(alts, "|") + `)[ \t]*(?:;.*)?|[ \t]*)`
	}
	return &routev3.HeaderMatcher{
		Name:                      "content-type",
		HeaderMatchSpecifier:      &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}},
		TreatMissingHeaderAsEmpty: true,
	}
}

func contentTypeOf(h [][2]string) string {
	for _, kv := range h {
		if strings.EqualFold(kv[0], "content-type") {
			return kv[1]
		}
	}
	return "application/json"
}

// restoreContentType adds content-type when the reply has none (ADD_IF_ABSENT; header_mutation.cc
// HeaderMutation::encodeHeaders).
func restoreContentType(ct string) *headermutationv3.HeaderMutationPerRoute {
	return &headermutationv3.HeaderMutationPerRoute{Mutations: &headermutationv3.Mutations{ResponseMutations: []*mutationrulesv3.HeaderMutation{
		{Action: &mutationrulesv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "content-type", Value: escapeFormatter(ct)},
			AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT,
		}}},
	}}}
}

// escapeFormatter keeps a literal header value literal: Envoy reads header values as substitution formats, where
// '%' starts a command and "%%" is a '%' (source/common/formatter/substitution_formatter.h, main 1.37.0-dev).
func escapeFormatter(v string) string { return strings.ReplaceAll(v, "%", "%%") }
