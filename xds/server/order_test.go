package server

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// orderHarness drives a fanoutCache the way go-control-plane's ADS servers do for one stream: every watch of the
// stream shares one channel; a request of a type first cancels the type's previous watch, then creates the next one;
// an answer read from the channel is applied to the type's subscription (the server does that when it sends it).
type orderHarness struct {
	t     *testing.T
	pub   *Publisher
	c     *fanoutCache
	delta bool
	sotw  chan cachev3.Response
	dch   chan cachev3.DeltaResponse

	subs    map[string]*streamv3.Subscription
	cancels map[string]func()
	nonce   int
}

func newOrderHarness(t *testing.T, delta bool) *orderHarness {
	pub := NewPublisher(slog.New(slog.DiscardHandler), nil)
	return &orderHarness{
		t: t, pub: pub, c: pub.cache, delta: delta,
		// the servers' channel sizes: sotw/v3 processADS (types.UnknownType), delta/v3 newWatches (twice that)
		sotw: make(chan cachev3.Response, 10), dch: make(chan cachev3.DeltaResponse, 20),
		subs: map[string]*streamv3.Subscription{}, cancels: map[string]func(){},
	}
}

// publish sets the configuration of testConfig{Gen: gen, Tag: tag}: gen is the cluster's content, tag the route
// configuration's. A tag with "eds" adds a ClusterLoadAssignment of testCluster that changes with gen.
func (h *orderHarness) publish(gen int, tag string) string {
	h.t.Helper()
	res := testResources(h.t, testConfig{Gen: gen, Tag: tag})
	if strings.Contains(tag, "eds") {
		cl := res[resourcev3.ClusterType][0].(*clusterv3.Cluster)
		cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		cl.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}
		cl.LoadAssignment = nil
		res[resourcev3.EndpointType] = []types.Resource{&endpointv3.ClusterLoadAssignment{ClusterName: testCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LoadBalancingWeight: wrapperspb.UInt32(uint32(gen))}}}}
	}
	_, g, err := h.pub.build(context.Background(), res, h.pub.snapshot, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pub.snapshot = g
	h.c.set(g)
	return g.version
}

// request sends the stream's next request of typeURL (its first, or the ACK of its last answer): CDS and LDS
// wildcard, RDS for testRoute, EDS for testCluster. The server cancels the type's last watch, then creates the next one.
func (h *orderHarness) request(typeURL string) {
	h.t.Helper()
	h.cancel(typeURL)
	h.watch(typeURL)
}

func (h *orderHarness) cancel(typeURL string) {
	if cancel := h.cancels[typeURL]; cancel != nil {
		cancel()
	}
	h.cancels[typeURL] = nil
}

func (h *orderHarness) watch(typeURL string) {
	h.t.Helper()
	var names []string
	switch typeURL {
	case resourcev3.RouteType:
		names = []string{testRoute}
	case resourcev3.EndpointType:
		names = []string{testCluster}
	}
	sub := h.subs[typeURL]
	nonce := ""
	if sub != nil {
		nonce = strconv.Itoa(h.nonce)
	}
	var cancel func()
	var err error
	if h.delta {
		if sub == nil {
			s := streamv3.NewDeltaSubscription(names, nil, nil, true)
			sub = &s
		}
		cancel, err = h.c.CreateDeltaWatch(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: names, ResponseNonce: nonce}, sub, h.dch)
	} else {
		if sub == nil {
			s := streamv3.NewSotwSubscription(names, true)
			sub = &s
		}
		cancel, err = h.c.CreateWatch(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, ResponseNonce: nonce}, sub, h.sotw)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.subs[typeURL], h.cancels[typeURL] = sub, cancel
}

// recv takes the stream's next answer if there is one: its type URL and version, applied to the subscription.
func (h *orderHarness) recv() (typeURL, version string, ok bool) {
	var req interface{ GetTypeUrl() string }
	select {
	case r := <-h.sotw:
		req, version = r.GetRequest(), r.GetResponseVersion()
		h.subs[req.GetTypeUrl()].SetReturnedResources(r.GetReturnedResources())
	case r := <-h.dch:
		req, version = r.GetDeltaRequest(), r.GetResponseVersion()
		h.subs[req.GetTypeUrl()].SetReturnedResources(r.GetNextVersionMap())
	default:
		return "", "", false
	}
	h.nonce++
	return req.GetTypeUrl(), version, true
}

