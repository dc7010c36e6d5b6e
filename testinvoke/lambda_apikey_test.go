package testinvoke_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
)

// TestLambdaAuthorizerWithAPIKey: a method with a Lambda TOKEN authorizer that also requires an API key from
// x-api-key is served (both are enforced since the merge of authz-keys): without a valid key ext_authz answers 403
// Forbidden before the processor runs the authorizer; with one, an authorizer's Deny is its 403, and an Allow
// reaches the function with requestContext.authorizer from the authorizer and identity.apiKey/apiKeyId from the
// authorization service. In-process and over the wire (ext_authz and ext_proc over gRPC). With API key source
// AUTHORIZER the key is the authorizer's usageIdentifierKey, which the processor checks against the same keys:
// none or an unknown one is 403 Forbidden after the authorizer ran, a valid one reaches identity.apiKey.
func TestLambdaAuthorizerWithAPIKey(t *testing.T) {
	const api = `openapi: 3.0.1
info: {title: both, version: '1'}
components:
  securitySchemes:
    token:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: custom
      x-amazon-apigateway-authorizer: {type: token, authorizerResultTtlInSeconds: 0, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations'}
    key: {type: apiKey, name: x-api-key, in: header}
paths:
  /orders:
    get:
      security: [{token: [], key: []}]
      x-amazon-apigateway-integration: {type: aws_proxy, httpMethod: POST, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:orders/invocations'}
`
	const key = "validkey0123456789abcdef"
	keys, err := authz.ParseKeyFile("keys", []byte("- {value: "+key+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"", "x-amazon-apigateway-api-key-source: AUTHORIZER\n"} {
		cfg := deployConfig(t, "both.yaml", []byte(api+source), "prod", nil)
		for _, wire := range []bool{false, true} {
			inv, err := testinvoke.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			inv.Authz.Keys = keys
			var mu sync.Mutex
			var authCalls int
			var event []byte
			inv.Lambda = &extproc.Lambda{Invoker: lambdainvoke.Func(func(_ context.Context, fn string, payload []byte) (*lambdainvoke.Result, error) {
				mu.Lock()
				defer mu.Unlock()
				if strings.HasSuffix(fn, ":auth") {
					authCalls++
					effect, usage := "Allow", `,"usageIdentifierKey":"`+key+`"`
					switch {
					case strings.Contains(string(payload), `"authorizationToken":"deny"`):
						effect = "Deny"
					case strings.Contains(string(payload), `"authorizationToken":"nokey"`):
						usage = ""
					case strings.Contains(string(payload), `"authorizationToken":"badkey"`):
						usage = `,"usageIdentifierKey":"unknownkey0123456789abcd"`
					}
					return &lambdainvoke.Result{Payload: []byte(`{"principalId":"user-1","context":{"tenant":"t1"}` + usage + `,"policyDocument":{"Statement":[{"Effect":"` + effect + `","Action":"execute-api:Invoke","Resource":"*"}]}}`)}, nil
				}
				event = append([]byte(nil), payload...)
				return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"ok"}`)}, nil
			})}
			inv.Lambda.APIKeys = inv.Authz // as serve shares it between ext_authz and the processor
			if wire {
				inv.AuthzClient = startAuthz(t, inv.Authz)
				inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
			}
			call := func(headers ...[2]string) (int, string) {
				t.Helper()
				authCalls, event = 0, nil
				got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/prod/orders", Headers: headers})
				if err != nil {
					t.Fatal(err)
				}
				return got.Response.StatusCode, got.Response.Body
			}
			var allowed [][2]string
			if source != "" {
				for _, token := range []string{"nokey", "badkey"} {
					if status, body := call([2]string{"Authorization", token}); status != 403 || body != `{"message":"Forbidden"}` || authCalls != 1 || event != nil {
						t.Errorf("wire=%v AUTHORIZER source, %s: %d %s, %d authorizer calls, event %s; want 403 Forbidden after the authorizer", wire, token, status, body, authCalls, event)
					}
				}
				allowed = [][2]string{{"Authorization", "allow"}}
			} else {
				if status, body := call([2]string{"Authorization", "allow"}); status != 403 || body != `{"message":"Forbidden"}` || authCalls != 0 {
					t.Errorf("wire=%v no key: %d %s after %d authorizer calls, want 403 Forbidden from ext_authz first", wire, status, body, authCalls)
				}
				if status, body := call([2]string{"Authorization", "deny"}, [2]string{"x-api-key", key}); status != 403 || authCalls != 1 || event != nil {
					t.Errorf("wire=%v denied: %d %s, %d authorizer calls, event %s; want the authorizer's 403", wire, status, body, authCalls, event)
				}
				allowed = [][2]string{{"Authorization", "allow"}, {"x-api-key", key}}
			}
			if status, body := call(allowed...); status != 200 || body != "ok" {
				t.Fatalf("wire=%v allowed: %d %s", wire, status, body)
			}
			var ev struct {
				RequestContext struct {
					Authorizer map[string]any `json:"authorizer"`
					Identity   struct {
						APIKey   string `json:"apiKey"`
						APIKeyID string `json:"apiKeyId"`
					} `json:"identity"`
				} `json:"requestContext"`
			}
			if err := json.Unmarshal(event, &ev); err != nil {
				t.Fatalf("wire=%v event: %v: %s", wire, err, event)
			}
			rc := ev.RequestContext
			if rc.Authorizer["principalId"] != "user-1" || rc.Authorizer["tenant"] != "t1" || rc.Authorizer["claims"] != nil {
				t.Errorf("wire=%v requestContext.authorizer %v, want the Lambda authorizer's principal and context", wire, rc.Authorizer)
			}
			if rc.Identity.APIKey != key || rc.Identity.APIKeyID != authz.KeyID(key) {
				t.Errorf("wire=%v identity apiKey %q apiKeyId %q, want %q %q", wire, rc.Identity.APIKey, rc.Identity.APIKeyID, key, authz.KeyID(key))
			}
		}
	}
}
