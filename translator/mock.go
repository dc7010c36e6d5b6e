package translator

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// mockRoute is what a MOCK route answers with (MOCK-CORS.md §1): request templates, integration responses and
// passthrough behaviour, and the answer rendered now when nothing in it reads the request.
type mockRoute struct {
	file, loc  string
	method     string // the resource method; ANY makes $context.httpMethod per request
	resource   string
	apiID      string
	stage      string
	vars       map[string]string
	diags      diag.List
	resourceID string
	gateway    map[string]ir.GatewayResponse
}

func (m *mockRoute) warn(field, format string, args ...any) {
	m.diags = append(m.diags, diag.Diagnostic{Severity: diag.Warning, File: m.file, Path: m.loc, Field: field,
		Rule: "MOCK-1", Message: fmt.Sprintf(format, args...)})
}

// translateMock builds a MOCK integration. Everything of the import is applied or reported.
func (m *mockRoute) translate(in *apigatewayv1.Integration) *ir.MockIntegration {
	out := &ir.MockIntegration{StatusCode: mockStatus(in)}
	out.Passthrough = in.GetPassthroughBehavior()
	for _, mt := range slices.Sorted(maps.Keys(in.GetRequestTemplates())) {
		out.RequestTemplates = append(out.RequestTemplates, ir.MediaTemplate{MediaType: apianswer.MediaType(mt), Template: in.GetRequestTemplates()[mt]})
	}
	if in.GetContentHandling() != "" {
		m.warn("contentHandling", "contentHandling %s is not applied to MOCK integrations: their bodies are text", in.GetContentHandling())
	}
	if len(in.GetRequestParameters()) > 0 {
		m.warn("requestParameters", "integration requestParameters of a MOCK reach no backend; they are not applied")
	}
	// Selection patterns in sorted order, the default last: AWS documents no order among patterns that overlap.
	responses := in.GetIntegrationResponses()
	codes := slices.Sorted(maps.Keys(responses))
	slices.SortStableFunc(codes, func(a, b string) int {
		pa, pb := responses[a].GetSelectionPattern(), responses[b].GetSelectionPattern()
		switch {
		case pa == "" && pb != "":
			return 1
		case pa != "" && pb == "":
			return -1
		}
		return strings.Compare(pa, pb)
	})
	for _, code := range codes {
		r := responses[code]
		n, _ := strconv.Atoi(r.GetStatusCode())
		mr := ir.MockResponse{Pattern: r.GetSelectionPattern(), StatusCode: uint32(n)}
		for _, key := range slices.Sorted(maps.Keys(r.GetResponseParameters())) {
			if h, ok := m.responseHeader(code, key, r.GetResponseParameters()[key]); ok {
				mr.Headers = append(mr.Headers, h)
			}
		}
		for _, mt := range slices.Sorted(maps.Keys(r.GetResponseTemplates())) {
			mr.Templates = append(mr.Templates, ir.MediaTemplate{MediaType: apianswer.MediaType(mt), Template: r.GetResponseTemplates()[mt]})
		}
		if r.GetContentHandling() != "" {
			m.warn("integrationResponses", "integration response %s: contentHandling %s is not applied to MOCK answers", code, r.GetContentHandling())
		}
		out.Responses = append(out.Responses, mr)
	}
	if len(out.RequestTemplates) > 0 {
		out.Static, out.StaticMediaTypes = m.static(&out.MockTemplates)
	}
	out.StaticOther = m.staticOther(&out.MockTemplates)
	return out
}

