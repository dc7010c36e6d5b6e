package translator

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// defaultAuthorizerTTL is API Gateway's authorizerResultTtlInSeconds when the definition does not give one
// (AUTHORIZERS.md §4; DG configure-api-gateway-lambda-authorization-with-console.md), maxAuthorizerTTL its maximum.
const (
	defaultAuthorizerTTL = 300 * time.Second
	maxAuthorizerTTL     = 3600 * time.Second
)

// lambdaAuthorizer is CUSTOM method m's Lambda authorizer on a stage with variables vars: the TOKEN or REQUEST
// authorizer of def it names, resolved; nil when it names none proxyplus can run. An authorizer that cannot be
// run is reported and leaves the method fail-closed (ir.API.Refusal).
func lambdaAuthorizer(file, loc string, def *apigatewayv1.RestApi, m *apigatewayv1.Method, vars map[string]string) (*ir.LambdaAuthorizer, diag.List) {
	if m.GetAuthorizerName() == "" {
		return nil, nil
	}
	for _, az := range def.GetAuthorizers() {
		if az.GetName() != m.GetAuthorizerName() {
			continue
		}
		if az.GetType() != ir.AuthorizerToken && az.GetType() != ir.AuthorizerRequest {
			return nil, nil
		}
		l, err := LambdaAuthorizer(az, vars)
		if err != nil {
			return nil, diag.List{{Severity: diag.Error, File: file, Field: "authorizers", Message: fmt.Sprintf("%s: %v", loc, err)}}
		}
		return l, nil
	}
	return nil, nil
}

// LambdaAuthorizer is az (TOKEN or REQUEST) as a stage with variables vars runs it: the function from
// authorizerUri, identity sources parsed (stage variables resolved), the TTL with API Gateway's default.
func LambdaAuthorizer(az *apigatewayv1.Authorizer, vars map[string]string) (*ir.LambdaAuthorizer, error) {
	uri, err := substituteStageVariables(az.GetAuthorizerUri(), vars)
	if err != nil {
		return nil, fmt.Errorf("authorizer %q: %w", az.GetName(), err)
	}
	fn, region, err := FunctionFromURI(uri)
	if err != nil {
		return nil, fmt.Errorf("authorizer %q authorizerUri: %w", az.GetName(), err)
	}
	l := &ir.LambdaAuthorizer{Name: az.GetName(), Type: az.GetType(), FunctionARN: fn, Region: region,
		ValidationExpression: az.GetIdentityValidationExpression(), TTL: ir.Duration(defaultAuthorizerTTL)}
	if region == "" {
		l.Region = "us-east-1"
	}
	if t := az.AuthorizerResultTtlInSeconds; t != nil {
		if *t < 0 || time.Duration(*t)*time.Second > maxAuthorizerTTL {
			return nil, fmt.Errorf("authorizer %q: authorizerResultTtlInSeconds %d is outside 0..3600", az.GetName(), *t)
		}
		l.TTL = ir.Duration(time.Duration(*t) * time.Second)
	}
	src := az.GetIdentitySource()
	if src == "" && l.Type == ir.AuthorizerToken && strings.EqualFold(az.GetSchemeIn(), "header") && az.GetSchemeName() != "" {
		// The OpenAPI form: a TOKEN authorizer's token is the header the security scheme names
		// (DG api-gateway-swagger-extensions-authorizer.md).
		src = "method.request.header." + az.GetSchemeName()
	}
	for part := range strings.SplitSeq(src, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		vs, err := identitySource(part, vars)
		if err != nil {
			return nil, fmt.Errorf("authorizer %q identitySource: %w", az.GetName(), err)
		}
		l.IdentitySources = append(l.IdentitySources, vs)
	}
	switch {
	case l.Type == ir.AuthorizerToken && (len(l.IdentitySources) != 1 || l.IdentitySources[0].Kind != ir.FromHeader):
		return nil, fmt.Errorf("authorizer %q: a TOKEN authorizer reads exactly one header (identitySource method.request.header.NAME), got %q", az.GetName(), src)
	case l.Type == ir.AuthorizerRequest && l.TTL > 0 && len(l.IdentitySources) == 0:
		return nil, fmt.Errorf("authorizer %q: a REQUEST authorizer with caching needs an identitySource", az.GetName())
	}
	if l.ValidationExpression != "" {
		if _, err := regexp.Compile(l.ValidationExpression); err != nil {
			return nil, fmt.Errorf("authorizer %q identityValidationExpression: %w", az.GetName(), err)
		}
	}
	return l, nil
}

// identitySource parses one identity source expression: method.request.header.X, method.request.querystring.X,
// stageVariables.X (resolved now) or context.X.
func identitySource(s string, vars map[string]string) (ir.ValueSource, error) {
	switch {
	case strings.HasPrefix(s, "method.request.header.") && len(s) > len("method.request.header."):
		return ir.ValueSource{Kind: ir.FromHeader, Name: strings.ToLower(s[len("method.request.header."):])}, nil
	case strings.HasPrefix(s, "method.request.querystring.") && len(s) > len("method.request.querystring."):
		return ir.ValueSource{Kind: ir.FromQuery, Name: s[len("method.request.querystring."):]}, nil
	case strings.HasPrefix(s, "stageVariables.") && len(s) > len("stageVariables."):
		return ir.ValueSource{Kind: ir.FromStatic, Name: vars[s[len("stageVariables."):]]}, nil
	case strings.HasPrefix(s, "context.") && len(s) > len("context."):
		return ir.ValueSource{Kind: ir.FromContext, Name: s[len("context."):]}, nil
	}
	return ir.ValueSource{}, fmt.Errorf("%q is not method.request.header.NAME, method.request.querystring.NAME, stageVariables.NAME or context.NAME", s)
}
