package evaluator

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestExtProcSelection(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t))
	sel, err := e.Select(req("GET", "api.example.com", "/prod/pets/7"))
	if err != nil {
		t.Fatal(err)
	}
	want := &ExtProcOverride{
		FilterName:          "envoy.filters.http.ext_proc",
		GRPCInitialMetadata: [][2]string{{"x-proxyplus-route", "abc/prod/pets-id/GET"}, {"x-proxyplus-generation", "7"}},
		ProcessingMode: &extprocfilterv3.ProcessingMode{
			RequestHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
			RequestBodyMode:    extprocfilterv3.ProcessingMode_BUFFERED,
			ResponseHeaderMode: extprocfilterv3.ProcessingMode_SKIP,
		},
	}
	if diff := cmp.Diff(want, sel.ExtProc, protocmp.Transform()); diff != "" {
		t.Fatalf("ExtProc (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"api": "abc", "stage": "prod", "resource": "pets-id", "method": "GET"}, sel.Metadata); diff != "" {
		t.Errorf("Metadata (-want +got):\n%s", diff)
	}
	if sel.RequestBodyBufferLimit != 10485760 || sel.HeaderMutation {
		t.Errorf("limit %d header mutation %v", sel.RequestBodyBufferLimit, sel.HeaderMutation)
	}
	// The Lambda route's fallback when the processor continues: its direct response.
	out, err := e.Forward(sel, req("GET", "api.example.com", "/prod/pets/7"))
	if err != nil || out.Response.Status != 500 {
		t.Fatalf("fallback: %+v %v", out, err)
	}
	// HTTP_PROXY route: ext_proc stays disabled (HCM default), header_mutation is enabled.
	sel, _ = e.Select(req("GET", "api.example.com", "/prod/items/7"))
	if sel.ExtProc != nil || !sel.HeaderMutation {
		t.Errorf("items: ext_proc %+v header_mutation %v", sel.ExtProc, sel.HeaderMutation)
	}

	// Enabling/disabling at the virtual host and route levels (EXT-15).
	y := `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  typed_per_filter_config:
    envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig}
  routes:
  - {name: inherits, match: {path: /a}, route: {cluster: c}}
  - name: filter-disabled
    match: {path: /b}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
  - name: per-route-disabled
    match: {path: /c}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute, disabled: true}
  - name: direct-overrides
    match: {path: /d}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides: {failure_mode_allow: false}
`
	e = mustNew(t, rcYAML(t, y), baseHCM(t))
	for path, enabled := range map[string]bool{"/a": true, "/b": false, "/c": false, "/d": true} {
		sel, err := e.Select(req("GET", "h", path))
		if err != nil {
			t.Fatal(err)
		}
		if (sel.ExtProc != nil) != enabled {
			t.Errorf("%s: ext_proc enabled = %v, want %v", path, sel.ExtProc != nil, enabled)
		}
		if sel.ExtProc != nil && sel.ExtProc.ProcessingMode.GetResponseHeaderMode() != extprocfilterv3.ProcessingMode_SKIP {
			t.Errorf("%s: mode %v, want the filter's", path, sel.ExtProc.ProcessingMode)
		}
		if path == "/d" && (sel.ExtProc.FailureModeAllow == nil || *sel.ExtProc.FailureModeAllow) {
			t.Errorf("/d: failure_mode_allow %v", sel.ExtProc.FailureModeAllow)
		}
	}
	// Per-route overrides that are not modelled are refused.
	_, err = New(rcYAML(t, `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - name: r
    match: {prefix: /}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides: {request_attributes: [xds.route_name]}
`), baseHCM(t))
	if u, ok := err.(*UnsupportedError); !ok || u.Route != "r" {
		t.Fatalf("request_attributes override: %v", err)
	}
}

func setHeader(k, raw string, appendV *bool) *corev3.HeaderValueOption {
	o := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(raw)}}
	if appendV != nil {
		o.Append = wrapperspb.Bool(*appendV)
	}
	return o
}

