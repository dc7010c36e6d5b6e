package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
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
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/controlplane"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
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

func (p serverPublisher) Publish(ctx context.Context, res *builder.Resources) (string, error) {
	return p.s.Publish(ctx, res.ByType())
}
func (p serverPublisher) Reject(err error) { p.s.Reject(err) }

// TestPipelineToADSClient drives the real pipeline and the real ADS server in-process: a definition file is
// loaded, translated and published; an ADS client receives the generated routes; a broken edit is held back and
// its last good version stays; a good edit is picked up by the file watcher and pushed.
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

	// A broken definition is held back with a clear error; the served version does not change.
	write(t, file, apiBroken)
	err = r.Reload(ctx)
	st := <-reloads
	var held *controlplane.HeldBackError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "RES-3") || st.Version != v1 || len(st.HeldBack) != 1 ||
		!st.HeldBack[0].ServingLastGood || st.HeldBack[0].API != "feature001" {
		t.Fatalf("broken definition: err %v, status %+v", err, st)
	}
	if s := srv.Status(); s.Snapshot.Version != v1 {
		t.Fatalf("xds status after a held-back definition: %+v", s.Snapshot)
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

// apiNeedsBackend needs the stage variable "backend" (HTP-2): a stage without it cannot be served.
const apiNeedsBackend = `
name: other
id: other00001
resources:
  - path: /orders
    resourceMethods:
      GET: {integration: {type: HTTP_PROXY, httpMethod: GET, uri: "http://${stageVariables.backend}/orders"}}
stages:
  - stageName: dev
    variables: {backend: "orders.example:8080"}
`

// TestBrokenAPIHeldBackOthersUpdate: two file-defined APIs on one ADS server. One file breaks (a stage variable
// it needs disappears): that API is held back — its last good routes stay served and status names it with the
// stage and variable — while edits to the other API go on reaching the ADS client. Fixing the file releases it.
func TestBrokenAPIHeldBackOthersUpdate(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "other.yaml")
	write(t, good, apiV1)
	write(t, other, apiNeedsBackend)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xdsserver.New(xdsserver.Options{Logger: log, Registerer: prometheus.NewRegistry()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, lis) }()
	r := controlplane.NewReloader([]controlplane.Source{
		{File: good, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}},
		{File: other},
	}, translator.Options{}, serverPublisher{srv}, log)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	client := routesClient(t, lis.Addr().String())
	fetchRoutes(t, client, func(rs string) bool {
		return strings.Contains(rs, "feature001/dev/") && strings.Contains(rs, "other00001/dev/")
	})

	// The other API loses its variable: held back, still served as it was.
	write(t, other, strings.Replace(apiNeedsBackend, `variables: {backend: "orders.example:8080"}`, `variables: {}`, 1))
	err = r.Reload(ctx)
	var held *controlplane.HeldBackError
	if !errors.As(err, &held) || held.FromFiles() != true {
		t.Fatalf("reload with a broken API: %v", err)
	}
	st := r.Status()
	if st.Error != "" || len(st.HeldBack) != 1 {
		t.Fatalf("status after the break: %+v", st)
	}
	h := st.HeldBack[0]
	if h.API != "other00001" || h.Source != other || !h.ServingLastGood || h.LastGoodAt.IsZero() ||
		!strings.Contains(h.Reason, "stage dev") || !strings.Contains(h.Reason, "backend") {
		t.Fatalf("held back: %+v", h)
	}
	if st.FileAPIs["other00001"] != other {
		t.Fatalf("the held-back API's id is no longer file-owned: %v", st.FileAPIs)
	}

	// The good API keeps updating: its new resource reaches the client, next to the held-back API's old routes.
	write(t, good, apiV2)
	err = r.Reload(ctx)
	if !errors.As(err, &held) || len(held.APIs) != 1 {
		t.Fatalf("reload after editing the good API: %v", err)
	}
	routes := fetchRoutes(t, client, func(rs string) bool { return strings.Contains(rs, "/pets/{id}") })
	if !hasRoute(routes, "feature001/dev/", "GET /pets/{id}") || !hasRoute(routes, "other00001/dev/", "GET /orders") {
		t.Fatalf("after editing the good API next to a broken one:\n%s", routes)
	}
	since := r.Status().HeldBack[0].Since
	if !since.Equal(h.Since) {
		t.Errorf("held back since %v, then %v: the first time must stay", h.Since, since)
	}

	// Fixed: released, nothing held back.
	write(t, other, apiNeedsBackend)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); len(st.HeldBack) != 0 {
		t.Fatalf("still held back after the fix: %+v", st.HeldBack)
	}
}

