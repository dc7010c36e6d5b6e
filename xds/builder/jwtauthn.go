package builder

import (
	"fmt"
	"sort"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/ir"
)

// Cognito user pool authorizers are enforced by Envoy's jwt_authn filter (issue 11 scope 2). What the filter
// does, read in Envoy source/extensions/filters/http/jwt_authn/ (main 1.37.0-dev, 321a098d81):
//   - filter.cc Filter::decodeHeaders: the route's JwtPerRoute names a requirement (findPerRouteVerifier); a route
//     without one has no verifier and continues at once, so routes without Cognito pay nothing (the filter is also
//     disabled on the HCM and enabled per route).
//   - authenticator.cc AuthenticatorImpl::verify/startVerify: no token in the provider's from_headers →
//     JwtMissed; then parse (JwtBadFormat ...), issuer (JwtUnknownIssuer), time constraints with
//     clock_skew_seconds (JwtExpired / JwtNotYetValid), audiences, then the signature against the JWKS (fetched
//     from remote_jwks through its cluster and cached for cache_duration; JwksKidAlgMismatch,
//     JwtVerificationFail); handleGoodJwt writes the payload to dynamic metadata under payload_in_metadata;
//     doneWithStatus writes {code, message} under failed_status_in_metadata on failure.
//   - verifier.cc BaseVerifierImpl::completeWithStatus sets that dynamic metadata (namespace
//     "envoy.filters.http.jwt_authn", Filter::setExtractedData) before Filter::onComplete, which answers a failure
//     with sendLocalReply(401, or 403 for JwtAudienceNotAllowed) — with strip_failure_response an empty body and
//     no www-authenticate header, details "jwt_authn_access_denied{<status message>}".
//
// API Gateway answers 401 {"message":"The incoming token has expired"} for an expired token and 401
// {"message":"Unauthorized"} otherwise (AUTHORIZERS.md §5): the local-reply mappers (cognitoMappers) tell the two
// apart by the failure status message jwt_authn put in dynamic metadata. token_use and the method's scopes are
// checked by the authorization service (authz.go), which receives the payload through ext_authz
// metadata_context_namespaces; the Lambda processor receives the claims through ext_proc
// metadata_options.forwarding_namespaces (extproc.go).
const (
	JWTAuthnFilterName = "envoy.filters.http.jwt_authn"
	// JWTAuthnNamespace is the dynamic-metadata namespace jwt_authn writes (filter.cc Filter::setExtractedData).
	JWTAuthnNamespace = "envoy.filters.http.jwt_authn"
	// CognitoPayloadKey is payload_in_metadata: the verified token's claims.
	CognitoPayloadKey = "cognito_claims"
	// CognitoFailureKeyPrefix + provider name is the provider's failed_status_in_metadata: {code, message} of its
	// failed verification. One key per provider: a requires_any over several pools runs every provider, each
	// writing its own status (authenticator.cc doneWithStatus → ContextImpl::addExtractedData, last write wins per
	// key), while the reply's status is AnyVerifierImpl::onComplete's aggregate that prefers errors other than
	// JwtMissed and JwtUnknownIssuer — so an expired token of one pool must stay visible next to the other pools'
	// "unknown issuer".
	CognitoFailureKeyPrefix = "cognito_failure:"
	// JWTExpiredMessage is jwt_verify_lib's getStatusString(Status::JwtExpired) (jwt_verify_lib src/status.cc,
	// the library Envoy's jwt_authn links; not in the Envoy tree).
	JWTExpiredMessage = "Jwt is expired"

	// jwksCacheDuration keeps a pool's keys for 10 minutes (RemoteJwks.cache_duration; Envoy's default is 5).
	jwksCacheDuration = 10 * time.Minute
	jwksFetchTimeout  = 5 * time.Second
	// cognitoClockSkew is the smallest skew jwt_authn takes: 0 means its default of 60 s
	// (authenticator.cc startVerify: "clock_skew_seconds() > 0"); API Gateway's own tolerance is not recorded.
	cognitoClockSkew = 1
)

// CognitoRequirementName names the requirement of one Cognito authorizer of one API (JwtPerRoute.requirement_name).
func CognitoRequirementName(apiID string, c *ir.CognitoAuthorizer) string {
	return "cognito/" + apiID + "/" + c.Name
}

