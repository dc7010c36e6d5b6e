//go:build unix

package funchost

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootstrap is a custom runtime in shell and curl: the Runtime API is language-agnostic.
const bootstrap = `#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
c() { curl -sS --noproxy '*' "$@"; }
if [ -n "${FAIL_INIT:-}" ]; then
  c -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.ShellInit' -d '{"errorMessage":"init failed","errorType":"Runtime.ShellInit"}' "$api/init/error" >/dev/null
  exit 1
fi
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
while true; do
  event=$(c -D "$headers" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  arn=$(grep -i '^Lambda-Runtime-Invoked-Function-Arn:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  echo "shell got $event"
  case "$event" in
    *sleep*) sleep 60 ;;
    *fail*) c -X POST -H 'Lambda-Runtime-Function-Error-Type: Shell.Failure' -d 'it failed' "$api/invocation/$id/error" >/dev/null; continue ;;
  esac
  c -X POST -d "{\"shell\":true,\"pid\":$$,\"function\":\"$AWS_LAMBDA_FUNCTION_NAME\",\"arn\":\"$arn\",\"event\":$event}" "$api/invocation/$id/response" >/dev/null
done
`

func shellFunction(t *testing.T, env map[string]string) Function {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(bootstrap), 0o755); err != nil {
		t.Fatal(err)
	}
	return Function{Name: "shell", Command: []string{"./bootstrap"}, Dir: dir, Env: env, Timeout: 5 * time.Second}
}

func TestShellRuntime(t *testing.T) {
	h, recs := newHost(t, []Function{shellFunction(t, nil)}, Options{})
	var got [2]struct {
		Shell    bool            `json:"shell"`
		PID      int             `json:"pid"`
		Function string          `json:"function"`
		ARN      string          `json:"arn"`
		Event    json.RawMessage `json:"event"`
	}
	for i := range got {
		res := invoke(t, h, "shell", `{"hello":"world"}`)
		if res.FunctionError != "" {
			t.Fatalf("function error: %s", res.Payload)
		}
		if err := json.Unmarshal(res.Payload, &got[i]); err != nil {
			t.Fatalf("response %s: %v", res.Payload, err)
		}
	}
	if !got[0].Shell || got[0].Function != "shell" || string(got[0].Event) != `{"hello":"world"}` ||
		got[0].ARN != "arn:aws:lambda:us-east-1:000000000000:function:shell" {
		t.Errorf("response %+v", got[0])
	}
	if got[0].PID != got[1].PID {
		t.Errorf("warm invocation in another process (%d, %d)", got[0].PID, got[1].PID)
	}
	d := functionError(t, invoke(t, h, "shell", `"fail"`))
	if d.ErrorType != "Shell.Failure" || d.ErrorMessage != "it failed" {
		t.Errorf("error document %+v", d)
	}
	// Over 1 KB, curl posts the answer with Expect: 100-continue.
	big := `{"big":"` + strings.Repeat("b", 4096) + `"}`
	res := invoke(t, h, "shell", big)
	if err := json.Unmarshal(res.Payload, &got[0]); err != nil || res.FunctionError != "" || string(got[0].Event) != big {
		t.Errorf("large answer: %v %.200s", err, res.Payload)
	}
	var logged bool
	for _, m := range recs.find("function output") {
		logged = logged || strings.HasPrefix(m["line"], "shell got")
	}
	if !logged {
		t.Error("shell output not logged")
	}
}

func TestShellInitError(t *testing.T) {
	h, _ := newHost(t, []Function{shellFunction(t, map[string]string{"FAIL_INIT": "1"})}, Options{})
	for range 2 { // a fresh instance each time
		d := functionError(t, invoke(t, h, "shell", `{}`))
		if d.ErrorType != "Runtime.ShellInit" || d.ErrorMessage != "init failed" {
			t.Errorf("error document %+v", d)
		}
	}
}

// TestShellTimeoutKillsChildren: the timeout kills the process group, so the runtime's child (sleep) does not keep
// the output pipes, and the invocation ends at the timeout.
func TestShellTimeoutKillsChildren(t *testing.T) {
	fn := shellFunction(t, nil)
	fn.Timeout = 300 * time.Millisecond
	h, _ := newHost(t, []Function{fn}, Options{})
	start := time.Now()
	d := functionError(t, invoke(t, h, "shell", `"sleep"`))
	if d.ErrorType != "Sandbox.Timedout" {
		t.Errorf("error document %+v", d)
	}
	if el := time.Since(start); el > 10*time.Second { // the runtime's child sleeps far longer; a loaded machine is slow, not wrong
		t.Errorf("timed-out invocation took %v: children kept running?", el)
	}
	if res := invoke(t, h, "shell", `{}`); res.FunctionError != "" {
		t.Errorf("after a timeout: %s", res.Payload)
	}
}
