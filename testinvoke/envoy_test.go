package testinvoke_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// lambdaAPI is a test-invoke over the recorded `/{proxy+}` ANY Lambda proxy API of
// lambda-response/base64-flag-without-binary-media-types; the function answers payload.
func lambdaAPI(t *testing.T, payload string) *testinvoke.Invoker {
	t.Helper()
	cases, err := conformance.Load(testutil.SharedDir(t), "lambda-response")
	if err != nil {
		t.Fatal(err)
	}
	var c *conformance.Case
	for _, x := range cases {
		if x.ID == "lambda-response/base64-flag-without-binary-media-types" {
			c = x
		}
	}
	if c == nil {
		t.Fatal("case lambda-response/base64-flag-without-binary-media-types not found")
	}
	res, err := loader.Load(c.File, c.API, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res.API.Id = "a1b2c3d4e5"
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(c.File, res.API, c.Stage, c.StageVariables)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return &lambdainvoke.Result{Payload: []byte(payload)}, nil
	})}
	return inv
}

func header(m *testinvoke.Message, name string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

const apiHost = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"

// test-invoke answers what Envoy's HTTP/1 parser answers for a request it refuses: 400
// "Bad Request" for a method or target it does not accept (balsa_parser.cc), 431 "Request
// Header Fields Too Large" past max_request_headers_kb counted on the raw header block;
// both close the connection.
func TestParserRefusalsThroughTestInvoke(t *testing.T) {
	inv := lambdaAPI(t, `{"statusCode": 200, "body": "ok"}`)
	for _, c := range []struct {
		method, target string
		headers        [][2]string
		status         int
		body           string
	}{
		{"GET", "/test/caf\xc3\xa9", nil, 400, "Bad Request"},
		{"GET", "/test/a b", nil, 400, "Bad Request"},
		{"FETCH", "/test/a", nil, 400, "Bad Request"},
		{"get", "/test/a", nil, 400, "Bad Request"},
		// 10,240-byte block: "GET /test/a?q=… HTTP/1.1\r\n" + "Host: …\r\n" + "\r\n".
		{"GET", "/test/a?q=" + strings.Repeat("x", 10240-len("GET /test/a?q= HTTP/1.1\r\n")-len("Host: "+apiHost+"\r\n")-2+1), nil, 431, "Request Header Fields Too Large"},
		{"GET", "/test/a?q=" + strings.Repeat("x", 10240-len("GET /test/a?q= HTTP/1.1\r\n")-len("Host: "+apiHost+"\r\n")-2), nil, 200, "ok"},
	} {
		res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: c.method, Target: c.target, Headers: append([][2]string{{"Host", apiHost}}, c.headers...)})
		if err != nil {
			t.Fatalf("%s %.40q: %v", c.method, c.target, err)
		}
		if res.Response.StatusCode != c.status || res.Response.Body != c.body {
			t.Errorf("%s %.40q: %d %q, want %d %q", c.method, c.target, res.Response.StatusCode, res.Response.Body, c.status, c.body)
		}
		if c.status != 200 && (strings.Join(header(res.Response, "connection"), ",") != "close" || strings.Join(header(res.Response, "content-type"), ",") != "text/plain") {
			t.Errorf("%s %.40q: headers %v, want text/plain and connection: close", c.method, c.target, res.Response.Headers)
		}
	}
}

