package builder

import (
	"regexp"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/ir"
)

// envoyGatewayErrors are the gateway errors Envoy makes itself and localReplyConfig's mappers shape (HCM-12),
// with the filter that recognises each and the gateway response type it is: a customised type reshapes them
// per stage (MOCK-CORS.md §3, issue 12 scope 4).
var envoyGatewayErrors = []struct {
	filter func() *accesslogv3.AccessLogFilter
	err    apianswer.GatewayError
}{
	{func() *accesslogv3.AccessLogFilter { return responseFlags("UT") }, apianswer.GatewayError{Type: apianswer.IntegrationTimeout, StatusCode: 504,
		Body: `{"message": "Endpoint request timed out"}`, ErrorType: "InternalServerErrorException", Message: "Endpoint request timed out"}},
	{func() *accesslogv3.AccessLogFilter { return andFilter(statusIs(504), notFromProcessor()) }, apianswer.GatewayError{Type: apianswer.IntegrationTimeout,
		StatusCode: 504, Body: `{"message": "Endpoint request timed out"}`, ErrorType: "InternalServerErrorException", Message: "Endpoint request timed out"}},
	{func() *accesslogv3.AccessLogFilter { return responseFlags("UF", "URX", "UH", "UC", "UO", "DF") }, apianswer.GatewayError{Type: apianswer.IntegrationFailure, StatusCode: 500,
		Body: `{"message": "Internal server error"}`, ErrorType: "InternalServerErrorException", Message: "Internal server error"}},
	{func() *accesslogv3.AccessLogFilter { return andFilter(statusIs(500), notFromProcessor()) }, apianswer.GatewayError{Type: apianswer.APIConfigurationError,
		StatusCode: 500, Body: `{"message": "Internal server error"}`, ErrorType: "InternalServerErrorException", Message: "Internal server error"}},
	{func() *accesslogv3.AccessLogFilter { return andFilter(statusIs(413), notFromProcessor()) }, apianswer.GatewayError{Type: apianswer.RequestTooLarge,
		StatusCode: 413, Body: "HTTP content length exceeded 10485760 bytes.", Message: "Request Too Long"}},
}

// gatewayResponseMappers are the local-reply mappers of the stages that customise the errors Envoy makes itself,
// to go before localReplyConfig's own. Envoy applies the first mapper whose filter matches and no other
// (LocalReplyImpl::rewrite, source/common/local_reply/local_reply.cc, main 1.37.0-dev, 321a098d81): body_format
// replaces the body, status_code the status, headers_to_add are added (ResponseMapper::rewrite). Each mapper
// adds to its error's own filter, when the API serves several stages, the stage (a header_filter on :path, which
// AccessLog HeaderFilter evaluates against the request headers) and, when several APIs share the listener, the
// API's hosts (:authority). The router rewrites :path and :authority of HTTP_PROXY requests in place
// (Router::Filter::decodeHeaders → finalizeRequestHeaders, main 1.37.0-dev), so on those routes an upstream
// failure is recognised by stage or API only when the rewrite keeps them; the README lists it (Known deviations).
func gatewayResponseMappers(cfg *ir.Config) []*hcmv3.ResponseMapper {
	var out []*hcmv3.ResponseMapper
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			if len(st.GatewayResponses) == 0 {
				continue
			}
			for _, ge := range envoyGatewayErrors {
				if m := customisedMapper(cfg, api, st, ge.filter(), ge.err); m != nil {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// customisedMapper is the local-reply mapper that answers e, recognised by filter, as stage st of api customises
// it; nil when st customises nothing for e. The stage and API are told apart as gatewayResponseMappers says.
func customisedMapper(cfg *ir.Config, api ir.API, st ir.Stage, filter *accesslogv3.AccessLogFilter, e apianswer.GatewayError) *hcmv3.ResponseMapper {
	if _, _, ok := apianswer.Customisation(st.GatewayResponses, e); !ok {
		return nil
	}
	a := apianswer.Gateway(st.GatewayResponses, e, "", apianswer.GatewayContext{Stage: st.Name, APIID: api.ID, StageVariables: st.Variables})
	filters := []*accesslogv3.AccessLogFilter{filter}
	if len(api.Stages) > 1 {
		filters = append(filters, headerRegex(":path", "^/+"+regexp.QuoteMeta(st.Name)+"(?:[/?].*)?$"))
	}
	if len(cfg.APIs) > 1 {
		filters = append(filters, headerRegex(":authority", hostsRegex(api.Hosts)))
	}
	m := &hcmv3.ResponseMapper{
		Filter:     andFilter(filters...),
		StatusCode: wrapperspb.UInt32(uint32(a.StatusCode)),
		BodyFormatOverride: &corev3.SubstitutionFormatString{
			Format:      &corev3.SubstitutionFormatString_TextFormat{TextFormat: escapeFormatter(string(a.Body))},
			ContentType: "application/json",
		},
	}
	if e.ErrorType != "" {
		m.HeadersToAdd = gatewayHeaders(e.ErrorType)[1:]
	}
	for _, h := range a.Headers {
		m.HeadersToAdd = append(m.HeadersToAdd, setHeader(h[0], escapeFormatter(h[1])))
	}
	return m
}

// andFilter is the conjunction of fs; one filter stands alone (AndFilter needs two, access_log.proto).
// andFilter joins access-log filters (local-reply mappers and access logs use the same type); one filter stands
// alone, since AndFilter takes at least two (accesslog.proto: filters min_items 2).
func andFilter(fs ...*accesslogv3.AccessLogFilter) *accesslogv3.AccessLogFilter {
	if len(fs) == 1 {
		return fs[0]
	}
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: fs}}}
}

func headerRegex(name, re string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{
		Header: &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}}},
	}}}
}

// hostsRegex matches an :authority naming one of hosts (virtual-host domain syntax: a leading or trailing '*'),
// with or without a port, case-insensitively as virtual-host matching does.
func hostsRegex(hosts []string) string {
	alts := make([]string, len(hosts))
	for i, h := range hosts {
		alts[i] = strings.ReplaceAll(regexp.QuoteMeta(h), `\*`, `.*`)
	}
	return `(?i)(?:` + strings.Join(alts, "|") + `)(?::[0-9]+)?`
}
