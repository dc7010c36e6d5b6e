package extproc

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// messageView is what the service reads of a ProcessingRequest, the way it read it from the generated message
// before request.go: the oneof's field number, end_of_stream, the body, the request headers (raw_value, else
// value; pseudo-headers split out as RequestHeaders does), the request body mode and the metadata context.
type messageView struct {
	kind        protowire.Number
	endOfStream bool
	body        []byte
	rh          RequestHeaders
	bodyMode    extprocfilterv3.ProcessingMode_BodySendMode
	metadata    *corev3.Metadata
}

func viewOfProto(m *extprocsvcv3.ProcessingRequest) messageView {
	v := messageView{bodyMode: m.GetProtocolConfig().GetRequestBodyMode(), metadata: m.GetMetadataContext()}
	switch r := m.Request.(type) {
	case *extprocsvcv3.ProcessingRequest_RequestHeaders:
		v.kind, v.endOfStream = fieldRequestHeaders, r.RequestHeaders.GetEndOfStream()
		for _, hv := range r.RequestHeaders.GetHeaders().GetHeaders() {
			val := string(hv.GetRawValue())
			if val == "" {
				val = hv.GetValue()
			}
			v.rh.add(hv.GetKey(), val)
		}
	case *extprocsvcv3.ProcessingRequest_ResponseHeaders:
		v.kind, v.endOfStream = fieldResponseHeaders, r.ResponseHeaders.GetEndOfStream()
	case *extprocsvcv3.ProcessingRequest_RequestBody:
		v.kind, v.endOfStream, v.body = fieldRequestBody, r.RequestBody.GetEndOfStream(), r.RequestBody.GetBody()
	case *extprocsvcv3.ProcessingRequest_ResponseBody:
		v.kind, v.endOfStream, v.body = fieldResponseBody, r.ResponseBody.GetEndOfStream(), r.ResponseBody.GetBody()
	case *extprocsvcv3.ProcessingRequest_RequestTrailers:
		v.kind = fieldRequestTrailers
	case *extprocsvcv3.ProcessingRequest_ResponseTrailers:
		v.kind = fieldResponseTrailers
	}
	return v
}

// decodeWire runs the service's receive path on b: serverCodec into the empty message, then decode.
func decodeWire(b []byte) (messageView, error) {
	var m envoyMessage
	var list [24][2]string
	var rh RequestHeaders
	if err := newServerCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(slices.Clone(b))}, &m.raw); err != nil {
		return messageView{}, err
	}
	if err := m.decode(&rh, list[:]); err != nil {
		return messageView{}, err
	}
	v := messageView{kind: m.kind, endOfStream: m.endOfStream, body: m.body, bodyMode: m.bodyMode, metadata: m.metadata}
	if m.kind == fieldRequestHeaders {
		v.rh = rh
	}
	return v, nil
}

func sameView(a, b messageView) bool {
	return a.kind == b.kind && a.endOfStream == b.endOfStream && string(a.body) == string(b.body) &&
		a.bodyMode == b.bodyMode && proto.Equal(a.metadata, b.metadata) && a.rh.Method == b.rh.Method &&
		a.rh.Path == b.rh.Path && a.rh.Authority == b.rh.Authority && slices.Equal(a.rh.Headers, b.rh.Headers)
}

// checkAgainstProto: where proto.Unmarshal reads b as a ProcessingRequest, the service reads the same values;
// where it refuses b, so does the service, except for what the service skips unread (string fields' UTF-8 in
// attributes, flow_control_init and other messages it does not open).
func checkAgainstProto(t *testing.T, b []byte) {
	t.Helper()
	var pm extprocsvcv3.ProcessingRequest
	perr := proto.Unmarshal(b, &pm)
	got, err := decodeWire(b)
	switch {
	case perr == nil && err != nil:
		t.Fatalf("%x: proto reads it, the service refuses it: %v", b, err)
	case perr == nil:
		if want := viewOfProto(&pm); !sameView(got, want) {
			t.Fatalf("%x: service reads\n%+v\nproto reads\n%+v", b, got, want)
		}
	case err == nil:
		// proto refuses it, the service reads it: allowed only for what the service skips unread. Without those
		// fields proto must read it too.
		if r, ok := openedFields(b); ok {
			if rerr := proto.Unmarshal(r, new(extprocsvcv3.ProcessingRequest)); rerr != nil {
				t.Fatalf("%x: the service reads it; proto refuses even the fields the service opens (%x): %v", b, r, rerr)
			}
		}
	}
	// The codec's shortcut is proto.Unmarshal into an empty message: the same fields (proto writes each tag
	// again, in its shortest form; the codec keeps the bytes as they came).
	var e emptypb.Empty
	eerr := proto.Unmarshal(b, &e)
	var c emptypb.Empty
	cerr := newServerCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(slices.Clone(b))}, &c)
	if (eerr == nil) != (cerr == nil) || eerr == nil && !slices.Equal(fieldsOf(e.ProtoReflect().GetUnknown()), fieldsOf(c.ProtoReflect().GetUnknown())) {
		t.Fatalf("%x: codec %v, proto %v", b, cerr, eerr)
	}
}

