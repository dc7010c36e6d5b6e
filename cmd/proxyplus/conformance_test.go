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

	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/testinvoke/output"
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
	for _, group := range []string{"routing", "lambda-event", "lambda-response", "http-proxy", "mock-cors"} {
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

// TestConformanceCLIAuthorizers runs the authorizer cases through the command line too. proxyplus enforces Lambda
// authorizers (the processor, answered with --function-response NAME=FILE), Cognito user pools (jwt_authn, --jwks)
// and API keys (ext_authz, --api-keys), and serves what it cannot enforce fail-closed: every case must pass — the
// fail-closed ones, the Lambda-authorizer ones and the Cognito / API-key ones. A sequence of requests (requests:)
// goes through --requests, one output line per request.
func TestConformanceCLIAuthorizers(t *testing.T) {
	cases, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	var passed, failed []string
	for _, c := range cases {
		problems := runCaseCLI(t, c)
		mustPass := slices.Contains(failClosedCases, c.ID) || conformance.LambdaAuthorizerCase(c.ID) || slices.Contains(enforcedCases, c.ID)
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
	t.Logf("authorizer cases passing through test-invoke: %d of %d: %s; not yet: %s", len(passed), len(cases),
		strings.Join(passed, ", "), strings.Join(failed, ", "))
	if len(failed) > 0 {
		t.Errorf("authorizer cases that do not pass: %s", strings.Join(failed, ", "))
	}
	for _, id := range append(slices.Clone(failClosedCases), enforcedCases...) {
		if !slices.Contains(passed, id) {
			t.Errorf("%s does not pass", id)
		}
	}
}

// functionArgs are the --function-response / --function-error flags for one recorded function output; name ""
// for the integration's function.
func functionArgs(t *testing.T, name string, raw json.RawMessage, write func(string, []byte) string) []string {
	var fr conformance.FunctionOutput
	if err := json.Unmarshal(raw, &fr); err != nil {
		t.Fatalf("function response %s: %v", name, err)
	}
	prefix := ""
	if name != "" {
		prefix = name + "="
	}
	var args []string
	switch {
	case fr.Raw != nil:
		args = append(args, "--function-response", prefix+write("function-response-"+name, []byte(*fr.Raw)))
	case fr.Payload != nil:
		args = append(args, "--function-response", prefix+write("function-response-"+name+".json", fr.Payload))
	}
	if fr.FunctionError != "" {
		args = append(args, "--function-error", prefix+fr.FunctionError)
	}
	return args
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
	if len(c.Requests) > 0 {
		seq, err := json.Marshal(c.Requests)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--requests", write("requests.json", seq))
	} else {
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
	}
	for _, name := range slices.Sorted(maps.Keys(c.Functions)) {
		args = append(args, functionArgs(t, name, c.Functions[name], write)...)
	}
	if c.JWKS != nil {
		args = append(args, "--jwks", write("jwks.json", c.JWKS))
	}
	if c.APIKeys != nil {
		args = append(args, "--api-keys", write("api-keys.json", c.APIKeys))
	}
	if c.FunctionResponse != nil {
		args = append(args, functionArgs(t, "", c.FunctionResponse, write)...)
	} else {
		args = append(args, "--dry-run")
	}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		return []string{fmt.Sprintf("proxyplus %s: exit %d: %s", strings.Join(args, " "), code, stderr)}
	}
	_, exps := c.Sequence()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(exps) {
		return []string{fmt.Sprintf("%d output lines for %d requests:\n%s", len(lines), len(exps), stdout)}
	}
	var problems []string
	for i, line := range lines {
		var got output.Result
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			return []string{fmt.Sprintf("output is not test-invoke's JSON: %v\n%s", err, stdout)}
		}
		for _, p := range conformance.CheckExpect(c, &exps[i], &got) {
			if len(exps) > 1 {
				p = fmt.Sprintf("request %d: %s", i, p)
			}
			problems = append(problems, p)
		}
	}
	return problems
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
