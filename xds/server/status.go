package server

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// NodeStatus is what the control plane knows about one Envoy node (keyed by node id).
type NodeStatus struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster,omitempty"`
	// Connected is true while the node has at least one open xDS stream.
	Connected bool `json:"connected"`
	Streams   int  `json:"streams"`
	// ConnectedSince is when the node's current (or last) connection period began.
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// DisconnectedAt is when the node's last stream closed; zero while connected.
	DisconnectedAt time.Time `json:"disconnected_at,omitzero"`
	// Types holds per-resource-type state, sorted by type URL.
	Types []TypeStatus `json:"types,omitempty"`
}

// TypeStatus is the xDS state of one resource type on one node.
type TypeStatus struct {
	TypeURL string `json:"type_url"`
	// SentVersion is the version of the last response sent.
	SentVersion string    `json:"sent_version,omitempty"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// AckedVersion is the last version the node reported as applied.
	AckedVersion string    `json:"acked_version,omitempty"`
	AckedAt      time.Time `json:"acked_at,omitzero"`
	// NackCount counts every NACK of this type from this node; LastNack is the most recent.
	NackCount uint64      `json:"nack_count"`
	LastNack  *NackStatus `json:"last_nack,omitempty"`
	// Resources are the resources of the type the node was sent, by name: the version it last ACKed and the
	// version it last NACKed, if any (SotW: the response version; delta: the resource's own version).
	// With the route configuration split a response carries only changed resources, so this is where a node's
	// RouteConfiguration versions show.
	Resources []ResourceStatus `json:"resources,omitempty"`
}

// ResourceStatus is one resource's state on one node.
type ResourceStatus struct {
	Name          string `json:"name"`
	AckedVersion  string `json:"acked_version,omitempty"`
	NackedVersion string `json:"nacked_version,omitempty"`
}

// NackStatus describes a rejected response (XDS-6).
type NackStatus struct {
	// RejectedVersion is the version of the response the NACK refers to (found through its nonce); "" when the
	// nonce is unknown, e.g. it belongs to an older response no longer remembered.
	RejectedVersion string `json:"rejected_version"`
	// Message is error_detail.message as sent by the client.
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Status returns the known nodes sorted by id, connected or recently disconnected.
func (t *NodeTracker) Status() []NodeStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(t.now())
	out := make([]NodeStatus, 0, len(t.nodes))
	for _, n := range t.nodes {
		ns := NodeStatus{
			ID:             n.id,
			Cluster:        n.cluster,
			Connected:      n.streams > 0,
			Streams:        n.streams,
			ConnectedSince: n.connectedSince,
			DisconnectedAt: n.disconnectedAt,
			Types:          make([]TypeStatus, 0, len(n.types)),
		}
		for typeURL, ts := range n.types {
			s := TypeStatus{
				TypeURL:      typeURL,
				SentVersion:  ts.sentVersion,
				SentAt:       ts.sentAt,
				AckedVersion: ts.ackedVersion,
				AckedAt:      ts.ackedAt,
				NackCount:    ts.nackCount,
			}
			if ts.lastNack != nil {
				nack := *ts.lastNack
				s.LastNack = &nack
			}
			for _, name := range slices.Sorted(maps.Keys(ts.resources)) {
				rs := ts.resources[name]
				s.Resources = append(s.Resources, ResourceStatus{Name: name, AckedVersion: rs.acked, NackedVersion: rs.nacked})
			}
			ns.Types = append(ns.Types, s)
		}
		slices.SortFunc(ns.Types, func(a, b TypeStatus) int { return cmp.Compare(a.TypeURL, b.TypeURL) })
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b NodeStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Changed returns a channel closed at the next change of tracked state (stream opened or closed, request or
// response seen). Take the channel before reading Status to wait for a condition without polling:
//
//	for ch := t.Changed(); !cond(t.Status()); ch = t.Changed() { <-ch }
func (t *NodeTracker) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

func (t *NodeTracker) notify() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notifyLocked()
}

// notifyLocked wakes the Changed waiters.
func (t *NodeTracker) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// pruneLocked forgets nodes disconnected for longer than the retention, bounding memory with node churn.
func (t *NodeTracker) pruneLocked(now time.Time) {
	for id, n := range t.nodes {
		if n.streams == 0 && now.Sub(n.disconnectedAt) > t.retention {
			delete(t.nodes, id)
		}
	}
}
