package evaluator

import (
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
)

const gatewayDate = "Fri, 02 Jan 2026 03:04:05 GMT" // the evaluator's default clock

func respond(t *testing.T, e *Evaluator, r *Request, up *UpstreamResponse) *Response {
	t.Helper()
	sel, err := e.Select(r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Respond(sel, r, up)
	if err != nil {
		t.Fatalf("Respond: %v", err)
	}
	return resp
}

// HCM-19: capture at the route level, remove the originals in the per-route
// header_mutation filter, the HCM then adds its own date; PASS_THROUGH adds no server.
func TestRespondRemapping(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t))
	up := &UpstreamResponse{Status: 201, Headers: [][2]string{
		{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"},
		{"Server", "nginx"},
		{"Content-Type", "text/plain"},
		{"Content-Length", "2"},
		{"Connection", "keep-alive"},
		{"Keep-Alive", "timeout=5"},
		{"Set-Cookie", "a=1"},
		{"Set-Cookie", "b=2"},
	}, Body: []byte("ok")}
	resp := respond(t, e, req("GET", "api.example.com", "/prod/items/1"), up)
	want := &Response{Status: 201, Body: []byte("ok"), Details: "via_upstream", Headers: [][2]string{
		{"content-type", "text/plain"},
		{"content-length", "2"},
		{"set-cookie", "a=1"},
		{"set-cookie", "b=2"},
		{"x-amzn-remapped-date", "Mon, 01 Jan 2024 00:00:00 GMT"},
		{"x-amzn-remapped-server", "nginx"},
		{"x-vh-level", "vh"},
		{"x-rc-level", "rc"},
		{"date", gatewayDate},
	}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Fatalf("response (-want +got):\n%s", diff)
	}
}

func TestResponseHeaderLevels(t *testing.T) {
	y := `
name: t
response_headers_to_add:
- {header: {key: x-seen-by-rc, value: "%RESP(x-level)%"}}
virtual_hosts:
- name: vh
  domains: ["*"]
  response_headers_to_remove: [x-level]
  response_headers_to_add:
  - {header: {key: x-seen-by-vh, value: "%RESP(x-level)%"}}
  - {header: {key: x-level, value: vh}}
  routes:
  - name: r
    match: {prefix: /}
    route: {cluster: c}
    response_headers_to_remove: [date]
    response_headers_to_add:
    # HCM-19 fact 1: removed at this level before formatting, so this adds nothing.
    - {header: {key: x-remapped-date, value: "%RESP(date)%"}}
    - {header: {key: x-level, value: route}}
    - {header: {key: x-req-path, value: "%REQ(:path)%"}}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	resp := respond(t, e, req("GET", "h", "/a?b"), &UpstreamResponse{Status: 200, Headers: [][2]string{{"date", "upstream"}, {"x-level", "upstream"}}})
	for name, want := range map[string][]string{
		"x-remapped-date": nil,
		"date":            {gatewayDate}, // upstream date removed, so the HCM adds one
		"x-seen-by-vh":    nil,           // vh removed x-level (upstream + route) before formatting
		"x-level":         {"vh"},
		"x-seen-by-rc":    {"vh"},
		"x-req-path":      {"/a?b"},
	} {
		if diff := cmp.Diff(want, resp.Header(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s\n%v", name, diff, resp.Headers)
		}
	}
}

func TestRespondHCMHandling(t *testing.T) {
	rc := rcYAML(t, `{name: t, virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: {prefix: /}, route: {cluster: c}}]}]}`)
	for _, c := range []struct {
		transform hcmv3.HttpConnectionManager_ServerHeaderTransformation
		upServer  string
		want      []string
	}{
		{hcmv3.HttpConnectionManager_OVERWRITE, "nginx", []string{"envoy"}},
		{hcmv3.HttpConnectionManager_APPEND_IF_ABSENT, "nginx", []string{"nginx"}},
		{hcmv3.HttpConnectionManager_APPEND_IF_ABSENT, "", []string{"envoy"}},
		{hcmv3.HttpConnectionManager_PASS_THROUGH, "", nil},
	} {
		h := baseHCM(t)
		h.ServerHeaderTransformation = c.transform
		e := mustNew(t, rc, h)
		up := &UpstreamResponse{Status: 200, Headers: [][2]string{{"transfer-encoding", "chunked"}}, Body: []byte("x")}
		if c.upServer != "" {
			up.Headers = append(up.Headers, [2]string{"server", c.upServer})
		}
		resp := respond(t, e, req("GET", "h", "/"), up)
		if diff := cmp.Diff(c.want, resp.Header("server")); diff != "" {
			t.Errorf("%v: server (-want +got):\n%s", c.transform, diff)
		}
		// The HCM drops the upstream's transfer-encoding; the HTTP/1 codec re-chunks.
		if got := resp.Header("transfer-encoding"); len(got) != 1 || got[0] != "chunked" {
			t.Errorf("transfer-encoding = %v", got)
		}
	}
	// Headers-only upstream response without content-length: codec adds content-length: 0;
	// 204 gets none.
	e := mustNew(t, rc, baseHCM(t))
	if got := respond(t, e, req("GET", "h", "/"), &UpstreamResponse{Status: 200}).Header("content-length"); len(got) != 1 || got[0] != "0" {
		t.Errorf("empty 200: content-length %v", got)
	}
	if got := respond(t, e, req("GET", "h", "/"), &UpstreamResponse{Status: 204}).Header("content-length"); got != nil {
		t.Errorf("204: content-length %v", got)
	}
	if r := respond(t, e, req("HEAD", "h", "/"), &UpstreamResponse{Status: 200, Headers: [][2]string{{"content-length", "10"}}}); r.Body != nil || r.Header("content-length")[0] != "10" {
		t.Errorf("HEAD: %+v", r)
	}
}

func TestDirectResponse(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t), WithUUIDSource(func() string { return "req-1" }))
	wantHeaders := [][2]string{
		{"content-type", "application/json"},
		{"x-amzn-errortype", "MissingAuthenticationTokenException"},
		{"x-amzn-requestid", "req-1"},
		{"x-vh-level", "vh"},
		{"x-rc-level", "rc"},
		{"content-length", "42"},
		{"date", gatewayDate},
	}
	for _, method := range []string{"GET", "POST", "HEAD"} {
		out := forward(t, e, req(method, "abc.execute-api.example.com", "/prod/nope"))
		want := &Response{Status: 403, Headers: wantHeaders, Details: "direct_response", Body: []byte(`{"message":"Missing Authentication Token"}`)}
		if method == "HEAD" {
			want.Body = nil // same headers, including content-length, but no body
		}
		if diff := cmp.Diff(want, out.Response); diff != "" {
			t.Errorf("%s (-want +got):\n%s", method, diff)
		}
	}
	// Without a content-type from the route, Envoy uses text/plain; an empty body loses
	// content-type even when the route sets one, and the codec adds content-length: 0.
	e = oneVH(t, `
  - {name: plain, match: {path: /plain}, direct_response: {status: 200, body: {inline_string: hi}}}
  - name: empty
    match: {path: /empty}
    direct_response: {status: 200}
    response_headers_to_add: [{header: {key: content-type, value: application/json}}]
