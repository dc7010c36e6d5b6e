package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// BenchmarkPush measures push fan-out (P6-style, in one process): one operation publishes a configuration that
// differs from the served one in one route of a 10,000-route RouteConfiguration (1 listener, 1 cluster, routes
// 50% exact path / 50% safe_regex) and waits until every ADS client has received and ACKed the new RDS version.
// Each client has its own TCP connection and one SotW ADS stream subscribed to CDS, LDS and RDS, ACKs every
// response and keeps no resources (it never unmarshals them).
//
// Reported: ns/op and p50-ns/op (publish → all ACKed), heap-B/client: heap growth per connected client after the
// initial push, measured in this process, so it includes the client side of each connection as well as the
// server's per-stream state (an upper bound for the server alone).
//
//	go test ./xds/server -run '^$' -bench BenchmarkPush -benchtime 3x -cpu 2
func BenchmarkPush(b *testing.B) {
	for _, clients := range []int{1, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// Two configurations that differ in one route; publishing them alternately changes the version every time.
			benchmarkPush(b, clients, testResources(b, testConfig{Gen: 1, Routes: 10_000}), testResources(b, testConfig{Gen: 1, Routes: 10_000, Tag: "-b"}))
		})
	}
}

// BenchmarkPushRefAPI is P6 on proxyplus's own output: REF-API(10000) through the translator and the builders,
// published as serve publishes it (route configurations in wire form), alternating with a one-route edit.
//
//	go test ./xds/server -run '^$' -bench BenchmarkPushRefAPI -benchtime 3x -cpu 2
func BenchmarkPushRefAPI(b *testing.B) {
	build := func(timeoutMs int32) map[resourcev3.Type][]types.Resource {
		api := refapi.New(10_000)
		api.Resources[0].ResourceMethods["GET"].Integration.TimeoutInMillis = timeoutMs
		cfg, diags := translator.Translate([]translator.Input{{File: "ref-api", API: api}}, translator.Options{})
		if err := diags.Err(); err != nil {
			b.Fatal(err)
		}
		res, err := builder.Build(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return res.ByType()
	}
	a, c := build(1000), build(2000)
	for _, clients := range []int{1, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchmarkPush(b, clients, a, c) })
	}
}

func benchmarkPush(b *testing.B, clients int, cfgA, cfgB map[resourcev3.Type][]types.Resource) {
	routeName := cfgA[resourcev3.RouteType][0].(interface{ GetName() string }).GetName()
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

	version, err := srv.Publish(ctx, cfgA)
	if err != nil {
		b.Fatal(err)
	}

	heapBefore := heapAlloc()
	acks := make(chan string, 4*clients)
	clientCtx, stopClients := context.WithCancel(ctx)
	clientErrs := make(chan error, clients)
	var conns []*grpc.ClientConn
	defer func() {
		stopClients()
		for range conns {
			if err := <-clientErrs; err != nil {
				b.Error(err)
			}
		}
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range clients {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		go func() {
			err := runBenchClient(clientCtx, conn, fmt.Sprintf("bench-%03d", i), routeName, acks)
			if clientCtx.Err() != nil {
				err = nil // stopped by the benchmark
			}
			clientErrs <- err
		}()
	}
	waitAcks(b, acks, version, clients)
	heapPerClient := float64(int64(heapAlloc())-int64(heapBefore)) / float64(clients)

	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		cfg := cfgB
		if i%2 == 1 {
			cfg = cfgA
		}
		start := time.Now()
		v, err := srv.Publish(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if v == version {
			b.Fatalf("publish %d did not change the version", i)
		}
		version = v
		waitAcks(b, acks, version, clients)
		lat = append(lat, time.Since(start))
	}
	// Reported after the loop: b.Loop resets the timer, which drops metrics reported earlier.
	b.ReportMetric(heapPerClient, "heap-B/client")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns/op")
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitAcks waits until n RDS ACKs of version arrived.
func waitAcks(b *testing.B, acks <-chan string, version string, n int) {
	b.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for got := 0; got < n; {
		select {
		case v := <-acks:
			if v == version {
				got++
			}
		case <-timeout.C:
			b.Fatalf("%d of %d clients ACKed %s", got, n, version)
		}
	}
}

// runBenchClient is a minimal Envoy-like SotW ADS client: CDS, LDS and RDS on one stream, ACKing every response.
// It reports the version of every RDS response it ACKs.
func runBenchClient(ctx context.Context, conn *grpc.ClientConn, node, routeName string, acks chan<- string) error {
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	for _, r := range []*discoveryv3.DiscoveryRequest{
		{Node: &corev3.Node{Id: node, Cluster: "bench"}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.RouteType, ResourceNames: []string{routeName}},
	} {
		if err := s.Send(r); err != nil {
			return err
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if resp.GetTypeUrl() == resourcev3.RouteType {
			ack.ResourceNames = []string{routeName}
		}
		if err := s.Send(ack); err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.RouteType {
			select {
			case acks <- resp.GetVersionInfo():
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// BenchmarkPublish measures Publish alone (validation, content hash, snapshot, consistency check, SetSnapshot
// with no client connected) for the same 10,000-route change as BenchmarkPush: the fixed part of T(1).
func BenchmarkPublish(b *testing.B) {
	p := NewPublisher(slog.New(slog.DiscardHandler), nil)
	cfgs := []map[resourcev3.Type][]types.Resource{
		testResources(b, testConfig{Gen: 1, Routes: 10_000}),
		testResources(b, testConfig{Gen: 1, Routes: 10_000, Tag: "-b"}),
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Publish(ctx, cfgs[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
