// Package builder builds Envoy resources from proxyplus's IR: one small builder per Envoy concept
// (listener.go, hcm.go, route.go, match.go, cluster.go, extproc.go, headermutation.go, httpproxy.go). It and the xDS
// server are the only packages that build Envoy configuration.
package builder

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/ir"
)

// RouteConfigName is the single RouteConfiguration the listener loads over RDS, and the prefix of the per-scope
// RouteConfigurations of the split (scoped.go).
const RouteConfigName = "proxyplus-http"

// Resources is one generation of Envoy configuration.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	// ScopedRoutes map Host scopes to Routes when the route configuration is split (scoped.go); empty otherwise.
	ScopedRoutes []*routev3.ScopedRouteConfiguration
	Clusters     []*clusterv3.Cluster

	// wire, set by a Builder, returns the wire form of a route configuration, the same object for one it built
	// before (see Builder).
	wire func(*routev3.RouteConfiguration) *routev3.RouteConfiguration
	// validated are route configurations a Builder reused from a Build that validated them.
	validated map[*routev3.RouteConfiguration]bool
	// anys, set by a Builder, skips Anys its previous Build validated (validateAnysMemo).
	anys *anyMemo
	// digests, set by a Builder, are the content digests of the route configurations it assembled (Digest).
	digests map[*routev3.RouteConfiguration][sha256.Size]byte
}

// Digest returns the content digest a Builder computed for res, one of r's route configurations in wire form, as
// it assembled it from per-route parts (incremental.go configurationDigest); false for any other resource. The xDS
// publisher versions such a resource by it instead of hashing its bytes (xds/server Publisher.PublishDigested).
func (r *Resources) Digest(res types.Resource) ([sha256.Size]byte, bool) {
	rc, ok := res.(*routev3.RouteConfiguration)
	if !ok || r == nil {
		return [sha256.Size]byte{}, false
	}
	d, ok := r.digests[rc]
	return d, ok
}

// ByType returns the resources keyed by xDS type URL, the shape snapshots take. Route configurations are in
// wire form (see wireRouteConfiguration): what is published is held once as bytes, not as an object graph.
func (r *Resources) ByType() map[resource.Type][]types.Resource {
	out := map[resource.Type][]types.Resource{
		resource.ListenerType: nil, resource.RouteType: nil, resource.ClusterType: nil, resource.EndpointType: nil,
		resource.ScopedRouteType: nil,
	}
	for _, sr := range r.ScopedRoutes {
		out[resource.ScopedRouteType] = append(out[resource.ScopedRouteType], sr)
	}
	for _, l := range r.Listeners {
		out[resource.ListenerType] = append(out[resource.ListenerType], l)
	}
	wire := r.wire
	if wire == nil {
		wire = wireRouteConfiguration
	}
	for _, rc := range r.Routes {
		out[resource.RouteType] = append(out[resource.RouteType], wire(rc))
	}
	for _, c := range r.Clusters {
		out[resource.ClusterType] = append(out[resource.ClusterType], c)
	}
	return out
}

// wireRouteConfiguration returns a RouteConfiguration that marshals to the same configuration as rc but keeps
// everything except its name as one buffer of wire bytes (protobuf unknown fields, which proto.Marshal writes
// back verbatim). A published RouteConfiguration holds every route; as Go objects each route costs several
// kilobytes of small allocations, as wire bytes about one. The name stays a real field: the cache indexes resources
// by it. rc must already be validated; the result is for publishing only.
//
// The buffer holds the other fields followed by the encoded name field, and the unknown fields are the buffer
// without that tail (its capacity still reaching it): buffer = unknown fields + name field is a complete encoding
// of the RouteConfiguration (field order is free in protobuf), which the xDS publisher serves as it is instead of
// marshalling a second copy (xds/server sharedEncoding).
func wireRouteConfiguration(rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(rc)
	if err != nil {
		// A validated RouteConfiguration always marshals; fall back to the object form rather than lose it.
		return rc
	}
	// Drop the top-level name field from the bytes (it stays a real field below) rather than cloning the whole
	// configuration to clear it: the route configuration is by far the largest resource.
	buf := make([]byte, 0, len(b))
	for in := b; len(in) > 0; {
		num, typ, n := protowire.ConsumeTag(in)
		if n < 0 {
			return rc
		}
		m := protowire.ConsumeFieldValue(num, typ, in[n:])
		if m < 0 {
			return rc
		}
		if num != routeConfigurationNameField {
			buf = append(buf, in[:n+m]...)
		}
		in = in[n+m:]
	}
	rest := len(buf)
	if rc.GetName() != "" {
		buf = protowire.AppendTag(buf, routeConfigurationNameField, protowire.BytesType)
		buf = protowire.AppendString(buf, rc.GetName())
	}
	out := &routev3.RouteConfiguration{Name: rc.GetName()}
	out.ProtoReflect().SetUnknown(buf[:rest])
	return out
}

