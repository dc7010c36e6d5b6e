package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// TestPublishAnswersLikeTheFullPass: a publish answers each open watch from the names changed since the resources
// its stream had everything of (typeResources.unchangedFor, sotwAnswerSince) and must answer exactly as a full pass
// over the watch's subscription (sotwAnswer, deltaAnswer) would: the same resources, versions and returned map, and
// no answer where the full pass has none. Random configurations (RouteConfigurations added, edited, removed; clusters
// changed) are published to SotW and delta watches, named and wildcard, that ACK every answer as go-control-plane's
// servers do.
func TestPublishAnswersLikeTheFullPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pub := NewPublisher(slog.New(slog.DiscardHandler), nil)
	c := pub.cache
	names := make([]string, 12)
	for i := range names {
		names[i] = fmt.Sprintf("route-%02d", i)
	}
	allNames := names
	content := map[string]int{}
	for _, n := range names[:8] {
		content[n] = 0
	}
	clusterGen := 1
	publish := func() {
		res := map[resourcev3.Type][]types.Resource{resourcev3.ClusterType: {makeCluster(testCluster, time.Duration(clusterGen)*time.Second)}}
		for n, v := range content {
			res[resourcev3.RouteType] = append(res[resourcev3.RouteType], makeRouteConfig(n, 2, strconv.Itoa(v)))
			// a consistent snapshot has every RouteConfiguration referenced
			res[resourcev3.ScopedRouteType] = append(res[resourcev3.ScopedRouteType], &routev3.ScopedRouteConfiguration{Name: "scope-" + n, RouteConfigurationName: n,
				Key: &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: n}}}}})
		}
		_, g, err := pub.build(context.Background(), res, pub.snapshot, nil)
		if err != nil {
			t.Fatal(err)
		}
		pub.snapshot = g
		c.set(g)
	}
	type client struct {
		typeURL string
		delta   bool
		sub     *streamv3.Subscription
		sotw    chan cachev3.Response
		dch     chan cachev3.DeltaResponse
		nonce   int
	}
	var clients []*client
	watch := func(cl *client) {
		var err error
		if cl.delta {
			req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: cl.typeURL}
			if cl.nonce > 0 {
				req.ResponseNonce = strconv.Itoa(cl.nonce)
			}
			_, err = c.CreateDeltaWatch(req, cl.sub, cl.dch)
		} else {
			req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: cl.typeURL, ResourceNames: keys(cl.sub.SubscribedResources())}
			if cl.nonce > 0 {
				req.ResponseNonce = strconv.Itoa(cl.nonce)
			}
			// CreateWatch answers at once exactly when the full pass has something, with the same answer.
			var full cachev3.Response
			if c.current != nil {
				full, _ = sotwAnswer(c.current, req, cl.sub)
			}
			_, err = c.CreateWatch(req, cl.sub, cl.sotw)
			var got cachev3.Response
			select {
			case got = <-cl.sotw:
				cl.sotw <- got
			default:
			}
			if (full == nil) != (got == nil) {
				t.Fatalf("new watch of %s: answered %v, the full pass answers %v", cl.typeURL, got != nil, full != nil)
			}
			if full != nil && !maps.Equal(full.GetReturnedResources(), got.GetReturnedResources()) {
				t.Fatalf("new watch of %s answered differently from the full pass", cl.typeURL)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// ack applies an answer the way the servers do and opens the next watch; it reports whether there was one.
	ack := func(cl *client) bool {
		select {
		case r := <-cl.sotw:
			cl.sub.SetReturnedResources(r.GetReturnedResources())
			if !cl.sub.IsWildcard() {
				// The ACK names the subscription, as go-control-plane's server applies it; now and then it changes.
				names := keys(cl.sub.SubscribedResources())
				if rng.IntN(5) == 0 {
					names = names[:0]
					for _, n := range allNames {
						if rng.IntN(2) == 0 {
							names = append(names, n)
						}
					}
				}
				cl.sub.SetResourceSubscription(names)
			}
		case r := <-cl.dch:
			cl.sub.SetReturnedResources(r.GetNextVersionMap())
		default:
			return false
		}
		cl.nonce++
		watch(cl)
		return true
	}
	publish()
	for i := range 40 {
		subset := map[string]struct{}{}
		for j, n := range names {
			// one client in eight subscribes to every name (as Envoy does with scoped routes), one to every
			// RouteConfiguration that exists at first, the others to a random third of the names
			if i%8 == 4 || (i%8 == 0 && j < 8) || (i%4 != 0 && rng.IntN(3) == 0) {
				subset[n] = struct{}{}
			}
		}
		cl := &client{typeURL: resourcev3.RouteType, delta: i%2 == 1, sotw: make(chan cachev3.Response, 1), dch: make(chan cachev3.DeltaResponse, 1)}
		switch {
		case i%4 >= 2: // wildcard
			if cl.delta {
				sub := streamv3.NewDeltaSubscription(nil, nil, nil, true)
				cl.sub = &sub
			} else {
				sub := streamv3.NewSotwSubscription(nil, true)
				cl.sub = &sub
				cl.typeURL = resourcev3.ClusterType
			}
		case cl.delta:
			sub := streamv3.NewDeltaSubscription(keys(subset), nil, nil, false)
			cl.sub = &sub
		default:
			sub := streamv3.NewSotwSubscription(keys(subset), false)
			cl.sub = &sub
		}
		clients = append(clients, cl)
		watch(cl)
		for ack(cl) {
		}
	}
	fast, answered := 0, 0
	for step := range 200 {
		for range 1 + rng.IntN(3) { // one to three RouteConfigurations, or the cluster, change
			n := names[rng.IntN(len(names))]
			switch _, ok := content[n]; {
			case step%7 == 0:
				clusterGen++
			case !ok:
				content[n] = step
			case rng.IntN(4) == 0 && len(content) > 1:
				delete(content, n)
			default:
				content[n] = step
			}
		}
		// The answers a full pass over every open watch gives, computed after the publish from the same
		// subscriptions (they do not change until the clients ACK).
		type expected struct {
			cl   *client
			full cachev3.Response
		}
		var want []expected
		byChan := map[chan cachev3.Response]*client{}
		for _, cl := range clients {
			byChan[cl.sotw] = cl
		}
		type expectedDelta struct {
			cl   *client
			full cachev3.DeltaResponse
		}
		var wantDelta []expectedDelta
		byDeltaChan := map[chan cachev3.DeltaResponse]*client{}
		for _, cl := range clients {
			byDeltaChan[cl.dch] = cl
		}
		openDelta := slices.Collect(maps.Keys(c.delta))
		open := slices.Collect(maps.Keys(c.sotw))
		had := map[*sotwWatch]uint64{}
		for _, w := range open {
			had[w] = w.have
		}
		hadDelta := map[*deltaWatch]uint64{}
		for _, w := range openDelta {
			hadDelta[w] = w.have
		}
		publish()
		for _, w := range openDelta {
			if tr := c.current.types[w.req.GetTypeUrl()]; hadDelta[w] != 0 && hadDelta[w] == tr.baseSeq {
				fast++
			}
			wantDelta = append(wantDelta, expectedDelta{cl: byDeltaChan[w.out], full: deltaAnswer(c.current, w.req, w.sub)})
		}
		for _, w := range open {
			if tr := c.current.types[w.req.GetTypeUrl()]; had[w] != 0 && had[w] == tr.baseSeq {
				fast++
			}
			full, _ := sotwAnswer(c.current, w.req, w.sub)
			want = append(want, expected{cl: byChan[w.out], full: full})
		}
		for _, e := range want {
			var got cachev3.Response
			select {
			case got = <-e.cl.sotw:
				e.cl.sotw <- got
			default:
			}
			switch {
			case e.full == nil && got != nil:
				t.Fatalf("step %d: %s answered, the full pass has nothing for it", step, e.cl.typeURL)
			case e.full != nil && got == nil:
				t.Fatalf("step %d: %s not answered, the full pass answers %v", step, e.cl.typeURL, e.full.GetReturnedResources())
			case e.full != nil:
				g, _ := got.GetDiscoveryResponse()
				f, _ := e.full.GetDiscoveryResponse()
				if !slices.Equal(g.GetResources(), f.GetResources()) || !maps.Equal(got.GetReturnedResources(), e.full.GetReturnedResources()) || g.GetVersionInfo() != f.GetVersionInfo() {
					t.Fatalf("step %d: %s answered differently from the full pass", step, e.cl.typeURL)
				}
				answered++
			}
		}
		for _, e := range wantDelta {
			var got cachev3.DeltaResponse
			select {
			case got = <-e.cl.dch:
				e.cl.dch <- got
			default:
			}
			switch {
			case e.full == nil && got != nil:
				t.Fatalf("step %d: delta %s answered, the full pass has nothing for it", step, e.cl.typeURL)
			case e.full != nil && got == nil:
				t.Fatalf("step %d: delta %s not answered, the full pass answers %v", step, e.cl.typeURL, e.full.GetNextVersionMap())
			case e.full != nil:
				g, _ := got.GetDeltaDiscoveryResponse()
				f, _ := e.full.GetDeltaDiscoveryResponse()
				if !slices.Equal(g.GetResources(), f.GetResources()) || !slices.Equal(g.GetRemovedResources(), f.GetRemovedResources()) ||
					!maps.Equal(got.GetNextVersionMap(), e.full.GetNextVersionMap()) || g.GetSystemVersionInfo() != f.GetSystemVersionInfo() {
					t.Fatalf("step %d: delta %s answered differently from the full pass", step, e.cl.typeURL)
				}
				answered++
			}
		}
		for _, cl := range clients {
			for ack(cl) {
			}
		}
	}
	if fast == 0 || answered == 0 {
		t.Errorf("%d watches answered from the changed names, %d answered in all: the test does not exercise both", fast, answered)
	}
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