// expect reads the stream's answers and fails unless they are want (type URL and version each), in that order, and
// nothing else.
func (h *orderHarness) expect(step string, want ...string) {
	h.t.Helper()
	var got []string
	for {
		typeURL, version, ok := h.recv()
		if !ok {
			break
		}
		got = append(got, typeURL, version)
	}
	if len(got) != len(want) {
		h.t.Fatalf("%s: the stream got %q, want %q", step, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			h.t.Fatalf("%s: the stream got %q, want %q", step, got, want)
		}
	}
}

// start opens the stream's CDS and RDS subscriptions on v1 and ACKs them: both types have an open watch.
func (h *orderHarness) start() string {
	v1 := h.publish(1, "")
	h.request(resourcev3.ClusterType)
	h.request(resourcev3.RouteType)
	h.expect("initial requests", resourcev3.ClusterType, v1, resourcev3.RouteType, v1)
	h.request(resourcev3.ClusterType)
	h.request(resourcev3.RouteType)
	h.expect("ACKs of v1")
	return v1
}

func forBothProtocols(t *testing.T, test func(t *testing.T, h *orderHarness)) {
	for _, delta := range []bool{false, true} {
		name := "sotw"
		if delta {
			name = "delta"
		}
		t.Run(name, func(t *testing.T) { test(t, newOrderHarness(t, delta)) })
	}
}

// TestOrderEarlierTypeInFlight: a generation that changes the cluster and the route configuration, set while the
// stream's CDS answer is sent and its ACK (or NACK) not yet turned into the next CDS watch, reaches the stream CDS
// first, RDS second (the TestDeltaStream flake): RDS waits for the CDS request.
func TestOrderEarlierTypeInFlight(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		v2 := h.publish(2, "") // cluster only
		h.expect("cluster change", resourcev3.ClusterType, v2)
		// CDS v2 is in flight: no CDS watch until the stream's next request.
		// A new generation changes the cluster and the route configuration: RDS v3 must not overtake CDS v3.
		v3 := h.publish(3, "-x")
		h.expect("v3 while CDS v2 is unacknowledged")
		h.request(resourcev3.ClusterType)
		h.expect("the CDS request after v3", resourcev3.ClusterType, v3, resourcev3.RouteType, v3)
		h.request(resourcev3.ClusterType)
		h.request(resourcev3.RouteType)
		h.expect("ACKs of v3")
		if n := h.c.Watches(); n != 2 {
			t.Errorf("%d open watches, want CDS and RDS", n)
		}
	})
}

// TestOrderBothInFlightLaterAsksFirst: with CDS and RDS both answered and not yet requested again, a generation
// changing both reaches neither at once; if the stream asks for RDS before CDS, RDS waits for the CDS request.
func TestOrderBothInFlightLaterAsksFirst(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		v2 := h.publish(2, "-x")
		h.expect("v2", resourcev3.ClusterType, v2, resourcev3.RouteType, v2)
		v3 := h.publish(3, "-y")
		h.expect("v3 with no watch open")
		h.request(resourcev3.RouteType)
		h.expect("the RDS request after v3")
		h.request(resourcev3.ClusterType)
		h.expect("the CDS request after v3", resourcev3.ClusterType, v3, resourcev3.RouteType, v3)
	})
}

// TestOrderSetBetweenCancelAndWatch: a generation set between the cancel of the open CDS watch and the creation of
// the next one (the server handling a CDS request) reaches the stream's RDS only after that CDS watch.
func TestOrderSetBetweenCancelAndWatch(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		h.cancel(resourcev3.ClusterType)
		v2 := h.publish(2, "-x")
		h.expect("v2 between the CDS cancel and the next CDS watch")
		h.watch(resourcev3.ClusterType)
		h.expect("the next CDS watch", resourcev3.ClusterType, v2, resourcev3.RouteType, v2)
	})
}

