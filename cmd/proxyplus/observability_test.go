package main

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"
	"io"
	"log/slog"
	"testing"

	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// downStore is a store whose backend does not answer.
type downStore struct{ store.Store }

func (downStore) ListAPIs(context.Context, int, string) ([]*store.API, string, error) {
	return nil, "", errors.New("etcd: context deadline exceeded")
}

type noPublish struct{}

func (noPublish) Publish(context.Context, *builder.Resources) (string, error) { return "", nil }
func (noPublish) Reject(error)                                                {}

// TestReadiness: not ready before anything is published, with an unreachable store or a processor that is not
// serving; each check says why.
func TestReadiness(t *testing.T) {
	r := controlplane.NewReloader(nil, translator.Options{}, noPublish{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	o := &endpoints{reloader: r, store: downStore{}, processor: func(context.Context) bool { return false }}
	checks := o.ready(context.Background())
	if checks["reload"] != "no configuration published yet" || checks["store"] != "unreachable: etcd: context deadline exceeded" ||
		checks["processor"] != "not serving" {
		t.Errorf("checks %v", checks)
	}
}

// TestBuildVersion: without -ldflags the version comes from the build info Go recorded.
func TestBuildVersion(t *testing.T) {
	v := buildVersion()
	if v.Version == "" || v.GoVersion == "" {
		t.Errorf("version %+v", v)
	}
}

// TestAdminMetrics: the admin API's interceptors count RPCs by method and status code.
func TestAdminMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newAdminMetrics(reg)
	gs := grpc.NewServer(m.serverOptions()...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	lis := bufconn.Listen(1 << 16)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///bufconn", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := healthpb.NewHealthClient(conn)
	_, _ = c.Check(context.Background(), &healthpb.HealthCheckRequest{})
	_, _ = c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`proxyplus_admin_requests_total{code="OK",method="/grpc.health.v1.Health/Check"} 1`,
		`proxyplus_admin_requests_total{code="NotFound",method="/grpc.health.v1.Health/Check"} 1`,
		`proxyplus_admin_request_duration_seconds_count{method="/grpc.health.v1.Health/Check"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