// openedFields is b without what the service skips unread: top-level fields other than the request oneof's,
// metadata_context and protocol_config (attributes, unknown fields, known ones of another wire type); the oneof's
// occurrences before its last change of field (proto drops them); HttpHeaders' fields other than headers and
// end_of_stream. ok is false when b is not well-formed wire at its top level (the codec refuses it).
func openedFields(b []byte) (_ []byte, ok bool) {
	kind, start := protowire.Number(0), 0
	var fields []wireField
	for len(b) > 0 {
		num, typ, v, rest, err := nextField(b)
		if err != nil {
			return nil, false
		}
		b = rest
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case fieldRequestHeaders, fieldResponseHeaders, fieldRequestBody, fieldResponseBody, fieldRequestTrailers, fieldResponseTrailers:
			if num != kind {
				kind, start = num, len(fields)
			}
			if num == fieldRequestHeaders || num == fieldResponseHeaders {
				var hh []byte
				for len(v) > 0 {
					n, ty, fv, r, err := nextField(v)
					if err != nil {
						break // proto refuses the payload: kept whole below
					}
					if n == fieldHTTPHeadersMap && ty == protowire.BytesType {
						hh = protowire.AppendBytes(protowire.AppendTag(hh, n, ty), fv)
					} else if n == fieldHTTPHeadersEndOfStream && ty == protowire.VarintType {
						hh = append(protowire.AppendTag(hh, n, ty), fv...)
					}
					v = r
				}
				if len(v) == 0 {
					fields = append(fields, wireField{num, typ, string(hh)})
					continue
				}
			}
			fields = append(fields, wireField{num, typ, string(v)})
		case fieldMetadataContext, fieldProtocolConfig:
			fields = append(fields, wireField{num, typ, string(v)})
		}
	}
	var out []byte
	for i, f := range fields {
		if i < start && f.num != fieldMetadataContext && f.num != fieldProtocolConfig {
			continue
		}
		out = protowire.AppendString(protowire.AppendTag(out, f.num, f.typ), f.value)
	}
	return out, true
}

type wireField struct {
	num   protowire.Number
	typ   protowire.Type
	value string
}

func fieldsOf(b []byte) []wireField {
	var out []wireField
	for len(b) > 0 {
		num, typ, v, rest, err := nextField(b)
		if err != nil {
			panic(err)
		}
		out, b = append(out, wireField{num, typ, string(v)}), rest
	}
	return out
}

func marshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func requestCases(t testing.TB) [][]byte {
	ref := LoadRef(t)
	long := string(slices.Repeat([]byte("v"), 300)) // two-byte lengths
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte("POST")}, {Key: ":path", RawValue: []byte("/dev/x")},
		{Key: ":authority", Value: "old-style value"}, {Key: "x-both", Value: "v", RawValue: []byte("raw wins")},
		{Key: "x-long", RawValue: []byte(long)}, {Key: "x-empty"}, {Key: "x-utf8-é", Value: "ü"},
	}}
	md, _ := structpb.NewStruct(map[string]any{"claims": map[string]any{"sub": "u1"}})
	headers := &extprocsvcv3.ProcessingRequest{
		Request:         &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true}},
		MetadataContext: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": md}},
		ProtocolConfig:  &extprocsvcv3.ProtocolConfiguration{RequestBodyMode: extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED},
		Attributes:      map[string]*structpb.Struct{"x": md},
	}
	body := &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{Body: []byte(long), EndOfStream: true}}}
	cases := [][]byte{
		marshal(t, ref.Headers), marshal(t, ref.Body), marshal(t, ref.End), marshal(t, headers), marshal(t, body),
		marshal(t, &extprocsvcv3.ProcessingRequest{}),
		marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocsvcv3.HttpTrailers{Trailers: hm}}}),
		marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true}}}),
		marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvcv3.HttpBody{Body: []byte("r")}}}),
		marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocsvcv3.HttpTrailers{}}}),
		// proto's merge rules: the last of the oneof's fields wins; the same message field twice is merged
		// (headers appended, end_of_stream from the later); metadata and protocol_config merged.
		append(marshal(t, headers), marshal(t, body)...),
		append(marshal(t, body), marshal(t, headers)...),
		append(marshal(t, headers), marshal(t, headers)...),
		append(marshal(t, ref.Headers), marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{}}})...),
		append(marshal(t, body), marshal(t, ref.End)...),
		// A known field with another wire type is an unknown field to proto.
		protowire.AppendVarint(protowire.AppendTag(marshal(t, body), fieldRequestHeaders, protowire.VarintType), 1),
		protowire.AppendFixed32(protowire.AppendTag(nil, 99, protowire.Fixed32Type), 7),
		// raw_value is bytes: read whatever it holds, as proto does.
		marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "ok", RawValue: []byte{0xff}}}}}}}),
	}
	// Not UTF-8 in a header's key or value (strings in proto3): refused by both.
	bad := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "x"}}}
	badKey := marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: bad}}})
	cases = append(cases, replaceByte(badKey, 'x', 0xff))
	badValue := marshal(t, &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "k", Value: "y"}}}}}})
	cases = append(cases, replaceByte(badValue, 'y', 0xfe))
	// Field number 0 inside a header line (the value's tag 0x12 made 0x02): invalid wire, refused by both.
	field0 := slices.Clone(badValue)
	field0[len(field0)-3] = 0x02 // … 0x12 0x01 'y'
	cases = append(cases, field0)
	// Truncations of each: malformed wire, refused by both.
	for _, c := range cases[:5] {
		for n := range len(c) {
			cases = append(cases, c[:n])
		}
	}
	return append(cases, repeatedInvalidStrings()...)
}

