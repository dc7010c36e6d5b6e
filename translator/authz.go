package translator

import (
	"fmt"
	"strings"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// methodAuthorization is what a method requires of a caller (ir.Authorization) on a stage with variables vars:
// the Lambda authorizer (CUSTOM) or the Cognito user pool authorizer it names, with its scopes, and where its API
// key is read. A COGNITO_USER_POOLS method whose authorizer cannot be
// enforced (no provider ARN, an ARN that names no pool) keeps Cognito nil and is refused (fail-closed), with an
// error naming the method and the authorizer.
func methodAuthorization(file, loc string, def *apigatewayv1.RestApi, meth *apigatewayv1.Method, vars map[string]string) (*ir.Authorization, diag.List) {
	a := ir.NewAuthorization(meth.GetAuthorizationType(), meth.GetApiKeyRequired(), def.GetApiKeySource())
	if a == nil {
		return nil, nil
	}
	if a.Type == ir.AuthCustom {
		l, ds := lambdaAuthorizer(file, loc, def, meth, vars)
		a.Lambda = l
		return a, ds
	}
	if a.Type != ir.AuthCognito {
		return a, nil
	}
	var az *apigatewayv1.Authorizer
	for _, x := range def.GetAuthorizers() {
		if x.GetName() == meth.GetAuthorizerName() {
			az = x
		}
	}
	fail := func(msg string) diag.List {
		return diag.List{{Severity: diag.Warning, File: file, Field: "authorizer", Rule: "AUTH-COGNITO",
			Message: fmt.Sprintf("%s: %s; the method is refused to every caller", loc, msg)}}
	}
	if az == nil {
		return a, fail(fmt.Sprintf("COGNITO_USER_POOLS method names no known authorizer (%q)", meth.GetAuthorizerName()))
	}
	pools, err := ir.ParseUserPoolARNs(az.GetProviderArns())
	if err != nil {
		return a, fail(fmt.Sprintf("authorizer %s: %v", az.GetName(), err))
	}
	if len(pools) == 0 {
		return a, fail(fmt.Sprintf("authorizer %s has no providerARNs", az.GetName()))
	}
	a.Cognito = &ir.CognitoAuthorizer{Name: az.GetName(), TokenHeader: cognitoTokenHeader(az), Pools: pools, Scopes: meth.GetAuthorizationScopes()}
	return a, nil
}

// cognitoTokenHeader is the header a Cognito authorizer reads: identitySource method.request.header.X, else the
// scheme's name (in: header), else Authorization (API Gateway's default identity source for user pools).
func cognitoTokenHeader(az *apigatewayv1.Authorizer) string {
	if h, ok := strings.CutPrefix(az.GetIdentitySource(), "method.request.header."); ok && h != "" {
		return h
	}
	if az.GetSchemeIn() == "header" && az.GetSchemeName() != "" {
		return az.GetSchemeName()
	}
	return "Authorization"
}
