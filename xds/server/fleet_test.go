package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fleet is a configuration of many APIs in the shape of the split route configuration: one listener whose HCM
// selects a RouteConfiguration per API through scoped routes keyed on the Host (SRDS over ADS), one
// ScopedRouteConfiguration and one RouteConfiguration per API, one cluster. Edits replace one API's
// RouteConfiguration object and keep every other object, as incremental translation does.
type fleet struct {
	tb       testing.TB
	cluster  types.Resource
	listener types.Resource
	scopes   []types.Resource
	routes   []types.Resource
	perAPI   int
	edits    int
}

func fleetRouteName(i int) string { return fmt.Sprintf("proxyplus-http/api-%03d", i) }

func newFleet(tb testing.TB, apis, routesPerAPI int) *fleet {
	tb.Helper()
	f := &fleet{tb: tb, cluster: makeCluster(testCluster, 1e9), perAPI: routesPerAPI}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		tb.Fatal(err)
	}
	ads := &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: "proxyplus",
		RouteSpecifier: &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
			Name: "proxyplus-scopes",
			ScopeKeyBuilder: &hcmv3.ScopedRoutes_ScopeKeyBuilder{Fragments: []*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder{{
				Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
					Name: ":authority", ElementSeparator: ":",
					ExtractType: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
				}},
			}}},
			RdsConfigSource: ads,
			ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRds{ScopedRds: &hcmv3.ScopedRds{ScopedRdsConfigSource: ads}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.listener = &listenerv3.Listener{
		Name:    testListener,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 10000}}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
	}
	for i := range apis {
		f.scopes = append(f.scopes, &routev3.ScopedRouteConfiguration{
			Name:                   fmt.Sprintf("api-%03d", i),
			RouteConfigurationName: fleetRouteName(i),
			Key:                    &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: fmt.Sprintf("api-%03d.example.com", i)}}}},
		})
		f.routes = append(f.routes, makeRouteConfig(fleetRouteName(i), routesPerAPI, ""))
	}
	return f
}

// edit replaces API i's RouteConfiguration (i modulo the number of APIs) with one whose first route differs.
func (f *fleet) edit(i int) {
	i %= len(f.routes)
	f.edits++
	f.routes[i] = makeRouteConfig(fleetRouteName(i), f.perAPI, fmt.Sprintf("-e%d", f.edits))
}

func (f *fleet) resources() map[resourcev3.Type][]types.Resource {
	return map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:     {f.cluster},
		resourcev3.ListenerType:    {f.listener},
		resourcev3.ScopedRouteType: slices.Clone(f.scopes),
		resourcev3.RouteType:       slices.Clone(f.routes),
	}
}

func (f *fleet) digests() Digests { return nil }

func (f *fleet) routeNames() []string {
	names := make([]string, len(f.routes))
	for i := range f.routes {
		names[i] = fleetRouteName(i)
	}
	return names
}

// TestFleetOneRouteEditSendsOnlyTheChangedRoute: 100 SotW and 100 delta ADS clients, each on its own stream, get
// the whole configuration, ACK it, and then see a one-route edit of one API: each receives exactly one response,
// for RouteConfiguration, holding exactly the edited API's RouteConfiguration, and every client ends on the same
// version. A second edit of another API proves no other response was queued in between (responses of one stream
// are delivered in order).
func TestFleetOneRouteEditSendsOnlyTheChangedRoute(t *testing.T) {
	const clients = 100
	h := startServer(t)
	f := newFleet(t, 20, 5)
	v1, err := h.srv.Publish(context.Background(), f.resources())
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*grpc.ClientConn, 10)
	for i := range conns {
		conns[i] = h.dial()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	type sotwStream = discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	type deltaStream = discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sotws := make([]sotwStream, clients)
	deltas := make([]deltaStream, clients)
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	for i := range clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conns[i%len(conns)]).StreamAggregatedResources(ctx)
			if err != nil {
				errs <- err
				return
			}
			sotws[i] = s
			if err := sotwSubscribeAndAckAll(s, fmt.Sprintf("sotw-%03d", i), f.routeNames(), v1); err != nil {
				errs <- fmt.Errorf("sotw client %d: %w", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conns[i%len(conns)]).DeltaAggregatedResources(ctx)
			if err != nil {
				errs <- err
				return
			}
			deltas[i] = s
			if err := deltaSubscribeAndAckAll(s, fmt.Sprintf("delta-%03d", i), f.routeNames(), len(f.routes)); err != nil {
				errs <- fmt.Errorf("delta client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	versions := map[int]string{}
	for _, api := range []int{7, 12} {
		f.edit(api)
		v, err := h.srv.Publish(context.Background(), f.resources())
		if err != nil {
			t.Fatal(err)
		}
		versions[api] = v
		want := fleetRouteName(api)
		for i, s := range sotws {
			resp, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTypeUrl() != resourcev3.RouteType || resp.GetVersionInfo() != v || len(resp.GetResources()) != 1 || wireName(resp.GetResources()[0].GetValue()) != want {
				t.Fatalf("sotw client %d got %s version %s with %d resources (first %q); want only %s at %s",
					i, resp.GetTypeUrl(), resp.GetVersionInfo(), len(resp.GetResources()), firstName(resp.GetResources()), want, v)
			}
			if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: v, ResponseNonce: resp.GetNonce(), ResourceNames: f.routeNames()}); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range deltas {
			resp, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTypeUrl() != resourcev3.RouteType || resp.GetSystemVersionInfo() != v || len(resp.GetResources()) != 1 || resp.GetResources()[0].GetName() != want || len(resp.GetRemovedResources()) != 0 {
				t.Fatalf("delta client %d got %s version %s with %d resources; want only %s at %s", i, resp.GetTypeUrl(), resp.GetSystemVersionInfo(), len(resp.GetResources()), want, v)
			}
			if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: resp.GetNonce()}); err != nil {
				t.Fatal(err)
			}
		}
		h.waitStatus("every client ACKed "+v, func(st []NodeStatus) bool {
			n := 0
			for _, ns := range st {
				for _, ts := range ns.Types {
					if ts.TypeURL == resourcev3.RouteType && ts.AckedVersion == v {
						n++
					}
				}
			}
			return n == 2*clients
		})
	}

	// The per-node status shows which version of each RouteConfiguration a node runs: the edited ones at the
	// version of their edit, the others at the first version.
	for _, ns := range h.srv.Status().Nodes {
		if ns.ID != "sotw-000" {
			continue
		}
		for _, ts := range ns.Types {
			if ts.TypeURL != resourcev3.RouteType {
				continue
			}
			got := map[string]string{}
			for _, r := range ts.Resources {
				got[r.Name] = r.AckedVersion
			}
			for i := range f.routes {
				want := v1
				if v, ok := versions[i]; ok {
					want = v
				}
				if got[fleetRouteName(i)] != want {
					t.Errorf("sotw-000 %s acked %q, want %q", fleetRouteName(i), got[fleetRouteName(i)], want)
				}
			}
			return
		}
	}
	t.Error("no RouteConfiguration status for sotw-000")
}

