package lambdaproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/translator"
)

// ---- conformance cases (shared/conformance/cases) ----

// evEnvoyClientIP is the client address of the conformance requests.
const evEnvoyClientIP = "192.0.2.10"

// evEnvoyView turns a client request of a conformance case into the Request the ext_proc processor receives.
// It stands in for Envoy's HTTP/1.1 codec and HTTP connection manager as proxyplus configures them
// (envoy-notes HCM-5..HCM-7, HCM-14), on the plain-text listener:
//   - header names are lower-cased; Host becomes :authority (Request.Authority) and leaves the header list;
//   - hop-by-hop headers are removed: Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-Connection, and
//     TE unless its value is "trailers"; Expect: 100-continue is answered by Envoy and removed (HCM-14);
//   - x-forwarded-for gets the client address appended (use_remote_address), x-forwarded-proto is "http" and
//     x-forwarded-port "8080" (the listener's scheme and port);
//   - content-length and everything else stay as sent, in order.
//
// It does not model DEV-3 (joining repeated inline headers): no case repeats such a header.
func evEnvoyView(method, target string, headers [][]string, body []byte) *Request {
	req := &Request{Method: method, Path: target, Body: body, SourceIP: evEnvoyClientIP, Protocol: "HTTP/1.1"}
	xff := ""
	for _, h := range headers {
		name, value := strings.ToLower(h[0]), h[1]
		switch name {
		case "host":
			req.Authority = value
			continue
		case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection":
			continue
		case "te":
			if !strings.EqualFold(value, "trailers") {
				continue
			}
		case "expect":
			if strings.EqualFold(value, "100-continue") {
				continue
			}
		case "x-forwarded-for":
			xff = value + ","
			continue
		case "x-forwarded-proto", "x-forwarded-port":
			continue
		}
		req.Headers = append(req.Headers, [2]string{name, value})
	}
	req.Headers = append(req.Headers,
		[2]string{"x-forwarded-for", xff + evEnvoyClientIP},
		[2]string{"x-forwarded-proto", "http"},
		[2]string{"x-forwarded-port", "8080"})
	return req
}

// evCaseRoute loads the case's API, deploys it to the case's stage and returns the route the case expects,
// as the xDS builders would hand it to the processor.
func evCaseRoute(t *testing.T, c *conformance.Case, host string) (*ir.ProcessorRoute, []ir.Route) {
	t.Helper()
	var want struct{ Resource, Method string }
	if err := json.Unmarshal(c.Expect.Route, &want); err != nil || want.Resource == "" {
		t.Fatalf("expect.route %s: %v", c.Expect.Route, err)
	}
	res, err := loader.Load(c.File, c.API, loader.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	cfg, diags := translator.Translate([]translator.Input{
		translator.DeployStage(c.File, res.API, c.Stage, c.StageVariables)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("translate: %v", err)
	}
	if len(cfg.APIs) != 1 || len(cfg.APIs[0].Stages) != 1 {
		t.Fatalf("translate: want one API with one stage, got %+v", cfg.APIs)
	}
	api, stage := cfg.APIs[0], cfg.APIs[0].Stages[0]
	for i := range stage.Routes {
		r := &stage.Routes[i]
		if r.ResourcePath != want.Resource || r.Method != want.Method {
			continue
		}
		if r.Integration.Type != ir.AWSProxy {
			t.Fatalf("route %s %s is %s, not AWS_PROXY", r.Method, r.ResourcePath, r.Integration.Type)
		}
		apiID, _, _ := strings.Cut(host, ".")
		return &ir.ProcessorRoute{
			APIID:            apiID,
			Stage:            stage.Name,
			DeploymentID:     stage.DeploymentID,
			StageVariables:   stage.Variables,
			BinaryMediaTypes: api.BinaryMediaTypes,
			Route:            *r,
		}, stage.Routes
	}
	t.Fatalf("route %s %s is not among the translated routes", want.Method, want.Resource)
	return nil, nil
}

// TestEventConformance runs every lambda-event case and every routing case with an event expectation.
func TestEventConformance(t *testing.T) {
	shared := testutil.SharedDir(t)
	var cases []*conformance.Case
	for _, group := range []string{"lambda-event", "routing"} {
		cs, err := conformance.Load(shared, group)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cs...)
	}
	ran := 0
	for _, c := range cases {
		if c.Expect.Event == nil && c.Expect.EventAbsentHeaders == nil {
			continue
		}
		ran++
		t.Run(c.ID, func(t *testing.T) {
			body, err := c.Request.BodyBytes()
			if err != nil {
				t.Fatal(err)
			}
			req := evEnvoyView(c.Request.Method, c.Request.Target, c.Request.Headers, body)
			route, routes := evCaseRoute(t, c, req.Authority)

			// The processor only sees requests routed to this route; check that route selection agrees.
			rawPath, _, _ := strings.Cut(req.Path, "?")
			_, rest, _ := translator.SplitStagePath(rawPath)
			if got := translator.SelectRoute(routes, req.Method, rest); got == nil ||
				got.ResourcePath != route.Route.ResourcePath || got.Method != route.Route.Method {
				t.Errorf("SelectRoute(%s %s) = %v, the case expects %s %s", req.Method, rawPath, got,
					route.Route.Method, route.Route.ResourcePath)
			}

			ctx := evTestContext(time.Now())
			out, err := AppendEvent(nil, route, req, ctx)
			if err != nil {
				t.Fatal(err)
			}
			evCheckPrepared(t, route, req, ctx, out)
			got := evParse(t, out)
			evCheckShape(t, got)

			if c.Expect.Event != nil {
				var want map[string]any
				if err := json.Unmarshal(c.Expect.Event, &want); err != nil {
					t.Fatal(err)
				}
				evFoldHeaderNames(want, got)
				if d := conformance.MatchJSON("event", want, got); d != "" {
					t.Errorf("%s\nevent: %s", d, out)
				}
			}
			for _, name := range c.Expect.EventAbsentHeaders {
				for _, key := range []string{"headers", "multiValueHeaders"} {
					m, _ := got[key].(map[string]any)
					for k := range m {
						if strings.EqualFold(k, name) {
							t.Errorf("%s has %s, which must be absent", key, k)
						}
					}
				}
			}

			// What every case implies beyond its written keys.
			rc := got["requestContext"].(map[string]any)
			for k, want := range map[string]any{
				"apiId": route.APIID, "deploymentId": route.DeploymentID, "resourceId": route.Route.ResourceID,
				"domainName": req.Authority, "domainPrefix": route.APIID, "accountId": ctx.AccountID,
				"requestId": ctx.RequestID, "extendedRequestId": ctx.ExtendedRequestID,
			} {
				if rc[k] != want {
					t.Errorf("requestContext.%s = %v, want %v", k, rc[k], want)
				}
			}
			id := rc["identity"].(map[string]any)
			if id["sourceIp"] != evEnvoyClientIP {
				t.Errorf("identity.sourceIp = %v", id["sourceIp"])
			}
			hs := got["headers"].(map[string]any)
			for k, want := range map[string]string{"Host": req.Authority, "X-Amzn-Trace-Id": ctx.TraceID,
				"X-Forwarded-For": evEnvoyClientIP, "X-Forwarded-Proto": "http", "X-Forwarded-Port": "8080"} {
				if hs[k] != want { // exact spelling (DEV-1, EVT-10, EVT-11)
					t.Errorf("headers[%q] = %v, want %q", k, hs[k], want)
				}
			}
			if ua, ok := hs["User-Agent"]; ok && id["userAgent"] != ua {
				t.Errorf("identity.userAgent = %v, want the User-Agent header %v", id["userAgent"], ua)
			}
			// The stdlib oracle agrees on the whole event.
			evCheckOracle(t, route, req, ctx, got)
		})
	}
	if ran < 13+9 {
		t.Errorf("ran %d cases with event expectations, want at least 22 (13 lambda-event + 9 routing)", ran)
	}
}

// evFoldHeaderNames renames the expected headers/multiValueHeaders keys to the spelling the event uses, so that
// MatchJSON compares names case-insensitively (conformance README).
func evFoldHeaderNames(want, got map[string]any) {
	for _, key := range []string{"headers", "multiValueHeaders"} {
		w, _ := want[key].(map[string]any)
		g, _ := got[key].(map[string]any)
		if w == nil || g == nil {
			continue
		}
		renamed := map[string]any{}
		for wk, wv := range w {
			name := wk
			for gk := range g {
				if strings.EqualFold(gk, wk) {
					name = gk
				}
			}
			renamed[name] = wv
		}
		want[key] = renamed
	}
}

var evTopKeys = []string{"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
	"multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext", "body",
	"isBase64Encoded"}

var evContextKeys = []string{"accountId", "apiId", "deploymentId", "domainName", "domainPrefix",
	"extendedRequestId", "httpMethod", "identity", "path", "protocol", "requestId", "requestTime",
	"requestTimeEpoch", "resourceId", "resourcePath", "stage"}

var evIdentityKeys = []string{"accessKey", "accountId", "caller", "cognitoAuthenticationProvider",
	"cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId", "principalOrgId", "sourceIp", "user",
	"userAgent", "userArn"}

// evCheckShape checks EVT-1, EVT-5, EVT-7, EVT-23..EVT-26 on a parsed event.
func evCheckShape(t *testing.T, ev map[string]any) {
	t.Helper()
	evCheckKeys(t, "event", ev, evTopKeys)
	for _, k := range []string{"headers", "multiValueHeaders", "queryStringParameters",
		"multiValueQueryStringParameters", "pathParameters", "stageVariables"} {
		if m, ok := ev[k].(map[string]any); ok && len(m) == 0 {
			t.Errorf("%s is {}, must be null (EVT-5)", k)
		}
	}
	if _, ok := ev["isBase64Encoded"].(bool); !ok {
		t.Errorf("isBase64Encoded = %v, want a boolean", ev["isBase64Encoded"])
	}
	if b, ok := ev["body"].(string); ok && b == "" {
		t.Errorf(`body is "", must be null (EVT-5)`)
	}
	for _, pair := range [][2]string{{"headers", "multiValueHeaders"},
		{"queryStringParameters", "multiValueQueryStringParameters"}} {
		single, _ := ev[pair[0]].(map[string]any)
		multi, _ := ev[pair[1]].(map[string]any)
		if len(single) != len(multi) {
			t.Errorf("%s and %s have different key sets", pair[0], pair[1])
		}
		for k, v := range multi {
			vs := v.([]any)
			if single[k] != vs[len(vs)-1] {
				t.Errorf("%s[%q] = %v, want the last of %v", pair[0], k, single[k], vs)
			}
		}
	}
	rc, ok := ev["requestContext"].(map[string]any)
	if !ok {
		t.Fatalf("requestContext = %v", ev["requestContext"])
	}
	keys := evContextKeys
	if _, ok := rc["operationName"]; ok {
		keys = append(append([]string(nil), keys...), "operationName")
	}
	evCheckKeys(t, "requestContext", rc, keys)
	if rc["resourcePath"] != ev["resource"] || rc["httpMethod"] != ev["httpMethod"] {
		t.Errorf("requestContext disagrees with the top level: %v %v", rc["resourcePath"], rc["httpMethod"])
	}
	id, _ := rc["identity"].(map[string]any)
	evCheckKeys(t, "identity", id, evIdentityKeys)
	for k, v := range id {
		if k != "sourceIp" && k != "userAgent" && v != nil {
			t.Errorf("identity.%s = %v, want null", k, v)
		}
	}
}

func evCheckKeys(t *testing.T, what string, m map[string]any, want []string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	if d := cmp.Diff(want, got, evSortStrings); d != "" {
		t.Errorf("%s keys (-want +got):\n%s", what, d)
	}
}

var evSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j-1] > out[j]; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
})

