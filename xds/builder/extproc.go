package builder

import (
	"fmt"
	"time"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/ir"
)

// ExtProcFilterName is the HCM filter name per-route configs refer to.
const ExtProcFilterName = "envoy.filters.http.ext_proc"

// extProcFilter is the ext_proc HTTP filter, disabled on the HCM and enabled only on routes that need it
// (envoy-notes EXT-15), so other routes pay nothing.
func extProcFilter(cfg *ir.Config) (*hcmv3.HttpFilter, error) {
	ep := &extprocv3.ExternalProcessor{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cfg.ExtProc.ClusterName}},
		},
		// Fail closed (EXT-16): a Lambda route must never continue unprocessed.
		FailureModeAllow: false,
		// Defaults for routes that enable the filter; they override what they need (EXT-6).
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
			RequestBodyMode:     extprocv3.ProcessingMode_NONE,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		// Above the longest integration timeout: the processor answers its own 504 first (EXT-11).
		MessageTimeout: durationpb.New(time.Duration(cfg.ExtProc.MessageTimeout)),
		// HTTP_PROXY rewrites change :method and :path (EXT-12, RTM-12).
		MutationRules: &mutationrulesv3.HeaderMutationRules{AllowAllRouting: wrapperspb.Bool(true)},
		// The processor marks its answers with dynamic metadata in this namespace so that the HCM's local-reply
		// mappers leave a function's own 500/502/504/413 alone (HCM-12). Envoy keeps a response's dynamic_metadata
		// only for the namespaces listed here and drops the rest without a word (envoy source/extensions/filters/
		// http/ext_proc/ext_proc.cc Filter::setDynamicMetadata, main 1.37.0-dev 321a098d81). Routes do not
		// override metadata_options, so this list applies to all of them (FilterConfigPerRoute falls back to the
		// filter's namespaces when the route has none, ext_proc.cc initUntypedReceivingNamespaces).
		MetadataOptions: &extprocv3.MetadataOptions{ReceivingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{
			Untyped: []string{ProcessorMetadataNamespace},
		}},
	}
	if usesAuthz(cfg) {
		// The Cognito claims and the API key reach the Lambda processor (extproc/authz.go).
		ep.MetadataOptions.ForwardingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{JWTAuthnNamespace, ExtAuthzNamespace}}
	}
	a, err := anypb.New(ep)
	if err != nil {
		return nil, fmt.Errorf("ext_proc filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: ExtProcFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// extProcPerRoute enables the processor on one route and tells it which route it serves (EXT-14).
//
// Lambda routes (lambda true) play the exchange in one round trip (envoy-notes EXT-6a): request_headers SEND,
// request_body FULL_DUPLEX_STREAMED, request_trailers SEND. Envoy then sends the headers and every body chunk
// without waiting for a reply (ext_proc.cc Filter::onData lets FULL_DUPLEX_STREAMED data through while the headers
// call is outstanding, and handleDataStreamedModeBase drains each chunk after copying it into the message, so
// Envoy keeps no copy of the body); trailers, when a request has them, end the body instead of the last chunk.
// The processor never answers the headers (in FULL_DUPLEX_STREAMED a headers reply would release the request to
// the router, processor_state.cc ProcessorState::handleHeadersResponse) and answers once, with the immediate
// response, after end_of_stream. Envoy checks request_trailer_mode SEND only on the filter-level config
// (config.cc verifyProcessingModeConfig); without it a request with trailers would never deliver end_of_stream,
// so routes set it too. No ext_proc message timer runs in this mode (processor_state.cc
// ProcessorState::onStartProcessorCall skips it): the processor's own integration timeout answers 504, and the
// HCM's stream_idle_timeout is Envoy's backstop (hcm.go). The 10 MB body limit (LIM-1) is the processor's: no
// Envoy buffer limit applies to a body Envoy does not keep (EXT-7).
//
// HTTP_PROXY rewrites need the request headers only.
func extProcPerRoute(keys ir.RouteKeys, api ir.API, st ir.Stage, r ir.Route, lambda bool) (map[string]*anypb.Any, error) {
	// No deployment id: the route takes it from its virtual host's deployment value (apiDeploymentPerFilter), so a
	// deployment changes no route's data (issue 13, P7).
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{
		APIID: api.ID, Stage: st.Name, StageVariables: st.Variables,
		BinaryMediaTypes: api.BinaryMediaTypes, Route: r, GatewayResponses: st.GatewayResponses,
	}, keys)
	if err != nil {
		return nil, err
	}
	mode := &extprocv3.ProcessingMode{
		RequestHeaderMode:  extprocv3.ProcessingMode_SEND,
		ResponseHeaderMode: extprocv3.ProcessingMode_SKIP,
		RequestBodyMode:    extprocv3.ProcessingMode_NONE,
	}
	if lambda {
		mode.RequestBodyMode = extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
		mode.RequestTrailerMode = extprocv3.ProcessingMode_SEND
	}
	per := &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
		ProcessingMode:      mode,
		GrpcInitialMetadata: []*corev3.HeaderValue{{Key: ir.RouteMetadataKey, Value: spec}},
	}}}
	return enableFilter(ExtProcFilterName, per)
}

