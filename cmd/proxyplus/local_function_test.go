//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestInvokeLocalFunction: --local-function runs a custom-runtime bootstrap (a shell script speaking the
// Runtime API with curl) as the function of an AWS_PROXY route, and test-invoke returns its live response.
func TestTestInvokeLocalFunction(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the shell runtime needs it")
	}
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	script := `#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  hdrs=$(mktemp)
  event=$(curl -sS -D "$hdrs" "$api/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdrs" | cut -d' ' -f2 | tr -d '\r')
  path=$(printf '%s' "$event" | sed -n 's/.*"path":"\([^"]*\)".*/\1/p')
  curl -sS -X POST "$api/$id/response" -d "{\"statusCode\":200,\"body\":\"hello from sh at $path\"}" >/dev/null
done
`
	if err := os.WriteFile(bootstrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/lambda.yaml", "--stage", "dev", "--method", "POST",
		"--target", "/dev/hello/sam", "--local-function", "hello=sh '"+bootstrap+"'")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Response struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Response.StatusCode != 200 || !strings.Contains(res.Response.Body, "hello from sh at /dev/hello/sam") {
		t.Fatalf("response: %s\nstderr: %s", out, stderr)
	}
}

func TestShellSplit(t *testing.T) {
	got, err := shellSplit(`bash ./boot.sh 'a b' "c d" e\ f`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bash", "./boot.sh", "a b", "c d", "e f"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := shellSplit(`x 'unterminated`); err == nil {
		t.Fatal("an unterminated quote must fail")
	}
}

// TestHelloExample keeps the README's local-function example working.
func TestHelloExample(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the example's shell runtime needs it")
	}
	code, out, stderr := runCLI(t, "test-invoke", "--api", "../../examples/hello/api.yaml", "--stage", "dev", "--method", "GET",
		"--target", "/dev/hello/world?lang=en", "--local-function", "hello=../../examples/hello/bootstrap")
	if code != 0 || !strings.Contains(out, `"body":"hello, world"`) {
		t.Fatalf("exit %d: %s\n%s", code, out, stderr)
	}
}

func TestConfigFunctions(t *testing.T) {
	cfg, err := readGatewayConfig("../../examples/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fns, err := configFunctions(cfg.GetFunctions(), "/srv/cfg")
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].Name != "orders" || strings.Join(fns[0].Command, " ") != "go run ./shop/orders" || fns[0].Dir != "/srv/cfg" ||
		fns[0].Timeout.Seconds() != 10 || fns[0].MaxConcurrency != 1 {
		t.Fatalf("functions: %+v", fns)
	}
}