// evCheckOracle compares the event with the encoding/json oracle of event_bench_test.go.
func evCheckOracle(t testing.TB, route *ir.ProcessorRoute, req *Request, c *Context, got map[string]any) {
	t.Helper()
	std, err := evStdlibEvent(route, req, c)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	if d := cmp.Diff(evParse(t, std), got); d != "" {
		t.Errorf("event differs from the encoding/json oracle (-oracle +event):\n%s", d)
	}
}

// ---- the reference example of apigateway-rest §3.8 ----

func evTestContext(now time.Time) *Context {
	return &Context{
		AccountID:         "123456789012",
		RequestID:         "0b7b1c2e-5f43-4c7e-9d8a-2f1e3c4b5a69",
		ExtendedRequestID: "Gq3vXHkLoAMEbTw=",
		TraceID:           "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e",
		Now:               now,
	}
}

const evSpecExample = `{
  "resource": "/pets/{petId}",
  "path": "/pets/42",
  "httpMethod": "GET",
  "headers": {
    "Accept": "application/json",
    "Host": "abc123defg.execute-api.localhost",
    "User-Agent": "curl/8.5.0",
    "X-Amzn-Trace-Id": "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e",
    "X-Forwarded-For": "192.0.2.10",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https"
  },
  "multiValueHeaders": {
    "Accept": ["application/json"],
    "Host": ["abc123defg.execute-api.localhost"],
    "User-Agent": ["curl/8.5.0"],
    "X-Amzn-Trace-Id": ["Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e"],
    "X-Forwarded-For": ["192.0.2.10"],
    "X-Forwarded-Port": ["443"],
    "X-Forwarded-Proto": ["https"]
  },
  "queryStringParameters": {"x": "2"},
  "multiValueQueryStringParameters": {"x": ["1", "2"]},
  "pathParameters": {"petId": "42"},
  "stageVariables": null,
  "requestContext": {
    "accountId": "123456789012",
    "apiId": "abc123defg",
    "deploymentId": "p2k7xw",
    "domainName": "abc123defg.execute-api.localhost",
    "domainPrefix": "abc123defg",
    "extendedRequestId": "Gq3vXHkLoAMEbTw=",
    "httpMethod": "GET",
    "identity": {
      "accessKey": null, "accountId": null, "caller": null,
      "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
      "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
      "sourceIp": "192.0.2.10", "user": null, "userAgent": "curl/8.5.0", "userArn": null
    },
    "path": "/dev/pets/42",
    "protocol": "HTTP/1.1",
    "requestId": "0b7b1c2e-5f43-4c7e-9d8a-2f1e3c4b5a69",
    "requestTime": "04/Mar/2025:19:15:17 +0000",
    "requestTimeEpoch": 1741115717135,
    "resourceId": "k3x9qa",
    "resourcePath": "/pets/{petId}",
    "stage": "dev"
  },
  "body": null,
  "isBase64Encoded": false
}`

