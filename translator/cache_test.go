package translator_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
)

// edit is one change to a definition.
type edit struct {
	name string
	do   func(api *apigatewayv1.RestApi, st *apigatewayv1.Stage)
}

// firstMethod is the first resource with a method and its first method name (sorted).
func firstMethod(api *apigatewayv1.RestApi) (*apigatewayv1.Resource, string) {
	for _, r := range api.GetResources() {
		var names []string
		for m := range r.GetResourceMethods() {
			names = append(names, m)
		}
		if len(names) > 0 {
			slices.Sort(names)
			return r, names[0]
		}
	}
	return nil, ""
}

// edits: change, add and delete a method, change a path, an API-level setting and a stage variable.
var edits = []edit{
	{"change method", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		r, m := firstMethod(api)
		meth := r.GetResourceMethods()[m]
		if meth.Integration == nil {
			meth.Integration = &apigatewayv1.Integration{}
		}
		meth.Integration.TimeoutInMillis = 1234
	}},
	{"add method", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		r, m := firstMethod(api)
		added := proto.Clone(r.GetResourceMethods()[m]).(*apigatewayv1.Method)
		added.HttpMethod = "PATCH"
		r.ResourceMethods["PATCH"] = added
	}},
	{"delete method", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		r, _ := firstMethod(api)
		delete(r.ResourceMethods, "PATCH")
	}},
	{"change path", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		r := api.GetResources()[len(api.GetResources())-1]
		r.Path += "/renamed"
	}},
	{"API-level setting", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		api.BinaryMediaTypes = append(api.BinaryMediaTypes, "image/png")
	}},
	{"stage variable", func(_ *apigatewayv1.RestApi, st *apigatewayv1.Stage) {
		if st.Variables == nil {
			st.Variables = map[string]string{}
		}
		st.Variables["incr"] += "x"
	}},
	{"delete resource", func(api *apigatewayv1.RestApi, _ *apigatewayv1.Stage) {
		api.Resources = api.Resources[1:]
	}},
}

// cacheCases are the golden inputs and REF-API(300): MOCKs, authorizers, HTTP_PROXY mappings, routing precedence.
func cacheCases(t *testing.T) map[string]translator.Input {
	t.Helper()
	cases := map[string]translator.Input{}
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, path := range inputs {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var c goldenCase
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		res, err := loader.Load(path, c.API, loader.Options{})
		if err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		st := &apigatewayv1.Stage{StageName: c.Stage, Variables: c.StageVariables}
		cases[path] = translator.Input{File: path, API: res.API, Stages: []*apigatewayv1.Stage{st}}
	}
	ref := refapi.New(300)
	cases["ref-api"] = translator.Input{File: "ref-api", API: ref, Stages: []*apigatewayv1.Stage{{StageName: "prod"}}}
	return cases
}

// withoutSources is api with every route's Source cleared (TranslateAPI leaves them zero).
func withoutSources(api ir.API) ir.API {
	api.Stages = slices.Clone(api.Stages)
	for i := range api.Stages {
		api.Stages[i].Routes = slices.Clone(api.Stages[i].Routes)
		for j := range api.Stages[i].Routes {
			api.Stages[i].Routes[j].Source = ir.SourceKey{}
		}
	}
	return api
}

// TestCacheMatchesTranslateAPI: through a sequence of edits, a Cache's translation equals a from-scratch
// TranslateAPI (diagnostics included), and each route's Source changes exactly when its translation does.
func TestCacheMatchesTranslateAPI(t *testing.T) {
	for name, in := range cacheCases(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			c := translator.NewCache()
			var prev ir.API
			for i, e := range append([]edit{{"initial", func(*apigatewayv1.RestApi, *apigatewayv1.Stage) {}}}, edits...) {
				e.do(in.API, in.Stages[0])
				got, gotDiags := c.TranslateAPI(name, strconv.Itoa(i), in)
				want, wantDiags := translator.TranslateAPI(in)
				if d := cmp.Diff(want, withoutSources(got)); d != "" {
					t.Fatalf("after %q, cached translation differs (-fresh +cached):\n%s", e.name, d)
				}
				if d := cmp.Diff(wantDiags, gotDiags); d != "" {
					t.Fatalf("after %q, diagnostics differ (-fresh +cached):\n%s", e.name, d)
				}
				checkSources(t, e.name, prev, got)
				c.Prune()
				prev = got
			}
		})
	}
}

