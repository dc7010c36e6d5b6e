package loader

import (
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/diag"
)

// TestLambdaAuthorizerNotReportedUnenforced: a method protected by a Lambda TOKEN or REQUEST authorizer is enforced
// (issue 11 scope 1), so it gets no AUTH-1 finding and its extensions no OAS-10; so is a Cognito-protected one
// (jwt_authn + authz); an AWS_IAM one still gets both.
func TestLambdaAuthorizerNotReportedUnenforced(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		auth1  bool
	}{
		{"{type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: custom, x-amazon-apigateway-authorizer: {type: token, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations'}}", false},
		{"{type: apiKey, name: U, in: header, x-amazon-apigateway-authtype: custom, x-amazon-apigateway-authorizer: {type: request, identitySource: method.request.header.X, authorizerUri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations'}}", false},
		{"{type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: cognito_user_pools, x-amazon-apigateway-authorizer: {type: cognito_user_pools, providerARNs: ['arn:aws:cognito-idp:us-east-1:000000000000:userpool/p']}}", false},
		{"{type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}", true},
	} {
		doc := strings.Replace(oasGet(""), "    get:\n", "    get:\n      security: [{auth: []}]\n", 1) +
			"components:\n  securitySchemes:\n    auth: " + tc.scheme + "\n"
		res, err := Load("api.yaml", []byte(doc), Options{})
		if err != nil {
			t.Fatalf("load: %v %v", err, res.Diagnostics)
		}
		got, oas10 := false, false
		for _, d := range res.Diagnostics {
			got = got || d.Rule == diag.RuleUnenforcedAuthorization
			oas10 = oas10 || d.Rule == "OAS-10"
		}
		if oas10 != tc.auth1 {
			// Lambda and Cognito authorizers' extensions are read; AWS_IAM's authtype is reported as not enforced.
			t.Errorf("%s: OAS-10 reported %v: %v", tc.scheme, oas10, res.Diagnostics)
		}
		if got != tc.auth1 {
			t.Errorf("%s: AUTH-1 reported %v, want %v: %v", tc.scheme, got, tc.auth1, res.Diagnostics)
		}
	}
}
