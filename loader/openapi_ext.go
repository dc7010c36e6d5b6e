package loader

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/proxyplus/proxyplus/diag"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// integrationFields are the x-amazon-apigateway-integration fields of a REST API (OAS-4); others (HTTP API fields
// such as payloadFormatVersion) are reported.
var integrationFields = map[string]bool{
	"type": true, "httpMethod": true, "uri": true, "requestParameters": true, "timeoutInMillis": true,
	"passthroughBehavior": true, "contentHandling": true, "connectionType": true, "connectionId": true,
	"credentials": true, "cacheNamespace": true, "cacheKeyParameters": true, "tlsConfig": true,
	"requestTemplates": true, "responses": true, "responseTransferMode": true,
}

var integrationResponseFields = map[string]bool{
	"statusCode": true, "responseParameters": true, "responseTemplates": true, "contentHandling": true,
}

// integration reads x-amazon-apigateway-integration. Enumerations are upper-cased because exports write them in
// lower case (OAS-4); validate judges the values.
func (im *oasImporter) integration(v any, path string) *apigatewayv1.Integration {
	j := im.integ
	obj, isObj := v.(map[string]any)
	if !isObj {
		j.r.errorf(path, extIntegration, "OAS-4", "%s must be an object, not %s", extIntegration, jsonType(v))
		return nil
	}
	up := strings.ToUpper
	in := &apigatewayv1.Integration{
		Type:                up(j.str(obj, "type", path)),
		HttpMethod:          up(j.str(obj, "httpMethod", path)),
		Uri:                 j.str(obj, "uri", path),
		RequestParameters:   j.strMap(obj, "requestParameters", path),
		TimeoutInMillis:     j.int32(obj, "timeoutInMillis", path),
		PassthroughBehavior: up(j.str(obj, "passthroughBehavior", path)),
		ContentHandling:     up(j.str(obj, "contentHandling", path)),
		ConnectionType:      up(j.str(obj, "connectionType", path)),
		ConnectionId:        j.str(obj, "connectionId", path),
		Credentials:         j.str(obj, "credentials", path),
		CacheNamespace:      j.str(obj, "cacheNamespace", path),
		CacheKeyParameters:  j.strList(obj, "cacheKeyParameters", path),
		RequestTemplates:    j.strMap(obj, "requestTemplates", path),
	}
	if tls := j.object(obj, "tlsConfig", path); tls != nil {
		tp := child(path, "tlsConfig")
		in.TlsConfig = &apigatewayv1.TlsConfig{InsecureSkipVerification: j.boolean(tls, "insecureSkipVerification", tp)}
		j.warnUnknown(tls, map[string]bool{"insecureSkipVerification": true}, tp, "tlsConfig")
	}
	in.IntegrationResponses = im.integrationResponses(obj, path)
	switch mode := up(j.str(obj, "responseTransferMode", path)); mode {
	case "", "BUFFERED":
	case "STREAM":
		j.r.warnf(child(path, "responseTransferMode"), "responseTransferMode", "OAS-4", "response streaming "+
			"(responseTransferMode STREAM) is not supported; proxyplus buffers the response")
	default:
		j.r.errorf(child(path, "responseTransferMode"), "responseTransferMode", "OAS-4", "responseTransferMode %q must "+
			"be BUFFERED or STREAM", mode)
	}
	j.warnUnknown(obj, integrationFields, path, extIntegration)
	return in
}

// integrationResponses reads responses, keyed by selection pattern in OpenAPI ("default" being the empty
// pattern), into the model's integration responses, keyed by status code as in API Gateway's resource model.
func (im *oasImporter) integrationResponses(obj map[string]any, path string) map[string]*apigatewayv1.IntegrationResponse {
	j := im.integ
	responses := j.object(obj, "responses", path)
	if len(responses) == 0 {
		return nil
	}
	rp := child(path, "responses")
	patterns := slices.Sorted(maps.Keys(responses))
	// "default" first, so it is the one kept when another pattern maps to the same status.
	sort.SliceStable(patterns, func(a, b int) bool { return patterns[a] == "default" && patterns[b] != "default" })
	out := map[string]*apigatewayv1.IntegrationResponse{}
	selectedBy := map[string]string{}
	for _, pattern := range patterns {
		p := child(rp, pattern)
		ro, isObj := responses[pattern].(map[string]any)
		if !isObj {
			j.r.errorf(p, "responses", "OAS-4", "integration response %q must be an object, not %s", pattern, jsonType(responses[pattern]))
			continue
		}
		code := j.scalarString(ro, "statusCode", p)
		if code == "" {
			j.r.errorf(child(p, "statusCode"), "statusCode", "OAS-4", "integration response %q has no statusCode", pattern)
			continue
		}
		selection := pattern
		if pattern == "default" {
			selection = ""
		}
		ir := &apigatewayv1.IntegrationResponse{
			StatusCode:         code,
			SelectionPattern:   selection,
			ResponseParameters: j.strMap(ro, "responseParameters", p),
			ResponseTemplates:  j.strMap(ro, "responseTemplates", p),
			ContentHandling:    strings.ToUpper(j.str(ro, "contentHandling", p)),
		}
		j.warnUnknown(ro, integrationResponseFields, p, "integration response")
		if other, dup := selectedBy[code]; dup {
			j.r.warnf(p, "responses", "OAS-4", "integration responses %q and %q both answer with status %s; API Gateway "+
				"keys integration responses by status code, so only %q is kept", other, pattern, code, other)
			continue
		}
		selectedBy[code] = pattern
		out[code] = ir
	}
	return out
}

