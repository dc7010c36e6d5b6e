package builder_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/proxyplus/proxyplus/internal/re2"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// routeRegexes lists every RE2 regex Envoy compiles from a route configuration: route matches, header matchers
// and regex_rewrite patterns (each goes through CompiledGoogleReMatcher's program size check).
func routeRegexes(rcs []*routev3.RouteConfiguration) []string {
	var out []string
	for _, rc := range rcs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if re := r.GetMatch().GetSafeRegex().GetRegex(); re != "" {
					out = append(out, re)
				}
				for _, h := range r.GetMatch().GetHeaders() {
					if re := h.GetStringMatch().GetSafeRegex().GetRegex(); re != "" {
						out = append(out, re)
					}
				}
				if re := r.GetRoute().GetRegexRewrite().GetPattern().GetRegex(); re != "" {
					out = append(out, re)
				}
			}
		}
	}
	return out
}

// maxProgramSize is the largest RE2 program size among regexes, with the regex.
func maxProgramSize(tb testing.TB, regexes []string) (int, string) {
	tb.Helper()
	best, which := 0, ""
	for _, re := range regexes {
		n, err := re2.ProgramSize(re)
		if err != nil {
			tb.Fatalf("%q: %v", re, err)
		}
		if n > best {
			best, which = n, re
		}
	}
	return best, which
}

// Envoy refuses a RouteConfiguration with a regex over RE2 program size 100 (re2.max_program_size.error_level,
// source/common/common/regex.cc). REF-API(20000) must stay under it.
func TestREFAPIRegexesWithinRE2Limit(t *testing.T) {
	_, res, _ := translateAndBuild(t, 20000)
	regexes := routeRegexes(res.Routes)
	n, which := maxProgramSize(t, regexes)
	t.Logf("REF-API(20000): %d regexes, largest RE2 program size %d (%s)", len(regexes), n, which)
	if n > re2.DefaultMaxProgramSize {
		t.Fatalf("regex %q has RE2 program size %d > %d", which, n, re2.DefaultMaxProgramSize)
	}
}

// longPath is a resource path of about length characters: literal segments of segLen characters (RES-2's
// letters, digits and _ - . , :), then params parameters.
func longPath(params, length, segLen int) string {
	const lit = "abcdefghijklmnopqrstuvwxyz0123456789_-.,:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var tail strings.Builder
	for i := range params {
		fmt.Fprintf(&tail, "/{p%d}", i)
	}
	var b strings.Builder
	for k := 0; b.Len()+tail.Len() < length; k++ {
		n := min(segLen, length-b.Len()-tail.Len()-1)
		if n <= 0 {
			break
		}
		b.WriteByte('/')
		for i := range n {
			b.WriteByte(lit[(k*7+i)%len(lit)])
		}
	}
	if b.Len()+tail.Len() == 0 {
		return "/"
	}
	return b.String() + tail.String()
}

