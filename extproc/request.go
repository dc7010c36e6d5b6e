package extproc

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Envoy's messages in wire form. gRPC's codec decoding a ProcessingRequest into generated messages cost 4.4 µs and
// 52 allocations for REF-EVENT's request_headers (a HeaderValue message, its key and its raw_value apiece) and ≈ 1
// µs and 7 for the two body messages — as much as a third of the processor's whole work per Lambda request, on the
// path of the answer. BenchmarkRequestDecode (REF-EVENT's three messages): 5.9 µs and 59 allocations decoded into
// generated messages, 1.3–1.6 µs and 3 (one copy per message) received and read here (Dec 2026). The service reads a
// handful of fields, so it receives each message as the unknown fields of an empty message (gRPC's proto codec
// copies the bytes once; any server options) and reads those fields here with protowire, in one pass, viewing header
// values and body as the copy's bytes. It is the mirror of the answers' wire form (wire.go). Everything else in the
// message is checked to be well-formed wire at the top level only and skipped unopened: unlike proto.Unmarshal, the
// service accepts malformed or non-UTF-8 contents in attributes (ProcessingRequest's and HttpHeaders'), in a oneof
// payload a later oneof field replaced, and in unknown fields (Envoy writes none such; proxyplus configures no
// request_attributes).

// Field numbers (envoy/service/ext_proc/v3/external_processor.proto, envoy/config/core/v3/base.proto).
const (
	fieldRequestHeaders   = 2  // ProcessingRequest.request_headers (HttpHeaders)
	fieldResponseHeaders  = 3  // ProcessingRequest.response_headers (HttpHeaders)
	fieldRequestBody      = 4  // ProcessingRequest.request_body (HttpBody)
	fieldResponseBody     = 5  // ProcessingRequest.response_body (HttpBody)
	fieldRequestTrailers  = 6  // ProcessingRequest.request_trailers (HttpTrailers)
	fieldResponseTrailers = 7  // ProcessingRequest.response_trailers (HttpTrailers)
	fieldMetadataContext  = 8  // ProcessingRequest.metadata_context (Metadata)
	fieldProtocolConfig   = 11 // ProcessingRequest.protocol_config (ProtocolConfiguration)

	fieldHTTPHeadersMap         = 1 // HttpHeaders.headers (HeaderMap); HttpTrailers.trailers likewise
	fieldHTTPHeadersEndOfStream = 3 // HttpHeaders.end_of_stream
	fieldHTTPBodyBody           = 1 // HttpBody.body
	fieldHTTPBodyEndOfStream    = 2 // HttpBody.end_of_stream
	fieldHeaderMapHeaders       = 1 // HeaderMap.headers (HeaderValue)
	fieldHeaderValue            = 2 // HeaderValue.value (fieldHeaderKey, fieldHeaderRawValue: wire.go)
	fieldProtocolRequestBody    = 1 // ProtocolConfiguration.request_body_mode
)

// envoyMessage is one ProcessingRequest as the service reads it.
type envoyMessage struct {
	// raw is the message as gRPC received it: all of it unknown fields, in bytes of its own.
	raw emptypb.Empty
	// kind is the request oneof's field number (fieldRequestHeaders …), 0 when none was set.
	kind protowire.Number
	// payload is that field's message; a second occurrence of the same field is appended to it, which is how
	// protobuf merges it.
	payload     []byte
	endOfStream bool
	body        []byte // request_body, response_body
	bodyMode    extprocfilterv3.ProcessingMode_BodySendMode
	metadata    *corev3.Metadata // metadata_context; nil when absent
}

var (
	errInvalidUTF8 = errors.New("string field contains invalid UTF-8")
	errFieldNumber = errors.New("invalid field number")
)

// decode reads the message in m.raw. The headers of a request_headers message are added to rh (reset first), as
// Envoy's header map: each value is raw_value, or value when raw_value is empty (envoy-notes EXT-4), viewed as
// the received bytes, which nothing writes. It follows proto.Unmarshal: the last of the request oneof's fields
// wins, a message field repeated is merged, a field with an unexpected wire type is skipped as unknown, and a
// string field (HeaderValue key and value) that is not UTF-8 is an error, as in proto3.
func (m *envoyMessage) decode(rh *RequestHeaders, list [][2]string) error {
	m.kind, m.payload, m.endOfStream, m.body, m.bodyMode, m.metadata = 0, nil, false, nil, 0, nil
	b := m.raw.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, v, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case fieldRequestHeaders, fieldResponseHeaders, fieldRequestBody, fieldResponseBody, fieldRequestTrailers, fieldResponseTrailers:
			if num == m.kind {
				m.payload = append(m.payload[:len(m.payload):len(m.payload)], v...)
			} else {
				m.kind, m.payload = num, v
			}
		case fieldMetadataContext:
			if m.metadata == nil {
				m.metadata = &corev3.Metadata{}
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, m.metadata); err != nil {
				return fmt.Errorf("metadata_context: %w", err)
			}
		case fieldProtocolConfig:
			if err := m.protocolConfig(v); err != nil {
				return fmt.Errorf("protocol_config: %w", err)
			}
		}
	}
	switch m.kind {
	case fieldRequestHeaders, fieldResponseHeaders:
		if m.kind == fieldRequestHeaders {
			*rh = RequestHeaders{Headers: list[:0]}
		} else {
			rh = nil
		}
		if err := m.httpHeaders(rh); err != nil {
			return fmt.Errorf("headers: %w", err)
		}
		if rh != nil {
			rh.scanKnown()
		}
	case fieldRequestBody, fieldResponseBody:
		if err := m.httpBody(); err != nil {
			return fmt.Errorf("body: %w", err)
		}
	case fieldRequestTrailers, fieldResponseTrailers:
		// HttpTrailers: the trailers map only, read by no one (API Gateway's event has no trailers).
		if err := forEachField(m.payload, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num == fieldHTTPHeadersMap && typ == protowire.BytesType {
				return headerMap(v, nil)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("trailers: %w", err)
		}
	}
	return nil
}

