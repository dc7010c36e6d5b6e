package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	sotwclient "github.com/envoyproxy/go-control-plane/pkg/client/sotw/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// testTimeout bounds every wait; waits are driven by streams and NodeTracker.Changed, never by sleeps.
const testTimeout = 20 * time.Second

type harness struct {
	t    *testing.T
	srv  *Server
	reg  *prometheus.Registry
	logs *logBuffer
	addr string
	conn *grpc.ClientConn

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

func startServer(t *testing.T) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger, logs := testLogger()
	srv := New(Options{Logger: logger, Registerer: reg, ShutdownTimeout: 5 * time.Second})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, reg: reg, logs: logs, addr: lis.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h.conn = h.dial()
	return h
}

// stop cancels Serve's context and waits for Serve to return.
func (h *harness) stop() error {
	h.stopOnce.Do(func() {
		h.cancel()
		select {
		case h.stopErr = <-h.done:
		case <-time.After(testTimeout):
			h.stopErr = errors.New("Serve did not return after cancellation")
		}
	})
	return h.stopErr
}

func (h *harness) dial() *grpc.ClientConn {
	h.t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (h *harness) publish(c testConfig) string {
	h.t.Helper()
	v, err := h.srv.Publish(context.Background(), testResources(h.t, c))
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	return metricValue(h.t, h.reg, name, labels)
}

// waitStatus waits until cond holds for the tracker's status.
func (h *harness) waitStatus(desc string, cond func([]NodeStatus) bool) []NodeStatus {
	h.t.Helper()
	tr := h.srv.Tracker()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		ch := tr.Changed()
		st := tr.Status()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-deadline.C:
			b, _ := json.MarshalIndent(st, "", "  ")
			h.t.Fatalf("timed out waiting for %s; status:\n%s", desc, b)
		}
	}
}

// waitType waits until cond holds for one node's type.
func (h *harness) waitType(node, typeURL, desc string, cond func(NodeStatus, TypeStatus) bool) (NodeStatus, TypeStatus) {
	h.t.Helper()
	var n NodeStatus
	var ts TypeStatus
	h.waitStatus(fmt.Sprintf("%s (node %s, %s)", desc, node, typeURL), func(st []NodeStatus) bool {
		var ok bool
		n, ts, ok = findType(st, node, typeURL)
		return ok && cond(n, ts)
	})
	return n, ts
}

func findType(st []NodeStatus, node, typeURL string) (NodeStatus, TypeStatus, bool) {
	for _, n := range st {
		if n.ID != node {
			continue
		}
		for _, ts := range n.Types {
			if ts.TypeURL == typeURL {
				return n, ts, true
			}
		}
		return n, TypeStatus{}, false
	}
	return NodeStatus{}, TypeStatus{}, false
}

// sotw wraps go-control-plane's SotW ADS client for one type.
type sotw struct {
	t      *testing.T
	c      sotwclient.ADSClient
	cancel context.CancelFunc
}

func (h *harness) sotwClient(conn *grpc.ClientConn, node, typeURL string) *sotw {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	h.t.Cleanup(cancel)
	c := sotwclient.NewADSClient(ctx, &corev3.Node{Id: node, Cluster: "test"}, typeURL)
	if err := c.InitConnect(conn); err != nil {
		h.t.Fatal(err)
	}
	return &sotw{t: h.t, c: c, cancel: cancel}
}

// fetchCluster receives one response and returns its single cluster.
func (s *sotw) fetchCluster() *clusterv3.Cluster {
	s.t.Helper()
	cl, err := fetchCluster(s.c)
	if err != nil {
		s.t.Fatal(err)
	}
	return cl
}