`)
	if diff := cmp.Diff([][2]string{{"content-length", "2"}, {"content-type", "text/plain"}, {"date", gatewayDate}}, forward(t, e, req("GET", "h", "/plain")).Response.Headers); diff != "" {
		t.Errorf("plain (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][2]string{{"date", gatewayDate}, {"content-length", "0"}}, forward(t, e, req("GET", "h", "/empty")).Response.Headers); diff != "" {
		t.Errorf("empty (-want +got):\n%s", diff)
	}
}

func TestLocalReplyMappers(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t), WithUUIDSource(func() string { return "rid" }))
	r := req("GET", "api.example.com", "/prod/items/1")
	sel, err := e.Select(r)
	if err != nil {
		t.Fatal(err)
	}
	lambda := req("GET", "api.example.com", "/prod/pets/1")
	lambdaSel, err := e.Select(lambda)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                string
		sel                 *Selection
		r                   *Request
		status              int
		body, flags, detail string
		meta                map[string]*structpb.Struct
		want                *Response
	}{
		{"upstream timeout", sel, r, 504, "upstream request timeout", "UT", "upstream_response_timeout", nil,
			&Response{Status: 504, Body: []byte("{\"message\":\"Endpoint request timed out\"}\n"), Details: "upstream_response_timeout", Headers: [][2]string{
				// route -> vhost -> rc response headers first (PR#13204), then the mapper.
				{"x-vh-level", "vh"}, {"x-rc-level", "rc"},
				{"x-amzn-errortype", "InternalServerErrorException"}, {"x-amzn-requestid", "rid"},
				{"content-length", "41"}, {"content-type", "application/json"}, {"date", gatewayDate},
			}}},
		{"connect failure", sel, r, 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", "UF", "upstream_reset_before_response_started{connection_failure}", nil,
			&Response{Status: 500, Body: []byte("{\"message\":\"Internal server error\"}\n"), Details: "upstream_reset_before_response_started{connection_failure}", Headers: [][2]string{
				{"x-vh-level", "vh"}, {"x-rc-level", "rc"}, {"x-amzn-requestid", "rid"},
				{"content-length", "36"}, {"content-type", "application/json"}, {"date", gatewayDate},
			}}},
		{"dns failure, second or branch", sel, r, 503, "no healthy upstream", "DF", "dns_resolution_failure", nil,
			&Response{Status: 500, Body: []byte("{\"message\":\"Internal server error\"}\n"), Details: "dns_resolution_failure", Headers: [][2]string{
				{"x-vh-level", "vh"}, {"x-rc-level", "rc"}, {"x-amzn-requestid", "rid"},
				{"content-length", "36"}, {"content-type", "application/json"}, {"date", gatewayDate},
			}}},
		// Buffer-limit 413 on a Lambda (direct_response) route: no route headers (no route
		// entry), the and_filter matches because the processor marker is absent.
		{"413 buffer limit", lambdaSel, lambda, 413, "Payload Too Large", "", "request_payload_too_large", nil,
			&Response{Status: 413, Body: []byte("HTTP content length exceeded 10485760 bytes."), Details: "request_payload_too_large", Headers: [][2]string{
				{"content-length", "44"}, {"content-type", "text/plain; charset=utf-8"}, {"date", gatewayDate},
			}}},
		// The processor's own 413 (immediate response, marker set): no mapper matches and the
		// body is left alone, text/plain.
		{"processor 413", lambdaSel, lambda, 413, "too big", "", "proxyplus_payload", map[string]*structpb.Struct{"proxyplus": mustStruct(t, map[string]any{"processor": "lambda"})},
			&Response{Status: 413, Body: []byte("too big"), Details: "proxyplus_payload", Headers: [][2]string{
				{"content-length", "7"}, {"content-type", "text/plain"}, {"date", gatewayDate},
			}}},
		{"unmatched flag keeps the body", sel, r, 503, "upstream connect error", "UO", "overflow", nil,
			&Response{Status: 503, Body: []byte("upstream connect error"), Details: "overflow", Headers: [][2]string{
				{"x-vh-level", "vh"}, {"x-rc-level", "rc"},
				{"content-length", "22"}, {"content-type", "text/plain"}, {"date", gatewayDate},
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.LocalReplyWithMetadata(c.sel, c.r, c.status, c.body, c.flags, c.detail, c.meta)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
	// The mappers never touch the 403 catch-alls (HCM-12: no mapper may match them).
	out := forward(t, e, req("GET", "api.example.com", "/elsewhere"))
	if out.Response.Status != 403 || string(out.Response.Body) != `{"message":"Forbidden"}` {
		t.Errorf("catch-all: %+v", out.Response)
	}
}

func TestLocalReplyFormats(t *testing.T) {
	lr := `
