package builder

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/proxyplus/proxyplus/ir"
)

// Builder is Build with memory (incremental translation, issue 13 / P7). It keeps, from one Build to the next, for
// each scope of the split route configuration, the content keys of its APIs (a hash of everything their virtual
// hosts are built from: the API and the configuration-wide settings) and the scope's RouteConfiguration in wire
// form. A scope whose APIs are unchanged is not built at all: the Resources get the very wire-form object of the
// previous Build, which the xDS publisher recognises (it validated and marshalled it then) and no Envoy is sent
// again. Only changed scopes are built. It keeps no Go object graph of the routes (those cost several kilobytes
// per route), only the wire bytes (about one).
//
// Resources from a Builder are for publishing: the RouteConfigurations of reused scopes are in wire form (their
// routes are bytes, not fields; proto.Marshal and ByType give the full configuration). Use Build for rendering or
// evaluating. Use one Builder per publishing pipeline; it is safe for concurrent use.
type Builder struct {
	mu       sync.Mutex
	catchAll *routev3.VirtualHost   // unknownHostVirtualHost, the same object in every scope and Build
	scopes   map[string]*builtScope // by RouteConfiguration name

	// keys memoises apiKey for an API handed over again as the same value (same stages slice): the control plane
	// keeps unchanged APIs as they are (translator.Assemble does not modify them), so an unchanged API costs no
	// hashing of its routes.
	keys map[apiIdentity][sha256.Size]byte

	// routes caches the encodings of resource routes of the single RouteConfiguration (incremental.go); gen
	// counts Builds, to drop the entries the latest one did not use.
	routes map[routeCacheKey]*cachedRoute
	gen    uint64
	built  int // resource routes the latest Build built afresh (not from routes), for tests
	// assembled are the RouteConfigurations of this Build that are in wire form and validated already.
	assembled map[*routev3.RouteConfiguration]bool
	// anys are the Anys of listeners and clusters the latest Build validated (validateAnysMemo).
	anys map[[sha256.Size]byte]bool

	// digests are the content digests of the latest Build's assembled route configurations (Resources.Digest).
	digests map[*routev3.RouteConfiguration][sha256.Size]byte

	// filled during a Build, swapped in at its end
	nextScopes  map[string]*builtScope
	nextDigests map[*routev3.RouteConfiguration][sha256.Size]byte
	nextKeys    map[apiIdentity][sha256.Size]byte
	shared      [sha256.Size]byte // hash of the configuration without its APIs, for this Build
}

// apiIdentity is an API value as handed to Build: its stages by identity, everything else by content.
type apiIdentity struct {
	stages *ir.Stage
	n      int
	rest   [sha256.Size]byte // the API without its stages, the shared settings and whether it is alone
}

// builtScope is a scope's RouteConfiguration as last published: the keys of its APIs and its wire form.
type builtScope struct {
	keys [][sha256.Size]byte
	wire *routev3.RouteConfiguration
}

// NewBuilder returns a Builder with an empty cache.
func NewBuilder() *Builder { return &Builder{} }

// unknownHost is the unknown-host virtual host, built once per Builder.
func (b *Builder) unknownHost() *routev3.VirtualHost {
	if b == nil {
		return unknownHostVirtualHost()
	}
	if b.catchAll == nil {
		b.catchAll = unknownHostVirtualHost()
	}
	return b.catchAll
}

// reuse returns the previous wire-form RouteConfiguration of scope name if its APIs (cfg.APIs[i] for i in apis)
// are unchanged, else nil; either way it records the APIs' keys for the scope.
func (b *Builder) reuse(cfg *ir.Config, name string, apis []int) *routev3.RouteConfiguration {
	keys := make([][sha256.Size]byte, len(apis))
	for j, i := range apis {
		k, err := b.apiKey(cfg, i)
		if err != nil {
			b.nextScopes[name] = &builtScope{} // no key: never reused
			return nil
		}
		keys[j] = k
	}
	prev, ok := b.scopes[name]
	if ok && prev.wire != nil && slices.Equal(prev.keys, keys) {
		b.nextScopes[name] = prev
		b.assembled[prev.wire] = true
		if d, ok := b.digests[prev.wire]; ok {
			b.nextDigests[prev.wire] = d
		}
		return prev.wire
	}
	b.nextScopes[name] = &builtScope{keys: keys}
	return nil
}

