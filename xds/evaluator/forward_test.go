package evaluator

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func forward(t *testing.T, e *Evaluator, r *Request) *Outcome {
	t.Helper()
	sel, err := e.Select(r)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	out, err := e.Forward(sel, r)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	return out
}

func TestRewrites(t *testing.T) {
	e := oneVH(t, `
  - name: regex
    match: {safe_regex: {regex: "/prod/items/([^/]+)/([^/]+)/*"}}
    route:
      cluster: c
      regex_rewrite: {pattern: {regex: "^/prod/items/([^/]+)/([^/]+)/*$"}, substitution: "/v1/\\2/items/\\1\\\\x"}
  - name: regex-global
    match: {prefix: /g/}
    route:
      cluster: c
      regex_rewrite: {pattern: {regex: "one"}, substitution: "two"}
      timeout: 0s
  - name: regex-first
    match: {prefix: /f/}
    route:
      cluster: c
      regex_rewrite: {pattern: {regex: "^(.*?)one(.*)$"}, substitution: "\\1two\\2"}
  - name: constant
    match: {prefix: /c/}
    route:
      cluster: c
      regex_rewrite: {pattern: {regex: "^.*$"}, substitution: "/fixed"}
  - name: prefix
    match: {prefix: /PRE, case_sensitive: false}
    route: {cluster: c, prefix_rewrite: /backend, host_rewrite_literal: "backend:8080", timeout: 2.5s}
  - name: sep
    match: {path_separated_prefix: /sep}
    route: {cluster: c, prefix_rewrite: /}
  - name: exact
    match: {path: /exact}
    route: {cluster: c, prefix_rewrite: /other}
`)
	cases := []struct {
		path, wantPath, wantAuthority string
		wantTimeout                   time.Duration
	}{
		// RTM-12: the query string is not part of the rewrite and is kept.
		{"/prod/items/42/red//?a=b&c=/d", `/v1/red/items/42\x?a=b&c=/d`, "h", DefaultRouteTimeout},
		{"/g/xxx/one/yyy/one/zzz?one=1", "/g/xxx/two/yyy/two/zzz?one=1", "h", 0},
		{"/f/xxx/one/yyy/one/zzz", "/f/xxx/two/yyy/one/zzz", "h", DefaultRouteTimeout},
		{"/c/anything?q", "/fixed?q", "h", DefaultRouteTimeout},
		{"/pre/x?y=1", "/backend/x?y=1", "backend:8080", 2500 * time.Millisecond},
		{"/sep/a", "//a", "h", DefaultRouteTimeout},
		{"/exact?z", "/other?z", "h", DefaultRouteTimeout},
	}
	for _, c := range cases {
		out := forward(t, e, req("GET", "h", c.path))
		up := out.Upstream
		if up == nil {
			t.Fatalf("%s: no upstream request", c.path)
		}
		if up.Path != c.wantPath || up.Authority != c.wantAuthority || up.Timeout != c.wantTimeout || up.Cluster != "c" {
			t.Errorf("%s -> path %q authority %q timeout %v, want %q %q %v", c.path, up.Path, up.Authority, up.Timeout, c.wantPath, c.wantAuthority, c.wantTimeout)
		}
		if h := up.Header("host"); len(h) != 1 || h[0] != c.wantAuthority || up.Headers[0][0] != "host" {
			t.Errorf("%s: host header %v (first header %v)", c.path, h, up.Headers[0])
		}
	}
}

