package server

import (
	"bufio"
	"context"
	"flag"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

var long = flag.Bool("long", false, "run the heap measurements (TestHeapStability)")

// heapInuse is HeapInuse after two collections and returning freed memory to the OS (§2.1 P8). Closed
// connections free their buffers only after their finalizers ran, which needs collections beyond the two the
// spec names; the loop yields to the finalizer goroutine between collections until HeapAlloc stops falling
// (at most 8 rounds), so that "after every client disconnected" measures what is kept, not what is pending.
func heapInuse() uint64 {
	var ms runtime.MemStats
	last := uint64(0)
	for range 8 {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
		runtime.Gosched()
		runtime.ReadMemStats(&ms)
		if last != 0 && ms.HeapAlloc >= last {
			break
		}
		last = ms.HeapAlloc
	}
	return ms.HeapInuse
}

// heapAllocNow is HeapAlloc right after heapInuse's collections.
func heapAllocNow() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// clientProcess is a child process of ADS clients (TestADSClientProcess) and the "acked" lines it prints.
type clientProcess struct {
	cmd   *exec.Cmd
	acked chan string // "<type URL> <version>"
}

func startClients(t testing.TB, addr string, n int, routes []string) *clientProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestADSClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildAddr+"="+addr, envChildClients+"="+strconv.Itoa(n),
		envChildMode+"=sotw", envChildRoutes+"="+strings.Join(routes, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &clientProcess{cmd: cmd, acked: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				c.acked <- v
			}
		}
		close(c.acked)
	}()
	return c
}

func (c *clientProcess) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// wait waits until every client ACKed each of want ("<type URL> <version>").
func (c *clientProcess) wait(t *testing.T, want map[string]bool) {
	t.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for len(want) > 0 {
		select {
		case k, ok := <-c.acked:
			if !ok {
				t.Fatal("client process ended")
			}
			delete(want, k)
		case <-timeout.C:
			t.Fatalf("clients did not ACK %v", slices.Collect(maps.Keys(want)))
		}
	}
}

// sentTypes are the "<type URL> <version>" responses a SotW client subscribed to everything receives when the
// served generation goes from prev to next: a wildcard type whose set changed, RDS when a resource is new or changed.
func sentTypes(prev, next *generation) map[string]bool {
	out := map[string]bool{}
	for typeURL, tr := range next.types {
		old := prev.types[typeURL]
		switch typeURL {
		case resourcev3.RouteType:
			for n, v := range tr.versions {
				if old == nil || old.versions[n] != v {
					out[typeURL+" "+next.version] = true
				}
			}
		default:
			if !old.sameAs(tr.versions) && (old != nil || len(tr.names) > 0) {
				out[typeURL+" "+next.version] = true
			}
		}
	}
	return out
}

