package evaluator

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
)

const lambdaRouteYAML = `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - name: lambda
    match: {prefix: /}
    direct_response: {status: 500, body: {inline_string: "{\"message\": \"Internal server error\"}"}}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
`

func immediate(status typev3.StatusCode, body string, details string, headers ...*corev3.HeaderValueOption) *extprocv3.ProcessingResponse {
	ir := &extprocv3.ImmediateResponse{Body: []byte(body), Details: details, Headers: &extprocv3.HeaderMutation{SetHeaders: headers}}
	if status != 0 {
		ir.Status = &typev3.HttpStatus{Code: status}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: ir}}
}

// An immediate response becomes the client's response as Envoy builds a local reply from
// it (ext_proc.cc Filter::sendImmediateResponse -> sendLocalReply): the mutation rules drop
// x-envoy-* and host, an invalid value ends the mutation there, the HCM adds date, the
// codec frames, and an empty body loses content-type and content-length
// (Utility::prepareLocalReply).
func TestImmediateResponse(t *testing.T) {
	e := mustNew(t, rcYAML(t, lambdaRouteYAML), baseHCM(t))
	r := req("POST", "h", "/fn", "x-envoy-original-path", "/spoofed")
	sel, err := e.Select(r)
	if err != nil || sel.ExtProc == nil {
		t.Fatalf("select: %+v %v", sel, err)
	}
	no, yes := false, true
	resp, err := e.ImmediateResponse(sel, r, immediate(201, `{"ok":true}`, "proxyplus lambda ok",
		setHeader("content-type", "application/json", &no),
		setHeader("x-envoy-upstream-service-time", "5", &no),
		setHeader("x-envoy-custom", "1", &no),
		setHeader("host", "evil", &no),
		setHeader("set-cookie", "a=1", &no),
		setHeader("set-cookie", "b=2", &yes),
		setHeader("x-bad", "a\x01b", &no),
		setHeader("x-after", "lost", &no),
	))
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{Status: 201, Details: "proxyplus_lambda_ok", Body: []byte(`{"ok":true}`), Headers: [][2]string{
		{"content-type", "application/json"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"},
		{"content-length", "11"}, {"date", gatewayDate},
	}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// No status (or one below 200) is 200; an empty body loses content-type; HEAD gets no body.
	for _, c := range []struct {
		method string
		status typev3.StatusCode
	}{{"GET", 0}, {"GET", 100}, {"HEAD", 0}} {
		r := req(c.method, "h", "/fn")
		sel, _ := e.Select(r)
		resp, err := e.ImmediateResponse(sel, r, immediate(c.status, "", "", setHeader("content-type", "application/json", &no)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || resp.Header("content-type") != nil {
			t.Errorf("%s status %d: %d %v", c.method, c.status, resp.Status, resp.Headers)
		}
	}

	// The client's x-envoy-original-path never reaches the processor (cleanInternalHeaders at the edge).
	view, err := e.ProcessorView(sel, req("POST", "h", "/fn", "x-envoy-original-path", "/spoofed", "x-envoy-original-host", "x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range view.Headers {
		if h[0] == "x-envoy-original-path" || h[0] == "x-envoy-original-host" {
			t.Errorf("processor sees %v", h)
		}
	}
}

// The processor's dynamic metadata reaches the local-reply mappers only for the namespaces
// in metadata_options.receiving_namespaces.untyped (ext_proc.cc Filter::setDynamicMetadata).
func TestImmediateResponseMetadataNamespaces(t *testing.T) {
	lr := `
mappers:
- filter: {metadata_filter: {matcher: {filter: proxyplus, path: [{key: processor}], value: {bool_match: false}}, match_if_key_not_found: true}}
  status_code: 500
  body_format_override: {text_format: "gateway"}
`
	marker := &structpb.Struct{Fields: map[string]*structpb.Value{"proxyplus": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"processor": structpb.NewBoolValue(true)}})}}
	for _, c := range []struct {
		namespaces []string
		wantBody   string
	}{{nil, "gateway"}, {[]string{"other"}, "gateway"}, {[]string{"proxyplus"}, "function"}} {
		h := hcmWithLocalReply(t, lr)
		f := h.HttpFilters[0]
		ep := extProcConfig(t, f.GetTypedConfig())
		if c.namespaces != nil {
			ep.MetadataOptions = metadataOptions(c.namespaces)
		}
		f.ConfigType = typedConfig(t, ep)
		e := mustNew(t, rcYAML(t, lambdaRouteYAML), h)
		r := req("GET", "h", "/fn")
		sel, _ := e.Select(r)
		pr := immediate(500, "function", "")
		pr.DynamicMetadata = marker
		resp, err := e.ImmediateResponse(sel, r, pr)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != c.wantBody {
			t.Errorf("receiving namespaces %v: body %q, want %q", c.namespaces, resp.Body, c.wantBody)
		}
	}
}