// routeConfigurationNameField is RouteConfiguration.name's field number (route.proto).
const routeConfigurationNameField = 1

// Validate runs protoc-gen-validate's ValidateAll on every resource (envoy-notes XDS-3), and on the message inside
// every Any of the listeners and clusters, as Envoy does once it unpacks them (validateAnys). Route
// configurations' Anys (typed_per_filter_config) are validated as they are made (enableFilter), which costs
// nothing extra; ValidateNested walks them too (tests run it on every golden).
func (r *Resources) Validate() error {
	for _, l := range r.Listeners {
		if err := l.ValidateAll(); err != nil {
			return fmt.Errorf("listener %q: %w", l.GetName(), err)
		}
		if err := validateAnysMemo(l.ProtoReflect(), "listener "+strconv.Quote(l.GetName()), r.anys); err != nil {
			return err
		}
	}
	for _, rc := range r.Routes {
		if r.validated[rc] {
			continue
		}
		if err := rc.ValidateAll(); err != nil {
			return fmt.Errorf("route configuration %q: %w", rc.GetName(), err)
		}
	}
	for _, sr := range r.ScopedRoutes {
		if err := sr.ValidateAll(); err != nil {
			return fmt.Errorf("scoped route configuration %q: %w", sr.GetName(), err)
		}
	}
	for _, c := range r.Clusters {
		if err := c.ValidateAll(); err != nil {
			return fmt.Errorf("cluster %q: %w", c.GetName(), err)
		}
		if err := validateAnysMemo(c.ProtoReflect(), "cluster "+strconv.Quote(c.GetName()), r.anys); err != nil {
			return err
		}
	}
	return nil
}

// ValidateNested is Validate with every route configuration's Anys validated as well (validateAnys).
func (r *Resources) ValidateNested() error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, rc := range r.Routes {
		if err := validateAnys(rc.ProtoReflect(), "route configuration "+strconv.Quote(rc.GetName())); err != nil {
			return err
		}
	}
	return nil
}

// Build turns a configuration generation into Envoy resources and validates every one of them.
func Build(cfg *ir.Config) (*Resources, error) {
	return (*Builder)(nil).Build(cfg)
}