// TestEventSpecExample reproduces apigateway-rest §3.8 exactly (parsed JSON equal: every key, every null).
func TestEventSpecExample(t *testing.T) {
	route := evRoute(t, "/pets/{petId}", "GET")
	route.APIID, route.Stage, route.DeploymentID, route.Route.ResourceID = "abc123defg", "dev", "p2k7xw", "k3x9qa"
	req := &Request{
		Method: "GET", Path: "/dev/pets/42?x=1&x=2", Authority: "abc123defg.execute-api.localhost",
		Headers: [][2]string{{"accept", "application/json"}, {"user-agent", "curl/8.5.0"},
			{"x-forwarded-for", "192.0.2.10"}, {"x-forwarded-proto", "https"}, {"x-forwarded-port", "443"}},
		SourceIP: "192.0.2.10", Protocol: "HTTP/1.1",
	}
	ctx := evTestContext(time.Date(2025, 3, 4, 19, 15, 17, 135e6, time.UTC))
	out, err := AppendEvent(nil, route, req, ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(evSpecExample), &want); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, evParse(t, out)); d != "" {
		t.Errorf("event differs from §3.8 (-spec +got):\n%s", d)
	}
	// Same event in another time zone: requestTime is UTC.
	ctx.Now = ctx.Now.In(time.FixedZone("X", -7*3600))
	out2, _ := AppendEvent(nil, route, req, ctx)
	if !bytes.Equal(out, out2) {
		t.Errorf("the event depends on the time zone of Context.Now:\n%s\n%s", out, out2)
	}
}

// ---- table tests ----

// evRoute is a route on resource path p with method m, stage "test".
func evRoute(t testing.TB, p, m string) *ir.ProcessorRoute {
	t.Helper()
	segs, err := ir.ParseResourcePath(p)
	if err != nil {
		t.Fatal(err)
	}
	return &ir.ProcessorRoute{
		APIID: "a1b2c3d4e5", Stage: "test", DeploymentID: "dep123",
		Route: ir.Route{Name: "a1b2c3d4e5/test/res123/" + m, ResourceID: "res123", ResourcePath: p, Segments: segs,
			Method: m, Integration: ir.Integration{Type: ir.AWSProxy}},
	}
}

// evRequest is a GET of target with the headers Envoy always adds.
func evRequest(method, target string, headers ...[2]string) *Request {
	return &Request{Method: method, Path: target, Authority: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
		Headers: append(headers, [2]string{"x-forwarded-for", "192.0.2.10"}, [2]string{"x-forwarded-proto", "http"},
			[2]string{"x-forwarded-port", "8080"}),
		SourceIP: "192.0.2.10", Protocol: "HTTP/1.1"}
}

// evEncode builds the event and checks what must hold for every event; it returns the raw and the parsed form.
func evEncode(t *testing.T, route *ir.ProcessorRoute, req *Request, c *Context) ([]byte, map[string]any) {
	t.Helper()
	if c == nil {
		c = evTestContext(time.Date(2025, 3, 4, 19, 15, 17, 135e6, time.UTC))
	}
	out, err := AppendEvent(nil, route, req, c)
	if err != nil {
		t.Fatal(err)
	}
	evCheckPrepared(t, route, req, c, out)
	ev := evParse(t, out)
	evCheckShape(t, ev)
	if err := evNoDuplicateKeys(out); err != nil {
		t.Errorf("%v: %s", err, out)
	}
	evCheckOracle(t, route, req, c, ev)
	return out, ev
}

// evCheckPrepared checks that AppendPreparedEvent writes AppendEvent's bytes (want), with the route prepared for
// the request's account and, falling back, for another.
func evCheckPrepared(t *testing.T, route *ir.ProcessorRoute, req *Request, c *Context, want []byte) {
	t.Helper()
	for _, account := range []string{c.AccountID, "999999999999"} {
		er := PrepareEventRoute(route, account)
		got, err := AppendPreparedEvent([]byte("x"), er, req, c)
		if err != nil || string(got) != "x"+string(want) {
			t.Errorf("AppendPreparedEvent (account %s) = %s, %v\nAppendEvent wrote %s", account, got, err, want)
		}
	}
}

func TestEventNullsAndFalse(t *testing.T) {
	nulls := func(ev map[string]any, keys ...string) []string {
		var bad []string
		for _, k := range keys {
			if v, ok := ev[k]; !ok || v != nil {
				bad = append(bad, fmt.Sprintf("%s=%v", k, v))
			}
		}
		return bad
	}
	t.Run("bare GET", func(t *testing.T) {
		_, ev := evEncode(t, evRoute(t, "/items", "GET"), evRequest("GET", "/test/items"), nil)
		if bad := nulls(ev, "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
			"stageVariables", "body"); bad != nil {
			t.Errorf("want null: %v", bad)
		}
		if ev["isBase64Encoded"] != false {
			t.Errorf("isBase64Encoded = %v, want false", ev["isBase64Encoded"])
		}
	})
	for _, target := range []string{"/test/items?", "/test/items?&", "/test/items?&;&", "/test/items?=x"} {
		t.Run("query "+target, func(t *testing.T) {
			_, ev := evEncode(t, evRoute(t, "/items", "GET"), evRequest("GET", target), nil)
			if bad := nulls(ev, "queryStringParameters", "multiValueQueryStringParameters"); bad != nil {
				t.Errorf("want null: %v", bad)
			}
		})
	}
	t.Run("empty stage variables and body", func(t *testing.T) {
		r := evRoute(t, "/items", "POST")
		r.StageVariables = map[string]string{}
		req := evRequest("POST", "/test/items", [2]string{"content-type", "application/json"})
		req.Body = []byte{}
		_, ev := evEncode(t, r, req, nil)
		if bad := nulls(ev, "stageVariables", "body"); bad != nil {
			t.Errorf("want null: %v", bad)
		}
	})
	t.Run("no headers at all", func(t *testing.T) {
		c := evTestContext(time.Now())
		c.TraceID = ""
		req := &Request{Method: "GET", Path: "/test/items"}
		out, ev := evEncode(t, evRoute(t, "/items", "GET"), req, c)
		if bad := nulls(ev, "headers", "multiValueHeaders"); bad != nil {
			t.Errorf("want null: %v", bad)
		}
		id := ev["requestContext"].(map[string]any)["identity"].(map[string]any)
		if id["sourceIp"] != nil || id["userAgent"] != nil {
			t.Errorf("identity without source and user agent: %v", id)
		}
		if !bytes.Contains(out, []byte(`"protocol":"HTTP/1.1"`)) {
			t.Errorf("protocol defaults to HTTP/1.1: %s", out)
		}
	})
	t.Run("exact bytes of the null and false keys", func(t *testing.T) {
		out, _ := evEncode(t, evRoute(t, "/items", "GET"), evRequest("GET", "/test/items"), nil)
		for _, want := range []string{`"queryStringParameters":null,"multiValueQueryStringParameters":null,` +
			`"pathParameters":null,"stageVariables":null,"requestContext":{`, `"body":null,"isBase64Encoded":false}`,
			`"identity":{"accessKey":null,"accountId":null,"caller":null,"cognitoAuthenticationProvider":null,` +
				`"cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,` +
				`"principalOrgId":null,"sourceIp":"192.0.2.10","user":null,"userAgent":null,"userArn":null}`} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("missing %s in %s", want, out)
			}
		}
		if !bytes.HasSuffix(out, []byte(`"isBase64Encoded":false}`)) {
			t.Errorf("event does not end with isBase64Encoded: %s", out)
		}
	})
}

