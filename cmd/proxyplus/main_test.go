package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestTranslateOutputShape(t *testing.T) {
	code, out, stderr := runCLI(t, "translate", "--api", "testdata/api.yaml", "--stage", "dev")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not the documented JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"listeners", "routes", "clusters", "endpoints"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("output has no %q key", k)
		}
	}
	if len(doc["listeners"]) != 1 || len(doc["routes"]) != 1 || len(doc["clusters"]) != 1 {
		t.Fatalf("want 1 listener, 1 route configuration, 1 cluster; got %d, %d, %d", len(doc["listeners"]), len(doc["routes"]), len(doc["clusters"]))
	}
	// Every Any carries @type: every typed_config / per-filter config object in the output has one.
	var missing []string
	needType := func(path string, v any) {
		if m, ok := v.(map[string]any); !ok || m["@type"] == nil {
			missing = append(missing, path)
		}
	}
	anys := 0
	walk(doc, "", func(path string, m map[string]any) {
		if tc, ok := m["typed_config"]; ok {
			anys++
			needType(path+".typed_config", tc)
		}
		if pf, ok := m["typed_per_filter_config"].(map[string]any); ok {
			for name, v := range pf {
				anys++
				needType(path+".typed_per_filter_config."+name, v)
				if inner, ok := v.(map[string]any)["config"]; ok {
					needType(path+".typed_per_filter_config."+name+".config", inner)
				}
			}
		}
	})
	if anys == 0 {
		t.Fatal("found no Any values to check")
	}
	if len(missing) > 0 {
		t.Errorf("Any values without @type: %v", missing)
	}
	// Every (resource, method) route carries its identity in metadata.
	var idents []string
	walk(doc["routes"], "", func(path string, m map[string]any) {
		if fm, ok := m["filter_metadata"].(map[string]any); ok {
			if pp, ok := fm["proxyplus"].(map[string]any); ok {
				idents = append(idents, fmt.Sprintf("%v %v", pp["method"], pp["resource"]))
			}
		}
	})
	want := map[string]bool{"GET /": true, "GET /items/{id}": true}
	for _, id := range idents {
		delete(want, id)
	}
	if len(want) > 0 {
		t.Errorf("routes without proxyplus metadata for %v (found %v)", want, idents)
	}
}

