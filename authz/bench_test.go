package authz_test

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/store"
)

// noopAuthz answers OK to everything: the floor of an ext_authz check on the same transport.
type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &status.Status{}}, nil
}

// BenchmarkUsagePlanCheck: a usage-plan check (route data verified, key looked up, throttle and quota counted) and
// a no-op check, both over gRPC on a unix socket, in one run (issue 11 acceptance: ≤ 1.2× the no-op).
func BenchmarkUsagePlanCheck(b *testing.B) {
	key, err := ir.NewRouteKey(make([]byte, ir.MinRouteKeyBytes))
	if err != nil {
		b.Fatal(err)
	}
	keys := ir.RouteKeys{key}
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "dev", Route: ir.Route{Name: "a1b2c3d4e5/dev/abc/GET",
		ResourcePath: "/inventory", Method: "GET", Authorization: &ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}}}, keys)
	if err != nil {
		b.Fatal(err)
	}
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	svc := &authz.Service{RouteKeys: keys, Limits: authz.NewLimiter(), Keys: authz.StaticKeys{value: {ID: authz.KeyID(value), Value: value,
		Enabled: true, Plan: &authz.UsagePlan{RateLimit: 1e12, BurstLimit: 1 << 30, QuotaLimit: 1 << 62, QuotaPeriod: "MONTH"}}}}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/dev/inventory",
			Headers: map[string]string{":authority": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "x-api-key": value, "user-agent": "curl/8.5.0"}}},
		ContextExtensions: map[string]string{ir.RouteMetadataKey: spec},
	}}
	for _, bc := range []struct {
		name string
		srv  authv3.AuthorizationServer
	}{{"noop", noopAuthz{}}, {"usage-plan", svc}} {
		b.Run(bc.name, func(b *testing.B) {
			client := serve(b, bc.srv)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Check(ctx, req)
				if err != nil || resp.GetStatus().GetCode() != 0 {
					b.Fatalf("check: %v %v", err, resp.GetStatus())
				}
			}
		})
	}
}

// BenchmarkUsagePlanCheckInterleaved plays a no-op check and a usage-plan check in turn, under the same load, and
// reports each one's median latency and their ratio (usage-plan / no-op): the machine's noise hits both sides alike.
func BenchmarkUsagePlanCheckInterleaved(b *testing.B) {
	key, err := ir.NewRouteKey(make([]byte, ir.MinRouteKeyBytes))
	if err != nil {
		b.Fatal(err)
	}
	keys := ir.RouteKeys{key}
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "dev", Route: ir.Route{Name: "a1b2c3d4e5/dev/abc/GET",
		ResourcePath: "/inventory", Method: "GET", Authorization: &ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}}}, keys)
	if err != nil {
		b.Fatal(err)
	}
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	svc := &authz.Service{RouteKeys: keys, Limits: authz.NewLimiter(), Keys: authz.StaticKeys{value: {ID: authz.KeyID(value), Value: value,
		Enabled: true, Plan: &authz.UsagePlan{ID: "gold", RateLimit: 1e12, BurstLimit: 1 << 30, QuotaLimit: 1 << 62, QuotaPeriod: "MONTH"}}}}
	// The counters are shared through a store and synced every second, as serve does: the request path counts
	// what it admits for the next sync and never waits for the store.
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "u.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	svc.Limits.Shared = st
	syncCtx, stopSync := context.WithCancel(context.Background())
	syncDone := make(chan struct{})
	go func() { svc.Limits.SyncEvery(syncCtx, time.Second, nil); close(syncDone) }()
	b.Cleanup(func() { stopSync(); <-syncDone })
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/dev/inventory",
			Headers: map[string]string{":authority": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "x-api-key": value, "user-agent": "curl/8.5.0"}}},
		ContextExtensions: map[string]string{ir.RouteMetadataKey: spec},
	}}
	noop, plan := serve(b, noopAuthz{}), serve(b, svc)
	ctx := context.Background()
	var tn, tp []time.Duration
	call := func(c authv3.AuthorizationClient) time.Duration {
		start := time.Now()
		resp, err := c.Check(ctx, req)
		d := time.Since(start)
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatalf("check: %v %v", err, resp.GetStatus())
		}
		return d
	}
	for range 200 { // warm both connections
		call(noop)
		call(plan)
	}
	b.ResetTimer()
	for b.Loop() {
		tn = append(tn, call(noop))
		tp = append(tp, call(plan))
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds())
	}
	n, p := p50(tn), p50(tp)
	b.ReportMetric(n, "noop-p50-ns")
	b.ReportMetric(p, "usageplan-p50-ns")
	b.ReportMetric(p/n, "ratio")
}

func serve(b *testing.B, srv authv3.AuthorizationServer) authv3.AuthorizationClient {
	sock := filepath.Join(b.TempDir(), "a.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	b.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}
