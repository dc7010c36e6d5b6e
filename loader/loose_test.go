package loader

import (
	"strings"
	"testing"
)

// TestLooseTypes: scalars API Gateway's importer coerces ("required": "true", "timeoutInMillis": "5000") import
// with a warning at each, in Swagger 2.0 and OpenAPI 3; the old code failed with kin-openapi's JSON and YAML errors
// joined into one.
func TestLooseTypes(t *testing.T) {
	swagger := `{"swagger": "2.0", "info": {"title": "loose", "version": "1"},
 "paths": {"/p/{id}": {"get": {
   "parameters": [{"name": "id", "in": "path", "required": "true", "type": "string"},
                  {"name": "q", "in": "query", "required": "False", "type": "string"}],
   "responses": {"200": {"description": "ok"}},
   "x-amazon-apigateway-integration": {"type": "http_proxy", "httpMethod": "GET", "uri": "https://example.com/{id}",
     "requestParameters": {"integration.request.path.id": "method.request.path.id"}, "timeoutInMillis": "5000"}}}}}`
	oas3 := strings.NewReplacer(`"swagger": "2.0"`, `"openapi": "3.0.1"`, `"type": "string"}`, `"schema": {"type": "string"}}`).Replace(swagger)
	for name, doc := range map[string]string{"swagger.json": swagger, "oas3.json": oas3} {
		t.Run(name, func(t *testing.T) {
			res, err := Load(name, []byte(doc), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{
				"$.paths['/p/{id}'].get.parameters[0].required":                          true,
				"$.paths['/p/{id}'].get.parameters[1].required":                          true,
				"$.paths['/p/{id}'].get.x-amazon-apigateway-integration.timeoutInMillis": true,
			}
			for _, w := range res.Diagnostics.Warnings() {
				if want[w.Path] && w.Rule == "OAS-1" && w.File == name && strings.Contains(w.Message, "API Gateway reads it as") {
					delete(want, w.Path)
				}
			}
			if len(want) > 0 {
				t.Errorf("no warning at %v in %v", want, res.Diagnostics)
			}
			m := res.API.GetResources()[len(res.API.GetResources())-1].GetResourceMethods()["GET"]
			if p := m.GetRequestParameters(); !p["method.request.path.id"] || p["method.request.querystring.q"] {
				t.Errorf("request parameters %v", p)
			}
			if m.GetIntegration().GetTimeoutInMillis() != 5000 {
				t.Errorf("timeout %d", m.GetIntegration().GetTimeoutInMillis())
			}
		})
	}
}

// TestKinLoadErrorOnce: a type kin-openapi cannot read is one error, without the YAML parser's restatement.
func TestKinLoadErrorOnce(t *testing.T) {
	doc := `{"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {"/p": {"get": {"deprecated": "maybe",
 "responses": {"200": {"description": "ok"}}}}}}`
	res, err := Load("bad.json", []byte(doc), Options{})
	if err == nil {
		t.Fatal("loaded")
	}
	errs := res.Diagnostics.Errors()
	if len(errs) != 1 || strings.Contains(errs[0].Message, "yaml") || errs[0].Field != "deprecated" ||
		errs[0].Path != "$.paths['/p'].get.deprecated" {
		t.Errorf("errors %v", errs)
	}
}

// TestKinLoadErrorLocated: when kin-openapi cannot read a value the importer reads too, the error is the
// importer's, with the path and field ("required": "maybe" is no boolean API Gateway accepts either).
func TestKinLoadErrorLocated(t *testing.T) {
	doc := `{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/p": {"get": {
 "parameters": [{"name": "q", "in": "query", "required": "maybe", "type": "string"}],
 "responses": {"200": {"description": "ok"}}}}}}`
	res, err := Load("maybe.json", []byte(doc), Options{})
	if err == nil {
		t.Fatal("loaded")
	}
	errs := res.Diagnostics.Errors()
	if len(errs) != 1 || errs[0].Path != "$.paths['/p'].get.parameters[0].required" || errs[0].Field != "required" ||
		errs[0].File != "maybe.json" {
		t.Errorf("errors %v", errs)
	}
}
