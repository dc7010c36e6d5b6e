package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// fanoutCache is the cache the xDS server answers from (it implements go-control-plane's cache.Cache). It replaces
// go-control-plane v0.14's snapshot cache, whose SotW answers marshal every resource once per client
// (createResponse builds new cachedResources per watch) and always carry every requested resource, so a one-route
// edit in one of many RouteConfigurations re-sent all of them to every client (P6).
//
// Every resource of a generation is marshalled once, when it is published (Publisher.build), into an Any and a
// delta Resource that every response of every client shares; a resource whose object is unchanged from the previous
// generation keeps its bytes without being marshalled again. Each resource has its own content version, and the
// version map a response returns (which go-control-plane's server keeps per stream as the subscription's
// ReturnedResources) records those versions, so an answer carries only what the stream has not been sent:
//
//   - SotW, wildcard subscriptions (LDS, CDS, SRDS): the whole set of the type, and only when some resource of the
//     type changed (added, removed or new content). Envoy treats such a response as the complete state.
//   - SotW, named subscriptions (RDS): only the changed RouteConfigurations. Envoy applies a SotW response of a
//     non-wildcard type to the watches of the resources it contains and leaves the others untouched (Envoy
//     source/extensions/config_subscription/grpc/grpc_mux_impl.cc GrpcMuxImpl::onDiscoveryResponse: "onConfigUpdate
//     should be called only on watches(clusters/listeners) that have updates in the message for EDS/RDS", main
//     1.37.0-dev, 321a098d81).
//   - Delta: the changed resources and the names of removed ones.
//
// The first request of a type on a stream (no response nonce yet) is always answered, even with nothing, so that
// Envoy's initialisation of wildcard types completes. Requests naming resources that do not exist get the ones that
// do (never held back entirely, unlike go-control-plane's ADS mode, envoy-notes XDS-8).
//
// Answers go to each ADS stream in xDS type order, also when a type's watch is missing at a publish because its last
// answer has not been ACKed yet (streamOrder: make-before-break).
//
// State kept per client is the open watch (one per stream and type) and its stream's streamOrder; a watch is
// dropped when the server cancels it (stream closed or new request), the streamOrder with the stream's last watch, so
// nothing outlives a connection (XDS-7, XDS-9).
type fanoutCache struct {
	log *slog.Logger

	// encoded is the last generation set, never cleared: wireCodec finds the shared encodings of the resources a
	// response carries in it without taking mu (a resource unchanged across generations keeps its objects).
	encoded atomic.Pointer[generation]
	// seq numbers typeResources (typeResources.seq).
	seq atomic.Uint64

	mu      sync.Mutex
	current *generation // nil while cleared
	// complete holds, for the SotW answers of named subscriptions sent since the last set that covered every
	// resource of their type, the identity of the returned-resources map the answer gave the stream (go-control-plane
	// keeps that very map as the subscription's ReturnedResources) and the seq of those resources. A request that
	// finds its stream's map here at the current seq needs nothing (see CreateWatch). Reset at every set and clear,
	// so it holds at most one map per stream, and its keys keep those maps from being reused as another's identity.
	complete map[unsafe.Pointer]uint64
	sotw     map[*sotwWatch]struct{}
	delta    map[*deltaWatch]struct{}
	// sotwStreams and deltaStreams order the answers of each stream, found by the channel its watches share
	// (streamOrder); an entry lives while the stream has a watch whose cancel has not run.
	sotwStreams  map[chan cachev3.Response]*streamOrder[*sotwWatch]
	deltaStreams map[chan cachev3.DeltaResponse]*streamOrder[*deltaWatch]
}

var _ cachev3.Cache = (*fanoutCache)(nil)

// generation is one published configuration, immutable once built.
type generation struct {
	version  string
	types    map[string]*typeResources
	snapshot *cachev3.Snapshot // the same resources as a go-control-plane snapshot, for Consistent() and tests
	// byAny and byDelta find a published resource from the objects responses carry (wireCodec).
	byAny   map[*anypb.Any]*publishedResource
	byDelta map[*discoveryv3.Resource]*publishedResource
}

// typeResources are a generation's resources of one type.
type typeResources struct {
	byName   map[string]*publishedResource
	names    []string          // sorted
	versions map[string]string // name -> version, what a stream that has the whole type returned
	anys     []*anypb.Any      // in names order, the whole type as one SotW response carries it

	// seq identifies these resources within the cache; baseSeq is the seq of the previous generation's resources of
	// the type (0 if none), and changed and removed the names added or changed and the names removed since then. A
	// watch that had everything of baseSeq needs nothing from these unless it subscribes to one of those names
	// (unchangedFor), so a publish costs each untouched watch a few lookups instead of a pass over its subscription.
	seq, baseSeq            uint64
	changed, added, removed []string // added is a subset of changed
}

