package testinvoke_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
)

// authGatewayResponses customises the authorization answers by their specific types (issue 11 scope 6):
// UNAUTHORIZED, ACCESS_DENIED, AUTHORIZER_CONFIGURATION_ERROR, INVALID_API_KEY and THROTTLED each with a status
// override, a header and a template (INVALID_API_KEY's reads a stage variable); QUOTA_EXCEEDED is left to DEFAULT_4XX (status and header, no template).
const authGatewayResponses = `x-amazon-apigateway-gateway-responses:
  UNAUTHORIZED:
    statusCode: '418'
    responseParameters: {gatewayresponse.header.X-Why: "'unauthorized'"}
    responseTemplates: {application/json: '{"why": $context.error.messageString, "type": "$context.error.responseType"}'}
  ACCESS_DENIED:
    statusCode: '451'
    responseParameters: {gatewayresponse.header.X-Why: "'denied'"}
    responseTemplates: {application/json: '{"why": $context.error.messageString, "type": "$context.error.responseType"}'}
  AUTHORIZER_CONFIGURATION_ERROR:
    statusCode: '502'
    responseParameters: {gatewayresponse.header.X-Why: "'authorizer'"}
    responseTemplates: {application/json: '{"type": "$context.error.responseType"}'}
  INVALID_API_KEY:
    statusCode: '402'
    responseParameters: {gatewayresponse.header.X-Why: "'key'"}
    responseTemplates: {application/json: '{"why": $context.error.messageString, "type": "$context.error.responseType", "tier": "$stageVariables.tier"}'}
  THROTTLED:
    statusCode: '420'
    responseParameters: {gatewayresponse.header.X-Why: "'throttled'"}
    responseTemplates: {application/json: '{"why": $context.error.messageString, "type": "$context.error.responseType"}'}
  DEFAULT_4XX:
    statusCode: '400'
    responseParameters: {gatewayresponse.header.X-Why: "'default'"}
`

// TestGatewayResponsesShapeAuthorization: the stage's customised gateway responses shape every authorization
// answer by its specific type — Cognito 401s (jwt_authn local-reply mappers and the authorization service), the
// Lambda authorizer's 401/403/500 on a Lambda route and on an HTTP_PROXY route (processor), API-key 403 and 429s
// (authorization service) — in-process and over the wire; the specific type beats DEFAULT_4XX, which shapes
// QUOTA_EXCEEDED here; without customisation every answer is API Gateway's default.
func TestGatewayResponsesShapeAuthorization(t *testing.T) {
	type want struct {
		status        int
		why, body, et string
	}
	for _, tc := range []struct {
		name             string
		target           string
		headers          [][2]string
		key              string
		repeat           bool // the answer of the second request
		custom, standard want
	}{
		{name: "Cognito no token", target: "/prod/me",
			custom:   want{418, "unauthorized", `{"why": "Unauthorized", "type": "UNAUTHORIZED"}`, "UnauthorizedException"},
			standard: want{401, "", `{"message":"Unauthorized"}`, "UnauthorizedException"}},
		{name: "Cognito bad token", target: "/prod/me", headers: [][2]string{{"Authorization", "eyJhbGciOi.x.y"}},
			custom:   want{418, "unauthorized", `{"why": "Unauthorized", "type": "UNAUTHORIZED"}`, "UnauthorizedException"},
			standard: want{401, "", `{"message":"Unauthorized"}`, "UnauthorizedException"}},
		{name: "HTTP_PROXY Lambda authorizer no token", target: "/prod/pets/7",
			custom:   want{418, "unauthorized", `{"why": "Unauthorized", "type": "UNAUTHORIZED"}`, "UnauthorizedException"},
			standard: want{401, "", `{"message":"Unauthorized"}`, "UnauthorizedException"}},
		{name: "HTTP_PROXY Lambda authorizer deny", target: "/prod/pets/7", headers: [][2]string{{"Authorization", "Bearer deny"}},
			custom:   want{451, "denied", `{"why": "User is not authorized to access this resource with an explicit deny", "type": "ACCESS_DENIED"}`, "AccessDeniedException"},
			standard: want{403, "", `{"Message":"User is not authorized to access this resource with an explicit deny"}`, "AccessDeniedException"}},
		{name: "Lambda route authorizer no token", target: "/prod/guarded",
			custom:   want{418, "unauthorized", `{"why": "Unauthorized", "type": "UNAUTHORIZED"}`, "UnauthorizedException"},
			standard: want{401, "", `{"message":"Unauthorized"}`, "UnauthorizedException"}},
		{name: "Lambda route authorizer deny", target: "/prod/guarded", headers: [][2]string{{"Authorization", "Bearer deny"}},
			custom:   want{451, "denied", `{"why": "User is not authorized to access this resource with an explicit deny", "type": "ACCESS_DENIED"}`, "AccessDeniedException"},
			standard: want{403, "", `{"Message":"User is not authorized to access this resource with an explicit deny"}`, "AccessDeniedException"}},
		{name: "Lambda route authorizer fails", target: "/prod/guarded", headers: [][2]string{{"Authorization", "Bearer fail"}},
			custom:   want{502, "authorizer", `{"type": "AUTHORIZER_CONFIGURATION_ERROR"}`, "AuthorizerConfigurationException"},
			standard: want{500, "", `{"message":null}`, "AuthorizerConfigurationException"}},
		{name: "API key missing", target: "/prod/inventory",
			custom:   want{402, "key", `{"why": "Forbidden", "type": "INVALID_API_KEY", "tier": "gold"}`, "ForbiddenException"},
			standard: want{403, "", `{"message":"Forbidden"}`, "ForbiddenException"}},
		{name: "API key throttled", target: "/prod/inventory", key: "burstkey0123456789abcdef", repeat: true,
			custom:   want{420, "throttled", `{"why": "Too Many Requests", "type": "THROTTLED"}`, "TooManyRequestsException"},
			standard: want{429, "", `{"message":"Too Many Requests"}`, "TooManyRequestsException"}},
		{name: "API key over quota", target: "/prod/inventory", key: "quotakey0123456789abcdef", repeat: true,
			custom:   want{400, "default", `{"message":"Limit Exceeded"}`, "LimitExceededException"},
			standard: want{429, "", `{"message":"Limit Exceeded"}`, "LimitExceededException"}},
	} {
		for _, customised := range []bool{true, false} {
			for _, wire := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/customised=%v/wire=%v", tc.name, customised, wire), func(t *testing.T) {
					inv, integrationCalls := authGatewayInvoker(t, customised, wire)
					req := testinvoke.Request{Method: "GET", Target: tc.target, Headers: tc.headers}
					if tc.key != "" {
						req.Headers = append(req.Headers, [2]string{"x-api-key", tc.key})
					}
					n := 1
					if tc.repeat {
						n = 2
					}
					var got *testinvoke.Result
					for range n {
						integrationCalls.Store(0) // the refused request is the last
						var err error
						if got, err = inv.Invoke(context.Background(), req); err != nil {
							t.Fatal(err)
						}
					}
					w := tc.standard
					if customised {
						w = tc.custom
					}
					r := got.Response
					if r.StatusCode != w.status || r.Body != w.body || firstHeader(r.Headers, "X-Why") != w.why ||
						firstHeader(r.Headers, "x-amzn-ErrorType") != w.et {
						t.Errorf("answer %d X-Why=%q x-amzn-ErrorType=%q %s\nwant %d X-Why=%q x-amzn-ErrorType=%q %s",
							r.StatusCode, firstHeader(r.Headers, "X-Why"), firstHeader(r.Headers, "x-amzn-ErrorType"), r.Body,
							w.status, w.why, w.et, w.body)
					}
					if firstHeader(r.Headers, "x-amzn-RequestId") == "" {
						t.Errorf("no x-amzn-RequestId: %v", r.Headers)
					}
					if n := integrationCalls.Load(); n != 0 {
						t.Errorf("the integration's function was invoked %d times", n)
					}
				})
			}
		}
	}
}

