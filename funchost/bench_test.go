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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/internal/ids"
)

// P10 (performance-targets.md): BenchmarkFunctionHost compares a warm invoke of a no-op function through the host
// with one loopback HTTP/1.1 request–response of the same sizes to an in-process net/http echo, and repeats the
// warm invoke with 10 and 100 registered warm functions (flatness); BenchmarkFunctionHostParallel measures the
// throughput of 1 and 8 callers of a function that sleeps 20 ms. Standard run:
//
//	go test ./funchost -run '^$' -bench 'FunctionHost' -benchmem -count 10 -cpu 2
//
// Latency sub-benchmarks report p50-ns/op and p99-ns/op (per-operation latencies); invoke-warm, invoke-api and
// http-echo-process also report x-http-echo, their p50 over http-echo's p50 in the same run, when http-echo ran
// first (benchstat on p50-ns/op is the reference).

// benchEvent is a ~1 KB event; echofn's no-op answer carries the value back with its other fields (~1.2 KB).
var benchEvent = []byte(`{"action":"noop","value":"` + strings.Repeat("x", 1000) + `"}`)

var benchP50 = map[string]time.Duration{}

// timeIterations runs f b.N times and reports the median and 99th percentile of the durations.
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
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns/op")
	return p50
}

// reportRatio reports p50 over http-echo's p50 of the same run.
func reportRatio(b *testing.B, p50 time.Duration) {
	if e := benchP50["http-echo"]; e > 0 {
		b.ReportMetric(float64(p50)/float64(e), "x-http-echo")
	}
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

func benchFunction(name string) Function {
	return Function{Name: name, Command: []string{echofn}, Env: benchEnv()}
}

// benchInvoke invokes function with benchEvent and returns the response size.
func benchInvoke(b *testing.B, h *Host, function string) int {
	res, err := h.Invoke(context.Background(), function, benchEvent)
	if err != nil || res.FunctionError != "" {
		b.Fatalf("Invoke %s: %v %s", function, err, res.Payload)
	}
	return len(res.Payload)
}

func BenchmarkFunctionHost(b *testing.B) {
	if echofn == "" {
		b.Skip("no test function")
	}
	b.Run("http-echo", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(echoHandler))
		defer srv.Close()
		client := srv.Client() // HTTP/1.1, keep-alive
		var n int
		post := func() { n = benchPost(b, client, srv.URL) }
		post()
		benchP50["http-echo"] = timeIterations(b, post)
		b.ReportMetric(float64(len(benchEvent)), "req-bytes")
		b.ReportMetric(float64(n), "resp-bytes")
	})

	// http-echo-process: the same exchange with the echo server in a process of its own (the test binary
	// re-executed, see serveEcho): what crossing the process boundary costs on the machine at hand. A warm
	// invoke makes two such exchanges in sequence (the runtime's …/next receiving the event, its …/response
	// posting the answer), so about twice this is the floor of any out-of-process function.
	b.Run("http-echo-process", func(b *testing.B) {
		url := startEchoProcess(b)
		client := &http.Client{}
		var n int
		post := func() { n = benchPost(b, client, url) }
		post()
		p50 := timeIterations(b, post)
		b.ReportMetric(float64(len(benchEvent)), "req-bytes")
		b.ReportMetric(float64(n), "resp-bytes")
		reportRatio(b, p50)
	})

	b.Run("invoke-warm", func(b *testing.B) {
		h := benchHost(b, benchFunction("echo"))
		res, err := h.Invoke(context.Background(), "echo", benchEvent) // cold start before the clock starts
		if err != nil {
			b.Fatal(err)
		}
		var first struct {
			PID int `json:"pid"`
		}
		_ = json.Unmarshal(res.Payload, &first)
		var n int
		invoke := func() { n = benchInvoke(b, h, "echo") }
		host0, fn0 := cpuTime(os.Getpid(), true), cpuTime(first.PID, false)
		p50 := timeIterations(b, invoke)
		// Where the time goes: CPU time of the host process (benchmark loop included) and of the function's.
		b.ReportMetric(float64(cpuTime(os.Getpid(), true)-host0)/float64(b.N), "host-cpu-ns/op")
		b.ReportMetric(float64(cpuTime(first.PID, false)-fn0)/float64(b.N), "fn-cpu-ns/op")
		benchP50["invoke-warm"] = p50
		b.ReportMetric(float64(len(benchEvent)), "req-bytes")
		b.ReportMetric(float64(n), "resp-bytes")
		reportRatio(b, p50)
	})

	// invoke-api: the same invocation through InvokeAPIHandler over loopback (what an SDK client pays).
	b.Run("invoke-api", func(b *testing.B) {
		h := benchHost(b, benchFunction("echo"))
		srv := httptest.NewServer(h.InvokeAPIHandler())
		defer srv.Close()
		client := srv.Client()
		url := srv.URL + "/2015-03-31/functions/echo/invocations"
		var n int
		post := func() { n = benchPost(b, client, url) }
		post()
		p50 := timeIterations(b, post)
		b.ReportMetric(float64(n), "resp-bytes")
		reportRatio(b, p50)
	})

	// invoke-warm-functions=N: invoke-warm with N registered functions, all warm (P10 flatness: within ±20% of
	// invoke-warm). invoke-warm-rotating-functions=N invokes them in turn instead, every invocation going to
	// another process than the one before, which then wakes from idle: informative, it adds what the OS and the
	// function's runtime take to wake an idle process to what the host does.
	for _, nfn := range []int{10, 100} {
		for _, rotate := range []bool{false, true} {
			name := fmt.Sprintf("invoke-warm-functions=%d", nfn)
			if rotate {
				name = fmt.Sprintf("invoke-warm-rotating-functions=%d", nfn)
			}
			b.Run(name, func(b *testing.B) {
				fns := make([]Function, nfn)
				names := make([]string, nfn)
				for i := range fns {
					names[i] = fmt.Sprintf("echo%03d", i)
					fns[i] = benchFunction(names[i])
				}
				h := benchHost(b, fns...)
				warmAll(b, h, names)
				i := 0
				p50 := timeIterations(b, func() {
					benchInvoke(b, h, names[i%nfn])
					if rotate {
						i++
					}
				})
				if e := benchP50["invoke-warm"]; e > 0 {
					b.ReportMetric(float64(p50)/float64(e), "x-invoke-warm")
				}
				reportRatio(b, p50)
			})
		}
	}
}

