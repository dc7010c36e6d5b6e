// Package authz is proxyplus's authorization service: Envoy's ext_authz filter calls it (envoy.service.auth.v3
// Authorization/Check) on every route that requires an API key or a Cognito user pool authorizer
// (xds/builder/authz.go). It is stateless apart from the usage-plan counters, trusts only the route data the
// control plane signed, and answers as API Gateway does (AUTHORIZERS.md §5, §6):
//   - Cognito: jwt_authn has verified the token (signature, issuer, expiry); the service checks token_use — an ID
//     token when the method declares no scopes, an access token whose scope claim holds one of the method's
//     scopes otherwise — and refuses with 401 {"message":"Unauthorized"};
//   - API key (source HEADER): the x-api-key header must name an enabled key of a usage plan bound to the stage,
//     else 403 {"message":"Forbidden"}; then the plan's throttle (429 {"message":"Too Many Requests"}) and quota
//     (429 {"message":"Limit Exceeded"}) apply;
//   - OK carries {apiKey, apiKeyId} as dynamic metadata for the Lambda event's requestContext.identity.
package authz

import (
	"context"
	"log/slog"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/internal/ids"
	"github.com/proxyplus/proxyplus/internal/routecache"
	"github.com/proxyplus/proxyplus/ir"
)

// Namespaces and keys shared with the translator and the processor.
const (
	// JWTAuthnNamespace is jwt_authn's dynamic-metadata namespace and ClaimsKey its payload_in_metadata.
	JWTAuthnNamespace = "envoy.filters.http.jwt_authn"
	ClaimsKey         = "cognito_claims"
	// MetadataAPIKey and MetadataAPIKeyID are the OK answer's dynamic metadata fields.
	MetadataAPIKey   = "apiKey"
	MetadataAPIKeyID = "apiKeyId"
)

// Answers API Gateway gives (AUTHORIZERS.md; DG supported-gateway-response-types.md: UNAUTHORIZED 401,
// INVALID_API_KEY 403, THROTTLED 429, QUOTA_EXCEEDED 429 with the default template {"message":$context.error
// .messageString}). The 429 messages are AWS's as commonly observed, not pinned by a case.
var (
	Unauthorized = Denial{Type: apianswer.Unauthorized, Status: 401, Body: `{"message":"Unauthorized"}`,
		ErrorType: "UnauthorizedException", Message: "Unauthorized"}
	Forbidden = Denial{Type: apianswer.InvalidAPIKey, Status: 403, Body: `{"message":"Forbidden"}`,
		ErrorType: "ForbiddenException", Message: "Forbidden"}
	Throttled = Denial{Type: apianswer.Throttled, Status: 429, Body: `{"message":"Too Many Requests"}`,
		ErrorType: "TooManyRequestsException", Message: "Too Many Requests"}
	QuotaExceeded = Denial{Type: apianswer.QuotaExceeded, Status: 429, Body: `{"message":"Limit Exceeded"}`,
		ErrorType: "LimitExceededException", Message: "Limit Exceeded"}
)

// Denial is a refusal as the client receives it without gateway-response customisation.
type Denial struct {
	// Type is the gateway response type that customises it (UNAUTHORIZED, INVALID_API_KEY, THROTTLED,
	// QUOTA_EXCEEDED).
	Type      string
	Status    int
	Body      string
	ErrorType string
	// Message is $context.error.message.
	Message string
}

// Answer is d as the stage's customised gateway responses shape it (specific type, else DEFAULT_4XX; MOCK-CORS.md
// §3) for a request accepting accept; extra are the customisation's headers.
func Answer(pr *ir.ProcessorRoute, d *Denial, accept string) (out Denial, extra [][2]string) {
	if pr == nil || len(pr.GatewayResponses) == 0 {
		return *d, nil
	}
	a := apianswer.Gateway(pr.GatewayResponses, apianswer.GatewayError{Type: d.Type, StatusCode: d.Status, Body: d.Body,
		ErrorType: d.ErrorType, Message: d.Message}, accept, apianswer.GatewayContext{Stage: pr.Stage, APIID: pr.APIID, StageVariables: pr.StageVariables})
	out = *d
	out.Status, out.Body = a.StatusCode, string(a.Body)
	return out, a.Headers
}

// Service implements envoy.service.auth.v3.Authorization.
type Service struct {
	authv3.UnimplementedAuthorizationServer
	// RouteKeys verify the route data in the check's context extension.
	RouteKeys ir.RouteKeys
	// Keys are the API keys and usage plans; nil refuses every API-key route.
	Keys KeySource
	// Limits counts usage against the plans.
	Limits *Limiter
	Log    *slog.Logger

	// routes caches verified route data by its exact value (MAC included), so each distinct value is verified
	// and decoded once.
	routes routecache.Cache
}

// route verifies and decodes route data, once per distinct value.
func (s *Service) route(v string) (*ir.ProcessorRoute, error) { return s.routes.Decode(v, s.RouteKeys) }

