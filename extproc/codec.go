package extproc

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/types/known/emptypb"
)

// serverCodec is gRPC's proto codec, with one shortcut: a message received into an emptypb.Empty — how the
// service receives Envoy's messages (request.go) — is copied once and kept whole as its unknown fields, which is
// what proto.Unmarshal makes of it, checked the same way (each top-level field well-formed). proto.Unmarshal did
// it field by field through its generic decoder: ≈ 8k instructions and 5 allocations per Lambda request for
// REF-EVENT's three messages, against one copy per message here (BenchmarkLambdaServe under callgrind, Dec 2026).
// Any other message goes to the proto codec.
type serverCodec struct{ proto encoding.CodecV2 }

func newServerCodec() serverCodec {
	return serverCodec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

func (c serverCodec) Name() string { return grpcproto.Name }

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	e, ok := v.(*emptypb.Empty)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	b := data.Materialize()
	if err := checkFields(b); err != nil {
		return err
	}
	e.Reset()
	e.ProtoReflect().SetUnknown(b)
	return nil
}

// checkFields fails as proto.Unmarshal does on a message that is not a well-formed sequence of fields.
func checkFields(b []byte) error {
	for len(b) > 0 {
		_, _, _, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
	}
	return nil
}