func firstName(anys []*anypb.Any) string {
	if len(anys) == 0 {
		return ""
	}
	return wireName(anys[0].GetValue())
}

// sotwSubscribeAndAckAll plays Envoy's start-up on a SotW ADS stream (CDS, LDS, SRDS wildcard; RDS by name) and
// ACKs the four responses, which must all carry version.
func sotwSubscribeAndAckAll(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node string, routes []string, version string) error {
	reqs := []*discoveryv3.DiscoveryRequest{
		{Node: &corev3.Node{Id: node, Cluster: "fleet"}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.ScopedRouteType},
		{TypeUrl: resourcev3.RouteType, ResourceNames: routes},
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil {
			return err
		}
	}
	for range reqs {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		if version != "" && resp.GetVersionInfo() != version {
			return fmt.Errorf("%s version %s, want %s", resp.GetTypeUrl(), resp.GetVersionInfo(), version)
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if resp.GetTypeUrl() == resourcev3.RouteType {
			ack.ResourceNames = routes
			if len(resp.GetResources()) != len(routes) {
				return fmt.Errorf("initial RDS response has %d resources, want %d", len(resp.GetResources()), len(routes))
			}
		}
		if err := s.Send(ack); err != nil {
			return err
		}
	}
	return nil
}

// deltaSubscribeAndAckAll is the same start-up on a delta ADS stream.
func deltaSubscribeAndAckAll(s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, node string, routes []string, nRoutes int) error {
	reqs := []*discoveryv3.DeltaDiscoveryRequest{
		{Node: &corev3.Node{Id: node, Cluster: "fleet"}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.ScopedRouteType},
		{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routes},
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil {
			return err
		}
	}
	for range reqs {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		if resp.GetTypeUrl() == resourcev3.RouteType && len(resp.GetResources()) != nRoutes {
			return fmt.Errorf("initial delta RDS response has %d resources, want %d", len(resp.GetResources()), nRoutes)
		}
		if err := s.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
	}
	return nil
}

// TestRDSRequestNamingAMissingResourceIsAnswered: go-control-plane's ADS snapshot cache answers nothing while a
// request names a RouteConfiguration the snapshot lacks, or the snapshot holds one the request does not name
// (envoy-notes XDS-8), which leaves Envoy warming. fanoutCache answers with the named resources that exist.
func TestRDSRequestNamingAMissingResourceIsAnswered(t *testing.T) {
	h := startServer(t)
	f := newFleet(t, 3, 2)
	v, err := h.srv.Publish(context.Background(), f.resources())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(h.dial()).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Names one of the three RouteConfigurations, and one that does not exist.
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "warming"}, TypeUrl: resourcev3.RouteType,
		ResourceNames: []string{fleetRouteName(1), "proxyplus-http/nowhere"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersionInfo() != v || len(resp.GetResources()) != 1 || wireName(resp.GetResources()[0].GetValue()) != fleetRouteName(1) {
		t.Fatalf("got version %s with %d resources (%q), want %s with %s only", resp.GetVersionInfo(), len(resp.GetResources()),
			firstName(resp.GetResources()), v, fleetRouteName(1))
	}
}

// TestWireRouteConfigurationIsServedWithoutACopy: a RouteConfiguration in the translator's wire form is served from
// the bytes it already holds (no second copy of the largest resource), and those bytes decode to the configuration.
func TestWireRouteConfigurationIsServedWithoutACopy(t *testing.T) {
	p := newPipeline()
	p.run(t, fleetAPIs(1, 50))
	wire := p.last[resourcev3.RouteType][0]
	full, ok := sharedEncoding(wire)
	if !ok {
		t.Fatal("the wire form was not recognised")
	}
	unknown := wire.ProtoReflect().GetUnknown()
	if &full[0] != &unknown[0] {
		t.Error("the served bytes are a copy")
	}
	published := p.pub.snapshot.types[resourcev3.RouteType].byName[cachev3.GetResourceName(wire)]
	if &published.any.GetValue()[0] != &unknown[0] {
		t.Error("the publisher serves a copy")
	}
	var got, want routev3.RouteConfiguration
	if err := proto.Unmarshal(full, &got); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, &want) || len(got.GetVirtualHosts()) == 0 {
		t.Error("the served bytes do not decode to the configuration")
	}
	if _, ok := sharedEncoding(makeCluster("c", time.Second)); ok {
		t.Error("an ordinary message was taken for a wire form")
	}
}
