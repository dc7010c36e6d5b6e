package controlplane_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	sotwclient "github.com/envoyproxy/go-control-plane/pkg/client/sotw/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/controlplane"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
	xdstranslator "github.com/proxyplus/proxyplus/xds/translator"
)

const apiV1 = `
name: feature
id: feature001
resources:
  - path: /pets
    resourceMethods:
      GET: {integration: {type: HTTP_PROXY, httpMethod: GET, uri: "http://backend.example:8080/pets"}}
`

// apiV2 adds a resource; apiBroken violates RES-3 (two variable siblings).
const apiV2 = apiV1 + `
  - path: /pets/{id}
    resourceMethods:
      GET: {integration: {type: MOCK}}
`

const apiBroken = apiV1 + `
  - path: /{a}
    resourceMethods:
      GET: {integration: {type: MOCK}}
  - path: /{b}
    resourceMethods:
      GET: {integration: {type: MOCK}}
`

type serverPublisher struct{ s *xdsserver.Server }

func (p serverPublisher) Publish(ctx context.Context, res *xdstranslator.Resources) (string, error) {
	return p.s.Publish(ctx, res.ByType())
}
func (p serverPublisher) Reject(err error) { p.s.Reject(err) }

// TestPipelineToADSClient drives the real pipeline and the real ADS server in-process: a definition file is
// loaded, translated and published; an ADS client receives the generated routes; a broken edit is refused and
// the last good configuration stays; a good edit is picked up by the file watcher and pushed.
func TestPipelineToADSClient(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	write(t, file, apiV1)

	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xdsserver.New(xdsserver.Options{Logger: log, Registerer: reg})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, lis) }()

	r := controlplane.NewReloader([]controlplane.Source{{File: file, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}}},
		translator.Options{}, serverPublisher{srv}, log)
	reloads := make(chan controlplane.Status, 10)
	r.OnReload = func(s controlplane.Status) { reloads <- s }
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	v1 := (<-reloads).Version

	_ = v1
	client := routesClient(t, lis.Addr().String())
	routes := fetchRoutes(t, client, func(string) bool { return true })
	if !strings.Contains(routes, "feature001/dev/") || strings.Contains(routes, "/pets/{id}") {
		t.Fatalf("first configuration routes: %s", routes)
	}

	// A broken definition: refused with a clear error, the served version does not change.
	write(t, file, apiBroken)
	err = r.Reload(ctx)
	st := <-reloads
	if err == nil || !strings.Contains(err.Error(), "RES-3") || st.Version != v1 || st.Error == "" {
		t.Fatalf("broken definition: err %v, status %+v", err, st)
	}
	if s := srv.Status(); s.Snapshot.Version != v1 || s.Snapshot.LastError == nil {
		t.Fatalf("xds status after a rejected definition: %+v", s.Snapshot)
	}

	// A good edit, picked up by the watcher after its quiet period, reaches the client as a new version.
	go r.Watch(ctx, 10*time.Millisecond, 30*time.Millisecond)
	write(t, file, apiV2)
	var v2 string
	for st := range reloads {
		if st.Error == "" && st.Version != v1 {
			v2 = st.Version
			break
		}
	}
	if v2 == "" {
		t.Fatal("no new version")
	}
	routes = fetchRoutes(t, client, func(r string) bool { return strings.Contains(r, "/pets/{id}") })
	if !strings.Contains(routes, "/pets/{id}") {
		t.Fatalf("updated routes lack the new resource: %s", routes)
	}
}

// routesClient connects an ADS client subscribed to routes (node "envoy-1") to addr until the test ends.
func routesClient(t *testing.T, addr string) sotwclient.ADSClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	client := sotwclient.NewADSClient(ctx, &corev3.Node{Id: "envoy-1"}, resourcev3.RouteType)
	if err := client.InitConnect(conn); err != nil {
		t.Fatal(err)
	}
	return client
}

// fetchRoutes receives responses until one satisfies done, ACKing each, and returns its route names and resources.
func fetchRoutes(t *testing.T, c sotwclient.ADSClient, done func(string) bool) string {
	t.Helper()
	for {
		resp, err := c.Fetch()
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if err := c.Ack(); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, a := range resp.Resources {
			var rc routev3.RouteConfiguration
			if err := a.UnmarshalTo(&rc); err != nil {
				t.Fatal(err)
			}
			for _, vh := range rc.GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					b.WriteString(r.GetName() + " " + r.GetMetadata().GetFilterMetadata()["proxyplus"].GetFields()["resource"].GetStringValue() + "\n")
				}
			}
		}
		if done(b.String()) {
			return b.String()
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
