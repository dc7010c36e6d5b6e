package builder_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// TestBuildGolden builds Envoy resources from testdata/in/<case>.yaml (IR) and compares them with
// testdata/out/<case>.{listeners,routes,clusters}.yaml; go test -update rewrites them. Build itself runs
// ValidateAll on every resource, so every golden resource is valid.
func TestBuildGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	cases := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		cases[name] = true
		t.Run(name, func(t *testing.T) {
			res := buildFile(t, in)
			if err := res.ValidateNested(); err != nil {
				t.Fatal(err)
			}
			doc, err := res.Document()
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string][]json.RawMessage{"listeners": doc.Listeners, "routes": doc.Routes, "clusters": doc.Clusters}
			if len(doc.ScopedRoutes) > 0 {
				kinds["scoped_routes"] = doc.ScopedRoutes
			}
			for kind, items := range kinds {
				b, err := json.Marshal(items)
				if err != nil {
					t.Fatal(err)
				}
				y, err := yaml.JSONToYAML(b)
				if err != nil {
					t.Fatal(err)
				}
				testutil.Golden(t, filepath.Join("testdata", "out", name+"."+kind+".yaml"), y)
			}
		})
	}
	testutil.RemoveStale(t, "testdata/out", "*.yaml", func(f string) string {
		return strings.SplitN(f, ".", 2)[0]
	}, cases)
}

func buildFile(t *testing.T, path string) *builder.Resources {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg ir.Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg.ExtProc.RouteKeys = testutil.RouteKeys(t)
	res, err := builder.Build(&cfg)
	if err != nil {
		t.Fatalf("build %s: %v", path, err)
	}
	return res
}

// TestBuildDeterministic: the same IR builds byte-identical resources, so snapshot versions (content hashes) only
// change when the configuration does.
func TestBuildDeterministic(t *testing.T) {
	for i := 0; i < 2; i++ {
		a := buildFile(t, "testdata/in/http-proxy.yaml")
		b := buildFile(t, "testdata/in/http-proxy.yaml")
		ma, _ := proto.MarshalOptions{Deterministic: true}.Marshal(a.Routes[0])
		mb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(b.Routes[0])
		if string(ma) != string(mb) {
			t.Fatal("two builds of the same IR differ")
		}
	}
}

// TestProcessorRouteRoundTrip: what the builders put into gRPC initial metadata decodes to the route.
func TestProcessorRouteRoundTrip(t *testing.T) {
	var cfg ir.Config
	raw, _ := os.ReadFile("testdata/in/http-proxy-processor.yaml")
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	r := cfg.APIs[0].Stages[0].Routes[1]
	keys := testutil.RouteKeys(t)
	v, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: cfg.APIs[0].ID, Stage: "test", Route: r}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(v, "%\r\n") {
		t.Fatalf("metadata value %q holds a formatter '%%' or a line break", v)
	}
	got, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got.Route.Name != r.Name || got.Route.Integration.HTTP.Placeholders["qsVar"] != r.Integration.HTTP.Placeholders["qsVar"] {
		t.Fatalf("round trip changed the route: %+v", got.Route)
	}
}

// TestWireRouteConfigurationIsTheSameConfiguration: what ByType publishes decodes to exactly the built routes.
func TestWireRouteConfigurationIsTheSameConfiguration(t *testing.T) {
	res := buildFile(t, "testdata/in/lambda-mock-errors.yaml")
	published := res.ByType()["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]
	if len(published) != 1 {
		t.Fatalf("want one route configuration, got %d", len(published))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(published[0])
	if err != nil {
		t.Fatal(err)
	}
	var decoded routev3.RouteConfiguration
	if err := proto.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&decoded, res.Routes[0]) {
		t.Fatal("the published wire form decodes to a different RouteConfiguration")
	}
	if len(decoded.GetVirtualHosts()) == 0 || decoded.GetName() != builder.RouteConfigName {
		t.Fatalf("decoded configuration is empty: %v", decoded.GetName())
	}
}

// TestValidateInsideAny: Envoy validates the message inside every Any once it unpacks it (per-route filter
// configs: MessageUtil::anyConvertAndValidate), so a per-route ExtProcPerRoute whose grpc_initial_metadata value
// exceeds HeaderValue.value's 16,384 bytes NACKs the whole RouteConfiguration. Build must refuse it and name the
// route; ValidateAll on the resource alone stops at the Any and accepted it.
func TestValidateInsideAny(t *testing.T) {
	raw, err := os.ReadFile("testdata/in/lambda-mock-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg ir.Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	st := &cfg.APIs[0].Stages[0]
	st.Variables = map[string]string{}
	// Nine 2,000-character stage variables: the seven fit since the route data became compact (14,270 bytes).
	for i := range 9 {
		st.Variables[string(rune('a'+i))] = strings.Repeat("x", 2000)
	}
	res, err := builder.Build(&cfg)
	if err == nil {
		t.Fatalf("built a route whose per-route metadata Envoy rejects (%d route configurations)", len(res.Routes))
	}
	// The route-data encoder refuses it first (ir.CheckProcessorRoute, with the byte counts); the validation inside
	// the Any is the second guard, exercised on its own by TestValidateNestedWalksAnys.
	for _, want := range []string{"route " + st.Routes[0].Name, "16384"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
}

// TestValidateNestedWalksAnys: the generic walk finds an invalid message two Anys deep in a route configuration
// and names the route and filter.
func TestValidateNestedWalksAnys(t *testing.T) {
	res := buildFile(t, "testdata/in/lambda-mock-errors.yaml")
	rt := res.Routes[0].GetVirtualHosts()[0].GetRoutes()[0]
	inner, err := anypb.New(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
		GrpcInitialMetadata: []*corev3.HeaderValue{{Key: "k", Value: strings.Repeat("v", 16385)}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := anypb.New(&routev3.FilterConfig{Config: inner})
	if err != nil {
		t.Fatal(err)
	}
	rt.TypedPerFilterConfig = map[string]*anypb.Any{builder.ExtProcFilterName: outer}
	if err := res.Validate(); err != nil {
		t.Fatalf("Validate leaves route Anys to the builders: %v", err)
	}
	err = res.ValidateNested()
	if err == nil || !strings.Contains(err.Error(), `routes["`+rt.GetName()+`"].typed_per_filter_config["envoy.filters.http.ext_proc"].config`) ||
		!strings.Contains(err.Error(), "HeaderValue.Value") {
		t.Fatalf("want the route, the filter and the field named, got %v", err)
	}
}

// TestLambdaRoutesBoundedByIdleTimeout: Lambda routes run ext_proc in FULL_DUPLEX_STREAMED mode, where Envoy runs
// no message timer, and as direct_response routes they have no route timeout; the HCM's stream_idle_timeout is
// Envoy's backstop (504 once the request was read, ActiveStream::onIdleTimeout). It must lie above every
// integration timeout (the processor's own 504 first) and far below Envoy's 5-minute default.
func TestLambdaRoutesBoundedByIdleTimeout(t *testing.T) {
	res := buildFile(t, "testdata/in/lambda-mock-errors.yaml")
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	idle := hcm.GetStreamIdleTimeout().AsDuration()
	if idle <= 3*time.Second || idle > 30*time.Second {
		t.Errorf("stream_idle_timeout %v: want above the route's 3 s integration timeout, at most 30 s", idle)
	}
}