func fetchCluster(c sotwclient.ADSClient) (*clusterv3.Cluster, error) {
	resp, err := c.Fetch()
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("got %d resources, want 1 cluster", len(resp.Resources))
	}
	var cl clusterv3.Cluster
	if err := resp.Resources[0].UnmarshalTo(&cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

func (s *sotw) ack() {
	s.t.Helper()
	if err := s.c.Ack(); err != nil {
		s.t.Fatal(err)
	}
}

// gen returns the generation a cluster was built for (its connect timeout in seconds).
func gen(cl *clusterv3.Cluster) int { return int(cl.GetConnectTimeout().GetSeconds()) }

func TestSotWFetchAckUpdateAndUnchangedRepublish(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})

	c := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	if cl := c.fetchCluster(); cl.GetName() != testCluster || gen(cl) != 1 {
		t.Fatalf("initial fetch: %s gen %d, want %s gen 1", cl.GetName(), gen(cl), testCluster)
	}
	c.ack()
	n, ts := h.waitType("node-a", resourcev3.ClusterType, "ACK of v1", func(n NodeStatus, ts TypeStatus) bool {
		return ts.AckedVersion == v1
	})
	if !n.Connected || n.Streams != 1 || n.Cluster != "test" || n.ConnectedSince.IsZero() || ts.SentVersion != v1 || ts.NackCount != 0 {
		t.Errorf("status after ACK: %+v / %+v", n, ts)
	}
	pushes := map[string]string{"type_url": resourcev3.ClusterType}
	if got := h.metric("proxyplus_snapshot_pushes_total", pushes); got != 1 {
		t.Errorf("pushes = %v, want 1", got)
	}
	if got := h.metric("proxyplus_xds_connected_nodes", nil); got != 1 {
		t.Errorf("connected nodes = %v, want 1", got)
	}

	// Unchanged content: same version, no SetSnapshot, nothing pushed.
	if v := h.publish(testConfig{Gen: 1}); v != v1 {
		t.Fatalf("republish of unchanged content gave version %s, want %s", v, v1)
	}
	if g := h.srv.Status().Snapshot.Generation; g != 1 {
		t.Errorf("generation after unchanged republish = %d, want 1", g)
	}

	// Changed content: a new version is pushed. Had the republish pushed anything, it would arrive first.
	v2 := h.publish(testConfig{Gen: 2})
	if v2 == v1 || !versionRE.MatchString(v2) {
		t.Fatalf("v2 = %q, v1 = %q", v2, v1)
	}
	if cl := c.fetchCluster(); gen(cl) != 2 {
		t.Fatalf("after update got gen %d, want 2", gen(cl))
	}
	c.ack()
	h.waitType("node-a", resourcev3.ClusterType, "ACK of v2", func(n NodeStatus, ts TypeStatus) bool {
		return ts.AckedVersion == v2 && ts.SentVersion == v2
	})
	if got := h.metric("proxyplus_snapshot_pushes_total", pushes); got != 2 {
		t.Errorf("pushes = %v, want 2", got)
	}
	if got := h.metric("proxyplus_snapshot_generation", nil); got != 2 {
		t.Errorf("proxyplus_snapshot_generation = %v, want 2", got)
	}
}

func TestInvalidPublishKeepsServingLastGood(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})
	a := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	a.fetchCluster()
	a.ack()

	bad := testResources(t, testConfig{Gen: 2})
	broken := makeCluster("broken", time.Second)
	broken.LbPolicy = clusterv3.Cluster_LbPolicy(42) // not a defined enum value
	bad[resourcev3.ClusterType] = append(bad[resourcev3.ClusterType], broken)
	v, err := h.srv.Publish(context.Background(), bad)
	if err == nil {
		t.Fatal("invalid configuration published")
	}
	if v != v1 || !strings.Contains(err.Error(), `"broken"`) || !strings.Contains(err.Error(), "LbPolicy") {
		t.Fatalf("Publish = %q, %v; want %s and an error naming the cluster and field", v, err, v1)
	}
	st := h.srv.Status().Snapshot
	if st.Version != v1 || st.LastError == nil || !strings.Contains(st.LastError.Message, "broken") {
		t.Errorf("snapshot status = %+v", st)
	}

	// A node connecting now gets the last good configuration.
	b := h.sotwClient(h.conn, "node-b", resourcev3.ClusterType)
	if cl := b.fetchCluster(); gen(cl) != 1 {
		t.Fatalf("new node got gen %d, want the last good gen 1", gen(cl))
	}
	b.ack()
	h.waitType("node-b", resourcev3.ClusterType, "ACK of last good", func(_ NodeStatus, ts TypeStatus) bool {
		return ts.AckedVersion == v1
	})
}

