package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// GroupKey is the snapshot-cache key every node maps to: one snapshot per configuration generation serves every
// node, so a node connecting at any time gets the current configuration (XDS-2, no per-node copies).
const GroupKey = "proxyplus"

// versionBytes is how many bytes of the SHA-256 content hash make up a version (16 hex characters).
const versionBytes = 8

// ResourceError names a resource that failed validation. Publish returns it wrapped.
type ResourceError struct {
	TypeURL string
	Name    string
	Err     error
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("%s %q: %v", e.TypeURL, e.Name, e.Err)
}

func (e *ResourceError) Unwrap() error { return e.Err }

// PublishFailure is the last rejected Publish, for status.
type PublishFailure struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// SnapshotStatus describes what the Publisher serves.
type SnapshotStatus struct {
	// Version is the content-hash version of the last good snapshot ("" before the first successful Publish).
	Version string `json:"version"`
	// Generation counts distinct versions published by this process.
	Generation  uint64    `json:"generation"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Resources counts the resources of the last good snapshot by type URL.
	Resources map[string]int `json:"resources,omitempty"`
	// LastError is the most recent rejected Publish; a later successful Publish clears it.
	LastError *PublishFailure `json:"last_error,omitempty"`
	// Streams is the number of open xDS streams; Cached says whether the snapshot is in the cache (it is dropped
	// while Streams is 0).
	Streams int  `json:"streams"`
	Cached  bool `json:"cached"`
}

// Publisher owns the fanoutCache and the last good generation. It validates and publishes
// configurations; it does not track nodes (NodeTracker does, XDS-10).
type Publisher struct {
	cache   *fanoutCache
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	mu          sync.Mutex
	snapshot    *generation // last good generation, nil before the first successful Publish
	version     string
	resources   map[resourcev3.Type][]types.Resource
	generation  uint64
	publishedAt time.Time
	lastErr     error
	lastErrAt   time.Time
	streams     int  // open xDS streams, all of which belong to GroupKey
	cached      bool // snapshot is set in cache under GroupKey
}

// NewPublisher creates a Publisher with an empty fanoutCache. logger and metrics may be nil.
func NewPublisher(logger *slog.Logger, metrics *Metrics) *Publisher {
	if logger == nil {
		logger = slog.Default()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Publisher{
		cache:   newFanoutCache(logger),
		log:     logger,
		metrics: metrics,
		now:     time.Now,
	}
}

// Cache is the cache to hand to go-control-plane's server (see fanoutCache).
func (p *Publisher) Cache() *fanoutCache { return p.cache }

// Publish validates resources and, if their content differs from the last good snapshot, makes them the snapshot
// served to every node. It returns the content-hash version of what is served.
//
// Every resource is checked with ValidateAll (PGV), for a non-empty unique name, and the snapshot for consistency
// (XDS-3). On failure nothing is published: the last good snapshot stays served, the error is recorded for status
// (LastError) and counted in proxyplus_translation_errors_total, and the returned error names the resource type,
// name and validation message. Publishing content identical to the current snapshot yields the same version and
// pushes nothing (XDS-4).
//
// The resources must not be modified after Publish: the cache serves them concurrently, and a resource that is
// the same object in the next Publish is taken as unchanged (neither validated nor marshalled again).
func (p *Publisher) Publish(ctx context.Context, resources map[resourcev3.Type][]types.Resource) (string, error) {
	return p.PublishDigested(ctx, resources, nil)
}

// Digests supplies content digests for resources whose bytes the publisher need not hash: xds/builder's
// Resources, which computes a route configuration's digest from its per-route parts as it assembles it.
type Digests interface {
	Digest(types.Resource) ([sha256.Size]byte, bool)
}

// PublishDigested is Publish, taking a resource's version from digests where it has one (nil: none) instead of
// the SHA-256 of its encoding. The digest must change whenever the resource's bytes do and stay the same when
// they do not; hashing a 10,000-route configuration was 34% of a one-route edit (P7).
func (p *Publisher) PublishDigested(ctx context.Context, resources map[resourcev3.Type][]types.Resource, digests Digests) (string, error) {
	p.mu.Lock()
	prev := p.snapshot
	p.mu.Unlock()
	version, snap, err := p.build(ctx, resources, prev, digests)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		return p.failLocked(err)
	}
	if p.snapshot != nil && version == p.version {
		p.lastErr, p.lastErrAt = nil, time.Time{}
		return version, nil
	}
	// Responses are queued on buffered per-stream channels while the cache lock is held; the caller's
	// cancellation does not stop that half-way (validation above honours it).
	p.cache.set(snap)
	p.snapshot, p.version = snap, version
	p.resources = copyResources(resources)
	p.generation++
	p.publishedAt = p.now()
	p.cached = true
	p.lastErr, p.lastErrAt = nil, time.Time{}
	p.metrics.setSnapshot(version, p.generation)
	p.log.Info("xds snapshot published", "version", version, "generation", p.generation, "streams", p.streams)
	return version, nil
}

func (p *Publisher) failLocked(err error) (string, error) {
	if p.version != "" {
		err = fmt.Errorf("xds/server: configuration rejected, still serving version %s: %w", p.version, err)
	} else {
		err = fmt.Errorf("xds/server: configuration rejected, nothing published yet: %w", err)
	}
	p.lastErr, p.lastErrAt = err, p.now()
	p.metrics.translationErrors.Inc()
	p.log.Error("xds snapshot rejected", "serving_version", p.version, "error", err)
	return p.version, err
}

// build validates the resources, computes the content version and builds a consistent generation. Every resource
// is marshalled once here (deterministically) and those bytes are what every client is sent (fanoutCache). A
// resource that is the very object published in prev (the translator reuses the objects of unchanged parts) was
// validated and marshalled then, and keeps its bytes and version: a one-route edit costs the changed resources only.
func (p *Publisher) build(ctx context.Context, resources map[resourcev3.Type][]types.Resource, prev *generation, digests Digests) (string, *generation, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	typeURLs := slices.Sorted(maps.Keys(resources))
	h := sha256.New()
	var lenBuf [binary.MaxVarintLen64]byte
	marshal := proto.MarshalOptions{Deterministic: true}
	g := &generation{types: make(map[string]*typeResources, len(typeURLs))}
	resourceCount := 0
	for _, typeURL := range typeURLs {
		if cachev3.GetResponseType(typeURL) == types.UnknownType {
			return "", nil, fmt.Errorf("unknown resource type %q", typeURL)
		}
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		list := resources[typeURL]
		tr := &typeResources{byName: make(map[string]*publishedResource, len(list))}
		var old *typeResources
		if prev != nil {
			old = prev.types[typeURL]
		}
		for i, res := range list {
			if res == nil {
				return "", nil, &ResourceError{TypeURL: typeURL, Name: fmt.Sprintf("#%d", i), Err: errors.New("nil resource")}
			}
			name := cachev3.GetResourceName(res)
			if name == "" {
				return "", nil, &ResourceError{TypeURL: typeURL, Name: fmt.Sprintf("#%d", i), Err: errors.New("empty resource name")}
			}
			if _, dup := tr.byName[name]; dup {
				return "", nil, &ResourceError{TypeURL: typeURL, Name: name, Err: errors.New("duplicate resource name")}
			}
			if r := old.get(name); r != nil && r.source == any(res) {
				tr.byName[name] = r
				continue
			}
			if v, ok := res.(interface{ ValidateAll() error }); ok {
				if err := v.ValidateAll(); err != nil {
					return "", nil, &ResourceError{TypeURL: typeURL, Name: name, Err: err}
				}
			}
			wire, shared := sharedEncoding(res)
			if !shared {
				var err error
				if wire, err = marshal.Marshal(res); err != nil {
					return "", nil, &ResourceError{TypeURL: typeURL, Name: name, Err: fmt.Errorf("marshal: %w", err)}
				}
			}
			var sum [sha256.Size]byte
			if d, ok := digestOf(digests, res); ok {
				sum = d
			} else {
				sum = sha256.Sum256(wire)
			}
			r := &publishedResource{name: name, version: hex.EncodeToString(sum[:versionBytes]), source: res}
			r.any = &anypb.Any{TypeUrl: typeURL, Value: wire}
			r.delta = &discoveryv3.Resource{Name: name, Version: r.version, Resource: r.any}
			r.wire = newResourceWire(name, r.version, r.any)
			tr.byName[name] = r
		}
		tr.names = slices.Sorted(maps.Keys(tr.byName))
		tr.versions = make(map[string]string, len(tr.names))
		tr.anys = make([]*anypb.Any, len(tr.names))
		tr.seq = p.cache.seq.Add(1)
		if old != nil {
			tr.baseSeq = old.seq
			for _, n := range old.names {
				if tr.byName[n] == nil {
					tr.removed = append(tr.removed, n)
				}
			}
		}
		for i, n := range tr.names {
			if old != nil {
				if v, ok := old.versions[n]; !ok {
					tr.changed, tr.added = append(tr.changed, n), append(tr.added, n)
				} else if v != tr.byName[n].version {
					tr.changed = append(tr.changed, n)
				}
			}
			tr.versions[n] = tr.byName[n].version
			tr.anys[i] = tr.byName[n].any
			writeField(h, lenBuf[:], []byte(typeURL))
			writeField(h, lenBuf[:], []byte(n))
			writeField(h, lenBuf[:], []byte(tr.byName[n].version))
		}
		g.types[typeURL] = tr
		resourceCount += len(tr.names)
	}
	g.byAny = make(map[*anypb.Any]*publishedResource, resourceCount)
	g.byDelta = make(map[*discoveryv3.Resource]*publishedResource, resourceCount)
	for _, tr := range g.types {
		for _, r := range tr.byName {
			g.byAny[r.any], g.byDelta[r.delta] = r, r
		}
	}
	g.version = hex.EncodeToString(h.Sum(nil)[:versionBytes])
	snap, err := cachev3.NewSnapshot(g.version, resources)
	if err != nil {
		return "", nil, err
	}
	if err := snap.Consistent(); err != nil {
		return "", nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	g.snapshot = snap
	return g.version, g, nil
}

func digestOf(digests Digests, res types.Resource) ([sha256.Size]byte, bool) {
	if digests == nil {
		return [sha256.Size]byte{}, false
	}
	return digests.Digest(res)
}

// sharedEncoding returns the complete encoding a "wire form" resource already holds, without copying it: a message
// whose only known field is its name (field 1), whose unknown fields carry everything else, and whose unknown-field
// buffer continues, within its capacity, with exactly the encoded name field — the form xds/builder's
// wireRouteConfiguration publishes RouteConfigurations in. Serving those bytes instead of marshalling the object
// keeps one copy of the largest resource in memory instead of two. Any other message: false.
func sharedEncoding(res types.Resource) ([]byte, bool) {
	m := res.ProtoReflect()
	nameField := m.Descriptor().Fields().ByNumber(1)
	if nameField == nil || nameField.Kind() != protoreflect.StringKind {
		return nil, false
	}
	only := true
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		only = fd.Number() == 1
		return only
	})
	unknown := m.GetUnknown()
	if !only || len(unknown) == 0 {
		return nil, false
	}
	var tail []byte
	if name := m.Get(nameField).String(); name != "" {
		tail = protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
	}
	if cap(unknown)-len(unknown) < len(tail) {
		return nil, false
	}
	full := unknown[:len(unknown)+len(tail)]
	if !bytes.Equal(full[len(unknown):], tail) {
		return nil, false
	}
	return full, true
}

// writeField writes a length-prefixed field so that different splits of the same bytes hash differently.
func writeField(h interface{ Write([]byte) (int, error) }, lenBuf []byte, b []byte) {
	n := binary.PutUvarint(lenBuf, uint64(len(b)))
	_, _ = h.Write(lenBuf[:n])
	_, _ = h.Write(b)
}

func copyResources(in map[resourcev3.Type][]types.Resource) map[resourcev3.Type][]types.Resource {
	out := make(map[resourcev3.Type][]types.Resource, len(in))
	for k, v := range in {
		out[k] = slices.Clone(v)
	}
	return out
}

// Current returns the version and resources of the last good snapshot ("" and nil before the first successful
// Publish). The map is a copy; the resources are shared and must not be modified.
func (p *Publisher) Current() (string, map[resourcev3.Type][]types.Resource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snapshot == nil {
		return "", nil
	}
	return p.version, copyResources(p.resources)
}

// LastError returns when the most recent Publish was rejected and why; a zero time and nil once a later Publish
// succeeded.
func (p *Publisher) LastError() (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErrAt, p.lastErr
}

// Status reports the served snapshot and the last error.
func (p *Publisher) Status() SnapshotStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := SnapshotStatus{
		Version:     p.version,
		Generation:  p.generation,
		PublishedAt: p.publishedAt,
		Streams:     p.streams,
		Cached:      p.cached,
	}
	if len(p.resources) > 0 {
		st.Resources = make(map[string]int, len(p.resources))
		for k, v := range p.resources {
			st.Resources[k] = len(v)
		}
	}
	if p.lastErr != nil {
		st.LastError = &PublishFailure{Message: p.lastErr.Error(), At: p.lastErrAt}
	}
	return st
}

// StreamOpened and StreamClosed implement GroupHook; NodeTracker calls them from the stream callbacks.
//
// Memory vs. availability (XDS-7, XDS-9): go-control-plane's snapshot cache kept a snapshot and per-node status
// (watches, request times) for every key until ClearSnapshot; fanoutCache keeps only open watches, dropped with
// their streams, and the one shared generation, which it drops here too. Because every node shares GroupKey, clearing the key while another
// node still streams — or just before the next node connects — would leave that node without configuration. The
// Publisher therefore counts open streams for the group, clears the cache entry when the count drops to zero
// (releasing the cache's status and watch bookkeeping) and, since it keeps the last good snapshot itself, puts
// that same snapshot back when the next stream opens. OnStreamOpen runs before the stream's first request, so the
// snapshot is in the cache before any watch is created: every node still gets the configuration on connect.
// The count and the clear/restore happen under the Publisher's mutex, so a stream opening while the last one
// closes cannot observe a cleared cache.
func (p *Publisher) StreamOpened() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams++
	if p.cached || p.snapshot == nil {
		return
	}
	// No stream is open, so no watch can be waiting: set only stores the generation (already marshalled).
	p.cache.set(p.snapshot)
	p.cached = true
	p.log.Debug("xds snapshot restored into cache", "version", p.version)
}

// StreamClosed: see StreamOpened.
func (p *Publisher) StreamClosed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.streams > 0 {
		p.streams--
	}
	if p.streams > 0 {
		return
	}
	// Also clears status the cache created for streams that ended before any snapshot was published.
	p.cache.clear()
	if p.cached {
		p.log.Debug("xds snapshot cleared from cache, no stream open", "version", p.version)
	}
	p.cached = false
}

// Reject records a configuration that failed before it could be published (loading, validation or translation
// upstream of the Publisher): it shows in Status and in proxyplus_translation_errors_total like a rejected
// snapshot, and the last good snapshot stays served.
func (p *Publisher) Reject(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.failLocked(err)
}
