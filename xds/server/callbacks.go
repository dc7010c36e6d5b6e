package server

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// GroupHook is told when xDS streams open and close. *Publisher implements it to drop the shared snapshot from the
// cache while no stream is open and to restore it before the next stream's first request (see
// Publisher.StreamOpened).
type GroupHook interface {
	StreamOpened()
	StreamClosed()
}

// DefaultDisconnectedRetention is how long NodeTracker keeps the status of a node after its last stream closed.
const DefaultDisconnectedRetention = time.Hour

// sentPerType is how many responses per stream and type NodeTracker remembers to map a nonce to a version. A
// SotW server ignores requests with stale nonces; delta clients may ACK older responses, never many.
const sentPerType = 4

// NodeTracker implements go-control-plane's server.Callbacks (SotW, delta and fetch). It tracks, per node, the
// open streams and, per resource type, the versions sent, ACKed and NACKed; it counts NACKs and pushes in Metrics
// and logs every NACK (XDS-6). It tells its GroupHook when streams open and close (XDS-7). It does not publish
// configuration (XDS-10).
//
// NACK handling: in a NACK, version_info is the last version the client accepted, so go-control-plane's snapshot
// cache, seeing a version different from the snapshot's, would send the rejected version straight back, and the
// client would reject it again, until the next publish. NodeTracker therefore rewrites the version_info of a SotW
// NACK that answers the stream's latest response to the rejected version before the server opens the new watch:
// the cache then considers the client current and sends the next version only. The delta server already records
// what it sent and re-sends nothing on a NACK. A reconnecting client gets the current snapshot again.
type NodeTracker struct {
	log       *slog.Logger
	metrics   *Metrics
	hook      GroupHook
	now       func() time.Time
	retention time.Duration

	mu      sync.Mutex
	streams map[streamKey]*streamState
	nodes   map[string]*nodeState
	changed chan struct{}
}

var _ serverv3.Callbacks = (*NodeTracker)(nil)

// NewNodeTracker creates a tracker. logger, metrics and hook may be nil.
func NewNodeTracker(logger *slog.Logger, metrics *Metrics, hook GroupHook) *NodeTracker {
	if logger == nil {
		logger = slog.Default()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &NodeTracker{
		log:       logger,
		metrics:   metrics,
		hook:      hook,
		now:       time.Now,
		retention: DefaultDisconnectedRetention,
		streams:   make(map[streamKey]*streamState),
		nodes:     make(map[string]*nodeState),
		changed:   make(chan struct{}),
	}
}

// streamKey identifies a stream: the SotW and delta servers number their streams independently.
type streamKey struct {
	delta bool
	id    int64
}

type sentResponse struct {
	nonce, version string
	// resources are the names and versions the response carried; removed the names a delta response removed.
	resources []sentResource
	removed   []string
	complete  bool // the response is the type's whole state (SotW wildcard types)
}

type sentResource struct{ name, version string }

type streamState struct {
	node *nodeState // nil until a request names the node
	sent map[string][]sentResponse
}

func (s *streamState) remember(typeURL string, r sentResponse) {
	if s.sent == nil {
		s.sent = make(map[string][]sentResponse)
	}
	list := s.sent[typeURL]
	if len(list) == sentPerType {
		list = append(list[:0], list[1:]...)
	}
	s.sent[typeURL] = append(list, r)
}

// lookup returns the response sent with nonce and whether it is the latest response of that type on the stream.
func (s *streamState) lookup(typeURL, nonce string) (sent sentResponse, found, latest bool) {
	list := s.sent[typeURL]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].nonce == nonce {
			return list[i], true, i == len(list)-1
		}
	}
	return sentResponse{}, false, false
}

type nodeState struct {
	id, cluster    string
	streams        int
	connectedSince time.Time
	disconnectedAt time.Time
	types          map[string]*typeState
}

func (n *nodeState) typ(typeURL string) *typeState {
	ts := n.types[typeURL]
	if ts == nil {
		ts = &typeState{}
		n.types[typeURL] = ts
	}
	return ts
}

type typeState struct {
	sentVersion  string
	sentAt       time.Time
	ackedVersion string
	ackedAt      time.Time
	nackCount    uint64
	lastNack     *NackStatus
	// resources is, per resource name, the version last ACKed and last NACKed: with the route configuration split,
	// a response carries only the resources that changed, so the type's version alone does not say which
	// RouteConfiguration a node runs.
	resources map[string]*resourceState
}

type resourceState struct{ acked, nacked string }