func TestNackIsRecordedAndNotRepushed(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})
	c := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	c.fetchCluster()
	c.ack()

	v2 := h.publish(testConfig{Gen: 2})
	if cl := c.fetchCluster(); gen(cl) != 2 {
		t.Fatalf("got gen %d, want 2", gen(cl))
	}
	const msg = "cluster backend: unknown field in typed config"
	if err := c.c.Nack(msg); err != nil {
		t.Fatal(err)
	}
	_, ts := h.waitType("node-a", resourcev3.ClusterType, "NACK of v2", func(_ NodeStatus, ts TypeStatus) bool {
		return ts.LastNack != nil
	})
	if ts.LastNack.RejectedVersion != v2 || ts.LastNack.Message != msg || ts.LastNack.At.IsZero() ||
		ts.NackCount != 1 || ts.AckedVersion != v1 || ts.SentVersion != v2 {
		t.Errorf("type status after NACK: %+v, last NACK %+v; want rejected %s, acked %s", ts, ts.LastNack, v2, v1)
	}
	// Per resource: the cluster runs v1 and rejected v2.
	if want := []ResourceStatus{{Name: testCluster, AckedVersion: v1, NackedVersion: v2}}; !slices.Equal(ts.Resources, want) {
		t.Errorf("resource status after NACK: %+v, want %+v", ts.Resources, want)
	}
	if got := h.metric("proxyplus_xds_nacks_total", map[string]string{"type_url": resourcev3.ClusterType}); got != 1 {
		t.Errorf("proxyplus_xds_nacks_total = %v, want 1", got)
	}
	logs := h.logs.String()
	for _, want := range []string{"level=WARN", "xds NACK", "node=node-a", "rejected_version=" + v2, msg} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	// The rejected version is not sent again: the next response is the next version.
	v3 := h.publish(testConfig{Gen: 3})
	if cl := c.fetchCluster(); gen(cl) != 3 {
		t.Fatalf("after NACK got gen %d, want 3 (the rejected version was re-pushed)", gen(cl))
	}
	c.ack()
	_, ts = h.waitType("node-a", resourcev3.ClusterType, "ACK of v3", func(_ NodeStatus, ts TypeStatus) bool {
		return ts.AckedVersion == v3
	})
	if ts.LastNack == nil || ts.NackCount != 1 {
		t.Errorf("NACK history lost after ACK: %+v", ts)
	}
}

func TestDisconnectClearsCacheAndReconnectGetsCurrent(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})
	pub := h.srv.Publisher()

	a := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	a.fetchCluster()
	a.ack()
	h.waitType("node-a", resourcev3.ClusterType, "ACK", func(_ NodeStatus, ts TypeStatus) bool { return ts.AckedVersion == v1 })

	disconnected := func(st []NodeStatus) bool {
		return len(st) == 1 && !st[0].Connected && st[0].Streams == 0 && !st[0].DisconnectedAt.IsZero()
	}
	a.cancel()
	h.waitStatus("node-a disconnected", disconnected)
	if st := pub.Status(); st.Cached || st.Streams != 0 || st.Version != v1 {
		t.Errorf("publisher after last stream closed: %+v; want not cached, 0 streams, version kept", st)
	}
	if _, err := pub.Cache().GetSnapshot(GroupKey); err == nil {
		t.Error("snapshot still in cache after the last stream closed")
	}
	if n := pub.Cache().Watches(); n != 0 {
		t.Errorf("cache watches after last stream closed: %d", n)
	}
	if got := h.metric("proxyplus_xds_connected_nodes", nil); got != 0 {
		t.Errorf("connected nodes = %v, want 0", got)
	}

	// Reconnect: the snapshot is restored before the first request.
	b := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	if cl := b.fetchCluster(); gen(cl) != 1 {
		t.Fatalf("reconnect got gen %d, want 1", gen(cl))
	}
	b.ack()
	h.waitType("node-a", resourcev3.ClusterType, "reconnected ACK", func(n NodeStatus, ts TypeStatus) bool {
		return n.Connected && n.DisconnectedAt.IsZero() && ts.AckedVersion == v1
	})
	b.cancel()
	h.waitStatus("node-a disconnected again", disconnected)

	// Published while nobody is connected: the next node gets it.
	v2 := h.publish(testConfig{Gen: 2})
	c := h.sotwClient(h.dial(), "node-c", resourcev3.ClusterType)
	if cl := c.fetchCluster(); gen(cl) != 2 {
		t.Fatalf("new node got gen %d, want 2", gen(cl))
	}
	c.ack()
	h.waitType("node-c", resourcev3.ClusterType, "ACK of v2", func(_ NodeStatus, ts TypeStatus) bool { return ts.AckedVersion == v2 })
}

