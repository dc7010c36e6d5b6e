package loader

import (
	"maps"
	"slices"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// validateStored checks the settings kept for export (authorizers, gateway responses, the API key source) for
// what API Gateway would refuse, so a model built in proxyplus's format exports into something API Gateway
// imports. Locations are proxyplus-format paths; OpenAPI inputs cannot break these rules (keepStored derives them).
func validateStored(r *reporter, api *apigatewayv1.RestApi, l *locator) {
	switch api.ApiKeySource {
	case "", "HEADER", "AUTHORIZER":
	default:
		r.errorf("$.apiKeySource", "apiKeySource", "OAS-10", "apiKeySource %q must be HEADER or AUTHORIZER", api.ApiKeySource)
	}
	names := map[string]bool{}
	for i, a := range api.Authorizers {
		at := l.authorizer(a, i)
		loc := child(at, "name")
		switch {
		case a.GetName() == "":
			r.errorf(loc, "name", "OAS-10", "authorizer %d has no name", i)
		case names[a.GetName()]:
			r.errorf(loc, "name", "OAS-10", "authorizer %q is declared twice", a.GetName())
		}
		names[a.GetName()] = true
		switch a.GetType() {
		case "TOKEN", "REQUEST", "COGNITO_USER_POOLS":
		default:
			r.errorf(child(at, "type"), "type", "OAS-10", "authorizer %q has type %q; API Gateway "+
				"authorizers are TOKEN, REQUEST or COGNITO_USER_POOLS", a.GetName(), a.GetType())
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(api.GatewayResponses)) {
		gr := api.GatewayResponses[typ]
		if code := gr.GetStatusCode(); code != "" && !validStatus(code) {
			r.errorf(child(child("$.gatewayResponses", typ), "statusCode"), "statusCode", "OAS-10", "gateway response "+
				"%s has status code %q; use a status code from 100 to 599", typ, code)
		}
	}
	for i, res := range api.Resources {
		resLoc := l.resource(res, i)
		for _, key := range slices.Sorted(maps.Keys(res.GetResourceMethods())) {
			m := res.GetResourceMethods()[key]
			if name := m.GetAuthorizerName(); name != "" && !names[name] {
				loc, field := l.methodField(m, l.method(m, resLoc, key), "authorizerName")
				r.errorf(loc, field, "OAS-10", "%s names the authorizer %q, which the API does not declare",
					methodName(key, res.GetPath()), name)
			}
		}
	}
}