func TestEventQuery(t *testing.T) {
	for _, tc := range []struct {
		query  string
		single map[string]any // nil: both maps null
		multi  map[string]any
	}{
		{"a=1&a=2&a=3", map[string]any{"a": "3"}, map[string]any{"a": []any{"1", "2", "3"}}},
		{"a", map[string]any{"a": ""}, map[string]any{"a": []any{""}}},
		{"a=", map[string]any{"a": ""}, map[string]any{"a": []any{""}}},
		{"a=1;b=2", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": []any{"1"}, "b": []any{"2"}}},
		{"a=1&&b=2&", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": []any{"1"}, "b": []any{"2"}}},
		{"plus=a+b&enc=a%2Bb&sp=a%20b", map[string]any{"plus": "a b", "enc": "a+b", "sp": "a b"},
			map[string]any{"plus": []any{"a b"}, "enc": []any{"a+b"}, "sp": []any{"a b"}}},
		{"x=%zz&y=%4&z=100%&w=%%41", map[string]any{"x": "%zz", "y": "%4", "z": "100%", "w": "%A"},
			map[string]any{"x": []any{"%zz"}, "y": []any{"%4"}, "z": []any{"100%"}, "w": []any{"%A"}}},
		{"A=1&a=2", map[string]any{"A": "1", "a": "2"}, map[string]any{"A": []any{"1"}, "a": []any{"2"}}},
		{"a=b=c", map[string]any{"a": "b=c"}, map[string]any{"a": []any{"b=c"}}},
		{"%61=1&a=2", map[string]any{"a": "2"}, map[string]any{"a": []any{"1", "2"}}},
		{"a+b=1&a%20b=2", map[string]any{"a b": "2"}, map[string]any{"a b": []any{"1", "2"}}},
		{"x=%FF&y=%E2%82%AC&z=%C3", map[string]any{"x": "\uFFFD", "y": "€", "z": "\uFFFD"},
			map[string]any{"x": []any{"\uFFFD"}, "y": []any{"€"}, "z": []any{"\uFFFD"}}},
		{"%FF=1&%FE=2", map[string]any{"\uFFFD": "2"}, map[string]any{"\uFFFD": []any{"1", "2"}}},
		{"x={|}&q=a%26b%3Dc", map[string]any{"x": "{|}", "q": "a&b=c"},
			map[string]any{"x": []any{"{|}"}, "q": []any{"a&b=c"}}},
		{"t=%0A%22%5C%01", map[string]any{"t": "\n\"\\\x01"}, map[string]any{"t": []any{"\n\"\\\x01"}}},
		{"url=https://www.google.com/&b=<x>", map[string]any{"url": "https://www.google.com/", "b": "<x>"},
			map[string]any{"url": []any{"https://www.google.com/"}, "b": []any{"<x>"}}},
		{"=x&=", nil, nil},
		{"b=1&a=%22&b=2&c&a=%5C&d=%FF", map[string]any{"a": "\\", "b": "2", "c": "", "d": "\uFFFD"},
			map[string]any{"a": []any{"\"", "\\"}, "b": []any{"1", "2"}, "c": []any{""}, "d": []any{"\uFFFD"}}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, ev := evEncode(t, evRoute(t, "/{proxy+}", "ANY"), evRequest("GET", "/test/p?"+tc.query), nil)
			var wantSingle, wantMulti any
			if tc.single != nil {
				wantSingle, wantMulti = tc.single, tc.multi
			}
			if d := cmp.Diff(wantSingle, ev["queryStringParameters"]); d != "" {
				t.Errorf("queryStringParameters (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wantMulti, ev["multiValueQueryStringParameters"]); d != "" {
				t.Errorf("multiValueQueryStringParameters (-want +got):\n%s", d)
			}
		})
	}
}

func TestEventPaths(t *testing.T) {
	for _, tc := range []struct {
		resource, target    string
		path, contextPath   string
		params              map[string]any
		resourceUnmatchable bool
	}{
		{"/{proxy+}", "/test/a", "/a", "/test/a", map[string]any{"proxy": "a"}, false},
		{"/{proxy+}", "//test/a", "/a", "/test/a", map[string]any{"proxy": "a"}, false},               // RTE-2
		{"/{proxy+}", "///test//a", "/a", "/test//a", map[string]any{"proxy": "a"}, false},            // RTE-2, RTE-3
		{"/{proxy+}", "/test/a//b/", "/a//b/", "/test/a//b/", map[string]any{"proxy": "a//b"}, false}, // RTE-4, RTE-5
		{"/{proxy+}", "/test/a//", "/a//", "/test/a//", map[string]any{"proxy": "a"}, false},
		{"/{proxy+}", "/test/my-id%2F100/x%20y/+@", "/my-id%2F100/x%20y/+@", "/test/my-id%2F100/x%20y/+@",
			map[string]any{"proxy": "my-id%2F100/x%20y/+@"}, false}, // RTE-7, EVT-17
		{"/users/{id}", "/test/users/me/", "/users/me/", "/test/users/me/", map[string]any{"id": "me"}, false},
		{"/a/{b}/{c+}", "/test/a/x/y/z", "/a/x/y/z", "/test/a/x/y/z", map[string]any{"b": "x", "c": "y/z"}, false},
		{"/", "/test", "/", "/test", nil, false}, // RTE-6
		{"/", "/test/", "/", "/test/", nil, false},
		{"/hardcoded", "/test//hardcoded", "/hardcoded", "/test//hardcoded", nil, false},
		{"/{p}", "/test/\"q\"\\", "/\"q\"\\", "/test/\"q\"\\", map[string]any{"p": "\"q\"\\"}, false},
		{"/{proxy+}", "/test", "", "", nil, true}, // RTE-14
		{"/{proxy+}", "/other/a", "", "", nil, true},
		{"/items", "/test/other", "", "", nil, true},
		{"/items", "", "", "", nil, true},
	} {
		t.Run(tc.resource+" "+tc.target, func(t *testing.T) {
			route := evRoute(t, tc.resource, "ANY")
			req := evRequest("GET", tc.target+"?q=1")
			if tc.resourceUnmatchable {
				dst := []byte("prefix")
				out, err := AppendEvent(dst, route, req, evTestContext(time.Now()))
				if err == nil || string(out) != "prefix" {
					t.Errorf("AppendEvent = %q, %v; want the input back and an error", out, err)
				}
				return
			}
			_, ev := evEncode(t, route, req, nil)
			rc := ev["requestContext"].(map[string]any)
			if ev["path"] != tc.path || rc["path"] != tc.contextPath || ev["resource"] != tc.resource {
				t.Errorf("path %v, requestContext.path %v, resource %v; want %s, %s, %s", ev["path"], rc["path"],
					ev["resource"], tc.path, tc.contextPath, tc.resource)
			}
			var want any
			if tc.params != nil {
				want = tc.params
			}
			if d := cmp.Diff(want, ev["pathParameters"]); d != "" {
				t.Errorf("pathParameters (-want +got):\n%s", d)
			}
		})
	}
}

// evTestDropped are the EVT-8 names.
var evTestDropped = []string{"connection", "content-length", "content-md5", "expect", "max-forwards",
	"proxy-authenticate", "server", "te", "trailer", "transfer-encoding", "upgrade", "www-authenticate"}

func TestEventHeaders(t *testing.T) {
	req := evRequest("POST", "/test/items",
		[2]string{"accept", "application/json"},
		[2]string{"x-api-key", "k"},
		[2]string{"mv", "a"},
		[2]string{"mv", "b, c"}, // one line with a comma is one value (EVT-6)
		[2]string{"MV", "d"},    // names are compared as written (DEV-1 merges case variants)
		[2]string{"tEsT-HEADeR", "aValUE"},
		[2]string{"host", "ignored.example"}, // :authority wins
		[2]string{"x-amzn-trace-id", "Root=client"},
		[2]string{"x-request-id", "client-id"}, // generate_request_id is off: the client's own (HCM-7)
		[2]string{"x-envoy-expected-rq-timeout-ms", "1000"},
		[2]string{"X-Envoy-Internal", "true"},
		[2]string{":path", "/test/items"},
		[2]string{"authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250304/us-east-1/execute-api/aws4_request"},
		[2]string{"user-agent", "ua/1"},
		[2]string{"user-agent", "ua/2"},
		[2]string{"header with space", "v"},
		[2]string{"date", "Tue, 04 Mar 2025 19:15:17 GMT"},
	)
	for _, d := range evTestDropped {
		req.Headers = append(req.Headers, [2]string{d, "x"}, [2]string{strings.ToUpper(d), "x"})
		written := func(name string) string { return string(evAppendHeaderName(nil, name)) }
		if !evDropWritten(written(d), "x") || evDropWritten(written(d+"x"), "x") || evDropWritten(written(d[1:]), "x") {
			t.Errorf("evDropWritten is wrong about %q", d)
		}
	}
	_, ev := evEncode(t, evRoute(t, "/items", "POST"), req, nil)
	wantHeaders := map[string]any{
		"Accept": "application/json", "X-Api-Key": "k", "Mv": "d", "Test-Header": "aValUE",
		"Host":            "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
		"X-Amzn-Trace-Id": "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e", "X-Request-Id": "client-id",
		"User-Agent": "ua/2", "header with space": "v", "Date": "Tue, 04 Mar 2025 19:15:17 GMT",
		"X-Forwarded-For": "192.0.2.10", "X-Forwarded-Proto": "http", "X-Forwarded-Port": "8080",
	}
	if d := cmp.Diff(wantHeaders, ev["headers"]); d != "" {
		t.Errorf("headers (-want +got):\n%s", d)
	}
	mv := ev["multiValueHeaders"].(map[string]any)
	if d := cmp.Diff([]any{"a", "b, c", "d"}, mv["Mv"]); d != "" {
		t.Errorf("multiValueHeaders.Mv (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]any{"ua/1", "ua/2"}, mv["User-Agent"]); d != "" {
		t.Errorf("multiValueHeaders.User-Agent (-want +got):\n%s", d)
	}
	id := ev["requestContext"].(map[string]any)["identity"].(map[string]any)
	if id["userAgent"] != "ua/2" {
		t.Errorf("identity.userAgent = %v, want the last User-Agent", id["userAgent"])
	}

	t.Run("uncased names repeated around dropped lines", func(t *testing.T) {
		// Names that are not common are cased once and reused by the next line of that name; a dropped line's
		// place in the names is written over.
		_, ev := evEncode(t, evRoute(t, "/items", "GET"), evRequest("GET", "/test/items",
			[2]string{"AUTHORIZATION", "AWS4-HMAC-SHA256 Credential=A"}, [2]string{"accept", "a"},
			[2]string{"AUTHORIZATION", "Bearer y"}, [2]string{"x-custom", "1"}, [2]string{"x-envoy-x", "e"},
			[2]string{"accept-charset", "c"}, [2]string{"x-custom", "2"}, [2]string{"HOST", "h"},
			[2]string{"cookie", "k"}, [2]string{"HOST", "h2"}, [2]string{"x-custom", "3"}), nil)
		if h := ev["headers"].(map[string]any); h["Authorization"] != "Bearer y" || h["X-Custom"] != "3" ||
			h["Accept-Charset"] != "c" || h["Cookie"] != "k" {
			t.Errorf("headers = %v", h)
		}
	})
	t.Run("bearer authorization kept", func(t *testing.T) {
		_, ev := evEncode(t, evRoute(t, "/items", "GET"),
			evRequest("GET", "/test/items", [2]string{"authorization", "Bearer x"}), nil)
		if ev["headers"].(map[string]any)["Authorization"] != "Bearer x" {
			t.Errorf("headers = %v", ev["headers"])
		}
	})
	t.Run("client trace id kept without a gateway one", func(t *testing.T) {
		c := evTestContext(time.Now())
		c.TraceID = ""
		_, ev := evEncode(t, evRoute(t, "/items", "GET"),
			evRequest("GET", "/test/items", [2]string{"x-amzn-trace-id", "Root=1-2-3"}), c)
		if ev["headers"].(map[string]any)["X-Amzn-Trace-Id"] != "Root=1-2-3" {
			t.Errorf("headers = %v", ev["headers"])
		}
	})
	t.Run("host header without authority", func(t *testing.T) {
		req := evRequest("GET", "/test/items", [2]string{"host", "h.example:8443"})
		req.Authority = ""
		_, ev := evEncode(t, evRoute(t, "/items", "GET"), req, nil)
		rc := ev["requestContext"].(map[string]any)
		if ev["headers"].(map[string]any)["Host"] != "h.example:8443" || rc["domainName"] != "h.example:8443" ||
			rc["domainPrefix"] != "h" {
			t.Errorf("headers = %v, requestContext = %v", ev["headers"], rc)
		}
	})
	t.Run("canonical case matches net/http", func(t *testing.T) {
		for _, name := range []string{"content-type", "x-api-key", "WWW-AUTHENTICATE-X", "a--b", "-x", "x-",
			"foo_bar", "1abc", "ÿ", "a b", "a\x00b"} {
			_, ev := evEncode(t, evRoute(t, "/items", "GET"), evRequest("GET", "/test/items", [2]string{name, "v"}), nil)
			want := evStdSanitize(http.CanonicalHeaderKey(name))
			if _, ok := ev["headers"].(map[string]any)[want]; !ok {
				t.Errorf("%q: no key %q in %v", name, want, ev["headers"])
			}
		}
	})
}

func TestEventDomain(t *testing.T) {
	for _, tc := range []struct{ authority, prefix string }{
		{"abc123defg.execute-api.us-east-1.amazonaws.com", "abc123defg"},
		{"abc123defg.execute-api.localhost:8080", "abc123defg"},
		{"localhost:8080", "localhost"},
		{"localhost", "localhost"},
		{"[::1]:8080", "[::1]"},
		{"127.0.0.1:8080", "127"},
	} {
		req := evRequest("GET", "/test/items")
		req.Authority = tc.authority
		_, ev := evEncode(t, evRoute(t, "/items", "GET"), req, nil)
		rc := ev["requestContext"].(map[string]any)
		if rc["domainName"] != tc.authority || rc["domainPrefix"] != tc.prefix {
			t.Errorf("%s: domainName %v, domainPrefix %v; want %s", tc.authority, rc["domainName"],
				rc["domainPrefix"], tc.prefix)
		}
	}
}

func TestEventContext(t *testing.T) {
	route := evRoute(t, "/items", "GET")
	route.Route.OperationName = "ListItems"
	route.StageVariables = map[string]string{"z": "1", "a": "2", "m": "<&>"}
	req := evRequest("GET", "/test/items")
	req.Protocol = "HTTP/2.0"
	c := evTestContext(time.Date(2020, 3, 4, 9, 5, 7, 1e6, time.UTC))
	out, ev := evEncode(t, route, req, c)
	rc := ev["requestContext"].(map[string]any)
	for k, want := range map[string]any{"operationName": "ListItems", "protocol": "HTTP/2.0",
		"requestTime": "04/Mar/2020:09:05:07 +0000", "requestTimeEpoch": float64(1583312707001),
		"stage": "test", "resourceId": "res123", "resourcePath": "/items"} {
		if rc[k] != want {
			t.Errorf("requestContext.%s = %v, want %v", k, rc[k], want)
		}
	}
	if !bytes.Contains(out, []byte(`"stageVariables":{"a":"2","m":"<&>","z":"1"}`)) {
		t.Errorf("stage variables not sorted or escaped: %s", out)
	}
	if !bytes.Contains(out, []byte(`"userArn":null},"operationName":"ListItems","path":"/test/items"`)) {
		t.Errorf("operationName is not between identity and path: %s", out)
	}
	route.Route.OperationName = ""
	if out, _ := evEncode(t, route, req, c); bytes.Contains(out, []byte("operationName")) {
		t.Errorf("operationName without an operation (EVT-26): %s", out)
	}
}

func TestEventBinary(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		types       []string
		binary      bool
	}{
		{"image/png", []string{"image/png"}, true},
		{"IMAGE/PNG", []string{"image/png"}, true},
		{"image/png", []string{"Image/PNG"}, true},
		{"image/png; charset=x", []string{"image/png"}, true},
		{" image/png ;q=1", []string{"image/png"}, true},
		{"image/jpeg", []string{"image/*"}, true},
		{"image", []string{"image/*"}, false},
		{"application/json", []string{"image/*"}, false},
		{"application/json", []string{"*/*"}, true},
		{"application/json;charset=utf-8", []string{"application/json"}, true},
		{"text/plain", []string{"*/plain"}, false}, // "*/sub" never matches (BIN-1)
		{"*/plain", []string{"*/plain"}, false},
		{"image/*", []string{"image/png"}, false}, // a wildcard candidate never matches a concrete entry
		{"*/*", []string{"image/png"}, false},
		{"image/png", nil, false},
		{"", []string{"*/*"}, false},
		{"text/plain", []string{"image/png", "text/*"}, true},
		{"application/octet-stream", []string{"application/octet"}, false},
	} {
		if got := matchesBinaryMediaType(tc.contentType, tc.types); got != tc.binary {
			t.Errorf("matchesBinaryMediaType(%q, %q) = %v, want %v", tc.contentType, tc.types, got, tc.binary)
		}
	}

	body := []byte{0x89, 'P', 'N', 'G', 0, 0xff, '"'}
	route := evRoute(t, "/items", "POST")
	route.BinaryMediaTypes = []string{"image/*"}
	for _, tc := range []struct {
		headers [][2]string
		body    string
		b64     bool
	}{
		{[][2]string{{"content-type", "image/png"}}, "iVBORwD/Ig==", true},
		{[][2]string{{"content-type", "text/plain"}, {"content-type", "image/png"}}, "iVBORwD/Ig==", true},
		{[][2]string{{"content-type", "image/png"}, {"content-type", "text/plain"}}, "\uFFFDPNG\x00\uFFFD\"", false},
		{[][2]string{{"content-type", "application/octet-stream"}}, "\uFFFDPNG\x00\uFFFD\"", false}, // EVT-21, EVT-22
		{nil, "\uFFFDPNG\x00\uFFFD\"", false},
	} {
		req := evRequest("POST", "/test/items", tc.headers...)
		req.Body = body
		_, ev := evEncode(t, route, req, nil)
		if ev["body"] != tc.body || ev["isBase64Encoded"] != tc.b64 {
			t.Errorf("%v: body %q isBase64Encoded %v; want %q %v", tc.headers, ev["body"], ev["isBase64Encoded"],
				tc.body, tc.b64)
		}
	}
}

func TestEventEscaping(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{`plain`, `"plain"`},
		{`<a href="x">&amp;</a>`, `"<a href=\"x\">&amp;</a>"`}, // no HTML escaping (§10 trap 3)
		{"back\\slash", `"back\\slash"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"é€😀", `"é€😀"`},                     // UTF-8 written as is
		{"\u2028\u2029", "\"\u2028\u2029\""}, // valid JSON unescaped
		{"a\xffb", "\"a\uFFFDb\""},           // EVT-22
		{"\xed\xa0\x80", "\"\uFFFD\uFFFD\uFFFD\""},
		{"\xe2\x82", "\"\uFFFD\uFFFD\""},
		{"", `""`},
	} {
		got := evAppendString(nil, tc.in)
		if string(got) != tc.out {
			t.Errorf("evAppendString(%q) = %s, want %s", tc.in, got, tc.out)
		}
		want, _ := json.Marshal(tc.in) // same string once parsed
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Errorf("%q: %v", tc.in, err)
		}
		_ = json.Unmarshal(want, &b)
		if a != b {
			t.Errorf("%q: parses to %q, encoding/json's to %q", tc.in, a, b)
		}
	}
	// A text body goes through the same writer.
	req := evRequest("POST", "/test/items", [2]string{"content-type", "text/html"})
	req.Body = []byte("<p>\"x\" & y</p>\n\xc3\x28")
	out, ev := evEncode(t, evRoute(t, "/items", "POST"), req, nil)
	if !bytes.Contains(out, []byte(`"body":"<p>\"x\" & y</p>\n`+"\uFFFD("+`","isBase64Encoded":false}`)) {
		t.Errorf("body written as %s", out)
	}
	if ev["body"] != "<p>\"x\" & y</p>\n\uFFFD(" {
		t.Errorf("body = %q", ev["body"])
	}
}

// TestEventMatchResourceAgrees checks the allocation-free matcher against translator.MatchResource.
func TestEventMatchResourceAgrees(t *testing.T) {
	resources := []string{"/", "/a", "/a/b", "/{x}", "/a/{x}", "/{x}/b", "/{proxy+}", "/a/{proxy+}",
		"/a/{x}/{y+}", "/{x}/{y}"}
	paths := []string{"", "/", "a", "a/", "a//", "a/b", "a/b/", "a//b", "/a", "//a", "a/b/c", "x", "x/b",
		"a/%2F/b", "a/b//", "b", "a/x/y/z/", "a/x/", "a/x//y"}
	for _, rp := range resources {
		segs, err := ir.ParseResourcePath(rp)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			evCompareMatchers(t, segs, p)
		}
	}
}

func evCompareMatchers(t testing.TB, segs []ir.Segment, rest string) {
	t.Helper()
	want, wantOK := translator.MatchResource(segs, rest)
	got, gotOK := translator.AppendParams(nil, segs, rest)
	if gotOK != wantOK {
		t.Fatalf("match %v %q: ok %v, translator %v", segs, rest, gotOK, wantOK)
	}
	if !gotOK {
		return
	}
	m := map[string]string{}
	for _, p := range got {
		m[p.Name] = p.Value
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Fatalf("match %v %q (-translator +event):\n%s", segs, rest, d)
	}
}

// evNoDuplicateKeys walks an event's JSON and reports an object with a repeated key.
func evNoDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if seen[k.(string)] {
					return fmt.Errorf("duplicate key %q", k)
				}
				seen[k.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the event: %v", err)
	}
	return nil
}

// ---- fuzzing ----

// FuzzAppendEvent: for any path, query, headers and body the encoder does not panic, writes valid JSON without
// repeated keys, agrees with the encoding/json oracle, and its matcher agrees with translator.MatchResource.
//
//	go test ./lambdaproxy -run '^$' -fuzz FuzzAppendEvent -fuzztime 60s
func FuzzAppendEvent(f *testing.F) {
	f.Add(uint8(0), "/test/proxy-value/", "a=1&a=2", "accept: */*\nuser-agent: x", []byte(nil), "")
	f.Add(uint8(1), "/test/pets/42", "x=%2B+y;z", "content-type: image/png\nmv: a\nmv: b", []byte{0, 0xff}, "image/*")
	f.Add(uint8(2), "//test//a/b//c/", "%FF=%FE&=&&", "x-envoy-a: 1\nhost: h\nconnection: close", []byte("{\"a\":1}"), "*/*")
	f.Add(uint8(3), "/test", "", "", []byte("\xc3\x28<>&"), "text/plain")
	f.Add(uint8(4), "/test/a/x/y%2Fz", "q=\"\\\n", "Authorization: AWS4-HMAC-SHA256 x\nX-AMZN-TRACE-ID: t", []byte("x"), "")
	resources := []string{"/{proxy+}", "/pets/{petId}", "/", "/a/{x}/{y+}", "/hardcoded"}
	f.Fuzz(func(t *testing.T, which uint8, path, query, headers string, body []byte, binaryType string) {
		route := evRoute(t, resources[int(which)%len(resources)], "ANY")
		if binaryType != "" {
			route.BinaryMediaTypes = []string{binaryType}
		}
		if which&0x80 != 0 {
			route.StageVariables = map[string]string{"k": query, headers: path}
			route.Route.OperationName = headers
		}
		req := &Request{Method: "POST", Path: path, Authority: "a1b2c3d4e5.execute-api.localhost", Body: body,
			SourceIP: "192.0.2.10", Protocol: "HTTP/1.1"}
		if query != "" || which&0x40 != 0 {
			req.Path += "?" + query
		}
		for _, line := range strings.Split(headers, "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok {
				if which&0x10 == 0 { // as Envoy hands them over; else as a caller might
					name = strings.ToLower(name)
				}
				req.Headers = append(req.Headers, [2]string{name, strings.TrimSpace(value)})
			}
		}
		c := evTestContext(time.Unix(1741115717, 135e6))
		if which&0x20 != 0 {
			c.TraceID = ""
		}

		rawPath, _, _ := strings.Cut(req.Path, "?")
		if _, rest, ok := translator.SplitStagePath(rawPath); ok {
			evCompareMatchers(t, route.Route.Segments, rest)
		}
		out, err := AppendEvent([]byte("x"), route, req, c)
		if err != nil {
			if string(out) != "x" {
				t.Fatalf("error %v but dst changed: %q", err, out)
			}
			if _, serr := evStdlibEvent(route, req, c); serr == nil {
				t.Fatalf("AppendEvent: %v; the oracle accepts the request", err)
			}
			return
		}
		out = out[1:]
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		if err := evNoDuplicateKeys(out); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		evCheckOracle(t, route, req, c, got)
	})
}

// TestEventSpecial8 checks the word-at-a-time test against the byte table for every byte value in every
// position, next to plain bytes and next to other special bytes (borrows).
func TestEventSpecial8(t *testing.T) {
	special := func(c byte) bool { return !evPlainByte[c] }
	for _, filler := range []byte{'a', ' ', '~', 0x21, 0x7f, 0x00, '"', 0xff} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var b [8]byte
				for i := range b {
					b[i] = filler
				}
				b[pos] = byte(c)
				want := false
				for _, x := range b {
					want = want || special(x)
				}
				if got := evSpecialMask(evLoad8(string(b[:]), 0)) != 0; got != want {
					t.Fatalf("evSpecialMask(%q) != 0 is %v, want %v", b, got, want)
				}
				checkFirstSpecial(t, b, special)
			}
		}
	}
}

// checkFirstSpecial: the lowest byte flagged by evSpecialMask is the first special byte of b.
func checkFirstSpecial(t *testing.T, b [8]byte, special func(byte) bool) {
	t.Helper()
	first := 8
	for i := len(b) - 1; i >= 0; i-- {
		if special(b[i]) {
			first = i
		}
	}
	if got := bits.TrailingZeros64(evSpecialMask(evLoad8(string(b[:]), 0))) >> 3; got != first {
		t.Fatalf("evSpecialMask(%q) flags byte %d first, want %d", b, got, first)
	}
}

// TestEventSpecialMaskFirst checks the first flagged byte on random words mixing plain and special bytes.
func TestEventSpecialMaskFirst(t *testing.T) {
	special := func(c byte) bool { return !evPlainByte[c] }
	pick := []byte{'a', ' ', '~', 0x21, 0x7f, 0x00, 0x1f, 0x20, '"', '\\', '#', '[', ']', 0x80, 0xff, 0xc3, 0x01, 'A'}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 200000 {
		var b [8]byte
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = pick[r.IntN(len(pick))]
			}
		}
		checkFirstSpecial(t, b, special)
	}
}

func TestEventCLF(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2025, 3, 4, 19, 15, 17, 135e6, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(5, 6, 7, 8, 9, 10, 0, time.UTC),
	} {
		want := tm.Format("02/Jan/2006:15:04:05 +0000")
		if got := string(evAppendCLF(nil, tm)); got != want {
			t.Errorf("evAppendCLF(%v) = %s, want %s", tm, got, want)
		}
	}
}

// evRefString is evAppendString written byte by byte, the reference of the escaping tests.
func evRefString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(byte(r))
		case r < 0x20:
			fmt.Fprintf(&b, "%s", map[rune]string{'\n': `\n`, '\r': `\r`, '\t': `\t`, '\b': `\b`, '\f': `\f`}[r])
			if !strings.ContainsRune("\n\r\t\b\f", r) {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r) // U+FFFD for an invalid byte
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}

// TestEventEscapingPositions puts every kind of special byte at every offset of strings long enough for the
// word-at-a-time path and compares with a byte-by-byte reference.
func TestEventEscapingPositions(t *testing.T) {
	ref := evRefString
	for _, special := range []string{"\"", "\\", "\x00", "\x1f", "\n", "é", "€", "😀", "\xff", "\xe2\x82", "\x7f", "<"} {
		for n := 0; n < 20; n++ {
			for pos := 0; pos <= n; pos++ {
				s := strings.Repeat("ab", n)[:n]
				s = s[:pos] + special + s[pos:]
				if got, want := string(evAppendString(nil, s)), ref(s); got != want {
					t.Fatalf("evAppendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}

// TestEventEscapingRandom compares evAppendString with the byte-by-byte reference on random strings dense in
// special bytes, of every length around the word size (the last word overlapping the one before).
func TestEventEscapingRandom(t *testing.T) {
	pick := []string{"a", "b", " ", "~", "\"", "\\", "\x00", "\x1f", "\n", "\t", "é", "€", "😀", "\xff", "\xe2\x82", "\x7f", "<", "abcdefgh"}
	r := mrand.New(mrand.NewPCG(3, 4))
	var b strings.Builder
	for range 100000 {
		b.Reset()
		for n := r.IntN(12); n > 0; n-- {
			b.WriteString(pick[r.IntN(len(pick))])
		}
		s := b.String()
		if got, want := string(evAppendString(nil, s)), evRefString(s); got != want {
			t.Fatalf("evAppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestEventDropWrittenAgrees: recognising names by what the event writes drops exactly the lines that folding
// each name's case drops (EVT-8, EVT-9, x-envoy-*), for tokens in any case and for names that are no token.
func TestEventDropWrittenAgrees(t *testing.T) {
	byFolding := func(name, value string) bool {
		for _, d := range evTestDropped {
			if evEqualFold(name, d) {
				return true
			}
		}
		if len(name) >= 8 && evEqualFold(name[:8], "x-envoy-") {
			return true
		}
		return evEqualFold(name, "authorization") && len(value) >= 16 && evEqualFold(value[:16], "AWS4-HMAC-SHA256")
	}
	names := append([]string{"x-envoy-a b", "X-ENVOY-", "x-envoy", "x-envoyx", "x-envoy-\"q\"", "x-envoy-é", "authorization",
		"AUTHORIZATION", "authorization ", "host", "content-type", "te ", "t e", "accept", "x-amzn-trace-id"}, evTestDropped...)
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, base := range names {
		for range 20 {
			b := []byte(base)
			for i := range b {
				if r.IntN(2) == 0 && 'a' <= b[i] && b[i] <= 'z' {
					b[i] -= 'a' - 'A'
				}
			}
			name := string(b)
			for _, value := range []string{"x", "AWS4-HMAC-SHA256 Credential=A", "aws4-hmac-sha256 c"} {
				written := string(evAppendHeaderName(nil, name))
				if got, want := evDropWritten(written, value), byFolding(name, value); got != want {
					t.Errorf("%q (written %q), value %q: dropped %v, want %v", name, written, value, got, want)
				}
			}
		}
	}
}

// TestShortEscapeTable: the inline two-byte escapes of evAppendStringBody are evAppendEscape's, byte for byte, and
// no other byte has one.
func TestShortEscapeTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		e := evShortEscape[c]
		if e == 0 {
			if c < utf8.RuneSelf && !evPlainByte[c] && len(evAppendEscape(nil, byte(c))) == 2 {
				t.Errorf("byte %#x: two-byte escape missing from the table", c)
			}
			continue
		}
		if got, want := string([]byte{'\\', e}), string(evAppendEscape(nil, byte(c))); got != want {
			t.Errorf("byte %#x: table escape %q, evAppendEscape %q", c, got, want)
		}
	}
	in := "{\"a\":\"x\\y\n\r\t\b\f\x01\"}"
	if got, want := string(evAppendStringBody(nil, in)), string(evAppendString(nil, in)); `"`+got+`"` != want {
		t.Errorf("body %q, string %q", got, want)
	}
}

// TestEventCopiedValues: values written once and copied (the method, the host as domainName and its prefix, the
// last User-Agent as identity.userAgent) are the encoding/json oracle's when they need escapes, when the host comes
// from a host line, and when there is no host or user agent.
func TestEventCopiedValues(t *testing.T) {
	for _, tc := range []struct {
		name, method, authority string
		headers                 [][2]string
	}{
		{"escaped host and agent", "POST", "a\"b\\.c\xff:80", [][2]string{{"user-agent", "x"}, {"user-agent", "q\"\x01é\xfe"}}},
		{"escape after the prefix", "GET", "plain.h\"x", nil},
		{"ipv6", "GET", "[::1]:8080", [][2]string{{"user-agent", "ua"}}},
		{"host line", "M\"X", "", [][2]string{{"host", "h\".example"}, {"user-agent", "a"}, {"user-agent", "b"}}},
		{"no host, no agent", "GET", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := evRequest(tc.method, "/test/items", tc.headers...)
			req.Authority = tc.authority
			_, ev := evEncode(t, evRoute(t, "/items", tc.method), req, nil)
			rc := ev["requestContext"].(map[string]any)
			if rc["httpMethod"] != ev["httpMethod"] || rc["domainName"] != ev["headers"].(map[string]any)["Host"] &&
				!(rc["domainName"] == "" && ev["headers"].(map[string]any)["Host"] == nil) {
				t.Errorf("requestContext %v, event %v", rc, ev)
			}
		})
	}
}

// TestEventTimeCached: requestTime and requestTimeEpoch written from the scratch's per-second text are those
// formatted afresh, for times in one second, the next, an earlier one again, before 1970 and after 9999.
func TestEventTimeCached(t *testing.T) {
	var s evScratch
	base := time.Date(2025, 3, 4, 19, 15, 17, 0, time.UTC)
	for _, tm := range []time.Time{
		base.Add(135 * time.Millisecond), base.Add(5 * time.Millisecond), base.Add(999*time.Millisecond + 999),
		base.Add(time.Second), base.Add(1500 * time.Millisecond), base,
		time.Unix(0, 0), time.Unix(0, 7e6), time.Unix(-1, 5e6), time.Unix(-86400*400, 0),
		time.Date(10000, 1, 1, 0, 0, 0, 42e6, time.UTC), base.In(time.FixedZone("X", 3600)),
	} {
		want := tm.UTC().Format("02/Jan/2006:15:04:05 +0000") + `","requestTimeEpoch":` + strconv.FormatInt(tm.UnixMilli(), 10)
		if got := string(s.appendTime([]byte("x"), tm)); got != "x"+want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}

// TestEventHeaderOrder: headers and multiValueHeaders list the names in byte order of the names as written, with
// names that share their first 8 or 16 bytes, are longer than 16, or are prefixes of one another, in random order.
func TestEventHeaderOrder(t *testing.T) {
	pool := []string{"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-prot", "x-forwarded-protocol",
		"x-forwarded-protocoL", "x-forwarded-protocolx", "x-forwarde", "x-forward", "x-forwar", "x-forwa", "x",
		"x-forwarded-proto-version", "x-forwarded-proto-versioo", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgh-ijklmnop",
		"abcdefgh-ijklmnoq", "abcdefgh-ijklmnop-q", "abcdefgh-ijklmnop-", "Abcdefgh", "ABCDEFGH-IJKLMNOP-Q", "a b", "a\"b"}
	r := mrand.New(mrand.NewPCG(9, 10))
	for range 300 {
		var lines [][2]string
		for n := r.IntN(30); n > 0; n-- {
			lines = append(lines, [2]string{pool[r.IntN(len(pool))], strconv.Itoa(r.IntN(5))})
		}
		req := evRequest("GET", "/test/items", lines...)
		out, _ := evEncode(t, evRoute(t, "/items", "GET"), req, nil)
		for _, obj := range []string{`"headers":`, `"multiValueHeaders":`} {
			dec := json.NewDecoder(bytes.NewReader(out[bytes.Index(out, []byte(obj))+len(obj):]))
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for dec.More() {
				k, _ := dec.Token()
				keys = append(keys, k.(string))
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.IsSorted(keys) {
				t.Fatalf("%s keys not in byte order: %q", obj, keys)
			}
		}
	}
}
