package apianswer

import (
	"errors"
	"testing"

	"github.com/proxyplus/proxyplus/ir"
)

func TestMockStatus(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`{"statusCode": 200}`, "200", true},
		{`{statusCode: 200}`, "200", true}, // CDK's lenient form (MOCK-CORS.md §1)
		{"{\n  \"statusCode\" : 500\n}\n", "500", true},
		{`{"statusCode": "404"}`, "404", true},
		{`{"statusCode": 2000}`, "", false},
		{`{"status": 200}`, "", false},
		{``, "", false},
	} {
		got, ok := MockStatus([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("MockStatus(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestResponseTemplateFollowsAccept(t *testing.T) {
	ts := []ir.MediaTemplate{{MediaType: "application/json", Template: "j"}, {MediaType: "application/xml", Template: "x"}, {MediaType: "text/html", Template: "h"}}
	for accept, want := range map[string]string{
		"text/html":                             "h",
		"text/html; charset=utf-8":              "h",
		"application/xml,text/html;q=0.9":       "x",
		"":                                      "j", // no Accept: application/json
		"image/png":                             "j", // no match: application/json when there is one
		"TEXT/HTML":                             "h",
		"application/pdf, application/xml;q=.1": "x",
	} {
		if got, _ := ResponseTemplate(ts, accept); got.Template != want {
			t.Errorf("Accept %q chose %q, want %q", accept, got.Template, want)
		}
	}
	// Without an application/json template, an unmatched Accept takes the first.
	if got, _ := ResponseTemplate(ts[1:], "image/png"); got.Template != "x" {
		t.Errorf("first template: got %q", got.Template)
	}
}

func mockOf(passthrough string, templates ...ir.MediaTemplate) *ir.MockTemplates {
	return &ir.MockTemplates{Passthrough: passthrough, RequestTemplates: templates, Responses: []ir.MockResponse{
		{Pattern: `5\d{2}`, StatusCode: 500, Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"error": true}`}}},
		{StatusCode: 200, Headers: []ir.Mapping{
			{Name: "Access-Control-Allow-Origin", Source: ir.ValueSource{Kind: ir.FromStatic, Name: "*"}},
			{Name: "X-Echo", Source: ir.ValueSource{Kind: ir.FromHeader, Name: "X-In"}},
			{Name: "X-Absent", Source: ir.ValueSource{Kind: ir.FromQuery, Name: "nope"}},
		}},
	}}
}

// TestMockSelectionAndPassthrough: the request template's status selects by pattern, else the default; an
// unmatched Content-Type takes the default (WHEN_NO_MATCH) or is refused (NEVER; WHEN_NO_TEMPLATES with
// templates) — DG integration-passthrough-behaviors.md, how-to-mock-integration.md.
func TestMockSelectionAndPassthrough(t *testing.T) {
	json := ir.MediaTemplate{MediaType: "application/json", Template: `{"statusCode": 503}`}
	a, err := Mock(mockOf("", json), &Request{})
	if err != nil || a.StatusCode != 500 || string(a.Body) != `{"error": true}` || a.Headers[0] != [2]string{"Content-Type", "application/json"} {
		t.Errorf("pattern 5\\d{2}: %+v %v", a, err)
	}
	a, err = Mock(mockOf("WHEN_NO_MATCH", json), &Request{ContentType: "text/plain", Headers: map[string]string{"x-in": "v"}})
	if err != nil || a.StatusCode != 200 || len(a.Body) != 0 || len(a.Headers) != 3 || a.Headers[2] != [2]string{"X-Echo", "v"} {
		t.Errorf("passthrough to default: %+v %v", a, err)
	}
	for _, pt := range []string{"NEVER", "WHEN_NO_TEMPLATES"} {
		if _, err := Mock(mockOf(pt, json), &Request{ContentType: "text/plain"}); !errors.Is(err, ErrUnsupportedMediaType) {
			t.Errorf("%s: want 415, got %v", pt, err)
		}
	}
	// WHEN_NO_TEMPLATES without templates passes through.
	if a, err := Mock(mockOf("WHEN_NO_TEMPLATES"), &Request{ContentType: "text/plain"}); err != nil || a.StatusCode != 200 {
		t.Errorf("WHEN_NO_TEMPLATES without templates: %+v %v", a, err)
	}
	// A template that names no status is API Gateway's configuration error.
	if _, err := Mock(mockOf("", ir.MediaTemplate{MediaType: "application/json", Template: `{}`}), &Request{}); err == nil {
		t.Error("template without statusCode: want an error")
	}
}

// TestGatewayCustomisation: the specific type wins as a whole, else DEFAULT_4XX/5XX; a status override; a
// customisation without templates keeps the default body (MOCK-CORS.md §3).
func TestGatewayCustomisation(t *testing.T) {
	e := GatewayError{Type: MissingAuthenticationToken, StatusCode: 403, Body: `{"message":"Missing Authentication Token"}`, Message: "Missing Authentication Token"}
	grs := map[string]ir.GatewayResponse{
		Default4XX: {StatusCode: 404, Headers: [][2]string{{"A", "default"}}, Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: "d"}}},
	}
	if a := Gateway(grs, e, "", GatewayContext{}); a.StatusCode != 404 || string(a.Body) != "d" || a.Headers[0][1] != "default" {
		t.Errorf("DEFAULT_4XX fallback: %+v", a)
	}
	grs[MissingAuthenticationToken] = ir.GatewayResponse{Headers: [][2]string{{"A", "specific"}}}
	if a := Gateway(grs, e, "", GatewayContext{}); a.StatusCode != 403 || string(a.Body) != e.Body || len(a.Headers) != 1 || a.Headers[0][1] != "specific" {
		t.Errorf("specific type: %+v", a)
	}
	if a := Gateway(nil, e, "", GatewayContext{}); a.StatusCode != 403 || string(a.Body) != e.Body || len(a.Headers) != 0 {
		t.Errorf("no customisation: %+v", a)
	}
	five := GatewayError{StatusCode: 502, Body: `{"message": "Internal server error"}`, Message: "Internal server error"}
	if _, _, ok := Customisation(grs, five); ok {
		t.Error("DEFAULT_4XX customises a 5XX")
	}
}

// TestCacheBounded: the parsed-template cache never holds more than maxCached entries.
func TestCacheBounded(t *testing.T) {
	c := boundedCache[int]{max: 3}
	for i := range 10 {
		c.put(string(rune('a'+i)), i)
		if len(c.m) > 3 {
			t.Fatalf("%d entries after %d puts", len(c.m), i+1)
		}
	}
	if v, ok := c.get("j"); !ok || v != 9 {
		t.Errorf("latest entry lost: %v %v", v, ok)
	}
}
