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
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
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
//   - floor/refapi=10000, floor/bytes=N: the same clients served by a bare gRPC ADS method with no xDS behind it
//     (floorServer), sending refapi=10000's edited response, or one of N bytes, pre-encoded once: what the push
//     costs without the xDS server.
//
// Besides ns/op and the median push, each reports the CPU time per push of this process and of the clients'.
//
//	go test ./xds/server -run '^$' -bench BenchmarkADSFanout -benchtime 5x -count 3 -cpu 2
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
	// The floor: the same arrangement without xDS (see benchmarkFloor). refapi=10000 sends what the SotW server
	// sends for refapi=10000's edit (the edited RouteConfiguration's response, same bytes); bytes=N a response of
	// N bytes.
	for _, shape := range []struct {
		name string
		size int // 0: refapi=10000's edited response
	}{{"refapi=10000", 0}, {"bytes=30000", 30_000}, {"bytes=5000", 5_000}} {
		for _, clients := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("floor/%s/clients=%d", shape.name, clients), func(b *testing.B) {
				// The clients subscribe to 100 RouteConfigurations, as in refapi=10000, so that their requests
				// (ACKs) are the same size; every response carries the one named floorRoute.
				routes := []string{floorRoute}
				for i := 1; i < 100; i++ {
					routes = append(routes, fleetRouteName(i))
				}
				var value []byte
				if shape.size == 0 {
					f := newRefFleet(b, 100, 100)
					value, routes = editedRouteBytes(b, f), f.routeNames()
				} else {
					value = paddedRouteBytes(floorRoute, shape.size)
				}
				benchmarkFloor(b, value, routes, clients)
			})
		}
	}
}

// fanoutConfig is what BenchmarkADSFanout publishes: resources, the RouteConfiguration names, and one-route edits.
type fanoutConfig interface {
	resources() map[resourcev3.Type][]types.Resource
	// digests are the content digests the Builder gave resources (nil: none), published with them as the
	// control plane does (Publisher.PublishDigested).
	digests() Digests
	routeNames() []string
	edit(i int)
}

// refFleet is REF-API definitions translated and built once per state: A (as defined) and B (one method's
// timeout changed); edits alternate between them. Unchanged RouteConfigurations are the same objects in both
// (Builder), as they are between two builds of the running control plane.
type refFleet struct {
	states [2]map[resourcev3.Type][]types.Resource
	sums   [2]Digests
	names  []string
	cur    int
}

func newRefFleet(tb testing.TB, apis, perAPI int) *refFleet {
	defs := fleetAPIs(apis, perAPI)
	p := newPipeline()
	f := &refFleet{}
	p.run(tb, defs)
	f.states[0], f.sums[0] = p.last, p.lastDigests
	editTimeout(defs, 1)
	p.run(tb, defs)
	f.states[1], f.sums[1] = p.last, p.lastDigests
	for _, rc := range f.states[0][resourcev3.RouteType] {
		f.names = append(f.names, cachev3.GetResourceName(rc))
	}
	return f
}

func (f *refFleet) resources() map[resourcev3.Type][]types.Resource { return f.states[f.cur] }
func (f *refFleet) digests() Digests                                { return f.sums[f.cur] }
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
	version, err := srv.PublishDigested(ctx, f.resources(), f.digests())
	if err != nil {
		b.Fatal(err)
	}

	heapBefore := heapAlloc()
	acked, stop := startFanoutChild(b, lis.Addr().String(), mode, clients, f.routeNames())
	defer stop()
	childStart := waitVersion(b, acked, version)
	heapPerClient := float64(int64(heapAlloc())-int64(heapBefore)) / float64(clients)

	var lat []time.Duration
	serverStart := processCPU()
	childEnd := childStart
	for i := 0; b.Loop(); i++ {
		f.edit(i)
		start := time.Now()
		v, err := srv.PublishDigested(ctx, f.resources(), f.digests())
		if err != nil {
			b.Fatal(err)
		}
		childEnd = waitVersion(b, acked, v)
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(heapPerClient/(1<<20), "server-heap-MiB/client")
	reportPushMetrics(b, lat, processCPU()-serverStart, childEnd-childStart)
}