// Check decides one request.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d, md, pr := s.decide(req, time.Now())
	if d != nil {
		out, extra := Answer(pr, d, req.GetAttributes().GetRequest().GetHttp().GetHeaders()["accept"])
		return denied(out, extra), nil
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.OK)}, DynamicMetadata: md,
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// Decide is Check without the wire: a denial, or the dynamic metadata of an allowed request.
func (s *Service) Decide(req *authv3.CheckRequest, now time.Time) (*Denial, *structpb.Struct) {
	d, md, _ := s.decide(req, now)
	return d, md
}

// decide is Decide with the verified route data (nil when rejected), whose gateway responses shape a denial.
func (s *Service) decide(req *authv3.CheckRequest, now time.Time) (*Denial, *structpb.Struct, *ir.ProcessorRoute) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	attrs := req.GetAttributes()
	pr, err := s.route(attrs.GetContextExtensions()[ir.RouteMetadataKey])
	if err != nil {
		// Not route data the control plane issued: nothing is let through.
		log.Error("authz: route data rejected", "error", err)
		return &Forbidden, nil, nil
	}
	a := pr.Route.Authorization
	if a == nil {
		log.Error("authz: route data without an authorization requirement", "route", pr.Route.Name)
		return &Forbidden, nil, pr
	}
	if c := a.Cognito; c != nil {
		claims := attrs.GetMetadataContext().GetFilterMetadata()[JWTAuthnNamespace].GetFields()[ClaimsKey].GetStructValue()
		if !tokenAllowed(claims, c.Scopes) {
			return &Unauthorized, nil, pr
		}
	}
	if !a.APIKeyRequired {
		return nil, nil, pr
	}
	if a.APIKeySource == ir.APIKeySourceAuthorizer {
		if a.Lambda != nil {
			// The key is the Lambda authorizer's usageIdentifierKey: the processor checks it (CheckKey) after
			// running the authorizer, which comes after this filter (xds/builder authzRoute sends such routes
			// here only for Cognito, which has no Lambda authorizer).
			return nil, nil, pr
		}
		return &Forbidden, nil, pr
	}
	d, k := s.CheckKey(pr.APIID, pr.Stage, attrs.GetRequest().GetHttp().GetHeaders()[ir.APIKeyHeader], now)
	if d != nil {
		return d, nil, pr
	}
	return nil, &structpb.Struct{Fields: map[string]*structpb.Value{
		MetadataAPIKey: structpb.NewStringValue(k.Value), MetadataAPIKeyID: structpb.NewStringValue(k.ID),
	}}, pr
}

// CheckKey is the API-key check of a request to apiID's stage presenting value — the x-api-key header, or a
// Lambda authorizer's usageIdentifierKey (API key source AUTHORIZER, checked by the processor): a denial
// (403 Forbidden for a missing, unknown or disabled key; 429 from the key's usage plan), or the key.
func (s *Service) CheckKey(apiID, stage, value string, now time.Time) (*Denial, *Key) {
	if value == "" || s.Keys == nil {
		return &Forbidden, nil
	}
	k, ok := s.Keys.Lookup(apiID, stage, value)
	if !ok || !k.Enabled {
		return &Forbidden, nil
	}
	if s.Limits != nil {
		if d := s.Limits.Take(k, now); d != nil {
			return d, nil
		}
	}
	return nil, k
}

// tokenAllowed is API Gateway's use of a verified Cognito token (DG apigateway-enable-cognito-user-pool.md): with
// no scopes on the method, an ID token; with scopes, an access token whose scope claim holds any of them.
func tokenAllowed(claims *structpb.Struct, scopes []string) bool {
	if claims == nil {
		return false
	}
	use := claims.GetFields()["token_use"].GetStringValue()
	if len(scopes) == 0 {
		return use == "id"
	}
	if use != "access" {
		return false
	}
	for _, have := range strings.Fields(claims.GetFields()["scope"].GetStringValue()) {
		for _, want := range scopes {
			if have == want {
				return true
			}
		}
	}
	return false
}

func denied(d Denial, extra [][2]string) *authv3.CheckResponse {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
	}
	// The gateway's headers (ERR-1): a request id and an extended id per answer, as on every gateway error.
	hs := []*corev3.HeaderValueOption{set("content-type", "application/json"), set("x-amzn-RequestId", ids.NewUUID()),
		set("x-amz-apigw-id", ids.NewUUID()), set("x-amzn-ErrorType", d.ErrorType)}
	// A customised header replaces one of those of the same name: Envoy adds every headers_to_set entry, after
	// removing the names from the reply (ext_authz.cc Filter::onComplete, CheckStatus::Denied, main 1.37.0-dev,
	// 321a098d81), so a repeated name would be sent twice.
next:
	for _, h := range extra {
		for _, o := range hs {
			if strings.EqualFold(o.Header.Key, h[0]) {
				o.Header.Value = h[1]
				continue next
			}
		}
		hs = append(hs, set(h[0], h[1]))
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
			Body:    d.Body,
			Headers: hs,
		}}}
}