// seqOf is t's seq, 0 for no resources of the type.
func (t *typeResources) seqOf() uint64 {
	if t == nil {
		return 0
	}
	return t.seq
}

// unchangedFor reports whether a watch with subscription sub that had everything of the resources numbered have
// (its answer was nothing new) has everything of t as well.
func (t *typeResources) unchangedFor(have uint64, sub cachev3.Subscription) bool {
	if t == nil || have == 0 || have != t.baseSeq {
		return false
	}
	if sub.IsWildcard() {
		return len(t.changed) == 0 && len(t.removed) == 0
	}
	subscribed := sub.SubscribedResources()
	for _, names := range [2][]string{t.changed, t.removed} {
		for _, n := range names {
			if _, ok := subscribed[n]; ok {
				return false
			}
		}
	}
	return true
}

// publishedResource is one resource, marshalled once and shared by every response.
type publishedResource struct {
	name    string
	version string     // content hash of wire
	source  any        // the published object, to recognise it unchanged in the next generation
	any     *anypb.Any // its Value is the wire form, marshalled once
	delta   *discoveryv3.Resource
	wire    *resourceWire // the encoding around any's Value in a response (wireCodec)
}

func newFanoutCache(logger *slog.Logger) *fanoutCache {
	return &fanoutCache{
		log:      logger,
		sotw:     make(map[*sotwWatch]struct{}),
		delta:    make(map[*deltaWatch]struct{}),
		complete: make(map[unsafe.Pointer]uint64),

		sotwStreams:  make(map[chan cachev3.Response]*streamOrder[*sotwWatch]),
		deltaStreams: make(map[chan cachev3.DeltaResponse]*streamOrder[*deltaWatch]),
	}
}

// errNoSnapshot is returned by GetSnapshot and Fetch while no generation is set.
var errNoSnapshot = errors.New("xds/server: no snapshot")

// GetSnapshot returns the generation served as a go-control-plane snapshot. The key is ignored: every node shares
// GroupKey.
func (c *fanoutCache) GetSnapshot(string) (*cachev3.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == nil {
		return nil, errNoSnapshot
	}
	return c.current.snapshot, nil
}

// Watches returns the number of open SotW and delta watches (per-client state the cache holds).
func (c *fanoutCache) Watches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sotw) + len(c.delta)
}

// set makes g the served generation and answers every open watch it has something new for.
func (c *fanoutCache) set(g *generation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = g
	c.encoded.Store(g)
	clear(c.complete)
	for _, s := range c.sotwStreams {
		s.advance(g)
	}
	for _, s := range c.deltaStreams {
		s.advance(g)
	}
	// Answered in xDS type order (clusters, endpoints, listeners, routes, scoped routes, ...): the responses of an
	// ADS stream share one channel, so this is the order a stream sends them in (make-before-break, XDS-5). A type
	// whose watch is missing (answered, not yet requested again) is answered later, when the stream asks again:
	// streamOrder holds back the later types' answers of the stream until then.
	sotw := slices.SortedFunc(maps.Keys(c.sotw), func(a, b *sotwWatch) int {
		return cmp.Compare(cachev3.GetResponseType(a.req.GetTypeUrl()), cachev3.GetResponseType(b.req.GetTypeUrl()))
	})
	for _, w := range sotw {
		c.answerSotw(g, w)
	}
	delta := slices.SortedFunc(maps.Keys(c.delta), func(a, b *deltaWatch) int {
		return cmp.Compare(cachev3.GetResponseType(a.req.GetTypeUrl()), cachev3.GetResponseType(b.req.GetTypeUrl()))
	})
	for _, w := range delta {
		c.answerDelta(g, w)
	}
}

