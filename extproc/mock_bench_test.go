package extproc_test

import (
	"testing"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

// mockBenchRoute is the signed route data of a templated MOCK on REF-EVENT's resource (POST /orders/{orderId}):
// the request template picks the status, the response template reads path, query, a header, the context and
// the body, so the answer depends on the request and the processor renders it.
func mockBenchRoute(tb testing.TB) string {
	tb.Helper()
	pr := ir.ProcessorRoute{APIID: "abc123defg", Stage: "dev", DeploymentID: "p2k7xw", Route: ir.Route{
		ResourceID: "k3x9qa", ResourcePath: "/orders/{orderId}", Method: "POST",
		Integration: ir.Integration{Type: ir.Mock, Mock: &ir.MockIntegration{StatusCode: 200, MockTemplates: ir.MockTemplates{
			RequestTemplates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"statusCode": 200}`}},
			Responses: []ir.MockResponse{{StatusCode: 200,
				Headers: []ir.Mapping{{Name: "Access-Control-Allow-Origin", Source: ir.ValueSource{Kind: ir.FromStatic, Name: "*"}}},
				Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `{"orderId": "$input.params('orderId')", ` +
					`"currency": "$input.params('currency')", "agent": "$input.params('user-agent')", ` +
					`"requestId": "$context.requestId", "stage": "$context.stage", "order": $input.json('$')}`}}}},
		}}},
	}}
	v, err := ir.EncodeProcessorRoute(pr, testutil.RouteKeys(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
