package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/proxyplus/proxyplus/testinvoke"
)

// startServe runs `proxyplus serve args...` in-process and waits until its admin API (the last listener serve
// opens) answers a health check, so every listener is open. It returns serve's log and a stop function that shuts
// serve down and checks it exited cleanly; the test's cleanup stops it too.
func startServe(t *testing.T, adminAddr string, args ...string) (*syncWriter, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	log := &syncWriter{w: &bytes.Buffer{}}
	go func() { done <- run(ctx, &env{stdout: io.Discard, stderr: log}, append([]string{"serve"}, args...)) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited %d:\n%s", code, log.String())
			}
		})
	}
	t.Cleanup(stop)
	// A short reconnect backoff: the first attempt may come before serve listens (gRPC's default waits 1 s).
	conn, err := grpc.NewClient(adminAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.5, MaxDelay: 100 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	// WaitForReady: the call waits for serve's listener instead of the test sleeping.
	if _, err := healthpb.NewHealthClient(conn).Check(wctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("serve did not come up: %v\n%s", err, log.String())
	}
	return log, stop
}

// TestExampleShop runs the README's first command — serve --config examples/gateway.yaml, with free ports — and
// test-invokes the example against it: the Lambda routes reach the live Go function (built with aws-lambda-go and
// run by serve's function host) through serve's Lambda Invoke API, and the {proxy+} route reaches a backend.
func TestExampleShop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example function")
	}
	// Warm the build cache so the function's `go run` cold start stays well inside Lambda's 10 s init limit.
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "../../examples/shop/orders").CombinedOutput(); err != nil {
		t.Fatalf("building the example function: %v\n%s", err, out)
	}
	p := freePorts(t, 5)
	log, _ := startServe(t, p[3], "--config", "../../examples/gateway.yaml", "--xds-address", p[0], "--extproc-address", p[1],
		"--metrics-address", p[2], "--admin-address", p[3], "--lambda-api-address", p[4], "--data-dir", t.TempDir(),
		"--watch-interval", "0")

	invoke := func(args ...string) testinvoke.Result {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"test-invoke", "--api", "../../examples/shop/api.yaml", "--stage", "dev"}, args...)...)
		if code != 0 {
			t.Fatalf("test-invoke %v: exit %d: %s\nserve log:\n%s", args, code, stderr, log.String())
		}
		var res testinvoke.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("test-invoke output: %v\n%s", err, out)
		}
		return res
	}
	body := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(body, []byte(`{"pet": "42", "quantity": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	created := invoke("--method", "POST", "--target", "/dev/orders", "-H", "Content-Type: application/json",
		"--body-file", body, "--lambda-endpoint", "http://"+p[4])
	if created.Route == nil || created.Route.Resource != "/orders" || created.Response.StatusCode != 201 ||
		!strings.Contains(created.Response.Body, `"order":{"id":"1","pet":"42","quantity":2}`) ||
		!hasHeader(created.Response.Headers, "X-Handled-By", "orders") {
		t.Fatalf("POST /dev/orders: %+v\nserve log:\n%s", created.Response, log.String())
	}
	// The same warm instance answers next: it remembers the order.
	got := invoke("--method", "GET", "--target", "/dev/orders/1", "--lambda-endpoint", "http://"+p[4])
	if got.Response.StatusCode != 200 || !strings.Contains(got.Response.Body, `"resource":"/orders/{orderId}"`) ||
		!strings.Contains(got.Response.Body, `"pathParameters":{"orderId":"1"}`) || !strings.Contains(got.Response.Body, `"pet":"42"`) {
		t.Fatalf("GET /dev/orders/1: %+v", got.Response)
	}
	if !strings.Contains(log.String(), "function cold start") {
		t.Errorf("serve's log does not report the function's cold start:\n%s", log.String())
	}

	// {proxy+} → HTTP_PROXY to the backend named by the stage variable.
	var backendTarget string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendTarget = r.Method + " " + r.RequestURI
		_, _ = io.WriteString(w, `[{"id":1}]`)
	}))
	defer backend.Close()
	proxied := invoke("--method", "GET", "--target", "/dev/pets/7?x=1", "--stage-variable", "backend="+strings.TrimPrefix(backend.URL, "http://"))
	if proxied.Route == nil || proxied.Route.Resource != "/{proxy+}" || proxied.Response.StatusCode != 200 || backendTarget != "GET /pets/7?x=1" {
		t.Fatalf("GET /dev/pets/7: route %+v, response %+v, backend saw %q", proxied.Route, proxied.Response, backendTarget)
	}
}

func hasHeader(h [][2]string, name, value string) bool {
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) && kv[1] == value {
			return true
		}
	}
	return false
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}
