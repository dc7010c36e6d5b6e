package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
)

// checkSameAsFresh: what b built for cfg (res) is, byte for byte, what Build gives from scratch: route
// configurations in wire form equal to the deterministic encoding of the freshly built object, scoped routes
// equal.
func checkSameAsFresh(t *testing.T, what string, cfg *ir.Config, res *Resources) {
	t.Helper()
	fresh, err := Build(cfg)
	if err != nil {
		t.Fatalf("%s: fresh build: %v", what, err)
	}
	got, want := res.ByType(), fresh.ByType()
	for _, typ := range []string{resource.RouteType, resource.ListenerType, resource.ClusterType, resource.ScopedRouteType} {
		if len(got[typ]) != len(want[typ]) {
			t.Fatalf("%s: %d %s, fresh build %d", what, len(got[typ]), typ, len(want[typ]))
		}
		if typ == resource.ListenerType || typ == resource.ClusterType {
			// Built by the same code either way, and not byte-stable even between two fresh builds (Anys of
			// messages with maps are encoded by anypb.New without Deterministic).
			continue
		}
		for i := range got[typ] {
			g, err := deterministic.Marshal(got[typ][i])
			if err != nil {
				t.Fatal(err)
			}
			w, err := deterministic.Marshal(want[typ][i])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g, w) {
				t.Fatalf("%s: %s #%d differs from a fresh build (%d vs %d bytes)", what, typ, i, len(g), len(w))
			}
		}
	}
	// The content digest of every assembled configuration (Resources.Digest, its xDS version) is that of the
	// same bytes assembled by a new Builder, every route built afresh: a function of the content, not of what
	// the cache held.
	first, err := NewBuilder().Build(cfg)
	if err != nil {
		t.Fatalf("%s: new builder: %v", what, err)
	}
	firstRoutes := first.ByType()[resource.RouteType]
	for i, rc := range got[resource.RouteType] {
		d, ok := res.Digest(rc)
		if !ok {
			t.Fatalf("%s: route configuration %q has no digest", what, rc.(*routev3.RouteConfiguration).GetName())
		}
		if w, ok := first.Digest(firstRoutes[i]); !ok || w != d {
			t.Fatalf("%s: route configuration %q: digest %x, a new builder's %x (%v)", what, rc.(*routev3.RouteConfiguration).GetName(), d[:4], w[:4], ok)
		}
	}
	// The wire form's bytes are the whole object's deterministic encoding without the name field.
	for i, rc := range res.Routes {
		if len(rc.GetVirtualHosts()) > 0 || len(fresh.Routes[i].GetVirtualHosts()) == 0 {
			continue // not an assembled wire form
		}
		w, err := deterministic.Marshal(fresh.Routes[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rc.ProtoReflect().GetUnknown(), dropNameField(t, w)) {
			t.Fatalf("%s: route configuration %q: wire bytes differ from the deterministic encoding", what, rc.GetName())
		}
	}
}

func dropNameField(t *testing.T, b []byte) []byte {
	t.Helper()
	w := wireRouteConfiguration(mustUnmarshalRC(t, b))
	return w.ProtoReflect().GetUnknown()
}

func mustUnmarshalRC(t *testing.T, b []byte) *routev3.RouteConfiguration {
	t.Helper()
	rc := &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(b, rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// withSources gives every route of cfg a content key: the hash of its JSON (a route's only field outside its JSON
// is Source itself).
func withSources(t *testing.T, cfg *ir.Config) {
	t.Helper()
	for i := range cfg.APIs {
		for j := range cfg.APIs[i].Stages {
			for k := range cfg.APIs[i].Stages[j].Routes {
				r := &cfg.APIs[i].Stages[j].Routes[k]
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				r.Source = sha256.Sum256(b)
			}
		}
	}
}

// TestIncrementalWireMatchesMarshal: for every golden IR (MOCKs, authorizers, Cognito, HTTP_PROXY mappings, access
// logs, gateway responses), a Builder's first build and its second (every route from the cache) equal a fresh
// Build byte for byte.
func TestIncrementalWireMatchesMarshal(t *testing.T) {
	inputs, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, path := range inputs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var cfg ir.Config
			if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.ExtProc.RouteKeys = testutil.RouteKeys(t)
			withSources(t, &cfg)
			// Each API alone too: one API is served by the single RouteConfiguration this builds incrementally.
			cfgs := []*ir.Config{&cfg}
			for _, api := range cfg.APIs {
				one := cfg
				one.APIs = []ir.API{api}
				cfgs = append(cfgs, &one)
			}
			for _, c := range cfgs {
				b := NewBuilder()
				for pass := range 2 {
					res, err := b.Build(c)
					if err != nil {
						t.Fatal(err)
					}
					checkSameAsFresh(t, "pass "+string(rune('1'+pass)), c, res)
					if pass == 1 && b.built != 0 {
						t.Fatalf("second build of the same configuration built %d routes", b.built)
					}
				}
			}
		})
	}
}

