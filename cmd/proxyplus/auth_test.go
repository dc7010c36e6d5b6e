package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/testinvoke"
)

// TestTestInvokeFailsClosed: through the command line, a protected method (root-level Cognito, per-method Lambda
// authorizer, API key, AWS_IAM) answers as API Gateway answers a request without credentials and never reaches its
// function, which here would answer 200; the method whose own empty security replaces the root's is served. The
// Lambda authorizer, Cognito and the API key are enforced (issue 11): their refusals come from the processor,
// jwt_authn and the authorization service; AWS_IAM is served fail-closed, with an AUTH-1 warning.
func TestTestInvokeFailsClosed(t *testing.T) {
	fn := filepath.Join(t.TempDir(), "fn.json")
	if err := os.WriteFile(fn, []byte(`{"statusCode":200,"body":"reached"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target    string
		status    int
		body      string
		errorType string
		enforced  bool
	}{
		{"/prod/me", 401, `{"message":"Unauthorized"}`, "UnauthorizedException", true},
		{"/prod/pets", 401, `{"message":"Unauthorized"}`, "UnauthorizedException", true},
		{"/prod/inventory", 403, `{"message":"Forbidden"}`, "ForbiddenException", true},
		{"/prod/orders", 403, `{"message":"Missing Authentication Token"}`, "MissingAuthenticationTokenException", false},
		{"/prod/health", 200, "reached", "", false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/protected.yaml", "--stage", "prod",
				"--method", "GET", "--target", tc.target, "-H", "Host: anything.example", "--function-response", fn)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res testinvoke.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if res.Response.StatusCode != tc.status || res.Response.Body != tc.body {
				t.Errorf("response %d %q, want %d %q", res.Response.StatusCode, res.Response.Body, tc.status, tc.body)
			}
			if tc.errorType == "" {
				return
			}
			if res.Integration != nil {
				t.Errorf("integration reached: %+v", res.Integration)
			}
			found := false
			for _, h := range res.Response.Headers {
				found = found || strings.EqualFold(h[0], "x-amzn-ErrorType") && h[1] == tc.errorType
			}
			if !found {
				t.Errorf("no x-amzn-ErrorType %s: %v", tc.errorType, res.Response.Headers)
			}
			if !tc.enforced && !strings.Contains(stderr, "AUTH-1") {
				t.Errorf("test-invoke does not warn that the method is served fail-closed:\n%s", stderr)
			}
		})
	}
}

// TestValidateUnenforcedAuthorization: validate reports a method served fail-closed as an error; the insecure
// opt-out makes it valid, with a warning that says so. A method with a Lambda authorizer, a Cognito user pool or an
// API key from x-api-key is enforced (issue 11): neither.
func TestValidateUnenforcedAuthorization(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "--api", "testdata/protected.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"error: testdata/protected.yaml: $.paths['/orders'].get.security: security: GET /orders requires IAM signatures (AWS_IAM)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "health") || strings.Contains(out, "GET /pets") || strings.Contains(out, "GET /me") ||
		strings.Contains(out, "GET /inventory") || strings.Contains(out, "ignored by API Gateway") {
		t.Errorf("output reports the open method or the old root-security text:\n%s", out)
	}

	raw, err := os.ReadFile("testdata/protected.yaml")
	if err != nil {
		t.Fatal(err)
	}
	insecure := filepath.Join(t.TempDir(), "insecure.yaml")
	doc := strings.Replace(string(raw), "security: [{pool: []}]\n", "security: [{pool: []}]\nx-proxyplus-serve-unauthenticated-insecure: true\n", 1)
	if err := os.WriteFile(insecure, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "validate", "--api", insecure)
	if code != 0 || !strings.Contains(out, ": valid (") {
		t.Errorf("opt-out: exit %d, want 0 and valid:\n%s", code, out)
	}
	if n := strings.Count(out, "warning: ") - strings.Count(out, "[OAS-10]"); n != 2 || !strings.Contains(out, "INSECURE: GET /orders requires IAM signatures") ||
		!strings.Contains(out, "INSECURE: API p0t3ct3d01 serves methods that require authorization to anyone without credentials (serveUnauthenticatedInsecure): GET /orders") {
		t.Errorf("opt-out: want an INSECURE warning per method and one for the API (%d):\n%s", n, out)
	}
}
