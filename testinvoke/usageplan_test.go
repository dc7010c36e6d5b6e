package testinvoke_test

import (
	"context"
	"testing"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/testinvoke"
)

// TestUsagePlanLimits: through the generated configuration, ext_authz and the authorization service, a key whose
// plan allows a burst of 2 gets 429 Too Many Requests on the third request at once, and a key with a quota of 1 a
// day gets 429 Limit Exceeded on its second; a disabled key gets 403 Forbidden. Headers as API Gateway's errors.
func TestUsagePlanLimits(t *testing.T) {
	all, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	var c *conformance.Case
	for _, x := range all {
		if x.ID == "authorizers/api-key-valid-identity" {
			c = x
		}
	}
	if c == nil {
		t.Fatal("case authorizers/api-key-valid-identity not found")
	}
	cfg := deployConfig(t, c.File, c.API, "dev", nil)
	keys, err := authz.ParseKeyFile("keys", []byte(`
- {value: burstkey0123456789abcdef, usagePlan: {throttle: {rateLimit: 0.001, burstLimit: 2}}}
- {value: quotakey0123456789abcdef, usagePlan: {quota: {limit: 1, period: DAY}}}
- {value: disabledkey0123456789abc, enabled: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, wire := range []bool{false, true} {
		inv, err := testinvoke.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		inv.DryRun = true
		inv.Authz.Keys = keys
		if wire {
			inv.AuthzClient = startAuthz(t, inv.Authz)
		}
		call := func(key string) (int, string, string) {
			t.Helper()
			got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/dev/inventory",
				Headers: [][2]string{{"Host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"}, {"x-api-key", key}}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Response == nil {
				return 0, "", "" // allowed: the dry run stops at the integration
			}
			return got.Response.StatusCode, got.Response.Body, firstHeader(got.Response.Headers, "x-amzn-ErrorType")
		}
		for i, want := range []int{0, 0, 429} {
			status, body, et := call("burstkey0123456789abcdef")
			if status != want {
				t.Fatalf("wire %v: burst request %d: status %d %s, want %d", wire, i, status, body, want)
			}
			if want == 429 && (body != `{"message":"Too Many Requests"}` || et != "TooManyRequestsException") {
				t.Errorf("wire %v: throttled: %s %s", wire, body, et)
			}
		}
		if status, _, _ := call("quotakey0123456789abcdef"); status != 0 {
			t.Fatalf("wire %v: first request of the quota refused: %d", wire, status)
		}
		if status, body, et := call("quotakey0123456789abcdef"); status != 429 || body != `{"message":"Limit Exceeded"}` || et != "LimitExceededException" {
			t.Errorf("wire %v: over quota: %d %s %s", wire, status, body, et)
		}
		if status, body, et := call("disabledkey0123456789abc"); status != 403 || body != `{"message":"Forbidden"}` || et != "ForbiddenException" {
			t.Errorf("wire %v: disabled key: %d %s %s", wire, status, body, et)
		}
	}
}