// cognitoProviderName is one provider per (user pool, token header): the provider carries both.
func cognitoProviderName(p ir.UserPool, header string) string {
	return "cognito/" + p.ID + "/" + strings.ToLower(header)
}

// CognitoClusterName is the cluster jwt_authn fetches a region's JWKS through.
func CognitoClusterName(region string) string { return "cognito-idp_" + region }

// cognitoRoutes calls f for every served route with a Cognito authorizer.
func cognitoRoutes(cfg *ir.Config, f func(api ir.API, r ir.Route)) {
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			for i := range st.Routes { // by index: a route is a large struct
				// Enforced whatever the insecure opt-out says: it only opens what proxyplus cannot enforce.
				if a := st.Routes[i].Authorization; a != nil && a.Cognito != nil && a.Enforced() {
					f(api, st.Routes[i])
				}
			}
		}
	}
}

// usesCognito reports whether the jwt_authn filter and its clusters are needed.
func usesCognito(cfg *ir.Config) bool {
	used := false
	cognitoRoutes(cfg, func(ir.API, ir.Route) { used = true })
	return used
}

// jwtAuthnFilter is the HCM's jwt_authn filter: one provider per (pool, header), one requirement per authorizer
// (any of its pools), disabled unless a route enables it.
func jwtAuthnFilter(cfg *ir.Config) (*hcmv3.HttpFilter, error) {
	ja := &jwtauthnv3.JwtAuthentication{
		Providers:      map[string]*jwtauthnv3.JwtProvider{},
		RequirementMap: map[string]*jwtauthnv3.JwtRequirement{},
		// API Gateway's bodies come from the mappers; no www-authenticate header (filter.cc Filter::onComplete).
		StripFailureResponse: true,
	}
	cognitoRoutes(cfg, func(api ir.API, r ir.Route) {
		c := r.Authorization.Cognito
		var pools []*jwtauthnv3.JwtRequirement
		for _, p := range c.Pools {
			name := cognitoProviderName(p, c.TokenHeader)
			ja.Providers[name] = &jwtauthnv3.JwtProvider{
				Issuer: p.Issuer(),
				// The whole header value is the token (no "Bearer " prefix), as API Gateway reads it.
				FromHeaders: []*jwtauthnv3.JwtHeader{{Name: c.TokenHeader}},
				// The integration still receives the header (API Gateway forwards Authorization).
				Forward: true,
				JwksSourceSpecifier: &jwtauthnv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtauthnv3.RemoteJwks{
					HttpUri: &corev3.HttpUri{
						Uri:              p.JWKSURI(),
						HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: CognitoClusterName(p.Region)},
						Timeout:          durationpb.New(jwksFetchTimeout),
					},
					CacheDuration: durationpb.New(jwksCacheDuration),
					// Fetched when the listener starts and refreshed before expiry, so no request waits for it.
					AsyncFetch: &jwtauthnv3.JwksAsyncFetch{},
				}},
				PayloadInMetadata:      CognitoPayloadKey,
				FailedStatusInMetadata: CognitoFailureKeyPrefix + name,
				ClockSkewSeconds:       cognitoClockSkew,
			}
			pools = append(pools, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: name}})
		}
		req := pools[0]
		if len(pools) > 1 {
			req = &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{RequiresAny: &jwtauthnv3.JwtRequirementOrList{Requirements: pools}}}
		}
		ja.RequirementMap[CognitoRequirementName(api.ID, c)] = req
	})
	if err := ja.ValidateAll(); err != nil {
		return nil, fmt.Errorf("jwt_authn filter: Envoy rejects this configuration: %w", err)
	}
	a, err := anypb.New(ja)
	if err != nil {
		return nil, fmt.Errorf("jwt_authn filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: JWTAuthnFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// jwtAuthnPerRoute enables jwt_authn on a Cognito route with its authorizer's requirement.
func jwtAuthnPerRoute(apiID string, c *ir.CognitoAuthorizer) (map[string]*anypb.Any, error) {
	return enableFilter(JWTAuthnFilterName, &jwtauthnv3.PerRouteConfig{RequirementSpecifier: &jwtauthnv3.PerRouteConfig_RequirementName{
		RequirementName: CognitoRequirementName(apiID, c)}})
}

// cognitoClusters reach each region's Cognito IdP over TLS, resolved by DNS.
func cognitoClusters(cfg *ir.Config) ([]*clusterv3.Cluster, error) {
	regions := map[string]bool{}
	cognitoRoutes(cfg, func(_ ir.API, r ir.Route) {
		for _, p := range r.Authorization.Cognito.Pools {
			regions[p.Region] = true
		}
	})
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, r)
	}
	sort.Strings(names)
	var out []*clusterv3.Cluster
	for _, region := range names {
		c, err := backendCluster(ir.Backend{Scheme: "https", Host: ir.UserPool{Region: region}.Host(), Port: 443})
		if err != nil {
			return nil, err
		}
		c.Name = CognitoClusterName(region)
		c.LoadAssignment.ClusterName = c.Name
		out = append(out, c)
	}
	return out, nil
}

