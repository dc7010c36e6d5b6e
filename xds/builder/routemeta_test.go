package builder_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

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

// TestDeploymentMetadataBytes (issue 13): on REF-API(1000) the built routes' data carries no deployment id (so it
// is shorter than the same route data with one), and the API's deployment ids are one value in its virtual host.
// Run with -v for the figures (.drafts/deploy.md).
func TestDeploymentMetadataBytes(t *testing.T) {
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
	metadataOf := func(pf map[string]*anypb.Any) (string, bool) {
		a, ok := pf[builder.ExtProcFilterName]
		if !ok {
			return "", false
		}
		var fc routev3.FilterConfig
		if a.MessageIs(&fc) { // wrapped: the disabling entries; a configuration is bare
			if err := a.UnmarshalTo(&fc); err != nil {
				t.Fatal(err)
			}
			if fc.GetDisabled() {
				return "", false
			}
			a = fc.GetConfig()
		}
		var per extprocv3.ExtProcPerRoute
		if err := a.UnmarshalTo(&per); err != nil {
			t.Fatal(err)
		}
		return per.GetOverrides().GetGrpcInitialMetadata()[0].GetValue(), true
	}
	a := cfg.APIs[0]
	var n, withoutID, withID, disabledRoutes, disabledBytes, lambdaRouteBytes int
	var deployment string
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		if v, ok := metadataOf(vh.GetTypedPerFilterConfig()); ok {
			deployment = v
		}
		for _, r := range vh.GetRoutes() {
			v, ok := metadataOf(r.GetTypedPerFilterConfig())
			if !ok {
				if _, off := r.GetTypedPerFilterConfig()[builder.ExtProcFilterName]; off {
					disabledRoutes++
					disabledBytes += proto.Size(&routev3.Route{TypedPerFilterConfig: map[string]*anypb.Any{builder.ExtProcFilterName: r.GetTypedPerFilterConfig()[builder.ExtProcFilterName]}})
				}
				continue
			}
			pr, err := ir.DecodeProcessorRoute(v, keys)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Route.Integration.Type != ir.AWSProxy {
				continue
			}
			if pr.DeploymentID != "" {
				t.Fatalf("route %s: route data carries deployment id %q", r.GetName(), pr.DeploymentID)
			}
			st := a.Stages[0]
			pr.DeploymentID = st.DeploymentID
			old, err := ir.EncodeProcessorRoute(*pr, keys)
			if err != nil {
				t.Fatal(err)
			}
			n++
			withoutID += len(v)
			withID += len(old)
			lambdaRouteBytes += proto.Size(r)
		}
	}
	if deployment == "" || n == 0 {
		t.Fatalf("deployment value %q, %d Lambda routes", deployment, n)
	}
	t.Logf("REF-API(1000), %d Lambda routes: route data %.0f → %.0f bytes per route (signed); Lambda route %.0f bytes; "+
		"deployment value %d bytes once per API; %d other routes disable ext_proc, %.0f bytes each",
		n, float64(withID)/float64(n), float64(withoutID)/float64(n), float64(lambdaRouteBytes)/float64(n), len(deployment),
		disabledRoutes, float64(disabledBytes)/float64(max(disabledRoutes, 1)))
	if withoutID >= withID {
		t.Fatalf("route data without the deployment id is %d bytes, with it %d", withoutID, withID)
	}
}