// TestBrokenAPIWithoutLastGood: a file that is broken from the first reload (no last good version) is reported
// as not served; the other API is served; an unreadable file keeps its API id file-owned from its last good load.
func TestBrokenAPIWithoutLastGood(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "other.yaml")
	write(t, good, apiV1)
	write(t, other, apiBroken)
	pub := &recordingPublisher{}
	r := controlplane.NewReloader([]controlplane.Source{
		{File: good, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}},
		{File: other, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}},
	}, translator.Options{}, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := r.Reload(context.Background())
	var held *controlplane.HeldBackError
	if !errors.As(err, &held) {
		t.Fatalf("reload: %v", err)
	}
	st := r.Status()
	if len(st.HeldBack) != 1 || st.HeldBack[0].ServingLastGood || st.HeldBack[0].Source != other || st.Version == "" {
		t.Fatalf("status: %+v", st)
	}
	if !strings.Contains(pub.routes(), "feature001/dev/") {
		t.Fatalf("the good API is not published: %s", pub.routes())
	}

	// A good version, then the file becomes unreadable YAML: held back with its id still known.
	write(t, other, strings.Replace(apiV1, "id: feature001", "id: other00002", 1))
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(t, other, "name: [unclosed")
	if err := r.Reload(context.Background()); !errors.As(err, &held) {
		t.Fatalf("reload of unreadable YAML: %v", err)
	}
	st = r.Status()
	if len(st.HeldBack) != 1 || st.HeldBack[0].API != "other00002" || !st.HeldBack[0].ServingLastGood ||
		st.FileAPIs["other00002"] != other || !strings.Contains(pub.routes(), "other00002/dev/") {
		t.Fatalf("status after the file became unreadable: %+v, routes %s", st, pub.routes())
	}
}

// recordingPublisher keeps the last published resources.
type recordingPublisher struct {
	last *builder.Resources
}

func (p *recordingPublisher) Publish(_ context.Context, res *builder.Resources) (string, error) {
	p.last = res
	return fmt.Sprintf("v%d", len(p.routes())), nil
}
func (p *recordingPublisher) Reject(error) {}

func (p *recordingPublisher) routes() string {
	var b strings.Builder
	if p.last == nil {
		return ""
	}
	for _, rc := range p.last.Routes {
		// A Builder's Resources hold unchanged scopes in wire form: decode what would be served.
		full := &routev3.RouteConfiguration{}
		if b, err := proto.Marshal(rc); err == nil {
			_ = proto.Unmarshal(b, full)
		}
		for _, vh := range full.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				b.WriteString(r.GetName() + "\n")
			}
		}
	}
	return b.String()
}

// TestReloadRebuildsOnlyTheChangedAPI: with two APIs (split route configuration), editing one file rebuilds that
// API's RouteConfiguration only: the other API's is the very object published before, which the xDS publisher
// neither validates nor marshals again and no Envoy is sent again (incremental translation, issue 13).
func TestReloadRebuildsOnlyTheChangedAPI(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "other.yaml")
	write(t, good, apiV1)
	write(t, other, apiNeedsBackend)
	pub := &recordingPublisher{}
	r := controlplane.NewReloader([]controlplane.Source{
		{File: good, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}},
		{File: other},
	}, translator.Options{}, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// What is published (ByType): the same object for an unchanged scope, which the xDS publisher recognises.
	byName := func(res *builder.Resources) map[string]*routev3.RouteConfiguration {
		out := map[string]*routev3.RouteConfiguration{}
		for _, r := range res.ByType()[resourcev3.RouteType] {
			rc := r.(*routev3.RouteConfiguration)
			out[rc.GetName()] = rc
		}
		return out
	}
	first := byName(pub.last)
	write(t, good, apiV2)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	second := byName(pub.last)
	const goodRC, otherRC = "proxyplus-http/feature001", "proxyplus-http/other00001"
	if first[otherRC] == nil || first[goodRC] == nil || len(first) != 2 {
		t.Fatalf("route configurations %v; want one per API", slices.Collect(maps.Keys(first)))
	}
	if second[otherRC] != first[otherRC] {
		t.Error("the unchanged API's RouteConfiguration was rebuilt")
	}
	if second[goodRC] == first[goodRC] {
		t.Error("the edited API's RouteConfiguration was not rebuilt")
	}
	count := func(rc *routev3.RouteConfiguration) int {
		full := &routev3.RouteConfiguration{}
		if b, err := proto.Marshal(rc); err != nil || proto.Unmarshal(b, full) != nil {
			t.Fatalf("route configuration %s does not encode", rc.GetName())
		}
		return len(full.GetVirtualHosts()[0].GetRoutes())
	}
	if count(second[goodRC]) != count(first[goodRC])+1 {
		t.Errorf("the edit (one more method) is not published:\n%s", pub.routes())
	}
}

// TestInvalidEnvoyConfigurationHeldBack: an API whose translation succeeds but whose Envoy configuration is
// invalid (a 128-character stage name: its catch-all regex is over Envoy's RE2 program size) is held back and the
// other API is published. APIs are validated in the one combined build; when that fails, each changed API is
// built alone to find the one at fault.
func TestInvalidEnvoyConfigurationHeldBack(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	write(t, good, apiV1)
	write(t, bad, strings.Replace(apiV1, "id: feature001", "id: other00002", 1))
	pub := &recordingPublisher{}
	r := controlplane.NewReloader([]controlplane.Source{
		{File: good, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}},
		{File: bad, Stages: []*apigatewayv1.Stage{{StageName: strings.Repeat("s", 128)}}},
	}, translator.Options{}, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 2 { // the second reload: both sources unchanged (revisions), same outcome
		err := r.Reload(context.Background())
		var held *controlplane.HeldBackError
		if !errors.As(err, &held) || len(held.APIs) != 1 || held.APIs[0].API != "other00002" ||
			!strings.Contains(held.APIs[0].Reason, "generated Envoy configuration is invalid") || held.APIs[0].ServingLastGood {
			t.Fatalf("reload: %v", err)
		}
		if routes := pub.routes(); !strings.Contains(routes, "feature001/dev/") || strings.Contains(routes, "other00002") {
			t.Fatalf("published routes: %s", routes)
		}
	}
}