// cognitoMappers turn jwt_authn's 401s into API Gateway's (AUTHORIZERS.md §5): the expired token's message when a
// provider failed with it, else Unauthorized. They match only replies whose dynamic metadata carries a provider's
// failure status, so no other 401 (a processor's, a function's) is touched.
func cognitoMappers(cfg *ir.Config) []*hcmv3.ResponseMapper {
	keys := map[string]bool{}
	cognitoAPIs := map[string]bool{}
	cognitoRoutes(cfg, func(api ir.API, r ir.Route) {
		cognitoAPIs[api.ID] = true
		for _, p := range r.Authorization.Cognito.Pools {
			keys[CognitoFailureKeyPrefix+cognitoProviderName(p, r.Authorization.Cognito.TokenHeader)] = true
		}
	})
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	failure := func(key string, value *matcherv3.ValueMatcher) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{MetadataFilter: &accesslogv3.MetadataFilter{
			Matcher: &matcherv3.MetadataMatcher{
				Filter: JWTAuthnNamespace,
				Path: []*matcherv3.MetadataMatcher_PathSegment{
					{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: key}},
					{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: "message"}},
				},
				Value: value,
			},
			MatchIfKeyNotFound: wrapperspb.Bool(false),
		}}}
	}
	and := func(fs ...*accesslogv3.AccessLogFilter) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{Filters: fs}}}
	}
	anyOf := func(value *matcherv3.ValueMatcher) *accesslogv3.AccessLogFilter {
		var fs []*accesslogv3.AccessLogFilter
		for _, k := range names {
			fs = append(fs, failure(k, value))
		}
		if len(fs) == 1 {
			return fs[0]
		}
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{Filters: fs}}}
	}
	expired := anyOf(&matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
		MatchPattern: &matcherv3.StringMatcher_Exact{Exact: JWTExpiredMessage}}}})
	anyFailure := anyOf(&matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_PresentMatch{PresentMatch: true}})
	// The stages' customised UNAUTHORIZED (or DEFAULT_4XX) responses first, each for both refusals (their
	// $context.error.message differs): Envoy applies the first mapper whose filter matches and no other
	// (LocalReplyImpl::rewrite, source/common/local_reply/local_reply.cc, main 1.37.0-dev, 321a098d81).
	var out []*hcmv3.ResponseMapper
	for _, api := range cfg.APIs {
		if !cognitoAPIs[api.ID] {
			continue
		}
		for _, st := range api.Stages {
			if len(st.GatewayResponses) == 0 {
				continue
			}
			for _, e := range []struct {
				failure *accesslogv3.AccessLogFilter
				message string
			}{{expired, JWTExpiredUnauthorizedMessage}, {anyFailure, "Unauthorized"}} {
				ge := apianswer.GatewayError{Type: apianswer.Unauthorized, StatusCode: 401, Body: `{"message":"` + e.message + `"}`,
					ErrorType: "UnauthorizedException", Message: e.message}
				if m := customisedMapper(cfg, api, st, and(statusIs(401), e.failure), ge); m != nil {
					out = append(out, m)
				}
			}
		}
	}
	return append(out,
		jsonMapper(and(statusIs(401), expired), 401, `{"message":"`+JWTExpiredUnauthorizedMessage+`"}`, "UnauthorizedException"),
		jsonMapper(and(statusIs(401), anyFailure), 401, `{"message":"Unauthorized"}`, "UnauthorizedException"),
	)
}

// JWTExpiredUnauthorizedMessage is API Gateway's message for an expired Cognito token (AUTHORIZERS.md §5).
const JWTExpiredUnauthorizedMessage = "The incoming token has expired"