// reportPushMetrics reports the median push latency and the CPU time per push of the server process (everything
// in it: server, benchmark loop, GC) and of the clients' process. CPU time is much less sensitive than wall time
// to other jobs on the machine; with two cores, a push cannot take less than (server + client CPU) / 2.
func reportPushMetrics(b *testing.B, lat []time.Duration, server, client time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms/push")
	b.ReportMetric(float64(server.Microseconds())/1000/float64(len(lat)), "server-cpu-ms/push")
	b.ReportMetric(float64(client.Microseconds())/1000/float64(len(lat)), "client-cpu-ms/push")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startFanoutChild starts the child process of clients (TestADSClientProcess) against addr and returns the
// versions of RDS every client has ACKed, in order, and a function that ends the child.
func startFanoutChild(b *testing.B, addr, mode string, clients int, routes []string) (<-chan childAck, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestADSClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildAddr+"="+addr, envChildClients+"="+strconv.Itoa(clients),
		envChildMode+"="+mode, envChildRoutes+"="+strings.Join(routes, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	acked := make(chan childAck, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ackedcpu "+resourcev3.RouteType+" "); ok {
				version, cpu, _ := strings.Cut(v, " ")
				ns, _ := strconv.ParseInt(cpu, 10, 64)
				acked <- childAck{version: version, cpu: time.Duration(ns)}
			}
		}
		close(acked)
	}()
	return acked, func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// childAck is one "every client ACKed" report of the clients' process: the RDS version and the CPU time the
// process had used then.
type childAck struct {
	version string
	cpu     time.Duration
}

// waitVersion waits until the child reports that every client ACKed version and returns the child's CPU time then.
func waitVersion(b *testing.B, acked <-chan childAck, version string) time.Duration {
	b.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case v, ok := <-acked:
			if !ok {
				b.Fatal("client process ended")
			}
			if v.version == version {
				return v.cpu
			}
		case <-timeout.C:
			b.Fatalf("clients did not ACK %s", version)
		}
	}
}

// TestADSClientProcess is the child side of BenchmarkADSFanout and TestHeapStability; it does nothing unless the
// benchmark started it. Once every client has ACKed a type at a version it prints "acked <type URL> <version>", then
// "ackedcpu <type URL> <version> <CPU time in ns the process has used>".
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
			fmt.Fprintf(os.Stdout, "ackedcpu %s %d\n", k, processCPU())
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

// floorRoute is the RouteConfiguration name of the floor server's bytes=N responses.
const floorRoute = "floor"

// editedRouteBytes returns the published bytes of the RouteConfiguration f's edit changes (what the xDS server
// sends every client for one edit).
func editedRouteBytes(b *testing.B, f *refFleet) []byte {
	p := NewPublisher(slog.New(slog.DiscardHandler), nil)
	if _, err := p.Publish(context.Background(), f.states[0]); err != nil {
		b.Fatal(err)
	}
	before := p.cache.current.types[resourcev3.RouteType]
	if _, err := p.Publish(context.Background(), f.states[1]); err != nil {
		b.Fatal(err)
	}
	var edited [][]byte
	for name, r := range p.cache.current.types[resourcev3.RouteType].byName {
		if before.get(name).version != r.version {
			edited = append(edited, r.any.GetValue())
		}
	}
	if len(edited) != 1 {
		b.Fatalf("the edit changed %d RouteConfigurations, want 1", len(edited))
	}
	return edited[0]
}

// paddedRouteBytes is a RouteConfiguration named name whose encoding is size bytes: the name and an unknown field
// of padding (the clients keep resources as bytes and read only the name).
func paddedRouteBytes(name string, size int) []byte {
	out := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
	const padField = 1000
	head := protowire.SizeTag(padField)
	pad := size - len(out) - head
	for pad > 0 && head+protowire.SizeBytes(pad) > size-len(out) {
		pad--
	}
	out = protowire.AppendTag(out, padField, protowire.BytesType)
	return protowire.AppendBytes(out, make([]byte, max(pad, 0)))
}

// floorServer is the floor of P6: an ADS method with no xDS behind it. Each stream sends the current response,
// encoded once for every stream (grpc.PreparedMsg), when a stream opens and at every push, and reads the clients'
// requests (their ACKs) without looking at them. The clients are BenchmarkADSFanout's own (TestADSClientProcess,
// SotW): the same child process, the same decode, keep-as-bytes and ACK; what differs from the xDS server is
// everything the server does per client beyond sending the bytes and reading the ACK.
type floorServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	value []byte // the RouteConfiguration bytes every response carries

	mu       sync.Mutex
	version  int
	prepared [2]*grpc.PreparedMsg // by version % 2
	streams  map[chan *grpc.PreparedMsg]struct{}
}

// prepareLocked encodes the two alternating responses once, with the codec of stream s.
func (f *floorServer) prepareLocked(s grpc.ServerStream) error {
	if f.prepared[0] != nil {
		return nil
	}
	for v := range f.prepared {
		resp := &discoveryv3.DiscoveryResponse{
			VersionInfo: strconv.Itoa(v), TypeUrl: resourcev3.RouteType, Nonce: strconv.Itoa(v),
			Resources: []*anypb.Any{{TypeUrl: resourcev3.RouteType, Value: f.value}},
		}
		m := &grpc.PreparedMsg{}
		if err := m.Encode(s, resp); err != nil {
			return err
		}
		f.prepared[v] = m
	}
	return nil
}

func (f *floorServer) StreamAggregatedResources(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	push := make(chan *grpc.PreparedMsg, 1)
	f.mu.Lock()
	if err := f.prepareLocked(s); err != nil {
		f.mu.Unlock()
		return err
	}
	f.streams[push] = struct{}{}
	push <- f.prepared[f.version%2]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.streams, push)
		f.mu.Unlock()
	}()
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case m := <-push:
			if err := s.SendMsg(m); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// publish makes the next version current and hands it to every stream; it returns the version.
