package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
)

// TestConformanceCLI runs every conformance case of the groups issue 10 names through the `proxyplus test-invoke`
// command line exactly as a user types it (README: test-invoke contract): the case's API in a file, --stage, one
// --stage-variable per variable, --method, --target as sent, one -H per header in order (Host as written, so the
// API must answer whatever Host the case uses), --body-file, and the recorded function output through
// --function-response / --function-error. A case without recorded function output asks what the gateway sends
// its integration, so it is run with --dry-run, as a user would; errors the gateway answers itself are answered
// then too. The printed JSON is compared with the case under the suite's matching rules.
func TestConformanceCLI(t *testing.T) {
	shared := testutil.SharedDir(t)
	for _, group := range []string{"routing", "lambda-event", "lambda-response", "http-proxy"} {
		cases, err := conformance.Load(shared, group)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.ID, func(t *testing.T) {
				for _, p := range runCaseCLI(t, c) {
					t.Error(p)
				}
			})
		}
	}
}

// failClosedCases are the authorizer cases about requests without (valid) credentials whose recorded answer is the
// one fail-closed gives, without calling any authorizer. The other authorizer cases need authorizers enforced
// (the authorizers issue); TestConformanceCLIAuthorizers lists them.
var failClosedCases = []string{
	"authorizers/api-key-invalid-403",
	"authorizers/api-key-missing-403",
	"authorizers/cognito-access-token-missing-scope-401",
	"authorizers/cognito-missing-token-401",
	"authorizers/request-missing-query-source-401",
	"authorizers/token-missing-header-401",
	"authorizers/token-validation-expression-mismatch-401",
}

// enforcedCases pass because proxyplus enforces Cognito user pools (jwt_authn) and API keys (ext_authz, with
// --jwks and --api-keys standing for the pool's key set and the stage's keys).
var enforcedCases = []string{
	"authorizers/api-key-valid-identity",
	"authorizers/cognito-access-token-scope-allowed",
	"authorizers/cognito-expired-id-token-401",
	"authorizers/cognito-id-token-claims",
}

// TestConformanceCLIAuthorizers runs the authorizer cases through the command line too. proxyplus enforces Cognito
// user pools and API keys and serves Lambda-authorizer methods fail-closed: the cases above must pass; the rest are
// logged with why they fail. A case that expects the authorizer to be called (authorizerCalls > 0, authorizerEvent) or the
// integration to answer cannot pass while nothing is called.
func TestConformanceCLIAuthorizers(t *testing.T) {
	cases, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	var passed, failed []string
	for _, c := range cases {
		var problems []string
		if c.Request.Method == "" {
			problems = []string{"a sequence of requests (requests:), which test-invoke does not take"}
		} else {
			problems = append(problems, authorizerExpectations(t, c)...)
			problems = append(problems, runCaseCLI(t, c)...)
		}
		mustPass := slices.Contains(failClosedCases, c.ID) || slices.Contains(enforcedCases, c.ID)
		switch {
		case len(problems) == 0:
			passed = append(passed, c.ID)
		case mustPass:
			t.Errorf("%s: %s", c.ID, strings.Join(problems, "; "))
		default:
			failed = append(failed, c.ID)
			t.Logf("%s (authorizers issue): %s", c.ID, firstLine(problems[0]))
		}
	}
	t.Logf("authorizer cases passing through test-invoke: %d of %d: %s", len(passed), len(cases), strings.Join(passed, ", "))
	for _, id := range append(slices.Clone(failClosedCases), enforcedCases...) {
		if !slices.Contains(passed, id) {
			t.Errorf("%s does not pass", id)
		}
	}
}

// authorizerExpectations checks what the case says of the authorizer function: proxyplus never calls one.
func authorizerExpectations(t *testing.T, c *conformance.Case) []string {
	raw, err := os.ReadFile(c.File)
	if err != nil {
		t.Fatal(err)
	}
	var ext struct {
		Expect struct {
			AuthorizerCalls *int            `json:"authorizerCalls"`
			AuthorizerEvent json.RawMessage `json:"authorizerEvent"`
		} `json:"expect"`
	}
	if err := yaml.Unmarshal(raw, &ext); err != nil {
		t.Fatalf("%s: %v", c.File, err)
	}
	var problems []string
	if n := ext.Expect.AuthorizerCalls; n != nil && *n != 0 {
		problems = append(problems, fmt.Sprintf("expects %d authorizer calls; proxyplus calls none", *n))
	}
	if ext.Expect.AuthorizerEvent != nil {
		problems = append(problems, "expects an authorizer event; proxyplus calls no authorizer")
	}
	return problems
}

// runCaseCLI builds the argv a user types for the case, runs the CLI's main entry with it and compares the output.
func runCaseCLI(t *testing.T, c *conformance.Case) []string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"test-invoke", "--api", write("api.json", c.API), "--stage", c.Stage}
	for _, k := range slices.Sorted(maps.Keys(c.StageVariables)) {
		args = append(args, "--stage-variable", k+"="+c.StageVariables[k])
	}
	args = append(args, "--method", c.Request.Method, "--target", c.Request.Target)
	for _, h := range c.Request.Headers {
		if len(h) != 2 {
			t.Fatalf("header %v is not [name, value]", h)
		}
		args = append(args, "-H", h[0]+": "+h[1])
	}
	body, err := c.Request.BodyBytes()
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		args = append(args, "--body-file", write("body", body))
	}
	if c.JWKS != nil {
		args = append(args, "--jwks", write("jwks.json", c.JWKS))
	}
	if c.APIKeys != nil {
		args = append(args, "--api-keys", write("api-keys.json", c.APIKeys))
	}
	if c.FunctionResponse != nil {
		var fr struct {
			Payload       json.RawMessage `json:"payload"`
			Raw           *string         `json:"raw"`
			FunctionError string          `json:"functionError"`
		}
		if err := json.Unmarshal(c.FunctionResponse, &fr); err != nil {
			t.Fatalf("functionResponse: %v", err)
		}
		switch {
		case fr.Raw != nil:
			args = append(args, "--function-response", write("function-response", []byte(*fr.Raw)))
		case fr.Payload != nil:
			args = append(args, "--function-response", write("function-response.json", fr.Payload))
		}
		if fr.FunctionError != "" {
			args = append(args, "--function-error", fr.FunctionError)
		}
	} else {
		args = append(args, "--dry-run")
	}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		return []string{fmt.Sprintf("proxyplus %s: exit %d: %s", strings.Join(args, " "), code, stderr)}
	}
	var got conformance.Outcome
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		return []string{fmt.Sprintf("output is not test-invoke's JSON: %v\n%s", err, stdout)}
	}
	return conformance.Check(c, &got)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
