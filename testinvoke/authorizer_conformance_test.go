package testinvoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/testinvoke/output"
	"github.com/proxyplus/proxyplus/translator"
)

// lambdaAuthorizerCase reports whether an authorizer case is about Lambda authorizers (issue 11 scope 1), not
// Cognito or API keys (operation-security-overrides-root is a Cognito case).
func lambdaAuthorizerCase(id string) bool {
	name := strings.TrimPrefix(id, "authorizers/")
	for _, p := range []string{"token-", "request-", "policy-", "context-value-types-stringified", "root-security-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestConformanceLambdaAuthorizers runs every Lambda-authorizer case through the evaluator with the processor's
// code in-process, and over the wire (the ext_proc service over gRPC, played Envoy's message sequence). The
// authorizer function answers what the case's functions: says, the integration its functionResponse; calls are
// counted by function name. A sequence of requests (requests:) goes to one deployed API: the cache is shared.
func TestConformanceLambdaAuthorizers(t *testing.T) {
	cases, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		if !lambdaAuthorizerCase(c.ID) {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) { runAuthorizerCase(t, c, false) })
		t.Run(c.ID+"/wire", func(t *testing.T) { runAuthorizerCase(t, c, true) })
	}
	if n != 15 {
		t.Errorf("ran %d Lambda-authorizer cases, want 15", n)
	}
}

// caseFunctions answers invocations as the case says and remembers the authorizer calls of the current request.
type caseFunctions struct {
	t  *testing.T
	c  *conformance.Case
	mu sync.Mutex
	// calls and lastEvent are the current request's authorizer invocations; event the integration's.
	calls     int
	lastEvent json.RawMessage
	event     json.RawMessage
}

func (f *caseFunctions) Invoke(_ context.Context, function string, payload []byte) (*lambdainvoke.Result, error) {
	name := function[strings.LastIndexByte(function, ':')+1:]
	f.mu.Lock()
	defer f.mu.Unlock()
	if raw, ok := f.c.Functions[name]; ok {
		f.calls++
		f.lastEvent = append(json.RawMessage(nil), payload...)
		return functionResult(f.t, raw), nil
	}
	if f.c.FunctionResponse == nil {
		return nil, fmt.Errorf("function %s: the case has no functionResponse", function)
	}
	f.event = append(json.RawMessage(nil), payload...)
	return functionResult(f.t, f.c.FunctionResponse), nil
}

func runAuthorizerCase(t *testing.T, c *conformance.Case, wire bool) {
	res, err := loader.Load(c.File, c.API, loader.Options{})
	if err != nil {
		t.Fatalf("load api: %v", err)
	}
	cfg, diags := translator.Translate([]translator.Input{translator.DeployStage(c.File, res.API, c.Stage, c.StageVariables)}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatalf("translate: %v", err)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv.DryRun = true
	fns := &caseFunctions{t: t, c: c}
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: fns}
	if wire {
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
	}
	reqs, exps := c.Sequence()
	if len(reqs) != len(exps) {
		t.Fatalf("%d requests, %d expectations", len(reqs), len(exps))
	}
	for i, r := range reqs {
		req := testinvoke.Request{Method: r.Method, Target: r.Target}
		for _, h := range r.Headers {
			req.Headers = append(req.Headers, [2]string{h[0], h[1]})
		}
		if req.Body, err = r.BodyBytes(); err != nil {
			t.Fatal(err)
		}
		fns.calls, fns.lastEvent, fns.event = 0, nil, nil
		got, err := inv.Invoke(context.Background(), req)
		if err != nil {
			t.Fatalf("request %d: invoke: %v", i, err)
		}
		if wire {
			// What the functions received over the wire.
			got.Authorizer = &testinvoke.AuthorizerCalls{Calls: fns.calls, Event: fns.lastEvent}
			if got.Integration != nil {
				got.Integration.Event = fns.event
			}
		} else if got.Authorizer == nil || got.Authorizer.Calls != fns.calls {
			t.Errorf("request %d: test-invoke reports authorizer %+v, the function was called %d times", i, got.Authorizer, fns.calls)
		}
		printed, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var out output.Result
		if err := json.Unmarshal(printed, &out); err != nil {
			t.Fatal(err)
		}
		for _, p := range conformance.CheckExpect(c, &exps[i], &out) {
			t.Errorf("request %d: %s", i, p)
		}
	}
}
