package translator

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/proxyplus/proxyplus/ir"
)

// Builder is Build with memory (incremental translation, issue 13 / P7): it keeps, from one Build to the next, each
// API's virtual host keyed by a content hash of everything the virtual host is built from (the API and the
// configuration-wide settings), and each scope's RouteConfiguration together with its wire form. An API whose
// translation did not change gets the very objects it had, so only changed APIs are built, and the Publisher, which
// recognises objects it already validated and marshalled, re-marshals only their scopes. Only what the latest Build
// used is kept. Use one Builder per publishing pipeline; it is safe for concurrent use.
type Builder struct {
	mu       sync.Mutex
	catchAll *routev3.VirtualHost // unknownHostVirtualHost, the same object in every scope and Build
	vhosts   map[[sha256.Size]byte]*routev3.VirtualHost
	scopes   map[string]*builtScope // by RouteConfiguration name

	// keys memoises apiKey for an API handed over again as the same value (same stages slice): the control plane
	// keeps unchanged APIs as they are (translator.Assemble does not modify them), so an unchanged API costs no
	// hashing of its routes.
	keys map[apiIdentity][sha256.Size]byte

	// filled during a Build, swapped in at its end
	nextVhosts map[[sha256.Size]byte]*routev3.VirtualHost
	nextScopes map[string]*builtScope
	nextKeys   map[apiIdentity][sha256.Size]byte
	shared     [sha256.Size]byte // hash of the configuration without its APIs, for this Build
}

// apiIdentity is an API value as handed to Build: its stages by identity, everything else by content.
type apiIdentity struct {
	stages *ir.Stage
	n      int
	rest   [sha256.Size]byte // the API without its stages, the shared settings and whether it is alone
}

// builtScope is a scope's RouteConfiguration as last built and published.
type builtScope struct {
	vhosts []*routev3.VirtualHost
	rc     *routev3.RouteConfiguration
	wire   *routev3.RouteConfiguration
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

// virtualHost returns API i's virtual host, from the cache when its inputs are unchanged.
func (b *Builder) virtualHost(cfg *ir.Config, i int) (*routev3.VirtualHost, error) {
	if b == nil {
		return virtualHost(cfg, cfg.APIs[i])
	}
	key, err := b.apiKey(cfg, i)
	if err != nil {
		return virtualHost(cfg, cfg.APIs[i])
	}
	if vh, ok := b.nextVhosts[key]; ok {
		return vh, nil
	}
	vh, ok := b.vhosts[key]
	if !ok {
		if vh, err = virtualHost(cfg, cfg.APIs[i]); err != nil {
			return nil, err
		}
	}
	b.nextVhosts[key] = vh
	return vh, nil
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
	if err := enc.Encode(cfg.APIs[i]); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("hash API %s: %w", cfg.APIs[i].ID, err)
	}
	_, _ = fmt.Fprintf(h, "alone=%v", len(cfg.APIs) == 1)
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k, nil
}

// reuseScopes replaces each freshly built scope RouteConfiguration whose virtual hosts are the very ones of the
// previous Build by the previous object, and records the wire forms to publish.
func (b *Builder) reuseScopes(res *Resources) {
	for i, rc := range res.Routes {
		prev, ok := b.scopes[rc.GetName()]
		if ok && slices.Equal(prev.vhosts, rc.GetVirtualHosts()) {
			res.Routes[i] = prev.rc
			if res.validated == nil {
				res.validated = map[*routev3.RouteConfiguration]bool{}
			}
			res.validated[prev.rc] = true
			b.nextScopes[rc.GetName()] = prev
			continue
		}
		b.nextScopes[rc.GetName()] = &builtScope{vhosts: slices.Clone(rc.GetVirtualHosts()), rc: rc}
	}
	res.wire = func(rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
		b.mu.Lock()
		defer b.mu.Unlock()
		s, ok := b.scopes[rc.GetName()]
		if !ok || s.rc != rc {
			return wireRouteConfiguration(rc)
		}
		if s.wire == nil {
			s.wire = wireRouteConfiguration(rc)
		}
		return s.wire
	}
}
