package authorizer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

func mustPolicy(t testing.TB, doc string) *authorizer.Policy {
	t.Helper()
	p, err := authorizer.ParsePolicy(json.RawMessage(doc))
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", doc, err)
	}
	return p
}

const arnPets42 = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/GET/pets/42"

func TestPolicyEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      authorizer.Decision
	}{
		{"exact allow", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arnPets42 + `"}]}`, authorizer.Allow},
		{"single statement object", `{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arnPets42 + `"}}`, authorizer.Allow},
		{"star verb", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:*:*/prod/*/pets/42"}]}`, authorizer.Allow},
		{"question mark", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:*:*/prod/GET/pets/4?"}]}`, authorizer.Allow},
		{"question mark needs one char", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:*:*/prod/GET/pets/42?"}]}`, authorizer.ImplicitDeny},
		{"resource list", `{"Statement":[{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["arn:aws:execute-api:*:*:*/prod/POST/*","arn:aws:execute-api:*:*:*/prod/GET/pets/*"]}]}`, authorizer.Allow},
		{"other stage", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:*:*/test/*"}]}`, authorizer.ImplicitDeny},
		{"explicit deny wins", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/prod/GET/pets/*"}]}`, authorizer.ExplicitDeny},
		{"deny first still wins", `{"Statement":[{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}`, authorizer.ExplicitDeny},
		{"other action ignored", `{"Statement":[{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"*"}]}`, authorizer.ImplicitDeny},
		{"action wildcard, case-insensitive", `{"Statement":[{"Effect":"Allow","Action":"Execute-API:*","Resource":"*"}]}`, authorizer.Allow},
		{"not resource", `{"Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:execute-api:*:*:*/prod/POST/*"}]}`, authorizer.Allow},
		{"case-sensitive path", `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/prod/GET/PETS/42"}]}`, authorizer.ImplicitDeny},
		{"empty statement list", `{"Statement":[]}`, authorizer.ImplicitDeny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustPolicy(t, tc.doc).Evaluate(arnPets42); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for _, doc := range []string{`{}`, `{"Statement":null}`, `{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Resource":"*"}]}`, `{"Statement":[{"Effect":"Allow","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*","Resource":7}]}`, `[]`, `"x"`} {
		if _, err := authorizer.ParsePolicy(json.RawMessage(doc)); err == nil {
			t.Errorf("ParsePolicy(%s) accepted", doc)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"a*", "a", true}, {"*a", "ba", true}, {"*a", "ab", false},
		{"a*b*c", "a-x-b-y-c", true}, {"a*b*c", "a-x-c-y-b", false}, {"??", "ab", true}, {"??", "a", false},
		{"a**b", "ab", true}, {"*/GET/*", "x/prod/GET/pets", true},
	} {
		if got := authorizer.Match(tc.p, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestParseResult(t *testing.T) {
	res, err := authorizer.ParseResult([]byte(`{"principalId":"u1","usageIdentifierKey":"key-1","policyDocument":{"Statement":[]},"context":{"s":"x","n":1.50,"b":false,"z":null}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.PrincipalID != "u1" || res.UsageIdentifierKey != "key-1" {
		t.Errorf("principal %q key %q", res.PrincipalID, res.UsageIdentifierKey)
	}
	if got := fmt.Sprint(res.Context); got != "[[b false] [n 1.50] [s x]]" {
		t.Errorf("context %s", got)
	}
	if got := string(res.AppendContextJSON(nil, 7)); got != `{"b":"false","n":"1.50","s":"x","principalId":"u1","integrationLatency":7}` {
		t.Errorf("context JSON %s", got)
	}
	for _, bad := range []string{`{"statusCode":401,"body":"x"}`, `{"principalId":"u"}`, `{"policyDocument":{"Statement":[]}}`,
		`{"principalId":"u","policyDocument":{"Statement":[]},"context":{"o":{"a":1}}}`, `{"principalId":"u","policyDocument":{"Statement":[]},"context":{"l":[1]}}`, `not json`} {
		if _, err := authorizer.ParseResult([]byte(bad), ""); err == nil {
			t.Errorf("ParseResult(%s) accepted", bad)
		}
	}
}

// route is an authorizer-protected GET /pets/{petId} of API a1b2c3, stage prod.
func route(typ string, ttl time.Duration, sources ...ir.ValueSource) *ir.ProcessorRoute {
	segs, _ := ir.ParseResourcePath("/pets/{petId}")
	return &ir.ProcessorRoute{APIID: "a1b2c3", Stage: "prod", Route: ir.Route{Name: "a1b2c3/prod/r1/GET", ResourceID: "r1",
		ResourcePath: "/pets/{petId}", Segments: segs, Method: "GET",
		Authorization: &ir.Authorization{Type: ir.AuthCustom, Lambda: &ir.LambdaAuthorizer{Name: "auth", Type: typ,
			FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:auth", Region: "us-east-1",
			IdentitySources: sources, TTL: ir.Duration(ttl)}}}}
}

// countingFunction answers with an Allow for GET on /prod/GET/pets/* only, and counts its calls.
type countingFunction struct {
	calls  atomic.Int32
	events []string
}

func (f *countingFunction) Invoke(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
	f.calls.Add(1)
	f.events = append(f.events, string(payload))
	return &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:*:*/prod/GET/pets/*"}]},"context":{"n":1}}`)}, nil
}

func authorize(a *authorizer.Authorizer, pr *ir.ProcessorRoute, method, target string, headers ...[2]string) *authorizer.Outcome {
	var out authorizer.Outcome
	a.Authorize(context.Background(), pr, &lambdaproxy.Request{Method: method, Path: target, Headers: headers}, &lambdaproxy.Context{RequestID: "r"}, &out)
	return &out
}

// TestCacheTTL: with a TTL the second request with the same token is answered from the cache, and the cached
// policy is evaluated again for the method at hand (an other method is denied without a call); a new deployment
// starts afresh; with TTL 0 every request calls the function; an expired entry calls it again.
func TestCacheTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	fn := &countingFunction{}
	a := &authorizer.Authorizer{Invoker: fn, Cache: authorizer.NewCache(0), AccountID: "123456789012", Now: func() time.Time { return now }}
	pr := route(ir.AuthorizerToken, 300*time.Second, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	tok := [2]string{"authorization", "t1"}
	if o := authorize(a, pr, "GET", "/prod/pets/1", tok); o.Refusal != nil || o.Calls != 1 || o.CacheHit {
		t.Fatalf("first: %+v", o)
	}
	if o := authorize(a, pr, "GET", "/prod/pets/2", tok); o.Refusal != nil || o.Calls != 0 || !o.CacheHit {
		t.Fatalf("second: %+v", o)
	}
	post := route(ir.AuthorizerToken, 300*time.Second, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	post.Route.Method = "POST"
	if o := authorize(a, post, "POST", "/prod/pets/2", tok); o.Refusal == nil || o.Refusal.StatusCode != 403 || o.Calls != 0 {
		t.Fatalf("other method from the cache: %+v", o)
	}
	if o := authorize(a, pr, "GET", "/prod/pets/2", [2]string{"authorization", "t2"}); o.Calls != 1 {
		t.Fatalf("other token: %+v", o)
	}
	redeployed := route(ir.AuthorizerToken, 300*time.Second, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	redeployed.DeploymentID = "d2"
	if o := authorize(a, redeployed, "GET", "/prod/pets/2", tok); o.Calls != 1 {
		t.Fatalf("a new deployment reuses the old one's cache: %+v", o)
	}
	now = now.Add(301 * time.Second)
	if o := authorize(a, pr, "GET", "/prod/pets/2", tok); o.Calls != 1 {
		t.Fatalf("expired: %+v", o)
	}
	noCache := route(ir.AuthorizerToken, 0, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	for range 2 {
		if o := authorize(a, noCache, "GET", "/prod/pets/2", tok); o.Calls != 1 {
			t.Fatalf("TTL 0: %+v", o)
		}
	}
	if n := fn.calls.Load(); n != 6 {
		t.Errorf("%d calls, want 6", n)
	}
}

// TestRequestIdentitySources: REQUEST with caching needs every source present and non-empty (401 without a call);
// without caching the function is called anyway.
func TestRequestIdentitySources(t *testing.T) {
	fn := &countingFunction{}
	a := &authorizer.Authorizer{Invoker: fn, Cache: authorizer.NewCache(0)}
	srcs := []ir.ValueSource{{Kind: ir.FromHeader, Name: "x-tenant"}, {Kind: ir.FromQuery, Name: "session"}, {Kind: ir.FromStatic, Name: "stagevalue"}, {Kind: ir.FromContext, Name: "httpMethod"}}
	cached := route(ir.AuthorizerRequest, time.Minute, srcs...)
	for _, target := range []string{"/prod/pets/1", "/prod/pets/1?session=", "/prod/pets/1?other=x"} {
		if o := authorize(a, cached, "GET", target, [2]string{"x-tenant", "acme"}); o.Refusal == nil || o.Refusal.StatusCode != 401 || o.Calls != 0 {
			t.Errorf("%s: %+v", target, o)
		}
	}
	o := authorize(a, cached, "GET", "/prod/pets/1?session=s%2D1", [2]string{"x-tenant", "acme"})
	if o.Refusal != nil || o.Calls != 1 {
		t.Fatalf("all sources: %+v", o)
	}
	var ev map[string]any
	if err := json.Unmarshal(o.Event, &ev); err != nil {
		t.Fatalf("event %s: %v", o.Event, err)
	}
	if ev["type"] != "REQUEST" || ev["methodArn"] != "arn:aws:execute-api:us-east-1:000000000000:a1b2c3/prod/GET/pets/1" || ev["resource"] != "/pets/{petId}" {
		t.Errorf("event %s", o.Event)
	}
	if _, has := ev["body"]; has {
		t.Errorf("REQUEST event has a body: %s", o.Event)
	}
	uncached := route(ir.AuthorizerRequest, 0, srcs...)
	if o := authorize(a, uncached, "GET", "/prod/pets/1", [2]string{"x-tenant", "acme"}); o.Calls != 1 {
		t.Errorf("no cache, a source missing: %+v", o)
	}
}

// TestAnswers: function errors, malformed answers, validation expressions and denials get API Gateway's answers.
func TestAnswers(t *testing.T) {
	pr := route(ir.AuthorizerToken, 0, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	pr.Route.Authorization.Lambda.ValidationExpression = `Bearer [a-z]+`
	for _, tc := range []struct {
		name, token string
		res         *lambdainvoke.Result
		err         error
		status      int
		errType     string
		calls       int
	}{
		{"missing token", "", nil, nil, 401, "UnauthorizedException", 0},
		{"token not matching the expression (whole token)", "Bearer abc1", nil, nil, 401, "UnauthorizedException", 0},
		{"Unauthorized error", "Bearer a", &lambdainvoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"Unauthorized"}`)}, nil, 401, "UnauthorizedException", 1},
		{"other error", "Bearer a", &lambdainvoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}, nil, 500, "AuthorizerConfigurationException", 1},
		{"invoke failure", "Bearer a", nil, fmt.Errorf("connection refused"), 500, "AuthorizerConfigurationException", 1},
		{"proxy-style answer", "Bearer a", &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"x"}`)}, nil, 500, "AuthorizerConfigurationException", 1},
		{"explicit deny", "Bearer a", &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Statement":[{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*"}]}}`)}, nil, 403, "AccessDeniedException", 1},
		{"implicit deny", "Bearer a", &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Statement":[]}}`)}, nil, 403, "AccessDeniedException", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			a := &authorizer.Authorizer{Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
				calls++
				return tc.res, tc.err
			})}
			var hs [][2]string
			if tc.token != "" {
				hs = append(hs, [2]string{"Authorization", tc.token})
			}
			o := authorize(a, pr, "GET", "/prod/pets/1", hs...)
			if o.Refusal == nil || o.Refusal.StatusCode != tc.status || o.Refusal.ErrorType != tc.errType || calls != tc.calls || o.Calls != tc.calls {
				t.Errorf("outcome %+v refusal %+v, %d calls; want %d %s, %d calls", o, o.Refusal, calls, tc.status, tc.errType, tc.calls)
			}
			if o.Refusal != nil && !strings.Contains(fmt.Sprint(o.Refusal.Headers), "x-amzn-RequestId") {
				t.Errorf("no request id header: %v", o.Refusal.Headers)
			}
		})
	}
}

// TestConcurrentAuthorize: one Authorizer serves concurrent requests (the processor's streams) with one cache; run
// with -race. Every request is allowed and, per token, the function is called at least once and at most once per
// concurrent first request.
func TestConcurrentAuthorize(t *testing.T) {
	var calls atomic.Int32
	a := &authorizer.Authorizer{Cache: authorizer.NewCache(8), Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		calls.Add(1)
		return &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}}`)}, nil
	})}
	pr := route(ir.AuthorizerToken, time.Minute, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
	pr.Route.Authorization.Lambda.ValidationExpression = "t[0-9]+"
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				o := authorize(a, pr, "GET", fmt.Sprintf("/prod/pets/%d", i), [2]string{"authorization", fmt.Sprintf("t%d", (g*200+i)%20)})
				if o.Refusal != nil {
					t.Errorf("refused: %+v", o.Refusal)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if n := calls.Load(); n < 20 || n > 1600 {
		t.Errorf("%d calls", n)
	}
	if a.Cache.Len() > 8 {
		t.Errorf("cache holds %d entries, bound 8", a.Cache.Len())
	}
}
