//go:build unix

package funchost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// P10 (performance-targets.md): a warm invoke of a no-op function through the host against one loopback
// HTTP/1.1 request–response of the same sizes to an in-process net/http echo. Run both in one go:
//
//	go test -run '^$' -bench 'WarmInvoke|ColdStart' -count 1 ./funchost/
//
// Each reports p50-ns (the median of the iterations' durations); the last of funchost and invoke-api to run also
// reports x-http-echo, its p50 over http-echo's p50 (target ≤ 4).

// benchEvent is a ~1 KB event; echofn's no-op answer carries the value back with its other fields (~1.3 KB).
var benchEvent = []byte(`{"action":"noop","value":"` + strings.Repeat("x", 1000) + `"}`)

var benchP50 = map[string]time.Duration{}

// timeIterations runs f b.N times and reports the median duration as p50-ns.
func timeIterations(b *testing.B, f func()) time.Duration {
	b.Helper()
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		f()
		durs = append(durs, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(durs)
	p50 := durs[len(durs)/2]
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	return p50
}

func benchHost(b *testing.B, fns ...Function) *Host {
	b.Helper()
	h, err := New(fns, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

func BenchmarkWarmInvoke(b *testing.B) {
	if echofn == "" {
		b.Skip("no test function")
	}
	b.Run("http-echo", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(benchEchoResponse(body))
		}))
		defer srv.Close()
		client := srv.Client() // HTTP/1.1, keep-alive
		var n int
		post := func() { n = benchPost(b, client, srv.URL) }
		post()
		benchP50["http-echo"] = timeIterations(b, post)
		b.ReportMetric(float64(n), "resp-bytes")
	})

	b.Run("funchost", func(b *testing.B) {
		h := benchHost(b, Function{Name: "echo", Command: []string{echofn}, Env: benchEnv()})
		var n int
		invoke := func() {
			res, err := h.Invoke(context.Background(), "echo", benchEvent)
			if err != nil || res.FunctionError != "" {
				b.Fatalf("Invoke: %v %s", err, res.Payload)
			}
			n = len(res.Payload)
		}
		invoke() // cold start before the clock starts
		p50 := timeIterations(b, invoke)
		b.ReportMetric(float64(n), "resp-bytes")
		if e := benchP50["http-echo"]; e > 0 {
			b.ReportMetric(float64(p50)/float64(e), "x-http-echo")
		}
	})

	// invoke-api: the same invocation through InvokeAPIHandler over loopback (what an SDK client pays).
	b.Run("invoke-api", func(b *testing.B) {
		h := benchHost(b, Function{Name: "echo", Command: []string{echofn}, Env: benchEnv()})
		srv := httptest.NewServer(h.InvokeAPIHandler())
		defer srv.Close()
		client := srv.Client()
		url := srv.URL + "/2015-03-31/functions/echo/invocations"
		var n int
		post := func() { n = benchPost(b, client, url) }
		post()
		p50 := timeIterations(b, post)
		b.ReportMetric(float64(n), "resp-bytes")
		if e := benchP50["http-echo"]; e > 0 {
			b.ReportMetric(float64(p50)/float64(e), "x-http-echo")
		}
	})
}

// BenchmarkColdStart: from a fresh Host to the first response (process start, runtime init, first invocation).
func BenchmarkColdStart(b *testing.B) {
	if echofn == "" {
		b.Skip("no test function")
	}
	fn := Function{Name: "echo", Command: []string{echofn}}
	durs := make([]time.Duration, 0, b.N)
	for range b.N {
		h, err := New([]Function{fn}, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := h.Invoke(context.Background(), "echo", benchEvent)
		durs = append(durs, time.Since(t0))
		if err != nil || res.FunctionError != "" {
			b.Fatalf("Invoke: %v", err)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = h.Close(ctx)
		cancel()
		b.StartTimer()
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
}

// benchEnv is the function's environment: FUNCHOST_BENCH_GOMAXPROCS sets the function's GOMAXPROCS.
func benchEnv() map[string]string {
	if v := os.Getenv("FUNCHOST_BENCH_GOMAXPROCS"); v != "" {
		return map[string]string{"GOMAXPROCS": v}
	}
	return nil
}

// echoServerEnv makes the test binary an HTTP echo server in a process of its own (see TestMain): the
// http-echo-process benchmark measures what the process boundary alone costs on the machine at hand.
const echoServerEnv = "FUNCHOST_BENCH_ECHO_SERVER"

func serveEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(benchEchoResponse(body))
	}))
}

// benchEchoResponse answers like echofn: the same response document, so the same byte sizes each way.
func benchEchoResponse(body []byte) []byte {
	var ev struct {
		Value json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(body, &ev)
	out, _ := json.Marshal(echoResponse{PID: os.Getpid(), Value: ev.Value, RequestID: newRequestID(),
		ARN: "arn:aws:lambda:us-east-1:000000000000:function:echo", Function: "echo", Memory: "128",
		Region: "us-east-1", TZ: ":UTC", DeadlineMs: time.Now().Add(3 * time.Second).UnixMilli()})
	return out
}

// benchPost posts benchEvent to url and returns the response size.
func benchPost(b *testing.B, client *http.Client, url string) int {
	resp, err := client.Post(url, "application/json", bytes.NewReader(benchEvent))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return len(body)
}

// BenchmarkHTTPEchoProcess: the http-echo exchange with the echo server in another process (a diagnostic for
// P10: a warm invoke is two such exchanges between the host and the runtime).
func BenchmarkHTTPEchoProcess(b *testing.B) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/"
	client := &http.Client{}
	benchPost(b, client, url)
	var n int
	p50 := timeIterations(b, func() { n = benchPost(b, client, url) })
	b.ReportMetric(float64(n), "resp-bytes")
	if e := benchP50["http-echo"]; e > 0 {
		b.ReportMetric(float64(p50)/float64(e), "x-http-echo")
	}
}
