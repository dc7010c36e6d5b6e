package mappingtemplate

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/internal/conformance"
)

type caseIntegration struct {
	Type             string            `json:"type"`
	RequestTemplates map[string]string `json:"requestTemplates"`
	Responses        map[string]struct {
		StatusCode        string            `json:"statusCode"`
		ResponseTemplates map[string]string `json:"responseTemplates"`
	} `json:"responses"`
}

type caseAPI struct {
	Paths map[string]map[string]struct {
		Integration *caseIntegration `json:"x-amazon-apigateway-integration"`
	} `json:"paths"`
	GatewayResponses map[string]struct {
		ResponseTemplates map[string]string `json:"responseTemplates"`
	} `json:"x-amazon-apigateway-gateway-responses"`
}

var statusCodeRe = regexp.MustCompile(`"?statusCode"?\s*:\s*(\d+)`)

// TestMockCorsCases parses every template of ../shared/conformance/cases/mock-cors (none may be unsupported) and,
// where a case pins the body and the body is the rendering of one template, renders it as the MOCK integration or
// the gateway response would and compares the body (exact bytes when the case gives them, JSON otherwise).
func TestMockCorsCases(t *testing.T) {
	cases, err := conformance.Load("../../shared", "mock-cors")
	if err != nil {
		t.Skipf("conformance cases not available: %v", err)
	}
	checked := 0
	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			var api caseAPI
			if err := json.Unmarshal(c.API, &api); err != nil {
				t.Fatal(err)
			}
			for path, methods := range api.Paths {
				for method, op := range methods {
					if op.Integration == nil {
						continue
					}
					for ct, src := range op.Integration.RequestTemplates {
						mustSupport(t, path+" "+method+" request "+ct, src)
					}
					for key, r := range op.Integration.Responses {
						for ct, src := range r.ResponseTemplates {
							mustSupport(t, path+" "+method+" response "+key+" "+ct, src)
						}
					}
				}
			}
			want := c.Expect.Response
			if want == nil || (want.Body == nil && want.BodyJSON == nil) {
				return
			}
			body, ok := renderCase(t, c, &api)
			if !ok {
				return
			}
			checked++
			if want.Body != nil {
				if body != *want.Body {
					t.Errorf("body\n got %q\nwant %q", body, *want.Body)
				}
				return
			}
			var wantJSON, gotJSON any
			if err := json.Unmarshal(want.BodyJSON, &wantJSON); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(body), &gotJSON); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if diff := conformance.MatchJSON("body", wantJSON, gotJSON); diff != "" {
				t.Errorf("%s (body %q)", diff, body)
			}
		})
	}
	t.Logf("%d cases, %d bodies checked", len(cases), checked)
	if len(cases) > 0 && checked < 12 {
		t.Errorf("only %d cases had their body checked, want at least 12", checked)
	}
}

func mustSupport(t *testing.T, what, src string) {
	t.Helper()
	if is := Check(what, src); len(is) > 0 {
		t.Errorf("%s: %v", what, is)
	}
}

// renderCase renders the template that produces the case's body; ok is false when the body is not a template's.
func renderCase(t *testing.T, c *conformance.Case, api *caseAPI) (string, bool) {
	target, err := url.Parse(c.Request.Target)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(strings.TrimPrefix(target.Path, "/"), "/")
	headers := map[string]string{}
	for _, h := range c.Request.Headers {
		headers[h[0]] = h[1]
	}
	ctx := map[string]string{"stage": c.Stage, "httpMethod": c.Request.Method, "requestId": "r"}
	var route struct{ Resource, Method string }
	if len(c.Expect.Route) > 0 && string(c.Expect.Route) != "null" {
		if err := json.Unmarshal(c.Expect.Route, &route); err != nil {
			t.Fatal(err)
		}
	}
	if route.Resource == "" { // a gateway response
		typ, msg := "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token"
		fallback := "DEFAULT_4XX"
		if len(c.FunctionResponse) > 0 {
			typ, msg, fallback = "DEFAULT_5XX", "Internal server error", "DEFAULT_5XX"
		}
		if len(segs) == 0 || segs[0] != c.Stage {
			return "", false // unknown stage: not a template's body
		}
		gr, ok := api.GatewayResponses[typ]
		if !ok || gr.ResponseTemplates == nil {
			gr = api.GatewayResponses[fallback]
		}
		src, ok := gr.ResponseTemplates["application/json"]
		if !ok {
			src = `{"message":$context.error.messageString}` // the default template (MOCK-CORS.md §3)
		}
		ctx["error.message"], ctx["error.responseType"] = msg, typ
		tp, err := ParseSubstitution(c.ID, src)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tp.Render(&Input{Context: ctx, StageVariables: c.StageVariables})
		if err != nil {
			t.Fatal(err)
		}
		return string(out), true
	}
	if len(c.FunctionResponse) > 0 {
		return "", false // AWS_PROXY: the function's body
	}
	methods := api.Paths[route.Resource]
	key := strings.ToLower(route.Method)
	if key == "any" {
		key = "x-amazon-apigateway-any-method"
	}
	integ := methods[key].Integration
	if integ == nil || !strings.EqualFold(integ.Type, "mock") {
		return "", false
	}
	path := map[string]string{}
	rsegs := strings.Split(strings.TrimPrefix(route.Resource, "/"), "/")
	for i, rs := range rsegs {
		if strings.HasPrefix(rs, "{") && i+1 < len(segs) {
			path[strings.Trim(rs, "{}+")] = segs[i+1]
		}
	}
	query := map[string]string{}
	for k, v := range target.Query() {
		query[k] = v[len(v)-1]
	}
	ctx["resourcePath"] = route.Resource
	in := &Input{PathParams: path, QueryParams: query, Headers: headers, Context: ctx, StageVariables: c.StageVariables}
	reqOut := render(t, integ.RequestTemplates["application/json"], in)
	m := statusCodeRe.FindStringSubmatch(reqOut)
	if m == nil {
		t.Fatalf("request template rendered %q: no statusCode", reqOut)
	}
	status := m[1]
	sel, ok := integ.Responses["default"]
	var patterns []string
	for k := range integ.Responses {
		patterns = append(patterns, k)
	}
	sort.Strings(patterns)
	for _, k := range patterns {
		if k != "default" && regexp.MustCompile("^(?:"+k+")$").MatchString(status) {
			sel, ok = integ.Responses[k], true
			break
		}
	}
	if !ok {
		t.Fatalf("no integration response for status %s", status)
	}
	if len(sel.ResponseTemplates) == 0 {
		return "", true // MOCK without a response template: empty body
	}
	accept := strings.TrimSpace(strings.Split(headers["Accept"], ";")[0])
	src, ok := sel.ResponseTemplates[accept]
	if !ok {
		src, ok = sel.ResponseTemplates["application/json"]
	}
	if !ok {
		var cts []string
		for ct := range sel.ResponseTemplates {
			cts = append(cts, ct)
		}
		sort.Strings(cts)
		src = sel.ResponseTemplates[cts[0]]
	}
	return render(t, src, in), true
}

func render(t *testing.T, src string, in *Input) string {
	t.Helper()
	tp, err := Parse("case", src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tp.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