func TestManySotWClientsConverge(t *testing.T) {
	const clients = 100
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})

	conns := make([]*grpc.ClientConn, 10)
	for i := range conns {
		conns[i] = h.dial()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- func() error {
				c := sotwclient.NewADSClient(ctx, &corev3.Node{Id: fmt.Sprintf("node-%03d", i)}, resourcev3.ClusterType)
				if err := c.InitConnect(conns[i%len(conns)]); err != nil {
					return err
				}
				for want := 1; want <= 2; want++ {
					cl, err := fetchCluster(c)
					if err != nil {
						return err
					}
					if gen(cl) != want {
						return fmt.Errorf("node-%03d got gen %d, want %d", i, gen(cl), want)
					}
					if err := c.Ack(); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	allAcked := func(v string) func([]NodeStatus) bool {
		return func(st []NodeStatus) bool {
			if len(st) != clients {
				return false
			}
			for _, n := range st {
				if _, ts, ok := findType([]NodeStatus{n}, n.ID, resourcev3.ClusterType); !ok || !n.Connected || ts.AckedVersion != v {
					return false
				}
			}
			return true
		}
	}
	h.waitStatus("all clients ACK v1", allAcked(v1))
	v2 := h.publish(testConfig{Gen: 2})
	h.waitStatus("all clients ACK v2", allAcked(v2))
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	if got := h.metric("proxyplus_xds_connected_nodes", nil); got != clients {
		t.Errorf("connected nodes = %v, want %d", got, clients)
	}
	if got := h.metric("proxyplus_snapshot_pushes_total", map[string]string{"type_url": resourcev3.ClusterType}); got != 2*clients {
		t.Errorf("pushes = %v, want %d", got, 2*clients)
	}
}

// deltaStream is a raw delta ADS stream (go-control-plane has no delta client).
type deltaStream struct {
	t *testing.T
	s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
}

func (d *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) {
	d.t.Helper()
	if err := d.s.Send(req); err != nil {
		d.t.Fatal(err)
	}
}

func (d *deltaStream) recv() *discoveryv3.DeltaDiscoveryResponse {
	d.t.Helper()
	resp, err := d.s.Recv()
	if err != nil {
		d.t.Fatal(err)
	}
	return resp
}

func deltaCluster(t *testing.T, resp *discoveryv3.DeltaDiscoveryResponse) *clusterv3.Cluster {
	t.Helper()
	if resp.GetTypeUrl() != resourcev3.ClusterType || len(resp.GetResources()) != 1 {
		t.Fatalf("want one cluster, got %s with %d resources", resp.GetTypeUrl(), len(resp.GetResources()))
	}
	r := resp.GetResources()[0]
	var cl clusterv3.Cluster
	if err := r.GetResource().UnmarshalTo(&cl); err != nil {
		t.Fatal(err)
	}
	if r.GetName() != cl.GetName() || r.GetVersion() == "" {
		t.Errorf("delta resource name %q version %q for cluster %q", r.GetName(), r.GetVersion(), cl.GetName())
	}
	return &cl
}

func TestDeltaStream(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(h.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &deltaStream{t: t, s: s}
	const node = "delta-a"

	// Wildcard CDS, then RDS for the listener's route configuration.
	d.send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resourcev3.ClusterType})
	resp := d.recv()
	if cl := deltaCluster(t, resp); gen(cl) != 1 || resp.GetSystemVersionInfo() != v1 {
		t.Fatalf("initial delta CDS: gen %d version %s, want gen 1 version %s", gen(cl), resp.GetSystemVersionInfo(), v1)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()})
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{testRoute}})
	resp = d.recv()
	if resp.GetTypeUrl() != resourcev3.RouteType || len(resp.GetResources()) != 1 || resp.GetResources()[0].GetName() != testRoute {
		t.Fatalf("delta RDS response: %v", resp)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: resp.GetNonce()})
	h.waitStatus("delta ACKs of v1", func(st []NodeStatus) bool {
		_, c, ok1 := findType(st, node, resourcev3.ClusterType)
		_, r, ok2 := findType(st, node, resourcev3.RouteType)
		return ok1 && ok2 && c.AckedVersion == v1 && r.AckedVersion == v1
	})

	// An update that changes only the cluster sends only the cluster.
	v2 := h.publish(testConfig{Gen: 2})
	resp = d.recv()
	if cl := deltaCluster(t, resp); gen(cl) != 2 || resp.GetSystemVersionInfo() != v2 {
		t.Fatalf("delta update: gen %d version %s, want gen 2 version %s", gen(cl), resp.GetSystemVersionInfo(), v2)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()})
	h.waitType(node, resourcev3.ClusterType, "delta ACK of v2", func(_ NodeStatus, ts TypeStatus) bool { return ts.AckedVersion == v2 })

	// NACK on delta.
	v3 := h.publish(testConfig{Gen: 3})
	resp = d.recv()
	if cl := deltaCluster(t, resp); gen(cl) != 3 {
		t.Fatalf("got gen %d, want 3", gen(cl))
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: 3, Message: "rejected by test"},
	})
	_, ts := h.waitType(node, resourcev3.ClusterType, "delta NACK", func(_ NodeStatus, ts TypeStatus) bool { return ts.LastNack != nil })
	if ts.LastNack.RejectedVersion != v3 || ts.LastNack.Message != "rejected by test" || ts.AckedVersion != v2 {
		t.Errorf("delta NACK status: %+v %+v", ts, ts.LastNack)
	}

	// Next version: cluster first (ADS order), then the changed route configuration; no re-send of v3.
	v4 := h.publish(testConfig{Gen: 4, Tag: "-x"})
	resp = d.recv()
	if cl := deltaCluster(t, resp); gen(cl) != 4 || resp.GetSystemVersionInfo() != v4 {
		t.Fatalf("after NACK got gen %d version %s, want gen 4 version %s", gen(cl), resp.GetSystemVersionInfo(), v4)
	}
	resp = d.recv()
	if resp.GetTypeUrl() != resourcev3.RouteType || resp.GetSystemVersionInfo() != v4 {
		t.Fatalf("want RDS %s, got %s %s", v4, resp.GetTypeUrl(), resp.GetSystemVersionInfo())
	}
}

