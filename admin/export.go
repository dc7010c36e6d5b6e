package admin

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// ExportOpenAPI writes api as an OpenAPI 3.0 JSON document with API Gateway's extensions, in the form API
// Gateway's own export uses (enumerations such as the integration type in lower case), so that importing it
// gives back the same model. Authorizers, gateway responses and the API key source are written as API Gateway
// writes them; stages and their variables, which OpenAPI has no place for, under x-proxyplus-stages. Extra hosts
// are not part of an export.
func ExportOpenAPI(api *apigatewayv1.RestApi) ([]byte, error) {
	info := map[string]any{"title": api.GetName(), "version": "1.0"}
	if api.GetDescription() != "" {
		info["description"] = api.GetDescription()
	}
	doc := map[string]any{"openapi": "3.0.1", "info": info}
	// The API's execute-api host, as API Gateway's export writes it, carries the id: the loader takes the id from it,
	// so importing the export gives back the same API id (issue 10 scope 5).
	doc["servers"] = []any{map[string]any{
		"url":       "https://" + api.GetId() + ".execute-api.{region}.amazonaws.com",
		"variables": map[string]any{"region": map[string]any{"default": "us-east-1"}},
	}}
	if api.GetServeUnauthenticatedInsecure() {
		doc["x-proxyplus-serve-unauthenticated-insecure"] = true
	}
	if len(api.GetBinaryMediaTypes()) > 0 {
		doc["x-amazon-apigateway-binary-media-types"] = api.GetBinaryMediaTypes()
	}
	if api.GetApiKeySource() != "" {
		doc["x-amazon-apigateway-api-key-source"] = api.GetApiKeySource()
	}
	if len(api.GetGatewayResponses()) > 0 {
		doc["x-amazon-apigateway-gateway-responses"] = exportGatewayResponses(api.GetGatewayResponses())
	}
	if stages := exportStages(api.GetStages()); len(stages) > 0 {
		doc[loader.ExtStages] = stages
	}
	schemes := map[string]any{}
	for _, a := range api.GetAuthorizers() {
		schemes[a.GetName()] = exportAuthorizer(a)
	}
	paths := map[string]any{}
	for _, res := range api.GetResources() {
		if res.GetPath() == "" {
			continue
		}
		item := map[string]any{}
		for key, m := range res.GetResourceMethods() {
			op := exportOperation(m, schemes)
			if key == "ANY" {
				item["x-amazon-apigateway-any-method"] = op
			} else {
				item[strings.ToLower(key)] = op
			}
		}
		paths[res.GetPath()] = item
	}
	doc["paths"] = paths
	if len(schemes) > 0 {
		doc["components"] = map[string]any{"securitySchemes": schemes}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func exportGatewayResponses(responses map[string]*apigatewayv1.GatewayResponse) map[string]any {
	out := map[string]any{}
	for typ, gr := range responses {
		r := map[string]any{}
		if gr.GetStatusCode() != "" {
			r["statusCode"] = gr.GetStatusCode()
		}
		if len(gr.GetResponseParameters()) > 0 {
			r["responseParameters"] = gr.GetResponseParameters()
		}
		if len(gr.GetResponseTemplates()) > 0 {
			r["responseTemplates"] = gr.GetResponseTemplates()
		}
		out[typ] = r
	}
	return out
}

func exportStages(stages []*apigatewayv1.Stage) []any {
	var out []any
	for _, st := range stages {
		s := map[string]any{"stageName": st.GetStageName()}
		if st.GetDescription() != "" {
			s["description"] = st.GetDescription()
		}
		if len(st.GetVariables()) > 0 {
			s["variables"] = st.GetVariables()
		}
		if als := st.GetAccessLogSettings(); als.GetFormat() != "" || als.GetDestinationArn() != "" {
			a := map[string]any{"format": als.GetFormat()}
			if als.GetDestinationArn() != "" {
				a["destinationArn"] = als.GetDestinationArn()
			}
			s["accessLogSettings"] = a
		}
		out = append(out, s)
	}
	return out
}

// exportAuthorizer writes the security scheme that declares a, as API Gateway's export does.
func exportAuthorizer(a *apigatewayv1.Authorizer) map[string]any {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	scheme := map[string]any{"type": or(a.GetSchemeType(), "apiKey"), "name": or(a.GetSchemeName(), "Authorization"),
		"in": or(a.GetSchemeIn(), "header")}
	if a.GetAuthType() != "" {
		scheme["x-amazon-apigateway-authtype"] = a.GetAuthType()
	}
	ext := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			ext[k] = v
		}
	}
	set("type", strings.ToLower(a.GetType()))
	set("authorizerUri", a.GetAuthorizerUri())
	set("authorizerCredentials", a.GetAuthorizerCredentials())
	set("identitySource", a.GetIdentitySource())
	set("identityValidationExpression", a.GetIdentityValidationExpression())
	if a.AuthorizerResultTtlInSeconds != nil {
		ext["authorizerResultTtlInSeconds"] = a.GetAuthorizerResultTtlInSeconds()
	}
	if len(a.GetProviderArns()) > 0 {
		ext["providerARNs"] = a.GetProviderArns()
	}
	scheme["x-amazon-apigateway-authorizer"] = ext
	return scheme
}

