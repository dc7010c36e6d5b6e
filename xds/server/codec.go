package server

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// wireCodec is the xDS server's gRPC codec (grpc.ForceServerCodecV2). It encodes a DiscoveryResponse or
// DeltaDiscoveryResponse whose resources are the published, shared ones (publishedResource) as a small
// per-response part (version, type URL, nonce, removed names) and, per resource, its published bytes used in place:
// the encoding of a resource is built once when it is published and shared read-only by every response of every
// client, so a push to N clients no longer marshals (and copies) the resources N times (P6). The result is the same
// bytes proto.Marshal produces (TestWireCodecMatchesProtoMarshal). Everything else — requests, health, reflection,
// responses carrying resources this server did not publish or fields it does not set — goes to grpc's proto codec.
//
// The shared pieces are mem.SliceBuffers: gRPC never returns them to a pool and only reads them (the transport
// copies them into its write buffer).
type wireCodec struct {
	cache    *fanoutCache
	fallback encoding.CodecV2
}

var _ encoding.CodecV2 = (*wireCodec)(nil)

func newWireCodec(cache *fanoutCache) *wireCodec {
	return &wireCodec{cache: cache, fallback: encoding.GetCodecV2(grpcproto.Name)}
}

// Name is the content subtype: the codec speaks plain protobuf.
func (c *wireCodec) Name() string { return grpcproto.Name }

func (c *wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.fallback.Unmarshal(data, v)
}

func (c *wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if g := c.cache.encoded.Load(); g != nil {
		switch m := v.(type) {
		case *discoveryv3.DiscoveryResponse:
			if out, ok := marshalSotwShared(m, g); ok {
				return out, nil
			}
		case *discoveryv3.DeltaDiscoveryResponse:
			if out, ok := marshalDeltaShared(m, g); ok {
				return out, nil
			}
		}
	}
	return c.fallback.Marshal(v)
}

// Field numbers of envoy/service/discovery/v3/discovery.proto that the shared encodings write.
const (
	sotwVersionInfo = 1 // DiscoveryResponse.version_info
	sotwResources   = 2 // DiscoveryResponse.resources
	sotwTypeURL     = 4 // DiscoveryResponse.type_url
	sotwNonce       = 5 // DiscoveryResponse.nonce
	deltaSystemVer  = 1 // DeltaDiscoveryResponse.system_version_info
	deltaResources  = 2 // DeltaDiscoveryResponse.resources
	deltaTypeURL    = 4 // DeltaDiscoveryResponse.type_url
	deltaNonce      = 5 // DeltaDiscoveryResponse.nonce
	deltaRemoved    = 6 // DeltaDiscoveryResponse.removed_resources
	resourceVersion = 1 // Resource.version
	resourceAny     = 2 // Resource.resource
	resourceName    = 3 // Resource.name
	anyTypeURL      = 1 // google.protobuf.Any.type_url
	anyValue        = 2 // google.protobuf.Any.value
)

// resourceWire is the encoding of one published resource around its bytes (the Any's Value, which is not copied):
// proto.Marshal writes known fields in field-number order, so a DiscoveryResponse element is
// [tag 2, len, Any{type_url, tag 2, len}] value, and a DeltaDiscoveryResponse element is
// [tag 2, len, Resource{version, tag 2, len, Any{type_url, tag 2, len}}] value [Resource.name].
type resourceWire struct {
	deltaHead []byte // the delta element up to value; its suffix from sotwAt is the SotW element up to value
	sotwAt    int
	deltaTail []byte // Resource.name
}