// answerSotw answers the open watch w from g if g has something new for it and its stream's order lets the answer
// go now; if the order does not, w stays open and is held (streamOrder.waits) until its stream releases it.
func (c *fanoutCache) answerSotw(g *generation, w *sotwWatch) {
	typeURL := w.req.GetTypeUrl()
	tr := g.types[typeURL]
	var resp cachev3.Response
	var all bool
	switch {
	case tr.unchangedFor(w.have, w.sub):
		w.have, w.all = tr.seq, w.all && len(tr.added) == 0 // an added name is not subscribed
		delete(w.stream.held, w)
		return
	case w.have != 0 && w.have == tr.baseSeq && !w.sub.IsWildcard():
		resp, all = sotwAnswerSince(g, tr, w)
	default:
		resp, all = sotwAnswer(g, w.req, w.sub)
	}
	switch {
	case resp == nil:
		w.have, w.all = tr.seqOf(), all
		delete(w.stream.held, w)
	case w.stream.waits(typeURL, g):
		w.stream.held[w] = typeURL
	default:
		c.markComplete(resp, tr, all)
		c.deliverSotw(w, resp, tr.seqOf())
	}
}

// answerDelta is answerSotw for a delta watch.
func (c *fanoutCache) answerDelta(g *generation, w *deltaWatch) {
	typeURL := w.req.GetTypeUrl()
	tr := g.types[typeURL]
	var resp cachev3.DeltaResponse
	switch {
	case tr.unchangedFor(w.have, w.sub):
		w.have = tr.seq
		delete(w.stream.held, w)
		return
	case tr != nil && w.have != 0 && w.have == tr.baseSeq:
		resp = deltaAnswerSince(g, tr, w)
	default:
		resp = deltaAnswer(g, w.req, w.sub)
	}
	switch {
	case resp == nil:
		w.have = tr.seqOf()
		delete(w.stream.held, w)
	case w.stream.waits(typeURL, g):
		w.stream.held[w] = typeURL
	default:
		c.deliverDelta(w, resp, tr.seqOf())
	}
}

// clear stops serving a generation; open watches stay and are answered by the next set.
func (c *fanoutCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = nil
	clear(c.complete)
}

// markComplete records resp in complete if it is an answer to a named subscription that covers every resource of
// tr (all).
func (c *fanoutCache) markComplete(resp cachev3.Response, tr *typeResources, all bool) {
	if r, ok := resp.(*sotwResponse); ok && all && tr != nil {
		c.complete[reflect.ValueOf(r.returned).UnsafePointer()] = tr.seq
	}
}

// completeFor reports whether a named subscription's stream has every resource of tr: its last answer covered
// every resource of tr (markComplete), and go-control-plane has kept that answer's map as what the stream was
// returned. Whatever names the stream subscribes to now, it then has all of them that exist (a request only
// removes unsubscribed names from the map). The second result says whether it still subscribes to all of tr (no
// name was removed from the map).
func (c *fanoutCache) completeFor(tr *typeResources, sub cachev3.Subscription) (complete, all bool) {
	if tr == nil || sub.IsWildcard() {
		return false, false
	}
	returned := sub.ReturnedResources()
	if seq, ok := c.complete[reflect.ValueOf(returned).UnsafePointer()]; !ok || seq != tr.seq {
		return false, false
	}
	return true, len(returned) == len(tr.names)
}

// A watch's have is the seq of the resources of its type that its stream has everything of (the answer from them
// was nothing new), 0 if unknown; see typeResources.unchangedFor.
// For a SotW watch of a named subscription, all says that the subscription covered every resource of have.
// A watch is open from its creation until it is answered or cancelled; cancelled says its cancel func has run.
type sotwWatch struct {
	req    *cachev3.Request
	sub    cachev3.Subscription
	out    chan cachev3.Response
	stream *streamOrder[*sotwWatch]
	have   uint64
	all    bool

	open, cancelled bool
}

type deltaWatch struct {
	req    *cachev3.DeltaRequest
	sub    cachev3.Subscription
	out    chan cachev3.DeltaResponse
	stream *streamOrder[*deltaWatch]
	have   uint64

	open, cancelled bool
}

// deliverSotw sends resp, an answer from the resources of its type numbered seq, and retires the watch (watches
// answer once). The server gives each stream a channel with room for one response per type and holds at most one
// watch per type, so the send never waits; if it would, the response is dropped and logged rather than blocking
// every other client behind the cache lock.
func (c *fanoutCache) deliverSotw(w *sotwWatch, resp cachev3.Response, seq uint64) {
	delete(c.sotw, w)
	w.open = false
	w.stream.answered(w, w.req.GetTypeUrl(), seq)
	select {
	case w.out <- resp:
	default:
		c.log.Error("xds response dropped, stream channel full", "type", w.req.GetTypeUrl(), "node", w.req.GetNode().GetId(), "error", errors.New("channel full"))
	}
}

