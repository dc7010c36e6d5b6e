package server

import (
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	testCluster  = "backend"
	testListener = "listener_0"
	testRoute    = "local_route"
)

// testConfig describes a small valid configuration: one STATIC cluster, one listener whose HCM takes its routes
// from RDS over ADS, and that RouteConfiguration. Vary Gen to get a different version.
type testConfig struct {
	// Gen becomes the cluster's connect timeout in seconds (>= 1), so a client can tell versions apart.
	Gen int
	// Routes is the number of routes (default 2): even ones exact-path, odd ones safe_regex.
	Routes int
	// Tag is appended to the first route's path.
	Tag string
}

func testResources(tb testing.TB, c testConfig) map[resourcev3.Type][]types.Resource {
	tb.Helper()
	if c.Gen < 1 {
		c.Gen = 1
	}
	if c.Routes < 1 {
		c.Routes = 2
	}
	return map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {makeCluster(testCluster, time.Duration(c.Gen)*time.Second)},
		resourcev3.ListenerType: {makeListener(tb, testListener, testRoute)},
		resourcev3.RouteType:    {makeRouteConfig(testRoute, c.Routes, c.Tag)},
	}
}

func makeCluster(name string, connectTimeout time.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(connectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
							Address:       "127.0.0.1",
							PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
						}}},
					}},
				}},
			}},
		},
	}
}

func makeListener(tb testing.TB, name, routeName string) *listenerv3.Listener {
	tb.Helper()
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		tb.Fatal(err)
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: "ingress_http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routeName,
			ConfigSource: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       "0.0.0.0",
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 10000},
		}}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
			}},
		}},
	}
}

// makeRouteConfig builds n routes in one virtual host: even routes match an exact path, odd ones a safe_regex
// with one parameter segment (RTM-4 shapes).
func makeRouteConfig(name string, n int, tag string) *routev3.RouteConfiguration {
	routes := make([]*routev3.Route, 0, n)
	action := func() *routev3.Route_Route {
		return &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster},
		}}
	}
	for i := range n {
		m := &routev3.RouteMatch{}
		if i%2 == 0 {
			p := fmt.Sprintf("/dev/r%d", i)
			if i == 0 {
				p += tag
			}
			m.PathSpecifier = &routev3.RouteMatch_Path{Path: p}
		} else {
			m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
				Regex: fmt.Sprintf(`^/dev/r%d/([^/]+)/*$`, i),
			}}
		}
		routes = append(routes, &routev3.Route{
			Name:   fmt.Sprintf("api/dev/r%d/GET", i),
			Match:  m,
			Action: action(),
		})
	}
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "api",
			Domains: []string{"*"},
			Routes:  routes,
		}},
	}
}
