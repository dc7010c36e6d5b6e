package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Child-process ADS clients (P6, §2.1): the benchmark re-executes the test binary with these variables set and
// TestADSClientProcess runs the clients, so that client CPU is outside the server's process.
const (
	envChildAddr    = "PROXYPLUS_ADS_CHILD_ADDR"
	envChildClients = "PROXYPLUS_ADS_CHILD_CLIENTS"
	envChildMode    = "PROXYPLUS_ADS_CHILD_MODE" // sotw or delta
	envChildRoutes  = "PROXYPLUS_ADS_CHILD_ROUTES"
)

// clientWindow is the HTTP/2 stream and connection window the clients advertise. Envoy's defaults for its gRPC
// clients are 256 MiB (api/envoy/config/core/v3/protocol.proto Http2ProtocolOptions initial_stream_window_size,
// initial_connection_window_size); grpc-go's 64 KiB default would make a 10 MB response take ~150 window updates.
const clientWindow = 64 << 20

// BenchmarkADSFanout is P6 (§2.1): the xDS server in this process on loopback TCP, N ADS clients in a child process
// (each its own connection and stream, subscribing CDS, LDS, SRDS and RDS, ACKing every response and keeping the
// resources as bytes). One operation publishes a one-route edit and waits until every client has ACKed the new
// version of the edited RouteConfiguration. Shapes, each 10,000 routes:
//
//   - routes=10000: 100 APIs of 100 synthetic routes (50% exact, 50% regex), one RouteConfiguration per API (the
//     split); single=10000: the same routes in one RouteConfiguration (0.5 MB): the split cannot help.
//
//   - refapi=10000: 100 APIs of REF-API(100) through the translator and the Builder (98 KB per RouteConfiguration);
//     refapi-single=10000: REF-API(10000), one 9.4 MB RouteConfiguration, as main's BenchmarkPushRefAPI. The two
//     configurations (before and after the edit) are built before timing; publishing alternates between them.
//
//     go test ./xds/server -run '^$' -bench BenchmarkADSFanout -benchtime 5x -count 3 -cpu 2
func BenchmarkADSFanout(b *testing.B) {
	for _, mode := range []string{"sotw", "delta"} {
		for _, shape := range []struct {
			name         string
			apis, perAPI int
			refapi       bool
		}{{"routes=10000", 100, 100, false}, {"single=10000", 1, 10_000, false}, {"refapi=10000", 100, 100, true}, {"refapi-single=10000", 1, 10_000, true}} {
			for _, clients := range []int{1, 10, 100} {
				b.Run(fmt.Sprintf("%s/%s/clients=%d", mode, shape.name, clients), func(b *testing.B) {
					if shape.refapi {
						benchmarkFanout(b, mode, newRefFleet(b, shape.apis, shape.perAPI), clients)
					} else {
						benchmarkFanout(b, mode, newFleet(b, shape.apis, shape.perAPI), clients)
					}
				})
			}
		}
	}
}

// fanoutConfig is what BenchmarkADSFanout publishes: resources, the RouteConfiguration names, and one-route edits.
type fanoutConfig interface {
	resources() map[resourcev3.Type][]types.Resource
	routeNames() []string
	edit(i int)
}

// refFleet is REF-API definitions translated and built once per state: A (as defined) and B (one method's
// timeout changed); edits alternate between them. Unchanged RouteConfigurations are the same objects in both
// (Builder), as they are between two builds of the running control plane.
type refFleet struct {
	states [2]map[resourcev3.Type][]types.Resource
	names  []string
	cur    int
}

func newRefFleet(tb testing.TB, apis, perAPI int) *refFleet {
	defs := fleetAPIs(apis, perAPI)
	p := newPipeline()
	f := &refFleet{}
	p.run(tb, defs)
	f.states[0] = p.last
	editTimeout(defs, 1)
	p.run(tb, defs)
	f.states[1] = p.last
	for _, rc := range f.states[0][resourcev3.RouteType] {
		f.names = append(f.names, cachev3.GetResourceName(rc))
	}
	return f
}

func (f *refFleet) resources() map[resourcev3.Type][]types.Resource { return f.states[f.cur] }
func (f *refFleet) routeNames() []string                            { return f.names }
func (f *refFleet) edit(int)                                        { f.cur = 1 - f.cur }