func (c *fanoutCache) deliverDelta(w *deltaWatch, resp cachev3.DeltaResponse, seq uint64) {
	delete(c.delta, w)
	w.open = false
	w.stream.answered(w, w.req.GetTypeUrl(), seq)
	select {
	case w.out <- resp:
	default:
		c.log.Error("xds delta response dropped, stream channel full", "type", w.req.GetTypeUrl(), "node", w.req.GetNode().GetId(), "error", errors.New("channel full"))
	}
}

// CreateWatch implements cache.ConfigWatcher for SotW streams.
func (c *fanoutCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sotwStreams[out]
	if s == nil {
		s = newStreamOrder[*sotwWatch]()
		c.sotwStreams[out] = s
	}
	typeURL := req.GetTypeUrl()
	s.watched(typeURL)
	w := &sotwWatch{req: req, sub: sub, out: out, stream: s, open: true}
	if c.current != nil {
		tr := c.current.types[typeURL]
		var resp cachev3.Response
		complete, all := c.completeFor(tr, sub)
		if !complete { // otherwise nothing is owed: the ACK of a complete answer, the common case
			resp, all = sotwAnswer(c.current, req, sub)
		}
		switch {
		case resp == nil:
			w.have, w.all = tr.seqOf(), all
		case s.waits(typeURL, c.current):
			s.held[w] = typeURL
		default:
			select {
			case out <- resp:
				c.markComplete(resp, tr, all)
				w.open = false
				s.answered(w, typeURL, tr.seqOf())
			default:
				if s.handles == 0 {
					delete(c.sotwStreams, out)
				}
				return nil, fmt.Errorf("xds/server: response channel full for %s", typeURL)
			}
		}
	}
	if w.open {
		c.sotw[w] = struct{}{}
	}
	s.handles++
	// This type is answered or open again: the answers of later types that waited for it go now.
	if len(s.held) > 0 && c.current != nil {
		for _, h := range s.heldInOrder() {
			c.answerSotw(c.current, h)
		}
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.cancelled {
			return
		}
		w.cancelled = true
		if w.open {
			delete(c.sotw, w)
			w.open = false
			s.closed(w, typeURL, w.have)
		}
		if s.handles--; s.handles == 0 {
			delete(c.sotwStreams, out)
		}
	}, nil
}

// CreateDeltaWatch implements cache.ConfigWatcher for delta streams.
func (c *fanoutCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.deltaStreams[out]
	if s == nil {
		s = newStreamOrder[*deltaWatch]()
		c.deltaStreams[out] = s
	}
	typeURL := req.GetTypeUrl()
	s.watched(typeURL)
	w := &deltaWatch{req: req, sub: sub, out: out, stream: s, open: true}
	if c.current != nil {
		tr := c.current.types[typeURL]
		switch resp := deltaAnswer(c.current, req, sub); {
		case resp == nil:
			w.have = tr.seqOf()
		case s.waits(typeURL, c.current):
			s.held[w] = typeURL
		default:
			select {
			case out <- resp:
				w.open = false
				s.answered(w, typeURL, tr.seqOf())
			default:
				if s.handles == 0 {
					delete(c.deltaStreams, out)
				}
				return nil, fmt.Errorf("xds/server: delta response channel full for %s", typeURL)
			}
		}
	}
	if w.open {
		c.delta[w] = struct{}{}
	}
	s.handles++
	if len(s.held) > 0 && c.current != nil {
		for _, h := range s.heldInOrder() {
			c.answerDelta(c.current, h)
		}
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.cancelled {
			return
		}
		w.cancelled = true
		if w.open {
			delete(c.delta, w)
			w.open = false
			s.closed(w, typeURL, w.have)
		}
		if s.handles--; s.handles == 0 {
			delete(c.deltaStreams, out)
		}
	}, nil
}

// Fetch implements cache.ConfigFetcher (REST): the requested resources of the current generation.
func (c *fanoutCache) Fetch(ctx context.Context, req *cachev3.Request) (cachev3.Response, error) {
	c.mu.Lock()
	g := c.current
	c.mu.Unlock()
	if g == nil {
		return nil, errNoSnapshot
	}
	if req.GetVersionInfo() == g.version {
		return nil, errors.New("xds/server: skip fetch, version up to date")
	}
	tr := g.types[req.GetTypeUrl()]
	names := req.GetResourceNames()
	if len(names) == 0 && tr != nil {
		names = tr.names
	}
	resp := &sotwResponse{ctx: ctx, req: req, version: g.version, returned: make(map[string]string)}
	for _, n := range names {
		if r := tr.get(n); r != nil {
			resp.anys = append(resp.anys, r.any)
			resp.returned[n] = r.version
		}
	}
	return resp, nil
}

