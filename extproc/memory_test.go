package extproc_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// TestConcurrentLargeBodiesMemory measures the processor's memory for ten concurrent Lambda requests with large
// bodies of NUL bytes (issue 10 scope 3: each NUL byte is six in the event, and the old processor built a 60 MB
// event per 10 MB body before refusing it: ~2 GB for ten). Envoy's FULL_DUPLEX_STREAMED sequence is played over a
// unix socket in 64 KiB chunks, with and without Content-Length. It logs the peak Go heap (sampled every 200 µs)
// and the peak RSS (VmHWM after a reset, less VmRSS before) above the level before the requests, and fails when
// the heap peak passes three times the bodies' total plus 32 MiB (the old processor: about 20×). Run: go test ./extproc -run ConcurrentLargeBodiesMemory -v
func TestConcurrentLargeBodiesMemory(t *testing.T) {
	if testing.Short() || testutil.Instrumented() {
		t.Skip("memory measurement: not under -short, -race or coverage")
	}
	// The heap is sampled between collections, so it counts garbage (every 64 KiB chunk is decoded into a new
	// message): with the default GOGC the peak moved by 2× from run to run with when the collector happened to
	// run (44–97 MB for the 1 MB bodies). Collecting at 10% growth keeps garbage small, so the peak measures what
	// is held.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	var invoked atomic.Int32
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		invoked.Add(1)
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200}`)}, nil
	})}
	client := startUnixProcessor(t, lambda)
	route := lambdaRoute(t, 5*time.Second)
	const streams, chunk = 10, 64 << 10
	nul := make([]byte, extproc.MaxBodyBytes) // shared by every stream: the client's bodies cost 10 MB in all
	for _, c := range []struct {
		name    string
		size    int
		declare bool
		status  uint32
	}{
		{"10MB-streamed", extproc.MaxBodyBytes, false, 413},
		{"10MB-content-length", extproc.MaxBodyBytes, true, 413},
		{"5MB-streamed", 5 << 20, false, 413},
		{"1MB-streamed", 1 << 20, false, 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			runtime.GC()
			base := heapObjects()
			resetPeakRSS()
			rssBase := procStatus("VmRSS:")
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					if h := heapObjects(); h > peak.Load() {
						peak.Store(h)
					}
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Microsecond):
					}
				}
			}()
			var wg sync.WaitGroup
			codes := make([]uint32, streams)
			for i := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = playLarge(t, client, route, nul[:c.size], chunk, c.declare)
				}()
			}
			wg.Wait()
			close(stop)
			<-sampled
			for i, code := range codes {
				if code != c.status {
					t.Errorf("stream %d: status %d, want %d", i, code, c.status)
				}
			}
			total := uint64(streams * c.size)
			grew := peak.Load() - min(base, peak.Load())
			t.Logf("%d × %d-byte NUL bodies (%.0f MB): peak heap +%.1f MB (%.2f× the bodies), peak RSS +%.1f MB",
				streams, c.size, float64(total)/1e6, float64(grew)/1e6, float64(grew)/float64(total), (float64(procStatus("VmHWM:"))-float64(rssBase))/1e6)
			// The heap peak counts garbage not yet collected (every chunk is decoded into a new message) and the
			// client's side of the socket; gRPC's flow-control windows (16 MiB per connection) add a constant.
			if limit := 3*total + 32<<20; grew > limit {
				t.Errorf("peak heap grew %.0f MB for %.0f MB of bodies: want at most 3× the bodies + 32 MiB", float64(grew)/1e6, float64(total)/1e6)
			}
		})
	}
	if n := invoked.Load(); n != 0 {
		t.Errorf("function invoked %d times; none of these bodies fits an invoke", n)
	}
}

// playLarge plays Envoy's FULL_DUPLEX_STREAMED sequence for body and returns the answer's status.
func playLarge(t *testing.T, client extprocsvcv3.ExternalProcessorClient, route string, body []byte, chunk int, declare bool) uint32 {
	cl := -1
	if declare {
		cl = len(body)
	}
	stream := openStream(t, client, context.Background(), route)
	msgs := func(yield func(*extprocsvcv3.ProcessingRequest) bool) {
		if !yield(duplexHeaders(cl)) {
			return
		}
		for b := body; len(b) > 0; {
			k := min(chunk, len(b))
			if !yield(bodyChunk(b[:k], false)) {
				return
			}
			b = b[k:]
		}
		yield(bodyChunk(nil, true))
	}
	// Envoy stops sending once the answer came (processing_complete_): a failed Send ends the loop.
	for m := range msgs {
		if stream.Send(m) != nil {
			break
		}
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Errorf("recv: %v", err)
		return 0
	}
	_ = stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	return uint32(resp.GetImmediateResponse().GetStatus().GetCode())
}

// startUnixProcessor runs the processor as serve does (extproc.ServerOptions, 16 MiB messages) on a unix socket.
func startUnixProcessor(t *testing.T, lambda *extproc.Lambda) extprocsvcv3.ExternalProcessorClient {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "p.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20), grpc.MaxSendMsgSize(16 << 20)}, extproc.ServerOptions()...)...)
	extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, testutil.RouteKeys(t)))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return extprocsvcv3.NewExternalProcessorClient(conn)
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// resetPeakRSS resets the kernel's VmHWM for this process (proc(5), clear_refs "5"); best effort.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatus is a size line of /proc/self/status (VmRSS:, VmHWM:) in bytes (0 when unknown).
func procStatus(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
