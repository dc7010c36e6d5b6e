package builder

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/ir"
)

// API keys, usage plans and the Cognito token_use/scope checks are decided by proxyplus's authorization service
// (package authz), which Envoy calls through its ext_authz filter (issue 11 scopes 2-4). Why ext_authz and not
// Envoy's ratelimit filter: Lambda routes are direct_response routes, and the ratelimit filter does nothing on a
// route without a route entry or cluster (source/extensions/filters/http/ratelimit/ratelimit.cc
// Filter::populateRateLimitDescriptors returns before building descriptors when routeEntry() or clusterInfo() is
// null; main 1.37.0-dev, 321a098d81), while ext_authz's Filter::initiateCall needs neither. The service is served
// next to the ext_proc service (same gRPC server and cluster) and, like it, trusts only the route data the control
// plane signed (the route's context extension). Its answers:
//   - OK with dynamic metadata {apiKey, apiKeyId} (ext_authz.cc Filter::onComplete sets it under
//     "envoy.filters.http.ext_authz"), which the ext_proc filter forwards to the Lambda processor
//     (metadata_options.forwarding_namespaces) for requestContext.identity;
//   - Denied with API Gateway's status, body and headers — shaped by the stage's customised UNAUTHORIZED,
//     INVALID_API_KEY, THROTTLED, QUOTA_EXCEEDED or DEFAULT_4XX gateway response, which the route data carries —
//     and Envoy sends them as the local reply (no mapper matches 401/403/429 without jwt_authn's failure status).
const (
	ExtAuthzFilterName = "envoy.filters.http.ext_authz"
	// ExtAuthzNamespace is the dynamic-metadata namespace of an OK check's metadata.
	ExtAuthzNamespace = "envoy.filters.http.ext_authz"
	authzTimeout      = 5 * time.Second
)

// authzRoute reports whether a served route is checked by the authorization service: an API key, or a Cognito
// authorizer (token_use and scopes).
func authzRoute(r *ir.Route) bool {
	a := r.Authorization
	// An AUTHORIZER-source key is the Lambda authorizer's usageIdentifierKey, which the processor checks after
	// running the authorizer (ext_authz runs before ext_proc): such a route needs ext_authz only for Cognito.
	headerKey := a != nil && a.APIKeyRequired && a.APIKeySource != ir.APIKeySourceAuthorizer
	// The insecure opt-out serves open only what proxyplus cannot enforce (ir.API.Refusal): an enforced method
	// stays checked whatever the API says.
	return a != nil && a.Enforced() && (headerKey || a.Cognito != nil)
}

// usesAuthz reports whether any route needs the ext_authz filter.
func usesAuthz(cfg *ir.Config) bool {
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			for i := range st.Routes { // by index: a route is a large struct
				if authzRoute(&st.Routes[i]) {
					return true
				}
			}
		}
	}
	return false
}

// extAuthzFilter calls the authorization service on the processor's cluster; disabled unless a route enables it.
func extAuthzFilter(cfg *ir.Config) (*hcmv3.HttpFilter, error) {
	ea := &extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cfg.ExtProc.ClusterName}},
			Timeout:         durationpb.New(authzTimeout),
		}},
		TransportApiVersion: corev3.ApiVersion_V3,
		// Fail closed: an unreachable service refuses the request (500, which the HCM's 500 mapper renders).
		FailureModeAllow: false,
		StatusOnError:    &typev3.HttpStatus{Code: typev3.StatusCode_InternalServerError},
		// The verified token's claims for token_use and the scopes (jwt_authn runs first).
		MetadataContextNamespaces: []string{JWTAuthnNamespace},
	}
	if err := ea.ValidateAll(); err != nil {
		return nil, fmt.Errorf("ext_authz filter: Envoy rejects this configuration: %w", err)
	}
	a, err := anypb.New(ea)
	if err != nil {
		return nil, fmt.Errorf("ext_authz filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: ExtAuthzFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// authorizationPerRoute enables jwt_authn and/or ext_authz on a route that requires enforced authorization. The
// ext_authz context extension carries the signed route data (ir.EncodeProcessorRoute), so the service knows the
// API, stage and requirement without trusting anything from the request.
func authorizationPerRoute(keys ir.RouteKeys, api ir.API, st ir.Stage, r ir.Route) (map[string]*anypb.Any, error) {
	if !authzRoute(&r) {
		return nil, nil
	}
	out := map[string]*anypb.Any{}
	if c := r.Authorization.Cognito; c != nil {
		pf, err := jwtAuthnPerRoute(api.ID, c)
		if err != nil {
			return nil, err
		}
		out[JWTAuthnFilterName] = pf[JWTAuthnFilterName]
	}
	// The stage's customised gateway responses of the service's denials only, so the service shapes them
	// (authz.Answer) and route data stays small.
	var grs map[string]ir.GatewayResponse
	for _, t := range apianswer.AuthorizationServiceTypes {
		if gr, ok := st.GatewayResponses[t]; ok {
			if grs == nil {
				grs = map[string]ir.GatewayResponse{}
			}
			grs[t] = gr
		}
	}
	// No deployment id: the service reads none (a deployment changes no route's data, extproc.go).
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: api.ID, Stage: st.Name, Route: ir.Route{
		Name: r.Name, ResourcePath: r.ResourcePath, Method: r.Method, Authorization: r.Authorization,
	}, GatewayResponses: grs, StageVariables: st.Variables}, keys)
	if err != nil {
		return nil, err
	}
	pf, err := enableFilter(ExtAuthzFilterName, &extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{
		CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{ir.RouteMetadataKey: spec}}}})
	if err != nil {
		return nil, err
	}
	out[ExtAuthzFilterName] = pf[ExtAuthzFilterName]
	return out, nil
}

// authFilters are the HCM's authentication filters, before ext_proc: jwt_authn (the token), then ext_authz (which
// reads jwt_authn's metadata).
func authFilters(cfg *ir.Config) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	if usesCognito(cfg) {
		f, err := jwtAuthnFilter(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if usesAuthz(cfg) {
		f, err := extAuthzFilter(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// addAuthorization merges the route's authorization per-filter configs into its typed_per_filter_config.
func addAuthorization(route *routev3.Route, keys ir.RouteKeys, api ir.API, st ir.Stage, r ir.Route) error {
	pf, err := authorizationPerRoute(keys, api, st, r)
	if err != nil || len(pf) == 0 {
		return err
	}
	if route.TypedPerFilterConfig == nil {
		route.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	for k, v := range pf {
		route.TypedPerFilterConfig[k] = v
	}
	return nil
}
