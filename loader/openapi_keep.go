package loader

import (
	"maps"
	"slices"
	"strings"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// Extensions read so that an export gives them back (proxyplus does not apply them; reportExtensions still warns
// about each, OAS-10), and proxyplus's own extension for stages, which OpenAPI has no place for.
const (
	extAPIKeySource     = "x-amazon-apigateway-api-key-source"
	extGatewayResponses = "x-amazon-apigateway-gateway-responses"
	extAuthorizer       = "x-amazon-apigateway-authorizer"
	extAuthType         = "x-amazon-apigateway-authtype"
	// ExtStages lists stages with their variables: [{stageName, description, variables}]. proxyplus writes it in
	// exports; API Gateway ignores x- keys it does not know.
	ExtStages = "x-proxyplus-stages"
)

var (
	gatewayResponseFields = map[string]bool{"statusCode": true, "responseParameters": true, "responseTemplates": true}
	authorizerFields      = map[string]bool{
		"type": true, "authorizerUri": true, "authorizerCredentials": true, "identitySource": true,
		"identityValidationExpression": true, "authorizerResultTtlInSeconds": true, "providerARNs": true,
	}
	stageFields = map[string]bool{"stageName": true, "description": true, "variables": true, "accessLogSettings": true}
)

// keepStored reads the API-level settings an export must give back: the API key source, gateway responses,
// authorizers and stages.
func (im *oasImporter) keepStored(api *apigatewayv1.RestApi) {
	j, r := im.doc, im.doc.r
	if src := strings.ToUpper(j.str(im.root, extAPIKeySource, "$")); src != "" {
		if src != "HEADER" && src != "AUTHORIZER" {
			r.errorf(child("$", extAPIKeySource), extAPIKeySource, "OAS-10", "%s %q must be HEADER or AUTHORIZER",
				extAPIKeySource, src)
		}
		api.ApiKeySource = src
		// Read: HEADER keys are checked (authz); a method needing an AUTHORIZER key is reported itself (AUTH-1).
		im.handled[child("$", extAPIKeySource)] = true
	}
	if responses := j.object(im.root, extGatewayResponses, "$"); len(responses) > 0 {
		rp := child("$", extGatewayResponses)
		im.handled[rp] = true // applied by the translator (issue 12 scope 4)
		api.GatewayResponses = map[string]*apigatewayv1.GatewayResponse{}
		for _, typ := range slices.Sorted(maps.Keys(responses)) {
			p := child(rp, typ)
			ro, isObj := responses[typ].(map[string]any)
			if !isObj {
				r.errorf(p, extGatewayResponses, "OAS-10", "gateway response %q must be an object, not %s", typ, jsonType(responses[typ]))
				continue
			}
			api.GatewayResponses[typ] = &apigatewayv1.GatewayResponse{
				StatusCode:         j.scalarString(ro, "statusCode", p),
				ResponseParameters: j.strMap(ro, "responseParameters", p),
				ResponseTemplates:  j.strMap(ro, "responseTemplates", p),
			}
			j.warnUnknown(ro, gatewayResponseFields, p, "gateway response")
		}
	}
	schemes, schemesAt := im.securitySchemes()
	for _, name := range slices.Sorted(maps.Keys(schemes)) {
		scheme, _ := schemes[name].(map[string]any)
		a, isObj := scheme[extAuthorizer].(map[string]any)
		if !isObj {
			continue
		}
		p := child(child(schemesAt, name), extAuthorizer)
		authType, _ := scheme[extAuthType].(string)
		schemeType, _ := scheme["type"].(string)
		schemeName, _ := scheme["name"].(string)
		schemeIn, _ := scheme["in"].(string)
		typ := strings.ToUpper(j.str(a, "type", p))
		if typ == "" {
			typ = "TOKEN" // API Gateway's default
		}
		az := &apigatewayv1.Authorizer{
			Name:                         name,
			Type:                         typ,
			AuthType:                     authType,
			AuthorizerUri:                j.str(a, "authorizerUri", p),
			AuthorizerCredentials:        j.str(a, "authorizerCredentials", p),
			IdentitySource:               j.str(a, "identitySource", p),
			IdentityValidationExpression: j.str(a, "identityValidationExpression", p),
			ProviderArns:                 j.strList(a, "providerARNs", p),
			SchemeType:                   schemeType,
			SchemeName:                   schemeName,
			SchemeIn:                     schemeIn,
		}
		if _, ok := a["authorizerResultTtlInSeconds"]; ok {
			ttl := j.int32(a, "authorizerResultTtlInSeconds", p)
			az.AuthorizerResultTtlInSeconds = &ttl
		}
		j.warnUnknown(a, authorizerFields, p, extAuthorizer)
		if im.src.authorizers == nil {
			im.src.authorizers = map[*apigatewayv1.Authorizer]string{}
		}
		im.src.authorizers[az] = p
		api.Authorizers = append(api.Authorizers, az)
		if typ == "TOKEN" || typ == "REQUEST" || typ == "COGNITO_USER_POOLS" {
			// Lambda authorizers run (issue 11 scope 1) and Cognito user pools are verified (jwt_authn + authz): their
			// extensions are read, not ignored (OAS-10).
			im.handled[p] = true
			im.handled[child(child(schemesAt, name), extAuthType)] = true
		}
	}
	im.stages(api)
}

// stages reads x-proxyplus-stages.
func (im *oasImporter) stages(api *apigatewayv1.RestApi) {
	j := im.doc
	v, ok := im.root[ExtStages]
	if !ok || v == nil {
		return
	}
	list, isList := v.([]any)
	if !isList {
		j.typeError("$", ExtStages, "an array", v)
		return
	}
	im.src.stages = child("$", ExtStages)
	for i, e := range list {
		p := index(im.src.stages, i)
		so, isObj := e.(map[string]any)
		if !isObj {
			j.r.errorf(p, ExtStages, "OAS-1", "stage %d must be an object, not %s", i, jsonType(e))
			continue
		}
		st := &apigatewayv1.Stage{
			StageName:   j.str(so, "stageName", p),
			Description: j.str(so, "description", p),
			Variables:   j.strMap(so, "variables", p),
		}
		// API Gateway's Stage.accessLogSettings {format, destinationArn}.
		if als := j.object(so, "accessLogSettings", p); als != nil {
			st.AccessLogSettings = &apigatewayv1.AccessLogSettings{Format: j.str(als, "format", child(p, "accessLogSettings")),
				DestinationArn: j.str(als, "destinationArn", child(p, "accessLogSettings"))}
		}
		api.Stages = append(api.Stages, st)
		j.warnUnknown(so, stageFields, p, "stage")
	}
}

// securitySchemes returns securityDefinitions (Swagger 2.0) or components.securitySchemes, with their location.
func (im *oasImporter) securitySchemes() (map[string]any, string) {
	if im.swagger {
		defs, _ := im.root["securityDefinitions"].(map[string]any)
		return defs, "$.securityDefinitions"
	}
	components, _ := im.root["components"].(map[string]any)
	defs, _ := components["securitySchemes"].(map[string]any)
	return defs, "$.components.securitySchemes"
}

// methodAuthorizer names the authorizer of a CUSTOM or COGNITO_USER_POOLS method and the scopes it requires: the
// first requirement naming a scheme with an authorizer, from the operation's security or, when the operation has
// none, the document's (API Gateway applies root-level security to such operations).
func (im *oasImporter) methodAuthorizer(op map[string]any, authType string) (string, []string) {
	if authType != "CUSTOM" && authType != "COGNITO_USER_POOLS" {
		return "", nil
	}
	sec, ok := op["security"]
	if !ok {
		sec = im.root["security"]
	}
	list, _ := sec.([]any)
	for _, req := range list {
		ro, _ := req.(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(ro)) {
			scheme := im.securityScheme(name)
			if _, isAuthorizer := scheme[extAuthorizer].(map[string]any); !isAuthorizer {
				continue
			}
			var scopes []string
			for _, s := range asList(ro[name]) {
				if str, ok := s.(string); ok {
					scopes = append(scopes, str)
				}
			}
			return name, scopes
		}
	}
	return "", nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