func benchmarkFanout(b *testing.B, mode string, f fanoutConfig, clients int) {
	srv := New(Options{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()
	version, err := srv.Publish(ctx, f.resources())
	if err != nil {
		b.Fatal(err)
	}

	heapBefore := heapAlloc()
	cmd := exec.Command(os.Args[0], "-test.run=^TestADSClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildAddr+"="+lis.Addr().String(), envChildClients+"="+strconv.Itoa(clients),
		envChildMode+"="+mode, envChildRoutes+"="+strings.Join(f.routeNames(), ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	acked := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "acked "+resourcev3.RouteType+" "); ok {
				acked <- v
			}
		}
		close(acked)
	}()
	waitVersion(b, acked, version)
	heapPerClient := float64(int64(heapAlloc())-int64(heapBefore)) / float64(clients)

	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		f.edit(i)
		start := time.Now()
		v, err := srv.Publish(ctx, f.resources())
		if err != nil {
			b.Fatal(err)
		}
		waitVersion(b, acked, v)
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(heapPerClient/(1<<20), "server-heap-MiB/client")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms/push")
	}
}

// waitVersion waits until the child reports that every client ACKed version.
func waitVersion(b *testing.B, acked <-chan string, version string) {
	b.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case v, ok := <-acked:
			if !ok {
				b.Fatal("client process ended")
			}
			if v == version {
				return
			}
		case <-timeout.C:
			b.Fatalf("clients did not ACK %s", version)
		}
	}
}

// TestADSClientProcess is the child side of BenchmarkADSFanout and TestHeapStability; it does nothing unless the
// benchmark started it. It prints "acked <type URL> <version>" once every client has ACKed that type at that
// version.
func TestADSClientProcess(t *testing.T) {
	addr := os.Getenv(envChildAddr)
	if addr == "" {
		t.Skip("started by BenchmarkADSFanout only")
	}
	n, _ := strconv.Atoi(os.Getenv(envChildClients))
	mode := os.Getenv(envChildMode)
	routes := strings.Split(os.Getenv(envChildRoutes), ",")
	var mu sync.Mutex
	count := map[string]int{}
	report := func(typeURL, version string) {
		mu.Lock()
		defer mu.Unlock()
		k := typeURL + " " + version
		count[k]++
		if count[k] == n {
			delete(count, k)
			fmt.Fprintf(os.Stdout, "acked %s\n", k)
		}
	}
	errs := make(chan error, n)
	for i := range n {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(clientWindow), grpc.WithInitialConnWindowSize(clientWindow),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
		if err != nil {
			t.Fatal(err)
		}
		node := fmt.Sprintf("%s-%03d", mode, i)
		go func() {
			if mode == "delta" {
				errs <- runDeltaByteClient(conn, node, routes, report)
			} else {
				errs <- runSotwByteClient(conn, node, routes, report)
			}
		}()
	}
	err := <-errs
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
}

// runSotwByteClient keeps the last bytes of every resource by name and reports each RDS version it ACKs.
func runSotwByteClient(conn *grpc.ClientConn, node string, routes []string, report func(typeURL, version string)) error {
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
	if err != nil {
		return err
	}
	for _, r := range []*discoveryv3.DiscoveryRequest{
		{Node: &corev3.Node{Id: node, Cluster: "bench"}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.ScopedRouteType},
		{TypeUrl: resourcev3.RouteType, ResourceNames: routes},
	} {
		if err := s.Send(r); err != nil {
			return err
		}
	}
	kept := map[string][]byte{}
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		for _, a := range resp.GetResources() {
			kept[resp.GetTypeUrl()+"/"+wireName(a.GetValue())] = a.GetValue()
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if resp.GetTypeUrl() == resourcev3.RouteType {
			ack.ResourceNames = routes
		}
		if err := s.Send(ack); err != nil {
			return err
		}
		report(resp.GetTypeUrl(), resp.GetVersionInfo())
	}
}

func runDeltaByteClient(conn *grpc.ClientConn, node string, routes []string, report func(typeURL, version string)) error {
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(context.Background())
	if err != nil {
		return err
	}
	for _, r := range []*discoveryv3.DeltaDiscoveryRequest{
		{Node: &corev3.Node{Id: node, Cluster: "bench"}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.ScopedRouteType},
		{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routes},
	} {
		if err := s.Send(r); err != nil {
			return err
		}
	}
	kept := map[string][]byte{}
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		for _, r := range resp.GetResources() {
			kept[resp.GetTypeUrl()+"/"+r.GetName()] = r.GetResource().GetValue()
		}
		for _, name := range resp.GetRemovedResources() {
			delete(kept, resp.GetTypeUrl()+"/"+name)
		}
		if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
		report(resp.GetTypeUrl(), resp.GetSystemVersionInfo())
	}
}