// security maps a security requirement list (an operation's, or the document root's) to API Gateway's
// authorization type and API key flag, as API Gateway's importer does; path locates the object holding the list.
// validate reports methods that require either (AUTH-1, AUTH-2).
func (im *oasImporter) security(v any, path string) (authType string, apiKey bool) {
	authType = "NONE"
	list, isList := v.([]any)
	if !isList {
		im.doc.typeError(path, "security", "an array", v)
		return authType, false
	}
	r := im.doc.r
	for i, req := range list {
		rp := index(child(path, "security"), i)
		ro, isObj := req.(map[string]any)
		if !isObj {
			r.errorf(rp, "security", "OAS-1", "a security requirement must be an object, not %s", jsonType(req))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(ro)) {
			scheme := im.securityScheme(name)
			if scheme == nil {
				r.warnf(rp, "security", "OAS-10", "security scheme %q is not defined; the requirement is ignored", name)
				continue
			}
			switch t := schemeAuthType(scheme); {
			case t != "":
				if authType == "NONE" {
					authType = t
				}
			case scheme["type"] == "apiKey":
				apiKey = true
			default:
				r.warnf(rp, "security", "OAS-10", "security scheme %q is neither an API Gateway authorizer nor an API key; "+
					"API Gateway ignores it and so does proxyplus", name)
			}
		}
	}
	return authType, apiKey
}

// securityScheme finds a scheme by name: securityDefinitions (Swagger 2.0) or components.securitySchemes.
func (im *oasImporter) securityScheme(name string) map[string]any {
	var defs map[string]any
	if im.swagger {
		defs, _ = im.root["securityDefinitions"].(map[string]any)
	} else {
		components, _ := im.root["components"].(map[string]any)
		defs, _ = components["securitySchemes"].(map[string]any)
	}
	v, ok := defs[name]
	if !ok {
		return nil
	}
	// Unresolvable references are reported by kin-openapi; here they just mean "no scheme".
	resolved, _, found := lookupRef(im.root, v)
	if !found {
		return nil
	}
	scheme, _ := resolved.(map[string]any)
	return scheme
}

// lookupRef follows local references without reporting.
func lookupRef(root map[string]any, v any) (any, string, bool) {
	for hops := 0; hops < 32; hops++ {
		obj, _ := v.(map[string]any)
		ref, has := obj["$ref"].(string)
		if !has {
			return v, "", true
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, "", false
		}
		var ok bool
		if v, _, ok = lookupPointer(root, ref); !ok {
			return nil, "", false
		}
	}
	return nil, "", false
}

// schemeAuthType is the authorization type API Gateway derives from a security scheme's extensions.
func schemeAuthType(scheme map[string]any) string {
	if a, ok := scheme["x-amazon-apigateway-authorizer"].(map[string]any); ok {
		if t, _ := a["type"].(string); strings.EqualFold(t, "cognito_user_pools") {
			return "COGNITO_USER_POOLS"
		}
		return "CUSTOM"
	}
	if t, ok := scheme["x-amazon-apigateway-authtype"].(string); ok {
		switch strings.ToLower(t) {
		case "awssigv4":
			return "AWS_IAM"
		case "cognito_user_pools":
			return "COGNITO_USER_POOLS"
		}
		return "CUSTOM"
	}
	return ""
}

// extensionNotes explains, per unsupported API Gateway extension, what proxyplus does instead (OAS-10).
var extensionNotes = map[string]string{
	"x-amazon-apigateway-authorizer":         "authorizers are not run yet; methods that use this one refuse every request as API Gateway refuses one without credentials (fail-closed, see " + diag.RuleUnenforcedAuthorization + ")",
	"x-amazon-apigateway-authtype":           "this authorization is not enforced yet; methods that use it refuse every request as API Gateway refuses one without credentials (fail-closed, see " + diag.RuleUnenforcedAuthorization + ")",
	"x-amazon-apigateway-request-validator":  "request validation is not supported; requests reach the integration unvalidated",
	"x-amazon-apigateway-request-validators": "request validation is not supported; requests reach the integration unvalidated",
	"x-amazon-apigateway-policy":             "resource policies are not supported; proxyplus does not enforce them",
}

// reportExtensions walks the whole document and warns about every x-amazon-apigateway-* key the importer did not
// read, so nothing the user asked API Gateway for disappears silently (OAS-10).
func (im *oasImporter) reportExtensions(v any, path string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := child(path, k)
			if !strings.HasPrefix(k, extPrefix) {
				im.reportExtensions(v[k], p)
				continue
			}
			if im.handled[p] {
				if k == extAnyMethod {
					im.reportExtensions(v[k], p)
				}
				continue
			}
			note, known := extensionNotes[k]
			switch {
			case known:
			case k == extIntegration || k == extAnyMethod || k == extBinaryMediaTypes:
				note = "this extension is not read at this location; it is ignored"
			default:
				note = "this extension is not supported by proxyplus; it is ignored"
			}
			im.doc.r.warnf(p, k, "OAS-10", "%s", note)
		}
	case []any:
		for i, e := range v {
			im.reportExtensions(e, index(path, i))
		}
	}
}