// ackResources records that the client applied the resources of r.
func (ts *typeState) ackResources(r sentResponse) {
	if ts.resources == nil {
		ts.resources = make(map[string]*resourceState, len(r.resources))
	}
	if r.complete {
		// The whole state of the type: names it lacks are gone from the client.
		in := make(map[string]bool, len(r.resources))
		for _, res := range r.resources {
			in[res.name] = true
		}
		maps.DeleteFunc(ts.resources, func(name string, _ *resourceState) bool { return !in[name] })
	}
	for _, res := range r.resources {
		rs := ts.resources[res.name]
		if rs == nil {
			rs = &resourceState{}
			ts.resources[res.name] = rs
		}
		rs.acked = res.version
	}
	for _, name := range r.removed {
		delete(ts.resources, name)
	}
}

// nackResources records that the client rejected the resources of r.
func (ts *typeState) nackResources(r sentResponse) {
	if ts.resources == nil {
		ts.resources = make(map[string]*resourceState, len(r.resources))
	}
	for _, res := range r.resources {
		rs := ts.resources[res.name]
		if rs == nil {
			rs = &resourceState{}
			ts.resources[res.name] = rs
		}
		rs.nacked = res.version
	}
}

// openStream registers a stream; the node is known only from the first request.
func (t *NodeTracker) openStream(key streamKey) {
	t.mu.Lock()
	t.streams[key] = &streamState{}
	t.metrics.streams.Inc()
	t.mu.Unlock()
	// The hook runs outside t.mu (it takes the Publisher's lock) and before Changed fires, so a waiter that sees
	// the stream also sees the hook's effect.
	if t.hook != nil {
		t.hook.StreamOpened()
	}
	t.notify()
}

// closeStream forgets the stream and its nonces; the node is marked disconnected when its last stream closes.
func (t *NodeTracker) closeStream(key streamKey) {
	now := t.now()
	t.mu.Lock()
	if st, ok := t.streams[key]; ok {
		delete(t.streams, key)
		t.metrics.streams.Dec()
		if n := st.node; n != nil {
			n.streams--
			if n.streams == 0 {
				n.disconnectedAt = now
				t.metrics.connectedNodes.Dec()
				t.log.Info("xds node disconnected", "node", n.id, "connected_for", now.Sub(n.connectedSince).Round(time.Millisecond))
			}
		}
	}
	t.pruneLocked(now)
	t.mu.Unlock()
	if t.hook != nil {
		t.hook.StreamClosed()
	}
	t.notify()
}

// streamLocked returns the stream's state, attaching it to node when this is the first request naming one.
func (t *NodeTracker) streamLocked(key streamKey, node *corev3.Node, now time.Time) *streamState {
	st := t.streams[key]
	if st == nil { // not opened through the callbacks; track it anyway
		st = &streamState{}
		t.streams[key] = st
		t.metrics.streams.Inc()
	}
	if st.node != nil || node == nil {
		return st
	}
	n := t.nodes[node.GetId()]
	if n == nil {
		n = &nodeState{id: node.GetId(), types: make(map[string]*typeState)}
		t.nodes[n.id] = n
	}
	if c := node.GetCluster(); c != "" {
		n.cluster = c
	}
	if n.streams == 0 {
		n.connectedSince, n.disconnectedAt = now, time.Time{}
		t.metrics.connectedNodes.Inc()
		t.log.Info("xds node connected", "node", n.id, "cluster", n.cluster)
	}
	n.streams++
	st.node = n
	return st
}

type requestInfo struct {
	key     streamKey
	node    *corev3.Node
	typeURL string
	nonce   string
	// version is version_info (SotW only): the version the client has applied.
	version string
	detail  *statuspb.Status
}

// request records an ACK or NACK. For a NACK it returns the rejected version and whether the NACK answers the
// latest response of its type on the stream.
func (t *NodeTracker) request(r requestInfo) (rejected string, latest bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.notifyLocked()
	st := t.streamLocked(r.key, r.node, now)
	resp, found, latest := st.lookup(r.typeURL, r.nonce)
	sent := resp.version
	if st.node == nil { // no node yet: nothing to attribute the request to
		return "", false
	}
	ts := st.node.typ(r.typeURL)
	if r.detail != nil {
		ts.nackCount++
		ts.lastNack = &NackStatus{RejectedVersion: sent, Message: r.detail.GetMessage(), At: now}
		if found {
			ts.nackResources(resp)
		}
		t.metrics.nacks.WithLabelValues(r.typeURL).Inc()
		t.log.Warn("xds NACK: client rejected configuration",
			"node", st.node.id, "type_url", r.typeURL, "rejected_version", sent,
			"accepted_version", r.version, "nonce", r.nonce, "code", r.detail.GetCode(), "message", r.detail.GetMessage(),
			"nack_count", ts.nackCount)
		return sent, found && latest
	}
	if found {
		ts.ackResources(resp)
	}
	switch {
	case r.key.delta && found:
		// Delta requests carry no version: the ACKed version is the one sent with the nonce.
		ts.ackedVersion, ts.ackedAt = sent, now
	case !r.key.delta && r.version != "":
		// SotW: version_info is what the client applied, whether this ACKs our response or opens a stream
		// after a reconnect.
		ts.ackedVersion, ts.ackedAt = r.version, now
	}
	return "", false
}

