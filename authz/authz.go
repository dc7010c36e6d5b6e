// Package authz is proxyplus's authorization service: Envoy's ext_authz filter calls it (envoy.service.auth.v3
// Authorization/Check) on every route that requires an API key or a Cognito user pool authorizer
// (xds/translator/authz.go). It is stateless apart from the usage-plan counters, trusts only the route data the
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
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

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
	Unauthorized  = Denial{Status: 401, Body: `{"message":"Unauthorized"}`, ErrorType: "UnauthorizedException"}
	Forbidden     = Denial{Status: 403, Body: `{"message":"Forbidden"}`, ErrorType: "ForbiddenException"}
	Throttled     = Denial{Status: 429, Body: `{"message":"Too Many Requests"}`, ErrorType: "TooManyRequestsException"}
	QuotaExceeded = Denial{Status: 429, Body: `{"message":"Limit Exceeded"}`, ErrorType: "LimitExceededException"}
)

// Denial is a refusal as the client receives it.
type Denial struct {
	Status    int
	Body      string
	ErrorType string
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
	// and decoded once; bounded by maxCachedRoutes (cleared when full).
	mu     sync.RWMutex
	routes map[string]*ir.ProcessorRoute
}

const maxCachedRoutes = 4096

// route verifies and decodes route data, once per distinct value.
func (s *Service) route(v string) (*ir.ProcessorRoute, error) {
	s.mu.RLock()
	pr := s.routes[v]
	s.mu.RUnlock()
	if pr != nil {
		return pr, nil
	}
	pr, err := ir.DecodeProcessorRoute(v, s.RouteKeys)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.routes == nil || len(s.routes) >= maxCachedRoutes {
		s.routes = map[string]*ir.ProcessorRoute{}
	}
	s.routes[v] = pr
	s.mu.Unlock()
	return pr, nil
}

// Check decides one request.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d, md := s.Decide(req, time.Now())
	if d != nil {
		return denied(*d), nil
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.OK)}, DynamicMetadata: md,
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// Decide is Check without the wire: a denial, or the dynamic metadata of an allowed request.
func (s *Service) Decide(req *authv3.CheckRequest, now time.Time) (*Denial, *structpb.Struct) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	attrs := req.GetAttributes()
	pr, err := s.route(attrs.GetContextExtensions()[ir.RouteMetadataKey])
	if err != nil {
		// Not route data the control plane issued: nothing is let through.
		log.Error("authz: route data rejected", "error", err)
		return &Forbidden, nil
	}
	a := pr.Route.Authorization
	if a == nil {
		log.Error("authz: route data without an authorization requirement", "route", pr.Route.Name)
		return &Forbidden, nil
	}
	if c := a.Cognito; c != nil {
		claims := attrs.GetMetadataContext().GetFilterMetadata()[JWTAuthnNamespace].GetFields()[ClaimsKey].GetStructValue()
		if !tokenAllowed(claims, c.Scopes) {
			return &Unauthorized, nil
		}
	}
	if !a.APIKeyRequired {
		return nil, nil
	}
	if a.APIKeySource == ir.APIKeySourceAuthorizer {
		if a.Lambda != nil {
			// The key is the Lambda authorizer's usageIdentifierKey: the processor checks it (CheckKey) after
			// running the authorizer, which comes after this filter (xds/translator authzRoute sends such routes
			// here only for Cognito, which has no Lambda authorizer).
			return nil, nil
		}
		return &Forbidden, nil
	}
	d, k := s.CheckKey(pr.APIID, pr.Stage, attrs.GetRequest().GetHttp().GetHeaders()[ir.APIKeyHeader], now)
	if d != nil {
		return d, nil
	}
	return nil, &structpb.Struct{Fields: map[string]*structpb.Value{
		MetadataAPIKey: structpb.NewStringValue(k.Value), MetadataAPIKeyID: structpb.NewStringValue(k.ID),
	}}
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

func denied(d Denial) *authv3.CheckResponse {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
			Body:   d.Body,
			// The gateway's headers (ERR-1): a request id and an extended id per answer, as on every gateway error.
			Headers: []*corev3.HeaderValueOption{set("content-type", "application/json"), set("x-amzn-RequestId", newUUID()),
				set("x-amz-apigw-id", newUUID()), set("x-amzn-ErrorType", d.ErrorType)},
		}}}
}

// newUUID is a random UUID v4.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