func (f *floorServer) publish() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	m := f.prepared[f.version%2]
	for push := range f.streams {
		select {
		case <-push: // a version the stream has not sent yet is superseded
		default:
		}
		push <- m
	}
	return strconv.Itoa(f.version % 2)
}

// benchmarkFloor is benchmarkFanout against floorServer on a bare gRPC server (default options): one operation
// sends every client one response carrying value and waits until every client ACKed it.
func benchmarkFloor(b *testing.B, value []byte, routes []string, clients int) {
	f := &floorServer{value: value, streams: make(map[chan *grpc.PreparedMsg]struct{})}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, f)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	acked, stop := startFanoutChild(b, lis.Addr().String(), "sotw", clients, routes)
	defer stop()
	childStart := waitVersion(b, acked, "0")
	var lat []time.Duration
	serverStart := processCPU()
	childEnd := childStart
	for b.Loop() {
		start := time.Now()
		childEnd = waitVersion(b, acked, f.publish())
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(float64(len(value)), "route-bytes")
	reportPushMetrics(b, lat, processCPU()-serverStart, childEnd-childStart)
}

// BenchmarkFanoutBookkeeping is the server's own work per client in a P6 push, without the network and
// go-control-plane's stream goroutines: publish a one-route edit of refapi=10000 (100 RouteConfigurations of
// 98 KB) to N SotW ADS streams (CDS, LDS, SRDS wildcard, RDS naming all 100), encode each response with the
// server's codec, and process each stream's ACK as the SotW server does (NodeTracker callbacks, new subscription,
// new watch). (T(N) − T(1)) / (N − 1) is the per-client cost that is ours.
//
//	go test ./xds/server -run '^$' -bench BenchmarkFanoutBookkeeping -count 5 -cpu 2
func BenchmarkFanoutBookkeeping(b *testing.B) {
	f := newRefFleet(b, 100, 100)
	for _, clients := range []int{1, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			pub := NewPublisher(slog.New(slog.DiscardHandler), nil)
			tracker := NewNodeTracker(slog.New(slog.DiscardHandler), nil, nil)
			codec := newWireCodec(pub.cache)
			ctx := context.Background()
			if _, err := pub.Publish(ctx, f.resources()); err != nil {
				b.Fatal(err)
			}
			type stream struct {
				id    int64
				out   chan cachev3.Response
				subs  map[string]*streamv3.Subscription
				nonce int
			}
			var streams []*stream
			// ack processes one response as go-control-plane's SotW server and the client would: callbacks, codec,
			// the client's ACK, its new subscription and watch.
			ack := func(s *stream, resp cachev3.Response) {
				out, _ := resp.GetDiscoveryResponse()
				s.nonce++
				out.Nonce = strconv.Itoa(s.nonce)
				typeURL := resp.GetRequest().GetTypeUrl()
				sub := s.subs[typeURL]
				sub.SetReturnedResources(resp.GetReturnedResources())
				tracker.OnStreamResponse(ctx, s.id, resp.GetRequest(), out)
				data, err := codec.Marshal(out)
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
				req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: out.GetVersionInfo(), ResponseNonce: out.GetNonce(),
					Node: &corev3.Node{Id: fmt.Sprintf("node-%d", s.id)}}
				if typeURL == resourcev3.RouteType {
					req.ResourceNames = f.routeNames()
				}
				if err := tracker.OnStreamRequest(s.id, req); err != nil {
					b.Fatal(err)
				}
				sub.SetResourceSubscription(req.GetResourceNames())
				if _, err := pub.cache.CreateWatch(req, sub, s.out); err != nil {
					b.Fatal(err)
				}
			}
			drain := func() {
				for _, s := range streams {
					for {
						select {
						case resp := <-s.out:
							ack(s, resp)
							continue
						default:
						}
						break
					}
				}
			}
			for i := range clients {
				s := &stream{id: int64(i), out: make(chan cachev3.Response, 8), subs: map[string]*streamv3.Subscription{}}
				streams = append(streams, s)
				_ = tracker.OnStreamOpen(ctx, s.id, "")
				for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.ScopedRouteType, resourcev3.RouteType} {
					var names []string
					if typeURL == resourcev3.RouteType {
						names = f.routeNames()
					}
					sub := streamv3.NewSotwSubscription(names, true)
					s.subs[typeURL] = &sub
					req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, Node: &corev3.Node{Id: fmt.Sprintf("node-%d", i)}}
					if _, err := pub.cache.CreateWatch(req, &sub, s.out); err != nil {
						b.Fatal(err)
					}
				}
			}
			drain()
			for i := 0; b.Loop(); i++ {
				f.edit(i)
				if _, err := pub.Publish(ctx, f.resources()); err != nil {
					b.Fatal(err)
				}
				drain()
			}
		})
	}
}
