package builder

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

func loadIR(t *testing.T, path string) *ir.Config {
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
	return &cfg
}

// TestScopedRoutesAnswerLikeOneRouteConfiguration: with several APIs, Build splits the route configuration into one
// RouteConfiguration per Host scope, consistent as a snapshot (every RouteConfiguration named by exactly the scoped
// routes, XDS-8), and Envoy — as the evaluator models scoped routes — answers every request exactly as it does with
// the single RouteConfiguration: same route, same upstream request or local reply, unknown hosts included (403).
func TestScopedRoutesAnswerLikeOneRouteConfiguration(t *testing.T) {
	cfg := loadIR(t, "testdata/in/authorization.yaml")
	res, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ScopedRoutes) != len(cfg.APIs) || len(res.Routes) != len(cfg.APIs) {
		t.Fatalf("%d scopes and %d route configurations for %d APIs", len(res.ScopedRoutes), len(res.Routes), len(cfg.APIs))
	}
	if err := res.ValidateNested(); err != nil {
		t.Fatal(err)
	}
	snap, err := cachev3.NewSnapshot("1", res.ByType())
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	split, err := evaluator.NewScoped(hcm, res.ScopedRoutes, res.Routes)
	if err != nil {
		t.Fatal(err)
	}

	one, err := routeConfiguration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oneHCM, err := httpConnectionManager(cfg, needsProcessor(cfg))
	if err != nil {
		t.Fatal(err)
	}
	single, err := evaluator.New(one, oneHCM)
	if err != nil {
		t.Fatal(err)
	}

	hosts := []string{"unknown.example.com", "127.0.0.1:8080", "localhost", "p0t3ct3d01.execute-api", "P0T3CT3D01.example.com"}
	paths := []string{"/", "/nostage", "/dev", "/dev/", "/prod/pets/1", "/dev/orders", "/dev/orders?x=1", "/dev/nothing/here"}
	for _, api := range cfg.APIs {
		hosts = append(hosts, api.ID+".execute-api.us-east-1.amazonaws.com", api.ID+".execute-api.us-east-1.amazonaws.com:443")
		for _, st := range api.Stages {
			for _, r := range st.Routes {
				p := "/" + st.Name
				for _, s := range r.Segments {
					p += "/" + s.Text // parameters get their name as a value
				}
				paths = append(paths, p)
			}
		}
	}
	n, unknown := 0, 0
	for _, host := range hosts {
		for _, path := range paths {
			for _, method := range []string{"GET", "POST"} {
				req := &evaluator.Request{Method: method, Path: path, Authority: host, RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"}
				want, werr := outcome(single, req)
				got, gerr := outcome(split, req)
				// An unknown Host: the unknown-host virtual host's direct response there, the NR mapper's local reply
				// here. Same status, headers and body; the header order and %RESPONSE_CODE_DETAILS% (access logs) differ.
				if w, ok := want.(evaluator.Response); ok && w.Details == "direct_response" {
					if g, ok := got.(evaluator.Response); ok && g.Details == "route_not_found" {
						g.Details = w.Details
						slices.SortFunc(g.Headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
						slices.SortFunc(w.Headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
						want, got = w, g
						unknown++
					}
				}
				if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(want, got) {
					t.Errorf("%s %s Host %s:\n split  %+v (%v)\n single %+v (%v)", method, path, host, got, gerr, want, werr)
				}
				n++
			}
		}
	}
	t.Logf("%d requests compared, %d of them to unknown hosts", n, unknown)
	if unknown == 0 {
		t.Error("no request reached an unknown host")
	}

	// Deviation (scoped.go): the scope key is matched as sent, so a Host whose first label differs in case finds no
	// scope, where one RouteConfiguration matches domains case-insensitively.
	req := &evaluator.Request{Method: "GET", Path: "/dev/orders", Authority: "OPENANYWAY.execute-api.us-east-1.amazonaws.com", RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"}
	if sel, err := split.Select(req); err != nil || sel.VirtualHost != "" {
		t.Errorf("upper-case first label selected %q (%v); Envoy's scope lookup is case-sensitive", sel.VirtualHost, err)
	}
}

// outcome is what Envoy does with req, with the parts that name the selection dropped (the unknown-host virtual
// host of the single configuration has no counterpart when no scope matches).
func outcome(ev *evaluator.Evaluator, req *evaluator.Request) (any, error) {
	sel, err := ev.Select(req)
	if err != nil {
		return nil, err
	}
	out, err := ev.Forward(sel, req)
	if err != nil {
		return nil, err
	}
	if out.Response != nil {
		return *out.Response, nil
	}
	return struct {
		Route string
		Up    evaluator.UpstreamRequest
	}{sel.Name, *out.Upstream}, nil
}

// TestBuilderReusesUnchangedAPIs: a Builder hands an unchanged API's scope the very RouteConfiguration (and wire
// form) of the previous Build, so the publisher neither validates nor marshals it again, and builds a new one for
// the API that changed; the result equals a fresh Build.
func TestBuilderReusesUnchangedAPIs(t *testing.T) {
	cfg := loadIR(t, "testdata/in/authorization.yaml")
	b := NewBuilder()
	first, err := b.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	firstWire := first.ByType()
	edited := loadIR(t, "testdata/in/authorization.yaml")
	edited.ExtProc.RouteKeys = cfg.ExtProc.RouteKeys // the same signing keys, as in one running control plane
	edited.APIs[1].Stages[0].Routes[0].Name += "-edited"
	second, err := b.Build(edited)
	if err != nil {
		t.Fatal(err)
	}
	secondWire := second.ByType()
	fresh, err := Build(edited)
	if err != nil {
		t.Fatal(err)
	}
	changed := scopeRouteConfigName(mustScopeKey(t, edited.APIs[1].Hosts[0]))
	for i, rc := range second.Routes {
		// Reused scopes are in wire form: compare what is served.
		b, err := proto.Marshal(secondWire[resource.RouteType][i])
		if err != nil {
			t.Fatal(err)
		}
		var served routev3.RouteConfiguration
		if err := proto.Unmarshal(b, &served); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&served, fresh.Routes[i]) {
			t.Errorf("route configuration %s differs from a fresh Build", rc.GetName())
		}
		same := secondWire[resource.RouteType][i] == firstWire[resource.RouteType][i]
		if want := rc.GetName() != changed; same != want {
			t.Errorf("route configuration %s reused = %v, want %v", rc.GetName(), same, want)
		}
	}
}

func mustScopeKey(t *testing.T, host string) string {
	t.Helper()
	k, ok := ScopeKey(host)
	if !ok {
		t.Fatalf("host %q has no scope key", host)
	}
	return k
}

// TestScopedRoutesAddingAnAPIKeepsTheListener: with the split, an API added or removed changes the scoped routes
// and route configurations only; the listener (LDS) stays byte-identical, so Envoy does not drain it.
func TestScopedRoutesAddingAnAPIKeepsTheListener(t *testing.T) {
	cfg := loadIR(t, "testdata/in/authorization.yaml")
	more := loadIR(t, "testdata/in/authorization.yaml")
	more.ExtProc.RouteKeys = cfg.ExtProc.RouteKeys
	extra := more.APIs[1]
	extra.ID = "extra00001"
	extra.Hosts = []string{"extra00001.execute-api.*"}
	more.APIs = append(more.APIs, extra)
	a, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(more)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a.Listeners[0], b.Listeners[0]) {
		t.Error("adding an API changed the listener")
	}
	if len(b.ScopedRoutes) != len(a.ScopedRoutes)+1 || len(b.Routes) != len(a.Routes)+1 {
		t.Errorf("scopes %d → %d, route configurations %d → %d; want one more each", len(a.ScopedRoutes), len(b.ScopedRoutes), len(a.Routes), len(b.Routes))
	}
}