// The proxyplus HTTP_PROXY route end to end: Envoy's own request processing, the route's
// headers and the rewrite (RTM-12, HCM-5/6/7/14).
func TestForwardRequestProcessing(t *testing.T) {
	e := mustNew(t, rcYAML(t, readTestdata(t, "api.yaml")), baseHCM(t))
	r := req("POST", "api.example.com:443", "/prod/items/42?x=1",
		"Host", "api.example.com:443",
		"Connection", "keep-alive, X-Custom-Hop",
		"Keep-Alive", "timeout=5",
		"X-Custom-Hop", "gone",
		"Proxy-Connection", "keep-alive",
		"TE", "gzip, trailers",
		"Expect", "100-continue",
		"X-Forwarded-For", "198.51.100.1",
		"X-Forwarded-For", "198.51.100.2",
		"X-Forwarded-Proto", "http",
		"X-Envoy-Upstream-Rq-Timeout-Ms", "1",
		"X-Envoy-Internal", "true",
		"X-Forwarded-Client-Cert", "spoofed",
		"X-Drop-Me", "1",
		"X-Amzn-Apigateway-Api-Id", "spoofed",
		"X-Client-Thing", "first",
		"X-Client-Thing", "second",
		"Content-Type", "application/json",
		"User-Agent", "curl/8",
	)
	r.Method = "GET" // the route is GET-only; keep a body-less GET
	out := forward(t, e, r)
	want := &UpstreamRequest{
		Cluster:   "backend-example-com-443",
		Method:    "GET",
		Authority: "backend.example.com",
		Path:      "/v1/items/42?x=1",
		Timeout:   29 * time.Second,
		Headers: [][2]string{
			{"host", "backend.example.com"},
			{"te", "trailers"},
			{"x-forwarded-for", "198.51.100.1,198.51.100.2,203.0.113.7"},
			{"x-forwarded-proto", "https"},
			{"x-client-thing", "first"},
			{"x-client-thing", "second"},
			{"content-type", "application/json"},
			{"user-agent", "curl/8"},
			{"x-forwarded-port", "443"},
			{"x-envoy-external-address", "203.0.113.7"},
			{"x-amzn-apigateway-api-id", "abc"},
			{"x-source-ip", "203.0.113.7"},
			{"x-from-header", "first"},
		},
	}
	if diff := cmp.Diff(want, out.Upstream); diff != "" {
		t.Fatalf("upstream request (-want +got):\n%s", diff)
	}
}

func TestForwardBodyFraming(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, route: {cluster: c}}\n")
	cl := func(r *Request) []string { return forward(t, e, r).Upstream.Header("content-length") }
	if got := cl(req("GET", "h", "/")); got != nil {
		t.Errorf("GET without body: content-length %v, want none", got)
	}
	for _, m := range []string{"HEAD", "DELETE", "TRACE"} {
		if got := cl(req(m, "h", "/")); got != nil {
			t.Errorf("%s without body: content-length %v, want none", m, got)
		}
	}
	// OPTIONS is not in HeaderUtility::requestShouldHaveNoBody.
	for _, m := range []string{"POST", "PUT", "OPTIONS", "PATCH"} {
		if got := cl(req(m, "h", "/")); len(got) != 1 || got[0] != "0" {
			t.Errorf("%s without body: content-length %v, want [0]", m, got)
		}
	}
	r := req("POST", "h", "/")
	r.Body = []byte("hello")
	out := forward(t, e, r)
	if got := out.Upstream.Header("content-length"); len(got) != 1 || got[0] != "5" || string(out.Upstream.Body) != "hello" {
		t.Errorf("POST with body: content-length %v body %q", got, out.Upstream.Body)
	}
	r = req("POST", "h", "/", "Transfer-Encoding", "chunked")
	r.Body = []byte("hello")
	out = forward(t, e, r)
	if got := out.Upstream.Header("transfer-encoding"); len(got) != 1 || got[0] != "chunked" || out.Upstream.Header("content-length") != nil {
		t.Errorf("chunked POST: %v", out.Upstream.Headers)
	}
	r = req("POST", "h", "/", "Content-Length", "3")
	r.Body = []byte("hello")
	var rej *RejectedError
	if _, err := e.Select(r); !errors.As(err, &rej) || rej.Status != 400 {
		t.Errorf("mismatched content-length: %v", err)
	}
}

func TestRejectedRequests(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, route: {cluster: c}}\n")
	big := make([]string, 0)
	for i := 0; i < 11; i++ {
		big = append(big, "x-big", string(make([]byte, 1000)))
	}
	cases := []struct {
		r    *Request
		want int
	}{
		{req("GET", "h", "/a#frag"), 400},
		{req("GET", "h", "/", "Connection", "x-forwarded-for"), 400},
		{req("GET", "h", "/", "Connection", "Upgrade", "Upgrade", "websocket"), 403},
		{req("GET", "h", "/", big...), 431},
	}
	for i, c := range cases {
		_, err := e.Select(c.r)
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Status != c.want {
			t.Errorf("case %d: err %v, want a %d rejection", i, err, c.want)
		}
	}
}