// A gateway reply sent before the request body was read (the 403 catch-all answering a
// POST with a body) carries connection: close (conn_manager_impl.cc
// ActiveStream::encodeHeaders); the same POST without a body keeps the connection.
func TestConnectionCloseBeforeBody(t *testing.T) {
	inv := lambdaAPI(t, `{"statusCode": 200, "body": "ok"}`)
	for _, c := range []struct {
		body string
		want []string
	}{{"x=1", []string{"close"}}, {"", nil}} {
		req := testinvoke.Request{Method: "POST", Target: "/other-stage/a", Headers: [][2]string{{"Host", apiHost}}, Body: []byte(c.body)}
		if c.body != "" {
			req.Headers = append(req.Headers, [2]string{"Content-Length", "3"})
		}
		res, err := inv.Invoke(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Response.StatusCode != 403 || strings.Join(header(res.Response, "connection"), ",") != strings.Join(c.want, ",") {
			t.Errorf("body %q: %d %v, want 403 with connection %v", c.body, res.Response.StatusCode, res.Response.Headers, c.want)
		}
	}
}

// A loopback client: Envoy appends its own LocalInfo address to X-Forwarded-For
// (appendXff), while sourceIp is the trusted client address, 127.0.0.1 - the processor
// reads it from x-envoy-external-address, test-invoke from the evaluator.
func TestLoopbackClientXFFAndSourceIP(t *testing.T) {
	inv := lambdaAPI(t, `{"statusCode": 200, "body": "ok"}`)
	res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/test/a", Headers: [][2]string{{"Host", apiHost}}})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Headers        map[string]string `json:"headers"`
		RequestContext struct {
			Identity struct {
				SourceIP string `json:"sourceIp"`
			} `json:"identity"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(res.Integration.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RequestContext.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("sourceIp = %q, want 127.0.0.1", ev.RequestContext.Identity.SourceIP)
	}
	var xff string
	for k, v := range ev.Headers {
		if strings.EqualFold(k, "x-forwarded-for") {
			xff = v
		}
	}
	if want := evaluator.ServerAddress(); xff != want {
		t.Errorf("X-Forwarded-For = %q, want the server's address %q", xff, want)
	}
}

// test-invoke answers a Lambda route with what Envoy sends for the processor's immediate
// response: date added, function x-envoy-* headers dropped by ext_proc's mutation rules,
// and an empty body keeping its Content-Type through the generated config's mapper and
// header_mutation (Utility::prepareLocalReply would drop it; issue 9 items 4 and 13).
func TestLambdaResponseAsEnvoyBuildsIt(t *testing.T) {
	for _, c := range []struct {
		name, method, payload string
		contentType           []string
		contentLength         []string
		body                  string
	}{
		{"empty body, default type", "GET", `{"statusCode": 200}`, []string{"application/json"}, []string{"0"}, ""},
		{"empty body, own type", "GET", `{"statusCode": 200, "headers": {"Content-Type": "text/html"}}`, []string{"text/html"}, []string{"0"}, ""},
		{"body", "GET", `{"statusCode": 200, "body": "hi", "headers": {"content-type": "text/plain"}}`, []string{"text/plain"}, []string{"2"}, "hi"},
		{"HEAD, body", "HEAD", `{"statusCode": 200, "body": "hi"}`, []string{"application/json"}, []string{"2"}, ""},
	} {
		inv := lambdaAPI(t, c.payload)
		res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: c.method, Target: "/test/a", Headers: [][2]string{{"Host", apiHost}}})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Response
		if m.StatusCode != 200 || m.Body != c.body {
			t.Errorf("%s: %d %q", c.name, m.StatusCode, m.Body)
		}
		for name, want := range map[string][]string{"content-type": c.contentType, "content-length": c.contentLength, "x-proxyplus-local-reply-content-type": nil} {
			if got := header(m, name); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s: %s = %v, want %v (headers %v)", c.name, name, got, want, m.Headers)
			}
		}
		if len(header(m, "date")) != 1 {
			t.Errorf("%s: no date header: %v", c.name, m.Headers)
		}
	}
	inv := lambdaAPI(t, `{"statusCode": 200, "headers": {"X-Envoy-Upstream-Service-Time": "1", "X-Envoy-Custom": "1", "X-Kept": "1"}}`)
	res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/test/a", Headers: [][2]string{{"Host", apiHost}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Response.Headers {
		if strings.HasPrefix(strings.ToLower(h[0]), "x-envoy-") {
			t.Errorf("function header %v reached the client; ext_proc's mutation rules (allow_envoy false) drop it", h)
		}
	}
	if len(header(res.Response, "x-kept")) != 1 {
		t.Errorf("x-kept missing: %v", res.Response.Headers)
	}
}

// Repeated request headers that Envoy keeps inline reach the function as one joined value,
// in headers and multiValueHeaders alike (HeaderMapImpl::insertByKey); others keep their lines.
func TestRepeatedInlineHeadersInLambdaEvent(t *testing.T) {
	inv := lambdaAPI(t, `{"statusCode": 200}`)
	res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/test/a", Headers: [][2]string{
		{"Host", apiHost}, {"Accept", "text/html"}, {"Accept", "application/json"}, {"X-Custom", "1"}, {"X-Custom", "2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	}
	if err := json.Unmarshal(res.Integration.Event, &ev); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for k, v := range ev.MultiValueHeaders {
		got[strings.ToLower(k)] = v
	}
	if a := got["accept"]; len(a) != 1 || a[0] != "text/html,application/json" {
		t.Errorf("multiValueHeaders accept = %q, want one joined value", a)
	}
	if c := got["x-custom"]; len(c) != 2 {
		t.Errorf("multiValueHeaders x-custom = %q, want two values", c)
	}
}

// A function's repeated response header that Envoy keeps inline (vary) reaches the client
// as one joined line - the processor appends it, Envoy's insertByKey joins it; set-cookie
// keeps its lines.
func TestRepeatedInlineResponseHeadersFromFunction(t *testing.T) {
	inv := lambdaAPI(t, `{"statusCode": 200, "multiValueHeaders": {"Vary": ["a", "b"], "Set-Cookie": ["x=1", "y=2"]}}`)
	res, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/test/a", Headers: [][2]string{{"Host", apiHost}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := header(res.Response, "vary"); len(v) != 1 || v[0] != "a,b" {
		t.Errorf("vary = %q, want one joined line", v)
	}
	if c := header(res.Response, "set-cookie"); len(c) != 2 {
		t.Errorf("set-cookie = %q, want two lines", c)
	}
}