// responseHeader reads one responseParameters entry (DG request-response-data-mappings.md): the target
// method.response.header.<Name>; the source a 'literal', stageVariables.<name>, a method request parameter or a
// $context variable.
func (m *mockRoute) responseHeader(code, key, value string) (ir.Mapping, bool) {
	name, ok := strings.CutPrefix(key, "method.response.header.")
	if !ok || name == "" {
		m.warn("responseParameters", "integration response %s maps %q: only method.response.header.<name> targets are applied; this one is not", code, key)
		return ir.Mapping{}, false
	}
	switch {
	case len(value) >= 2 && strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'"):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromStatic, Name: value[1 : len(value)-1]}}, true
	case strings.HasPrefix(value, "stageVariables."):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromStatic, Name: m.vars[strings.TrimPrefix(value, "stageVariables.")]}}, true
	case strings.HasPrefix(value, "method.request.path."):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromPath, Name: strings.TrimPrefix(value, "method.request.path.")}}, true
	case strings.HasPrefix(value, "method.request.querystring."):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromQuery, Name: strings.TrimPrefix(value, "method.request.querystring.")}}, true
	case strings.HasPrefix(value, "method.request.header."):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromHeader, Name: strings.TrimPrefix(value, "method.request.header.")}}, true
	case strings.HasPrefix(value, "context."):
		return ir.Mapping{Name: name, Source: ir.ValueSource{Kind: ir.FromContext, Name: strings.TrimPrefix(value, "context.")}}, true
	}
	m.warn("responseParameters", "integration response %s maps %s from %q, which a MOCK answer cannot provide (a MOCK has no integration response headers or body); the header is not sent", code, name, value)
	return ir.Mapping{}, false
}

// static is the answer rendered now, with the media types it answers, when neither the request template a
// request can select, nor the integration response it selects, reads the request; nil otherwise.
func (m *mockRoute) static(t *ir.MockTemplates) (*ir.MockAnswer, []string) {
	req := &apianswer.Request{StageVariables: m.vars, Context: m.context()}
	var answer *ir.MockAnswer
	var types []string
	for _, rt := range t.RequestTemplates {
		if !m.staticTemplate(rt.Template) {
			return nil, nil
		}
		a, ok := m.staticAnswer(t, rt, req)
		if !ok || (answer != nil && !sameAnswer(answer, a)) {
			return nil, nil
		}
		answer = a
		types = append(types, rt.MediaType)
	}
	return answer, types
}

func (m *mockRoute) staticAnswer(t *ir.MockTemplates, rt ir.MediaTemplate, req *apianswer.Request) (*ir.MockAnswer, bool) {
	out, err := apianswer.Render("integration request "+rt.MediaType, rt.Template, req, nil)
	if err != nil {
		return nil, false
	}
	status, ok := apianswer.MockStatus(out)
	if !ok {
		return nil, false
	}
	r, err := apianswer.SelectResponse(t, status)
	if err != nil {
		return nil, false
	}
	return m.staticResponse(r)
}

// staticResponse renders integration response r now when its answer reads nothing of the request.
func (m *mockRoute) staticResponse(r *ir.MockResponse) (*ir.MockAnswer, bool) {
	if len(r.Templates) > 1 {
		return nil, false // Accept chooses among them
	}
	for _, h := range r.Headers {
		if h.Source.Kind != ir.FromStatic {
			return nil, false
		}
	}
	if len(r.Templates) == 1 && !m.staticTemplate(r.Templates[0].Template) {
		return nil, false
	}
	a, err := apianswer.Respond(r, &apianswer.Request{StageVariables: m.vars, Context: m.context()})
	if err != nil {
		return nil, false
	}
	return &ir.MockAnswer{StatusCode: uint32(a.StatusCode), Headers: a.Headers, Body: string(a.Body)}, true
}