// response records a response about to be sent.
func (t *NodeTracker) response(key streamKey, typeURL string, r sentResponse) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.metrics.pushes.WithLabelValues(typeURL).Inc()
	st := t.streamLocked(key, nil, now)
	st.remember(typeURL, r)
	if st.node != nil {
		ts := st.node.typ(typeURL)
		ts.sentVersion, ts.sentAt = r.version, now
	}
	t.notifyLocked()
}

// OnStreamOpen implements sotw.Callbacks.
func (t *NodeTracker) OnStreamOpen(_ context.Context, id int64, _ string) error {
	t.openStream(streamKey{id: id})
	return nil
}

// OnStreamClosed implements sotw.Callbacks.
func (t *NodeTracker) OnStreamClosed(id int64, _ *corev3.Node) {
	t.closeStream(streamKey{id: id})
}

// OnStreamRequest implements sotw.Callbacks. A request with error_detail is a NACK (XDS-6).
func (t *NodeTracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	rejected, latest := t.request(requestInfo{
		key:     streamKey{id: id},
		node:    req.GetNode(),
		typeURL: req.GetTypeUrl(),
		nonce:   req.GetResponseNonce(),
		version: req.GetVersionInfo(),
		detail:  req.GetErrorDetail(),
	})
	if req.GetErrorDetail() != nil && latest && rejected != "" {
		// Do not re-push the rejected version; see the NodeTracker comment.
		req.VersionInfo = rejected
	}
	return nil
}

// OnStreamResponse implements sotw.Callbacks.
func (t *NodeTracker) OnStreamResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	typeURL := resp.GetTypeUrl()
	if typeURL == "" {
		typeURL = req.GetTypeUrl()
	}
	r := sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo(), complete: typeURL != resourcev3.RouteType,
		resources: make([]sentResource, len(resp.GetResources()))}
	for i, a := range resp.GetResources() {
		// SotW resources carry no name outside their bytes: read the name field without decoding the rest.
		r.resources[i] = sentResource{name: wireName(a.GetValue()), version: r.version}
	}
	t.response(streamKey{id: id}, typeURL, r)
}

// OnDeltaStreamOpen implements delta.Callbacks.
func (t *NodeTracker) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	t.openStream(streamKey{delta: true, id: id})
	return nil
}

// OnDeltaStreamClosed implements delta.Callbacks.
func (t *NodeTracker) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	t.closeStream(streamKey{delta: true, id: id})
}

// OnStreamDeltaRequest implements delta.Callbacks. A request with error_detail is a NACK (XDS-6).
func (t *NodeTracker) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	t.request(requestInfo{
		key:     streamKey{delta: true, id: id},
		node:    req.GetNode(),
		typeURL: req.GetTypeUrl(),
		nonce:   req.GetResponseNonce(),
		detail:  req.GetErrorDetail(),
	})
	return nil
}

// OnStreamDeltaResponse implements delta.Callbacks.
func (t *NodeTracker) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	typeURL := resp.GetTypeUrl()
	if typeURL == "" {
		typeURL = req.GetTypeUrl()
	}
	r := sentResponse{nonce: resp.GetNonce(), version: resp.GetSystemVersionInfo(), removed: resp.GetRemovedResources(),
		resources: make([]sentResource, len(resp.GetResources()))}
	for i, res := range resp.GetResources() {
		r.resources[i] = sentResource{name: res.GetName(), version: res.GetVersion()}
	}
	t.response(streamKey{delta: true, id: id}, typeURL, r)
}

// wireName reads field 1 (name) of a marshalled Listener, Cluster, RouteConfiguration or ScopedRouteConfiguration
// without decoding the rest ("" if absent).
func wireName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

// OnFetchRequest implements rest.Callbacks. Server does not serve REST fetches (ADS only); a fetch would be
// answered only while the snapshot is in the cache, i.e. while some stream is open.
func (t *NodeTracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return nil
}

// OnFetchResponse implements rest.Callbacks.
func (t *NodeTracker) OnFetchResponse(_ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.metrics.pushes.WithLabelValues(resp.GetTypeUrl()).Inc()
}
