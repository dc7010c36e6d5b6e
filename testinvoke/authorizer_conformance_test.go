package testinvoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/conformance"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

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
		if !conformance.LambdaAuthorizerCase(c.ID) {
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
	inv := caseInvoker(t, c)
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
		req := caseRequest(t, r)
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
		for _, p := range conformance.CheckExpect(c, &exps[i], printedOutput(t, got)) {
			t.Errorf("request %d: %s", i, p)
		}
	}
}

// TestConformanceCognitoAPIKeys runs the Cognito and API-key cases of authorizers/ (operation-security-overrides-root
// is a Cognito case) through the evaluator with the
// jwt_authn and ext_authz models, in-process and over the wire (the authorization service and the ext_proc
// service over gRPC on unix sockets). A case without functionResponse must not reach the function.
func TestConformanceCognitoAPIKeys(t *testing.T) {
	cases, err := conformance.Load(testutil.SharedDir(t), "authorizers")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		name := strings.TrimPrefix(c.ID, "authorizers/")
		if !strings.HasPrefix(name, "cognito-") && !strings.HasPrefix(name, "api-key-") && name != "operation-security-overrides-root" {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) { runAuthzCase(t, c, false) })
		t.Run(c.ID+"/wire", func(t *testing.T) { runAuthzCase(t, c, true) })
	}
	if n != 9 {
		t.Fatalf("want the 8 cognito-* and api-key-* cases and operation-security-overrides-root, found %d", n)
	}
}

func runAuthzCase(t *testing.T, c *conformance.Case, wire bool) {
	inv := caseInvoker(t, c)
	var err error
	if c.JWKS != nil {
		if inv.JWKS, err = evaluator.ParseJWKS(c.JWKS); err != nil {
			t.Fatal(err)
		}
	}
	if c.APIKeys != nil {
		if inv.Authz.Keys, err = authz.ParseKeyFile(c.File, c.APIKeys); err != nil {
			t.Fatal(err)
		}
	}
	var event []byte
	called := false
	inv.Lambda = &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		called = true
		event = append([]byte(nil), payload...)
		return functionResult(t, c.FunctionResponse), nil
	})}
	if wire {
		inv.Processor, inv.Lambda = startProcessor(t, inv.Lambda, inv.RouteKeys()), nil
		inv.AuthzClient = startAuthz(t, inv.Authz)
	}
	req := caseRequest(t, c.Request)
	got, err := inv.Invoke(context.Background(), req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if wire && got.Integration != nil && event != nil {
		got.Integration.Event = event
	}
	if c.FunctionResponse == nil && called {
		t.Errorf("the function was invoked; the case expects the request refused before the integration")
	}
	for _, p := range conformance.Check(c, printedOutput(t, got)) {
		t.Error(p)
	}
}