// routesByName decodes the single RouteConfiguration and returns each route's encoding by name.
// deploymentsEntry names the virtual host's per-filter config in routesByName.
const deploymentsEntry = "<virtual host typed_per_filter_config>"

func routesByName(t *testing.T, res *Resources) map[string][]byte {
	t.Helper()
	if len(res.Routes) != 1 {
		t.Fatalf("%d route configurations, want 1", len(res.Routes))
	}
	b, err := deterministic.Marshal(res.ByType()[resource.RouteType][0])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, vh := range mustUnmarshalRC(t, b).GetVirtualHosts() {
		if pf := vh.GetTypedPerFilterConfig(); pf != nil {
			// The API's deployment ids (apiDeploymentPerFilter), under a name no route has.
			w, err := deterministic.Marshal(&routev3.VirtualHost{TypedPerFilterConfig: pf})
			if err != nil {
				t.Fatal(err)
			}
			out[vh.GetName()+" "+deploymentsEntry] = w
		}
		for _, r := range vh.GetRoutes() {
			w, err := deterministic.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out[vh.GetName()+" "+r.GetName()] = w
		}
	}
	return out
}

// TestIncrementalEdits: through a sequence of edits of REF-API(300) translated by a translator.Cache, every build
// equals a fresh one byte for byte, builds exactly the routes the edit touches, and changes exactly the routes it
// should in the published configuration.
func TestIncrementalEdits(t *testing.T) {
	api := refapi.New(300)
	st := &apigatewayv1.Stage{StageName: "prod", DeploymentId: "dep001"}
	in := translator.Input{File: "ref", API: api, Stages: []*apigatewayv1.Stage{st}}
	get := func(res int) *apigatewayv1.Method { return api.Resources[res].ResourceMethods["GET"] }
	routeName := func(res int, method string) string {
		return "refapi0001 " + ir.RouteName(api.Id, "prod", api.Resources[res].Id, method)
	}
	cache := translator.NewCache()
	b := NewBuilder()
	var prev map[string][]byte
	var prevDigest [32]byte
	for i, e := range []struct {
		name    string
		do      func()
		built   int      // resource routes built afresh
		changed []string // routes whose encoding changed, added or removed; nil: not checked
	}{
		{"initial", func() {}, 300, nil},
		{"nothing", func() {}, 0, []string{}},
		{"change a timeout", func() { get(3).Integration.TimeoutInMillis = 1000 }, 1, []string{routeName(3, "GET")}},
		{"add a method", func() {
			m := proto.Clone(get(3)).(*apigatewayv1.Method)
			m.HttpMethod = "PATCH"
			api.Resources[3].ResourceMethods["PATCH"] = m
		}, 1, []string{routeName(3, "PATCH")}},
		{"delete a method", func() { delete(api.Resources[3].ResourceMethods, "PATCH") }, 0, []string{routeName(3, "PATCH")}},
		{"change an integration", func() { get(5).Integration.Uri = "arn:aws:lambda:us-east-1:123456789012:function:other" }, 1, []string{routeName(5, "GET")}},
		{"change an API-level setting", func() { api.BinaryMediaTypes = []string{"image/png"} }, 300, nil},
		{"change a stage variable", func() { st.Variables = map[string]string{"v": "1"} }, 300, nil},
		// The routes do not carry the deployment id: only the virtual host's deployment value changes (issue 13).
		{"new deployment", func() { st.DeploymentId = "dep002" }, 0, []string{"refapi0001 " + deploymentsEntry}},
		{"edit a route and deploy", func() {
			get(7).Integration.TimeoutInMillis = 2000
			st.DeploymentId = "dep003"
		}, 1, []string{"refapi0001 " + deploymentsEntry, routeName(7, "GET")}},
	} {
		e.do()
		a, ds := cache.TranslateAPI("ref", "", in)
		if err := ds.Err(); err != nil {
			t.Fatal(err)
		}
		cache.Prune()
		cfg := translator.Assemble([]ir.API{a}, translator.Options{RouteKeys: testutil.RouteKeys(t)})
		res, err := b.Build(cfg)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		checkSameAsFresh(t, e.name, cfg, res)
		if b.built != e.built {
			t.Errorf("%s: built %d routes, want %d", e.name, b.built, e.built)
		}
		if got := len(b.routes); got != len(a.Stages[0].Routes) {
			t.Errorf("%s: %d cached routes for %d routes (not pruned)", e.name, got, len(a.Stages[0].Routes))
		}
		cur := routesByName(t, res)
		rc := res.ByType()[resource.RouteType][0]
		digest, _ := res.Digest(rc)
		if i > 0 && (digest == prevDigest) != maps.EqualFunc(cur, prev, bytes.Equal) {
			t.Errorf("%s: digest changed %v, bytes changed %v", e.name, digest != prevDigest, !maps.EqualFunc(cur, prev, bytes.Equal))
		}
		prevDigest = digest
		if e.changed != nil && i > 0 {
			var changed []string
			for name, w := range cur {
				if !bytes.Equal(prev[name], w) {
					changed = append(changed, name)
				}
			}
			for name := range prev {
				if _, ok := cur[name]; !ok {
					changed = append(changed, name)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, e.changed) {
				t.Errorf("%s: changed routes %v, want %v", e.name, changed, e.changed)
			}
		}
		prev = cur
	}
}

// TestIncrementalDerivedDeployment (issue 13, P7): a stage without a declared deployment id gets one derived from
// the definition's content, so any edit is a new deployment; the deployment id travels once per API in the virtual
// host (apiDeploymentPerFilter), not in route data, so an edit of one route rebuilds and changes only that route and
// the API's deployment value, and the cached build still equals a fresh one.
func TestIncrementalDerivedDeployment(t *testing.T) {
	api := refapi.New(100)
	in := translator.Input{File: "ref", API: api}
	cache := translator.NewCache()
	b := NewBuilder()
	var before map[string][]byte
	for pass := range 2 {
		if pass == 1 {
			api.Resources[0].ResourceMethods["GET"].Integration.TimeoutInMillis = 1000
		}
		a, _ := cache.TranslateAPI("ref", "", in)
		cfg := translator.Assemble([]ir.API{a}, translator.Options{RouteKeys: testutil.RouteKeys(t)})
		res, err := b.Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSameAsFresh(t, "derived deployment", cfg, res)
		if pass == 0 {
			before = routesByName(t, res)
			continue
		}
		var changed []string
		for name, w := range routesByName(t, res) {
			if !bytes.Equal(before[name], w) {
				changed = append(changed, name)
			}
		}
		slices.Sort(changed)
		edited := "refapi0001 " + ir.RouteName(api.Id, a.Stages[0].Name, api.Resources[0].Id, "GET")
		if want := []string{"refapi0001 " + deploymentsEntry, edited}; b.built != 1 || !slices.Equal(changed, want) {
			t.Fatalf("built %d, changed %q; want 1 built, changed %q", b.built, changed, want)
		}
	}
}

// TestIncrementalScopes: with several APIs (the split route configuration), an edit rebuilds one route of one
// scope, and every scope equals a fresh build byte for byte.
func TestIncrementalScopes(t *testing.T) {
	var apis []*apigatewayv1.RestApi
	for i := range 3 {
		a := refapi.New(50)
		a.Id = "scoped000" + string(rune('0'+i))
		a.Stages[0].DeploymentId = "dep001"
		apis = append(apis, a)
	}
	cache := translator.NewCache()
	b := NewBuilder()
	for pass, want := range []int{150, 1, 0} {
		if pass == 1 {
			apis[1].Resources[2].ResourceMethods["GET"].Integration.TimeoutInMillis = 1000
		}
		var out []ir.API
		for _, a := range apis {
			api, ds := cache.TranslateAPI(a.Id, "", translator.Input{File: a.Id, API: a})
			if err := ds.Err(); err != nil {
				t.Fatal(err)
			}
			out = append(out, api)
		}
		cfg := translator.Assemble(out, translator.Options{})
		res, err := b.Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Routes) != 3 {
			t.Fatalf("%d route configurations, want one per API", len(res.Routes))
		}
		checkSameAsFresh(t, "scoped", cfg, res)
		if b.built != want {
			t.Errorf("pass %d built %d routes, want %d", pass, b.built, want)
		}
	}
}