// TestHeapStability is P8 and P9 (§2.1), run with -long: 10 ADS clients in a child process ACK every version of
// 10,000 routes (100 APIs of 100) through 1,050 edit cycles from a rotation that returns to the starting
// configuration every 8 cycles (add a method, delete it, change a timeout, change it back, add a binary media type,
// remove it, add an API, remove it); HeapInuse at cycle 50 vs 1,050; after every client disconnected vs before any
// connected (same configuration, same process); then 100 clients: (heap with 100 − heap with none) / 100.
//
//	go test ./xds/server -run TestHeapStability -long -v -count 1
func TestHeapStability(t *testing.T) {
	if !*long {
		t.Skip("measurement; run with -long")
	}
	srv := New(Options{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		<-served
	}()

	p := newPipeline()
	p.pub = srv.Publisher()
	apis := fleetAPIs(101, 100)
	extra := apis[100]
	apis = apis[:100]
	routes := make([]string, 0, 101)
	for _, a := range append(slices.Clone(apis), extra) {
		routes = append(routes, "proxyplus-http/"+a.GetId())
	}
	p.run(t, apis)
	noClients := heapInuse()
	noClientsAlloc := heapAllocNow()

	clients := startClients(t, lis.Addr().String(), 10, routes)
	defer clients.stop()
	clients.wait(t, map[string]bool{resourcev3.RouteType + " " + p.pub.version: true})

	extraMethod := func() *apigatewayv1.Method {
		m := proto.Clone(apis[1].GetResources()[0].GetResourceMethods()["GET"]).(*apigatewayv1.Method)
		m.HttpMethod = "PATCH"
		return m
	}
	edits := []func(){
		func() { apis[1].GetResources()[0].GetResourceMethods()["PATCH"] = extraMethod() },
		func() { delete(apis[1].GetResources()[0].GetResourceMethods(), "PATCH") },
		func() { editTimeout(apis, 1) },
		func() { apis[0].GetResources()[0].GetResourceMethods()["GET"].Integration.TimeoutInMillis = 0 },
		func() { apis[2].BinaryMediaTypes = append(apis[2].BinaryMediaTypes, "image/png") },
		func() { apis[2].BinaryMediaTypes = apis[2].BinaryMediaTypes[:len(apis[2].BinaryMediaTypes)-1] },
		func() { apis = append(apis, extra) },
		func() { apis = apis[:100] },
	}
	var warm uint64
	start := time.Now()
	for cycle := 1; cycle <= 1050; cycle++ {
		prev := p.pub.snapshot
		edits[(cycle-1)%len(edits)]()
		p.run(t, apis)
		clients.wait(t, sentTypes(prev, p.pub.snapshot))
		if cycle == 50 {
			warm = heapInuse()
		}
		if cycle%150 == 0 {
			t.Logf("cycle %d after %v", cycle, time.Since(start))
		}
	}
	elapsed := time.Since(start)
	final := heapInuse()
	t.Logf("P8 cycles: heap in use at cycle 50 %.1f MiB, at cycle 1050 %.1f MiB: %.3f× (bound 1.1×); 1000 cycles in %v",
		mib(warm), mib(final), float64(final)/float64(warm), elapsed)

	clients.stop()
	tr := srv.Tracker()
	disconnected := time.NewTimer(time.Minute)
	defer disconnected.Stop()
	for ch := tr.Changed(); p.pub.Status().Streams != 0 || len(connectedNodes(srv)) != 0; ch = tr.Changed() {
		select {
		case <-ch:
		case <-disconnected.C:
			t.Fatalf("streams still open: %+v", p.pub.Status())
		}
	}
	if w := p.pub.Cache().Watches(); w != 0 {
		t.Errorf("%d watches left after every stream closed", w)
	}
	after := heapInuse()
	afterAlloc := heapAllocNow()
	t.Logf("P8 disconnect: heap in use with no client before any connected %.1f MiB, after all disconnected %.1f MiB: %.3f× (bound 1.1×); HeapAlloc %.1f → %.1f MiB",
		mib(noClients), mib(after), float64(after)/float64(noClients), mib(noClientsAlloc), mib(afterAlloc))

	const many = 100
	hundred := startClients(t, lis.Addr().String(), many, routes)
	defer hundred.stop()
	hundred.wait(t, map[string]bool{resourcev3.RouteType + " " + p.pub.version: true})
	with := heapInuse()
	withAlloc := heapAllocNow()
	perClient := (float64(with) - float64(after)) / many
	t.Logf("P9: heap in use with %d clients %.1f MiB, with none %.1f MiB: %.3f MiB per client (bound 0.2); HeapAlloc %.1f vs %.1f MiB: %.3f MiB per client",
		many, mib(with), mib(after), perClient/(1<<20), mib(withAlloc), mib(afterAlloc), (float64(withAlloc)-float64(afterAlloc))/many/(1<<20))
	// Everything the control plane holds stays reachable until every measurement is taken, so that the
	// measurements differ by the clients only (not by what the compiler sees as dead in between).
	runtime.KeepAlive(apis)
	runtime.KeepAlive(extra)
	runtime.KeepAlive(edits)
	runtime.KeepAlive(p)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func connectedNodes(s *Server) []string {
	var out []string
	for _, n := range s.Status().Nodes {
		if n.Connected {
			out = append(out, n.ID)
		}
	}
	return out
}

// TestHeapPerRoutePublished is P5 (§2.1) measured through the serving path, run with -long: everything the
// control plane keeps after translating, building (Builder caches included) and publishing REF-API(10000) —
// translations, Envoy objects, the marshalled generation every client is served from — per route.
//
//	go test ./xds/server -run TestHeapPerRoutePublished -long -v -count 1
func TestHeapPerRoutePublished(t *testing.T) {
	if !*long {
		t.Skip("measurement; run with -long")
	}
	for _, shape := range []struct {
		name         string
		apis, perAPI int
	}{{"single=10000", 1, 10_000}, {"routes=10000", 100, 100}} {
		apis := fleetAPIs(shape.apis, shape.perAPI)
		heapInuse()
		before := heapAllocNow()
		p := newPipeline()
		p.run(t, apis)
		heapInuse()
		after := heapAllocNow()
		runtime.KeepAlive(p)
		runtime.KeepAlive(apis)
		t.Logf("P5 %s: %.0f bytes per route retained (%.1f MiB; bound 2 KiB per route)", shape.name,
			(float64(after)-float64(before))/10_000, mib(after-before))
	}
}