// authGatewayInvoker serves protectedAPI plus a Lambda route guarded by the TOKEN authorizer (/guarded), with the
// authorization gateway responses when customised; the authorizer function denies "Bearer deny" (explicitly, for
// every resource) and fails on "Bearer fail"; the counter counts the integration function's invocations.
func authGatewayInvoker(t *testing.T, customised, wire bool) (*testinvoke.Invoker, *atomic.Int32) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pet") }))
	t.Cleanup(backend.Close)
	doc := protectedAPI(backend.URL, false) + `  /guarded:
    get:
      security: [{token: []}]
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:echo/invocations
`
	if customised {
		doc += authGatewayResponses
	}
	cfg := deployConfig(t, "protected.yaml", []byte(doc), "prod", map[string]string{"tier": "gold"})
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Authz.Keys, err = authz.ParseKeyFile("keys", []byte(`
- {value: burstkey0123456789abcdef, usagePlan: {throttle: {rateLimit: 0.001, burstLimit: 1}}}
- {value: quotakey0123456789abcdef, usagePlan: {quota: {limit: 1, period: DAY}}}
`)); err != nil {
		t.Fatal(err)
	}
	var integrationCalls atomic.Int32
	inv.Lambda = &extproc.Lambda{AccountID: "000000000000", Invoker: lambdainvoke.Func(func(_ context.Context, fn string, payload []byte) (*lambdainvoke.Result, error) {
		if !strings.HasSuffix(fn, ":auth") {
			integrationCalls.Add(1)
			return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
		}
		if strings.Contains(string(payload), `"Bearer fail"`) {
			return &lambdainvoke.Result{Payload: []byte(`{"errorMessage":"boom","errorType":"Error"}`), FunctionError: "Unhandled"}, nil
		}
		return &lambdainvoke.Result{Payload: []byte(`{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"*"}]}}`)}, nil
	})}
	inv.DryRun = false
	if wire {
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
		inv.AuthzClient = startAuthz(t, inv.Authz)
	}
	return inv, &integrationCalls
}