// TestOrderEarlierTypeUnchanged: while CDS is in flight, a generation that changes only the route configuration
// reaches RDS at once (nothing of CDS can be owed), also two generations on.
func TestOrderEarlierTypeUnchanged(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		v2 := h.publish(2, "")
		h.expect("cluster change", resourcev3.ClusterType, v2)
		v3 := h.publish(2, "-x") // route configuration only
		h.expect("route change while CDS v2 is in flight", resourcev3.RouteType, v3)
		h.request(resourcev3.RouteType)
		v4 := h.publish(2, "-y")
		h.expect("second route change while CDS v2 is in flight", resourcev3.RouteType, v4)
		h.request(resourcev3.RouteType)
		h.request(resourcev3.ClusterType)
		h.expect("ACK of CDS v2")
	})
}

// TestOrderReleasedByWatchWithNothingOwed: RDS held for an earlier type goes when that type's next watch has nothing
// to send (the generation put the cluster back as the stream has it), not at its next change.
func TestOrderReleasedByWatchWithNothingOwed(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		v2 := h.publish(2, "")
		h.expect("cluster change", resourcev3.ClusterType, v2)
		h.publish(3, "") // cluster changed: CDS of the stream is behind
		v4 := h.publish(2, "-x")
		h.expect("v4 while CDS v2 is in flight")
		h.request(resourcev3.ClusterType) // has cluster gen 2: nothing owed
		h.expect("the CDS request after v4", resourcev3.RouteType, v4)
	})
}

// TestOrderKeepsNoStateAfterClose: a stream that closes with an answer held drops it, and the cache keeps nothing of
// the stream.
func TestOrderKeepsNoStateAfterClose(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		h.start()
		v2 := h.publish(2, "")
		h.expect("cluster change", resourcev3.ClusterType, v2)
		h.publish(3, "-x")
		h.expect("v3 while CDS v2 is in flight")
		for _, cancel := range h.cancels { // the server cancels every type's last watch when the stream ends
			cancel()
		}
		if n, s := h.c.Watches(), len(h.c.sotwStreams)+len(h.c.deltaStreams); n != 0 || s != 0 {
			t.Errorf("after close: %d watches, %d streams kept", n, s)
		}
		h.publish(4, "-y")
		h.expect("after close")
	})
}

// TestOrderSingleTypeStreams: streams of one type each (non-ADS) do not wait for one another, even when they share
// nothing but the cache.
func TestOrderSingleTypeStreams(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		cds := newOrderHarness(t, h.delta)
		cds.pub, cds.c = h.pub, h.c
		h.publish(1, "")
		cds.request(resourcev3.ClusterType)
		h.request(resourcev3.RouteType)
		cds.recv()
		h.recv()
		h.request(resourcev3.RouteType)
		v2 := h.publish(2, "-x") // the CDS stream's watch is in flight
		h.expect("route stream", resourcev3.RouteType, v2)
	})
}

// TestOrderEndpointsDoNotWait: EDS is not held behind an unacknowledged CDS answer (Envoy holds that ACK back until
// the new clusters are warm, which for EDS clusters takes their endpoints); listeners and routes are.
func TestOrderEndpointsDoNotWait(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, h *orderHarness) {
		v1 := h.publish(1, "eds")
		for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
			h.request(typeURL)
		}
		h.expect("initial requests", resourcev3.ClusterType, v1, resourcev3.EndpointType, v1, resourcev3.ListenerType, v1, resourcev3.RouteType, v1)
		for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
			h.request(typeURL)
		}
		v2 := h.publish(2, "eds")
		h.expect("v2", resourcev3.ClusterType, v2, resourcev3.EndpointType, v2)
		h.request(resourcev3.EndpointType)
		v3 := h.publish(3, "eds-x") // cluster, endpoints, route configuration
		h.expect("v3 while CDS v2 is in flight", resourcev3.EndpointType, v3)
		h.request(resourcev3.ClusterType)
		h.expect("the CDS request after v3", resourcev3.ClusterType, v3, resourcev3.RouteType, v3)
	})
}