mappers:
- filter:
    header_filter:
      header: {name: x-debug, present_match: true}
  status_code: 418
  body: {inline_string: "teapot"}
  body_format_override:
    text_format: "%LOCAL_REPLY_BODY%:%RESPONSE_CODE%:%RESPONSE_FLAGS%:%REQ(x-missing)%:%RESPONSE_CODE_DETAILS%"
- filter:
    status_code_filter: {comparison: {op: GE, value: {default_value: 500, runtime_key: k}}}
  headers_to_add:
  - header: {key: content-type, value: "application/problem+json"}
    append_action: OVERWRITE_IF_EXISTS_OR_ADD
  body_format_override:
    json_format:
      status: "%RESPONSE_CODE%"
      message: "%LOCAL_REPLY_BODY%"
      missing: "%REQ(x-missing)%"
      nested: {path: "%REQ(:path)%", num: 1.5, "flag": true}
- filter:
    status_code_filter: {comparison: {op: LE, value: {default_value: 404, runtime_key: k}}}
  body_format_override:
    json_format:
      message: "%LOCAL_REPLY_BODY%"
      missing: "%REQ(x-missing)%"
    omit_empty_values: true
body_format:
  text_format_source: {inline_string: "default: %LOCAL_REPLY_BODY%"}
`
	e := mustNew(t, rcYAML(t, `{name: t, virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: {prefix: /}, route: {cluster: c}}]}]}`), hcmWithLocalReply(t, lr))
	cases := []struct {
		r            *Request
		status       int
		body, flags  string
		wantStatus   int
		wantBody, ct string
	}{
		{req("GET", "h", "/p", "x-debug", "1"), 503, "orig", "UF,URX", 418, "teapot:418:UF,URX:-:details", "text/plain"},
		{req("GET", "h", "/p"), 502, "bad <gateway>", "", 502, "{\"message\":\"bad <gateway>\",\"missing\":null,\"nested\":{\"flag\":true,\"num\":1.5,\"path\":\"/p\"},\"status\":502}\n", "application/problem+json"},
		{req("GET", "h", "/p"), 404, "", "NR", 404, "{\"message\":\"\"}\n", "application/json"},
		{req("GET", "h", "/p"), 429, "slow down", "", 429, "default: slow down", "text/plain"},
		{req("HEAD", "h", "/p"), 429, "slow down", "", 429, "", "text/plain"},
	}
	for i, c := range cases {
		sel, _ := e.Select(c.r)
		got, err := e.LocalReply(sel, c.r, c.status, c.body, c.flags, "details")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != c.wantStatus || string(got.Body) != c.wantBody || got.Header("content-type")[0] != c.ct {
			t.Errorf("case %d: %d %q %v, want %d %q %s", i, got.Status, got.Body, got.Headers, c.wantStatus, c.wantBody, c.ct)
		}
		if c.r.Method == "HEAD" && (got.Body != nil || got.Header("content-length")[0] != "18") {
			t.Errorf("HEAD local reply: %+v", got)
		}
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRespondRejectsProcessorResponses(t *testing.T) {
	y := strings.Replace(readTestdata(t, "hcm.yaml"), "response_header_mode: SKIP", "response_header_mode: SEND", 1)
	h := hcmYAML(t, y)
	rc := rcYAML(t, `{name: t, virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: {prefix: /}, route: {cluster: c}, typed_per_filter_config: {envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}}}]}]}`)
	e := mustNew(t, rc, h)
	r := req("GET", "h", "/")
	sel, _ := e.Select(r)
	if _, err := e.Respond(sel, r, &UpstreamResponse{Status: 200}); err == nil || !strings.Contains(err.Error(), "not modelled") {
		t.Fatalf("err = %v", err)
	}
}

// A request Envoy rejects before routing still gets its local reply through the mappers.
func TestLocalReplyForRejectedRequest(t *testing.T) {
	lr := `