func walk(v any, path string, fn func(string, map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(path, x)
		for k, c := range x {
			walk(c, path+"."+k, fn)
		}
	case map[string][]map[string]any:
		for k, c := range x {
			for i, e := range c {
				walk(e, fmt.Sprintf("%s.%s[%d]", path, k, i), fn)
			}
		}
	case []map[string]any:
		for i, e := range x {
			walk(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case []any:
		for i, c := range x {
			walk(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

func TestTranslateYAML(t *testing.T) {
	code, out, stderr := runCLI(t, "translate", "--api", "testdata/api.yaml", "--stage", "dev", "-o", "yaml")
	if code != 0 || !strings.HasPrefix(out, "clusters:") {
		t.Fatalf("exit %d, output %q, stderr %s", code, out[:min(len(out), 80)], stderr)
	}
}

func TestInvalidInputFailsClearly(t *testing.T) {
	for _, cmd := range []string{"translate", "validate"} {
		args := []string{cmd, "--api", "testdata/invalid.yaml"}
		if cmd == "translate" {
			args = append(args, "--stage", "dev")
		}
		code, out, stderr := runCLI(t, args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", cmd, code)
		}
		all := out + stderr
		for _, want := range []string{"testdata/invalid.yaml", "RES-3", "RES-14", "timeoutInMillis"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: output does not name %q:\n%s", cmd, want, all)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"translate", "--stage", "dev"},
		{"translate", "--api", "testdata/api.yaml"},
		{"test-invoke", "--api", "testdata/api.yaml", "--stage", "dev"},
		{"nope"},
		{"translate", "--api", "testdata/api.yaml", "--stage", "dev", "-o", "xml"},
	}
	for _, args := range cases {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// Every command parses its flags the same way (parseArgs): flags may follow a stray argument, which is
	// refused by name.
	if code, _, stderr := runCLI(t, "translate", "stray", "--api", "testdata/api.yaml", "--stage", "dev"); code != 2 || !strings.Contains(stderr, "unexpected arguments: stray") {
		t.Errorf("translate with a stray argument: exit %d, %q", code, stderr)
	}
	if code, out, _ := runCLI(t, "--version"); code != 0 || !strings.HasPrefix(out, "proxyplus ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	for name := range commands {
		if code, _, stderr := runCLI(t, name, "--help"); code != 0 || !strings.Contains(stderr, "Usage: proxyplus "+name) {
			t.Errorf("%s --help: exit %d, %q", name, code, stderr)
		}
	}
}

func TestBootstrap(t *testing.T) {
	code, out, stderr := runCLI(t, "bootstrap", "--xds-address", "127.0.0.1:18000", "--node-id", "n1", "--delta", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	ads := b["dynamic_resources"].(map[string]any)["ads_config"].(map[string]any)
	if ads["api_type"] != "DELTA_GRPC" {
		t.Errorf("api_type %v, want DELTA_GRPC", ads["api_type"])
	}
	if b["node"].(map[string]any)["id"] != "n1" {
		t.Errorf("node id not set: %v", b["node"])
	}
	// Envoy's RE2 program size limit, pinned in a static runtime layer to what translate checks (regex.cc
	// CompiledGoogleReMatcher reads re2.max_program_size.error_level), with the admin layer kept.
	layers, _ := b["layered_runtime"].(map[string]any)["layers"].([]any)
	if len(layers) != 2 || layers[0].(map[string]any)["static_layer"].(map[string]any)["re2.max_program_size.error_level"] != float64(100) ||
		layers[1].(map[string]any)["admin_layer"] == nil {
		t.Errorf("layered_runtime %v, want a static layer with re2.max_program_size.error_level 100 and an admin layer", b["layered_runtime"])
	}
}

// TestTestInvokeForwards really sends the integration request to a backend, as API Gateway's test invoke does.
func TestTestInvokeForwards(t *testing.T) {
	var gotPath, gotHost string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotHost = r.URL.RequestURI(), r.Host
		w.Header().Set("Server", "backend/1")
		w.Header().Set("X-Custom", "yes")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer backend.Close()
	host := strings.TrimPrefix(backend.URL, "http://")

	code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/api.yaml", "--stage", "dev", "--stage-variable", "backend="+host,
		"--method", "GET", "--target", "/dev/items/42?x=1&y=a%20b", "-H", "Accept:  application/json ")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Route       map[string]string `json:"route"`
		Integration struct {
			Type    string `json:"type"`
			Request struct {
				Method, URL string
				Headers     [][2]string
			} `json:"request"`
		} `json:"integration"`
		Response struct {
			StatusCode int         `json:"statusCode"`
			Headers    [][2]string `json:"headers"`
			Body       string      `json:"body"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Route["resource"] != "/items/{id}" || res.Route["method"] != "GET" {
		t.Errorf("route %v", res.Route)
	}
	if want := "http://" + host + "/v1/items/42?x=1&y=a%20b"; res.Integration.Request.URL != want {
		t.Errorf("integration url %s, want %s", res.Integration.Request.URL, want)
	}
	if gotPath != "/v1/items/42?x=1&y=a%20b" || gotHost != host {
		t.Errorf("backend saw %s (host %s)", gotPath, gotHost)
	}
	if res.Response.StatusCode != 201 || res.Response.Body != `{"ok":true}` {
		t.Errorf("response %d %q", res.Response.StatusCode, res.Response.Body)
	}
	hdr := map[string]string{}
	for _, h := range res.Response.Headers {
		hdr[strings.ToLower(h[0])] = h[1]
	}
	if hdr["x-amzn-remapped-server"] != "backend/1" || hdr["server"] != "" || hdr["x-custom"] != "yes" {
		t.Errorf("response headers not remapped as API Gateway does (HTP-13): %v", hdr)
	}
}

// TestTestInvokeBackendDown: a refused connection is API Gateway's 500 (HTP-15), exit 0.
func TestTestInvokeBackendDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/api.yaml", "--stage", "dev", "--stage-variable", "backend="+addr,
		"--method", "GET", "--target", "/dev/items/1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"statusCode":500`) || !strings.Contains(out, `Internal server error`) {
		t.Errorf("want API Gateway's 500, got %s", out)
	}
}

func TestTestInvokeNoRoute(t *testing.T) {
	code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/api.yaml", "--stage", "dev", "--method", "POST", "--target", "/dev/items/1", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"route":null`) || !strings.Contains(out, `"statusCode":403`) || !strings.Contains(out, `Missing Authentication Token`) {
		t.Errorf("got %s", out)
	}
}

// TestServeStartsAndStops: serve publishes the example, answers /healthz and /status, and shuts down cleanly.
func TestServeStartsAndStops(t *testing.T) {
	ports := freePorts(t, 4)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: &syncWriter{w: &errb}}, []string{"serve", "--api", "testdata/api.yaml", "--stage", "dev",
			"--xds-address", ports[0], "--extproc-address", ports[1], "--metrics-address", ports[2], "--admin-address", ports[3],
			"--data-dir", filepath.Join(dir, "data")})
	}()
	var status map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + ports[2] + "/status")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&status)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, errb.String())
		}
		time.Sleep(20 * time.Millisecond) // waiting for a port to open, not ordering events
	}
	defs := status["definitions"].(map[string]any)
	if defs["version"] == "" || defs["error"] != nil {
		t.Errorf("status after start: %v", defs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "proxyplus.db")); err != nil {
		t.Errorf("the store in --data-dir was not created: %v", err)
	}
	// Readiness: the store, the published configuration and the processor (issue 14 scope 4).
	if resp, err := http.Get("http://" + ports[2] + "/readyz"); err != nil {
		t.Error(err)
	} else {
		var checks map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&checks)
		resp.Body.Close()
		if resp.StatusCode != 200 || checks["store"] != "ok" || checks["reload"] != "ok" || checks["processor"] != "ok" {
			t.Errorf("/readyz %d %v", resp.StatusCode, checks)
		}
	}
	if resp, err := http.Get("http://" + ports[2] + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"proxyplus_build_info{", `proxyplus_reloads_total{outcome="published"}`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s:\n%s", want, b)
			}
		}
	}
	if resp, err := http.Get("http://" + ports[2] + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("pprof served without --pprof: %d", resp.StatusCode)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// syncWriter lets the test read what serve logged while serve may still be writing.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestServeConfigFile: serve --config reads a GatewayConfig, resolves API files relative to it, and refuses an
// unknown field with the file named.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	api, err := os.ReadFile("testdata/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), api, 0o644); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	cfg := fmt.Sprintf("xdsAddress: %s\nextprocAddress: %s\nmetricsAddress: %s\nadminAddress: %s\ndataDir: state\napis:\n  - file: api.yaml\n", ports[0], ports[1], ports[2], ports[3])
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: &syncWriter{w: &errb}}, []string{"serve", "--config", filepath.Join(dir, "gateway.yaml")})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + ports[2] + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --config did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a port to open, not ordering events
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "proxyplus.db")); err != nil {
		t.Errorf("dataDir is not resolved relative to the config file: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("xdsAdress: 127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "serve", "--config", bad)
	if code == 0 || !strings.Contains(stderr, "bad.yaml") || !strings.Contains(stderr, "xdsAdress") {
		t.Errorf("unknown config field: exit %d, %q", code, stderr)
	}
}

