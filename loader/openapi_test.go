package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyplus/proxyplus/diag"
)

const oasPetsHead = `
openapi: 3.0.1
info: {title: pets, version: '1'}
`

// oasGet is an OpenAPI 3 document with GET /pets whose integration gets extra lines (indented 10 spaces).
func oasGet(integrationExtra string) string {
	return oasPetsHead + `paths:
  /pets:
    get:
      responses: {'200': {description: ok}}
      x-amazon-apigateway-integration:
          type: http_proxy
          httpMethod: GET
          uri: https://backend.example/pets
` + integrationExtra
}

const petsInteg = "$.paths['/pets'].get.x-amazon-apigateway-integration"

// TestLoadOpenAPIFindings: findings on OpenAPI input point into the OpenAPI document.
func TestLoadOpenAPIFindings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []want
	}{
		{"RES-14 timeout", oasGet("          timeoutInMillis: 10\n"),
			[]want{errAt("RES-14", petsInteg+".timeoutInMillis", "timeoutInMillis", "below API Gateway's minimum")}},
		{"OAS-4 timeout type", oasGet("          timeoutInMillis: soon\n"),
			[]want{errAt("OAS-4", petsInteg+".timeoutInMillis", "timeoutInMillis", "must be a whole number, not a string")}},
		{"OAS-4 timeout fraction", oasGet("          timeoutInMillis: 100.5\n"),
			[]want{errAt("OAS-4", petsInteg+".timeoutInMillis", "timeoutInMillis", "must be a whole number")}},
		{"HTP-1 placeholder", oasPetsHead + `paths:
  /pets/{id}:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: HTTP_PROXY, httpMethod: GET, uri: 'https://backend.example/pets/{id}'}
`, []want{errAt("HTP-1", "$.paths['/pets/{id}'].get.x-amazon-apigateway-integration.uri", "uri", "placeholder {id}")}},
		{"HTP-3 undeclared parameter", oasGet("          requestParameters: {integration.request.header.x: method.request.header.x}\n"),
			[]want{errAt("HTP-3", petsInteg+".requestParameters['integration.request.header.x']", "requestParameters", "not a declared method request parameter")}},
		{"HTP-3 method parameter name", oasPetsHead + `paths:
  /pets:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: 'a b', in: query, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: HTTP_PROXY, httpMethod: GET, uri: 'https://backend.example/pets'}
`, []want{errAt("HTP-3", "$.paths['/pets'].get.parameters", "parameters", `"method.request.querystring.a b"`)}},
		{"RES-9 no integration", oasPetsHead + "paths:\n  /pets:\n    get: {operationId: list, responses: {'200': {description: ok}}}\n",
			[]want{errAt("RES-9", "$.paths['/pets'].get.x-amazon-apigateway-integration", "x-amazon-apigateway-integration", "GET /pets has no integration")}},
		{"RES-12 AWS", strings.Replace(oasGet(""), "http_proxy", "aws", 1),
			[]want{warnAt("RES-12", petsInteg+".type", "type", "unsupported integration type AWS; method GET /pets will not be served")}},
		{"RES-2 path", oasPetsHead + "paths:\n  /pets/res{id}:\n    get:\n      responses: {'200': {description: ok}}\n      x-amazon-apigateway-integration: {type: MOCK}\n",
			[]want{
				errAt("RES-2", "$.paths['/pets/res{id}']", "path", `path part "res{id}" is not valid`),
				warnAt("OAS-1", "$", "", "does not validate"),
			}},
		// OAS-7: /a/{name} is implied by /a/{name}/x and conflicts with /a/{id}; the finding points at the path
		// that implied it.
		{"OAS-7 implied conflict", oasPetsHead + `paths:
  /a/{id}:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: MOCK}
  /a/{name}/x:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: name, in: path, required: true, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: MOCK}
`, []want{errAt("RES-3", "$.paths['/a/{name}/x']", "path", "A sibling ({id}) of this resource already has a variable path part")}},
		{"RES-4 child of greedy", oasPetsHead + `paths:
  /{proxy+}/x:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: proxy, in: path, required: true, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: MOCK}
`, []want{errAt("RES-4", "$.paths['/{proxy+}/x']", "path", "Cannot create a child of a resource with a greedy path variable: {proxy+}")}},

		// OAS-1
		{"OAS-1 3.1", strings.Replace(oasGet(""), "3.0.1", "3.1.0", 1),
			[]want{warnAt("OAS-1", "$.openapi", "openapi", "OpenAPI 3.1.0 may not import")}},
		{"OAS-1 unquoted 3.0", strings.Replace(oasGet(""), "3.0.1", "3.0", 1), nil},
		{"OAS-1 version 4", strings.Replace(oasGet(""), "3.0.1", "4.0.0", 1),
			[]want{errAt("OAS-1", "$.openapi", "openapi", `OpenAPI version "4.0.0" is not supported`)}},
		{"OAS-1 Swagger 1.2", `{"swagger": "1.2", "info": {"title": "x"}}`,
			[]want{errAt("OAS-1", "$.swagger", "swagger", `Swagger version "1.2" is not supported`)}},
		// kin-openapi cannot read these; the importer's own reading locates the problem.
		{"OAS-1 not OpenAPI", oasPetsHead + "paths: 5\n",
			[]want{errAt("OAS-1", "$.paths", "paths", "paths must be an object, not a number")}},
		{"OAS-1 external reference", oasPetsHead + `paths:
  /pets:
    get:
      responses: {'200': {description: ok}}
      parameters: [{$ref: 'other.yaml#/p'}]
      x-amazon-apigateway-integration: {type: MOCK}
`, []want{errAt("OAS-1", "$.paths['/pets'].get.parameters[0].$ref", "$ref", "points outside the document")}},
		{"OAS-1 paths missing", oasPetsHead,
			[]want{warnAt("OAS-1", "$", "", "does not validate")}},
		{"api-name", strings.Replace(oasGet(""), "title: pets, ", "", 1), []want{
			errAt("api-name", "$.info.title", "title", "no name"),
			warnAt("OAS-1", "$", "", "does not validate"),
		}},

		// OAS-3, OAS-8: path-item parameters and the ANY method.
		{"OAS-3 ANY with path-item parameters", oasPetsHead + `paths:
  /{proxy+}:
    parameters: [{name: proxy, in: path, required: true, schema: {type: string}}]
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: ANY
        uri: 'https://backend.example/{proxy}'
        requestParameters: {integration.request.path.proxy: method.request.path.proxy}
`, nil},
		{"OAS-8 cookie parameter", oasPetsHead + `paths:
  /pets:
    get:
      responses: {'200': {description: ok}}
      parameters: [{name: session, in: cookie, schema: {type: string}}]
      x-amazon-apigateway-integration: {type: MOCK}
`, []want{warnAt("OAS-8", "$.paths['/pets'].get.parameters[0].in", "in", `cookie parameter "session" is not supported`)}},
		{"RES-8 trace", oasPetsHead + "paths:\n  /pets:\n    trace:\n      responses: {'200': {description: ok}}\n",
			[]want{warnAt("RES-8", "$.paths['/pets'].trace", "trace", "TRACE is not an API Gateway method")}},

		// OAS-4
		{"OAS-4 STREAM", oasGet("          responseTransferMode: STREAM\n"),
			[]want{warnAt("OAS-4", petsInteg+".responseTransferMode", "responseTransferMode", "STREAM) is not supported")}},
		{"OAS-4 VPC link", oasGet("          connectionType: vpc_link\n          connectionId: abc\n"),
			[]want{warnAt("OAS-4", petsInteg+".connectionType", "connectionType", "VPC_LINK is not supported")}},
		{"OAS-4 unknown field", oasGet("          payloadFormatVersion: '2.0'\n"),
			[]want{warnAt("OAS-4", petsInteg+".payloadFormatVersion", "payloadFormatVersion", "is not supported by proxyplus")}},
		{"OAS-4 tlsConfig", oasGet("          tlsConfig: {insecureSkipVerification: true, serverNameToVerify: x}\n"),
			[]want{warnAt("OAS-4", petsInteg+".tlsConfig.serverNameToVerify", "serverNameToVerify", "is not supported")}},
		{"OAS-4 response without status", oasGet("          responses: {default: {}}\n"),
			[]want{errAt("OAS-4", petsInteg+".responses.default.statusCode", "statusCode", "has no statusCode")}},
		{"OAS-4 two responses, one status", oasGet("          responses: {default: {statusCode: 200}, '2\\d\\d': {statusCode: '200'}}\n"),
			[]want{warnAt("OAS-4", petsInteg+".responses['2\\\\d\\\\d']", "responses", `only "default" is kept`)}},
		{"OAS-4 requestParameters type", oasGet("          requestParameters: {integration.request.header.x: 5}\n"),
			[]want{errAt("OAS-4", petsInteg+".requestParameters['integration.request.header.x']", "requestParameters", "must be a string, not a number")}},

		// OAS-10
		// Root security is inherited by operations without their own (AUTHORIZERS.md §7); the finding points at it.
		{"AUTH-1 root security", oasGet("") + "x-amazon-apigateway-api-key-source: AUTHORIZER\nsecurity: [{key: []}]\ncomponents: {securitySchemes: {key: {type: apiKey, name: x-api-key, in: header}}}\n",
			[]want{warnAt(diag.RuleUnenforcedAuthorization, "$.security", "security", `GET /pets requires an API key from its Lambda authorizer (apiKeySource AUTHORIZER), which proxyplus does not enforce yet: it is served fail-closed, answering every request 403 {"message":"Forbidden"}`)}},
		{"AUTH-1 root security, operation opts out", strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: []\n", 1) +
			"security: [{key: []}]\ncomponents: {securitySchemes: {key: {type: apiKey, name: x-api-key, in: header}}}\n",
			nil},
		{"AUTH-2 insecure opt-out", oasGet("") + "x-proxyplus-serve-unauthenticated-insecure: true\nx-amazon-apigateway-api-key-source: AUTHORIZER\nsecurity: [{key: []}]\n" +
			"components: {securitySchemes: {key: {type: apiKey, name: x-api-key, in: header}}}\n",
			[]want{warnAt(diag.RuleServedUnauthenticated, "$.security", "security", "INSECURE: GET /pets requires an API key")}},
		{"AUTH-2 opt-out type", oasGet("") + "x-proxyplus-serve-unauthenticated-insecure: 'yes'\n",
			[]want{errAt("OAS-1", "$.x-proxyplus-serve-unauthenticated-insecure", "x-proxyplus-serve-unauthenticated-insecure", "true or false")}},
		// An API key from x-api-key is checked (authz over ext_authz): nothing to report.
		{"OAS-10 API key", strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: [{key: []}]\n", 1) +
			"components: {securitySchemes: {key: {type: apiKey, name: x-api-key, in: header}}}\n",
			nil},
		{"OAS-10 API key from the authorizer", strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: [{key: []}]\n", 1) +
			"x-amazon-apigateway-api-key-source: AUTHORIZER\ncomponents: {securitySchemes: {key: {type: apiKey, name: x-api-key, in: header}}}\n",
			[]want{warnAt(diag.RuleUnenforcedAuthorization, "$.paths['/pets'].get.security", "security", "GET /pets requires an API key from its Lambda authorizer")}},
		{"OAS-10 authorizer", strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: [{auth: []}]\n", 1) + `components:
  securitySchemes:
    auth:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer: {type: token, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations'}
x-amazon-apigateway-gateway-responses: {DEFAULT_4XX: {statusCode: 400}}
x-amazon-apigateway-policy: {Version: '2012-10-17'}
x-amazon-apigateway-api-key-source: HEADER
x-amazon-apigateway-minimum-compression-size: 0
`, []want{
			// The Lambda authorizer is enforced and its extensions read (issue 11), the API key source too: no AUTH-1,
			// no OAS-10 for them.
			warnAt("OAS-10", "$.x-amazon-apigateway-policy", "x-amazon-apigateway-policy", "resource policies"),
			warnAt("OAS-10", "$.x-amazon-apigateway-minimum-compression-size", "x-amazon-apigateway-minimum-compression-size", "not supported by proxyplus"),
		}},
		{"OAS-10 undefined scheme", strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: [{nope: []}]\n", 1),
			[]want{
				warnAt("OAS-10", "$.paths['/pets'].get.security[0]", "security", `security scheme "nope" is not defined`),
				warnAt("OAS-1", "$", "", "does not validate"),
			}},
		{"OAS-10 misplaced integration", oasGet("") + "x-amazon-apigateway-integration: {type: MOCK}\n",
			[]want{warnAt("OAS-10", "$.x-amazon-apigateway-integration", "x-amazon-apigateway-integration", "not read at this location")}},
		{"OAS-5 binary media types type", oasGet("") + "x-amazon-apigateway-binary-media-types: image/png\n",
			[]want{errAt("OAS-1", "$.x-amazon-apigateway-binary-media-types", "x-amazon-apigateway-binary-media-types", "must be an array of strings")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Load("api.yaml", []byte(tc.doc), Options{})
			checkDiags(t, "api.yaml", res.Diagnostics, tc.want...)
			if (err != nil) != (len(res.Diagnostics.Errors()) > 0) {
				t.Errorf("err = %v with diagnostics %v", err, res.Diagnostics)
			}
			var le *diag.ListError
			if err != nil && !errors.As(err, &le) {
				t.Errorf("err is %T, want *diag.ListError", err)
			}
		})
	}
}

func TestLoadOpenAPIModel(t *testing.T) {
	doc := `openapi: 3.0.1
info: {title: pets, version: '1', description: Pets API}
x-amazon-apigateway-binary-media-types: [image/png, '*/*']
paths:
  /pets/{id}:
    parameters:
    - {name: id, in: path, required: true, schema: {type: string}}
    - {name: X-Trace, in: header, schema: {type: string}}
    get:
      operationId: GetPet
      responses: {'200': {description: ok}}
      parameters:
      - {$ref: '#/components/parameters/verbose'}
      - {name: X-Trace, in: header, required: true, schema: {type: string}}
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: get
        uri: 'https://backend.example/pets/{id}'
        requestParameters: {integration.request.path.id: method.request.path.id}
        timeoutInMillis: 1000
        passthroughBehavior: when_no_templates
        tlsConfig: {insecureSkipVerification: true}
        responses:
          default: {statusCode: 200}
          '4\d\d': {statusCode: '400', contentHandling: convert_to_text}
components:
  parameters:
    verbose: {name: verbose, in: query, schema: {type: boolean}}
`
	res, err := Load("api.yaml", []byte(doc), Options{})
	if err != nil || len(res.Diagnostics) != 0 {
		t.Fatalf("Load: %v %v", err, res.Diagnostics)
	}
	api := res.API
	if api.Name != "pets" || api.Description != "Pets API" || !cmp.Equal(api.BinaryMediaTypes, []string{"image/png", "*/*"}) {
		t.Errorf("api %q %q %v", api.Name, api.Description, api.BinaryMediaTypes)
	}
	if diff := cmp.Diff([]string{"/", "/pets", "/pets/{id}"}, resourcePaths(api)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	m := findResource(t, api, "/pets/{id}").ResourceMethods["GET"]
	if m.OperationName != "GetPet" || m.HttpMethod != "GET" || m.AuthorizationType != "NONE" {
		t.Errorf("method %v", m)
	}
	wantParams := map[string]bool{
		"method.request.path.id": true, "method.request.header.X-Trace": true, "method.request.querystring.verbose": false,
	}
	if diff := cmp.Diff(wantParams, m.RequestParameters); diff != "" {
		t.Errorf("request parameters (-want +got):\n%s", diff)
	}
	in := m.Integration
	if in.HttpMethod != "GET" || in.TimeoutInMillis != 1000 || in.PassthroughBehavior != "WHEN_NO_TEMPLATES" || !in.TlsConfig.GetInsecureSkipVerification() {
		t.Errorf("integration %v", in)
	}
	if r := in.IntegrationResponses["200"]; r == nil || r.SelectionPattern != "" {
		t.Errorf("default response %v", r)
	}
	if r := in.IntegrationResponses["400"]; r == nil || r.SelectionPattern != `4\d\d` || r.ContentHandling != "CONVERT_TO_TEXT" {
		t.Errorf("4xx response %v", r)
	}
}

// TestLoadBasePath covers OAS-6 for Swagger's basePath and OpenAPI 3's servers.
func TestLoadBasePath(t *testing.T) {
	swagger := `{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "basePath": "/v1/api",
	  "paths": {"/": {"get": {"responses": {"200": {"description": "ok"}}, "x-amazon-apigateway-integration": {"type": "mock"}}},
	            "/pets": {"get": {"responses": {"200": {"description": "ok"}}, "x-amazon-apigateway-integration": {"type": "mock"}}}}}`
	oasVar := `{"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
	  "servers": [{"url": "https://h.example/{basePath}", "variables": {"basePath": {"default": "/v1/api"}}}],
	  "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}, "x-amazon-apigateway-integration": {"type": "mock"}}}}}`
	oasURL := `{"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
	  "servers": [{"url": "https://{host}/v1/api?x=1", "variables": {"host": {"default": "h.example"}}}],
	  "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}, "x-amazon-apigateway-integration": {"type": "mock"}}}}}`
	for _, tc := range []struct {
		name, doc, mode string
		want            []string
	}{
		{"swagger ignore", swagger, "", []string{"/", "/pets"}},
		{"swagger prepend", swagger, BasePathPrepend, []string{"/", "/v1", "/v1/api", "/v1/api/pets"}},
		{"swagger split", swagger, BasePathSplit, []string{"/", "/api", "/api/pets"}},
		{"oas variable ignore", oasVar, BasePathIgnore, []string{"/", "/pets"}},
		{"oas variable prepend", oasVar, BasePathPrepend, []string{"/", "/v1", "/v1/api", "/v1/api/pets"}},
		{"oas url prepend", oasURL, BasePathPrepend, []string{"/", "/v1", "/v1/api", "/v1/api/pets"}},
		{"oas url split", oasURL, BasePathSplit, []string{"/", "/api", "/api/pets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Load("api.json", []byte(tc.doc), Options{BasePathMode: tc.mode})
			if err != nil || len(res.Diagnostics) != 0 {
				t.Fatalf("Load: %v %v", err, res.Diagnostics)
			}
			if diff := cmp.Diff(tc.want, resourcePaths(res.API)); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			if len(res.API.Stages) != 0 {
				t.Errorf("stages %v: base paths never create stages", res.API.Stages)
			}
		})
	}
	res, err := Load("api.json", []byte(swagger), Options{BasePathMode: "append"})
	if err == nil {
		t.Fatal("unknown base path mode accepted")
	}
	checkDiags(t, "api.json", res.Diagnostics, errAt("OAS-6", "", "", `unknown base path mode "append"`))

	bad := strings.Replace(swagger, "/v1/api", "/v 1", 1)
	res, _ = Load("api.json", []byte(bad), Options{BasePathMode: BasePathPrepend})
	checkDiags(t, "api.json", res.Diagnostics, errAt("OAS-6", "$.basePath", "basePath", `path part "v 1"`))
}

// TestLoadOpenAPISecurity: root-level security applies to every operation without its own, an operation's own list
// (empty included) replaces it, as API Gateway's importer does (AUTHORIZERS.md §7).
func TestLoadOpenAPISecurity(t *testing.T) {
	doc := oasPetsHead + `security: [{pool: [email]}]
components:
  securitySchemes:
    pool:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: cognito_user_pools
      x-amazon-apigateway-authorizer: {type: cognito_user_pools, providerARNs: ['arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_X']}
    key: {type: apiKey, name: x-api-key, in: header}
    sig: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
paths:
  /inherits:
    get: {x-amazon-apigateway-integration: {type: mock}}
  /open:
    get: {security: [], x-amazon-apigateway-integration: {type: mock}}
  /key:
    get: {security: [{key: []}], x-amazon-apigateway-integration: {type: mock}}
  /iam:
    get: {security: [{sig: []}], x-amazon-apigateway-integration: {type: mock}}
`
	res, _ := Load("api.yaml", []byte(doc), Options{})
	if res.API == nil {
		t.Fatalf("no model: %v", res.Diagnostics)
	}
	for path, want := range map[string]struct {
		auth string
		key  bool
	}{"/inherits": {"COGNITO_USER_POOLS", false}, "/open": {"NONE", false}, "/key": {"NONE", true}, "/iam": {"AWS_IAM", false}} {
		m := findResource(t, res.API, path).ResourceMethods["GET"]
		if m.AuthorizationType != want.auth || m.ApiKeyRequired != want.key {
			t.Errorf("GET %s: authorizationType %s apiKeyRequired %v, want %s %v", path, m.AuthorizationType, m.ApiKeyRequired, want.auth, want.key)
		}
	}
	for _, d := range res.Diagnostics {
		if strings.Contains(d.Message, "document root is ignored") {
			t.Errorf("the old, wrong root-security warning is back: %v", d)
		}
	}
}

// TestLoadExportedID: an export that names the API's execute-api host keeps that API id (issue 10 scope 5).
func TestLoadExportedID(t *testing.T) {
	paths := "paths:\n  /pets:\n    get: {x-amazon-apigateway-integration: {type: mock}}\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"OAS3 servers with basePath variable", oasPetsHead + `servers:
- url: https://4z9giyi2c1.execute-api.us-east-1.amazonaws.com/{basePath}
  variables: {basePath: {default: /test}}
` + paths, "4z9giyi2c1"},
		{"OAS3 host from variables", oasPetsHead + `servers:
- url: https://example.com/v1
- url: 'https://{restApiId}.execute-api.{region}.amazonaws.com/prod'
  variables: {restApiId: {default: a1b2c3d4e5}, region: {default: eu-west-1}}
` + paths, "a1b2c3d4e5"},
		{"Swagger host", "swagger: '2.0'\ninfo: {title: pets, version: '1'}\nhost: gy415nuibc.execute-api.us-east-1.amazonaws.com\nbasePath: /testStage\n" + paths, "gy415nuibc"},
		{"custom domain: derived", oasPetsHead + "servers: [{url: 'https://api.example.com/'}]\n" + paths, apiID("pets")},
		{"no servers: derived", oasPetsHead + paths, apiID("pets")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Load("api.yaml", []byte(tc.doc), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.API.Id != tc.want {
				t.Errorf("id %q, want %q", res.API.Id, tc.want)
			}
		})
	}
}
