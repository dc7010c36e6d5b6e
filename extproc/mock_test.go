package extproc_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
)

func mockRoute(templates ir.MockTemplates, gw map[string]ir.GatewayResponse) *ir.ProcessorRoute {
	segs, _ := ir.ParseResourcePath("/items/{id}")
	return &ir.ProcessorRoute{APIID: "a1", Stage: "prod", GatewayResponses: gw, Route: ir.Route{Name: "a1/prod/r1/POST",
		ResourcePath: "/items/{id}", Segments: segs, Method: "POST",
		Integration: ir.Integration{Type: ir.Mock, Mock: &ir.MockIntegration{MockTemplates: templates}}}}
}

func header(hs [][2]string, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// TestServeMockFailures: a template that names no status is API Gateway's 500, explained by one log line naming
// the route and the cause; a refused Content-Type is the 415 UNSUPPORTED_MEDIA_TYPE, shaped by the stage's
// gateway responses.
func TestServeMockFailures(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rh := extproc.NewRequestHeaders([][2]string{{":method", "POST"}, {":path", "/prod/items/7?x=1"}, {":authority", "h"}, {"content-type", "application/json"}})
	noStatus := mockRoute(ir.MockTemplates{RequestTemplates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"id": "$input.params('id')"}`}},
		Responses: []ir.MockResponse{{StatusCode: 200}}}, nil)
	r := extproc.ServeMock(context.Background(), log, noStatus, rh, nil)
	if r.StatusCode != 500 || string(r.Body) != `{"message": "Internal server error"}` || header(r.Headers, "x-amzn-ErrorType") != "InternalServerErrorException" {
		t.Errorf("no status: %d %v %q", r.StatusCode, r.Headers, r.Body)
	}
	if line := logs.String(); !strings.Contains(line, "route=a1/prod/r1/POST") || !strings.Contains(line, "error=") || !strings.Contains(line, "statusCode") {
		t.Errorf("log line does not explain the 500: %q", line)
	}
	if id := header(r.Headers, "x-amzn-RequestId"); id == "" || !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("the 500's x-amzn-RequestId %q is not the log line's request_id: %q", id, logs.String())
	}
	never := mockRoute(ir.MockTemplates{Passthrough: "NEVER", RequestTemplates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"statusCode": 200}`}},
		Responses: []ir.MockResponse{{StatusCode: 200}}}, map[string]ir.GatewayResponse{"UNSUPPORTED_MEDIA_TYPE": {Headers: [][2]string{{"X-Why", "media"}}}})
	rh = extproc.NewRequestHeaders([][2]string{{":method", "POST"}, {":path", "/prod/items/7"}, {":authority", "h"}, {"content-type", "text/plain"}})
	r = extproc.ServeMock(context.Background(), log, never, rh, []byte("hi"))
	if r.StatusCode != 415 || header(r.Headers, "x-why") != "media" || header(r.Headers, "x-amzn-ErrorType") != "UnsupportedMediaTypeException" {
		t.Errorf("NEVER: %d %v %q", r.StatusCode, r.Headers, r.Body)
	}
}
