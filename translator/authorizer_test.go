package translator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
)

func TestLambdaAuthorizer(t *testing.T) {
	ttl := func(v int32) *int32 { return &v }
	uri := "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:${stageVariables.fn}/invocations"
	vars := map[string]string{"fn": "auth", "tenant": "acme"}

	l, err := translator.LambdaAuthorizer(&apigatewayv1.Authorizer{Name: "t", Type: "TOKEN", AuthorizerUri: uri, SchemeIn: "header", SchemeName: "X-Token"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	if l.FunctionARN != "arn:aws:lambda:eu-west-1:123456789012:function:auth" || l.Region != "eu-west-1" || time.Duration(l.TTL) != 300*time.Second ||
		len(l.IdentitySources) != 1 || l.IdentitySources[0] != (ir.ValueSource{Kind: ir.FromHeader, Name: "x-token"}) {
		t.Errorf("TOKEN authorizer %+v", l)
	}

	l, err = translator.LambdaAuthorizer(&apigatewayv1.Authorizer{Name: "r", Type: "REQUEST", AuthorizerUri: uri, AuthorizerResultTtlInSeconds: ttl(0),
		IdentitySource: "method.request.header.X-A, method.request.querystring.q,stageVariables.tenant, context.httpMethod"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := []ir.ValueSource{{Kind: ir.FromHeader, Name: "x-a"}, {Kind: ir.FromQuery, Name: "q"}, {Kind: ir.FromStatic, Name: "acme"}, {Kind: ir.FromContext, Name: "httpMethod"}}
	if l.TTL != 0 || len(l.IdentitySources) != 4 {
		t.Fatalf("REQUEST authorizer %+v", l)
	}
	for i, w := range want {
		if l.IdentitySources[i] != w {
			t.Errorf("source %d: %+v, want %+v", i, l.IdentitySources[i], w)
		}
	}

	for _, tc := range []struct {
		az   *apigatewayv1.Authorizer
		want string
	}{
		{&apigatewayv1.Authorizer{Name: "a", Type: "TOKEN", AuthorizerUri: uri, IdentitySource: "method.request.querystring.t"}, "exactly one header"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "REQUEST", AuthorizerUri: uri, IdentitySource: "method.request.body.x"}, "is not method.request.header"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "REQUEST", AuthorizerUri: uri}, "needs an identitySource"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "TOKEN", AuthorizerUri: uri, IdentitySource: "method.request.header.A", AuthorizerResultTtlInSeconds: ttl(3601)}, "outside 0..3600"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "TOKEN", AuthorizerUri: uri, IdentitySource: "method.request.header.A", IdentityValidationExpression: "(["}, "identityValidationExpression"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "TOKEN", AuthorizerUri: "https://example.com/x", IdentitySource: "method.request.header.A"}, "authorizerUri"},
		{&apigatewayv1.Authorizer{Name: "a", Type: "TOKEN", AuthorizerUri: strings.Replace(uri, "${stageVariables.fn}", "${stageVariables.nope}", 1), IdentitySource: "method.request.header.A"}, "nope"},
	} {
		if _, err := translator.LambdaAuthorizer(tc.az, vars); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.az, err, tc.want)
		}
	}
}

// FuzzLambdaAuthorizerSources: any identitySource, validation expression and TTL either translate or are refused
// with an error; a TOKEN authorizer that translates reads exactly one header.
func FuzzLambdaAuthorizerSources(f *testing.F) {
	f.Add("TOKEN", "method.request.header.Authorization", "^Bearer .+$", int32(300))
	f.Add("REQUEST", "method.request.header.A, method.request.querystring.b,stageVariables.c,context.d", "", int32(0))
	f.Add("REQUEST", ",,, method.request.header.", "(", int32(-1))
	f.Fuzz(func(t *testing.T, typ, src, expr string, ttl int32) {
		az := &apigatewayv1.Authorizer{Name: "a", Type: typ, IdentitySource: src, IdentityValidationExpression: expr,
			AuthorizerResultTtlInSeconds: &ttl,
			AuthorizerUri:                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations"}
		l, err := translator.LambdaAuthorizer(az, map[string]string{"c": "v"})
		if err != nil {
			return
		}
		if typ == ir.AuthorizerToken && (len(l.IdentitySources) != 1 || l.IdentitySources[0].Kind != ir.FromHeader) {
			t.Errorf("TOKEN authorizer with sources %+v", l.IdentitySources)
		}
	})
}
