package ir_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

// TestProcessorRouteCarriesAuthorizer: a route's Lambda authorizer reaches the processor in the signed route data,
// whole, and a route without one decodes without one.
func TestProcessorRouteCarriesAuthorizer(t *testing.T) {
	keys := testutil.RouteKeys(t)
	segs, _ := ir.ParseResourcePath("/pets/{petId}")
	auth := &ir.Authorization{Type: ir.AuthCustom, APIKeyRequired: true, Lambda: &ir.LambdaAuthorizer{Name: "tok",
		Type: ir.AuthorizerRequest, FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:auth:live", Region: "us-east-1",
		IdentitySources: []ir.ValueSource{{Kind: ir.FromHeader, Name: "x-tenant"}, {Kind: ir.FromQuery, Name: "s"},
			{Kind: ir.FromStatic, Name: "v%1"}, {Kind: ir.FromContext, Name: "identity.sourceIp"}},
		ValidationExpression: `^Bearer [a-z]+$`, TTL: ir.Duration(90 * time.Second)}}
	for _, a := range []*ir.Authorization{auth, nil} {
		pr := ir.ProcessorRoute{APIID: "a1", Stage: "prod", Route: ir.Route{ResourceID: "r1", ResourcePath: "/pets/{petId}",
			Segments: segs, Method: "GET", Authorization: a, Integration: ir.Integration{Type: ir.AWSProxy,
				Lambda: &ir.LambdaIntegration{FunctionARN: "fn", Timeout: ir.Duration(time.Second)}}}}
		v, err := ir.EncodeProcessorRoute(pr, keys)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ir.DecodeProcessorRoute(v, keys)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Route.Authorization, a) {
			t.Errorf("authorization %+v, want %+v", got.Route.Authorization, a)
		}
	}
	if (&ir.Authorization{Type: ir.AuthCustom, Lambda: auth.Lambda}).Enforced() != true || auth.Enforced() {
		t.Error("Enforced: a Lambda authorizer alone is enforced; with an API key it is not (yet)")
	}
}
