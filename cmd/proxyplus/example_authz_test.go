package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/proxyplus/proxyplus/testinvoke"
)

// TestExampleAuthz test-invokes the authz example as its README section shows: the Lambda authorizer is the Go
// function of examples/authz/authorizer (aws-lambda-go), run by the local function host; the integration answers
// from a file, so the event it would receive — requestContext.authorizer — is printed.
func TestExampleAuthz(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example function")
	}
	// Warm the build cache so the function's `go run` cold start stays well inside Lambda's 10 s init limit.
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "../../examples/authz/authorizer").CombinedOutput(); err != nil {
		t.Fatalf("building the example authorizer: %v\n%s", err, out)
	}
	resp := filepath.Join(t.TempDir(), "orders.json")
	if err := os.WriteFile(resp, []byte(`{"statusCode":200,"body":"[]"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	invoke := func(method, target string, headers ...string) testinvoke.Result {
		t.Helper()
		args := []string{"test-invoke", "--api", "../../examples/authz/api.yaml", "--stage", "dev",
			"--local-function", "auth=go run ../../examples/authz/authorizer", "--function-response", resp,
			"--method", method, "--target", target}
		for _, h := range headers {
			args = append(args, "-H", h)
		}
		code, out, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("test-invoke %v: exit %d: %s", args, code, stderr)
		}
		var res testinvoke.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("test-invoke output: %v\n%s", err, out)
		}
		return res
	}
	for _, tc := range []struct {
		name, method, target, header string
		status, calls                int
	}{
		{"alice", "POST", "/dev/orders", "Authorization: Bearer alice", 200, 1},
		{"bob reads", "GET", "/dev/orders/7", "Authorization: Bearer bob", 200, 1},
		{"bob may not write", "POST", "/dev/orders", "Authorization: Bearer bob", 403, 1},
		{"mallory denied", "GET", "/dev/orders", "Authorization: Bearer mallory", 403, 1},
		{"unknown user", "GET", "/dev/orders", "Authorization: Bearer eve", 401, 1},
		{"not a bearer token", "GET", "/dev/orders", "Authorization: Basic YQ==", 401, 0},
		{"no token", "GET", "/dev/orders", "Accept: */*", 401, 0},
		{"tenant", "GET", "/dev/reports?session=s-1", "X-Tenant: acme", 200, 1},
		{"other tenant", "GET", "/dev/reports?session=s-1", "X-Tenant: umbrella", 401, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := invoke(tc.method, tc.target, tc.header)
			if res.Response == nil || res.Response.StatusCode != tc.status {
				t.Fatalf("response %+v, want status %d", res.Response, tc.status)
			}
			if res.Authorizer == nil || res.Authorizer.Calls != tc.calls {
				t.Errorf("authorizer %+v, want %d calls", res.Authorizer, tc.calls)
			}
		})
	}
	// What the integration receives from alice's authorizer: principalId and the stringified context.
	res := invoke("GET", "/dev/orders", "Authorization: Bearer alice")
	var ev struct {
		RequestContext struct {
			Authorizer map[string]any `json:"authorizer"`
		} `json:"requestContext"`
	}
	if res.Integration == nil || json.Unmarshal(res.Integration.Event, &ev) != nil {
		t.Fatalf("integration %+v", res.Integration)
	}
	a := ev.RequestContext.Authorizer
	if a["principalId"] != "alice" || a["user"] != "alice" || a["admin"] != "true" || a["level"] != "1" {
		t.Errorf("requestContext.authorizer %v", a)
	}
}