func (t *typeResources) get(name string) *publishedResource {
	if t == nil {
		return nil
	}
	return t.byName[name]
}

// sotwAnswer is what a SotW stream with subscription sub is owed from g, or nil if it has everything. For a named
// subscription it also reports whether the subscription covers every resource of the type in g.
func sotwAnswer(g *generation, req *cachev3.Request, sub cachev3.Subscription) (cachev3.Response, bool) {
	// Runs for every open watch of every client at every publish: the common "nothing new" and "one resource new"
	// cases only look up names; maps are copied (maps.Clone) only when something is sent.
	tr := g.types[req.GetTypeUrl()]
	returned := sub.ReturnedResources()
	if sub.IsWildcard() {
		// Complete state: all or nothing.
		if req.GetResponseNonce() != "" && tr.sameAs(returned) {
			return nil, false
		}
		if tr == nil {
			return &sotwResponse{ctx: context.Background(), req: req, version: g.version, returned: map[string]string{}}, false
		}
		return &sotwResponse{ctx: context.Background(), req: req, version: g.version, anys: tr.anys, returned: maps.Clone(tr.versions)}, false
	}
	subscribed := sub.SubscribedResources()
	var send []*publishedResource
	found := 0
	for n := range subscribed {
		r := tr.get(n)
		if r == nil {
			continue
		}
		found++
		if returned[n] != r.version {
			send = append(send, r)
		}
	}
	all := tr != nil && found == len(tr.names)
	if len(send) == 0 {
		return nil, all // a new stream has been sent nothing, so it never gets here with resources to send
	}
	if len(send) > 1 {
		slices.SortFunc(send, func(a, b *publishedResource) int { return cmp.Compare(a.name, b.name) })
	}
	return newSotwResponse(g, tr, req, sub, send, all), all
}

// sotwAnswerSince is sotwAnswer for a named subscription whose stream had everything of the type's previous
// resources (w.have == tr.baseSeq): only the names changed since then can be owed, so it looks at those instead of
// every subscribed name. The answer is the same as sotwAnswer's (TestPublishAnswersLikeTheFullPass).
func sotwAnswerSince(g *generation, tr *typeResources, w *sotwWatch) (cachev3.Response, bool) {
	subscribed := w.sub.SubscribedResources()
	returned := w.sub.ReturnedResources()
	var send []*publishedResource
	for _, n := range tr.changed { // sorted, as the names of a response are
		if _, ok := subscribed[n]; !ok {
			continue
		}
		if r := tr.byName[n]; returned[n] != r.version {
			send = append(send, r)
		}
	}
	// Every name it covered before is subscribed; so is every added name if it covers all of tr.
	all := w.all
	for _, n := range tr.added {
		if _, ok := subscribed[n]; !ok {
			all = false
		}
	}
	if len(send) == 0 {
		return nil, all
	}
	return newSotwResponse(g, tr, w.req, w.sub, send, all), all
}

// newSotwResponse answers req with send; all says the subscription covers every resource of tr.
func newSotwResponse(g *generation, tr *typeResources, req *cachev3.Request, sub cachev3.Subscription, send []*publishedResource, all bool) *sotwResponse {
	subscribed := sub.SubscribedResources()
	var next map[string]string
	if all {
		next = maps.Clone(tr.versions) // subscribed to every resource of the type, as Envoy is with scoped routes
	} else {
		next = make(map[string]string, len(subscribed))
		for n := range subscribed {
			if r := tr.get(n); r != nil {
				next[n] = r.version
			}
		}
	}
	anys := make([]*anypb.Any, len(send))
	for i, r := range send {
		anys[i] = r.any
	}
	return &sotwResponse{ctx: context.Background(), req: req, version: g.version, anys: anys, returned: next}
}

// sameAs reports whether versions (a stream's returned resources) is exactly this type's resources.
func (t *typeResources) sameAs(versions map[string]string) bool {
	if t == nil {
		return len(versions) == 0
	}
	if len(versions) != len(t.versions) {
		return false
	}
	for n, v := range versions {
		if t.versions[n] != v {
			return false
		}
	}
	return true
}