func TestOrderedADSResponses(t *testing.T) {
	h := startServer(t)
	v1 := h.publish(testConfig{Gen: 1})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(h.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const node = "envoy-like"
	reqs := []*discoveryv3.DiscoveryRequest{
		{Node: &corev3.Node{Id: node}, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.RouteType, ResourceNames: []string{testRoute}},
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	ackAll := func(version string, n int) []string {
		t.Helper()
		var order []string
		for range n {
			resp, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetVersionInfo() != version {
				t.Fatalf("%s version %s, want %s", resp.GetTypeUrl(), resp.GetVersionInfo(), version)
			}
			order = append(order, resp.GetTypeUrl())
			ack := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if resp.GetTypeUrl() == resourcev3.RouteType {
				ack.ResourceNames = []string{testRoute}
			}
			if err := s.Send(ack); err != nil {
				t.Fatal(err)
			}
		}
		return order
	}
	ackAll(v1, len(reqs))
	h.waitStatus("ACK of all types", func(st []NodeStatus) bool {
		for _, r := range reqs {
			if _, ts, ok := findType(st, node, r.GetTypeUrl()); !ok || ts.AckedVersion != v1 {
				return false
			}
		}
		return true
	})
	// The listener is the same in both versions: SotW re-sends only the types that changed (fanoutCache).
	v2 := h.publish(testConfig{Gen: 2, Tag: "-y"})
	want := []string{resourcev3.ClusterType, resourcev3.RouteType}
	if got := ackAll(v2, len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("push order %v, want %v", got, want)
	}
}

func TestServeHealthReflectionAndShutdown(t *testing.T) {
	h := startServer(t)
	h.publish(testConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	hc := healthpb.NewHealthClient(h.conn)
	for _, svc := range []string{"", "envoy.service.discovery.v3.AggregatedDiscoveryService"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, resp, err)
		}
	}

	rs, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !strings.Contains(strings.Join(services, ","), "envoy.service.discovery.v3.AggregatedDiscoveryService") {
		t.Errorf("reflection lists %v", services)
	}
	_ = rs.CloseSend()

	c := h.sotwClient(h.conn, "node-a", resourcev3.ClusterType)
	c.fetchCluster()
	c.ack()
	h.waitType("node-a", resourcev3.ClusterType, "ACK", func(_ NodeStatus, ts TypeStatus) bool { return ts.AckedVersion != "" })

	// Status is JSON for a /status endpoint.
	b, err := json.Marshal(h.srv.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"snapshot":{"version":"`, `"nodes":[{"id":"node-a"`, `"acked_version":"`, `"connected":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status JSON lacks %s: %s", want, b)
		}
	}

	if err := h.stop(); err != nil {
		t.Fatalf("Serve returned %v after cancellation", err)
	}
	if _, err := c.c.Fetch(); err == nil {
		t.Error("stream still open after shutdown")
	}
	h.waitStatus("all streams closed", func(st []NodeStatus) bool { return len(st) == 1 && !st[0].Connected })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Serve(context.Background(), lis); err == nil {
		t.Error("second Serve succeeded")
	}
}
