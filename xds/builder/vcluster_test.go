package builder_test

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// TestStageVirtualClusters: each API's virtual host carries one virtual cluster per stage, named by the stage, and a
// request the router forwards (HTTP_PROXY) is attributed to its stage's virtual cluster by the evaluator, so Envoy
// counts it under vhost.<API id>.vcluster.<stage>.upstream_rq_*. Requests answered without the router's upstream path
// (unknown stage: direct_response) are attributed to none.
func TestStageVirtualClusters(t *testing.T) {
	res := buildFile(t, "testdata/in/http-proxy.yaml")
	rc := res.Routes[0]
	var found bool
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() != "shop123456" {
			continue
		}
		found = true
		var names []string
		for _, vc := range vh.GetVirtualClusters() {
			names = append(names, vc.GetName())
		}
		if strings.Join(names, ",") != "prod" {
			t.Fatalf("virtual clusters of %s = %v, want [prod]", vh.GetName(), names)
		}
	}
	if !found {
		t.Fatal("no virtual host shop123456")
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(rc, hcm)
	if err != nil {
		t.Fatalf("evaluator refuses the generated route configuration: %v", err)
	}
	cases := []struct{ path, wantRoute, wantVC string }{
		{"/prod/orders/7/items/9?x=1", "shop123456/prod/qjjmjz/GET", "prod"},
		{"//prod/orders/7/items/9", "shop123456/prod/qjjmjz/GET", "prod"},
		{"/nostage/orders/7/items/9", "shop123456/unknown-stage", ""},
	}
	for _, c := range cases {
		sel, err := ev.Select(&evaluator.Request{Method: "GET", Path: c.path, Authority: "shop123456.execute-api.us-east-1.amazonaws.com", RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"})
		if err != nil {
			t.Fatalf("Select %s: %v", c.path, err)
		}
		if sel.Name != c.wantRoute || sel.VirtualCluster != c.wantVC {
			t.Errorf("Select %s = route %q vcluster %q, want route %q vcluster %q", c.path, sel.Name, sel.VirtualCluster, c.wantRoute, c.wantVC)
		}
	}
}

// TestStageVirtualClusterWithinRE2Limit: for every stage name length RES-10 allows, either the stage is refused
// (its catch-all regex is over RE2 program size 100) or its virtual cluster is there; Build validates, and the
// evaluator refuses any regex over the limit, so a virtual cluster regex Envoy would refuse fails this test.
func TestStageVirtualClusterWithinRE2Limit(t *testing.T) {
	raw, err := os.ReadFile("testdata/in/http-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for n := 1; n <= 128; n++ {
		stage := strings.Repeat("s", n)
		var cfg ir.Config
		if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg.ExtProc.RouteKeys = testutil.RouteKeys(t)
		cfg.APIs = cfg.APIs[:1]
		cfg.APIs[0].Stages = []ir.Stage{{Name: stage, DeploymentID: "d"}}
		res, err := builder.Build(&cfg)
		if err != nil {
			continue // the stage itself is refused, virtual cluster or not
		}
		accepted++
		vh := res.Routes[0].GetVirtualHosts()[0]
		if len(vh.GetVirtualClusters()) != 1 || vh.GetVirtualClusters()[0].GetName() != stage {
			t.Fatalf("stage of %d bytes accepted but its virtual host has virtual clusters %v", n, vh.GetVirtualClusters())
		}
		hcm, err := res.HTTPConnectionManager()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evaluator.New(res.Routes[0], hcm); err != nil {
			t.Fatalf("stage of %d bytes: %v", n, err)
		}
	}
	if accepted == 0 {
		t.Fatal("no stage name accepted")
	}
	t.Logf("stage names of 1..%d bytes accepted", accepted)
}