// deltaAnswer is what a delta stream with subscription sub is owed from g, or nil if it has everything.
func deltaAnswer(g *generation, req *cachev3.DeltaRequest, sub cachev3.Subscription) cachev3.DeltaResponse {
	tr := g.types[req.GetTypeUrl()]
	returned := sub.ReturnedResources()
	subscribed := sub.SubscribedResources()
	wildcard := sub.IsWildcard() && tr != nil
	var send []*publishedResource
	if wildcard {
		for _, n := range tr.names {
			if r := tr.byName[n]; returned[n] != r.version {
				send = append(send, r)
			}
		}
	} else {
		for n := range subscribed {
			if r := tr.get(n); r != nil && returned[n] != r.version {
				send = append(send, r)
			}
		}
		if len(send) > 1 {
			slices.SortFunc(send, func(a, b *publishedResource) int { return cmp.Compare(a.name, b.name) })
		}
	}
	var removed []string
	for n := range returned {
		_, isSubscribed := subscribed[n]
		if tr.get(n) == nil && (sub.IsWildcard() || isSubscribed) {
			removed = append(removed, n)
		}
	}
	if len(send) == 0 && len(removed) == 0 && req.GetResponseNonce() != "" {
		return nil
	}
	slices.Sort(removed)
	return newDeltaResponse(g, req, returned, send, removed)
}

// deltaAnswerSince is deltaAnswer for a watch whose stream had everything of the type's previous resources
// (w.have == tr.baseSeq): only the names changed or removed since then can be owed (TestPublishAnswersLikeTheFullPass).
func deltaAnswerSince(g *generation, tr *typeResources, w *deltaWatch) cachev3.DeltaResponse {
	returned := w.sub.ReturnedResources()
	subscribed := w.sub.SubscribedResources()
	relevant := func(n string) bool {
		_, ok := subscribed[n]
		return ok || w.sub.IsWildcard()
	}
	var send []*publishedResource
	for _, n := range tr.changed { // sorted
		if r := tr.byName[n]; relevant(n) && returned[n] != r.version {
			send = append(send, r)
		}
	}
	var removed []string
	for _, n := range tr.removed { // sorted
		if _, ok := returned[n]; ok && relevant(n) {
			removed = append(removed, n)
		}
	}
	if len(send) == 0 && len(removed) == 0 && w.req.GetResponseNonce() != "" {
		return nil
	}
	return newDeltaResponse(g, w.req, returned, send, removed)
}

// newDeltaResponse answers req with send and removed; the stream had returned.
func newDeltaResponse(g *generation, req *cachev3.DeltaRequest, returned map[string]string, send []*publishedResource, removed []string) *deltaResponse {
	next := maps.Clone(returned)
	if next == nil {
		next = make(map[string]string, len(send))
	}
	resources := make([]*discoveryv3.Resource, len(send))
	for i, r := range send {
		next[r.name] = r.version
		resources[i] = r.delta
	}
	for _, n := range removed {
		delete(next, n)
	}
	return &deltaResponse{req: req, version: g.version, resources: resources, removed: removed, next: next}
}

// sotwResponse implements cache.Response over shared, already-marshalled Anys. Each client gets its own
// DiscoveryResponse (the server writes the nonce into it); the Anys inside are shared and never modified.
type sotwResponse struct {
	ctx      context.Context
	req      *cachev3.Request
	version  string
	anys     []*anypb.Any
	returned map[string]string

	once sync.Once
	out  *discoveryv3.DiscoveryResponse
}

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	r.once.Do(func() {
		r.out = &discoveryv3.DiscoveryResponse{VersionInfo: r.version, Resources: r.anys, TypeUrl: r.req.GetTypeUrl()}
	})
	return r.out, nil
}
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.version, nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.version }
func (r *sotwResponse) GetReturnedResources() map[string]string   { return r.returned }
func (r *sotwResponse) GetContext() context.Context               { return r.ctx }

// deltaResponse implements cache.DeltaResponse over shared, already-marshalled Resources.
type deltaResponse struct {
	req       *cachev3.DeltaRequest
	version   string
	resources []*discoveryv3.Resource
	removed   []string
	next      map[string]string

	once sync.Once
	out  *discoveryv3.DeltaDiscoveryResponse
}

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	r.once.Do(func() {
		r.out = &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: r.version, Resources: r.resources, RemovedResources: r.removed, TypeUrl: r.req.GetTypeUrl()}
	})
	return r.out, nil
}
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                   { return r.version, nil }
func (r *deltaResponse) GetResponseVersion() string                          { return r.version }
func (r *deltaResponse) GetNextVersionMap() map[string]string                { return r.next }
func (r *deltaResponse) GetReturnedResources() map[string]string             { return r.next }
func (r *deltaResponse) GetContext() context.Context                         { return context.Background() }