// staticOther is the answer to requests whose Content-Type selects no request template, rendered now: the
// passthrough behaviour's 415 (UNSUPPORTED_MEDIA_TYPE, shaped by the stage's gateway responses), or the default
// integration response; nil when it reads the request or there is no default (a 500 the processor logs).
func (m *mockRoute) staticOther(t *ir.MockTemplates) *ir.MockAnswer {
	if apianswer.Refuses(t) {
		e := apianswer.UnsupportedMediaTypeError
		a := apianswer.Gateway(m.gateway, e, "", apianswer.GatewayContext{Stage: m.stage, APIID: m.apiID, StageVariables: m.vars})
		out := &ir.MockAnswer{StatusCode: uint32(a.StatusCode), Body: string(a.Body),
			Headers: append([][2]string{{"Content-Type", "application/json"}, {"x-amzn-ErrorType", e.ErrorType}}, a.Headers...)}
		return out
	}
	r := apianswer.DefaultResponse(t)
	if r == nil {
		if len(t.Responses) == 0 {
			// No integration response at all: proxyplus answers the status mockStatus gives (200) with an empty
			// body, as it always has; API Gateway fails such a method with 500 ("No match for output mapping and
			// no default output mapping configured"), a deviation the README lists (Known deviations: MOCK integrations).
			return &ir.MockAnswer{StatusCode: 200, Headers: [][2]string{{"Content-Type", "application/json"}}}
		}
		return nil
	}
	a, ok := m.staticResponse(r)
	if !ok {
		return nil
	}
	return a
}

func sameAnswer(a, b *ir.MockAnswer) bool {
	return a.StatusCode == b.StatusCode && a.Body == b.Body && slices.Equal(a.Headers, b.Headers)
}

// context is the $context a MOCK template can read at translation time.
func (m *mockRoute) context() map[string]string {
	c := map[string]string{"stage": m.stage, "apiId": m.apiID, "resourcePath": m.resource, "resourceId": m.resourceID}
	if m.method != "ANY" {
		c["httpMethod"] = m.method
	}
	return c
}

// translationTimeRefs are the references whose value is known at translation time.
var translationTimeRefs = []string{"context.stage", "context.apiId", "context.resourcePath", "context.resourceId", "stageVariables."}

// directives are the VTL directive names: a '#' followed by one of them (or by #, *, [ or {) is not plain text.
var directives = []string{"set", "if", "elseif", "else", "end", "foreach", "break", "stop", "macro", "include", "parse", "evaluate", "define", "literal", "#", "*", "[", "{"}

// staticTemplate reports whether a template's output is the same for every request: every reference one whose
// value is known now, and no directive (conservative: a directive may read the request).
func (m *mockRoute) staticTemplate(src string) bool {
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '$':
			rest := strings.TrimPrefix(strings.TrimPrefix(src[i+1:], "!"), "{")
			known := m.method != "ANY" && strings.HasPrefix(rest, "context.httpMethod")
			for _, r := range translationTimeRefs {
				known = known || strings.HasPrefix(rest, r)
			}
			if !known {
				return false
			}
		case '#':
			rest := src[i+1:]
			for _, d := range directives {
				if strings.HasPrefix(rest, d) {
					return false
				}
			}
		case '\\':
			return false // escapes are the interpreter's to decide
		}
	}
	return true
}