// checkSources: routes with equal Source are equal, and a route translated the same as before keeps its Source
// unless its context (stage, API settings) changed.
func checkSources(t *testing.T, edit string, prev, cur ir.API) {
	t.Helper()
	bySource := map[ir.SourceKey]ir.Route{}
	for _, st := range cur.Stages {
		for _, r := range st.Routes {
			if r.Source == (ir.SourceKey{}) {
				t.Fatalf("after %q, route %s has no Source", edit, r.Name)
			}
			if other, ok := bySource[r.Source]; ok && !reflect.DeepEqual(other, r) {
				t.Fatalf("after %q, routes %s and %s share a Source", edit, other.Name, r.Name)
			}
			bySource[r.Source] = r
		}
	}
	for _, st := range prev.Stages {
		for _, r := range st.Routes {
			if same, ok := bySource[r.Source]; ok && !reflect.DeepEqual(same, r) {
				t.Fatalf("after %q, route %s kept its Source but changed", edit, r.Name)
			}
		}
	}
}

// TestCacheOneMethodEditChangesOneSource: editing one method gives one route a new Source; the others keep theirs
// (so the builder rebuilds one route).
func TestCacheOneMethodEditChangesOneSource(t *testing.T) {
	api := refapi.New(200)
	in := translator.Input{File: "ref", API: api}
	c := translator.NewCache()
	before, _ := c.TranslateAPI("ref", "1", in)
	api.Resources[3].ResourceMethods["GET"].Integration.TimeoutInMillis = 1000
	after, _ := c.TranslateAPI("ref", "2", in)
	old := map[ir.SourceKey]bool{}
	for _, r := range before.Stages[0].Routes {
		old[r.Source] = true
	}
	var changed []string
	for _, r := range after.Stages[0].Routes {
		if !old[r.Source] {
			changed = append(changed, r.Name)
		}
	}
	if want := []string{ir.RouteName(api.Id, "prod", api.Resources[3].Id, "GET")}; !slices.Equal(changed, want) {
		t.Fatalf("routes with a new Source: %v, want %v", changed, want)
	}
}

// TestCacheRevisionSkipsReading: an unchanged revision returns the previous translation without reading the
// input; a new revision reads it.
func TestCacheRevisionSkipsReading(t *testing.T) {
	api := refapi.New(20)
	in := translator.Input{File: "ref", API: api}
	c := translator.NewCache()
	first, _ := c.TranslateAPI("ref", "7", in)
	api.Resources[0].ResourceMethods["GET"].Integration.TimeoutInMillis = 1000
	same, _ := c.TranslateAPI("ref", "7", in)
	if !reflect.DeepEqual(first, same) {
		t.Fatal("the same revision translated again")
	}
	next, _ := c.TranslateAPI("ref", "8", in)
	if reflect.DeepEqual(first, next) {
		t.Fatal("a new revision returned the old translation")
	}
	fresh, _ := translator.TranslateAPI(in)
	if d := cmp.Diff(fresh, withoutSources(next)); d != "" {
		t.Fatalf("new revision's translation differs (-fresh +cached):\n%s", d)
	}
}

// TestCachePrune: sources not translated since the previous Prune are dropped.
func TestCachePrune(t *testing.T) {
	api := refapi.New(20)
	c := translator.NewCache()
	c.TranslateAPI("a", "1", translator.Input{File: "a", API: api})
	c.Prune()
	c.Prune() // "a" was not translated in between: dropped
	api.Resources[0].ResourceMethods["GET"].Integration.TimeoutInMillis = 1000
	got, _ := c.TranslateAPI("a", "1", translator.Input{File: "a", API: api})
	name := ir.RouteName(api.Id, "prod", api.Resources[0].Id, "GET")
	for _, r := range got.Stages[0].Routes {
		if r.Name == name && r.Integration.Timeout() != time.Second {
			t.Fatalf("a pruned source was answered from the cache: timeout %v", r.Integration.Timeout())
		}
	}
}

// TestResourceKeyCoversResource: the per-resource content key (resourceKey) writes a resource's id, path and
// methods; a new Resource field must be added there.
func TestResourceKeyCoversResource(t *testing.T) {
	var names []string
	fields := (&apigatewayv1.Resource{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		names = append(names, string(fields.Get(i).Name()))
	}
	if want := []string{"id", "path", "resource_methods"}; !slices.Equal(names, want) {
		t.Fatalf("Resource fields %v, resourceKey covers %v", names, want)
	}
}
