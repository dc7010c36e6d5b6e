package authorizer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// FuzzMatch: Match never panics and agrees with a regular-expression reference ('*' → any run, '?' → one byte).
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*", "x"}, {"a*b?c", "aXXbYc"}, {"arn:*:*/prod/GET/*", "arn:aws:a/prod/GET/p"}, {"**?*", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 {
			return
		}
		var b strings.Builder
		b.WriteString(`(?s)\A`)
		for i := 0; i < len(pattern); i++ {
			switch pattern[i] {
			case '*':
				b.WriteString(`[\x00-\xff]*`)
			case '?':
				b.WriteString(`[\x00-\xff]`)
			default:
				fmt.Fprintf(&b, `\x%02x`, pattern[i])
			}
		}
		b.WriteString(`\z`)
		// Byte-wise reference: match on Latin-1 runes standing for the bytes.
		re := regexp.MustCompile(b.String())
		latin := func(x string) string {
			r := make([]rune, len(x))
			for i := 0; i < len(x); i++ {
				r[i] = rune(x[i])
			}
			return string(r)
		}
		if got, want := authorizer.Match(pattern, s), re.MatchString(latin(s)); got != want {
			t.Errorf("Match(%q, %q) = %v, reference %v", pattern, s, got, want)
		}
	})
}

// FuzzPolicy: any policy document and ARN: parsing and evaluation never panic, and once an explicit Deny of "*"
// is appended to an accepted policy, every ARN is denied (an explicit Deny wins over any Allow).
func FuzzPolicy(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}`, arnPets42)
	f.Add(`{"Statement":{"Effect":"Deny","Action":["*"],"Resource":["a","b*"]}}`, "b1")
	f.Add(`{"Statement":[{"Effect":"Allow","NotAction":"s3:*","NotResource":"x"}]}`, "y")
	f.Fuzz(func(t *testing.T, doc, arn string) {
		p, err := authorizer.ParsePolicy(json.RawMessage(doc))
		if err != nil {
			return
		}
		d := p.Evaluate(arn)
		var m map[string]any
		if json.Unmarshal([]byte(doc), &m) != nil {
			return
		}
		var list []any
		switch st := m["Statement"].(type) {
		case []any:
			list = st
		default:
			list = []any{st}
		}
		list = append(list, map[string]any{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*"})
		m["Statement"] = list
		withDeny, _ := json.Marshal(m)
		p2, err := authorizer.ParsePolicy(withDeny)
		if err != nil {
			return // e.g. a duplicate key the re-encoding resolved differently
		}
		if got := p2.Evaluate(arn); got != authorizer.ExplicitDeny {
			t.Errorf("with Deny *: %v (was %v)", got, d)
		}
	})
}

// FuzzResult: any function answer: parsing never panics, and an accepted one gives a JSON object whose values
// are all strings (AUTHORIZERS.md §3) with the principalId.
func FuzzResult(f *testing.F) {
	f.Add([]byte(`{"principalId":"u","policyDocument":{"Statement":[]},"context":{"s":"x","n":123,"b":true}}`), "")
	f.Add([]byte(`{"errorMessage":"Unauthorized"}`), "Unhandled")
	f.Add([]byte(`{"principalId":7,"policyDocument":{"Statement":[]},"context":{"\u0000":"\xff"}}`), "")
	f.Fuzz(func(t *testing.T, payload []byte, functionError string) {
		res, err := authorizer.ParseResult(payload, functionError)
		if err != nil {
			return
		}
		js := res.AppendContextJSON(nil, 3)
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatalf("context JSON %q: %v", js, err)
		}
		for k, v := range m {
			if _, isString := v.(string); !isString && k != "integrationLatency" {
				t.Errorf("context %q is %T", k, v)
			}
		}
		if utf8.ValidString(res.PrincipalID) && m["principalId"] != res.PrincipalID {
			t.Errorf("principalId %v, want %q", m["principalId"], res.PrincipalID)
		}
	})
}

// arnTemplate is the method ARN's shape for a route: a fixed prefix naming region, account, API, stage and verb,
// then the template's literal segments verbatim and one non-empty slash-free segment per parameter (any rest for
// a greedy one).
func arnTemplate(pr *ir.ProcessorRoute, verb string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A` + regexp.QuoteMeta("arn:aws:execute-api:us-east-1:123456789012:"+pr.APIID+"/"+pr.Stage+"/"+verb+"/"))
	for i, s := range pr.Route.Segments {
		if i > 0 {
			b.WriteString("/")
		}
		switch s.Kind {
		case ir.Literal:
			b.WriteString(regexp.QuoteMeta(s.Text))
		case ir.Param:
			b.WriteString(`[^/]+`)
		case ir.Greedy:
			b.WriteString(`[^/](?s:.*)`)
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// FuzzMethodARN: identity sources and tokens never panic the authorizer (TOKEN and REQUEST events are valid JSON),
// and no value of a request — path (traversal, encoded slashes, case, extra slashes), query, method, headers,
// token — can change the method ARN the policy is evaluated against: it is always the route's API,
// stage and verb and the route's template, and the TOKEN event's methodArn is that ARN.
func FuzzMethodARN(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/prod/pets/42", "tok"}, {"GET", "/prod/pets/..%2F..%2Fadmin", "t"}, {"GET", "/prod/pets/%2e%2e/x", "t"},
		{"GET", "//prod//pets/42/", "t"}, {"get", "/PROD/PETS/42", "t"}, {"POST", "/prod/files/a/../../b?x=/y", "t"},
		{"DELETE", "/prod/files/a%2F..%2Fb", "\x00"}, {"GET", "/prod/pets/42?/../admin", "Bearer x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	routes := []*ir.ProcessorRoute{
		route(ir.AuthorizerToken, 0, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"}),
		func() *ir.ProcessorRoute {
			pr := route(ir.AuthorizerToken, 0, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"})
			pr.Route.ResourcePath, pr.Route.Method = "/files/{proxy+}", "ANY"
			pr.Route.Segments, _ = ir.ParseResourcePath(pr.Route.ResourcePath)
			return pr
		}(),
		// REQUEST with cached header, query, stage-variable and context sources: the event is built from the
		// whole request.
		route(ir.AuthorizerRequest, 60e9, ir.ValueSource{Kind: ir.FromHeader, Name: "authorization"},
			ir.ValueSource{Kind: ir.FromQuery, Name: "x"}, ir.ValueSource{Kind: ir.FromStatic, Name: "v"},
			ir.ValueSource{Kind: ir.FromContext, Name: "identity.sourceIp"}),
	}
	f.Fuzz(func(t *testing.T, method, target, token string) {
		for _, pr := range routes {
			var arnSeen string
			a := &authorizer.Authorizer{AccountID: "123456789012", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Invoker: lambdainvoke.Func(func(_ context.Context, _ string, ev []byte) (*lambdainvoke.Result, error) {
				var e struct {
					MethodARN string `json:"methodArn"`
				}
				if err := json.Unmarshal(ev, &e); err != nil {
					t.Fatalf("event %q: %v", ev, err)
				}
				arnSeen = e.MethodARN
				return &lambdainvoke.Result{Payload: []byte(`{"principalId":"p","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}}`)}, nil
			})}
			arn, _, ok := authorizer.AppendMethodARN(nil, nil, pr, "us-east-1", "123456789012", method, target)
			var out authorizer.Outcome
			a.Authorize(context.Background(), pr, &lambdaproxy.Request{Method: method, Path: target, Headers: [][2]string{{"authorization", token}}, SourceIP: token}, &lambdaproxy.Context{}, &out)
			if !ok {
				if out.Calls != 0 {
					t.Errorf("%s %s: no method ARN, yet the authorizer was called", method, target)
				}
				continue
			}
			verb := pr.Route.Method
			if verb == "ANY" {
				verb = method
			}
			if !arnTemplate(pr, verb).Match(arn) {
				t.Errorf("%s %s on %s: method ARN %q is not the route's", method, target, pr.Route.ResourcePath, arn)
			}
			if out.Calls == 1 && utf8.Valid(arn) && arnSeen != string(arn) {
				t.Errorf("event methodArn %q, ARN %q", arnSeen, arn)
			}
		}
	})
}
