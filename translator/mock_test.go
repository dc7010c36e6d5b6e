package translator_test

import (
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/translator"
)

const mockDoc = `openapi: 3.0.1
info: {title: t, version: '1'}
paths:
  /static:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: '200'
            responseParameters:
              method.response.header.X-Stage: stageVariables.v
              method.response.header.X-Body: integration.response.body
            responseTemplates: {application/json: '{"stage": "$context.stage", "path": "$context.resourcePath"}'}
  /dynamic:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: '200'
            responseTemplates: {application/json: '{"q": "$input.params(''q'')"}'}
x-amazon-apigateway-gateway-responses:
  AUTHORIZER_FAILURE: {statusCode: '500'}
  DEFAULT_4xx: {statusCode: '400'}
`

// TestMockStaticOrProcessor: a MOCK whose answer reads nothing of the request is rendered at translation time
// (stage variables, $context.stage and resourcePath included); one reading the request is left to the processor;
// what cannot apply is reported (issue 12 scopes 1, 5, 6).
func TestMockStaticOrProcessor(t *testing.T) {
	res, err := loader.Load("t.yaml", []byte(mockDoc), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	api, diags := translator.TranslateAPI(translator.DeployStage("t.yaml", res.API, "prod", map[string]string{"v": "blue"}))
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	routes := map[string]ir.Route{}
	for _, r := range api.Stages[0].Routes {
		routes[r.ResourcePath] = r
	}
	st := routes["/static"].Integration.Mock
	if st.Static == nil || st.Static.Body != `{"stage": "prod", "path": "/static"}` ||
		len(st.Static.Headers) != 2 || st.Static.Headers[1] != [2]string{"X-Stage", "blue"} {
		t.Errorf("static answer: %+v", st.Static)
	}
	if dyn := routes["/dynamic"].Integration.Mock; dyn.Static != nil || dyn.StaticOther != nil {
		t.Errorf("a template reading the request was rendered at translation time: %+v", dyn)
	}
	var msgs []string
	for _, d := range diags {
		msgs = append(msgs, d.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"X-Body from \"integration.response.body\"", `"DEFAULT_4xx" is not an API Gateway gateway response type`,
		"gateway response AUTHORIZER_FAILURE is kept for export"} {
		if !strings.Contains(all, want) {
			t.Errorf("no report containing %q in:\n%s", want, all)
		}
	}
}
