package builder

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/proxyplus/proxyplus/ir"
)

// listener is the one API listener: an HTTP connection manager loading RouteConfigName over ADS, or with scoped
// set, the per-scope RouteConfigurations through scoped routes (scoped.go).
func listener(cfg *ir.Config, usesProcessor, scoped bool) (*listenerv3.Listener, error) {
	hcm, err := httpConnectionManager(cfg, usesProcessor)
	if err != nil {
		return nil, err
	}
	if scoped {
		useScopedRoutes(hcm)
	}
	a, err := anypb.New(hcm)
	if err != nil {
		return nil, fmt.Errorf("http connection manager: %w", err)
	}
	return &listenerv3.Listener{
		Name: cfg.Listener.Name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       cfg.Listener.Address,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: cfg.Listener.Port},
		}}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}},
		}},
	}, nil
}

// adsSource: every dynamic resource comes over the aggregated stream.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}
