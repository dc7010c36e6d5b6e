package loader

import (
	"strings"
	"testing"
)

// TestValidateTemplatesReportsUnsupported: a MOCK template the interpreter cannot run is reported with the
// template's location and the line and column inside it (issue 12 scope 2).
func TestValidateTemplatesReportsUnsupported(t *testing.T) {
	doc := `openapi: 3.0.1
info: {title: t, version: '1'}
paths:
  /x:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates:
          application/json: "{\"statusCode\": 200}\n#macro(foo)x#end"
        responses:
          default:
            statusCode: '200'
            responseTemplates:
              application/json: '{"ok": true}'
`
	res, err := Load("t.yaml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range res.Diagnostics {
		if d.Rule == "MOCK-2" {
			found = append(found, d.Path+": "+d.Message)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one MOCK-2 report, got %q (all: %v)", found, res.Diagnostics)
	}
	if !strings.Contains(found[0], "requestTemplates['application/json']") || !strings.Contains(found[0], "#macro at line 2 column 1") {
		t.Errorf("report %q does not locate the #macro", found[0])
	}
}
