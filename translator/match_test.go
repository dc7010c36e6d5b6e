package translator_test

import (
	"testing"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
)

func routesFor(t *testing.T, pairs ...[2]string) []ir.Route {
	t.Helper()
	var out []ir.Route
	for _, p := range pairs {
		segs, err := translator.ParseResourcePath(p[0])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ir.Route{ResourcePath: p[0], Segments: segs, Method: p[1]})
	}
	return out
}

// TestSelectRouteObservedCases runs the observed cases of apigateway-rest RTE-10 against the reference
// implementation of the back-off rule.
func TestSelectRouteObservedCases(t *testing.T) {
	type want struct{ method, path, resource, routeMethod string }
	tables := []struct {
		routes [][2]string
		cases  []want
	}{
		{
			routes: [][2]string{{"/part1", "GET"}, {"/part1/hardcoded-value", "GET"}, {"/{param+}", "GET"}},
			cases: []want{
				{"GET", "part1", "/part1", "GET"},
				{"GET", "part1/hardcoded-value", "/part1/hardcoded-value", "GET"},
				{"GET", "part1/random-value", "/{param+}", "GET"},
			},
		},
		{
			routes: [][2]string{{"/test", "POST"}, {"/test/any", "ANY"}, {"/{proxy+}", "OPTIONS"}},
			cases: []want{
				{"OPTIONS", "test", "/{proxy+}", "OPTIONS"},
				{"POST", "test", "/test", "POST"},
				{"OPTIONS", "test/any", "/test/any", "ANY"},
				{"GET", "test/any", "/test/any", "ANY"},
			},
		},
		{
			routes: [][2]string{{"/{proxy+}", "ANY"}, {"/jobs/{operation_type}", "GET"}, {"/cors_only", "OPTIONS"}},
			cases: []want{
				{"GET", "jobs/reboot", "/jobs/{operation_type}", "GET"},
				{"GET", "jobs", "/{proxy+}", "ANY"},
				{"POST", "jobs", "/{proxy+}", "ANY"},
				{"POST", "jobs/reboot", "/{proxy+}", "ANY"},
				{"GET", "cors_only", "/{proxy+}", "ANY"},
				{"TRACE", "jobs", "", ""},
			},
		},
		{
			routes: [][2]string{{"/users/me", "PATCH"}, {"/users/{userId}", "GET"}},
			cases: []want{
				{"GET", "users/me", "/users/{userId}", "GET"},
				{"PATCH", "users/me", "/users/me", "PATCH"},
				{"POST", "users/me", "", ""},
				{"HEAD", "users/me", "", ""},
				{"GET", "users/me/", "/users/{userId}", "GET"},
			},
		},
		{
			routes: [][2]string{{"/things/real", "GET"}, {"/things/{proxy+}", "POST"}, {"/", "GET"}},
			cases: []want{
				{"POST", "things/real", "/things/{proxy+}", "POST"},
				{"GET", "", "/", "GET"},
				{"POST", "things", "", ""},
				{"POST", "things/a//b", "/things/{proxy+}", "POST"},
			},
		},
	}
	for _, tb := range tables {
		routes := routesFor(t, tb.routes...)
		translator.SortRoutes(routes)
		for _, c := range tb.cases {
			got := translator.SelectRoute(routes, c.method, c.path)
			switch {
			case c.resource == "" && got != nil:
				t.Errorf("%s /%s: want no route, got %s %s", c.method, c.path, got.Method, got.ResourcePath)
			case c.resource != "" && (got == nil || got.ResourcePath != c.resource || got.Method != c.routeMethod):
				t.Errorf("%s /%s: want %s %s, got %+v", c.method, c.path, c.routeMethod, c.resource, got)
			}
		}
	}
}

func TestMatchResourceParameters(t *testing.T) {
	cases := []struct {
		resource, rest string
		want           map[string]string
	}{
		{"/{proxy+}", "proxy-value/", map[string]string{"proxy": "proxy-value"}},
		{"/{proxy+}", "proxy-value//double-slash", map[string]string{"proxy": "proxy-value//double-slash"}},
		{"/resource/{ID}", "resource/my-id%2F100", map[string]string{"ID": "my-id%2F100"}},
		{"/a/{b}/{c+}", "a/1/x/y//", map[string]string{"b": "1", "c": "x/y"}},
		{"/{proxy+}", "", nil},
		{"/a/{p+}", "a//x", nil},
		{"/a/{id}", "a/1/2", nil},
		{"/", "", map[string]string{}},
	}
	for _, c := range cases {
		segs, _ := translator.ParseResourcePath(c.resource)
		got, ok := translator.MatchResource(segs, c.rest)
		if (c.want == nil) != !ok {
			t.Errorf("%s vs %q: match=%v, want %v", c.resource, c.rest, ok, c.want != nil)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s vs %q: %s=%q, want %q", c.resource, c.rest, k, got[k], v)
			}
		}
	}
}

func TestSplitStagePath(t *testing.T) {
	cases := []struct{ path, stage, rest string }{
		{"/dev/pets", "dev", "pets"},
		{"//dev/pets", "dev", "pets"},
		{"/dev//pets", "dev", "pets"},
		{"/dev", "dev", ""},
		{"/dev/", "dev", ""},
		{"/dev/a//b/", "dev", "a//b/"},
	}
	for _, c := range cases {
		st, rest, ok := translator.SplitStagePath(c.path)
		if !ok || st != c.stage || rest != c.rest {
			t.Errorf("SplitStagePath(%q) = %q, %q, %v; want %q, %q", c.path, st, rest, ok, c.stage, c.rest)
		}
	}
	if _, _, ok := translator.SplitStagePath("/"); ok {
		t.Error("SplitStagePath(/) found a stage")
	}
}