// cpuTime is the user+system CPU time of this process (self) or of process pid (from /proc, in clock ticks of
// 10 ms: use it over many operations).
func cpuTime(pid int, self bool) time.Duration {
	if self {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// warmAll starts every function's instance, a few at a time.
func warmAll(b *testing.B, h *Host, names []string) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if res, err := h.Invoke(context.Background(), name, benchEvent); err != nil || res.FunctionError != "" {
				b.Errorf("warming %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkFunctionHostParallel: callers goroutines invoke one function that sleeps 20 ms, as fast as they can
// (MaxConcurrency 8, all 8 instances warm before the clock starts); one operation is one invocation, reported
// as invocations/s. P10: callers=8 ≥ 6× callers=1, i.e. invocations of one function are not serialised.
func BenchmarkFunctionHostParallel(b *testing.B) {
	if echofn == "" {
		b.Skip("no test function")
	}
	const sleepMs = 20
	event := []byte(fmt.Sprintf(`{"action":"sleep","ms":%d}`, sleepMs))
	rates := map[int]float64{}
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			fn := benchFunction("sleep")
			fn.MaxConcurrency = 8
			h := benchHost(b, fn)
			// Warm 8 instances: 8 concurrent invocations of a 20 ms function each need one of their own.
			p := h.pools["sleep"]
			for {
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						if res, err := h.Invoke(context.Background(), "sleep", event); err != nil || res.FunctionError != "" {
							b.Errorf("warming: %v", err)
						}
					})
				}
				wg.Wait()
				p.mu.Lock()
				n := len(p.idle)
				p.mu.Unlock()
				if b.Failed() {
					b.FailNow()
				}
				if n >= 8 {
					break
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for range callers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						res, err := h.Invoke(context.Background(), "sleep", event)
						if err != nil || res.FunctionError != "" {
							b.Errorf("Invoke: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(t0)
			b.StopTimer()
			rate := float64(b.N) / elapsed.Seconds()
			rates[callers] = rate
			b.ReportMetric(rate, "invocations/s")
			if one := rates[1]; callers > 1 && one > 0 {
				b.ReportMetric(rate/one, "x-callers=1")
			}
		})
	}
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
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns/op")
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
	_ = http.Serve(ln, http.HandlerFunc(echoHandler))
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(benchEchoResponse(body))
}

// startEchoProcess starts the out-of-process echo server and returns its URL.
func startEchoProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + strings.TrimSpace(addr) + "/"
}

// benchEchoResponse answers like echofn: the same response document, so the same byte sizes each way.
func benchEchoResponse(body []byte) []byte {
	var ev struct {
		Value json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(body, &ev)
	// The fields of echofn's response, in its order.
	out, _ := json.Marshal(struct {
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
	}{PID: os.Getpid(), Value: ev.Value, RequestID: ids.NewUUID(),
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
