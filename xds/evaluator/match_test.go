package evaluator

import (
	"errors"
	"strings"
	"testing"
)

// oneVH builds a route configuration with one "*" virtual host holding routes (a YAML
// list, indented by 4 spaces under "routes:").
func oneVH(t *testing.T, routes string) *Evaluator {
	t.Helper()
	y := "name: t\nvirtual_hosts:\n- name: vh\n  domains: [\"*\"]\n  routes:\n" + routes
	return mustNew(t, rcYAML(t, y), baseHCM(t))
}

func selectName(t *testing.T, e *Evaluator, r *Request) string {
	t.Helper()
	sel, err := e.Select(r)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	if sel.Route == nil {
		return ""
	}
	return sel.Name
}

func TestPathMatchers(t *testing.T) {
	cases := []struct {
		name   string
		route  string // the route's match
		path   string
		method string
		want   bool
	}{
		{"prefix", `{prefix: /pets}`, "/pets/1", "", true},
		{"prefix no separator rule", `{prefix: /pets}`, "/petshop", "", true},
		{"prefix ignores query", `{prefix: /a}`, "/a?x=/b", "", true},
		{"prefix is case-sensitive", `{prefix: /Pets}`, "/pets", "", false},
		{"prefix case_sensitive false", `{prefix: /Pets, case_sensitive: false}`, "/pETs/1", "", true},
		{"path exact", `{path: /pets}`, "/pets", "", true},
		{"path exact with query", `{path: /pets}`, "/pets?limit=1", "", true},
		{"path exact trailing slash", `{path: /pets}`, "/pets/", "", false},
		{"path exact case_sensitive false", `{path: /pets, case_sensitive: false}`, "/PETS", "", true},
		{"path query is not part of the match", `{path: "/pets?x=1"}`, "/pets?x=1", "", false},
		{"path_separated_prefix exact", `{path_separated_prefix: /api/dev}`, "/api/dev", "", true},
		{"path_separated_prefix slash", `{path_separated_prefix: /api/dev}`, "/api/dev/", "", true},
		{"path_separated_prefix deeper", `{path_separated_prefix: /api/dev}`, "/api/dev/v1", "", true},
		{"path_separated_prefix query", `{path_separated_prefix: /api/dev}`, "/api/dev?param=true", "", true},
		{"path_separated_prefix no boundary", `{path_separated_prefix: /api/dev}`, "/api/developer", "", false},
		{"safe_regex full match", `{safe_regex: {regex: "/pets/[0-9]+"}}`, "/pets/12", "", true},
		{"safe_regex is anchored at both ends", `{safe_regex: {regex: "/pets/[0-9]+"}}`, "/pets/12/x", "", false},
		{"safe_regex is anchored at the start", `{safe_regex: {regex: "[0-9]+"}}`, "/12", "", false},
		{"safe_regex ignores query", `{safe_regex: {regex: "/pets/([^/]+)/*"}}`, "/pets/a//?q=/x", "", true},
		{"safe_regex alternation is fully anchored", `{safe_regex: {regex: "/a|/b"}}`, "/a/c", "", false},
		{"safe_regex ignores case_sensitive", `{safe_regex: {regex: "/pets"}, case_sensitive: false}`, "/PETS", "", false},
		{"safe_regex greedy proxy needs a segment", `{safe_regex: {regex: "/S/([^/].*?)/*"}}`, "/S/", "", false},
		{"safe_regex greedy proxy", `{safe_regex: {regex: "/S/([^/].*?)/*"}}`, "/S/a/b//", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := oneVH(t, "  - name: r\n    match: "+c.route+"\n    direct_response: {status: 200}\n")
			got := selectName(t, e, req("GET", "h", c.path)) == "r"
			if got != c.want {
				t.Fatalf("match(%s, %q) = %v, want %v", c.route, c.path, got, c.want)
			}
		})
	}
}

