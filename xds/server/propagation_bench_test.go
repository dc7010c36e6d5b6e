package server

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// BenchmarkPropagation is the control-plane half of E2's new-route propagation: from a definition gaining a route
// (a PATCH method on API 0's first resource) through translation, build and publish until all 10 ADS clients (child
// process) ACKed the RouteConfiguration carrying it. Only the additions are timed; removing the route again between
// them is not. Issue 13 bound: routes=10000 ≤ 2× routes=100. Other shapes: rebuildShapes (single=10000: one API
// of 10,000 routes whose deployment id is derived from its content, so every edit is a new deployment;
// single=10000-deployment: the same with a declared deployment id; routes=10000: 100 APIs of 100).
//
//	go test ./xds/server -run '^$' -bench BenchmarkPropagation -benchtime 5x -count 3 -cpu 2
func BenchmarkPropagation(b *testing.B) {
	for _, shape := range append([]rebuildShape{{name: "routes=100", nAPIs: 1, perAPI: 100}}, rebuildShapes...) {
		b.Run(shape.name, func(b *testing.B) { benchmarkPropagation(b, shape) })
	}
}

func benchmarkPropagation(b *testing.B, shape rebuildShape) {
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
		<-served
	}()
	p := newRevisionPipeline()
	p.pub = srv.Publisher()
	apis := shape.apis()
	routes := make([]string, len(apis))
	for i, a := range apis {
		routes[i] = "proxyplus-http/" + a.GetId()
	}
	if shape.nAPIs == 1 {
		routes = []string{"proxyplus-http"} // one API: one RouteConfiguration
	}
	p.run(b, apis)
	clients := startClients(b, lis.Addr().String(), 10, routes)
	defer clients.stop()
	clients.waitB(b, resourcev3.RouteType+" "+p.pub.version)

	methods := apis[0].GetResources()[0].GetResourceMethods()
	added := proto.Clone(methods["GET"]).(*apigatewayv1.Method)
	added.HttpMethod = "PATCH"
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		methods["PATCH"] = added
		p.edited(apis[0].GetId())
		p.run(b, apis)
		clients.waitB(b, resourcev3.RouteType+" "+p.pub.version)
		lat = append(lat, time.Since(start))

		b.StopTimer()
		delete(methods, "PATCH")
		p.edited(apis[0].GetId())
		p.run(b, apis)
		clients.waitB(b, resourcev3.RouteType+" "+p.pub.version)
		b.StartTimer()
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms/new-route")
	}
}

// waitB waits until every client ACKed want ("<type URL> <version>").
func (c *clientProcess) waitB(b *testing.B, want string) {
	b.Helper()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case k, ok := <-c.acked:
			if !ok {
				b.Fatal("client process ended")
			}
			if k == want {
				return
			}
		case <-timeout.C:
			b.Fatalf("clients did not ACK %s", want)
		}
	}
}
