package testinvoke_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/testinvoke/output"
	"github.com/proxyplus/proxyplus/translator"
)

// TestConformance runs every recorded routing and HTTP_PROXY case through test-invoke's code path: the generated
// Envoy configuration, the route evaluator and, where a route enables it, the processor — once in-process, and
// once over the wire ("wire"): the ext_proc service over gRPC on a unix socket, played the exact message sequence
// Envoy plays for the generated configuration (evaluator.ExtProcExchange).
func TestConformance(t *testing.T) {
	shared := testutil.SharedDir(t)
	for _, group := range []string{"routing", "http-proxy", "lambda-event", "lambda-response", "mock-cors"} {
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
	req := caseRequest(t, c.Request)
	inv := caseInvoker(t, c)
	// The function answers what the recording says it returned (cases without one test what happens before).
	var event []byte
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		event = append([]byte(nil), payload...)
		return functionResult(t, c.FunctionResponse), nil
	})}
	if wire {
		// Only the service answers: without an in-process Lambda test-invoke could not produce a response.
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
	}
	got, err := inv.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if wire && got.Integration != nil && got.Integration.Type == "AWS_PROXY" && event != nil {
		got.Integration.Event = event // what the function received over the wire
	}
	for _, p := range conformance.Check(c, printedOutput(t, got)) {
		t.Error(p)
	}
}

// deployConfig loads doc (file names it) and deploys it on stage with the stage variables vars.
func deployConfig(t testing.TB, file string, doc []byte, stage string, vars map[string]string) *ir.Config {
	t.Helper()
	res, err := loader.Load(file, doc, loader.Options{})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(file, res.API, stage, vars)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("translate %s: %v", file, err)
	}
	return cfg
}

// caseInvoker deploys the case's API on its stage and returns a dry-run test-invoke for it: the backend of a
// recorded case is not reachable; the upstream request is what is checked.
func caseInvoker(t *testing.T, c *conformance.Case) *testinvoke.Invoker {
	t.Helper()
	cfg := deployConfig(t, c.File, c.API, c.Stage, c.StageVariables)
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.DryRun = true
	return inv
}

// caseRequest is a recorded request as test-invoke takes it.
func caseRequest(t *testing.T, r conformance.Request) testinvoke.Request {
	t.Helper()
	req := testinvoke.Request{Method: r.Method, Target: r.Target}
	for _, h := range r.Headers {
		if len(h) != 2 {
			t.Fatalf("header %v is not [name, value]", h)
		}
		req.Headers = append(req.Headers, [2]string{h[0], h[1]})
	}
	var err error
	if req.Body, err = r.BodyBytes(); err != nil {
		t.Fatal(err)
	}
	return req
}

// printedOutput is what test-invoke prints for got, read back as the output schema the cases are checked against.
func printedOutput(t *testing.T, got *testinvoke.Result) *output.Result {
	t.Helper()
	printed, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var out output.Result
	if err := json.Unmarshal(printed, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// functionResult is the recorded function output: payload (any JSON), raw bytes, and/or a function error.
func functionResult(t *testing.T, raw json.RawMessage) *lambdainvoke.Result {
	if raw == nil {
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":""}`)}
	}
	var fr conformance.FunctionOutput
	if err := json.Unmarshal(raw, &fr); err != nil {
		t.Fatalf("functionResponse: %v", err)
	}
	res := &lambdainvoke.Result{Payload: fr.Payload, FunctionError: fr.FunctionError}
	if fr.Raw != nil {
		res.Payload = []byte(*fr.Raw)
	}
	return res
}