func TestHeaderMatchers(t *testing.T) {
	cases := []struct {
		name    string
		matcher string
		method  string
		headers []string
		want    bool
	}{
		{"string exact", `{name: x-a, string_match: {exact: v}}`, "GET", []string{"x-a", "v"}, true},
		{"string exact other", `{name: x-a, string_match: {exact: v}}`, "GET", []string{"x-a", "w"}, false},
		{"string exact ignore_case", `{name: x-a, string_match: {exact: V, ignore_case: true}}`, "GET", []string{"x-a", "v"}, true},
		{"string exact is case-sensitive", `{name: x-a, string_match: {exact: V}}`, "GET", []string{"x-a", "v"}, false},
		{"header name is case-insensitive", `{name: X-A, string_match: {exact: v}}`, "GET", []string{"X-a", "v"}, true},
		{"prefix", `{name: x-a, string_match: {prefix: ab}}`, "GET", []string{"x-a", "abc"}, true},
		{"prefix ignore_case", `{name: x-a, string_match: {prefix: AB, ignore_case: true}}`, "GET", []string{"x-a", "abc"}, true},
		{"suffix", `{name: x-a, string_match: {suffix: bc}}`, "GET", []string{"x-a", "abc"}, true},
		{"suffix no", `{name: x-a, string_match: {suffix: bd}}`, "GET", []string{"x-a", "abc"}, false},
		{"contains", `{name: x-a, string_match: {contains: b}}`, "GET", []string{"x-a", "abc"}, true},
		{"contains ignore_case", `{name: x-a, string_match: {contains: B, ignore_case: true}}`, "GET", []string{"x-a", "abc"}, true},
		{"safe_regex full match", `{name: x-a, string_match: {safe_regex: {regex: "[a-c]+"}}}`, "GET", []string{"x-a", "abc"}, true},
		{"safe_regex not partial", `{name: x-a, string_match: {safe_regex: {regex: "b"}}}`, "GET", []string{"x-a", "abc"}, false},
		{"deprecated safe_regex_match", `{name: x-a, safe_regex_match: {regex: "\\d{3}"}}`, "GET", []string{"x-a", "123"}, true},
		{"deprecated exact_match empty matches any value", `{name: x-a, exact_match: ""}`, "GET", []string{"x-a", "zz"}, true},
		{"multiple values are joined with comma", `{name: x-a, string_match: {exact: "1,2"}}`, "GET", []string{"x-a", "1", "x-a", "2"}, true},
		{"present_match true, present", `{name: x-a, present_match: true}`, "GET", []string{"x-a", ""}, true},
		{"present_match true, absent", `{name: x-a, present_match: true}`, "GET", nil, false},
		{"present_match false, absent", `{name: x-a, present_match: false}`, "GET", nil, true},
		{"present_match false, present", `{name: x-a, present_match: false}`, "GET", []string{"x-a", "1"}, false},
		{"no specifier means present", `{name: x-a}`, "GET", []string{"x-a", "1"}, true},
		{"present inverted, absent", `{name: x-a, present_match: true, invert_match: true}`, "GET", nil, true},
		{"present inverted, present", `{name: x-a, present_match: true, invert_match: true}`, "GET", []string{"x-a", "1"}, false},
		// HeaderUtility::matchHeaders: an absent header never matches a value matcher, even inverted.
		{"inverted exact, absent header", `{name: x-a, string_match: {exact: v}, invert_match: true}`, "GET", nil, false},
		{"inverted exact, other value", `{name: x-a, string_match: {exact: v}, invert_match: true}`, "GET", []string{"x-a", "w"}, true},
		{"inverted exact, same value", `{name: x-a, string_match: {exact: v}, invert_match: true}`, "GET", []string{"x-a", "v"}, false},
		{"treat_missing_header_as_empty inverted", `{name: x-a, string_match: {exact: v}, invert_match: true, treat_missing_header_as_empty: true}`, "GET", nil, true},
		{"treat_missing_header_as_empty regex ^$", `{name: x-a, string_match: {safe_regex: {regex: "^$"}}, treat_missing_header_as_empty: true}`, "GET", nil, true},
		{":method exact", `{name: ":method", string_match: {exact: POST}}`, "POST", nil, true},
		{":method exact other", `{name: ":method", string_match: {exact: POST}}`, "PUT", nil, false},
		{":method inverted known", `{name: ":method", string_match: {safe_regex: {regex: "GET|POST"}}, invert_match: true}`, "POST", nil, false},
		{":method inverted unknown", `{name: ":method", string_match: {safe_regex: {regex: "GET|POST"}}, invert_match: true}`, "PURGE", nil, true},
		{"host is :authority", `{name: host, string_match: {exact: "h"}}`, "GET", nil, true},
		{":path includes the query", `{name: ":path", string_match: {suffix: "?q=1"}}`, "GET", nil, true},
		{"hop-by-hop headers are gone before matching", `{name: keep-alive, present_match: true}`, "GET", []string{"keep-alive", "5"}, false},
		{"HCM-set x-forwarded-proto is visible", `{name: x-forwarded-proto, string_match: {exact: https}}`, "GET", []string{"x-forwarded-proto", "http"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := oneVH(t, "  - name: r\n    match: {prefix: /, headers: ["+c.matcher+"]}\n    direct_response: {status: 200}\n")
			got := selectName(t, e, req(c.method, "h", "/x?q=1", c.headers...)) == "r"
			if got != c.want {
				t.Fatalf("%s: got %v, want %v", c.matcher, got, c.want)
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	e := oneVH(t, `
  - {name: exact, match: {path: /a/b}, direct_response: {status: 200}}
  - {name: regex, match: {safe_regex: {regex: "/a/[^/]+"}}, direct_response: {status: 200}}
  - {name: post-only, match: {prefix: /a, headers: [{name: ":method", string_match: {exact: POST}}]}, direct_response: {status: 200}}
  - {name: prefix, match: {prefix: /a}, direct_response: {status: 200}}
  - {name: catchall, match: {prefix: /}, direct_response: {status: 200}}
`)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/a/b", "exact"},
		{"GET", "/a/c", "regex"},
		{"POST", "/a/b/c", "post-only"},
		{"GET", "/a/b/c", "prefix"},
		{"GET", "/z", "catchall"},
	} {
		if got := selectName(t, e, req(c.method, "h", c.path)); got != c.want {
			t.Errorf("%s %s -> %q, want %q", c.method, c.path, got, c.want)
		}
	}
	// No route at all: Envoy answers 404 with flag NR.
	e = oneVH(t, "  - {name: only, match: {path: /x}, direct_response: {status: 200}}\n")
	r := req("GET", "h", "/y")
	sel, err := e.Select(r)
	if err != nil || sel.Route != nil || sel.VirtualHost != "vh" {
		t.Fatalf("sel=%+v err=%v", sel, err)
	}
	out, err := e.Forward(sel, r)
	if err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || out.Response.Status != 404 || len(out.Response.Body) != 0 || out.Response.Details != "route_not_found" {
		t.Fatalf("no route: %+v", out.Response)
	}
	if got := out.Response.Header("content-length"); len(got) != 1 || got[0] != "0" {
		t.Errorf("404 content-length = %v, want [0] (HTTP/1 codec, headers-only)", got)
	}
}

// RTM-5: the ANY guard route rejects methods API Gateway does not know, and lets the
// known ones fall through to the resource routes.
func TestInvertMatchOnMethodGuard(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t))
	for _, c := range []struct{ method, want string }{
		{"GET", "abc/prod/pets-id/GET"},
		{"POST", "abc/prod/missing-token"},
		{"PURGE", "abc/guard"},
	} {
		if got := selectName(t, e, req(c.method, "api.example.com", "/prod/pets/1")); got != c.want {
			t.Errorf("%s -> %q, want %q", c.method, got, c.want)
		}
	}
	// Methods outside http-parser's list never reach routing: with allow_custom_methods
	// off, Envoy's HTTP/1 parser answers 400 (balsa_parser.cc isMethodValid).
	for _, m := range []string{"get", "PATCHX"} {
		var rej *RejectedError
		if _, err := e.Select(req(m, "api.example.com", "/prod/pets/1")); !errors.As(err, &rej) || rej.Status != 400 || rej.Body != "Bad Request" {
			t.Errorf("%s: want a 400 Bad Request rejection, got %v", m, err)
		}
	}
}

func TestDomainMatchingOrder(t *testing.T) {
	y := `
name: t
virtual_hosts:
- {name: exact, domains: [www.foo.com, "Upper.Example.com"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: suffix-long, domains: ["*-bar.foo.com"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: suffix, domains: ["*.foo.com"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: prefix-long, domains: ["foo.bar.*"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: prefix, domains: ["foo.*"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: with-port, domains: ["port.example.com:8443"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
- {name: default, domains: ["*"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}
`
	cases := []struct {
		ignorePort bool
		host, want string
	}{
		{false, "www.foo.com", "exact"},
		{false, "WWW.FOO.COM", "exact"},
		{false, "upper.example.com", "exact"},
		{false, "baz-bar.foo.com", "suffix-long"},
		{false, "a.b.foo.com", "suffix"},
		{false, "-bar.foo.com", "suffix"}, // "*-bar.foo.com" does not match the empty string
		{false, ".foo.com", "default"},    // nor does "*.foo.com"
		{false, "foo.bar.baz", "prefix-long"},
		{false, "foo.com", "prefix"}, // no suffix wildcard applies, so the prefix one does
		{false, "foo.", "default"},
		{false, "x.foo.com", "suffix"},   // suffix wildcards win over prefix wildcards
		{false, "foo.foo.com", "suffix"}, // even when both match
		{false, "other.example", "default"},
		{false, "www.foo.com:8080", "default"}, // the port is part of the host
		{false, "port.example.com:8443", "with-port"},
		{true, "www.foo.com:8080", "exact"},
		{true, "port.example.com:8443", "default"}, // domains keep their port
		{true, "[2001:db8::1]:443", "default"},
		{true, "a.foo.com:443", "suffix"},
	}
	for _, c := range cases {
		rc := rcYAML(t, y)
		rc.IgnorePortInHostMatching = c.ignorePort
		e := mustNew(t, rc, baseHCM(t))
		sel, err := e.Select(req("GET", c.host, "/"))
		if err != nil {
			t.Fatal(err)
		}
		if sel.VirtualHost != c.want {
			t.Errorf("ignore_port=%v host %q -> %q, want %q", c.ignorePort, c.host, sel.VirtualHost, c.want)
		}
	}
	// Without a "*" virtual host an unknown host selects nothing.
	e := mustNew(t, rcYAML(t, `{name: t, virtual_hosts: [{name: a, domains: [a.com], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}]}`), baseHCM(t))
	sel, err := e.Select(req("GET", "b.com", "/"))
	if err != nil || sel.VirtualHost != "" || sel.Route != nil {
		t.Fatalf("unknown host: %+v %v", sel, err)
	}
}

func TestNewRefuses(t *testing.T) {
	vh := func(route string) string {
		return "name: t\nvirtual_hosts:\n- name: api\n  domains: [\"*\"]\n  routes:\n  - " + route + "\n"
	}
	cases := []struct {
		name            string
		rc              string
		wantVH, wantRte string
		wantField       string
	}{
		{"connect_matcher", vh(`{name: r1, match: {connect_matcher: {}}, route: {cluster: c}}`), "api", "r1", "routes[0].match.connect_matcher"},
		{"query_parameters", vh(`{name: r1, match: {prefix: /, query_parameters: [{name: a, present_match: true}]}, route: {cluster: c}}`), "api", "r1", "routes[0].match.query_parameters"},
		{"uri_template", vh(`{name: r1, match: {path_match_policy: {name: envoy.path.match.uri_template.uri_template_matcher, typed_config: {"@type": type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig, path_template: "/pets/{id}"}}}, route: {cluster: c}}`), "api", "r1", "routes[0].match.path_match_policy"},
		{"runtime_fraction", vh(`{name: r1, match: {prefix: /, runtime_fraction: {default_value: {numerator: 50}}}, route: {cluster: c}}`), "api", "r1", "routes[0].match.runtime_fraction"},
		{"redirect", vh(`{name: r1, match: {prefix: /}, redirect: {path_redirect: /x}}`), "api", "r1", "routes[0].redirect"},
		{"weighted clusters", vh(`{name: r1, match: {prefix: /}, route: {weighted_clusters: {clusters: [{name: a, weight: 1}]}}}`), "api", "r1", "routes[0].route.weighted_clusters"},
		{"retry policy", vh(`{name: r1, match: {prefix: /}, route: {cluster: c, retry_policy: {num_retries: 2}}}`), "api", "r1", "routes[0].route.retry_policy"},
		{"range header matcher", vh(`{name: r1, match: {prefix: /, headers: [{name: x, range_match: {start: 1, end: 2}}]}, route: {cluster: c}}`), "api", "r1", "routes[0].match.headers[0].range_match"},
		{"host in request_headers_to_add", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: Host, value: x}}]}`), "api", "r1", "routes[0].request_headers_to_add[0].header"},
		{"pseudo in response_headers_to_remove", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, response_headers_to_remove: [":status"]}`), "api", "r1", "routes[0].response_headers_to_remove[0]"},
		{"unknown command operator", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: x, value: "%START_TIME%"}}]}`), "api", "r1", "routes[0].request_headers_to_add[0].header.value"},
		{"unescaped percent", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: x, value: "100%"}}]}`), "api", "r1", "routes[0].request_headers_to_add[0].header.value"},
		{"append and append_action", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: x, value: "y"}, append: true, append_action: ADD_IF_ABSENT}]}`), "api", "r1", "routes[0].request_headers_to_add[0]"},
		{"unknown per-filter config", vh(`{name: r1, match: {prefix: /}, route: {cluster: c}, typed_per_filter_config: {envoy.filters.http.buffer: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}}}`), "api", "r1", `routes[0].typed_per_filter_config.["envoy.filters.http.buffer"]`},
		{"bad regex rewrite substitution", vh(`{name: r1, match: {prefix: /}, route: {cluster: c, regex_rewrite: {pattern: {regex: "a"}, substitution: "\\1"}}}`), "api", "r1", "routes[0].route.regex_rewrite.substitution"},
		{"invalid regex", vh(`{name: r1, match: {safe_regex: {regex: "(a"}}, route: {cluster: c}}`), "api", "r1", "routes[0].match.safe_regex.regex"},
		{"direct response too large", vh(`{name: r1, match: {prefix: /}, direct_response: {status: 200, body: {inline_string: "` + strings.Repeat("x", 4097) + `"}}}`), "api", "r1", "routes[0].direct_response.body"},
		{"vhost cors", "name: t\nvirtual_hosts:\n- {name: api, domains: [\"*\"], cors: {}, routes: []}\n", "api", "", "virtual_hosts[0].cors"},
		{"vhost retry policy", "name: t\nvirtual_hosts:\n- {name: api, domains: [\"*\"], retry_policy: {num_retries: 1}, routes: []}\n", "api", "", "virtual_hosts[0].retry_policy"},
		{"duplicate domain", "name: t\nvirtual_hosts:\n- {name: a, domains: [x.com], routes: []}\n- {name: b, domains: [X.com], routes: []}\n", "b", "", "virtual_hosts[1].domains[0]"},
		{"two defaults", "name: t\nvirtual_hosts:\n- {name: a, domains: [\"*\"], routes: []}\n- {name: b, domains: [\"*\"], routes: []}\n", "b", "", "virtual_hosts[1].domains[0]"},
		{"most_specific_header_mutations_wins", "name: t\nmost_specific_header_mutations_wins: true\nvirtual_hosts: []\n", "", "", "route_configuration.most_specific_header_mutations_wins"},
		{"vhds", "name: t\nvhds: {config_source: {ads: {}}}\n", "", "", "route_configuration.vhds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(rcYAML(t, c.rc), baseHCM(t))
			var u *UnsupportedError
			if !errors.As(err, &u) {
				t.Fatalf("New error = %v, want *UnsupportedError", err)
			}
			if u.VirtualHost != c.wantVH || u.Route != c.wantRte || u.Field != c.wantField {
				t.Fatalf("got vh=%q route=%q field=%q (%v), want vh=%q route=%q field=%q", u.VirtualHost, u.Route, u.Field, err, c.wantVH, c.wantRte, c.wantField)
			}
			if !strings.Contains(err.Error(), c.wantField) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

func TestNewRefusesHCM(t *testing.T) {
	rc := rcYAML(t, readTestdata(t, "api.yaml"))
	cases := []struct {
		name   string
		modify func(y string) string
		field  string
	}{
		{"router without suppress_envoy_headers", func(y string) string {
			return strings.Replace(y, "suppress_envoy_headers: true", "suppress_envoy_headers: false", 1)
		}, "suppress_envoy_headers"},
		{"normalize_path", func(y string) string { return strings.Replace(y, "normalize_path: false", "normalize_path: true", 1) }, "normalize_path"},
		{"merge_slashes", func(y string) string { return strings.Replace(y, "merge_slashes: false", "merge_slashes: true", 1) }, "merge_slashes"},
		{"via", func(y string) string { return "via: proxyplus\n" + y }, "http_connection_manager.via"},
		{"tracing", func(y string) string { return "tracing: {}\n" + y }, "http_connection_manager.tracing"},
		{"unknown local reply filter", func(y string) string {
			return strings.Replace(y, "response_flag_filter:\n        flags: [UT]", "duration_filter: {comparison: {op: GE, value: {default_value: 1, runtime_key: k}}}", 1)
		}, "duration_filter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(rc, hcmYAML(t, c.modify(readTestdata(t, "hcm.yaml"))))
			var u *UnsupportedError
			if !errors.As(err, &u) || !strings.Contains(u.Field+" "+u.Reason, c.field) {
				t.Fatalf("New error = %v, want a refusal naming %q", err, c.field)
			}
		})
	}
}

// Envoy refuses a regex whose RE2 program size exceeds re2.max_program_size.error_level (default 100;
// source/common/common/regex.cc CompiledGoogleReMatcher), and with it the whole route configuration: in a route
// match, a header matcher and a regex_rewrite pattern alike. The 117 is libre2's RE2::ProgramSize.
func TestRE2ProgramSizeRefusesRouteConfiguration(t *testing.T) {
	const big = `^/+dev/+api/v1/organizations/([^/]+)/projects/([^/]+)/environments/([^/]+)/deployments/([^/]+)/logs/*$`
	const small = `^/+dev/+api/v1/organizations/([\x00-.0-\x7f]+)/projects/([\x00-.0-\x7f]+)/environments/([\x00-.0-\x7f]+)/deployments/([\x00-.0-\x7f]+)/logs/*$`
	for _, c := range []struct{ name, routes string }{
		{"route match", "  - {name: r, match: {safe_regex: {regex: '" + big + "'}}, direct_response: {status: 200}}\n"},
		{"header matcher", "  - {name: r, match: {prefix: /, headers: [{name: ':path', string_match: {safe_regex: {regex: '" + big + "'}}}]}, direct_response: {status: 200}}\n"},
		{"regex_rewrite", "  - {name: r, match: {prefix: /}, route: {cluster: c, regex_rewrite: {pattern: {regex: '" + big + "'}, substitution: /x}}}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := "name: t\nvirtual_hosts:\n- name: vh\n  domains: [\"*\"]\n  routes:\n" + c.routes
			_, err := New(rcYAML(t, y), baseHCM(t))
			if err == nil || !strings.Contains(err.Error(), "RE2 program size of 117 > max program size of 100") {
				t.Fatalf("New: %v, want the route configuration refused for RE2 program size 117", err)
			}
		})
	}
	// The same path with ASCII classes (what the translator generates) is 93: accepted, and it matches.
	e := oneVH(t, "  - {name: r, match: {safe_regex: {regex: '"+small+"'}}, direct_response: {status: 200}}\n")
	if got := selectName(t, e, req("GET", "h", "//dev/api/v1/organizations/o/projects/p/environments/e/deployments/d/logs/")); got != "r" {
		t.Fatalf("selected %q", got)
	}
}