func TestApplyExtProcHeaderMutation(t *testing.T) {
	y := `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - name: r
    match: {prefix: /prod}
    route: {cluster: backend}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	yes, no := true, false
	hm := &extprocv3.HeaderMutation{
		RemoveHeaders: []string{"x-remove", ":path", "host", "X-Envoy-Something"},
		SetHeaders: []*corev3.HeaderValueOption{
			setHeader(":path", "/backend/items?id=7", nil),
			setHeader(":method", "POST", nil),
			setHeader("x-multi", "b", &yes),
			setHeader("x-set", "new", &no),
			setHeader("x-envoy-forbidden", "1", nil),
			{Header: &corev3.HeaderValue{Key: "x-value-only", Value: "ignored"}},
		},
	}
	t.Run("allow_all_routing", func(t *testing.T) {
		r := req("GET", "h", "/prod/x", "x-remove", "1", "x-multi", "a", "x-set", "old", "x-envoy-something", "kept?")
		sel, err := e.Select(r)
		if err != nil || sel.ExtProc == nil {
			t.Fatalf("sel %+v err %v", sel, err)
		}
		if err := e.ApplyExtProcHeaderMutation(r, hm, true); err != nil {
			t.Fatal(err)
		}
		out, err := e.Forward(sel, r)
		if err != nil {
			t.Fatal(err)
		}
		up := out.Upstream
		if up.Method != "POST" || up.Path != "/backend/items?id=7" || up.Authority != "h" {
			t.Errorf("method/path/authority %s %s %s", up.Method, up.Path, up.Authority)
		}
		for name, want := range map[string][]string{
			"x-remove":          nil,
			"x-multi":           {"a", "b"},
			"x-set":             {"new"},
			"x-envoy-forbidden": nil, // allow_envoy is false
			"x-value-only":      {""},
			"content-length":    {"0"}, // POST without a body now
		} {
			if diff := cmp.Diff(want, up.Header(name)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		// x-envoy-something is not one of the x-envoy control headers the HCM strips, and
		// the processor may not remove x-envoy-* headers without allow_envoy.
		if diff := cmp.Diff([]string{"kept?"}, up.Header("x-envoy-something")); diff != "" {
			t.Errorf("x-envoy-something (-want +got):\n%s", diff)
		}
	})
	t.Run("default rules", func(t *testing.T) {
		r := req("GET", "h", "/prod/x")
		sel, _ := e.Select(r)
		if err := e.ApplyExtProcHeaderMutation(r, hm, false); err != nil {
			t.Fatal(err)
		}
		out, err := e.Forward(sel, r)
		if err != nil {
			t.Fatal(err)
		}
		// :path is allowed by default, :method needs allow_all_routing.
		if out.Upstream.Method != "GET" || out.Upstream.Path != "/backend/items?id=7" {
			t.Errorf("%s %s", out.Upstream.Method, out.Upstream.Path)
		}
	})
	t.Run("value and raw_value", func(t *testing.T) {
		bad := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x", Value: "a", RawValue: []byte("b")}}}}
		if err := e.ApplyExtProcHeaderMutation(req("GET", "h", "/prod"), bad, false); err == nil {
			t.Fatal("want an error: Envoy fails the request")
		}
	})
	t.Run("disallow_is_error", func(t *testing.T) {
		hy := readTestdata(t, "hcm.yaml")
		e2 := mustNew(t, rcYAML(t, y), hcmYAML(t, replaceOnce(hy, "disallow_is_error: false", "disallow_is_error: true")))
		m := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader(":authority", "other", nil)}}
		if err := e2.ApplyExtProcHeaderMutation(req("GET", "h", "/prod"), m, false); err == nil {
			t.Fatal("want an error for a disallowed :authority change")
		}
		if err := e2.ApplyExtProcHeaderMutation(req("GET", "h", "/prod"), m, true); err != nil {
			t.Fatalf("allowed with allow_all_routing: %v", err)
		}
	})
}

// EXT-7 / HCM-18: a BUFFERED ext_proc route buffers the body for the processor. Its route is a direct_response
// route, which has no route entry: its request_body_buffer_limit never applies (ActiveStream::refreshBufferLimit
// returns early, conn_manager_impl.cc; Router::Filter::decodeHeaders answers the direct response before the
// limit, router.cc), the listener's per_connection_buffer_limit_bytes does (1 MiB by default).
func TestBufferLimit413(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t))
	r := req("GET", "api.example.com", "/prod/pets/1")
	r.Body = make([]byte, 1<<20+1)
	if out := forward(t, e, r); out.Response == nil || out.Response.Status != 413 {
		t.Fatalf("1 MiB + 1 on a direct_response route with the default listener limit: want 413, got %+v", out.Response)
	}
	r.Body = r.Body[:1<<20]
	if out := forward(t, e, r); out.Response == nil || out.Response.Status != 500 {
		t.Fatalf("1 MiB: the route's fallback direct response, got %+v", out.Response)
	}

	// With the listener's limit at 10 MB, that limit decides.
	e = mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t), WithConnectionBufferLimit(10485760))
	r.Body = make([]byte, 10485761)
	out := forward(t, e, r)
	if out.Response == nil || out.Response.Status != 413 || string(out.Response.Body) != "HTTP content length exceeded 10485760 bytes." {
		t.Fatalf("over the limit: %+v", out)
	}
	r.Body = r.Body[:10485760]
	if out := forward(t, e, r); out.Response == nil || out.Response.Status != 500 {
		t.Fatalf("at the limit: the route's fallback direct response, got %+v", out.Response)
	}
}