// httpHeaders reads HttpHeaders: its header map into rh (when not nil) and end_of_stream.
func (m *envoyMessage) httpHeaders(rh *RequestHeaders) error {
	return forEachField(m.payload, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldHTTPHeadersMap && typ == protowire.BytesType:
			return headerMap(v, rh)
		case num == fieldHTTPHeadersEndOfStream && typ == protowire.VarintType:
			m.endOfStream = varintBool(v)
		}
		return nil
	})
}

// httpBody reads HttpBody: body and end_of_stream.
func (m *envoyMessage) httpBody() error {
	return forEachField(m.payload, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldHTTPBodyBody && typ == protowire.BytesType:
			m.body = v
		case num == fieldHTTPBodyEndOfStream && typ == protowire.VarintType:
			m.endOfStream = varintBool(v)
		}
		return nil
	})
}

// protocolConfig reads ProtocolConfiguration's request_body_mode.
func (m *envoyMessage) protocolConfig(b []byte) error {
	return forEachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == fieldProtocolRequestBody && typ == protowire.VarintType {
			x, _ := protowire.ConsumeVarint(v)
			m.bodyMode = extprocfilterv3.ProcessingMode_BodySendMode(int32(x))
		}
		return nil
	})
}

// headerMap reads a HeaderMap's lines into rh, or only checks them when rh is nil. Written without forEachField's
// callbacks, with the one-byte tags and short lengths Envoy writes read inline: the header lines are most of
// Envoy's messages, and through callbacks they cost ≈ 880 instructions a line (callgrind, Dec 2026).
func headerMap(b []byte, rh *RequestHeaders) error {
	for len(b) > 0 {
		num, typ, v, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if num != fieldHeaderMapHeaders || typ != protowire.BytesType {
			continue
		}
		var key, value, raw []byte
		for len(v) > 0 {
			var num protowire.Number
			var f []byte
			if len(v) >= 2 && v[0]-0x08 < 0x78 && v[0]&7 == byte(protowire.BytesType) && v[1] < 0x80 && int(v[1]) <= len(v)-2 {
				// nextField's fast case, inline.
				n := int(v[1])
				num, f, v = protowire.Number(v[0]>>3), v[2:2+n], v[2+n:]
			} else {
				n, typ, fv, rest, err := nextFieldSlow(v)
				if err != nil {
					return err
				}
				v = rest
				if typ != protowire.BytesType {
					continue
				}
				num, f = n, fv
			}
			// key and value are proto3 strings: proto.Unmarshal checks every occurrence, not only the last kept.
			switch num {
			case fieldHeaderKey:
				key = f
			case fieldHeaderValue:
				value = f
			case fieldHeaderRawValue:
				raw = f
				continue
			default:
				continue
			}
			if !isASCII(bytesString(f)) && !utf8.Valid(f) {
				return errInvalidUTF8
			}
		}
		if rh != nil {
			if len(raw) == 0 {
				raw = value
			}
			rh.add(bytesString(key), bytesString(raw))
		}
	}
	return nil
}

// nextField splits the first field off the message b: its number, wire type and value (a length-delimited
// field's contents, or the bytes of any other value), and what follows it. A length-delimited field with a
// one-byte tag (fields 1 to 15: b[0]-0x08 < 0x78) and a length below 128 — most fields of Envoy's header lines —
// is read inline.
func nextField(b []byte) (protowire.Number, protowire.Type, []byte, []byte, error) {
	if len(b) >= 2 && b[0]-0x08 < 0x78 && b[0]&7 == byte(protowire.BytesType) && b[1] < 0x80 && int(b[1]) <= len(b)-2 {
		n := int(b[1])
		return protowire.Number(b[0] >> 3), protowire.BytesType, b[2 : 2+n], b[2+n:], nil
	}
	return nextFieldSlow(b)
}

// nextFieldSlow is nextField for any field.
func nextFieldSlow(b []byte) (protowire.Number, protowire.Type, []byte, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, nil, protowire.ParseError(n)
	}
	if num > protowire.MaxValidNumber {
		return 0, 0, nil, nil, errFieldNumber
	}
	b = b[n:]
	var v []byte
	if typ == protowire.BytesType {
		v, n = protowire.ConsumeBytes(b)
	} else if n = protowire.ConsumeFieldValue(num, typ, b); n >= 0 {
		v = b[:n]
	}
	if n < 0 {
		return 0, 0, nil, nil, protowire.ParseError(n)
	}
	return num, typ, v, b[n:], nil
}

// forEachField calls f with each field of the message b: its number, wire type and value — a length-delimited
// field's contents, or the bytes of any other value.
func forEachField(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, v, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if err := f(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// varintBool is a bool field's value as proto decodes it: any non-zero varint is true.
func varintBool(v []byte) bool {
	x, _ := protowire.ConsumeVarint(v)
	return x != 0
}

// bytesString views b as a string without a copy; b must never be written afterwards (the received message's
// bytes are not).
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