// translateGatewayResponses reads x-amazon-apigateway-gateway-responses for one stage (MOCK-CORS.md §3).
func translateGatewayResponses(file string, def *apigatewayv1.RestApi, vars map[string]string) (map[string]ir.GatewayResponse, diag.List) {
	if len(def.GetGatewayResponses()) == 0 {
		return nil, nil
	}
	var diags diag.List
	out := map[string]ir.GatewayResponse{}
	for _, typ := range slices.Sorted(maps.Keys(def.GetGatewayResponses())) {
		g := def.GetGatewayResponses()[typ]
		loc := "$.gatewayResponses." + typ
		warn := func(field, format string, args ...any) {
			diags = append(diags, diag.Diagnostic{Severity: diag.Warning, File: file, Path: loc, Field: field, Rule: "GWR-1", Message: fmt.Sprintf(format, args...)})
		}
		switch {
		case !knownGatewayTypes[typ]:
			warn("gatewayResponses", "%q is not an API Gateway gateway response type; it applies to nothing", typ)
		case !generatedGatewayTypes[typ]:
			warn("gatewayResponses", "gateway response %s is kept for export: proxyplus never answers with this type", typ)
		}
		var gr ir.GatewayResponse
		if s := g.GetStatusCode(); s != "" {
			n, _ := strconv.Atoi(s)
			gr.StatusCode = uint32(n)
		}
		for _, key := range slices.Sorted(maps.Keys(g.GetResponseParameters())) {
			value := g.GetResponseParameters()[key]
			name, ok := strings.CutPrefix(key, "gatewayresponse.header.")
			switch {
			case !ok || name == "":
				warn("responseParameters", "gateway response %s maps %q: only gatewayresponse.header.<name> targets are applied; this one is not", typ, key)
			case len(value) >= 2 && strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'"):
				gr.Headers = append(gr.Headers, [2]string{name, value[1 : len(value)-1]})
			case strings.HasPrefix(value, "stageVariables."):
				gr.Headers = append(gr.Headers, [2]string{name, vars[strings.TrimPrefix(value, "stageVariables.")]})
			default:
				warn("responseParameters", "gateway response %s maps header %s from %q; proxyplus applies literals and stage variables only, so this header is not sent", typ, name, value)
			}
		}
		for _, mt := range slices.Sorted(maps.Keys(g.GetResponseTemplates())) {
			src := g.GetResponseTemplates()[mt]
			if v := apianswer.RequestDependent(src); v != "" {
				warn("responseTemplates", "gateway response %s template %s uses $context.%s, which proxyplus does not provide to gateway responses; it renders as its source text", typ, mt, v)
			}
			gr.Templates = append(gr.Templates, ir.MediaTemplate{MediaType: apianswer.MediaType(mt), Template: src})
		}
		out[typ] = gr
	}
	return out, diags
}

// knownGatewayTypes are API Gateway's gateway response types (DG supported-gateway-response-types.md).
var knownGatewayTypes = map[string]bool{
	"ACCESS_DENIED": true, "API_CONFIGURATION_ERROR": true, "AUTHORIZER_CONFIGURATION_ERROR": true, "AUTHORIZER_FAILURE": true,
	"BAD_REQUEST_PARAMETERS": true, "BAD_REQUEST_BODY": true, "DEFAULT_4XX": true, "DEFAULT_5XX": true, "EXPIRED_TOKEN": true,
	"INTEGRATION_FAILURE": true, "INTEGRATION_TIMEOUT": true, "INVALID_API_KEY": true, "INVALID_SIGNATURE": true,
	"MISSING_AUTHENTICATION_TOKEN": true, "QUOTA_EXCEEDED": true, "REQUEST_TOO_LARGE": true, "RESOURCE_NOT_FOUND": true,
	"THROTTLED": true, "UNAUTHORIZED": true, "UNSUPPORTED_MEDIA_TYPE": true, "WAF_FILTERED": true,
}

// generatedGatewayTypes are the types proxyplus answers with (apianswer; the defaults cover every other error).
var generatedGatewayTypes = map[string]bool{
	apianswer.Default4XX: true, apianswer.Default5XX: true, apianswer.MissingAuthenticationToken: true,
	apianswer.Unauthorized: true, apianswer.UnsupportedMediaType: true, apianswer.RequestTooLarge: true,
	apianswer.IntegrationTimeout: true, apianswer.APIConfigurationError: true, apianswer.IntegrationFailure: true,
	// The authorization answers (issue 11 scope 6): AUTHORIZER_FAILURE is not among them, proxyplus answers every
	// authorizer failure with AUTHORIZER_CONFIGURATION_ERROR.
	apianswer.AccessDenied: true, apianswer.AuthorizerConfiguration: true, apianswer.InvalidAPIKey: true,
	apianswer.Throttled: true, apianswer.QuotaExceeded: true,
}
