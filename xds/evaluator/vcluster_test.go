package evaluator

import (
	"errors"
	"testing"
)

// TestVirtualClusterAttribution: a forwarded request is charged to the first virtual cluster whose :path matcher
// matches (the query is part of :path), else "other"; a direct_response route and a virtual host without virtual
// clusters charge none.
func TestVirtualClusterAttribution(t *testing.T) {
	rc := `name: t
virtual_hosts:
- name: api1
  domains: [api1]
  routes:
  - {name: direct, match: {prefix: /prod/direct}, direct_response: {status: 200}}
  - {name: fwd, match: {prefix: /}, route: {cluster: c}}
  virtual_clusters:
  - {name: prod, headers: [{name: ":path", string_match: {safe_regex: {regex: "^/+prod(?:[/?#][\\x00-\\x7f]*)?$"}}}]}
  - {name: beta, headers: [{name: ":path", string_match: {safe_regex: {regex: "^/+beta(?:[/?#][\\x00-\\x7f]*)?$"}}}]}
- name: plain
  domains: [plain]
  routes:
  - {name: fwd, match: {prefix: /}, route: {cluster: c}}
`
	e := mustNew(t, rcYAML(t, rc), baseHCM(t))
	cases := []struct {
		host, path, want string
	}{
		{"api1", "/prod/pets/1", "prod"},
		{"api1", "//prod/pets", "prod"},
		{"api1", "/prod", "prod"},
		{"api1", "/prod?x=1", "prod"},
		{"api1", "/beta/a", "beta"},
		{"api1", "/production", "other"},
		{"api1", "/Prod/a", "other"},
		{"api1", "/prod/direct", ""},
		{"plain", "/prod/a", ""},
	}
	for _, c := range cases {
		sel, err := e.Select(req("GET", c.host, c.path))
		if err != nil {
			t.Fatalf("Select(%s %s): %v", c.host, c.path, err)
		}
		if sel.Route == nil {
			t.Fatalf("Select(%s %s): no route", c.host, c.path)
		}
		if sel.VirtualCluster != c.want {
			t.Errorf("Select(%s %s).VirtualCluster = %q, want %q", c.host, c.path, sel.VirtualCluster, c.want)
		}
	}
}

// TestVirtualClusterRefusals: what CommonVirtualHostImpl and validation refuse, the evaluator refuses.
func TestVirtualClusterRefusals(t *testing.T) {
	cases := []struct{ name, vc, vh, field string }{
		{"no headers", `{name: prod}`, "api", "virtual_hosts[0].virtual_clusters[0].headers"},
		{"no name", `{headers: [{name: ":path", exact_match: /x}]}`, "", "route_configuration"},
		{"range matcher", `{name: prod, headers: [{name: x, range_match: {start: 1, end: 2}}]}`, "api", "virtual_hosts[0].virtual_clusters[0].headers[0].range_match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := "name: t\nvirtual_hosts:\n- {name: api, domains: [\"*\"], routes: [], virtual_clusters: [" + c.vc + "]}\n"
			_, err := New(rcYAML(t, rc), baseHCM(t))
			var u *UnsupportedError
			if !errors.As(err, &u) {
				t.Fatalf("New error = %v, want *UnsupportedError", err)
			}
			if u.VirtualHost != c.vh || u.Field != c.field {
				t.Fatalf("got vh=%q field=%q (%v), want vh=%q field=%q", u.VirtualHost, u.Field, err, c.vh, c.field)
			}
		})
	}
}
