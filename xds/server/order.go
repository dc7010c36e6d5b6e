package server

import (
	"cmp"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// streamOrder keeps one stream's answers in make-before-break order. The watches of an ADS stream share its out
// channel, and the xDS protocol asks the management server to send a stream's updates in dependency order (xDS
// protocol, "Eventual consistency considerations": CDS updates first, EDS after the CDS updates of their clusters,
// LDS after the corresponding CDS/EDS updates, RDS after the CDS/EDS/LDS updates they relate to; otherwise a route
// naming a cluster that only the next CDS response adds reaches Envoy first and its requests get 503 until it
// arrives). fanoutCache.set answers open watches in that order, but a watch exists only from a request to its answer:
// between the answer of a type and the stream's next request of it (the ACK or NACK) the type has no watch, and a
// generation set then would reach the stream's later types at once and the earlier type only when it asks again.
// So, per stream, a type that has no watch (behind) and whose last answer is older than the served generation makes
// the new answers of the later types wait (held, their watches stay open); the stream's next watch of that type,
// answered or registered with nothing owed, releases them, in type order, from the generation served then.
// Nothing waits longer than the client's next request of the earlier type, and a held watch goes with its cancel
// (stream closed). A stream with one type (non-ADS) never holds anything.
//
// Only listeners, routes, scoped routes and virtual hosts wait (the types that name resources of earlier types).
// Endpoints never wait for clusters: Envoy keeps the CDS ACK back while a cluster warms (Envoy
// source/common/upstream/cluster_manager_impl.cc ClusterManagerImpl::updateClusterCounts, main 1.37.0-dev,
// 321a098d81), and an EDS cluster warms only when its endpoints arrive, so EDS waiting for that ACK would deadlock
// until the initial fetch timeout. Routes waiting for the CDS ACK is what that comment intends ("a signal to ADS to
// proceed with RDS updates").
//
// W is the stream's watch type (*sotwWatch or *deltaWatch). Guarded by fanoutCache.mu.
type streamOrder[W comparable] struct {
	// handles counts the watches created on the stream whose cancel has not run (answered ones too: the server
	// cancels a type's last watch before its next request's and at stream close), so the entry goes when the
	// stream closes.
	handles int
	// behind holds the types without an open watch: the seq of the resources of the type the stream has every
	// change of (its last answer's, the watch's have at cancel), unknownSeq if not known.
	behind map[string]uint64
	// held are the open watches owed an answer that waits, with their type URL.
	held map[W]string
}

// unknownSeq is no typeResources' seq (seqs count up from 1).
const unknownSeq = ^uint64(0)

func newStreamOrder[W comparable]() *streamOrder[W] {
	return &streamOrder[W]{behind: make(map[string]uint64), held: make(map[W]string)}
}

// waits reports whether a new answer of typeURL from g must wait: a type it follows is held, or has no watch and
// may be owed something from g.
func (s *streamOrder[W]) waits(typeURL string, g *generation) bool {
	t := cachev3.GetResponseType(typeURL)
	if t < types.Listener || t > types.VirtualHost {
		return false
	}
	for earlier, seq := range s.behind {
		if cachev3.GetResponseType(earlier) < t && !g.types[earlier].upToDate(seq) {
			return true
		}
	}
	for _, earlier := range s.held {
		if cachev3.GetResponseType(earlier) < t {
			return true
		}
	}
	return false
}

// advance moves the types behind whose resources g did not change to g's seq, so that an unchanged earlier type
// does not hold later ones back at the next set either.
func (s *streamOrder[W]) advance(g *generation) {
	for typeURL, seq := range s.behind {
		if tr := g.types[typeURL]; tr.seqOf() != seq && tr.upToDate(seq) {
			s.behind[typeURL] = tr.seq
		}
	}
}

// watched records a new watch of typeURL: the type is no longer behind.
func (s *streamOrder[W]) watched(typeURL string) {
	delete(s.behind, typeURL)
}

// answered records that w's answer from the resources numbered seq went into the stream's channel.
func (s *streamOrder[W]) answered(w W, typeURL string, seq uint64) {
	delete(s.held, w)
	s.behind[typeURL] = seq
}

// closed records that the open watch w was cancelled; have is the seq its stream had everything of.
func (s *streamOrder[W]) closed(w W, typeURL string, have uint64) {
	if _, ok := s.held[w]; ok {
		delete(s.held, w)
		have = unknownSeq // it was owed an answer
	}
	s.behind[typeURL] = have
}

// heldInOrder is the held watches in xDS type order.
func (s *streamOrder[W]) heldInOrder() []W {
	return slices.SortedFunc(maps.Keys(s.held), func(a, b W) int {
		return cmp.Compare(cachev3.GetResponseType(s.held[a]), cachev3.GetResponseType(s.held[b]))
	})
}

// upToDate reports whether a stream whose last answer of the type came from the resources numbered seq has every
// change of t: t is those resources, or t was built from them without a change (advance keeps seq one step behind
// at most).
func (t *typeResources) upToDate(seq uint64) bool {
	if t == nil {
		return seq == 0
	}
	return seq == t.seq || (seq != 0 && seq == t.baseSeq && len(t.changed) == 0 && len(t.removed) == 0)
}