var methodParamRe = regexp.MustCompile(`^method\.request\.(path|querystring|header)\.(.+)$`)

func exportOperation(m *apigatewayv1.Method, schemes map[string]any) map[string]any {
	op := map[string]any{"responses": map[string]any{"default": map[string]any{"description": "Default response"}}}
	if m.GetOperationName() != "" {
		op["operationId"] = m.GetOperationName()
	}
	var params []any
	for _, k := range slices.Sorted(maps.Keys(m.GetRequestParameters())) {
		sm := methodParamRe.FindStringSubmatch(k)
		if sm == nil {
			continue
		}
		in := sm[1]
		if in == "querystring" {
			in = "query"
		}
		params = append(params, map[string]any{"name": sm[2], "in": in, "required": m.GetRequestParameters()[k],
			"schema": map[string]any{"type": "string"}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	var sec []any
	switch t := m.GetAuthorizationType(); {
	case t == "" || t == "NONE":
	case m.GetAuthorizerName() != "" && schemes[m.GetAuthorizerName()] != nil:
		scopes := []any{}
		for _, s := range m.GetAuthorizationScopes() {
			scopes = append(scopes, s)
		}
		sec = append(sec, map[string]any{m.GetAuthorizerName(): scopes})
	default:
		name, scheme := securityScheme(t)
		if _, taken := schemes[name]; !taken {
			schemes[name] = scheme
		}
		sec = append(sec, map[string]any{name: []any{}})
	}
	if m.GetApiKeyRequired() {
		schemes["api_key"] = map[string]any{"type": "apiKey", "name": "x-api-key", "in": "header"}
		sec = append(sec, map[string]any{"api_key": []any{}})
	}
	if len(sec) > 0 {
		op["security"] = sec
	}
	if in := m.GetIntegration(); in != nil {
		op["x-amazon-apigateway-integration"] = exportIntegration(in)
	}
	return op
}

// securityScheme is the scheme the importer maps back to authorization type t.
func securityScheme(t string) (string, map[string]any) {
	base := func(authType string) map[string]any {
		return map[string]any{"type": "apiKey", "name": "Authorization", "in": "header",
			"x-amazon-apigateway-authtype": authType}
	}
	switch t {
	case "AWS_IAM":
		return "sigv4", base("awsSigv4")
	case "COGNITO_USER_POOLS":
		return "cognito", base("cognito_user_pools")
	default:
		return "custom", base("custom")
	}
}

func exportIntegration(in *apigatewayv1.Integration) map[string]any {
	out := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("type", strings.ToLower(in.GetType()))
	set("httpMethod", in.GetHttpMethod())
	set("uri", in.GetUri())
	set("passthroughBehavior", strings.ToLower(in.GetPassthroughBehavior()))
	set("contentHandling", in.GetContentHandling())
	set("connectionType", in.GetConnectionType())
	set("connectionId", in.GetConnectionId())
	set("credentials", in.GetCredentials())
	set("cacheNamespace", in.GetCacheNamespace())
	if len(in.GetRequestParameters()) > 0 {
		out["requestParameters"] = in.GetRequestParameters()
	}
	if len(in.GetRequestTemplates()) > 0 {
		out["requestTemplates"] = in.GetRequestTemplates()
	}
	if in.GetTimeoutInMillis() != 0 {
		out["timeoutInMillis"] = in.GetTimeoutInMillis()
	}
	if len(in.GetCacheKeyParameters()) > 0 {
		out["cacheKeyParameters"] = in.GetCacheKeyParameters()
	}
	if in.GetTlsConfig() != nil {
		out["tlsConfig"] = map[string]any{"insecureSkipVerification": in.GetTlsConfig().GetInsecureSkipVerification()}
	}
	if len(in.GetIntegrationResponses()) > 0 {
		responses := map[string]any{}
		for _, code := range slices.Sorted(maps.Keys(in.GetIntegrationResponses())) {
			ir := in.GetIntegrationResponses()[code]
			r := map[string]any{"statusCode": ir.GetStatusCode()}
			if ir.GetStatusCode() == "" {
				r["statusCode"] = code
			}
			if len(ir.GetResponseParameters()) > 0 {
				r["responseParameters"] = ir.GetResponseParameters()
			}
			if len(ir.GetResponseTemplates()) > 0 {
				r["responseTemplates"] = ir.GetResponseTemplates()
			}
			if ir.GetContentHandling() != "" {
				r["contentHandling"] = ir.GetContentHandling()
			}
			pattern := ir.GetSelectionPattern()
			if pattern == "" {
				pattern = "default"
			}
			responses[pattern] = r
		}
		out["responses"] = responses
	}
	return out
}
