package loader

import (
	"strings"
	"testing"
)

// TestKeepStoredSwagger: a Swagger 2.0 document's authorizers (securityDefinitions), gateway responses, API key
// source and x-proxyplus-stages are read into the model, with the method's authorizer and scopes.
func TestKeepStoredSwagger(t *testing.T) {
	doc := `swagger: "2.0"
info: {title: kept, version: '1'}
x-amazon-apigateway-api-key-source: header
x-amazon-apigateway-gateway-responses:
  ACCESS_DENIED: {statusCode: 403, responseTemplates: {application/json: '{"m": "no"}'}}
x-proxyplus-stages:
  - stageName: prod
    variables: {backend: orders.example.com}
    accessLogSettings: {format: '$context.requestId $context.status', destinationArn: 'arn:aws:logs:us-east-1:123456789012:log-group:api'}
securityDefinitions:
  req:
    type: apiKey
    name: Unused
    in: header
    x-amazon-apigateway-authtype: custom
    x-amazon-apigateway-authorizer:
      type: request
      identitySource: method.request.header.Authorization, method.request.querystring.t
      authorizerUri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:a/invocations
paths:
  /p:
    get:
      security: [{req: []}]
      responses: {'200': {description: ok}}
      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: GET, uri: 'https://${stageVariables.backend}/p'}
`
	res, err := Load("kept.yaml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api := res.API
	if api.GetApiKeySource() != "HEADER" || api.GetGatewayResponses()["ACCESS_DENIED"].GetStatusCode() != "403" ||
		len(api.GetStages()) != 1 || api.GetStages()[0].GetVariables()["backend"] != "orders.example.com" {
		t.Errorf("API settings not kept: %v", api)
	}
	if als := api.GetStages()[0].GetAccessLogSettings(); als.GetFormat() != "$context.requestId $context.status" || als.GetDestinationArn() == "" {
		t.Errorf("accessLogSettings not kept: %v", als)
	}
	if len(api.GetAuthorizers()) != 1 || api.GetAuthorizers()[0].GetType() != "REQUEST" || api.GetAuthorizers()[0].GetSchemeName() != "Unused" {
		t.Fatalf("authorizers %v", api.GetAuthorizers())
	}
	m := api.GetResources()[len(api.GetResources())-1].GetResourceMethods()["GET"]
	if m.GetAuthorizationType() != "CUSTOM" || m.GetAuthorizerName() != "req" {
		t.Errorf("method %v", m)
	}
}

// TestValidateStored: in proxyplus's format, a method naming an undeclared authorizer and an unknown authorizer
// type are errors at their paths.
func TestValidateStored(t *testing.T) {
	doc := `name: stored
authorizers:
  - {name: a, type: JWT}
resources:
  - path: /p
    resourceMethods:
      GET:
        authorizationType: CUSTOM
        authorizerName: b
        integration: {type: MOCK}
`
	res, err := Load("stored.yaml", []byte(doc), Options{})
	if err == nil {
		t.Fatal("loaded")
	}
	var paths []string
	for _, d := range res.Diagnostics.Errors() {
		if d.Rule == "OAS-10" {
			paths = append(paths, d.Path)
		}
	}
	if got := strings.Join(paths, " "); got != "$.authorizers[0].type $.resources[0].resourceMethods.GET.authorizerName" {
		t.Errorf("errors at %q: %v", got, res.Diagnostics)
	}
}
