package builder_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// oldRouteMetadata is the value before signing and compaction: base64url of the whole ProcessorRoute's JSON.
func oldRouteMetadata(t *testing.T, pr ir.ProcessorRoute) string {
	pr.Route.Segments, pr.Route.Name = nil, ""
	b, err := json.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRouteMetadataBytes (issue 9 item 8): on REF-API(1000) a Lambda route's signed route data is at most half
// the old base64 JSON, and the route's share of it shrinks. Run with -v for the figures (.drafts/mac.md).
func TestRouteMetadataBytes(t *testing.T) {
	api := refapi.New(1000)
	keys := testutil.RouteKeys(t)
	cfg, diags := translator.Translate([]translator.Input{{File: "ref-api", API: api}}, translator.Options{RouteKeys: keys})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	routeBytes := map[string]int{}
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			routeBytes[r.GetName()] = proto.Size(r)
		}
	}
	var n, oldMeta, newMeta, routeTotal int
	a := cfg.APIs[0]
	for _, st := range a.Stages {
		for _, r := range st.Routes {
			if r.Integration.Type != ir.AWSProxy {
				continue
			}
			pr := ir.ProcessorRoute{APIID: a.ID, Stage: st.Name, DeploymentID: st.DeploymentID, StageVariables: st.Variables,
				BinaryMediaTypes: a.BinaryMediaTypes, Route: r}
			v, err := ir.EncodeProcessorRoute(pr, keys)
			if err != nil {
				t.Fatal(err)
			}
			size, ok := routeBytes[r.Name]
			if !ok {
				t.Fatalf("route %s not built", r.Name)
			}
			n++
			oldMeta += len(oldRouteMetadata(t, pr))
			newMeta += len(v)
			routeTotal += size
		}
	}
	oldRoute := routeTotal - newMeta + oldMeta
	t.Logf("REF-API(1000), %d Lambda routes: route data %.0f → %.0f bytes per route (signed); route %.0f → %.0f bytes; share of the route %.0f%% → %.0f%%",
		n, float64(oldMeta)/float64(n), float64(newMeta)/float64(n), float64(oldRoute)/float64(n), float64(routeTotal)/float64(n),
		100*float64(oldMeta)/float64(oldRoute), 100*float64(newMeta)/float64(routeTotal))
	if newMeta*2 > oldMeta {
		t.Fatalf("route data %d bytes per route, old %d: want at most half", newMeta/n, oldMeta/n)
	}
}