// newResourceWire builds the pieces for a resource published as any (TypeUrl, Value) with name and version.
func newResourceWire(name, version string, any *anypb.Any) *resourceWire {
	value := any.GetValue()
	anyLen := protowire.SizeTag(anyTypeURL) + protowire.SizeBytes(len(any.GetTypeUrl()))
	if len(value) > 0 {
		anyLen += protowire.SizeTag(anyValue) + protowire.SizeBytes(len(value))
	}
	var resourceLen int
	if version != "" {
		resourceLen += protowire.SizeTag(resourceVersion) + protowire.SizeBytes(len(version))
	}
	resourceLen += protowire.SizeTag(resourceAny) + protowire.SizeBytes(anyLen)
	var tail []byte
	if name != "" {
		tail = protowire.AppendString(protowire.AppendTag(nil, resourceName, protowire.BytesType), name)
	}
	resourceLen += len(tail)

	head := protowire.AppendTag(nil, deltaResources, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(resourceLen))
	if version != "" {
		head = protowire.AppendString(protowire.AppendTag(head, resourceVersion, protowire.BytesType), version)
	}
	sotwAt := len(head)
	// Resource.resource (field 2) and DiscoveryResponse.resources (field 2) have the same tag: one prefix serves both.
	head = protowire.AppendTag(head, resourceAny, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(anyLen))
	if any.GetTypeUrl() != "" {
		head = protowire.AppendString(protowire.AppendTag(head, anyTypeURL, protowire.BytesType), any.GetTypeUrl())
	}
	if len(value) > 0 {
		head = protowire.AppendTag(head, anyValue, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(len(value)))
	}
	return &resourceWire{deltaHead: head, sotwAt: sotwAt, deltaTail: tail}
}

// onlyFields reports whether m has no unknown fields and no populated field outside allowed.
func onlyFields(m protoreflect.Message, allowed ...protowire.Number) bool {
	if len(m.GetUnknown()) > 0 {
		return false
	}
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		for _, n := range allowed {
			if fd.Number() == n {
				return true
			}
		}
		ok = false
		return false
	})
	return ok
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// marshalSotwShared encodes m from the shared pieces of g, or reports false when some resource of m is not one of
// g's published Anys or m sets a field the shared encoding does not write.
func marshalSotwShared(m *discoveryv3.DiscoveryResponse, g *generation) (mem.BufferSlice, bool) {
	if len(m.GetResources()) == 0 || !onlyFields(m.ProtoReflect(), sotwVersionInfo, sotwResources, sotwTypeURL, sotwNonce) {
		return nil, false
	}
	for _, a := range m.GetResources() {
		if g.byAny[a] == nil {
			return nil, false
		}
	}
	head := appendStringField(nil, sotwVersionInfo, m.GetVersionInfo())
	tail := appendStringField(nil, sotwTypeURL, m.GetTypeUrl())
	tail = appendStringField(tail, sotwNonce, m.GetNonce())
	out := make(mem.BufferSlice, 0, 2+2*len(m.GetResources()))
	if len(head) > 0 {
		out = append(out, mem.SliceBuffer(head))
	}
	for _, a := range m.GetResources() {
		r := g.byAny[a]
		out = append(out, mem.SliceBuffer(r.wire.deltaHead[r.wire.sotwAt:]))
		if len(a.GetValue()) > 0 {
			out = append(out, mem.SliceBuffer(a.GetValue()))
		}
	}
	if len(tail) > 0 {
		out = append(out, mem.SliceBuffer(tail))
	}
	return out, true
}

// marshalDeltaShared is marshalSotwShared for delta responses.
func marshalDeltaShared(m *discoveryv3.DeltaDiscoveryResponse, g *generation) (mem.BufferSlice, bool) {
	if len(m.GetResources()) == 0 || !onlyFields(m.ProtoReflect(), deltaSystemVer, deltaResources, deltaTypeURL, deltaNonce, deltaRemoved) {
		return nil, false
	}
	for _, res := range m.GetResources() {
		if g.byDelta[res] == nil {
			return nil, false
		}
	}
	head := appendStringField(nil, deltaSystemVer, m.GetSystemVersionInfo())
	tail := appendStringField(nil, deltaTypeURL, m.GetTypeUrl())
	tail = appendStringField(tail, deltaNonce, m.GetNonce())
	for _, name := range m.GetRemovedResources() {
		// repeated string: every element is written, empty ones too
		tail = protowire.AppendString(protowire.AppendTag(tail, deltaRemoved, protowire.BytesType), name)
	}
	out := make(mem.BufferSlice, 0, 2+3*len(m.GetResources()))
	if len(head) > 0 {
		out = append(out, mem.SliceBuffer(head))
	}
	for _, res := range m.GetResources() {
		r := g.byDelta[res]
		out = append(out, mem.SliceBuffer(r.wire.deltaHead))
		if v := r.any.GetValue(); len(v) > 0 {
			out = append(out, mem.SliceBuffer(v))
		}
		if len(r.wire.deltaTail) > 0 {
			out = append(out, mem.SliceBuffer(r.wire.deltaTail))
		}
	}
	if len(tail) > 0 {
		out = append(out, mem.SliceBuffer(tail))
	}
	return out, true
}
