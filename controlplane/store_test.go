package controlplane_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

func parseAPI(t testing.TB, id, yaml string) *apigatewayv1.RestApi {
	t.Helper()
	res, err := loader.Load(id+".yaml", []byte(strings.Replace(yaml, "id: feature001", "id: "+id, 1)), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.API
}

// TestStoreDeploymentsReachADSClient: stages deployed through the store are served next to file definitions,
// each stage with its own deployment; editing an API without deploying changes nothing served; a stored API
// shadowed by a file is not served and is reported; store changes are picked up by WatchStore.
func TestStoreDeploymentsReachADSClient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	write(t, file, apiV1)
	st, err := store.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xdsserver.New(xdsserver.Options{Logger: log, Registerer: prometheus.NewRegistry()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, lis) }()
	r := controlplane.NewReloader([]controlplane.Source{{File: file, Stages: []*apigatewayv1.Stage{{StageName: "dev"}}}},
		translator.Options{}, serverPublisher{srv}, log)
	r.Store = st
	reloads := make(chan controlplane.Status, 100)
	r.OnReload = func(s controlplane.Status) { reloads <- s }
	go r.WatchStore(ctx)
	first := <-reloads
	if first.Error != "" || first.FileAPIs["feature001"] != file {
		t.Fatalf("first reload: %+v", first)
	}

	client := routesClient(t, lis.Addr().String())
	fetchRoutes(t, client, func(r string) bool { return strings.Contains(r, "feature001/dev/") })

	// Deployment 1 (one resource) to prod, then the API gains a resource and deployment 2 goes to beta.
	api, err := st.CreateAPI(ctx, parseAPI(t, "stored0001", apiV1))
	if err != nil {
		t.Fatal(err)
	}
	d1, err := st.CreateDeployment(ctx, api.ID, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutStage(ctx, &store.Stage{APIID: api.ID, Name: "prod", DeploymentID: d1.ID, Variables: map[string]string{"color": "blue"}}, 0); err != nil {
		t.Fatal(err)
	}
	routes := fetchRoutes(t, client, func(r string) bool { return strings.Contains(r, "stored0001/prod/") })
	if !strings.Contains(routes, "feature001/dev/") {
		t.Fatalf("file API no longer served next to the stored one:\n%s", routes)
	}
	servedBefore := srv.Status().Snapshot.Version
	if _, err := st.UpdateAPI(ctx, parseAPI(t, "stored0001", apiV2), 0); err != nil {
		t.Fatal(err)
	}
	// An edit is not served until deployed (API Gateway semantics): reloading publishes nothing new.
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v := r.Status().Version; v != servedBefore {
		t.Fatalf("an undeployed edit changed the served version %s → %s", servedBefore, v)
	}
	d2, err := st.CreateDeployment(ctx, api.ID, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutStage(ctx, &store.Stage{APIID: api.ID, Name: "beta", DeploymentID: d2.ID}, 0); err != nil {
		t.Fatal(err)
	}
	routes = fetchRoutes(t, client, func(r string) bool { return strings.Contains(r, "stored0001/beta/") })
	if !hasRoute(routes, "stored0001/beta/", "GET /pets/{id}") || hasRoute(routes, "stored0001/prod/", "GET /pets/{id}") {
		t.Fatalf("beta must serve deployment 2 (with /pets/{id}) and prod deployment 1 (without):\n%s", routes)
	}

	// A stored API with a file API's id is shadowed: not served, reported as a warning.
	shadow, err := st.CreateAPI(ctx, parseAPI(t, "feature001", apiV2))
	if err != nil {
		t.Fatal(err)
	}
	d3, err := st.CreateDeployment(ctx, shadow.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	stg, err := st.PutStage(ctx, &store.Stage{APIID: shadow.ID, Name: "dev", DeploymentID: d3.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for s := range reloads {
		if s.StoreRevision < stg.Revision {
			continue
		}
		if s.Error != "" || len(s.Diagnostics.Warnings()) == 0 || !strings.Contains(s.Diagnostics.Warnings()[0].String(), "file definitions take precedence") {
			t.Fatalf("shadowed stored API: %+v", s)
		}
		break
	}
}

// hasRoute reports whether fetchRoutes listed a route of the stage prefix whose name ends in "METHOD /path".
func hasRoute(routes, stagePrefix, methodPath string) bool {
	for _, line := range strings.Split(routes, "\n") {
		if strings.HasPrefix(line, stagePrefix) && strings.HasSuffix(strings.TrimSpace(line), "/"+methodPath) {
			return true
		}
	}
	return false
}

// TestStoredAPIHeldBack: a stage changed in the store behind the admin API's back (the admin API refuses stages
// that do not translate) so that it lacks a variable its deployment needs: that API is held back with its last
// good routes, and a new deployment of another stored API is still published.
func TestStoredAPIHeldBack(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deploy := func(id, yaml, stage string, vars map[string]string) {
		t.Helper()
		if _, err := st.GetAPI(ctx, id); err != nil {
			if _, err := st.CreateAPI(ctx, parseAPI(t, id, yaml)); err != nil {
				t.Fatal(err)
			}
		} else if _, err := st.UpdateAPI(ctx, parseAPI(t, id, yaml), 0); err != nil {
			t.Fatal(err)
		}
		d, err := st.CreateDeployment(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutStage(ctx, &store.Stage{APIID: id, Name: stage, DeploymentID: d.ID, Variables: vars}, 0); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recordingPublisher{}
	r := controlplane.NewReloader(nil, translator.Options{}, pub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Store = st
	deploy("stored0001", apiV1, "prod", nil)
	deploy("other00001", apiNeedsBackend, "prod", map[string]string{"backend": "orders.example"})
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// The stage loses its variable; the other API gets a new deployment.
	cur, err := st.GetStage(ctx, "other00001", "prod")
	if err != nil {
		t.Fatal(err)
	}
	cur.Variables = nil
	if _, err := st.PutStage(ctx, cur, 0); err != nil {
		t.Fatal(err)
	}
	deploy("stored0001", apiV2, "prod", nil)
	err = r.Reload(ctx)
	var held *controlplane.HeldBackError
	if !errors.As(err, &held) || held.FromFiles() {
		t.Fatalf("reload: %v", err)
	}
	s := r.Status()
	if len(s.HeldBack) != 1 || s.HeldBack[0].API != "other00001" || s.HeldBack[0].Source != "store:apis/other00001" ||
		!s.HeldBack[0].ServingLastGood || !strings.Contains(s.HeldBack[0].Reason, "stage prod") {
		t.Fatalf("held back: %+v", s.HeldBack)
	}
	routes := pub.routes()
	// Deployment 2 of stored0001 has two GET methods (/pets and /pets/{id}).
	if n := strings.Count(routes, "/GET\n"); n != 3 || !strings.Contains(routes, "other00001/prod/") {
		t.Fatalf("routes:\n%s", routes)
	}
}
