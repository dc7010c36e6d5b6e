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
	auth := &ir.Authorization{Type: ir.AuthCustom, APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader, Lambda: &ir.LambdaAuthorizer{Name: "tok",
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
}

// TestEnforcedCombinations: a method is served only when proxyplus enforces every requirement it has — a Lambda
// authorizer (the processor), a Cognito user pool (jwt_authn + authz), an API key from x-api-key (authz over
// ext_authz) and an API key from the method's Lambda authorizer's usageIdentifierKey (source AUTHORIZER, checked by
// the processor); an AUTHORIZER-source key without a Lambda authorizer cannot be supplied.
func TestEnforcedCombinations(t *testing.T) {
	lambda := &ir.LambdaAuthorizer{Name: "tok", Type: ir.AuthorizerToken, FunctionARN: "arn:aws:lambda:us-east-1:1:function:a"}
	cognito := &ir.CognitoAuthorizer{Name: "pool", TokenHeader: "Authorization", Pools: []ir.UserPool{{Region: "us-east-1", ID: "us-east-1_X"}}}
	for _, c := range []struct {
		name string
		a    ir.Authorization
		want bool
	}{
		{"lambda", ir.Authorization{Type: ir.AuthCustom, Lambda: lambda}, true},
		{"lambda without a runnable authorizer", ir.Authorization{Type: ir.AuthCustom}, false},
		{"lambda + header key", ir.Authorization{Type: ir.AuthCustom, Lambda: lambda, APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}, true},
		{"lambda + key of unstated source", ir.Authorization{Type: ir.AuthCustom, Lambda: lambda, APIKeyRequired: true}, true},
		{"lambda + authorizer key", ir.Authorization{Type: ir.AuthCustom, Lambda: lambda, APIKeyRequired: true, APIKeySource: ir.APIKeySourceAuthorizer}, true},
		{"cognito + authorizer key", ir.Authorization{Type: ir.AuthCognito, Cognito: cognito, APIKeyRequired: true, APIKeySource: ir.APIKeySourceAuthorizer}, false},
		{"cognito", ir.Authorization{Type: ir.AuthCognito, Cognito: cognito}, true},
		{"cognito without pools", ir.Authorization{Type: ir.AuthCognito}, false},
		{"cognito + header key", ir.Authorization{Type: ir.AuthCognito, Cognito: cognito, APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}, true},
		{"header key only", ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}, true},
		{"authorizer key only", ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceAuthorizer}, false},
		{"AWS_IAM", ir.Authorization{Type: ir.AuthAWSIAM}, false},
	} {
		if got := c.a.Enforced(); got != c.want {
			t.Errorf("%s: Enforced() = %v, want %v", c.name, got, c.want)
		}
	}
}
