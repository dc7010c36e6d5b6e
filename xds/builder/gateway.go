package builder

import (
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/ir"
)

// gatewayErrorRoute is a route answering a gateway error Envoy makes alone (no route, unknown method, refused
// request), shaped by the stage's customised gateway responses (MOCK-CORS.md §3, issue 12 scope 4): status
// override, header literals and the template rendered now. Nothing in them reads the request — the translator
// reports templates that use per-request $context variables — so a direct_response carries the whole answer.
// Without customisations it is errorRoute's answer, unchanged.
func gatewayErrorRoute(name string, m *routev3.RouteMatch, api ir.API, st ir.Stage, e apianswer.GatewayError) *routev3.Route {
	r := &routev3.Route{Name: name, Match: m}
	shapeGatewayError(r, api, st, e)
	return r
}

// shapeGatewayError sets route's action to the gateway error e as the stage's gateway responses shape it.
func shapeGatewayError(route *routev3.Route, api ir.API, st ir.Stage, e apianswer.GatewayError) {
	// A direct_response body is not a format string (RouteEntryImplBase::formatBody without body_format,
	// source/common/router/config_impl.cc, main 1.37.0-dev, 321a098d81): the rendered bytes go out as they are.
	// Accept is not known here: the template is application/json's, else the first (apianswer.ResponseTemplate).
	a := apianswer.Gateway(st.GatewayResponses, e, "", apianswer.GatewayContext{Stage: st.Name, APIID: api.ID, StageVariables: st.Variables})
	route.Action = directResponse(uint32(a.StatusCode), string(a.Body))
	route.ResponseHeadersToAdd = gatewayHeaders(e.ErrorType)
	for _, h := range a.Headers {
		if strings.EqualFold(h[0], "content-type") {
			route.ResponseHeadersToAdd[0] = setHeader("content-type", escapeFormatter(h[1]))
			continue
		}
		route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, setHeader(h[0], escapeFormatter(h[1])))
	}
}

// missingToken is MISSING_AUTHENTICATION_TOKEN: no resource or method matches (RTE-16, RTE-12).
func missingToken() apianswer.GatewayError {
	return apianswer.GatewayError{Type: apianswer.MissingAuthenticationToken, StatusCode: 403, Body: missingTokenBody,
		ErrorType: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
}

// unknownStage is the 403 of a first segment that names no stage (RTE-17). It has no type of its own in AWS's
// list: only DEFAULT_4XX customises it (MOCK-CORS.md leaves this unpinned).
func unknownStage() apianswer.GatewayError {
	return apianswer.GatewayError{StatusCode: 403, Body: forbiddenBody, ErrorType: "ForbiddenException", Message: "Forbidden"}
}

// refusalError is the gateway error of a refused route (fail-closed authorization).
func refusalError(g *ir.GatewayErrorResponse) apianswer.GatewayError {
	e := apianswer.GatewayError{StatusCode: int(g.StatusCode), Body: g.Body, ErrorType: g.ErrorType}
	switch g.ErrorType {
	case "MissingAuthenticationTokenException":
		e.Type, e.Message = apianswer.MissingAuthenticationToken, "Missing Authentication Token"
	case "UnauthorizedException":
		e.Type, e.Message = apianswer.Unauthorized, "Unauthorized"
	default:
		e.Message = "Forbidden"
	}
	return e
}

// unknownStageGateway is the stage whose gateway responses shape the unknown-stage 403: the API's first stage,
// with no stage name ($context.stage is empty: no stage was addressed).
func unknownStageGateway(api ir.API) ir.Stage {
	if len(api.Stages) == 0 {
		return ir.Stage{}
	}
	return ir.Stage{GatewayResponses: api.Stages[0].GatewayResponses, Variables: api.Stages[0].Variables}
}