// finish records the wire form of every scope built fresh in res and tells res which RouteConfigurations are
// reused (already validated, already in wire form).
func (b *Builder) finish(res *Resources) {
	wire := map[*routev3.RouteConfiguration]*routev3.RouteConfiguration{}
	for i, rc := range res.Routes {
		s := b.nextScopes[rc.GetName()]
		if s == nil {
			continue
		}
		if b.assembled[rc] {
			// Reused, or assembled in wire form and validated (routeConfigurationWire).
			s.wire = rc
			if res.validated == nil {
				res.validated = map[*routev3.RouteConfiguration]bool{}
			}
			res.validated[rc] = true
			wire[rc] = rc
			continue
		}
		if s.keys == nil {
			continue
		}
		s.wire = wireRouteConfiguration(res.Routes[i])
		wire[rc] = s.wire
	}
	res.wire = func(rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
		if w, ok := wire[rc]; ok {
			return w
		}
		return wireRouteConfiguration(rc)
	}
}

// apiKey is apiKey(cfg, i), memoised by identity (see Builder.keys).
func (b *Builder) apiKey(cfg *ir.Config, i int) ([sha256.Size]byte, error) {
	api := cfg.APIs[i]
	if len(api.Stages) == 0 {
		return apiKey(cfg, i)
	}
	head := api
	head.Stages = nil
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(head); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("hash API %s: %w", api.ID, err)
	}
	_, _ = h.Write(b.shared[:])
	_, _ = fmt.Fprintf(h, "alone=%v", len(cfg.APIs) == 1)
	id := apiIdentity{stages: &api.Stages[0], n: len(api.Stages)}
	copy(id.rest[:], h.Sum(nil))
	if k, ok := b.keys[id]; ok {
		b.nextKeys[id] = k
		return k, nil
	}
	k, err := apiKey(cfg, i)
	if err != nil {
		return k, err
	}
	b.nextKeys[id] = k
	return k, nil
}

// sharedKey hashes the configuration without its APIs.
func sharedKey(cfg *ir.Config) ([sha256.Size]byte, error) {
	shared := *cfg
	shared.APIs = nil
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(shared); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("hash configuration: %w", err)
	}
	writeSigningKey(h, cfg)
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k, nil
}

// apiKey hashes what virtualHost(cfg, cfg.APIs[i]) reads: the API, the configuration without its APIs, and
// whether the API is alone (it then answers every Host) — not the number of APIs, so that adding or removing an
// API rebuilds no other.
func apiKey(cfg *ir.Config, i int) ([sha256.Size]byte, error) {
	shared := *cfg
	shared.APIs = nil
	h := sha256.New()
	enc := json.NewEncoder(h)
	if err := enc.Encode(shared); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("hash configuration: %w", err)
	}
	writeSigningKey(h, cfg)
	if err := enc.Encode(cfg.APIs[i]); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("hash API %s: %w", cfg.APIs[i].ID, err)
	}
	_, _ = fmt.Fprintf(h, "alone=%v", len(cfg.APIs) == 1)
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k, nil
}

// writeSigningKey adds the key that signs the processor route data (not in the configuration's JSON) to a hash:
// its id, which is derived from its secret (ir.RouteKey), so rotating keys rebuilds every route.
func writeSigningKey(h interface{ Write([]byte) (int, error) }, cfg *ir.Config) {
	id := ""
	if keys := cfg.ExtProc.RouteKeys; len(keys) > 0 {
		id = keys[0].ID
	}
	_, _ = fmt.Fprintf(h, "signing-key=%q;", id)
}
