package testinvoke_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
)

// TestConformance runs every recorded routing and HTTP_PROXY case through test-invoke's code path: the generated
// Envoy configuration, the route evaluator and, where a route enables it, the processor — once in-process, and
// once over the wire ("wire"): the ext_proc service over gRPC on a unix socket, played the exact message sequence
// Envoy plays for the generated configuration (evaluator.ExtProcExchange).
func TestConformance(t *testing.T) {
	shared := testutil.SharedDir(t)
	for _, group := range []string{"routing", "http-proxy", "lambda-event", "lambda-response"} {
		cases, err := conformance.Load(shared, group)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.ID, func(t *testing.T) { runCase(t, c, false) })
			t.Run(c.ID+"/wire", func(t *testing.T) { runCase(t, c, true) })
		}
	}
}

func runCase(t *testing.T, c *conformance.Case, wire bool) {
	res, err := loader.Load(c.File, c.API, loader.Options{})
	if err != nil {
		t.Fatalf("load api: %v", err)
	}
	req := testinvoke.Request{Method: c.Request.Method, Target: c.Request.Target}
	for _, h := range c.Request.Headers {
		if len(h) != 2 {
			t.Fatalf("header %v is not [name, value]", h)
		}
		req.Headers = append(req.Headers, [2]string{h[0], h[1]})
		// The case addresses its API by the execute-api host: the API's id is the host's first label (RTE-1).
		if strings.EqualFold(h[0], "host") {
			res.API.Id = strings.SplitN(h[1], ".", 2)[0]
		}
	}
	if req.Body, err = c.Request.BodyBytes(); err != nil {
		t.Fatal(err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(c.File, res.API, c.Stage, c.StageVariables)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("translate: %v", err)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.DryRun = true // the backend of a recorded case is not reachable; the upstream request is what is checked
	// The function answers what the recording says it returned (cases without one test what happens before).
	var event []byte
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		event = append([]byte(nil), payload...)
		return functionResult(t, c.FunctionResponse), nil
	})}
	if wire {
		// Only the service answers: without an in-process Lambda test-invoke could not produce a response.
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda), nil
	}
	got, err := inv.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if wire && got.Integration != nil && got.Integration.Type == "AWS_PROXY" && event != nil {
		got.Integration.Event = event // what the function received over the wire
	}

	if c.Expect.Route != nil {
		checkRoute(t, c.Expect.Route, got.Route)
	}
	if c.Expect.Response != nil {
		checkResponse(t, c.Expect.Response, got.Response)
	}
	if c.Expect.Upstream != nil {
		if got.Integration == nil || got.Integration.Request == nil {
			t.Fatalf("want an upstream request, got integration %+v response %+v", got.Integration, got.Response)
		}
		checkUpstream(t, c.Expect.Upstream, got.Integration.Request)
	}
	if c.Expect.Event != nil || c.Expect.EventAbsentHeaders != nil {
		if got.Integration == nil || got.Integration.Event == nil {
			t.Fatalf("want a Lambda event, got integration %+v", got.Integration)
		}
		checkEvent(t, c, got.Integration.Event)
	}
}

// functionResult is the recorded function output: payload (any JSON), raw bytes, and/or a function error.
func functionResult(t *testing.T, raw json.RawMessage) *lambdainvoke.Result {
	if raw == nil {
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":""}`)}
	}
	var fr struct {
		Payload       json.RawMessage `json:"payload"`
		Raw           *string         `json:"raw"`
		FunctionError string          `json:"functionError"`
	}
	if err := json.Unmarshal(raw, &fr); err != nil {
		t.Fatalf("functionResponse: %v", err)
	}
	res := &lambdainvoke.Result{Payload: fr.Payload, FunctionError: fr.FunctionError}
	if fr.Raw != nil {
		res.Payload = []byte(*fr.Raw)
	}
	return res
}

// checkEvent compares the event with the expectation (README matching rules: header names case-insensitive).
func checkEvent(t *testing.T, c *conformance.Case, event json.RawMessage) {
	t.Helper()
	if !json.Valid(event) {
		t.Fatalf("event is not valid JSON: %s", event)
	}
	var got map[string]any
	if err := json.Unmarshal(event, &got); err != nil {
		t.Fatal(err)
	}
	if c.Expect.Event != nil {
		var want map[string]any
		if err := json.Unmarshal(c.Expect.Event, &want); err != nil {
			t.Fatal(err)
		}
		lowerHeaderKeys(want)
		lowerHeaderKeys(got)
		if d := conformance.MatchJSON("event", want, got); d != "" {
			t.Errorf("%s\nevent: %s", d, event)
		}
	}
	headers, _ := got["headers"].(map[string]any)
	for _, name := range c.Expect.EventAbsentHeaders {
		if _, present := headers[strings.ToLower(name)]; present {
			t.Errorf("event.headers has %s, which API Gateway drops", name)
		}
	}
}

func lowerHeaderKeys(ev map[string]any) {
	for _, k := range []string{"headers", "multiValueHeaders"} {
		if m, ok := ev[k].(map[string]any); ok {
			low := make(map[string]any, len(m))
			for name, v := range m {
				low[strings.ToLower(name)] = v
			}
			ev[k] = low
		}
	}
}

func checkRoute(t *testing.T, want json.RawMessage, got *testinvoke.RouteRef) {
	t.Helper()
	if string(want) == "null" {
		if got != nil {
			t.Errorf("route: want none, got %+v", *got)
		}
		return
	}
	var w testinvoke.RouteRef
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if got == nil || *got != w {
		t.Errorf("route: want %+v, got %+v", w, got)
	}
}

func checkResponse(t *testing.T, want *conformance.Response, got *testinvoke.Message) {
	t.Helper()
	if got == nil {
		t.Fatal("want a response, got none")
	}
	if want.StatusCode != nil && *want.StatusCode != got.StatusCode {
		t.Errorf("status: want %d, got %d", *want.StatusCode, got.StatusCode)
	}
	for _, p := range conformance.MatchHeaders("response", want.Headers, got.Headers) {
		t.Error(p)
	}
	if want.Body != nil && *want.Body != got.Body {
		t.Errorf("body: want %q, got %q", *want.Body, got.Body)
	}
	if want.BodyJSON != nil {
		var w, g any
		if err := json.Unmarshal(want.BodyJSON, &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(got.Body), &g); err != nil {
			t.Fatalf("body %q is not JSON: %v", got.Body, err)
		}
		if d := conformance.MatchJSON("body", w, g); d != "" {
			t.Error(d)
		}
	}
}

func checkUpstream(t *testing.T, want *conformance.Upstream, got *testinvoke.Message) {
	t.Helper()
	if want.Method != nil && *want.Method != got.Method {
		t.Errorf("upstream method: want %s, got %s", *want.Method, got.Method)
	}
	gotURL := got.URL
	if want.Query != nil {
		u, err := url.Parse(got.URL)
		if err != nil {
			t.Fatal(err)
		}
		if q := u.Query(); !reflect.DeepEqual(map[string][]string(q), want.Query) {
			t.Errorf("upstream query: want %v, got %v", want.Query, q)
		}
		gotURL, _, _ = strings.Cut(got.URL, "?")
	}
	if want.URL != nil && *want.URL != gotURL {
		t.Errorf("upstream url: want %s, got %s", *want.URL, gotURL)
	}
	for _, p := range conformance.MatchHeaders("upstream", want.Headers, got.Headers) {
		t.Error(p)
	}
	if want.Body != nil && *want.Body != got.Body {
		t.Errorf("upstream body: want %q, got %q", *want.Body, got.Body)
	}
}