// Request headers at three levels: route -> virtual host -> route configuration; each level
// removes before it adds, formats every value before adding any, then overwrites, then
// appends.
func TestRequestHeaderLevels(t *testing.T) {
	y := `
name: t
request_headers_to_remove: [x-level]
request_headers_to_add:
- {header: {key: x-level, value: rc}, append_action: APPEND_IF_EXISTS_OR_ADD}
- {header: {key: x-seen-by-rc, value: "%REQ(x-level)%"}}
virtual_hosts:
- name: vh
  domains: ["*"]
  request_headers_to_add:
  - {header: {key: x-level, value: vh}, append_action: APPEND_IF_EXISTS_OR_ADD}
  - {header: {key: x-seen-by-vh, value: "%REQ(x-level)%"}}
  routes:
  - name: r
    match: {prefix: /}
    route: {cluster: c}
    request_headers_to_remove: [x-client]
    request_headers_to_add:
    - {header: {key: x-level, value: route}, append_action: APPEND_IF_EXISTS_OR_ADD}
    - {header: {key: x-copy, value: "%REQ(x-client)%"}}
    - {header: {key: x-copy-level, value: "%REQ(x-level)%"}}
    - {header: {key: x-append, value: "a1"}}
    - {header: {key: x-append, value: "a2"}, append: true}
    - {header: {key: x-over, value: "o1"}, append: false}
    - {header: {key: x-over, value: "o2"}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}
    - {header: {key: x-absent-only, value: "new"}, append_action: ADD_IF_ABSENT}
    - {header: {key: x-present, value: "new"}, append_action: ADD_IF_ABSENT}
    - {header: {key: x-overwrite-existing, value: "new"}, append_action: OVERWRITE_IF_EXISTS}
    - {header: {key: x-overwrite-missing, value: "new"}, append_action: OVERWRITE_IF_EXISTS}
    - {header: {key: x-empty, value: "%REQ(x-nope)%"}}
    - {header: {key: x-empty-kept, value: "%REQ(x-nope)%"}, keep_empty_value: true}
    - {header: {key: x-mixed-empty, value: "v=%REQ(x-nope)%"}}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	out := forward(t, e, req("GET", "h", "/", "x-client", "c", "x-level", "client", "x-present", "old", "x-overwrite-existing", "old", "x-append", "a0", "x-over", "o0"))
	// Route level: x-client is removed first, so %REQ(x-client)% is empty and x-copy is
	// not added; overwrites (x-over twice: the last wins) are applied before appends. The
	// virtual host level sees the route's additions; the route configuration level
	// removes every x-level before it formats x-seen-by-rc.
	got := out.Upstream.Headers
	check := func(name string, vals ...string) {
		t.Helper()
		if diff := cmp.Diff(vals, headerValues(got, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s\nall: %v", name, diff, got)
		}
	}
	check("x-client")
	check("x-copy")
	check("x-copy-level", "client")
	check("x-append", "a0", "a1", "a2")
	check("x-over", "o2")
	check("x-absent-only", "new")
	check("x-present", "old")
	check("x-overwrite-existing", "new")
	check("x-overwrite-missing")
	check("x-empty")
	check("x-empty-kept", "")
	check("x-mixed-empty", "v=")
	check("x-seen-by-vh", "client")
	check("x-seen-by-rc") // x-level was removed at the rc level before formatting
	check("x-level", "rc")
}

func TestFormatters(t *testing.T) {
	y := `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - name: r
    match: {prefix: /}
    route: {cluster: c}
    request_headers_to_add:
    - {header: {key: x-percent, value: "100%% sure"}}
    - {header: {key: x-req, value: "<%REQ(x-a)%>"}}
    - {header: {key: x-req-alt, value: "%REQ(x-missing?x-a)%"}}
    - {header: {key: x-req-len, value: "%REQ(x-a):2%"}}
    - {header: {key: x-req-first, value: "%REQ(x-multi)%"}}
    - {header: {key: x-path, value: "%REQ(:path)%"}}
    - {header: {key: x-host, value: "%REQ(host)%"}}
    - {header: {key: x-resp, value: "%RESP(x-a)%"}}
    - {header: {key: x-id, value: "%UNIQUE_ID%"}}
    - {header: {key: x-ip, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}
    - {header: {key: x-ipport, value: "%DOWNSTREAM_REMOTE_ADDRESS%"}}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t), WithUUIDSource(func() string { return "11111111-2222-4333-8444-555555555555" }))
	out := forward(t, e, req("GET", "h", "/p?q", "x-a", "value", "x-multi", "1", "x-multi", "2"))
	for name, want := range map[string][]string{
		"x-percent":   {"100% sure"},
		"x-req":       {"<value>"},
		"x-req-alt":   {"value"},
		"x-req-len":   {"va"},
		"x-req-first": {"1"},
		"x-path":      {"/p?q"},
		"x-host":      {"h"},
		"x-resp":      nil, // no response headers on the request path -> empty -> not added
		"x-id":        {"11111111-2222-4333-8444-555555555555"},
		"x-ip":        {"203.0.113.7"},
		"x-ipport":    {"203.0.113.7:51234"},
	} {
		if diff := cmp.Diff(want, out.Upstream.Header(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// xff_num_trusted_hops: the trusted client address comes from XFF, and feeds
// %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% and x-envoy-external-address.
func TestTrustedHops(t *testing.T) {
	h := baseHCM(t)
	h.XffNumTrustedHops = 1
	rc := rcYAML(t, `{name: t, virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: {prefix: /}, route: {cluster: c}, request_headers_to_add: [{header: {key: x-ip, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}]}]}]}`)
	e := mustNew(t, rc, h)
	out := forward(t, e, req("GET", "h", "/", "x-forwarded-for", "192.0.2.9, 198.51.100.3", "x-forwarded-proto", "http"))
	for name, want := range map[string]string{
		"x-ip":                     "198.51.100.3",
		"x-envoy-external-address": "198.51.100.3",
		"x-forwarded-for":          "192.0.2.9, 198.51.100.3,203.0.113.7",
		"x-forwarded-proto":        "http", // set by a trusted hop
	} {
		if got := out.Upstream.Header(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %q", name, got, want)
		}
	}
}

// internal_address_config: a peer inside the configured ranges, without XFF, is internal:
// x-envoy-internal is set, x-envoy-* control headers survive, no x-envoy-external-address.
func TestInternalRequest(t *testing.T) {
	y := strings.Replace(readTestdata(t, "hcm.yaml"), "use_remote_address: true",
		"use_remote_address: true\ninternal_address_config:\n  cidr_ranges: [{address_prefix: 10.0.0.0, prefix_len: 8}]", 1)
	rc := rcYAML(t, `{name: t, virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: {prefix: /, headers: [{name: ":scheme", string_match: {exact: http}}]}, route: {cluster: c}}]}]}`)
	e := mustNew(t, rc, hcmYAML(t, y))
	r := req("GET", "h", "/", "x-envoy-decorator-operation", "op")
	r.Scheme, r.RemoteAddr = "http", "10.1.2.3:4000"
	up := forward(t, e, r).Upstream
	if up == nil {
		t.Fatal("no route: :scheme should be http")
	}
	for name, want := range map[string][]string{
		"x-envoy-internal":            {"true"},
		"x-envoy-decorator-operation": {"op"},
		"x-envoy-external-address":    nil,
		"x-forwarded-for":             {"10.1.2.3"},
		"x-forwarded-proto":           {"http"},
	} {
		if diff := cmp.Diff(want, up.Header(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// The same peer with an XFF header is external (the XFF must be absent).
	r = req("GET", "h", "/", "x-forwarded-for", "10.9.9.9", "x-envoy-decorator-operation", "op")
	r.Scheme, r.RemoteAddr = "http", "10.1.2.3:4000"
	up = forward(t, e, r).Upstream
	if up.Header("x-envoy-internal") != nil || up.Header("x-envoy-decorator-operation") != nil || up.Header("x-envoy-external-address")[0] != "10.1.2.3" {
		t.Errorf("external: %v", up.Headers)
	}
}

// Repeated inline request headers reach the filters and the upstream as one
// ","-joined entry (HeaderMapImpl::insertByKey); other headers stay separate lines.
func TestRepeatedInlineRequestHeadersJoined(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, route: {cluster: c}}\n")
	out := forward(t, e, req("GET", "h", "/",
		"Accept", "text/html", "Accept", "application/json",
		"Authorization", "a", "Authorization", "b",
		"Cache-Control", "no-cache", "Cache-Control", "max-age=0",
		"If-None-Match", `"x"`, "If-None-Match", `"y"`,
		"Access-Control-Request-Headers", "x-a", "Access-Control-Request-Headers", "x-b",
		"Origin", "https://a.example", "Origin", "https://b.example",
		"Cookie", "a=1", "Cookie", "b=2",
		"X-Custom", "1", "X-Custom", "2"))
	for name, want := range map[string][]string{
		"accept":                         {"text/html,application/json"},
		"authorization":                  {"a,b"},
		"cache-control":                  {"no-cache,max-age=0"},
		"if-none-match":                  {`"x","y"`},
		"access-control-request-headers": {"x-a,x-b"},
		"origin":                         {"https://a.example,https://b.example"},
		"cookie":                         {"a=1", "b=2"},
		"x-custom":                       {"1", "2"},
	} {
		if diff := cmp.Diff(want, out.Upstream.Header(name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// Envoy's HTTP/1 parser counts the raw header block - request line with the query, every
// "name: value" line with its CRLF, Host included, and the final CRLF - against
// max_request_headers_kb (BalsaFrame max_header_length), and answers 431 "Request Header
// Fields Too Large" (text/plain, connection: close) past it; Host counts toward
// max_headers_count too (codec_impl.cc).
func TestHeaderBlockLimit(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, direct_response: {status: 200}}\n")
	const limit = 10 * 1024 // testdata/hcm.yaml max_request_headers_kb: 10
	// "GET /?q=<pad> HTTP/1.1\r\n" + "host: h\r\n" + "x-a: <v>\r\n" + "\r\n"
	build := func(total int) *Request {
		fixed := len("GET /?q= HTTP/1.1\r\n") + len("host: h\r\n") + len("x-a: \r\n") + len("\r\n")
		pad := total - fixed
		return req("GET", "h", "/?q="+strings.Repeat("q", pad/2), "x-a", strings.Repeat("v", pad-pad/2))
	}
	if _, err := e.Select(build(limit)); err != nil {
		t.Fatalf("a %d-byte header block is within the limit: %v", limit, err)
	}
	r := build(limit + 1)
	_, err := e.Select(r)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Status != 431 || rej.Details != "http1.headers_too_large" {
		t.Fatalf("a %d-byte header block: want 431, got %v", limit+1, err)
	}
	resp, err := e.Reject(r, rej)
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{Status: 431, Details: "http1.headers_too_large", Body: []byte("Request Header Fields Too Large"), Headers: [][2]string{
		{"content-length", "31"}, {"content-type", "text/plain"}, {"date", gatewayDate}, {"connection", "close"},
	}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("431 reply (-want +got):\n%s", diff)
	}

	// Host is one of the max_headers_count header lines.
	h := baseHCM(t)
	h.CommonHttpProtocolOptions.MaxHeadersCount = wrapperspb.UInt32(2)
	e2 := mustNew(t, rcYAML(t, "name: t\nvirtual_hosts:\n- {name: vh, domains: [\"*\"], routes: [{name: r, match: {prefix: /}, direct_response: {status: 200}}]}\n"), h)
	if _, err := e2.Select(req("GET", "h", "/", "x-a", "1")); err != nil {
		t.Errorf("host + 1 header with max_headers_count 2: %v", err)
	}
	if _, err := e2.Select(req("GET", "h", "/", "x-a", "1", "x-b", "2")); !errors.As(err, &rej) || rej.Status != 431 || rej.Details != "http1.too_many_headers" {
		t.Errorf("host + 2 headers with max_headers_count 2: want 431 too_many_headers, got %v", err)
	}
	// A repeated inline header is one entry of the map.
	if _, err := e2.Select(req("GET", "h", "/", "accept", "a", "accept", "b")); err != nil {
		t.Errorf("host + accept twice with max_headers_count 2: %v", err)
	}
}

// Envoy's HTTP/1 parser refuses methods outside http-parser's list (custom methods off) and
// targets with a space, a control character, DEL or a byte >= 0x80: 400 "Bad Request"
// (balsa_parser.cc isMethodValid / isUrlValid, ServerConnectionImpl::sendProtocolError).
func TestParserRefusals(t *testing.T) {
	e := oneVH(t, "  - {name: r, match: {prefix: /}, direct_response: {status: 200}}\n")
	for _, r := range []*Request{
		req("FETCH", "h", "/"), req("get", "h", "/"), req("GET", "h", "/a b"), req("GET", "h", "/caf\xc3\xa9"),
		req("GET", "h", "/a\x7f"), req("GET", "h", "/a\x01"), req("GET", "h", "/?q=\x80"),
		req("GET", "h", "/a\tb"), req("GET", "h", "/a\fb"),
	} {
		_, err := e.Select(r)
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Status != 400 || !rej.Codec {
			t.Errorf("%s %q: want a codec 400, got %v", r.Method, r.Path, err)
			continue
		}
		resp, err := e.Reject(r, rej)
		if err != nil {
			t.Fatal(err)
		}
		want := &Response{Status: 400, Details: "http1.codec_error", Body: []byte("Bad Request"), Headers: [][2]string{
			{"content-length", "11"}, {"content-type", "text/plain"}, {"date", gatewayDate}, {"connection", "close"},
		}}
		if diff := cmp.Diff(want, resp); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", r.Method, r.Path, diff)
		}
	}
	// Header lines: control characters (but tab) and DEL, names that are not tokens.
	for _, r := range []*Request{req("GET", "h", "/", "x-a", "a\x01b"), req("GET", "h", "/", "x-a", "a\x7f"), req("GET", "h", "/", "x a", "1"), req("GET", "h", "/", "x(a)", "1")} {
		var rej *RejectedError
		if _, err := e.Select(r); !errors.As(err, &rej) || rej.Status != 400 || rej.Body != "Bad Request" {
			t.Errorf("headers %q: want a 400 Bad Request rejection, got %v", r.Headers, err)
		}
	}
	if _, err := e.Select(req("GET", "h", "/", "x-a", "a\tb\x80")); err != nil {
		t.Errorf("tab and obs-text in a value: %v", err)
	}
	// PURGE and MSEARCH are in the list; visible ASCII passes.
	for _, r := range []*Request{req("PURGE", "h", "/"), req("MSEARCH", "h", "/"), req("GET", "h", "/a!~%20?b=\"{}|")} {
		if _, err := e.Select(r); err != nil {
			t.Errorf("%s %q: %v", r.Method, r.Path, err)
		}
	}
	// allow_custom_methods accepts any token.
	h := baseHCM(t)
	h.HttpProtocolOptions = &corev3.Http1ProtocolOptions{AllowCustomMethods: true}
	e2 := mustNew(t, rcYAML(t, "name: t\nvirtual_hosts:\n- {name: vh, domains: [\"*\"], routes: [{name: r, match: {prefix: /}, direct_response: {status: 200}}]}\n"), h)
	if _, err := e2.Select(req("FETCH", "h", "/")); err != nil {
		t.Errorf("FETCH with allow_custom_methods: %v", err)
	}
}

// A loopback client: appendXff appends the server's LocalInfo address (first non-loopback
// interface address), not the listener's; the trusted client address - and
// x-envoy-external-address - stays the peer.
func TestXFFForLoopbackClient(t *testing.T) {
	y := "name: t\nvirtual_hosts:\n- {name: vh, domains: [\"*\"], routes: [{name: r, match: {prefix: /}, route: {cluster: c}}]}\n"
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{nil, "198.51.100.1,127.0.0.1"}, // no non-loopback interface: Envoy falls back to 127.0.0.1
		{[]Option{WithServerAddress("172.17.0.2")}, "198.51.100.1,172.17.0.2"},
	} {
		e := mustNew(t, rcYAML(t, y), baseHCM(t), c.opts...)
		r := req("GET", "h", "/", "x-forwarded-for", "198.51.100.1")
		r.RemoteAddr, r.LocalAddr = "127.0.0.1:40000", "10.0.0.5:443"
		out := forward(t, e, r)
		if diff := cmp.Diff([]string{c.want}, out.Upstream.Header("x-forwarded-for")); diff != "" {
			t.Errorf("x-forwarded-for (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"127.0.0.1"}, out.Upstream.Header("x-envoy-external-address")); diff != "" {
			t.Errorf("x-envoy-external-address (-want +got):\n%s", diff)
		}
	}
	if a := ServerAddress(); net.ParseIP(a).To4() == nil {
		t.Errorf("ServerAddress() = %q, want an IPv4 address", a)
	}
}