// Build is Build with b's cache of virtual hosts (nil b: no cache).
func (b *Builder) Build(cfg *ir.Config) (*Resources, error) {
	if b != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.nextScopes = make(map[string]*builtScope, len(b.scopes))
		b.nextDigests = make(map[*routev3.RouteConfiguration][sha256.Size]byte, len(b.digests))
		b.nextKeys = make(map[apiIdentity][32]byte, len(b.keys))
		b.gen++
		b.built = 0
		b.assembled = map[*routev3.RouteConfiguration]bool{}
		var err error
		if b.shared, err = sharedKey(cfg); err != nil {
			return nil, err
		}
	}
	usesProcessor := needsProcessor(cfg)
	res := &Resources{}
	scopes := scopedSplit(cfg)
	if scopes != nil {
		var err error
		var reuse func(string, []int) (*routev3.RouteConfiguration, error)
		if b != nil {
			// A scope whose APIs are unchanged: the previous object; otherwise assembled from the per-route
			// cache (incremental.go), in wire form and validated.
			reuse = func(name string, apis []int) (*routev3.RouteConfiguration, error) {
				if rc := b.reuse(cfg, name, apis); rc != nil {
					return rc, nil
				}
				rc, err := b.routeConfigurationWire(cfg, name, apis, true)
				if err == nil {
					b.assembled[rc] = true
				}
				return rc, err
			}
		}
		z := newRegexSizer()
		res.Routes, res.ScopedRoutes, err = scopedRouteConfigurations(scopes, reuse, func(i int) (*routev3.VirtualHost, error) {
			return virtualHost(cfg, z, cfg.APIs[i])
		}, b.unknownHost())
		if err != nil {
			return nil, err
		}
	} else if b != nil {
		all := make([]int, len(cfg.APIs))
		for i := range all {
			all[i] = i
		}
		rc, err := b.routeConfigurationWire(cfg, RouteConfigName, all, false)
		if err != nil {
			return nil, err
		}
		// Built in wire form and validated part by part (incremental.go).
		res.Routes = []*routev3.RouteConfiguration{rc}
		res.validated = map[*routev3.RouteConfiguration]bool{rc: true}
		res.wire = func(x *routev3.RouteConfiguration) *routev3.RouteConfiguration {
			if x == rc {
				return x
			}
			return wireRouteConfiguration(x)
		}
	} else {
		rc, err := routeConfiguration(cfg)
		if err != nil {
			return nil, err
		}
		res.Routes = []*routev3.RouteConfiguration{rc}
	}
	l, err := listener(cfg, usesProcessor, scopes != nil)
	if err != nil {
		return nil, err
	}
	clusters, err := clusters(cfg, usesProcessor)
	if err != nil {
		return nil, err
	}
	res.Listeners, res.Clusters = []*listenerv3.Listener{l}, clusters
	if b != nil && scopes != nil {
		b.finish(res)
	}
	if b != nil {
		res.anys = &anyMemo{prev: b.anys, next: map[[32]byte]bool{}}
	}
	if err := res.Validate(); err != nil {
		return nil, err
	}
	if b != nil {
		b.scopes, b.keys = b.nextScopes, b.nextKeys
		b.pruneRoutes()
		b.anys, res.anys = res.anys.next, nil
		// Not written to after this point (the next Build fills a new map): res may read it while b builds again.
		b.digests, res.digests = b.nextDigests, b.nextDigests
		b.nextScopes, b.nextKeys, b.nextDigests = nil, nil, nil
	}
	return res, nil
}

// needsProcessor reports whether any route enables the ext_proc filter; without one, neither the filter nor its
// cluster is emitted.
func needsProcessor(cfg *ir.Config) bool {
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			for i := range st.Routes { // by index: a route is a large struct
				r := &st.Routes[i]
				if r.Integration.Type == ir.AWSProxy || (r.Integration.Type == ir.Mock && api.Refusal(*r) == nil && mockNeedsProcessor(r.Integration.Mock)) || (r.Integration.HTTP != nil && r.Integration.HTTP.Processor) || authzRoute(r) {
					return true
				}
			}
		}
	}
	return false
}

// HTTPConnectionManager returns the API listener's HCM, as Envoy would decode it from the listener.
func (r *Resources) HTTPConnectionManager() (*hcmv3.HttpConnectionManager, error) {
	if len(r.Listeners) != 1 {
		return nil, fmt.Errorf("want one listener, have %d", len(r.Listeners))
	}
	for _, fc := range r.Listeners[0].GetFilterChains() {
		for _, f := range fc.GetFilters() {
			if f.GetName() != wellknown.HTTPConnectionManager {
				continue
			}
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				return nil, fmt.Errorf("listener %s: %w", r.Listeners[0].GetName(), err)
			}
			return hcm, nil
		}
	}
	return nil, fmt.Errorf("listener %s has no HTTP connection manager", r.Listeners[0].GetName())
}