// translateOne translates an API with one resource (GET, HTTP_PROXY rewriting to its first nine parameters, so the
// regex_rewrite pattern is generated too; RE2 substitutions stop at \9) on stage "dev".
func translateOne(t *testing.T, path string) (*builder.Resources, error) {
	t.Helper()
	uri := "http://backend.example/x"
	params := map[string]string{}
	for i := range min(strings.Count(path, "{p"), 9) {
		uri += fmt.Sprintf("/{p%d}", i)
		params[fmt.Sprintf("integration.request.path.p%d", i)] = fmt.Sprintf("method.request.path.p%d", i)
	}
	api := &apigatewayv1.RestApi{Id: "long000001", Name: "long", Stages: []*apigatewayv1.Stage{{StageName: "dev"}},
		Resources: []*apigatewayv1.Resource{{Id: "res001", Path: path, ResourceMethods: map[string]*apigatewayv1.Method{
			"GET": {HttpMethod: "GET", Integration: &apigatewayv1.Integration{Type: "HTTP_PROXY", HttpMethod: "GET", Uri: uri, RequestParameters: params}},
		}}}}
	cfg, diags := translator.Translate([]translator.Input{{File: "long", API: api}}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return builder.Build(cfg)
}

// Paths of up to 10 parameters and 512 characters: every generated regex is within RE2 program size 100, or the
// translation fails with an error naming the API, stage and resource. Paths with literal segments of 60
// characters fit up to 512 characters with 10 parameters (split over :path header matchers, resourceMatch); with
// short segments the segment count is what runs out.
func TestLongPathsWithinRE2LimitOrRefused(t *testing.T) {
	for _, segLen := range []int{60, 20, 8} {
		fitting, refused, largest := 0, 0, 0
		longestFit := map[int]int{}
		for params := 0; params <= 10; params++ {
			for length := max(1, 5*params); length <= 512; length += 11 {
				path := longPath(params, length, segLen)
				res, err := translateOne(t, path)
				if err != nil {
					refused++
					for _, want := range []string{"API long000001", "stage dev", "resource res001", path, "RE2 program size"} {
						if !strings.Contains(err.Error(), want) {
							t.Fatalf("%s: error %q does not name %q", path, err, want)
						}
					}
					continue
				}
				fitting++
				n, which := maxProgramSize(t, routeRegexes(res.Routes))
				if n > re2.DefaultMaxProgramSize {
					t.Fatalf("%s: regex %q has RE2 program size %d > %d and translation did not fail", path, which, n, re2.DefaultMaxProgramSize)
				}
				largest = max(largest, n)
				longestFit[params] = max(longestFit[params], len(path))
			}
		}
		t.Logf("segments of %d characters: %d paths translated (largest RE2 program size %d), %d refused; longest path that fits per parameter count: %v",
			segLen, fitting, largest, refused, longestFit)
		if segLen == 60 && longestFit[10] < 505 {
			t.Errorf("a path of 10 parameters and 60-character literal segments no longer fits up to 512 characters: %v", longestFit)
		}
	}
}

// A request target with a byte ≥ 0x80 (valid UTF-8 or not, in the path or the query) is answered 400 "Bad Request"
// by the guard route ahead of the resource routes, as Envoy's HTTP/1 parser answers it before routing
// (balsa_parser.cc isUrlValid); HTTP/2 (nghttp2) lets such a :path through to the router. ASCII targets route.
func TestNonASCIITargetGuard(t *testing.T) {
	const path = "/api/v1/organizations/{p0}/projects/{p1}/environments/{p2}/deployments/{p3}/logs"
	res, err := translateOne(t, path)
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	// Over HTTP/1 Envoy's codec refuses such a target before routing (the evaluator models HTTP/1 only); over
	// HTTP/2 nghttp2 lets it through and the guard route answers the same 400. The guard's :path matcher is a
	// full-match RE2 regex, inverted (header_utility.cc HeaderUtility::matchHeaders, regex.cc
	// CompiledGoogleReMatcher::match uses RE2::FullMatch): its regex must reject exactly the non-ASCII targets.
	var guard *regexp.Regexp
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		for _, rt := range vh.GetRoutes() {
			if strings.HasSuffix(rt.GetName(), "/non-ascii-target") {
				hm := rt.GetMatch().GetHeaders()[0]
				if !hm.GetInvertMatch() {
					t.Fatal("the guard's :path matcher is not inverted")
				}
				guard = regexp.MustCompile(`^(?:` + hm.GetStringMatch().GetSafeRegex().GetRegex() + `)$`)
			}
		}
	}
	if guard == nil {
		t.Fatal("no non-ascii-target guard route")
	}
	for _, c := range []struct {
		target string
		ascii  bool
	}{
		{"//dev/api/v1/organizations/o/projects/p%C3%A9/environments/e/deployments/d/logs/?q=1", true},
		{"/dev/api/v1/organizations/o/projects/pé/environments/e/deployments/d/logs", false},
		{"/dev/api/v1/organizations/o/projects/p\xff/environments/e/deployments/d/logs", false},
		{"/dev/api/v1/organizations/o/projects/p/environments/e/deployments/d/logs?q=é", false},
	} {
		if got := guard.MatchString(c.target); got != c.ascii {
			t.Errorf("%q: guard regex full match = %v, want %v", c.target, got, c.ascii)
		}
		r := &evaluator.Request{Method: "GET", Path: c.target, Authority: "long000001.execute-api.us-east-1.amazonaws.com",
			RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"}
		sel, err := ev.Select(r)
		if c.ascii {
			if err != nil || sel.Route == nil || sel.Route.GetName() != "long000001/dev/res001/GET" {
				t.Fatalf("%q: %v %v, want the resource's route", c.target, sel, err)
			}
			continue
		}
		var rej *evaluator.RejectedError
		if !errors.As(err, &rej) || rej.Status != 400 || rej.Body != "Bad Request" {
			t.Fatalf("%q: %v, want HTTP/1's 400 Bad Request", c.target, err)
		}
	}
}

// A 512-character resource with 10 parameters, split over a safe_regex and :path header matchers, routes exactly
// its own targets through the evaluator (Envoy's model), whatever the query holds, and rewrites the upstream path
// from its parameters.
func TestSplitRouteThroughEvaluator(t *testing.T) {
	path := longPath(10, 512, 60)
	res, err := translateOne(t, path)
	if err != nil {
		t.Fatal(err)
	}
	var split *routev3.Route
	for _, r := range res.Routes[0].GetVirtualHosts()[0].GetRoutes() {
		if strings.HasSuffix(r.GetName(), "/res001/GET") {
			split = r
		}
	}
	if split == nil || len(split.GetMatch().GetHeaders()) < 2 {
		t.Fatalf("route %v: want a safe_regex plus :path header matchers", split.GetMatch())
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	target := "//dev/" + strings.TrimPrefix(path, "/")
	for i := range 10 {
		target = strings.Replace(target, fmt.Sprintf("{p%d}", i), fmt.Sprintf("v%d", i), 1)
	}
	literal := strings.Split(path, "/")[3] // a literal segment the header matchers check
	for _, c := range []struct {
		target, want, upstream string
	}{
		{target + "//", "long000001/dev/res001/GET", "/x/v0/v1/v2/v3/v4/v5/v6/v7/v8"},
		{target + "?q=/" + literal + "?", "long000001/dev/res001/GET", "/x/v0/v1/v2/v3/v4/v5/v6/v7/v8?q=/" + literal + "?"},
		{strings.Replace(target, literal, literal+"x", 1), "long000001/dev/no-match", ""},
		{strings.Replace(target, literal, literal[1:], 1) + "?" + literal, "long000001/dev/no-match", ""},
		{strings.Replace(target, "/v9", "", 1), "long000001/dev/no-match", ""},
	} {
		r := &evaluator.Request{Method: "GET", Path: c.target, Authority: "long000001.execute-api.us-east-1.amazonaws.com", RemoteAddr: "192.0.2.1:4000", LocalAddr: "127.0.0.1:8080"}
		sel, err := ev.Select(r)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Route.GetName() != c.want {
			t.Fatalf("%q selects %q, want %q", c.target, sel.Route.GetName(), c.want)
		}
		if c.upstream == "" {
			continue
		}
		out, err := ev.Forward(sel, r)
		if err != nil {
			t.Fatal(err)
		}
		if out.Upstream == nil || out.Upstream.Path != c.upstream {
			t.Fatalf("%q: upstream %+v, want path %q", c.target, out.Upstream, c.upstream)
		}
	}
}
