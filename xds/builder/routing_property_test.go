package builder_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// TestRoutingProperty: for random resource trees and random requests, Envoy's first match over the generated
// routes (applied by the route evaluator) selects the same (resource, method) as a direct implementation of API
// Gateway's back-off rule (translator.SelectRoute, RTE-10..RTE-16).
func TestRoutingProperty(t *testing.T) {
	const trees, requestsPerTree = 150, 60
	rng := rand.New(rand.NewPCG(1, 2))
	matched, total := 0, 0
	for i := 0; i < trees; i++ {
		api := randomAPI(rng)
		cfg, diags := translator.Translate([]translator.Input{{File: "random", API: api, Stages: []*apigatewayv1.Stage{{StageName: "s"}}}}, translator.Options{})
		if err := diags.Err(); err != nil {
			t.Fatalf("tree %d: %v", i, err)
		}
		res, err := builder.Build(cfg)
		if err != nil {
			t.Fatalf("tree %d: %v", i, err)
		}
		hcm, err := res.HTTPConnectionManager()
		if err != nil {
			t.Fatal(err)
		}
		ev, err := evaluator.New(res.Routes[0], hcm)
		if err != nil {
			t.Fatalf("tree %d: %v", i, err)
		}
		routes := cfg.APIs[0].Stages[0].Routes
		for j := 0; j < requestsPerTree; j++ {
			method, path := randomRequest(rng)
			sel, err := ev.Select(&evaluator.Request{Method: method, Path: path, Authority: api.Id + ".execute-api.us-east-1.amazonaws.com", RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"})
			if err != nil {
				t.Fatalf("select %s %s: %v", method, path, err)
			}
			got := "none"
			if sel.Route != nil && sel.Metadata != nil {
				got = fmt.Sprintf("%v %v", sel.Metadata["method"], sel.Metadata["resource"])
			}
			want := "none"
			if stage, rest, ok := translator.SplitStagePath(strings.SplitN(path, "?", 2)[0]); ok && stage == "s" {
				if r := translator.SelectRoute(routes, method, rest); r != nil {
					want = r.Method + " " + r.ResourcePath
				}
			}
			total++
			if want != "none" {
				matched++
			}
			if got != want {
				t.Fatalf("tree %d %s %s: Envoy routes select %q, the back-off rule %q\nresources: %s", i, method, path, got, want, describe(api))
			}
		}
	}
	// The generator must exercise both outcomes, or the property says little.
	if matched < total/5 || matched > total*4/5 {
		t.Fatalf("only %d of %d random requests matched a route; tune the generator", matched, total)
	}
	t.Logf("%d of %d random requests matched a route", matched, total)
}

var (
	literals = []string{"a", "b", "c"}
	methods  = []string{"GET", "POST", "HEAD", "ANY"}
)

// randomAPI builds a valid resource tree: at most one variable child per parent (RES-3), greedy leaves (RES-4),
// unique parameter names along a path (RES-7).
func randomAPI(rng *rand.Rand) *apigatewayv1.RestApi {
	api := &apigatewayv1.RestApi{Id: "rand000001", Name: "random"}
	var grow func(path string, depth int)
	grow = func(path string, depth int) {
		if rng.IntN(3) > 0 || path == "" {
			res := &apigatewayv1.Resource{Id: fmt.Sprintf("r%05d", len(api.Resources)), Path: path, ResourceMethods: map[string]*apigatewayv1.Method{}}
			if res.Path == "" {
				res.Path = "/"
			}
			for _, m := range methods {
				if rng.IntN(3) == 0 {
					res.ResourceMethods[m] = &apigatewayv1.Method{HttpMethod: m, Integration: &apigatewayv1.Integration{Type: "MOCK"}}
				}
			}
			api.Resources = append(api.Resources, res)
		}
		if depth == 3 {
			return
		}
		for _, l := range literals {
			if rng.IntN(3) == 0 {
				grow(path+"/"+l, depth+1)
			}
		}
		switch rng.IntN(3) {
		case 0:
			grow(fmt.Sprintf("%s/{p%d}", path, depth), depth+1)
		case 1:
			leaf := fmt.Sprintf("%s/{g%d+}", path, depth)
			res := &apigatewayv1.Resource{Id: fmt.Sprintf("r%05d", len(api.Resources)), Path: leaf, ResourceMethods: map[string]*apigatewayv1.Method{}}
			for _, m := range methods {
				if rng.IntN(2) == 0 {
					res.ResourceMethods[m] = &apigatewayv1.Method{HttpMethod: m, Integration: &apigatewayv1.Integration{Type: "MOCK"}}
				}
			}
			api.Resources = append(api.Resources, res)
		}
	}
	grow("", 0)
	return api
}

func randomRequest(rng *rand.Rand) (method, path string) {
	method = []string{"GET", "POST", "HEAD", "PUT", "TRACE", "OPTIONS"}[rng.IntN(6)]
	var b strings.Builder
	b.WriteString([]string{"/s", "/s", "/s", "//s", "/x"}[rng.IntN(5)])
	n := rng.IntN(5)
	for i := 0; i < n; i++ {
		b.WriteString([]string{"/", "/", "/", "//"}[rng.IntN(4)])
		b.WriteString([]string{"a", "b", "c", "zz", "a%2Fb", ""}[rng.IntN(6)])
	}
	if rng.IntN(4) == 0 {
		b.WriteString("/")
	}
	if rng.IntN(4) == 0 {
		b.WriteString("?q=1")
	}
	return method, b.String()
}

func describe(api *apigatewayv1.RestApi) string {
	var parts []string
	for _, r := range api.Resources {
		var ms []string
		for m := range r.ResourceMethods {
			ms = append(ms, m)
		}
		parts = append(parts, fmt.Sprintf("%s %v", r.Path, ms))
	}
	return strings.Join(parts, "; ")
}
