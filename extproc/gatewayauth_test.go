package extproc_test

import (
	"testing"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// TestApplyGatewayResponsesAuthorizationTypes: each refusal the processor makes for authorization — the Lambda
// authorizer's and the AUTHORIZER-source API-key check's — takes the customisation of its specific type
// (issue 11 scope 6), which beats DEFAULT_4XX / DEFAULT_5XX; an uncustomised type keeps its answer.
func TestApplyGatewayResponsesAuthorizationTypes(t *testing.T) {
	typed := func(status uint32) ir.GatewayResponse {
		return ir.GatewayResponse{StatusCode: status, Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `$context.error.responseType`}}}
	}
	pr := &ir.ProcessorRoute{APIID: "a", Stage: "prod", GatewayResponses: map[string]ir.GatewayResponse{
		"UNAUTHORIZED": typed(461), "ACCESS_DENIED": typed(462), "AUTHORIZER_CONFIGURATION_ERROR": typed(563),
		"INVALID_API_KEY": typed(464), "THROTTLED": typed(465), "QUOTA_EXCEEDED": typed(466),
		"DEFAULT_4XX": typed(400), "DEFAULT_5XX": typed(500),
	}}
	c := &lambdaproxy.Context{}
	for _, tc := range []struct {
		refusal *lambdaproxy.Response
		status  int
		body    string
	}{
		{lambdaproxy.GatewayResponse(401, `{"message":"Unauthorized"}`, "UnauthorizedException", authorizer.DetailsUnauthorized, c), 461, "UNAUTHORIZED"},
		{lambdaproxy.GatewayResponse(403, `{"Message":"User is not authorized to access this resource"}`, "AccessDeniedException", authorizer.DetailsDenied, c), 462, "ACCESS_DENIED"},
		{lambdaproxy.GatewayResponse(500, `{"message":null}`, "AuthorizerConfigurationException", authorizer.DetailsConfigError, c), 563, "AUTHORIZER_CONFIGURATION_ERROR"},
		{lambdaproxy.GatewayResponse(403, authz.Forbidden.Body, authz.Forbidden.ErrorType, "proxyplus_api_key_refused", c), 464, "INVALID_API_KEY"},
		{lambdaproxy.GatewayResponse(429, authz.Throttled.Body, authz.Throttled.ErrorType, "proxyplus_api_key_refused", c), 465, "THROTTLED"},
		{lambdaproxy.GatewayResponse(429, authz.QuotaExceeded.Body, authz.QuotaExceeded.ErrorType, "proxyplus_api_key_refused", c), 466, "QUOTA_EXCEEDED"},
	} {
		extproc.ApplyGatewayResponses(pr, "", tc.refusal)
		if tc.refusal.StatusCode != tc.status || string(tc.refusal.Body) != tc.body {
			t.Errorf("%s: %d %s, want %d %s", tc.refusal.Details, tc.refusal.StatusCode, tc.refusal.Body, tc.status, tc.body)
		}
	}
	// Only a 5XX default: a 403 refusal is left alone.
	r := lambdaproxy.GatewayResponse(403, `{"Message":"User is not authorized to access this resource"}`, "AccessDeniedException", authorizer.DetailsDenied, c)
	extproc.ApplyGatewayResponses(&ir.ProcessorRoute{GatewayResponses: map[string]ir.GatewayResponse{"DEFAULT_5XX": typed(503)}}, "", r)
	if r.StatusCode != 403 || string(r.Body) != `{"Message":"User is not authorized to access this resource"}` {
		t.Errorf("uncustomised refusal changed: %d %s", r.StatusCode, r.Body)
	}
}
