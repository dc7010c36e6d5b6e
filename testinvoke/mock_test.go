package testinvoke_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"

	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
)

// countingProcessor forwards to a real processor and counts the streams Envoy would open.
type countingProcessor struct {
	extprocsvcv3.ExternalProcessorClient
	calls atomic.Int32
}

func (c *countingProcessor) Process(ctx context.Context, opts ...grpc.CallOption) (extprocsvcv3.ExternalProcessor_ProcessClient, error) {
	c.calls.Add(1)
	return c.ExternalProcessorClient.Process(ctx, opts...)
}

func petstoreInvoker(t testing.TB) (*testinvoke.Invoker, *countingProcessor) {
	t.Helper()
	const file = "../examples/petstore/aws-example.oas30.yaml"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := deployConfig(t, file, raw, "test", nil)
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProcessor{ExternalProcessorClient: startProcessor(t, nil, inv.RouteKeys())}
	inv.Processor = p
	return inv, p
}

func mockHeader(m *testinvoke.Message, name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// TestPetStoreLandingPage: the PetStore example's GET / answers its HTML page with Content-Type text/html, for a
// browser's Accept and curl's alike, rendered at translation time ($context.stage) and sent by Envoy alone.
func TestPetStoreLandingPage(t *testing.T) {
	inv, p := petstoreInvoker(t)
	for _, accept := range []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "*/*", ""} {
		req := testinvoke.Request{Method: "GET", Target: "/test/"}
		if accept != "" {
			req.Headers = [][2]string{{"Accept", accept}}
		}
		got, err := inv.Invoke(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		r := got.Response
		if r.StatusCode != 200 || mockHeader(r, "content-type") != "text/html" {
			t.Errorf("Accept %q: status %d, Content-Type %q; want 200 text/html", accept, r.StatusCode, mockHeader(r, "content-type"))
		}
		if !strings.Contains(r.Body, "<h1>Welcome to your Pet Store API</h1>") || !strings.Contains(r.Body, `href="/test/pets/"`) {
			t.Errorf("Accept %q: body is not the landing page for stage test:\n%s", accept, r.Body)
		}
	}
	if n := p.calls.Load(); n != 0 {
		t.Errorf("the static MOCK called the processor %d times; Envoy answers it alone", n)
	}
}

// TestPreflightAnswersConfiguredOrigin: a CORS preflight is the resource's MOCK OPTIONS method; its answer is the
// configured literals whatever the Origin (MOCK-CORS.md §2), from Envoy alone.
func TestPreflightAnswersConfiguredOrigin(t *testing.T) {
	inv, p := petstoreInvoker(t)
	got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "OPTIONS", Target: "/test/pets/7", Headers: [][2]string{
		{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "GET"}, {"Access-Control-Request-Headers", "x-api-key"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := got.Response
	if r.StatusCode != 200 || mockHeader(r, "access-control-allow-origin") != "*" || mockHeader(r, "access-control-allow-methods") != "GET,OPTIONS" ||
		mockHeader(r, "content-type") != "application/json" || r.Body != "" {
		t.Errorf("preflight answered %d %v %q", r.StatusCode, r.Headers, r.Body)
	}
	if n := p.calls.Load(); n != 0 {
		t.Errorf("the preflight called the processor %d times", n)
	}
	// A Content-Type no request template names takes the passthrough path: the default response, still static.
	got, err = inv.Invoke(context.Background(), testinvoke.Request{Method: "OPTIONS", Target: "/test/pets", Headers: [][2]string{{"Content-Type", "text/plain"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Response.StatusCode != 200 || mockHeader(got.Response, "access-control-allow-origin") != "*" {
		t.Errorf("passthrough preflight answered %d %v", got.Response.StatusCode, got.Response.Headers)
	}
}

// TestGatewayResponsesShapeEnvoyErrors: errors Envoy makes itself (an integration failing at request time, a
// backend that refuses the connection) take the stage's customised gateway response through a local-reply
// mapper: status override, header literals, the template with $context.error.messageString and the stage.
func TestGatewayResponsesShapeEnvoyErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	doc := fmt.Sprintf(`openapi: 3.0.1
info: {title: t, version: '1'}
paths:
  /broken:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: GET
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations
  /down:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: http://127.0.0.1:%d/x
x-amazon-apigateway-gateway-responses:
  DEFAULT_5XX:
    statusCode: '503'
    responseParameters:
      gatewayresponse.header.Access-Control-Allow-Origin: "'https://app.example.com'"
    responseTemplates:
      application/json: '{"error": $context.error.messageString, "stage": "$context.stage"}'
`, closedPort)
	cfg := deployConfig(t, "t.yaml", []byte(doc), "prod", nil)
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/prod/broken", "/prod/down"} {
		got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: target})
		if err != nil {
			t.Fatal(err)
		}
		r := got.Response
		if r.StatusCode != 503 || mockHeader(r, "access-control-allow-origin") != "https://app.example.com" ||
			r.Body != `{"error": "Internal server error", "stage": "prod"}` || mockHeader(r, "x-amzn-errortype") != "InternalServerErrorException" {
			t.Errorf("%s: %d %v %q", target, r.StatusCode, r.Headers, r.Body)
		}
	}
}

// TestLargeStaticMockGoesThroughProcessor: a static answer longer than Envoy's direct_response limit (4096 bytes
// by default, config_impl.cc) would make Envoy reject the route configuration; the processor answers it instead.
func TestLargeStaticMockGoesThroughProcessor(t *testing.T) {
	page := strings.Repeat("x", 5000)
	doc := `openapi: 3.0.1
info: {title: t, version: '1'}
paths:
  /big:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: '200'
            responseTemplates: {text/plain: '` + page + `'}
`
	cfg := deployConfig(t, "t.yaml", []byte(doc), "prod", nil)
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProcessor{ExternalProcessorClient: startProcessor(t, nil, inv.RouteKeys())}
	inv.Processor = p
	got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/prod/big"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Response.StatusCode != 200 || got.Response.Body != page || p.calls.Load() != 1 {
		t.Errorf("status %d, %d body bytes, %d processor streams", got.Response.StatusCode, len(got.Response.Body), p.calls.Load())
	}
}

// TestGatewayResponseMappersPerStage: with two stages served, each stage's errors take that stage's rendering
// (its stage variables and $context.stage): the mappers carry a :path filter for the stage.
func TestGatewayResponseMappersPerStage(t *testing.T) {
	doc := `openapi: 3.0.1
info: {title: t, version: '1'}
paths:
  /broken:
    get:
      responses: {}
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: GET
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations
x-amazon-apigateway-gateway-responses:
  DEFAULT_5XX:
    responseParameters:
      gatewayresponse.header.Access-Control-Allow-Origin: stageVariables.origin
    responseTemplates:
      application/json: '{"stage": "$context.stage"}'
`
	res, err := loader.Load("t.yaml", []byte(doc), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := translator.DeployStage("t.yaml", res.API, "prod", map[string]string{"origin": "https://prod.example"})
	in.Stages = append(in.Stages, translator.DeployStage("t.yaml", res.API, "beta", map[string]string{"origin": "https://beta.example"}).Stages...)
	cfg, diags := translator.Translate([]translator.Input{in}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"prod", "beta"} {
		got, err := inv.Invoke(context.Background(), testinvoke.Request{Method: "GET", Target: "/" + stage + "/broken?x=1"})
		if err != nil {
			t.Fatal(err)
		}
		r := got.Response
		if r.StatusCode != 500 || mockHeader(r, "access-control-allow-origin") != "https://"+stage+".example" || r.Body != `{"stage": "`+stage+`"}` {
			t.Errorf("stage %s: %d %v %q", stage, r.StatusCode, r.Headers, r.Body)
		}
	}
}
