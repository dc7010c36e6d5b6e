package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/diag"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// want describes one expected diagnostic; msg is a substring of its message.
type want struct {
	sev                    diag.Severity
	rule, path, field, msg string
}

func errAt(rule, path, field, msg string) want  { return want{diag.Error, rule, path, field, msg} }
func warnAt(rule, path, field, msg string) want { return want{diag.Warning, rule, path, field, msg} }

// checkDiags asserts that got holds exactly the wanted diagnostics, and that each renders with the file, path,
// field and rule a user needs to find it.
func checkDiags(t *testing.T, file string, got diag.List, wants ...want) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range wants {
		found := false
		for i, d := range got {
			if used[i] || d.Severity != w.sev || d.Rule != w.rule || d.Path != w.path || d.Field != w.field ||
				!strings.Contains(d.Message, w.msg) {
				continue
			}
			used[i], found = true, true
			s := d.String()
			for _, part := range []string{file, w.path, w.field, "[" + w.rule + "]"} {
				if !strings.Contains(s, part) {
					t.Errorf("%q does not name %q", s, part)
				}
			}
			break
		}
		if !found {
			t.Errorf("missing %s %s at %s (%s) containing %q", w.sev, w.rule, w.path, w.field, w.msg)
		}
	}
	for i, d := range got {
		if !used[i] {
			t.Errorf("unexpected diagnostic %s", d)
		}
	}
	if err := got.Err(); (err != nil) != (len(got.Errors()) > 0) {
		t.Errorf("Err() = %v with %d errors", err, len(got.Errors()))
	}
}

const lambdaURI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:pets/invocations"

// baseAPI is a valid, normalised model: resources[1] is /pets with an HTTP_PROXY GET and an AWS_PROXY POST.
func baseAPI() *apigatewayv1.RestApi {
	return &apigatewayv1.RestApi{
		Id:   "abcdefghij",
		Name: "pets",
		Resources: []*apigatewayv1.Resource{
			{Id: "root00", Path: "/"},
			{Id: "pets00", Path: "/pets", ResourceMethods: map[string]*apigatewayv1.Method{
				"GET": {
					HttpMethod:        "GET",
					AuthorizationType: "NONE",
					RequestParameters: map[string]bool{"method.request.querystring.type": false, "method.request.header.X-Trace": false},
					Integration:       &apigatewayv1.Integration{Type: "HTTP_PROXY", HttpMethod: "GET", Uri: "https://backend.example/pets"},
				},
				"POST": {
					HttpMethod:        "POST",
					AuthorizationType: "NONE",
					Integration:       &apigatewayv1.Integration{Type: "AWS_PROXY", HttpMethod: "POST", Uri: lambdaURI},
				},
			}},
		},
		Stages: []*apigatewayv1.Stage{{StageName: "test", Variables: map[string]string{"backend": "backend.example"}}},
	}
}

func getMethod(api *apigatewayv1.RestApi) *apigatewayv1.Method {
	return api.Resources[1].ResourceMethods["GET"]
}
func postMethod(api *apigatewayv1.RestApi) *apigatewayv1.Method {
	return api.Resources[1].ResourceMethods["POST"]
}

func addResources(api *apigatewayv1.RestApi, paths ...string) {
	for _, p := range paths {
		api.Resources = append(api.Resources, &apigatewayv1.Resource{Path: p})
	}
}

func mapParam(api *apigatewayv1.RestApi, m func(*apigatewayv1.RestApi) *apigatewayv1.Method, key, value string) {
	in := m(api).Integration
	if in.RequestParameters == nil {
		in.RequestParameters = map[string]string{}
	}
	in.RequestParameters[key] = value
}

const (
	getLoc   = "$.resources[1].resourceMethods.GET"
	getInteg = getLoc + ".integration"
	postLoc  = "$.resources[1].resourceMethods.POST"
	postInt  = postLoc + ".integration"
	stage0   = "$.stages[0]"
)

func TestValidateRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(api *apigatewayv1.RestApi)
		want   []want
	}{
		{"valid", func(*apigatewayv1.RestApi) {}, nil},

		// RES-2
		{"RES-2 charset", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/a b") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", `path part "a b" is not valid`)}},
		{"RES-2 partial parameter", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/res{id}") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", "takes a whole path part")}},
		{"RES-2 two parameters in one part", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/{a}{b}") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", "takes a whole path part")}},
		{"RES-2 no leading slash", func(a *apigatewayv1.RestApi) { addResources(a, "pets/x") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", `must start with "/"`)}},
		{"RES-2 trailing slash", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", `must not end with "/"`)}},
		{"RES-2 empty part", func(a *apigatewayv1.RestApi) { addResources(a, "/pets//x") },
			[]want{errAt("RES-2", "$.resources[2].path", "path", "empty path part")}},
		{"RES-2 allowed characters", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/a_b-c.d,e:f", "/pets/{id}") }, nil},

		// RES-3, RES-4, RES-5, RES-6, RES-7
		{"RES-3 two variable children", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/{id}", "/pets/{name}") },
			[]want{errAt("RES-3", "$.resources[3].path", "path",
				"A sibling ({id}) of this resource already has a variable path part -- only one is allowed")}},
		{"RES-3 greedy and variable siblings", func(a *apigatewayv1.RestApi) { addResources(a, "/{proxy+}", "/{id}") },
			[]want{errAt("RES-3", "$.resources[2].path", "path", "A sibling ({id}) of this resource")}},
		{"RES-4 child of greedy", func(a *apigatewayv1.RestApi) { addResources(a, "/{proxy+}", "/{proxy+}/x") },
			[]want{errAt("RES-4", "$.resources[3].path", "path",
				"Cannot create a child of a resource with a greedy path variable: {proxy+}")}},
		{"RES-5 greedy under a parameter", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/{id}", "/pets/{id}/{child+}") }, nil},
		{"RES-6 duplicate", func(a *apigatewayv1.RestApi) { addResources(a, "/pets") },
			[]want{errAt("RES-6", "$.resources[2].path", "path", "declared twice")}},
		{"RES-7 parameter twice", func(a *apigatewayv1.RestApi) { addResources(a, "/pets/{id}", "/pets/{id}/owners/{id}") },
			[]want{errAt("RES-7", "$.resources[3].path", "path", `path parameter "id" appears twice`)}},

		// RES-8, RES-9
		{"RES-8 unknown method", func(a *apigatewayv1.RestApi) {
			a.Resources[1].ResourceMethods["FETCH"] = getMethod(a)
		}, []want{errAt("RES-8", "$.resources[1].resourceMethods.FETCH", "resourceMethods", `"FETCH" on /pets is not an API Gateway method`)}},
		{"RES-8 lower-case key", func(a *apigatewayv1.RestApi) {
			a.Resources[1].ResourceMethods["put"] = getMethod(a)
		}, []want{errAt("RES-8", "$.resources[1].resourceMethods.put", "resourceMethods", `(write "PUT")`)}},
		{"RES-8 httpMethod disagrees with key", func(a *apigatewayv1.RestApi) { getMethod(a).HttpMethod = "PUT" },
			[]want{errAt("RES-8", getLoc+".httpMethod", "httpMethod", `httpMethod "PUT" of GET /pets disagrees with the key "GET"`)}},
		{"RES-9 no integration", func(a *apigatewayv1.RestApi) { getMethod(a).Integration = nil },
			[]want{errAt("RES-9", getInteg, "integration", "GET /pets has no integration")}},

		// RES-10, LIM-7, LIM-8
		{"RES-10 stage name", func(a *apigatewayv1.RestApi) { a.Stages[0].StageName = "te st" },
			[]want{errAt("RES-10", stage0+".stageName", "stageName", `stage name "te st"`)}},
		{"RES-10 stage name length", func(a *apigatewayv1.RestApi) { a.Stages[0].StageName = strings.Repeat("s", 129) },
			[]want{errAt("RES-10", stage0+".stageName", "stageName", "1 to 128")}},
		{"RES-10 duplicate stage", func(a *apigatewayv1.RestApi) {
			a.Stages = append(a.Stages, &apigatewayv1.Stage{StageName: "test"})
		}, []want{errAt("RES-10", "$.stages[1].stageName", "stageName", `stage "test" is declared twice`)}},
		{"LIM-7 stages", func(a *apigatewayv1.RestApi) {
			for i := 1; i <= 10; i++ {
				a.Stages = append(a.Stages, &apigatewayv1.Stage{StageName: fmt.Sprintf("s%d", i)})
			}
		}, []want{warnAt("LIM-7", "$.stages", "stages", "11 stages")}},
		{"LIM-8 too many variables", func(a *apigatewayv1.RestApi) {
			for i := 0; i < 100; i++ {
				a.Stages[0].Variables[fmt.Sprintf("v%d", i)] = "x"
			}
		}, []want{errAt("LIM-8", stage0+".variables", "variables", "101 variables")}},
		{"LIM-8 long name", func(a *apigatewayv1.RestApi) { a.Stages[0].Variables[strings.Repeat("k", 65)] = "x" },
			[]want{errAt("LIM-8", stage0+".variables."+strings.Repeat("k", 65), "variables", "1 to 64 letters")}},
		{"LIM-8 name charset", func(a *apigatewayv1.RestApi) { a.Stages[0].Variables["a-b"] = "x" },
			[]want{errAt("LIM-8", stage0+".variables.a-b", "variables", `stage variable name "a-b"`)}},
		{"LIM-8 long value", func(a *apigatewayv1.RestApi) { a.Stages[0].Variables["v"] = strings.Repeat("x", 513) },
			[]want{errAt("LIM-8", stage0+".variables.v", "variables", "513 characters")}},
		{"LIM-8 value charset", func(a *apigatewayv1.RestApi) { a.Stages[0].Variables["v"] = "a b" },
			[]want{errAt("LIM-8", stage0+".variables.v", "variables", `has the value "a b"`)}},
		{"LIM-8 value allowed characters", func(a *apigatewayv1.RestApi) {
			a.Stages[0].Variables["v"] = "https://h.example:8443/p?q=1&r=2#f,~_-"
		}, nil},

		// RES-12
		{"RES-12 AWS type", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Type = "AWS" },
			[]want{warnAt("RES-12", getInteg+".type", "type", "unsupported integration type AWS; method GET /pets will not be served")}},
		{"RES-12 HTTP type", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Type = "HTTP" },
			[]want{warnAt("RES-12", getInteg+".type", "type", "unsupported integration type HTTP")}},
		{"RES-12 MOCK is served", func(a *apigatewayv1.RestApi) {
			getMethod(a).Integration = &apigatewayv1.Integration{Type: "MOCK"}
		}, nil},
		{"RES-12 unknown type", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Type = "LAMBDA" },
			[]want{errAt("RES-12", getInteg+".type", "type", `integration type "LAMBDA" of GET /pets is not an API Gateway type`)}},
		{"RES-12 missing type", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Type = "" },
			[]want{errAt("RES-12", getInteg+".type", "type", "has no type")}},
		{"RES-12 authorizer", func(a *apigatewayv1.RestApi) { getMethod(a).AuthorizationType = "CUSTOM" },
			[]want{warnAt(diag.RuleUnenforcedAuthorization, getLoc+".authorizationType", "authorizationType", "GET /pets requires a Lambda authorizer (CUSTOM), which proxyplus does not enforce yet: it is served fail-closed")}},
		{"AUTH-1 AWS_IAM", func(a *apigatewayv1.RestApi) { getMethod(a).AuthorizationType = "AWS_IAM" },
			[]want{warnAt(diag.RuleUnenforcedAuthorization, getLoc+".authorizationType", "authorizationType", `answering every request 403 {"message":"Missing Authentication Token"}`)}},
		{"AUTH-2 opt-out", func(a *apigatewayv1.RestApi) {
			getMethod(a).AuthorizationType = "COGNITO_USER_POOLS"
			a.ServeUnauthenticatedInsecure = true
		}, []want{warnAt(diag.RuleServedUnauthenticated, getLoc+".authorizationType", "authorizationType", "INSECURE: GET /pets requires a Cognito user pool authorizer")}},
		{"RES-12 unknown authorization type", func(a *apigatewayv1.RestApi) { getMethod(a).AuthorizationType = "cognito" },
			[]want{errAt("RES-12", getLoc+".authorizationType", "authorizationType", `authorization type "cognito" of GET /pets is not an API Gateway type`)}},
		{"RES-12 API key", func(a *apigatewayv1.RestApi) { getMethod(a).ApiKeyRequired = true }, nil},
		{"RES-12 API key from the authorizer", func(a *apigatewayv1.RestApi) { getMethod(a).ApiKeyRequired = true; a.ApiKeySource = "AUTHORIZER" },
			[]want{warnAt(diag.RuleUnenforcedAuthorization, getLoc+".apiKeyRequired", "apiKeyRequired", "requires an API key from its Lambda authorizer")}},
		{"OAS-4 VPC link", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.ConnectionType = "VPC_LINK" },
			[]want{warnAt("OAS-4", getInteg+".connectionType", "connectionType", "VPC_LINK is not supported")}},
		{"OAS-4 passthrough", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.PassthroughBehavior = "SOMETIMES" },
			[]want{errAt("OAS-4", getInteg+".passthroughBehavior", "passthroughBehavior", "WHEN_NO_MATCH")}},
		{"OAS-4 integration response key", func(a *apigatewayv1.RestApi) {
			getMethod(a).Integration.IntegrationResponses = map[string]*apigatewayv1.IntegrationResponse{"200": {StatusCode: "201"}}
		}, []want{errAt("OAS-4", getInteg+".integrationResponses['200'].statusCode", "statusCode", "keyed by their status code")}},

		// RES-13
		{"RES-13 AWS_PROXY GET", func(a *apigatewayv1.RestApi) { postMethod(a).Integration.HttpMethod = "GET" },
			[]want{warnAt("RES-13", postInt+".httpMethod", "httpMethod", "every invocation of POST /pets fails with 500")}},
		{"RES-13 AWS_PROXY without httpMethod", func(a *apigatewayv1.RestApi) { postMethod(a).Integration.HttpMethod = "" },
			[]want{errAt("RES-13", postInt+".httpMethod", "httpMethod", "has no httpMethod")}},

		// RES-14
		{"RES-14 below minimum", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.TimeoutInMillis = 49 },
			[]want{errAt("RES-14", getInteg+".timeoutInMillis", "timeoutInMillis", "timeout 49 ms of GET /pets is below")}},
		{"RES-14 minimum", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.TimeoutInMillis = 50 }, nil},
		{"RES-14 default", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.TimeoutInMillis = 0 }, nil},
		{"RES-14 maximum", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.TimeoutInMillis = 29000 }, nil},
		{"RES-14 above default maximum", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.TimeoutInMillis = 29001 },
			[]want{warnAt("RES-14", getInteg+".timeoutInMillis", "timeoutInMillis", "quota increase")}},

		// RES-15
		{"RES-15 port 81", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Uri = "http://backend.example:81/x" },
			[]want{errAt("RES-15", getInteg+".uri", "uri", "uses port 81")}},
		{"RES-15 port 1023", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Uri = "https://10.0.0.1:1023/" },
			[]want{errAt("RES-15", getInteg+".uri", "uri", "uses port 1023")}},
		{"RES-15 allowed ports", func(a *apigatewayv1.RestApi) {
			getMethod(a).Integration.Uri = "https://backend.example:8443/x"
			a.Resources[1].ResourceMethods["PUT"] = &apigatewayv1.Method{Integration: &apigatewayv1.Integration{
				Type: "HTTP_PROXY", HttpMethod: "ANY", Uri: "http://[::1]:65535/",
			}}
			a.Resources[1].ResourceMethods["PATCH"] = &apigatewayv1.Method{Integration: &apigatewayv1.Integration{
				Type: "HTTP_PROXY", HttpMethod: "ANY", Uri: "http://${stageVariables.backend}:${stageVariables.port}/x",
			}}
		}, nil},
		{"RES-15 scheme", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Uri = "ftp://backend.example/x" },
			[]want{errAt("RES-15", getInteg+".uri", "uri", `must use http or https, not "ftp"`)}},
		{"RES-15 relative", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Uri = "/pets" },
			[]want{errAt("RES-15", getInteg+".uri", "uri", "must be an absolute http:// or https:// URL")}},
		{"RES-15 missing uri", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.Uri = "" },
			[]want{errAt("RES-15", getInteg+".uri", "uri", "has no uri")}},
		{"HTP-7 HTTP_PROXY method", func(a *apigatewayv1.RestApi) { getMethod(a).Integration.HttpMethod = "" },
			[]want{errAt("HTP-7", getInteg+".httpMethod", "httpMethod", "must be DELETE, GET")}},

		// RES-17
		{"RES-17 not a function", func(a *apigatewayv1.RestApi) { postMethod(a).Integration.Uri = "https://lambda.example/f" },
			[]want{errAt("RES-17", postInt+".uri", "uri", "is not a Lambda function")}},
		{"RES-17 wrong service", func(a *apigatewayv1.RestApi) {
			postMethod(a).Integration.Uri = "arn:aws:apigateway:us-east-1:s3:path/bucket/key"
		}, []want{errAt("RES-17", postInt+".uri", "uri", "is not a Lambda function")}},
		{"RES-17 function name, ARN, alias, stage variable", func(a *apigatewayv1.RestApi) {
			postMethod(a).Integration.Uri = "my-function"
			a.Resources[1].ResourceMethods["PUT"] = &apigatewayv1.Method{Integration: &apigatewayv1.Integration{
				Type: "AWS_PROXY", HttpMethod: "POST", Uri: "arn:aws:lambda:eu-west-1:123456789012:function:f:live",
			}}
			a.Resources[1].ResourceMethods["PATCH"] = &apigatewayv1.Method{Integration: &apigatewayv1.Integration{
				Type: "AWS_PROXY", HttpMethod: "POST",
				Uri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}/invocations",
			}}
			a.Resources[1].ResourceMethods["DELETE"] = &apigatewayv1.Method{Integration: &apigatewayv1.Integration{
				Type: "AWS_PROXY", HttpMethod: "POST", Uri: "f:$LATEST",
			}}
		}, nil},

		// HTP-1
		{"HTP-1 placeholder without mapping", func(a *apigatewayv1.RestApi) {
			getMethod(a).Integration.Uri = "https://backend.example/pets/{id}"
		}, []want{errAt("HTP-1", getInteg+".uri", "uri", "placeholder {id} in the uri of GET /pets has no integration.request.path.id mapping")}},
		{"HTP-1 placeholder with mapping", func(a *apigatewayv1.RestApi) {
			getMethod(a).Integration.Uri = "https://backend.example/pets/{t}?q={t}"
			mapParam(a, getMethod, "integration.request.path.t", "method.request.querystring.type")
		}, nil},

		// HTP-3
		{"HTP-3 every source form", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.querystring.a", "method.request.querystring.type")
			mapParam(a, getMethod, "integration.request.querystring.b", "method.request.multivaluequerystring.type")
			mapParam(a, getMethod, "integration.request.header.c", "method.request.header.x-trace")
			mapParam(a, getMethod, "integration.request.header.d", "method.request.multivalueheader.X-Trace")
			mapParam(a, getMethod, "integration.request.header.e", "stageVariables.backend")
			mapParam(a, getMethod, "integration.request.header.f", "$stageVariables.backend")
			mapParam(a, getMethod, "integration.request.header.g", "context.requestId")
			mapParam(a, getMethod, "integration.request.header.h", "$context.identity.sourceIp")
			mapParam(a, getMethod, "integration.request.header.i", "'application/json'")
		}, nil},
		{"HTP-3 bad key", func(a *apigatewayv1.RestApi) { mapParam(a, getMethod, "integration.request.body.x", "'v'") },
			[]want{errAt("HTP-3", getInteg+".requestParameters['integration.request.body.x']", "requestParameters", "must be integration.request.path")}},
		{"HTP-3 bad source", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.header.x", "method.request.cookie.x")
		}, []want{errAt("HTP-3", getInteg+".requestParameters['integration.request.header.x']", "requestParameters", "must be method.request.")}},
		{"HTP-3 unterminated static value", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.header.x", "'v")
		}, []want{errAt("HTP-3", getInteg+".requestParameters['integration.request.header.x']", "requestParameters", "single quotes")}},
		{"HTP-3 undeclared source", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.querystring.x", "method.request.querystring.nope")
		}, []want{errAt("HTP-3", getInteg+".requestParameters['integration.request.querystring.x']", "requestParameters",
			"declare method.request.querystring.nope")}},
		{"HTP-3 body source", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.header.x", "method.request.body.name")
		}, []want{warnAt("HTP-3", getInteg+".requestParameters['integration.request.header.x']", "requestParameters", "not supported")}},
		{"HTP-3 method request parameter key", func(a *apigatewayv1.RestApi) {
			getMethod(a).RequestParameters["method.request.cookie.x"] = true
		}, []want{errAt("HTP-3", getLoc+".requestParameters['method.request.cookie.x']", "requestParameters", "must be method.request.path")}},

		// HTP-10, EVT-29
		{"HTP-10 Content-Length mapping", func(a *apigatewayv1.RestApi) {
			mapParam(a, getMethod, "integration.request.header.Content-Length", "'5'")
		}, []want{warnAt("HTP-10", getInteg+".requestParameters['integration.request.header.Content-Length']", "requestParameters", "fail with 500")}},
		{"EVT-29 Authorization mapping", func(a *apigatewayv1.RestApi) {
			mapParam(a, postMethod, "integration.request.header.authorization", "'x'")
		}, []want{warnAt("EVT-29", postInt+".requestParameters['integration.request.header.authorization']", "requestParameters", "POST /pets fail with 500")}},
		{"EVT-29 other headers are fine", func(a *apigatewayv1.RestApi) {
			mapParam(a, postMethod, "integration.request.header.X-Custom", "'x'")
		}, nil},

		// LIM-6, RES-16, ids, name
		{"LIM-6 resources", func(a *apigatewayv1.RestApi) {
			for i := 0; i < 299; i++ {
				addResources(a, fmt.Sprintf("/r%d", i))
			}
		}, []want{warnAt("LIM-6", "$", "", "301 resources")}},
		{"LIM-6 at the quota", func(a *apigatewayv1.RestApi) {
			for i := 0; i < 298; i++ {
				addResources(a, fmt.Sprintf("/r%d", i))
			}
		}, nil},
		{"RES-16 ping on a custom domain", func(a *apigatewayv1.RestApi) {
			a.Hosts = []string{"api.example.com"}
			addResources(a, "/ping")
		}, []want{warnAt("RES-16", "$.resources[2].path", "path", "reserved")}},
		{"API name", func(a *apigatewayv1.RestApi) { a.Name = "" }, []want{errAt("api-name", "$.name", "name", "no name")}},
		{"API id", func(a *apigatewayv1.RestApi) { a.Id = "My API" }, []want{errAt("ids", "$.id", "id", "lower-case letters and digits")}},
		{"resource id", func(a *apigatewayv1.RestApi) { a.Resources[1].Id = "root00" },
			[]want{errAt("ids", "$.resources[1].id", "id", `resource id "root00" of /pets is also the id of /`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := baseAPI()
			tc.mutate(api)
			checkDiags(t, "api.yaml", Validate("api.yaml", api), tc.want...)
		})
	}
}

// TestValidateImpliedParents: Validate on a model that was not normalised still sees the parents a path implies,
// and reports a conflict where the declaration that implied it is.
func TestValidateImpliedParents(t *testing.T) {
	api := baseAPI()
	addResources(api, "/a/{id}", "/a/{name}/x")
	checkDiags(t, "f", Validate("f", api),
		errAt("RES-3", "$.resources[3].path", "path", "A sibling ({id}) of this resource already has a variable path part"))
}

func TestValidateNil(t *testing.T) {
	checkDiags(t, "f", Validate("f", nil), errAt("model", "$", "", "no API definition"))
	api := baseAPI()
	api.Resources = append(api.Resources, nil)
	api.Stages = append(api.Stages, nil)
	api.Resources[1].ResourceMethods["PUT"] = nil
	checkDiags(t, "f", Validate("f", api),
		errAt("model", "$.resources[2]", "", "resource 2 is null"),
		errAt("model", "$.stages[1]", "stages", "stage 1 is null"),
		errAt("RES-9", "$.resources[1].resourceMethods.PUT", "resourceMethods", "method PUT /pets is null"))
}