// repeatedInvalidStrings are request_headers messages with a header line whose key, or value, is given twice, the
// first time not UTF-8: proto3 checks every occurrence of a string field, so proto.Unmarshal refuses them.
func repeatedInvalidStrings() [][]byte {
	line := func(fields ...[]byte) []byte {
		var hv []byte
		for _, f := range fields {
			hv = append(hv, f...)
		}
		hm := protowire.AppendBytes(protowire.AppendTag(nil, fieldHeaderMapHeaders, protowire.BytesType), hv)
		hh := protowire.AppendBytes(protowire.AppendTag(nil, fieldHTTPHeadersMap, protowire.BytesType), hm)
		return protowire.AppendBytes(protowire.AppendTag(nil, fieldRequestHeaders, protowire.BytesType), hh)
	}
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	return [][]byte{
		line(str(fieldHeaderKey, "\xff"), str(fieldHeaderKey, "k"), str(fieldHeaderRawValue, "v")),
		line(str(fieldHeaderKey, "k"), str(fieldHeaderValue, "\xfe"), str(fieldHeaderValue, "v")),
	}
}

func replaceByte(b []byte, old, new byte) []byte {
	b = slices.Clone(b)
	b[slices.Index(b, old)] = new
	return b
}

// TestDecodeMatchesProto: the service reads Envoy's messages as proto.Unmarshal does, including its merge rules,
// refusals and the old value field.
func TestDecodeMatchesProto(t *testing.T) {
	cases := requestCases(t)
	for _, b := range cases {
		checkAgainstProto(t, b)
	}
	// Not UTF-8 in a header's key or value (strings in proto3), and truncated wire: refused by both.
	ref := LoadRef(t)
	for _, b := range [][]byte{cases[18], cases[19], cases[20], marshal(t, ref.Headers)[:40]} {
		if _, err := decodeWire(b); err == nil {
			t.Errorf("%x: read, want refused", b)
		}
	}
}

func FuzzDecodeMatchesProto(f *testing.F) {
	for _, b := range requestCases(f) {
		f.Add(b)
	}
	f.Fuzz(checkAgainstProto)
}

// TestDecodeRefusesEveryInvalidString: proto3 checks each occurrence of a string field, not only the last one
// kept — a header line whose key (or value) is given twice, the first time not UTF-8, is refused by
// proto.Unmarshal and must be by the service.
func TestDecodeRefusesEveryInvalidString(t *testing.T) {
	for _, b := range repeatedInvalidStrings() {
		var pm extprocsvcv3.ProcessingRequest
		if err := proto.Unmarshal(b, &pm); err == nil {
			t.Fatalf("proto.Unmarshal reads %x; the case is wrong", b)
		}
		if _, err := decodeWire(b); err == nil {
			t.Errorf("%x read, want refused as proto.Unmarshal refuses it", b)
		}
	}
}

// BenchmarkRequestDecode is the measured reason for request.go: REF-EVENT's three messages (request_headers, the
// body chunk, the end_of_stream chunk) as gRPC's proto codec decoded them into generated messages (proto), and as
// the service receives and reads them now (wire: serverCodec's copy, then decode).
//
//	go test ./extproc -run '^$' -bench BenchmarkRequestDecode -benchmem
func BenchmarkRequestDecode(b *testing.B) {
	ref := LoadRef(b)
	var wire [][]byte
	for _, m := range ref.Messages() {
		wire = append(wire, marshal(b, m))
	}
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, w := range wire {
				var m extprocsvcv3.ProcessingRequest
				if err := proto.Unmarshal(w, &m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		codec := newServerCodec()
		slices := make([]mem.BufferSlice, len(wire))
		for i, w := range wire {
			slices[i] = mem.BufferSlice{mem.SliceBuffer(w)}
		}
		var m envoyMessage
		var list [24][2]string
		var rh RequestHeaders
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range slices {
				if err := codec.Unmarshal(s, &m.raw); err != nil {
					b.Fatal(err)
				}
				if err := m.decode(&rh, list[:]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
