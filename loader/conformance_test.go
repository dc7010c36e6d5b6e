package loader

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/internal/testutil"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// sharedDir is ../shared beside the repository; the test fails when it is missing.
func sharedDir(t testing.TB) string { return testutil.SharedDir(t) }

func loadOK(t *testing.T, path string) *Result {
	t.Helper()
	res, err := LoadFile(path, Options{})
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	return res
}

func resourcePaths(api *apigatewayv1.RestApi) []string {
	var out []string
	for _, r := range api.Resources {
		out = append(out, r.Path)
	}
	return out
}

func findResource(t *testing.T, api *apigatewayv1.RestApi, path string) *apigatewayv1.Resource {
	t.Helper()
	for _, r := range api.Resources {
		if r.Path == path {
			return r
		}
	}
	t.Fatalf("no resource %s in %v", path, resourcePaths(api))
	return nil
}

func methodKeys(r *apigatewayv1.Resource) []string {
	keys := slices.Sorted(maps.Keys(r.ResourceMethods))
	if keys == nil {
		return []string{}
	}
	return keys
}

// checkProxyExport asserts what shared/conformance/openapi/README.md lists for the two proxy exports: root without
// methods, /{proxy+} with ANY, the given integration, no binary media types, no stages.
func checkProxyExport(t *testing.T, res *Result, name string, want *apigatewayv1.Integration) {
	t.Helper()
	if len(res.Diagnostics) != 0 {
		t.Errorf("unexpected diagnostics: %v", res.Diagnostics)
	}
	api := res.API
	if api.Name != name {
		t.Errorf("name = %q, want %q", api.Name, name)
	}
	if diff := cmp.Diff([]string{"/", "/{proxy+}"}, resourcePaths(api)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	if keys := methodKeys(findResource(t, api, "/")); len(keys) != 0 {
		t.Errorf("root methods = %v, want none", keys)
	}
	if len(api.BinaryMediaTypes) != 0 || len(api.Stages) != 0 {
		t.Errorf("binary media types %v, stages %v: want none (host/basePath/servers create nothing)", api.BinaryMediaTypes, api.Stages)
	}
	wantMethod := &apigatewayv1.Method{
		HttpMethod:        "ANY",
		AuthorizationType: "NONE",
		RequestParameters: map[string]bool{"method.request.path.proxy": true},
		Integration:       want,
	}
	got := findResource(t, api, "/{proxy+}").ResourceMethods
	if diff := cmp.Diff(map[string]*apigatewayv1.Method{"ANY": wantMethod}, got, protocmp.Transform()); diff != "" {
		t.Errorf("/{proxy+} methods (-want +got):\n%s", diff)
	}
}

func TestConformanceOpenAPIExports(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "conformance", "openapi")
	defaultResponse := map[string]*apigatewayv1.IntegrationResponse{"200": {StatusCode: "200"}}
	petstore := &apigatewayv1.Integration{
		Type:                 "HTTP_PROXY",
		HttpMethod:           "ANY",
		Uri:                  "http://petstore-demo-endpoint.execute-api.com/petstore/{proxy}",
		RequestParameters:    map[string]string{"integration.request.path.proxy": "method.request.path.proxy"},
		PassthroughBehavior:  "WHEN_NO_MATCH",
		CacheNamespace:       "rbftud",
		CacheKeyParameters:   []string{"method.request.path.proxy"},
		IntegrationResponses: defaultResponse,
	}
	lambda := &apigatewayv1.Integration{
		Type:                 "AWS_PROXY",
		HttpMethod:           "POST",
		Uri:                  "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:SimpleLambda4ProxyResource/invocations",
		PassthroughBehavior:  "WHEN_NO_MATCH",
		CacheNamespace:       "roq9wj",
		CacheKeyParameters:   []string{"method.request.path.proxy"},
		IntegrationResponses: defaultResponse,
	}
	for _, tc := range []struct {
		file, name, format string
		want               *apigatewayv1.Integration
	}{
		{"petstore-with-proxy-resource.oas30.json", "PetStoreWithProxyResource", FormatOpenAPI3, petstore},
		{"petstore-with-proxy-resource.swagger20.json", "PetStoreWithProxyResource", FormatSwagger2, petstore},
		{"proxy-integration-with-lambda.oas30.json", "ProxyIntegrationWithLambda", FormatOpenAPI3, lambda},
		{"proxy-integration-with-lambda.swagger20.json", "ProxyIntegrationWithLambda", FormatSwagger2, lambda},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res := loadOK(t, filepath.Join(dir, tc.file))
			if res.Format != tc.format {
				t.Errorf("format = %q, want %q", res.Format, tc.format)
			}
			checkProxyExport(t, res, tc.name, tc.want)
		})
	}
}

