package evaluator

import (
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
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
    envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
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
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
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

// Envoy NACKs a RouteConfiguration whose FilterConfig has neither config nor disabled
// (per_filter_config.cc, "Empty route/virtual host per filter configuration").
func TestEmptyFilterConfigRefused(t *testing.T) {
	for _, level := range []string{"vhost", "route"} {
		fc := `typed_per_filter_config: {envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, is_optional: true}}`
		vh, rt := "", ""
		if level == "vhost" {
			vh = "  " + fc
		} else {
			rt = "    " + fc
		}
		y := "name: t\nvirtual_hosts:\n- name: vh\n  domains: [\"*\"]\n" + vh + "\n  routes:\n  - name: r\n    match: {prefix: /}\n    route: {cluster: c}\n" + rt + "\n"
		_, err := New(rcYAML(t, y), baseHCM(t))
		u, ok := err.(*UnsupportedError)
		if !ok || !strings.Contains(u.Reason, "Empty route/virtual host per filter configuration for envoy.filters.http.ext_proc filter") {
			t.Errorf("%s: want the per-filter-config NACK, got %v", level, err)
		}
	}
}

// A processor header value with a control character other than tab, or DEL, fails the
// request (HeaderUtility::headerValueIsValid -> mutation_utils.cc
// "header_mutation_set_contains_invalid_character" -> Filter::handleErrorResponse: 500).
func TestExtProcMutationControlCharacters(t *testing.T) {
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
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	for _, v := range []string{"a\x01b", "a\x1fb", "a\x7fb", "a\rb", "a\nb", "a\x00b", "\x0b"} {
		r := req("GET", "h", "/prod/x")
		sel, err := e.Select(r)
		if err != nil {
			t.Fatal(err)
		}
		hm := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader("x-p", v, nil)}}
		err = e.ApplyExtProcHeaderMutation(r, hm, true)
		var xe *ExtProcError
		if !errors.As(err, &xe) || xe.Status != 500 || xe.Details != "header_mutation_set_contains_invalid_character" {
			t.Errorf("%q: want ExtProcError 500 header_mutation_set_contains_invalid_character, got %v", v, err)
			continue
		}
		resp, err := e.LocalReply(sel, r, xe.Status, "", "", xe.Details)
		if err != nil || resp.Status != 500 {
			t.Errorf("%q: local reply %+v %v", v, resp, err)
		}
	}
	// Tab, space, visible ASCII and obs-text are valid.
	r := req("GET", "h", "/prod/x")
	hm := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader("x-p", "a\tb ~\x80\xff", nil)}}
	if err := e.ApplyExtProcHeaderMutation(r, hm, true); err != nil {
		t.Errorf("valid value refused: %v", err)
	}
}

// Checker::isAllowed refuses appending to a ":" header: the mutation is ignored.
func TestExtProcAppendToPseudoHeaderIgnored(t *testing.T) {
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
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	r := req("GET", "h", "/prod/x")
	sel, _ := e.Select(r)
	yes := true
	if err := e.ApplyExtProcHeaderMutation(r, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader(":path", "/other", &yes)}}, true); err != nil {
		t.Fatal(err)
	}
	out, err := e.Forward(sel, r)
	if err != nil {
		t.Fatal(err)
	}
	if out.Upstream.Path != "/prod/x" {
		t.Errorf("path %q: an append to :path must be ignored", out.Upstream.Path)
	}
}

