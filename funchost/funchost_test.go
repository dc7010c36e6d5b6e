//go:build unix

package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// echofn is the aws-lambda-go test function (internal/testfn/echofn), built once by TestMain.
var echofn string

func TestMain(m *testing.M) {
	if os.Getenv(echoServerEnv) == "1" {
		serveEcho() // the benchmarks' out-of-process HTTP echo (bench_test.go)
		return
	}
	dir, err := os.MkdirTemp("", "funchost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echofn = filepath.Join(dir, "echofn")
	cmd := exec.Command("go", "build", "-tags", "funchost_testfn", "-o", echofn, "./internal/testfn/echofn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test function:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// records is a slog handler keeping what the host logs.
type records struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}

// find returns the records with message msg.
func (r *records) find(msg string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, m := range r.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func newHost(t *testing.T, fns []Function, opts Options) (*Host, *records) {
	t.Helper()
	recs := &records{}
	opts.Logger = slog.New(recs)
	h, err := New(fns, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, recs
}

func echoHost(t *testing.T, fn Function, opts Options) (*Host, *records) {
	fn.Name = "echo"
	fn.Command = []string{echofn}
	return newHost(t, []Function{fn}, opts)
}

type echoResponse struct {
	PID        int             `json:"pid"`
	Value      json.RawMessage `json:"value"`
	RequestID  string          `json:"requestId"`
	ARN        string          `json:"arn"`
	Function   string          `json:"function"`
	Memory     string          `json:"memory"`
	Region     string          `json:"region"`
	Handler    string          `json:"handler"`
	TZ         string          `json:"tz"`
	DeadlineMs int64           `json:"deadlineMs"`
	Body       string          `json:"body"`
	Trace      string          `json:"trace"`
}

func invoke(t *testing.T, h *Host, function, event string) *lambdainvoke.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Invoke(ctx, function, []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	return res
}

func invokeOK(t *testing.T, h *Host, event string) echoResponse {
	t.Helper()
	res := invoke(t, h, "echo", event)
	if res.FunctionError != "" {
		t.Fatalf("Invoke(%s): function error %s: %s", event, res.FunctionError, res.Payload)
	}
	var r echoResponse
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("response %s: %v", res.Payload, err)
	}
	return r
}

type errorDoc struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

func functionError(t *testing.T, res *lambdainvoke.Result) errorDoc {
	t.Helper()
	if res.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError = %q, want Unhandled (payload %s)", res.FunctionError, res.Payload)
	}
	var d errorDoc
	if err := json.Unmarshal(res.Payload, &d); err != nil {
		t.Fatalf("error payload %s: %v", res.Payload, err)
	}
	return d
}

func TestEchoColdThenWarm(t *testing.T) {
	h, recs := echoHost(t, Function{MemoryMB: 256, Handler: "bootstrap", Timeout: 5 * time.Second}, Options{Region: "eu-west-1"})
	start := time.Now()
	r1 := invokeOK(t, h, `{"action":"echo","value":{"a":1}}`)
	if string(r1.Value) != `{"a":1}` {
		t.Errorf("value = %s", r1.Value)
	}
	if want := "arn:aws:lambda:eu-west-1:000000000000:function:echo"; r1.ARN != want {
		t.Errorf("invoked ARN = %q, want %q", r1.ARN, want)
	}
	if r1.Function != "echo" || r1.Memory != "256" || r1.Region != "eu-west-1" || r1.Handler != "bootstrap" || r1.TZ != ":UTC" {
		t.Errorf("environment: %+v", r1)
	}
	if r1.RequestID == "" {
		t.Error("no request id")
	}
	if dl := time.UnixMilli(r1.DeadlineMs); dl.Before(start.Add(4*time.Second)) || dl.After(time.Now().Add(5*time.Second)) {
		t.Errorf("deadline %v not about 5s after %v", dl, start)
	}

	res := invoke(t, h, "echo:live", `{"action":"echo"}`)
	var r2 echoResponse
	if err := json.Unmarshal(res.Payload, &r2); err != nil {
		t.Fatal(err)
	}
	if res.ExecutedVersion != "$LATEST" {
		t.Errorf("ExecutedVersion = %q", res.ExecutedVersion)
	}
	if r2.PID != r1.PID {
		t.Errorf("warm invocation ran in pid %d, cold one in %d: instance not reused", r2.PID, r1.PID)
	}
	if r2.RequestID == r1.RequestID {
		t.Error("request id reused")
	}
	if want := "arn:aws:lambda:eu-west-1:000000000000:function:echo:live"; r2.ARN != want {
		t.Errorf("invoked ARN = %q, want %q", r2.ARN, want)
	}
	if n := len(recs.find("function cold start")); n != 1 {
		t.Errorf("%d cold starts logged, want 1", n)
	}
	var found bool
	for _, m := range recs.find("function output") {
		if m["line"] == "handling echo" && m["request_id"] == r1.RequestID && m["stream"] == "stdout" {
			found = true
		}
	}
	if !found {
		t.Errorf("function output with request id %s not logged: %v", r1.RequestID, recs.find("function output"))
	}
}

func TestFunctionError(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	before := invokeOK(t, h, `{}`)
	d := functionError(t, invoke(t, h, "echo", `{"action":"error"}`))
	if d.ErrorMessage != "boom" || d.ErrorType != "errorString" {
		t.Errorf("error document %+v", d)
	}
	if after := invokeOK(t, h, `{}`); after.PID != before.PID {
		t.Errorf("a function error replaced the instance (pid %d → %d)", before.PID, after.PID)
	}
}

func TestPanic(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	d := functionError(t, invoke(t, h, "echo", `{"action":"panic"}`))
	if !strings.Contains(d.ErrorMessage, "kaboom") {
		t.Errorf("error document %+v does not tell the panic", d)
	}
	invokeOK(t, h, `{}`) // the host recovers, whether the runtime survived the panic or not
}

func TestTimeout(t *testing.T) {
	h, recs := echoHost(t, Function{Timeout: 500 * time.Millisecond}, Options{})
	before := invokeOK(t, h, `{}`)
	start := time.Now()
	res := invoke(t, h, "echo", `{"action":"sleep","ms":60000}`)
	d := functionError(t, res)
	if d.ErrorType != "Sandbox.Timedout" || !strings.Contains(d.ErrorMessage, "Task timed out after 0.50 seconds") {
		t.Errorf("error document %+v", d)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("timeout took %v", el)
	}
	if err := syscall.Kill(before.PID, 0); err == nil {
		t.Errorf("timed-out process %d still alive", before.PID)
	}
	if after := invokeOK(t, h, `{}`); after.PID == before.PID {
		t.Error("timed-out instance reused")
	}
	if len(recs.find("function timed out")) != 1 {
		t.Error("timeout not logged")
	}
}

func TestCrash(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	before := invokeOK(t, h, `{}`)
	d := functionError(t, invoke(t, h, "echo", `{"action":"exit"}`))
	if d.ErrorType != "Runtime.ExitError" || !strings.Contains(d.ErrorMessage, "exit status 3") {
		t.Errorf("error document %+v", d)
	}
	if after := invokeOK(t, h, `{}`); after.PID == before.PID {
		t.Error("crashed instance reused")
	}
}

func TestResponseTooLarge(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	d := functionError(t, invoke(t, h, "echo", `{"action":"big"}`))
	if d.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("error document %+v", d)
	}
	invokeOK(t, h, `{}`)
}

func TestCallerDeadline(t *testing.T) {
	h, _ := echoHost(t, Function{Timeout: 30 * time.Second}, Options{})
	invokeOK(t, h, `{}`)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := h.Invoke(ctx, "echo", []byte(`{"action":"get","url":"`+srv.URL+`"}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	var ie *lambdainvoke.InvokeError
	if !errors.As(err, &ie) || ie.Class != nil {
		t.Errorf("err = %#v, want an unclassified *lambdainvoke.InvokeError", err)
	}
}

// TestConcurrency: MaxConcurrency 2 and QueueLimit 1. Three slow invocations: two run, the third waits for an
// instance and then reuses one; a fourth is throttled.
func TestConcurrency(t *testing.T) {
	arrived := make(chan string, 3)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Query().Get("n")
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, r.URL.Query().Get("n"))
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })

	h, recs := echoHost(t, Function{MaxConcurrency: 2, Timeout: 30 * time.Second}, Options{QueueLimit: 1})
	queued := make(chan string, 4)
	h.testHookQueued = func(fn string) { queued <- fn }

	type out struct {
		r   echoResponse
		err error
	}
	results := make(chan out, 3)
	call := func(n int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := h.Invoke(ctx, "echo", []byte(fmt.Sprintf(`{"action":"get","url":"%s/?n=%d"}`, srv.URL, n)))
		var r echoResponse
		if err == nil {
			err = json.Unmarshal(res.Payload, &r)
		}
		results <- out{r, err}
	}
	timeout := time.After(30 * time.Second)
	go call(1)
	go call(2)
	running := map[string]bool{}
	for len(running) < 2 {
		select {
		case n := <-arrived:
			running[n] = true
		case <-timeout:
			t.Fatal("the first two invocations did not start")
		}
	}
	go call(3)
	select {
	case <-queued:
	case n := <-arrived:
		t.Fatalf("invocation %s ran beyond MaxConcurrency", n)
	case <-timeout:
		t.Fatal("the third invocation did not queue")
	}
	// The queue (1) is full: a fourth invocation is throttled at once.
	_, err := h.Invoke(context.Background(), "echo", []byte(`{}`))
	if !errors.Is(err, lambdainvoke.ErrThrottled) {
		t.Fatalf("fourth invocation: err = %v, want ErrThrottled", err)
	}
	releaseOnce.Do(func() { close(release) })
	pids := map[int]bool{}
	for range 3 {
		select {
		case o := <-results:
			if o.err != nil {
				t.Fatal(o.err)
			}
			pids[o.r.PID] = true
		case <-timeout:
			t.Fatal("invocations did not finish")
		}
	}
	if len(pids) != 2 {
		t.Errorf("3 invocations ran in %d processes, want 2", len(pids))
	}
	if n := len(recs.find("function cold start")); n != 2 {
		t.Errorf("%d cold starts, want 2", n)
	}
}

func TestLookupAndLimits(t *testing.T) {
	h, _ := newHost(t, []Function{
		{Name: "a", Command: []string{"false"}},
		{Name: "b", ARN: "arn:aws:lambda:us-west-2:123456789012:function:b", Command: []string{"false"}},
	}, Options{})
	if got := strings.Join(h.Names(), ","); got != "a,b" {
		t.Errorf("Names() = %s", got)
	}
	for _, fn := range []string{"c", "arn:aws:lambda:us-east-1:123456789012:function:b", "111111111111:function:b"} {
		_, err := h.Invoke(context.Background(), fn, nil)
		if !errors.Is(err, lambdainvoke.ErrNotFound) {
			t.Errorf("Invoke(%s): err = %v, want ErrNotFound", fn, err)
		}
	}
	for fn, want := range map[string]string{
		"b":      "arn:aws:lambda:us-west-2:123456789012:function:b",
		"b:live": "arn:aws:lambda:us-west-2:123456789012:function:b:live",
		"a":      "arn:aws:lambda:us-east-1:000000000000:function:a",
		"arn:aws:lambda:us-west-2:123456789012:function:b:3": "arn:aws:lambda:us-west-2:123456789012:function:b:3",
		"123456789012:function:b":                            "arn:aws:lambda:us-west-2:123456789012:function:b",
	} {
		_, arn, err := h.lookup(fn)
		if err != nil || arn != want {
			t.Errorf("lookup(%s) = %s, %v; want %s", fn, arn, err, want)
		}
	}
	_, err := h.Invoke(context.Background(), "a", make([]byte, MaxPayload+1))
	if !errors.Is(err, lambdainvoke.ErrPayloadTooLarge) {
		t.Errorf("oversized payload: err = %v", err)
	}
	for _, fns := range [][]Function{
		{{Name: "x"}},
		{{Name: "x:1", Command: []string{"true"}}},
		{{Name: "x", Command: []string{"true"}}, {Name: "x", Command: []string{"true"}}},
		{{Name: "x", ARN: "arn:aws:lambda:us-east-1:123456789012:function:y", Command: []string{"true"}}},
	} {
		if _, err := New(fns, Options{}); err == nil {
			t.Errorf("New(%+v) accepted", fns)
		}
	}
}

func TestMissingCommand(t *testing.T) {
	h, _ := newHost(t, []Function{{Name: "nope", Command: []string{filepath.Join(t.TempDir(), "missing")}}}, Options{})
	d := functionError(t, invoke(t, h, "nope", `{}`))
	if d.ErrorType != "Runtime.InvalidEntrypoint" {
		t.Errorf("error document %+v", d)
	}
}

func TestClose(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	r := invokeOK(t, h, `{}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(r.PID, 0); err == nil {
		t.Errorf("process %d alive after Close", r.PID)
	}
	if _, err := h.Invoke(context.Background(), "echo", []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: err = %v, want ErrClosed", err)
	}
}

var _ lambdainvoke.Invoker = (*Host)(nil)

func TestCloseDuringInvocation(t *testing.T) {
	h, _ := echoHost(t, Function{Timeout: 30 * time.Second}, Options{})
	arrived := make(chan struct{}, 1)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	errc := make(chan error, 1)
	go func() {
		_, err := h.Invoke(context.Background(), "echo", []byte(`{"action":"get","url":"`+srv.URL+`"}`))
		errc <- err
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("invocation did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("in-flight Invoke: err = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight Invoke did not end")
	}
}

// The caller's trace continues into the function (_X_AMZN_TRACE_ID, set by the runtime from
// Lambda-Runtime-Trace-Id); without one the host starts an unsampled trace.
func TestTraceHeader(t *testing.T) {
	h, _ := echoHost(t, Function{}, Options{})
	const trace = "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=53995c3f42cd8ad8;Sampled=0"
	ctx, cancel := context.WithTimeout(lambdainvoke.WithTraceHeader(context.Background(), trace), 30*time.Second)
	defer cancel()
	res, err := h.Invoke(ctx, "echo", []byte(`{"value":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var r echoResponse
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatal(err)
	}
	if r.Trace != trace {
		t.Errorf("_X_AMZN_TRACE_ID = %q, want %q", r.Trace, trace)
	}
	if got := invokeOK(t, h, `{"value":2}`).Trace; !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(got) {
		t.Errorf("new trace = %q", got)
	}
}

// TestMetrics: a cold start, then a warm invocation: two invocations, one cold start, on /metrics.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, _ := echoHost(t, Function{}, Options{Metrics: NewMetrics(reg)})
	invokeOK(t, h, `{"value":1}`)
	invokeOK(t, h, `{"value":2}`)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`proxyplus_funchost_invocations_total{function="echo"} 2`, `proxyplus_funchost_cold_starts_total{function="echo"} 1`} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", want, rec.Body)
		}
	}
}
