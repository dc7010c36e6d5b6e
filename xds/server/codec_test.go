package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// publishedCaches returns two published caches: a synthetic fleet (CDS, LDS, SRDS, 3 RouteConfigurations, all
// marshalled by the Publisher) and 3 REF-API(5) APIs through the translator and Builder (RouteConfigurations in
// the translator's wire form, served from their own bytes).
func publishedCaches(t *testing.T) []*fanoutCache {
	t.Helper()
	p := newPipeline()
	p.run(t, fleetAPIs(3, 5))
	var out []*fanoutCache
	for _, res := range []map[resourcev3.Type][]types.Resource{newFleet(t, 3, 4).resources(), p.last} {
		pub := NewPublisher(slog.New(slog.DiscardHandler), nil)
		if _, err := pub.Publish(context.Background(), res); err != nil {
			t.Fatal(err)
		}
		out = append(out, pub.cache)
	}
	return out
}

// checkSameBytes marshals m with the codec and with proto.Marshal and fails unless the bytes are identical and
// decode to m. It returns whether the shared encoding (not the fallback) was used.
func checkSameBytes(t *testing.T, codec *wireCodec, m proto.Message) bool {
	t.Helper()
	got, err := codec.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Materialize(); !bytes.Equal(b, want) {
		t.Errorf("%T: codec wrote %d bytes, proto.Marshal %d, not the same", m, len(b), len(want))
	}
	back := m.ProtoReflect().New().Interface()
	if err := codec.Unmarshal(got, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, m) {
		t.Errorf("%T: the codec's bytes do not decode to the message", m)
	}
	return len(got) > 1
}

// TestWireCodecMatchesProtoMarshal: responses carrying published resources are encoded from the shared pieces, and
// those bytes are exactly proto.Marshal's (version, resources, type URL and nonce in field order; delta removals;
// empty fields omitted); responses the shared encoding does not cover are marshalled by the fallback, also exactly.
func TestWireCodecMatchesProtoMarshal(t *testing.T) {
	for _, cache := range publishedCaches(t) {
		checkCodecOn(t, cache)
	}
}

func checkCodecOn(t *testing.T, cache *fanoutCache) {
	codec := newWireCodec(cache)
	g := cache.current
	for typeURL, tr := range g.types {
		if len(tr.anys) == 0 {
			continue
		}
		var deltas []*discoveryv3.Resource
		for _, n := range tr.names {
			deltas = append(deltas, tr.byName[n].delta)
		}
		for _, resp := range []*discoveryv3.DiscoveryResponse{
			{VersionInfo: g.version, Resources: tr.anys, TypeUrl: typeURL, Nonce: "17"},
			{VersionInfo: g.version, Resources: tr.anys[len(tr.anys)-1:], TypeUrl: typeURL, Nonce: "1"},
			{Resources: tr.anys[:1]}, // every string field empty
			{VersionInfo: "v", Resources: []*anypb.Any{tr.anys[0], tr.anys[0]}, TypeUrl: typeURL},
		} {
			if !checkSameBytes(t, codec, resp) {
				t.Errorf("%s: shared encoding not used", typeURL)
			}
		}
		for _, resp := range []*discoveryv3.DeltaDiscoveryResponse{
			{SystemVersionInfo: g.version, Resources: deltas, TypeUrl: typeURL, Nonce: "3", RemovedResources: []string{"gone", "", "also-gone"}},
			{Resources: deltas[:1]},
		} {
			if !checkSameBytes(t, codec, resp) {
				t.Errorf("%s: shared delta encoding not used", typeURL)
			}
		}
	}
	rds := g.types[resourcev3.RouteType]
	foreign := &anypb.Any{TypeUrl: resourcev3.RouteType, Value: bytes.Clone(rds.anys[0].GetValue())}
	for _, resp := range []proto.Message{
		&discoveryv3.DiscoveryResponse{VersionInfo: "v", Resources: []*anypb.Any{rds.anys[0], foreign}, TypeUrl: resourcev3.RouteType},
		&discoveryv3.DiscoveryResponse{VersionInfo: "v", Resources: rds.anys, Canary: true},
		&discoveryv3.DiscoveryResponse{VersionInfo: "v"},
		&discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{{Name: "x", Resource: foreign}}},
		&discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{rds.byName[rds.names[0]].delta}, RemovedResourceNames: []*discoveryv3.ResourceName{{Name: "gone"}}},
		&discoveryv3.DiscoveryRequest{VersionInfo: "v", ResourceNames: rds.names},
	} {
		if checkSameBytes(t, codec, resp) {
			t.Errorf("%T: shared encoding used for a message it does not cover", resp)
		}
	}
	// A resource whose Any has no value (an all-default message) omits the value field, as proto.Marshal does.
	empty := &anypb.Any{TypeUrl: resourcev3.ClusterType}
	w := newResourceWire("c", "v1", empty)
	g.byAny[empty] = &publishedResource{name: "c", version: "v1", any: empty, wire: w}
	checkSameBytes(t, codec, &discoveryv3.DiscoveryResponse{VersionInfo: "v", Resources: []*anypb.Any{empty}})
}

// TestWireCodecSharesPublishedBytes: the codec's output uses the published bytes in place (no copy per response),
// and serving many clients leaves them unchanged while every client receives them.
func TestWireCodecSharesPublishedBytes(t *testing.T) {
	h := startServer(t)
	f := newFleet(t, 5, 20)
	if _, err := h.srv.Publish(context.Background(), f.resources()); err != nil {
		t.Fatal(err)
	}
	g := h.srv.publisher.cache.current
	rds := g.types[resourcev3.RouteType]
	want := map[string][]byte{}
	for n, r := range rds.byName {
		want[n] = bytes.Clone(r.any.GetValue())
	}

	out, err := newWireCodec(h.srv.publisher.cache).Marshal(&discoveryv3.DiscoveryResponse{Resources: rds.anys})
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for _, buf := range out {
		for _, a := range rds.anys {
			if b := buf.ReadOnlyData(); len(b) > 0 && &b[0] == &a.GetValue()[0] {
				shared++
			}
		}
	}
	if shared != len(rds.anys) {
		t.Errorf("%d of %d resources' bytes used in place", shared, len(rds.anys))
	}

	const clients = 8
	errs := make(chan error, clients)
	for i := range clients {
		conn := h.dial()
		received := map[string][]byte{}
		go func() {
			errs <- runSotwByteClientUntil(conn, fmt.Sprintf("node-%d", i), f.routeNames(), received, len(want))
		}()
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		for n, b := range want {
			if !bytes.Equal(received[n], b) {
				t.Errorf("client %d: %s received differs from the published bytes", i, n)
			}
		}
	}
	for n, r := range rds.byName {
		if !bytes.Equal(r.any.GetValue(), want[n]) {
			t.Errorf("%s: published bytes changed while served", n)
		}
	}
}

// runSotwByteClientUntil subscribes to routes on a SotW ADS stream and keeps RouteConfiguration bytes by name until
// it holds n of them.
func runSotwByteClientUntil(conn *grpc.ClientConn, node string, routes []string, kept map[string][]byte, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resourcev3.RouteType, ResourceNames: routes}); err != nil {
		return err
	}
	for len(kept) < n {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		for _, a := range resp.GetResources() {
			kept[wireName(a.GetValue())] = a.GetValue()
		}
	}
	return nil
}
