package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestRouteBytesComposition measures what the bytes of a REF-API route are made of in the RouteConfiguration the
// server publishes (P6: the size of the edited RouteConfiguration is what every client is sent). It decodes the
// published RouteConfiguration of one REF-API(100) API and attributes every byte of every route to a field: the
// route's top-level fields, and for each typed_per_filter_config entry its key, the Any wrappers' type URLs and the
// filter's own configuration. It logs the table (run with -v) and fails if the parts do not add up to the routes'
// encoded size.
func TestRouteBytesComposition(t *testing.T) {
	f := newRefFleet(t, 1, 100)
	p := NewPublisher(slog.New(slog.DiscardHandler), nil)
	if _, err := p.Publish(context.Background(), f.states[0]); err != nil {
		t.Fatal(err)
	}
	published := p.cache.current.types[resourcev3.RouteType].anys[0].GetValue()
	var rc routev3.RouteConfiguration
	if err := proto.Unmarshal(published, &rc); err != nil {
		t.Fatal(err)
	}
	parts := map[string]int{}
	distinct := map[string]map[string]int{} // field or typed_per_filter_config key -> distinct values -> routes
	routes, routeBytes := 0, 0
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			routes++
			// A route's share of the RouteConfiguration includes its tag and length in the virtual host.
			size := proto.Size(r)
			routeBytes += sizeOfField(5, size) // VirtualHost.routes = 5
			parts["(route tag and length in the virtual host)"] += sizeOfField(5, size) - size
			attributeRoute(t, r, parts)
			for key, cfg := range r.GetTypedPerFilterConfig() {
				key = "typed_per_filter_config[" + key + "]"
				if distinct[key] == nil {
					distinct[key] = map[string]int{}
				}
				distinct[key][cfg.String()]++
			}
			m := r.ProtoReflect()
			m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
				if fd.Name() == "typed_per_filter_config" {
					return true
				}
				key := string(fd.Name())
				if distinct[key] == nil {
					distinct[key] = map[string]int{}
				}
				one := m.Type().New()
				one.Set(fd, v)
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(one.Interface())
				if err != nil {
					t.Fatal(err)
				}
				distinct[key][string(b)]++
				return true
			})
		}
	}
	sum := 0
	for _, n := range parts {
		sum += n
	}
	if sum != routeBytes {
		t.Fatalf("parts add up to %d bytes, the routes take %d", sum, routeBytes)
	}
	names := slices.SortedFunc(func(yield func(string) bool) {
		for k := range parts {
			if !yield(k) {
				return
			}
		}
	}, func(a, b string) int { return cmp.Or(cmp.Compare(parts[b], parts[a]), strings.Compare(a, b)) })
	var b strings.Builder
	fmt.Fprintf(&b, "RouteConfiguration %d bytes, %d routes, %d bytes in routes (%.0f per route)\n", len(published), routes, routeBytes, float64(routeBytes)/float64(routes))
	fmt.Fprintf(&b, "| part | bytes per route | share |\n|---|---|---|\n")
	for _, k := range names {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f%% |\n", k, float64(parts[k])/float64(routes), 100*float64(parts[k])/float64(routeBytes))
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range distinct {
			if !yield(k) {
				return
			}
		}
	}) {
		n := 0
		for _, c := range distinct[key] {
			n += c
		}
		fmt.Fprintf(&b, "%s: on %d routes, %d distinct values\n", key, n, len(distinct[key]))
	}
	t.Log("\n" + b.String())
}

// sizeOfField is the encoded size of a length-delimited field with a payload of n bytes.
func sizeOfField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// attributeRoute adds r's bytes to parts: each top-level field by name; typed_per_filter_config entries split
// into the entry's framing and key, the type URLs of the Any (and of a FilterConfig's inner Any), and the filter's
// configuration; ext_proc's configuration further into its fields.
func attributeRoute(t *testing.T, r *routev3.Route, parts map[string]int) {
	t.Helper()
	m := r.ProtoReflect()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		one := m.Type().New()
		one.Set(fd, v)
		size := proto.Size(one.Interface())
		if fd.Name() != "typed_per_filter_config" {
			parts[string(fd.Name())] += size
			return true
		}
		for key, cfg := range r.GetTypedPerFilterConfig() {
			entry := proto.Size(&routev3.Route{TypedPerFilterConfig: map[string]*anypb.Any{key: cfg}})
			short := strings.TrimPrefix(key, "envoy.filters.http.")
			anySize := proto.Size(cfg)
			parts["typed_per_filter_config["+short+"]: map entry framing and key"] += entry - anySize
			parts["typed_per_filter_config["+short+"]: type URLs"] += anySize - len(cfg.GetValue())
			value := cfg.GetValue()
			if cfg.GetTypeUrl() == "type.googleapis.com/envoy.config.route.v3.FilterConfig" {
				var fc routev3.FilterConfig
				if err := proto.Unmarshal(value, &fc); err != nil {
					t.Fatal(err)
				}
				if fc.GetDisabled() {
					// A route that does not use a filter its virtual host's configuration enables.
					parts["typed_per_filter_config["+short+"]: FilterConfig{disabled: true}"] += len(value)
					continue
				}
				inner := proto.Size(fc.GetConfig())
				parts["typed_per_filter_config["+short+"]: type URLs"] += inner - len(fc.GetConfig().GetValue())
				parts["typed_per_filter_config["+short+"]: FilterConfig framing and flags"] += len(value) - inner
				value = fc.GetConfig().GetValue()
				cfg = fc.GetConfig()
			}
			if short != "ext_proc" {
				parts["typed_per_filter_config["+short+"]: configuration"] += len(value)
				continue
			}
			inner, err := cfg.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			overrides := inner.ProtoReflect().Get(inner.ProtoReflect().Descriptor().Fields().ByName("overrides")).Message()
			covered := 0
			overrides.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
				one := overrides.Type().New()
				one.Set(fd, v)
				n := proto.Size(one.Interface())
				covered += n
				parts["typed_per_filter_config[ext_proc]: overrides."+string(fd.Name())] += n
				return true
			})
			parts["typed_per_filter_config[ext_proc]: overrides framing"] += len(value) - covered
		}
		return true
	})
}