// TestConformanceSwaggerEqualsOAS30: both exports of one API import to the same model (README).
func TestConformanceSwaggerEqualsOAS30(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "conformance", "openapi")
	for _, api := range []string{"petstore-with-proxy-resource", "proxy-integration-with-lambda"} {
		t.Run(api, func(t *testing.T) {
			v2 := loadOK(t, filepath.Join(dir, api+".swagger20.json"))
			v3 := loadOK(t, filepath.Join(dir, api+".oas30.json"))
			if diff := cmp.Diff(v2.API, v3.API, protocmp.Transform()); diff != "" {
				t.Errorf("Swagger 2.0 (-) and OpenAPI 3.0 (+) models differ:\n%s", diff)
			}
		})
	}
}

func TestConformanceLambdaCalc(t *testing.T) {
	path := filepath.Join(sharedDir(t), "conformance", "openapi", "lambda-calc.swagger20.json")
	res := loadOK(t, path)
	api := res.API
	if api.Name != "LambdaCalc" || len(api.BinaryMediaTypes) != 0 || len(api.Stages) != 0 {
		t.Errorf("name %q, binary types %v, stages %v", api.Name, api.BinaryMediaTypes, api.Stages)
	}
	wantPaths := []string{"/", "/calc", "/calc/{operand1}", "/calc/{operand1}/{operand2}", "/calc/{operand1}/{operand2}/{operator}"}
	if diff := cmp.Diff(wantPaths, resourcePaths(api)); diff != "" {
		t.Fatalf("resources (-want +got):\n%s", diff)
	}
	wantMethods := map[string][]string{
		"/": {}, "/calc": {"GET", "POST"}, "/calc/{operand1}": {}, "/calc/{operand1}/{operand2}": {},
		"/calc/{operand1}/{operand2}/{operator}": {"GET"},
	}
	for p, want := range wantMethods {
		if diff := cmp.Diff(want, methodKeys(findResource(t, api, p))); diff != "" {
			t.Errorf("methods of %s (-want +got):\n%s", p, diff)
		}
	}
	const uri = "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/arn:aws:lambda:us-west-2:123456789012:function:Calc/invocations"
	const credentials = "arn:aws:iam::123456789012:role/apigAwsProxyRole"
	calc := findResource(t, api, "/calc").ResourceMethods
	operator := findResource(t, api, "/calc/{operand1}/{operand2}/{operator}").ResourceMethods["GET"]
	for name, m := range map[string]*apigatewayv1.Method{"GET /calc": calc["GET"], "POST /calc": calc["POST"], "GET /calc/{operand1}/{operand2}/{operator}": operator} {
		in := m.Integration
		if m.AuthorizationType != "NONE" || in.Type != "AWS" || in.HttpMethod != "POST" || in.Uri != uri || in.Credentials != credentials {
			t.Errorf("%s: auth %q, integration %q %q %q %q", name, m.AuthorizationType, in.Type, in.HttpMethod, in.Uri, in.Credentials)
		}
	}
	wantParams := map[string]bool{
		"method.request.querystring.operand1": true, "method.request.querystring.operand2": true, "method.request.querystring.operator": true,
	}
	if diff := cmp.Diff(wantParams, calc["GET"].RequestParameters); diff != "" {
		t.Errorf("GET /calc parameters (-want +got):\n%s", diff)
	}
	if len(calc["POST"].RequestParameters) != 0 {
		t.Errorf("POST /calc parameters = %v, want none (the body parameter is a model)", calc["POST"].RequestParameters)
	}
	wantParams = map[string]bool{"method.request.path.operand1": true, "method.request.path.operand2": true, "method.request.path.operator": true}
	if diff := cmp.Diff(wantParams, operator.RequestParameters); diff != "" {
		t.Errorf("GET /calc/{operand1}/{operand2}/{operator} parameters (-want +got):\n%s", diff)
	}

	get := calc["GET"].Integration
	if get.PassthroughBehavior != "WHEN_NO_MATCH" || len(get.RequestTemplates) != 1 || get.RequestTemplates["application/json"] == "" {
		t.Errorf("GET /calc integration: passthrough %q, templates %v", get.PassthroughBehavior, get.RequestTemplates)
	}
	wantResponseParams := map[string]string{
		"method.response.header.operator":  "integration.response.body.op",
		"method.response.header.operand_2": "integration.response.body.b",
		"method.response.header.operand_1": "integration.response.body.a",
	}
	if r := get.IntegrationResponses["200"]; r == nil || r.SelectionPattern != "" || len(r.ResponseTemplates) != 1 ||
		!cmp.Equal(wantResponseParams, r.ResponseParameters) || len(get.IntegrationResponses) != 1 {
		t.Errorf("GET /calc integration responses = %v", get.IntegrationResponses)
	}
	post := calc["POST"].Integration
	if post.PassthroughBehavior != "WHEN_NO_TEMPLATES" || len(post.RequestTemplates) != 0 ||
		post.IntegrationResponses["200"] == nil || len(post.IntegrationResponses["200"].ResponseTemplates) != 1 {
		t.Errorf("POST /calc integration: passthrough %q, templates %v, responses %v", post.PassthroughBehavior, post.RequestTemplates, post.IntegrationResponses)
	}
	op := operator.Integration
	if op.PassthroughBehavior != "WHEN_NO_TEMPLATES" || len(op.RequestTemplates) != 1 || op.ContentHandling != "CONVERT_TO_TEXT" ||
		op.IntegrationResponses["200"] == nil || len(op.IntegrationResponses["200"].ResponseTemplates) != 1 {
		t.Errorf("operator integration: %v", op)
	}

	// The acceptable outcome for the out-of-scope parts: type aws reported per method, validators reported.
	var unsupported, validators []string
	for _, d := range res.Diagnostics {
		if d.Severity != diag.Warning {
			t.Errorf("unexpected error %s", d)
		}
		switch {
		case d.Rule == "RES-12" && strings.Contains(d.Message, "unsupported integration type AWS"):
			unsupported = append(unsupported, d.Path)
		case strings.HasPrefix(d.Field, "x-amazon-apigateway-request-validator"):
			validators = append(validators, d.Path)
		default:
			t.Errorf("unexpected diagnostic %s", d)
		}
	}
	sort.Strings(unsupported)
	wantUnsupported := []string{
		"$.paths['/calc'].get.x-amazon-apigateway-integration.type",
		"$.paths['/calc'].post.x-amazon-apigateway-integration.type",
		"$.paths['/calc/{operand1}/{operand2}/{operator}'].get.x-amazon-apigateway-integration.type",
	}
	if diff := cmp.Diff(wantUnsupported, unsupported); diff != "" {
		t.Errorf("type AWS warnings (-want +got):\n%s", diff)
	}
	for _, name := range []string{"GET /calc ", "POST /calc ", "GET /calc/{operand1}/{operand2}/{operator} "} {
		found := false
		for _, d := range res.Diagnostics {
			found = found || (d.Rule == "RES-12" && strings.Contains(d.Message, name))
		}
		if !found {
			t.Errorf("no RES-12 warning names %q", name)
		}
	}
	sort.Strings(validators)
	wantValidators := []string{
		"$.paths['/calc'].get.x-amazon-apigateway-request-validator",
		"$.paths['/calc'].post.x-amazon-apigateway-request-validator",
		"$.x-amazon-apigateway-request-validators",
	}
	if diff := cmp.Diff(wantValidators, validators); diff != "" {
		t.Errorf("validator warnings (-want +got):\n%s", diff)
	}
}

// conformanceCase is the part of a case file this package cares about.
type conformanceCase struct {
	ID     string          `json:"id"`
	API    json.RawMessage `json:"api"`
	Expect struct {
		Route *struct {
			Resource string `json:"resource"`
			Method   string `json:"method"`
		} `json:"route"`
	} `json:"expect"`
}

func caseFiles(t testing.TB) []string {
	t.Helper()
	root := filepath.Join(sharedDir(t), "conformance", "cases")
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files under %s: %v", root, err)
	}
	return files
}

// TestConformanceCaseAPIs loads the api document of every case: each must load without errors, and the route
// the case expects must exist in the model.
func TestConformanceCaseAPIs(t *testing.T) {
	for _, file := range caseFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c conformanceCase
			if err := yaml.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.API) == 0 {
				t.Fatalf("%s has no api document", file)
			}
			res, err := Load(file, c.API, Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if res.Format != FormatOpenAPI3 {
				t.Errorf("format = %q, want openapi3", res.Format)
			}
			if r := c.Expect.Route; r != nil {
				if findResource(t, res.API, r.Resource).ResourceMethods[r.Method] == nil {
					t.Errorf("expected route %s %s is not in the model", r.Method, r.Resource)
				}
			}
		})
	}
}