mappers:
- filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 400, runtime_key: k}}}}
  body_format_override: {json_format: {message: "Bad request", code: "%RESPONSE_CODE%"}}
`
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), hcmWithLocalReply(t, lr))
	r := req("GET", "api.example.com", "/prod/pets/1#frag")
	_, err := e.Select(r)
	rej, ok := err.(*RejectedError)
	if !ok || rej.Status != 400 {
		t.Fatalf("Select: %v", err)
	}
	resp, err := e.LocalReply(nil, r, rej.Status, "", "", rej.Details)
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{Status: 400, Details: rej.Details, Body: []byte("{\"code\":400,\"message\":\"Bad request\"}\n"), Headers: [][2]string{
		{"content-length", "37"}, {"content-type", "application/json"}, {"date", gatewayDate}, {"connection", "close"},
	}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if resp, err = e.Reject(r, rej); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Fatalf("Reject (-want +got):\n%s", diff)
	}
}

func TestInlineRouteConfig(t *testing.T) {
	h := baseHCM(t)
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rcYAML(t, readTestdata(t, "api.yaml"))}
	e := mustNew(t, nil, h)
	if got := selectName(t, e, req("GET", "api.example.com", "/prod/pets/1")); got != "abc/prod/pets-id/GET" {
		t.Fatalf("got %q", got)
	}
	if _, err := New(rcYAML(t, `{name: other}`), h); err == nil {
		t.Fatal("want an error for a RouteConfiguration that differs from the inline one")
	}
}

// A HEAD response without content-length gets transfer-encoding: chunked from the HTTP/1
// codec (codec_impl.cc StreamEncoderImpl::encodeHeadersBase), for upstream responses and
// local replies alike; 204 and 304 get neither header.
func TestHeadWithoutContentLengthIsChunked(t *testing.T) {
	rc := rcYAML(t, `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - {name: up, match: {prefix: /up}, route: {cluster: c}}
  - {name: empty, match: {prefix: /empty}, direct_response: {status: 200}}
