package ir_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

// TestProcessorRouteRoundTripMock: a MOCK route's signed value carries its templates, responses, passthrough
// behaviour, stage variables and the stage's gateway responses; not the static answers Envoy serves itself.
func TestProcessorRouteRoundTripMock(t *testing.T) {
	keys := testutil.RouteKeys(t)
	templates := ir.MockTemplates{
		RequestTemplates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"statusCode": $input.params('code')}`}},
		Passthrough:      "NEVER",
		Responses: []ir.MockResponse{
			{Pattern: `5\d{2}`, StatusCode: 500, Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"e": "100%"}`}}},
			{StatusCode: 200, Headers: []ir.Mapping{{Name: "X-Id", Source: ir.ValueSource{Kind: ir.FromPath, Name: "id"}}}},
		},
	}
	pr := ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "prod", DeploymentID: "dep001", StageVariables: map[string]string{"v": "1"},
		Route: ir.Route{ResourceID: "res001", ResourcePath: "/things/{id}", Method: "POST", Integration: ir.Integration{Type: ir.Mock,
			Mock: &ir.MockIntegration{StatusCode: 200, MockTemplates: templates}}},
		GatewayResponses: map[string]ir.GatewayResponse{"DEFAULT_5XX": {StatusCode: 503, Headers: [][2]string{{"A", "b"}},
			Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"m": $context.error.messageString}`}}}},
	}
	withStatic := pr
	withStatic.Route.Integration.Mock = &ir.MockIntegration{StatusCode: 200, MockTemplates: templates}
	withStatic.Route.Integration.Mock.Static = &ir.MockAnswer{StatusCode: 200, Body: "not sent"}
	v, err := ir.EncodeProcessorRoute(withStatic, keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := pr
	want.Route.Integration.Mock = &ir.MockIntegration{MockTemplates: templates}
	want.Route.Name = "a1b2c3d4e5/prod/res001/POST"
	want.Route.Segments = []ir.Segment{{Kind: ir.Literal, Text: "things"}, {Kind: ir.Param, Text: "id"}}
	if d := cmp.Diff(&want, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}
