package extproc

import (
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// The Lambda answer in wire form. ImmediateResponse builds a client response as messages (status, a header
// mutation with one HeaderValueOption, HeaderValue and BoolValue per line, the marker), which gRPC's codec then
// walks twice (size, then marshal). appendImmediateWire writes the bytes proto.Marshal produces for the same
// ProcessingResponse, field for field and in the same order (TestImmediateWireMatchesMarshal), in one pass over
// the headers into a recycled buffer. The service sends them as the unknown fields of an empty ProcessingResponse,
// which the codec copies as they are; Envoy decodes them as the fields they are (immediate_response 7,
// dynamic_metadata 8). What Envoy receives is unchanged, byte for byte.

// Field numbers (envoy/service/ext_proc/v3/external_processor.proto, envoy/config/core/v3/base.proto,
// envoy/type/v3/http_status.proto, google/protobuf/wrappers.proto).
const (
	fieldProcessingImmediate = 7 // ProcessingResponse.immediate_response
	fieldImmediateStatus     = 1 // ImmediateResponse.status (HttpStatus)
	fieldImmediateHeaders    = 2 // ImmediateResponse.headers (HeaderMutation)
	fieldImmediateBody       = 3 // ImmediateResponse.body
	fieldImmediateDetails    = 5 // ImmediateResponse.details
	fieldStatusCode          = 1 // HttpStatus.code
	fieldMutationSetHeaders  = 1 // HeaderMutation.set_headers
	fieldOptionHeader        = 1 // HeaderValueOption.header
	fieldOptionAppend        = 2 // HeaderValueOption.append (BoolValue)
	fieldHeaderKey           = 1 // HeaderValue.key
	fieldHeaderRawValue      = 3 // HeaderValue.raw_value
	fieldBoolValue           = 1 // BoolValue.value
)

// wireBuffers recycles the answers' wire bytes: gRPC has copied them once Send returns.
var wireBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledWire keeps a huge answer's buffer out of the pool.
const maxPooledWire = 64 << 10

// immediateWireOK reports whether appendImmediateWire can encode r: proto.Marshal refuses a string field that is
// not UTF-8 (header names, details), and the service must then fail the same way as before (ImmediateResponse).
func immediateWireOK(r *lambdaproxy.Response) bool {
	if !utf8.ValidString(r.Details) {
		return false
	}
	for _, h := range r.Headers {
		if !utf8.ValidString(h[0]) {
			return false
		}
	}
	return true
}

// appendImmediateWire appends ProcessingResponse{immediate_response: ImmediateResponse(r), dynamic_metadata:
// the marker} as proto.Marshal writes it. r must pass immediateWireOK.
func appendImmediateWire(b []byte, r *lambdaproxy.Response) []byte {
	// Header names as sent: lower-case (Envoy's header map is). An ASCII name is lower-cased as it is written, a
	// non-ASCII one (rare) by strings.ToLower here; either way the lengths are those of the names as written.
	var nameArr [16]string
	names := nameArr[:0]
	if len(r.Headers) > len(nameArr) {
		names = make([]string, 0, len(r.Headers))
	}
	for _, h := range r.Headers {
		n := h[0]
		if !isASCII(n) {
			n = strings.ToLower(n)
		}
		names = append(names, n)
	}

	// Sizes, innermost first.
	mutation := 0
	for i, h := range r.Headers {
		opt := optionSize(names[i], h[1], repeated(names, i))
		mutation += protowire.SizeTag(fieldMutationSetHeaders) + protowire.SizeBytes(opt)
	}
	code := uint64(int64(int32(r.StatusCode))) // an enum: int32, sign-extended
	status := 0
	if code != 0 {
		status = protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(code)
	}
	immediate := protowire.SizeTag(fieldImmediateStatus) + protowire.SizeBytes(status) +
		protowire.SizeTag(fieldImmediateHeaders) + protowire.SizeBytes(mutation)
	if len(r.Body) > 0 {
		immediate += protowire.SizeTag(fieldImmediateBody) + protowire.SizeBytes(len(r.Body))
	}
	if r.Details != "" {
		immediate += protowire.SizeTag(fieldImmediateDetails) + protowire.SizeBytes(len(r.Details))
	}

	b = protowire.AppendTag(b, fieldProcessingImmediate, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(immediate))
	b = protowire.AppendTag(b, fieldImmediateStatus, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(status))
	if code != 0 {
		b = protowire.AppendTag(b, fieldStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, code)
	}
	b = protowire.AppendTag(b, fieldImmediateHeaders, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(mutation))
	for i, h := range r.Headers {
		name, value, app := names[i], h[1], repeated(names, i)
		b = protowire.AppendTag(b, fieldMutationSetHeaders, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(optionSize(name, value, app)))
		b = protowire.AppendTag(b, fieldOptionHeader, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(headerValueSize(name, value)))
		if name != "" {
			b = protowire.AppendTag(b, fieldHeaderKey, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(len(name)))
			b = appendLowerASCII(b, name)
		}
		if value != "" {
			b = protowire.AppendTag(b, fieldHeaderRawValue, protowire.BytesType)
			b = protowire.AppendString(b, value)
		}
		b = protowire.AppendTag(b, fieldOptionAppend, protowire.BytesType)
		if app {
			b = append(b, 2) // BoolValue{value: true}
			b = protowire.AppendTag(b, fieldBoolValue, protowire.VarintType)
			b = append(b, 1)
		} else {
			b = append(b, 0) // BoolValue{value: false}: present, empty
		}
	}
	if len(r.Body) > 0 {
		b = protowire.AppendTag(b, fieldImmediateBody, protowire.BytesType)
		b = protowire.AppendBytes(b, r.Body)
	}
	if r.Details != "" {
		b = protowire.AppendTag(b, fieldImmediateDetails, protowire.BytesType)
		b = protowire.AppendString(b, r.Details)
	}
	return append(b, processorMarkerWire...)
}

// repeated reports whether names[i] was already set by an earlier line, lower-cased names compared: then the
// line is appended (EXT-9).
func repeated(names []string, i int) bool {
	for j := 0; j < i; j++ {
		if equalLowerASCII(names[j], names[i]) {
			return true
		}
	}
	return false
}

// equalLowerASCII reports whether a and b are equal once ASCII upper-case letters are lower-cased.
func equalLowerASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y && lowerASCII(x) != lowerASCII(y) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func headerValueSize(name, value string) int {
	n := 0
	if name != "" {
		n += protowire.SizeTag(fieldHeaderKey) + protowire.SizeBytes(len(name))
	}
	if value != "" {
		n += protowire.SizeTag(fieldHeaderRawValue) + protowire.SizeBytes(len(value))
	}
	return n
}

func optionSize(name, value string, app bool) int {
	n := protowire.SizeTag(fieldOptionHeader) + protowire.SizeBytes(headerValueSize(name, value)) +
		protowire.SizeTag(fieldOptionAppend)
	if app {
		return n + 1 + 2
	}
	return n + 1
}
