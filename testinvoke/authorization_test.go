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
        requestParameters: {integration.request.path.petId: method.request.path.petId, integration.request.header.x-user: context.authorizer.principalId}
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
// and never reaches its integration, whatever credentials the request carries (issue 10 scope 1). The Lambda
// authorizer is enforced (issue 11): without a token it answers the same 401 without calling the function.
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

// TestInsecureOptOutServesOpen: the opt-out serves without credentials only the protected methods proxyplus does
// not enforce (AWS_IAM here), and says so; what proxyplus enforces — the Cognito pool, the API key, the Lambda
// authorizer — still decides.
func TestInsecureOptOutServesOpen(t *testing.T) {
	inv, lambdaCalls, backendCalls := protectedInvoker(t, true)
	for _, tc := range []struct {
		target string
		status int
	}{{"/prod/admin", 200}, {"/prod/me", 401}, {"/prod/inventory", 403}, {"/prod/pets/7", 401}} {
		got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: tc.target})
		if err != nil {
			t.Fatal(err)
		}
		if got.Response.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.target, got.Response.StatusCode, tc.status)
		}
	}
	if lambdaCalls.Load() != 1 || backendCalls.Load() != 0 {
		t.Errorf("%d invocations, %d backend requests; want 1 and 0", lambdaCalls.Load(), backendCalls.Load())
	}
}

// TestLambdaAuthorizerOnHTTPProxy: an HTTP_PROXY method's Lambda authorizer runs in the processor's headers pass,
// in-process and over the wire: an allowed token reaches the backend (its principalId through a
// context.authorizer.principalId header mapping), a denied one gets 403 and never does, and the authorizer is
// invoked with the TOKEN event whose method ARN names the actual path.
func TestLambdaAuthorizerOnHTTPProxy(t *testing.T) {
	for _, wire := range []bool{false, true} {
		t.Run(fmt.Sprintf("wire=%v", wire), func(t *testing.T) {
			inv, _, backendCalls := protectedInvoker(t, false)
			var authEvents []string
			inv.Lambda.Invoker = lambdainvoke.Func(func(_ context.Context, fn string, payload []byte) (*lambdainvoke.Result, error) {
				if !strings.HasSuffix(fn, ":auth") {
					return nil, fmt.Errorf("unexpected function %s", fn)
				}
				authEvents = append(authEvents, string(payload))
				effect := "Deny"
				if strings.Contains(string(payload), `"Bearer allow"`) {
					effect = "Allow"
				}
				return &lambdainvoke.Result{Payload: []byte(`{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"` +
					effect + `","Resource":"arn:aws:execute-api:us-east-1:*:*/prod/GET/pets/7"}]}}`)}, nil
			})
			if wire {
				inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
			}
			inv.DryRun = false
			for _, tc := range []struct {
				token  string
				status int
			}{{"Bearer allow", 200}, {"Bearer deny", 403}} {
				got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/prod/pets/7",
					Headers: [][2]string{{"Authorization", tc.token}}})
				if err != nil {
					t.Fatal(err)
				}
				if got.Response.StatusCode != tc.status {
					t.Errorf("%s: status %d %s, want %d", tc.token, got.Response.StatusCode, got.Response.Body, tc.status)
				}
				if tc.status == 200 && got.Response.Body != "pet for u" {
					t.Errorf("%s: backend answered %q; the context.authorizer.principalId mapping did not reach it", tc.token, got.Response.Body)
				}
			}
			if backendCalls.Load() != 1 {
				t.Errorf("%d backend requests, want 1", backendCalls.Load())
			}
			if len(authEvents) != 2 || !strings.Contains(authEvents[0], `"methodArn":"arn:aws:execute-api:us-east-1:000000000000:`) ||
				!strings.HasSuffix(authEvents[0], `/prod/GET/pets/7"}`) {
				t.Errorf("authorizer events %q", authEvents)
			}
		})
	}
}

func protectedInvoker(t *testing.T, insecure bool) (*testinvoke.Invoker, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var lambdaCalls, backendCalls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendCalls.Add(1)
		fmt.Fprint(w, "pet for ", r.Header.Get("X-User"))
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

// TestLambdaAuthorizerBeforeInvokeLimit: the 413 of a body too large for Lambda's invoke limit is the
// integration's, so the authorizer answers first: no token → 401, an allowed token → 413; in-process and over the
// wire (where the processor stops keeping such a body).
func TestLambdaAuthorizerBeforeInvokeLimit(t *testing.T) {
	api := `openapi: 3.0.1
info: {title: upload, version: '1'}
components:
  securitySchemes:
    token:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer: {type: token, authorizerResultTtlInSeconds: 0, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations'}
paths:
  /upload:
    post:
      security: [{token: []}]
      x-amazon-apigateway-integration: {type: aws_proxy, httpMethod: POST, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:echo/invocations'}
`
	cfg := deployConfig(t, "upload.yaml", []byte(api), "prod", nil)
	body := []byte(strings.Repeat("x", 7<<20))
	for _, wire := range []bool{false, true} {
		inv, err := testinvoke.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var echoCalls atomic.Int32
		inv.Lambda = &extproc.Lambda{Invoker: lambdainvoke.Func(func(_ context.Context, fn string, _ []byte) (*lambdainvoke.Result, error) {
			if !strings.HasSuffix(fn, ":auth") {
				echoCalls.Add(1)
				return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200}`)}, nil
			}
			return &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}}`)}, nil
		})}
		if wire {
			inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
		}
		for _, tc := range []struct {
			headers [][2]string
			status  int
		}{{nil, 401}, {[][2]string{{"Authorization", "allow"}}, 413}} {
			got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "POST", Target: "/prod/upload", Headers: tc.headers, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			if got.Response.StatusCode != tc.status {
				t.Errorf("wire=%v headers %v: status %d %s, want %d", wire, tc.headers, got.Response.StatusCode, got.Response.Body, tc.status)
			}
		}
		if echoCalls.Load() != 0 {
			t.Errorf("wire=%v: the integration was invoked %d times", wire, echoCalls.Load())
		}
	}
}