// TestExtProcExchange: the message sequence Envoy plays (main 1.37.0-dev, 321a098d81). BUFFERED: headers, wait,
// the whole body, wait. FULL_DUPLEX_STREAMED (Lambda routes of the generated configuration): headers with
// protocol_config, the body pieces and the HTTP/1 codec's empty end_of_stream chunk, waiting only for the last
// (EXT-6a). Without a body: one message, awaited, in every mode.
func TestExtProcExchange(t *testing.T) {
	type step struct {
		kind  string
		n     int
		eos   bool
		await bool
	}
	summary := func(msgs []ExtProcMessage) []step {
		var out []step
		for _, m := range msgs {
			switch r := m.Request.GetRequest().(type) {
			case *extprocv3.ProcessingRequest_RequestHeaders:
				out = append(out, step{"headers", 0, r.RequestHeaders.GetEndOfStream(), m.AwaitsAnswer})
			case *extprocv3.ProcessingRequest_RequestBody:
				out = append(out, step{"body", len(r.RequestBody.GetBody()), r.RequestBody.GetEndOfStream(), m.AwaitsAnswer})
			}
		}
		return out
	}
	api := readTestdata(t, "api.yaml")
	duplex := strings.Replace(api, "request_body_mode: BUFFERED", "request_body_mode: FULL_DUPLEX_STREAMED\n              request_trailer_mode: SEND", 1)
	for _, c := range []struct {
		name, rc string
		body     int
		mode     extprocfilterv3.ProcessingMode_BodySendMode
		want     []step
	}{
		{"buffered", api, 40000, extprocfilterv3.ProcessingMode_BUFFERED, []step{{"headers", 0, false, true}, {"body", 40000, true, true}}},
		{"buffered-no-body", api, 0, extprocfilterv3.ProcessingMode_BUFFERED, []step{{"headers", 0, true, true}}},
		{"full-duplex", duplex, 40000, extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED, []step{
			{"headers", 0, false, false}, {"body", 16384, false, false}, {"body", 16384, false, false}, {"body", 7232, false, false}, {"body", 0, true, true},
		}},
		{"full-duplex-no-body", duplex, 0, extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED, []step{{"headers", 0, true, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := mustNew(t, rcYAML(t, c.rc), baseHCM(t))
			r := req("GET", "api.example.com", "/prod/pets/1")
			r.Body = make([]byte, c.body)
			sel, err := e.Select(r)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := e.ExtProcExchange(sel, r, 16384)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, summary(msgs), cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("sequence (-want +got):\n%s", diff)
			}
			if got := msgs[0].Request.GetProtocolConfig().GetRequestBodyMode(); got != c.mode {
				t.Errorf("protocol_config.request_body_mode %v, want %v", got, c.mode)
			}
			for _, m := range msgs {
				if err := m.Request.ValidateAll(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestExtProcDynamicMetadataDrop: Envoy keeps a processor answer's dynamic_metadata only in the namespaces listed
// in metadata_options.receiving_namespaces.untyped (ext_proc.cc Filter::setDynamicMetadata); without the list the
// marker is dropped and the local-reply mappers rewrite the processor's 500 (issue 9 item 3).
func TestExtProcDynamicMetadataDrop(t *testing.T) {
	md := &structpb.Struct{Fields: map[string]*structpb.Value{
		"proxyplus": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"processor": structpb.NewBoolValue(true)}}),
		"other":     structpb.NewStructValue(&structpb.Struct{}),
	}}
	withNamespaces := baseHCM(t)
	for _, f := range withNamespaces.GetHttpFilters() {
		if f.GetName() != "envoy.filters.http.ext_proc" {
			continue
		}
		ep := &extprocfilterv3.ExternalProcessor{}
		if err := f.GetTypedConfig().UnmarshalTo(ep); err != nil {
			t.Fatal(err)
		}
		ep.MetadataOptions = &extprocfilterv3.MetadataOptions{ReceivingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{"proxyplus"}}}
		a, err := anypb.New(ep)
		if err != nil {
			t.Fatal(err)
		}
		f.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}
	}
	lr := `
mappers:
- filter:
    and_filter:
      filters:
      - status_code_filter: {comparison: {op: EQ, value: {default_value: 500, runtime_key: k}}}
      - metadata_filter:
          matcher: {filter: proxyplus, path: [{key: processor}], value: {bool_match: false}}
          match_if_key_not_found: true
  body_format_override: {text_format: "gateway 500", content_type: application/json}
`
	for _, c := range []struct {
		name string
		hcm  *hcmv3.HttpConnectionManager
		kept bool
	}{{"no receiving namespaces", baseHCM(t), false}, {"proxyplus received", withNamespaces, true}} {
		t.Run(c.name, func(t *testing.T) {
			c.hcm.LocalReplyConfig = hcmWithLocalReply(t, lr).GetLocalReplyConfig()
			e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), c.hcm)
			r := req("GET", "api.example.com", "/prod/pets/1")
			sel, err := e.Select(r)
			if err != nil {
				t.Fatal(err)
			}
			kept := e.ExtProcDynamicMetadata(sel, md)
			if _, other := kept["other"]; other || (kept["proxyplus"] != nil) != c.kept {
				t.Fatalf("kept %v", kept)
			}
			resp, err := e.LocalReplyWithMetadata(sel, r, 500, "the function's own words", "", "proxyplus_lambda_ok", kept)
			if err != nil {
				t.Fatal(err)
			}
			if own := string(resp.Body) == "the function's own words"; own != c.kept {
				t.Errorf("body %q", resp.Body)
			}
		})
	}
}

// TestFullDuplexNeedsTrailerSend: Envoy refuses a filter-level FULL_DUPLEX_STREAMED request body mode without
// request_trailer_mode SEND (config.cc verifyProcessingModeConfig).
func TestFullDuplexNeedsTrailerSend(t *testing.T) {
	h := baseHCM(t)
	for _, f := range h.GetHttpFilters() {
		if f.GetName() != "envoy.filters.http.ext_proc" {
			continue
		}
		ep := &extprocfilterv3.ExternalProcessor{}
		if err := f.GetTypedConfig().UnmarshalTo(ep); err != nil {
			t.Fatal(err)
		}
		ep.ProcessingMode.RequestBodyMode = extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED
		a, _ := anypb.New(ep)
		f.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}
	}
	if _, err := New(rcYAML(t, readTestdata(t, "api.yaml")), h); err == nil || !strings.Contains(err.Error(), "request_trailer_mode has to be set to SEND") {
		t.Fatalf("want Envoy's refusal, got %v", err)
	}
}

// TestFullDuplexNoEnvoyBodyLimit: on a FULL_DUPLEX_STREAMED route Envoy drains every chunk into the processor's
// messages (ext_proc.cc handleDataStreamedModeBase) and keeps no body, so no buffer limit answers 413, however
// large the body: the processor decides (LIM-1, OUT-4). The same body on the BUFFERED route gets Envoy's 413.
func TestFullDuplexNoEnvoyBodyLimit(t *testing.T) {
	api := readTestdata(t, "api.yaml")
	duplex := strings.Replace(api, "request_body_mode: BUFFERED", "request_body_mode: FULL_DUPLEX_STREAMED\n              request_trailer_mode: SEND", 1)
	r := req("GET", "api.example.com", "/prod/pets/1")
	r.Body = make([]byte, 10485761)
	for _, c := range []struct {
		rc     string
		status int
	}{{duplex, 500}, {api, 413}} {
		out := forward(t, mustNew(t, rcYAML(t, c.rc), baseHCM(t)), r)
		if out.Response == nil || out.Response.Status != c.status {
			t.Errorf("want %d (500: the route's fallback, nothing refused the body), got %+v", c.status, out.Response)
		}
	}
}