`)
	e := mustNew(t, rc, baseHCM(t))
	for _, up := range []*UpstreamResponse{{Status: 200}, {Status: 200, Body: []byte("x")}} {
		r := respond(t, e, req("HEAD", "h", "/up"), up)
		if got := r.Header("transfer-encoding"); len(got) != 1 || got[0] != "chunked" || r.Header("content-length") != nil {
			t.Errorf("HEAD upstream %q: headers %v", up.Body, r.Headers)
		}
	}
	for _, st := range []int{204, 304} {
		r := respond(t, e, req("HEAD", "h", "/up"), &UpstreamResponse{Status: st})
		if r.Header("transfer-encoding") != nil || r.Header("content-length") != nil {
			t.Errorf("HEAD %d: headers %v", st, r.Headers)
		}
	}
	out := forward(t, e, req("HEAD", "h", "/empty"))
	if got := out.Response.Header("transfer-encoding"); len(got) != 1 || got[0] != "chunked" {
		t.Errorf("HEAD direct response with an empty body: headers %v", out.Response.Headers)
	}
}

// connection: close on every reply Envoy sends before the request was complete
// (ActiveStream::encodeHeaders, !hasLastDownstreamByteReceived), on every 400 local reply
// (ActiveStream::onLocalReply) and when the client asked for close
// (HeaderUtility::shouldCloseConnection).
func TestConnectionClose(t *testing.T) {
	e := oneVH(t, `  - {name: mock, match: {prefix: /mock}, direct_response: {status: 200, body: {inline_string: "{}"}}}
  - {name: up, match: {prefix: /up}, route: {cluster: c}}
`)
	closes := func(r *Response) bool { return strings.Join(r.Header("connection"), ",") == "close" }
	post := func(path string, body string, headers ...string) *Request {
		r := req("POST", "h", path, headers...)
		r.Body = []byte(body)
		return r
	}
	for _, c := range []struct {
		name string
		r    *Request
		want bool
	}{
		{"direct response to a POST with a body", post("/mock", "x"), true},
		{"direct response to a chunked POST", post("/mock", "", "transfer-encoding", "chunked"), true},
		{"direct response to a POST with content-length: 0", post("/mock", "", "content-length", "0"), false},
		{"direct response to a GET", req("GET", "h", "/mock"), false},
		{"no route, POST with a body", post("/nope", "x"), true},
		{"client sent connection: close", req("GET", "h", "/mock", "connection", "close"), true},
		{"client sent proxy-connection: close", req("GET", "h", "/mock", "proxy-connection", "close"), true},
	} {
		out := forward(t, e, c.r)
		if closes(out.Response) != c.want {
			t.Errorf("%s: headers %v, want connection: close = %v", c.name, out.Response.Headers, c.want)
		}
	}
	// Upstream responses come after the request: only the client's close applies.
	for _, c := range []struct {
		r    *Request
		want bool
	}{{post("/up", "x"), false}, {req("GET", "h", "/up", "connection", "close"), true}} {
		if got := closes(respond(t, e, c.r, &UpstreamResponse{Status: 200})); got != c.want {
			t.Errorf("upstream response: connection: close = %v, want %v", got, c.want)
		}
	}
	sel, err := e.Select(req("GET", "h", "/up"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		code    int
		details string
		want    bool
	}{{400, "x", true}, {503, "upstream_reset_before_response_started{connection_failure}", false}, {413, "request_payload_too_large", true}} {
		r := post("/up", "x")
		resp, err := e.LocalReply(sel, r, c.code, "", "", c.details)
		if err != nil {
			t.Fatal(err)
		}
		if closes(resp) != c.want {
			t.Errorf("local reply %d %s: connection: close = %v, want %v", c.code, c.details, closes(resp), c.want)
		}
	}
}

// Envoy's response header map joins a repeated inline header (cache-control, vary,
// content-type, ...) with "," as the upstream codec adds it (HeaderMapImpl::insertByKey);
// set-cookie and custom headers keep their lines.
func TestUpstreamInlineResponseHeadersJoined(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, route: {cluster: c}}\n")
	r := respond(t, e, req("GET", "h", "/"), &UpstreamResponse{Status: 200, Headers: [][2]string{
		{"cache-control", "no-cache"}, {"cache-control", "no-store"}, {"vary", "a"}, {"vary", ""}, {"vary", "b"},
		{"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"x-c", "1"}, {"x-c", "2"}, {"content-length", "0"},
	}})
	for name, want := range map[string][]string{
		"cache-control": {"no-cache,no-store"},
		"vary":          {"a,b"},
		"set-cookie":    {"a=1", "b=2"},
		"x-c":           {"1", "2"},
	} {
		if diff := cmp.Diff(want, r.Header(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