// enableFilter is a per-route config that enables a filter disabled on the HCM: Envoy treats a filter with a
// per-route configuration as explicitly enabled, bare or wrapped in a FilterConfig whose disabled and is_optional
// are false (Envoy source/common/router/per_filter_config.cc PerFilterConfigs::PerFilterConfigs, "If a filter is
// explicitly configured we treat it as enabled", since 1.27; main 1.37.0-dev, 321a098d81). Bare, because the
// wrapper says nothing more and costs a type URL and framing, ≈ 57 bytes per filter and route (TestRouteBytesComposition:
// 115 of a REF-API Lambda route's 942 bytes, which every client is sent and the control plane keeps). The config
// is validated first, as Envoy validates it once it unpacks it (validateAnys): a resource's own ValidateAll stops
// at the Any. Every typed_per_filter_config the builders make comes through here, so route configurations need
// no walk through their Anys (which would triple translation time, P4).
func enableFilter(name string, cfg interface {
	proto.Message
	ValidateAll() error
}) (map[string]*anypb.Any, error) {
	if err := cfg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("typed_per_filter_config[%q] (%s): Envoy rejects this configuration: %w", name, proto.MessageName(cfg), err)
	}
	a, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	return map[string]*anypb.Any{name: a}, nil
}

// The deployment ids of an API's stages travel once per API, in its virtual host (issue 13, P7). API Gateway gives
// every deployment a new id, and the processor puts it in the Lambda event (requestContext.deploymentId), mapping
// templates and logs; in each route's data it would make a deployment change every route of the API, and the
// Builder's per-route cache (incremental.go) would rebuild them all.
//
// Envoy merges ext_proc per-filter configs from the least specific level to the most specific: the filter asks
// for all of them (ext_proc.cc Filter::mergePerRouteConfig → Http::Utility::getAllPerFilterConfig, source/common/
// http/utility.h), which RouteEntryImplBase::perFilterConfigs (source/common/router/config_impl.cc) lists as the
// route configuration's, the virtual host's (CommonVirtualHostImpl::perFilterConfigs, "Parent first"), then the
// route's; each step is FilterConfigPerRoute(less_specific, more_specific), whose mergeGrpcInitialMetadata keeps
// the less specific level's entries and lets the more specific one replace an entry of the same key and append the
// others (ext_proc.cc, since 1.30; main 1.37.0-dev, 321a098d81). So the virtual host's x-proxyplus-deployment and
// the route's x-proxyplus-route both reach the processor, which verifies and joins them (ir.DecodeDeployedRoute).
//
// Any per-filter config at the virtual host enables the filter there (source/common/router/per_filter_config.cc
// PerFilterConfigs::PerFilterConfigs: "If a filter is explicitly configured we treat it as enabled"), and a route
// without an ext_proc entry inherits that (RouteEntryImplBase::filterDisabled falls back to the virtual host's).
// So in a virtual host that carries the value, every route that does not use the processor disables the filter
// with FilterConfig{disabled: true} (disableExtProc); virtual hosts of APIs without processor routes carry nothing.
//
// ext_authz would merge its context_extensions the same way (ext_authz.cc FilterConfigPerRoute(less_specific,
// more_specific)), but the authorization service reads no deployment id, so its route data carries none and no
// value is added for it.

// apiUsesProcessor reports whether a route of api enables the ext_proc filter (appendResourceRoutes checks that it
// agrees with the routes it builds).
func apiUsesProcessor(api ir.API) bool {
	for _, st := range api.Stages {
		for i := range st.Routes { // by index: a route is a large struct
			if routeUsesProcessor(api, &st.Routes[i]) {
				return true
			}
		}
	}
	return false
}

// routeUsesProcessor reports whether r's routes enable the ext_proc filter: Lambda proxy routes, HTTP_PROXY routes
// the processor rewrites, MOCKs the processor answers; none when the route is refused (integrationRoute).
func routeUsesProcessor(api ir.API, r *ir.Route) bool {
	if a := r.Authorization; a != nil && !api.ServeUnauthenticatedInsecure && !a.Enforced() {
		return false // api.Refusal(*r) != nil, without copying the route
	}
	switch in := r.Integration; in.Type {
	case ir.AWSProxy:
		return true
	case ir.HTTPProxy:
		return in.HTTP != nil && in.HTTP.Processor
	case ir.Mock:
		return in.Mock != nil && mockNeedsProcessor(in.Mock)
	}
	return false
}

// apiDeploymentPerFilter is the virtual host's ext_proc per-filter config of an API with processor routes: only
// grpc_initial_metadata, with the signed deployment ids of its stages. Nil for other APIs.
func apiDeploymentPerFilter(keys ir.RouteKeys, api ir.API) (map[string]*anypb.Any, error) {
	if !apiUsesProcessor(api) {
		return nil, nil
	}
	d := ir.APIDeployments{APIID: api.ID, Stages: make(map[string]string, len(api.Stages))}
	for _, st := range api.Stages {
		d.Stages[st.Name] = st.DeploymentID
	}
	v, err := ir.EncodeAPIDeployments(d, keys)
	if err != nil {
		return nil, err
	}
	return enableFilter(ExtProcFilterName, &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
		GrpcInitialMetadata: []*corev3.HeaderValue{{Key: ir.DeploymentMetadataKey, Value: v}},
	}}})
}

// extProcDisabled is FilterConfig{disabled: true}: the ext_proc filter off on a route whose virtual host enables it.
// Shared by every such route; never modified.
var extProcDisabled = func() *anypb.Any {
	a, err := anypb.New(&routev3.FilterConfig{Disabled: true})
	if err != nil {
		panic(err)
	}
	return a
}()

// disableExtProc turns the ext_proc filter off on those of routes that do not configure it themselves.
func disableExtProc(routes ...*routev3.Route) {
	for _, r := range routes {
		if _, ok := r.TypedPerFilterConfig[ExtProcFilterName]; ok {
			continue
		}
		if r.TypedPerFilterConfig == nil {
			r.TypedPerFilterConfig = map[string]*anypb.Any{}
		}
		r.TypedPerFilterConfig[ExtProcFilterName] = extProcDisabled
	}
}
