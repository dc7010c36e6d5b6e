package translator

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

const (
	// ExtProcFilterName is the HCM filter name per-route configs refer to.
	ExtProcFilterName = "envoy.filters.http.ext_proc"
	// lambdaBodyLimit is API Gateway's 10 MB payload limit (LIM-1), enforced by Envoy's buffer (envoy-notes HCM-18).
	lambdaBodyLimit = 10 * 1024 * 1024
)

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
		// The processor's marker (HCM-12) reaches the local-reply mappers only from a receiving namespace
		// (Filter::setDynamicMetadata, ext_proc.cc); issue 9 item 3 (the same line may come from that branch).
		MetadataOptions: &extprocv3.MetadataOptions{ReceivingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{
			Untyped: []string{ProcessorMetadataNamespace},
		}},
	}
	a, err := anypb.New(ep)
	if err != nil {
		return nil, fmt.Errorf("ext_proc filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: ExtProcFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// extProcPerRoute enables the processor on one route and tells it which route it serves (EXT-14).
// Lambda routes send the buffered body; HTTP_PROXY rewrites need the request headers only.
func extProcPerRoute(keys ir.RouteKeys, api ir.API, st ir.Stage, r ir.Route, withBody bool) (map[string]*anypb.Any, error) {
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{
		APIID: api.ID, Stage: st.Name, DeploymentID: st.DeploymentID, StageVariables: st.Variables,
		BinaryMediaTypes: api.BinaryMediaTypes, Route: r,
	}, keys)
	if err != nil {
		return nil, err
	}
	mode := &extprocv3.ProcessingMode{
		RequestHeaderMode:  extprocv3.ProcessingMode_SEND,
		ResponseHeaderMode: extprocv3.ProcessingMode_SKIP,
		RequestBodyMode:    extprocv3.ProcessingMode_NONE,
	}
	if withBody {
		mode.RequestBodyMode = extprocv3.ProcessingMode_BUFFERED
	}
	per := &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
		ProcessingMode:      mode,
		GrpcInitialMetadata: []*corev3.HeaderValue{{Key: ir.RouteMetadataKey, Value: spec}},
	}}}
	return enableFilter(ExtProcFilterName, per)
}

// enableFilter wraps a per-route config in FilterConfig, which enables a filter that is disabled on the HCM.
func enableFilter(name string, cfg proto.Message) (map[string]*anypb.Any, error) {
	inner, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	outer, err := anypb.New(&routev3.FilterConfig{Config: inner})
	if err != nil {
		return nil, err
	}
	return map[string]*anypb.Any{name: outer}, nil
}
