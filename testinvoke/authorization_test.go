package testinvoke_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
)

// protectedAPI has root-level Cognito security (inherited by /me), a per-method Lambda authorizer on an HTTP_PROXY
// method, an API key, AWS_IAM on ANY, and a public method whose empty security replaces the root's. insecure adds
// the opt-out.
func protectedAPI(backend string, insecure bool) string {
	optOut := ""
	if insecure {
		optOut = "x-proxyplus-serve-unauthenticated-insecure: true\n"
	}
	lambda := `      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:echo/invocations
`
	return `openapi: 3.0.1
info: {title: protected, version: '1'}
` + optOut + `security: [{pool: []}]
components:
  securitySchemes:
    pool:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: cognito_user_pools
      x-amazon-apigateway-authorizer: {type: cognito_user_pools, providerARNs: ['arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_TESTPOOL']}
    token:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer: {type: token, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations'}
    api_key: {type: apiKey, name: x-api-key, in: header}
    sigv4: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
paths:
  /me:
    get:
` + lambda + `  /pets/{petId}:
    get:
      security: [{token: []}]
      parameters: [{name: petId, in: path, required: true, schema: {type: string}}]
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: ` + backend + `/pets/{petId}
        requestParameters: {integration.request.path.petId: method.request.path.petId}
  /inventory:
    get:
      security: [{api_key: []}]
` + lambda + `  /admin:
    x-amazon-apigateway-any-method:
      security: [{sigv4: []}]
` + lambda + `  /public:
    get:
      security: []
` + lambda
}

// TestProtectedMethodsFailClosed: through the generated Envoy configuration and the route evaluator, a method that
// requires authorization proxyplus does not enforce answers as API Gateway answers a request without credentials
// and never reaches its integration, whatever credentials the request carries (issue 10 scope 1).
func TestProtectedMethodsFailClosed(t *testing.T) {
	inv, lambdaCalls, backendCalls := protectedInvoker(t, false)
	for _, tc := range []struct {
		name, method, target string
		headers              [][2]string
		status               int
		body, errorType      string
	}{
		{"root Cognito, no token", "GET", "/prod/me", nil, 401, `{"message":"Unauthorized"}`, "UnauthorizedException"},
		{"root Cognito, a token", "GET", "/prod/me", [][2]string{{"Authorization", "eyJhbGciOi.x.y"}}, 401, `{"message":"Unauthorized"}`, "UnauthorizedException"},
		{"Lambda authorizer, no token", "GET", "/prod/pets/7", nil, 401, `{"message":"Unauthorized"}`, "UnauthorizedException"},
		{"Lambda authorizer, a token", "GET", "/prod/pets/7", [][2]string{{"Authorization", "Bearer allow"}}, 401, `{"message":"Unauthorized"}`, "UnauthorizedException"},
		{"API key missing", "GET", "/prod/inventory", nil, 403, `{"message":"Forbidden"}`, "ForbiddenException"},
		{"API key given", "GET", "/prod/inventory", [][2]string{{"x-api-key", "k-123"}}, 403, `{"message":"Forbidden"}`, "ForbiddenException"},
		{"AWS_IAM unsigned", "POST", "/prod/admin", nil, 403, `{"message":"Missing Authentication Token"}`, "MissingAuthenticationTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := testinvoke.Request{Method: tc.method, Target: tc.target,
				Headers: append([][2]string{{"Host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"}}, tc.headers...)}
			got, err := inv.Invoke(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Response.StatusCode != tc.status || got.Response.Body != tc.body {
				t.Errorf("response %d %s, want %d %s", got.Response.StatusCode, got.Response.Body, tc.status, tc.body)
			}
			if v := firstHeader(got.Response.Headers, "x-amzn-ErrorType"); v != tc.errorType {
				t.Errorf("x-amzn-ErrorType %q, want %q", v, tc.errorType)
			}
			for _, h := range []string{"x-amzn-RequestId", "x-amz-apigw-id"} {
				if firstHeader(got.Response.Headers, h) == "" {
					t.Errorf("no %s header: %v", h, got.Response.Headers)
				}
			}
			if got.Integration != nil {
				t.Errorf("integration reached: %+v", got.Integration)
			}
		})
	}
	if n := lambdaCalls.Load(); n != 0 {
		t.Errorf("the function was invoked %d times", n)
	}
	if n := backendCalls.Load(); n != 0 {
		t.Errorf("the HTTP backend was called %d times", n)
	}

	// The method whose own empty security replaces the root's is served.
	got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/prod/public"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Response.StatusCode != 200 || lambdaCalls.Load() != 1 {
		t.Errorf("public method: status %d, %d invocations", got.Response.StatusCode, lambdaCalls.Load())
	}
}

// TestInsecureOptOutServesOpen: the opt-out serves protected methods without credentials, and says so.
func TestInsecureOptOutServesOpen(t *testing.T) {
	inv, lambdaCalls, backendCalls := protectedInvoker(t, true)
	for _, target := range []string{"/prod/me", "/prod/pets/7", "/prod/inventory"} {
		got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if got.Response.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200", target, got.Response.StatusCode)
		}
	}
	if lambdaCalls.Load() != 2 || backendCalls.Load() != 1 {
		t.Errorf("%d invocations, %d backend requests; want 2 and 1", lambdaCalls.Load(), backendCalls.Load())
	}
}

func protectedInvoker(t *testing.T, insecure bool) (*testinvoke.Invoker, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var lambdaCalls, backendCalls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		backendCalls.Add(1)
		fmt.Fprint(w, "pet")
	}))
	t.Cleanup(backend.Close)
	res, err := loader.Load("protected.yaml", []byte(protectedAPI(backend.URL, insecure)), loader.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage("protected.yaml", res.API, "prod", nil)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	optOutWarned := false
	for _, d := range diags {
		optOutWarned = optOutWarned || strings.HasPrefix(d.Message, "INSECURE: API ")
	}
	if optOutWarned != insecure {
		t.Errorf("translation warns about the opt-out: %v, want %v (%v)", optOutWarned, insecure, diags)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.Lambda = &extproc.Lambda{AccountID: "000000000000", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		lambdaCalls.Add(1)
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
	})}
	return inv, &lambdaCalls, &backendCalls
}

func firstHeader(hs [][2]string, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}