// TestTestInvokeLambda: an AWS_PROXY route with --function-response shows the event and the client response built
// from the given function output, as the ext_proc service would.
func TestTestInvokeLambda(t *testing.T) {
	fn := filepath.Join(t.TempDir(), "out.json")
	if err := os.WriteFile(fn, []byte(`{"statusCode": 201, "headers": {"X-Hello": "world"}, "body": "hi"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "test-invoke", "--api", "testdata/lambda.yaml", "--stage", "dev", "--method", "GET",
		"--target", "/dev/hello/bob?x=1&x=2", "--function-response", fn)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Integration struct {
			Type  string         `json:"type"`
			Event map[string]any `json:"event"`
		} `json:"integration"`
		Response struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The route takes only POST: GET is API Gateway's 403 and no event is built.
	if res.Response.StatusCode != 403 || res.Integration.Type != "" {
		t.Fatalf("GET on a POST-only resource: %s", out)
	}
	code, out, stderr = runCLI(t, "test-invoke", "--api", "testdata/lambda.yaml", "--stage", "dev", "--method", "POST",
		"--target", "/dev/hello/bob?x=1&x=2", "--function-response", fn)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	ev := res.Integration.Event
	if res.Integration.Type != "AWS_PROXY" || ev["resource"] != "/hello/{name}" || ev["body"] != nil {
		t.Errorf("event: %v", ev)
	}
	if q := ev["queryStringParameters"].(map[string]any); q["x"] != "2" {
		t.Errorf("queryStringParameters.x = %v, want the last value (EVT-14)", q["x"])
	}
	if res.Response.StatusCode != 201 || res.Response.Body != "hi" {
		t.Errorf("response %d %q", res.Response.StatusCode, res.Response.Body)
	}
	code, out, _ = runCLI(t, "test-invoke", "--api", "testdata/lambda.yaml", "--stage", "dev", "--method", "POST",
		"--target", "/dev/hello/bob", "--function-error", "Unhandled")
	if code != 0 || !strings.Contains(out, `"statusCode":502`) {
		t.Errorf("function error: exit %d, %s", code, out)
	}
}

// TestValidateStage: validate --stage deploys the definition to that stage with --stage-variable values; a stage
// variable the API uses and the stage lacks is an error naming it.
func TestValidateStage(t *testing.T) {
	code, out, stderr := runCLI(t, "validate", "--api", "testdata/stagevars.yaml", "--stage", "dev")
	if code != 1 || !strings.Contains(out, "host") || !strings.Contains(out, "testdata/stagevars.yaml") {
		t.Errorf("missing variable: exit %d, output %s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "validate", "--api", "testdata/stagevars.yaml", "--stage", "dev",
		"--stage-variable", "host=backend.example.com")
	if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(out, "stage dev") {
		t.Errorf("with the variable: exit %d, output %s%s", code, out, stderr)
	}
	// A stage the definition does not declare is reported.
	code, out, stderr = runCLI(t, "validate", "--api", "testdata/api.yaml", "--stage", "nosuch")
	if !strings.Contains(out, `stage "nosuch" is not declared`) {
		t.Errorf("undeclared stage: exit %d, output %s%s", code, out, stderr)
	}
	if code, _, _ := runCLI(t, "validate", "--api", "testdata/stagevars.yaml", "--stage-variable", "host=x"); code != 2 {
		t.Errorf("--stage-variable without --stage: exit %d, want 2", code)
	}
}

// TestValidateYAMLAliasBomb: validate refuses a 5 MB string aliased 100 times with one error naming the file and
// the expanded-size limit, instead of expanding it (2.7 GB of heap before).
func TestValidateYAMLAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("openapi: 3.0.1\ninfo: {title: bomb, version: '1'}\npaths: {}\nx-big: &big ")
	b.WriteString(strings.Repeat("a", 5<<20))
	b.WriteString("\nx-copies: [" + strings.Repeat("*big, ", 99) + "*big]\n")
	path := filepath.Join(t.TempDir(), "bomb.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "validate", "--api", path)
	if code != 1 || strings.Count(out, "error:") != 1 || !strings.Contains(out, path) || !strings.Contains(out, "LIM-10") {
		t.Errorf("exit %d, output %s%s", code, out, stderr)
	}
}
