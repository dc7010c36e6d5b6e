package extproc

import (
	"encoding/binary"
	"slices"
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

// appendImmediateWire appends ProcessingResponse{immediate_response: ImmediateResponse(r), dynamic_metadata:
// the marker} as proto.Marshal writes it. ok is false, and b returned unchanged, when r cannot be written so:
// proto.Marshal refuses a string field that is not UTF-8 (header names, details), and the service must then fail
// the same way as before (ImmediateResponse). The check is part of the sizing pass, which already looks at every
// name (a separate pass was ≈ 1k instructions per Lambda request, callgrind, Dec 2026).
//
// It writes in one pass over the headers (appendImmediateWireASCII) when every header name is ASCII — a function's
// always are: the output parser accepts only token names — and otherwise (rare) sizes everything first
// (appendImmediateWireGeneral).
func appendImmediateWire(b []byte, r *lambdaproxy.Response) (_ []byte, ok bool) {
	// Details is one of lambdaproxy's constants nearly always: compared first, it spares utf8.ValidString's ≈ 90
	// instructions (callgrind, Dec 2026).
	if r.Details != lambdaproxy.DetailsLambdaOK && !utf8.ValidString(r.Details) {
		return b, false
	}
	if out, ok := appendImmediateWireASCII(b, r); ok {
		return out, true
	}
	return appendImmediateWireGeneral(b, r)
}

// wireReserve is room for the answer's first tags and lengths (ProcessingResponse.immediate_response, the status
// and HeaderMutation's), which appendImmediateWireASCII writes last: 1+5, 1+1+1+10 and 1+5 bytes at most.
const wireReserve = 32

// appendImmediateWireASCII is appendImmediateWire for a response whose header names are all ASCII; ok is false, and
// what it wrote past len(b) is to be discarded, when one is not. Each line's sizes follow from the lengths of its
// name and value alone, so the lines are written as they are met, after room for the tags and lengths before them,
// which are written once the headers' size is known, and moved down with them. The names are lower-cased a word at
// a time where they are written, which also checks them. Sizing every line first into a table (and isASCII, and a
// byte loop for the names' tails) made appendImmediateWire ≈ 4.9k instructions per REF request, 3.3k now
// (callgrind, Dec 2026). The bytes are appendImmediateWireGeneral's (TestImmediateWireMatchesMarshal).
func appendImmediateWireASCII(b []byte, r *lambdaproxy.Response) (_ []byte, ok bool) {
	start := len(b)
	b = slices.Grow(b, wireReserve+len(processorMarkerWire))[:start+wireReserve]
	headers := len(b)
	// Bit n%64 is set once a name of n bytes was seen: only a name whose length has been seen is compared with
	// the earlier ones (as in appendImmediateWireGeneral).
	var lengths uint64
	for i, h := range r.Headers {
		name, value := h[0], h[1]
		app := false
		if bit := uint64(1) << (len(name) & 63); lengths&bit == 0 {
			lengths |= bit
		} else {
			for j := 0; j < i; j++ {
				if n := r.Headers[j][0]; len(n) == len(name) && equalLowerASCII(n, name) {
					app = true // a repeated name adds a line (EXT-9)
					break
				}
			}
		}
		if name != "" && value != "" && len(name)+len(value) < 100 {
			// The usual line, every length one byte: its tags and lengths stored a word at a time, not appended
			// one by one (≈ 0.5k of the ≈ 54k instructions per request for REF's nine lines; callgrind, Dec 2026).
			hv := 4 + len(name) + len(value) // HeaderValue: key and raw_value, tags and lengths
			opt := 1 + 1 + hv + 2            // HeaderValueOption: header, and append's tag and length
			if app {
				opt += 2
			}
			if cap(b)-len(b) < hv+12 { // the line (hv+8 bytes) and the word stores' overhang
				b = slices.Grow(b, hv+12)
			}
			n := len(b)
			binary.LittleEndian.PutUint64(b[n:n+8], uint64(fieldMutationSetHeaders<<3|protowire.BytesType)|uint64(opt)<<8|
				uint64(fieldOptionHeader<<3|protowire.BytesType)<<16|uint64(hv)<<24|
				uint64(fieldHeaderKey<<3|protowire.BytesType)<<32|uint64(len(name))<<40)
			b = append(b[:n+6], name...)
			if !lowerNameInPlace(b, len(name)) {
				return b, false
			}
			n = len(b)
			binary.LittleEndian.PutUint16(b[n:n+2], uint16(fieldHeaderRawValue<<3|protowire.BytesType)|uint16(len(value))<<8)
			b = append(b[:n+2], value...)
			n = len(b)
			if app {
				// append: BoolValue{value: true}
				binary.LittleEndian.PutUint32(b[n:n+4], uint32(fieldOptionAppend<<3|protowire.BytesType)|2<<8|
					uint32(fieldBoolValue<<3|protowire.VarintType)<<16|1<<24)
				b = b[:n+4]
			} else {
				// append: BoolValue{value: false}: present, empty
				binary.LittleEndian.PutUint16(b[n:n+2], uint16(fieldOptionAppend<<3|protowire.BytesType))
				b = b[:n+2]
			}
			continue
		}
		hv := headerValueSize(name, value)
		opt := 1 + sizeBytes(hv) + 2 // HeaderValueOption: header, and append's tag and length
		if app {
			opt += 2
		}
		b = appendTag(b, fieldMutationSetHeaders, protowire.BytesType)
		b = appendVarint(b, uint64(opt))
		b = appendTag(b, fieldOptionHeader, protowire.BytesType)
		b = appendVarint(b, uint64(hv))
		if name != "" {
			b = appendTag(b, fieldHeaderKey, protowire.BytesType)
			b = appendVarint(b, uint64(len(name)))
			b = append(b, name...)
			if !lowerNameInPlace(b, len(name)) {
				return b, false
			}
		}
		if value != "" {
			b = appendTag(b, fieldHeaderRawValue, protowire.BytesType)
			b = appendString(b, value)
		}
		b = appendTag(b, fieldOptionAppend, protowire.BytesType)
		if app {
			b = append(b, 2, byte(fieldBoolValue<<3|protowire.VarintType), 1) // BoolValue{value: true}
		} else {
			b = append(b, 0) // BoolValue{value: false}: present, empty
		}
	}
	mutation := len(b) - headers

	code, status, immediate := immediateSizes(r, mutation)
	var preArr [wireReserve]byte
	pre := appendImmediateHead(preArr[:0], code, status, immediate, mutation)
	// The tags and lengths go just before the headers, and the whole moves down to start.
	first := headers - len(pre)
	copy(b[first:], pre)
	b = b[:start+copy(b[start:], b[first:])]
	return appendImmediateTail(b, r), true
}

// appendImmediateWireGeneral is appendImmediateWire for any response (r.Details already checked): every line
// sized first, a non-ASCII name lower-cased by strings.ToLower.
func appendImmediateWireGeneral(b []byte, r *lambdaproxy.Response) (_ []byte, ok bool) {
	// One line per header: its name as sent, lower-case (Envoy's header map is; an ASCII name is lower-cased as
	// it is written, a non-ASCII one, rare, by strings.ToLower here, so lengths are those of the names as
	// written), whether it repeats an earlier name (then it is appended, EXT-9), and its option's size.
	var lineArr [16]wireLine
	lines := lineArr[:0]
	if len(r.Headers) > len(lineArr) {
		lines = make([]wireLine, 0, len(r.Headers))
	}
	mutation := 0
	// Bit n%64 is set once a name of n bytes was seen: only a name whose length has been seen is compared with
	// the earlier ones (for REF-OUTPUT's nine lines the comparisons were ≈ 0.6k of BenchmarkLambdaServe's ≈ 48k
	// instructions per request; callgrind, Dec 2026).
	var lengths uint64
	for i, h := range r.Headers {
		n := h[0]
		if !isASCII(n) {
			if !utf8.ValidString(n) {
				return b, false
			}
			n = strings.ToLower(n)
		}
		app := false
		if bit := uint64(1) << (len(n) & 63); lengths&bit == 0 {
			lengths |= bit
		} else {
			for j := 0; j < i; j++ {
				if len(lines[j].name) == len(n) && equalLowerASCII(lines[j].name, n) {
					app = true
					break
				}
			}
		}
		hv := headerValueSize(n, h[1])
		opt := protowire.SizeTag(fieldOptionHeader) + protowire.SizeBytes(hv) + protowire.SizeTag(fieldOptionAppend) + 1
		if app {
			opt += 2
		}
		lines = append(lines, wireLine{name: n, hv: hv, opt: opt, app: app})
		mutation += protowire.SizeTag(fieldMutationSetHeaders) + protowire.SizeBytes(opt)
	}

	// The status's and the immediate response's sizes.
	code, status, immediate := immediateSizes(r, mutation)

	b = slices.Grow(b, protowire.SizeTag(fieldProcessingImmediate)+protowire.SizeBytes(immediate)+len(processorMarkerWire))
	b = appendImmediateHead(b, code, status, immediate, mutation)
	for i, h := range r.Headers {
		l := &lines[i]
		name, value := l.name, h[1]
		b = appendTag(b, fieldMutationSetHeaders, protowire.BytesType)
		b = appendVarint(b, uint64(l.opt))
		b = appendTag(b, fieldOptionHeader, protowire.BytesType)
		b = appendVarint(b, uint64(l.hv))
		if name != "" {
			b = appendTag(b, fieldHeaderKey, protowire.BytesType)
			b = appendVarint(b, uint64(len(name)))
			b = appendLowerASCIIInPlace(b, name)
		}
		if value != "" {
			b = appendTag(b, fieldHeaderRawValue, protowire.BytesType)
			b = appendString(b, value)
		}
		b = appendTag(b, fieldOptionAppend, protowire.BytesType)
		if l.app {
			b = append(b, 2) // BoolValue{value: true}
			b = appendTag(b, fieldBoolValue, protowire.VarintType)
			b = append(b, 1)
		} else {
			b = append(b, 0) // BoolValue{value: false}: present, empty
		}
	}
	return appendImmediateTail(b, r), true
}

// lowerNameInPlace lower-cases the name of n > 0 bytes that ends b, a word at a time, and reports whether it is
// ASCII (when not, what it wrote is to be discarded). b has at least 8 bytes when a name ends it (appendImmediateWireASCII's
// wireReserve is before the first), so the name's last word is read from b whole — overlapping the word
// before, or the bytes before the name, which are masked off (a byte ≥ 0x80 there would carry into the name's
// bytes) and left as they are. (Two words without the loop for names up to 16 bytes saved ≈ 6 instructions a
// name: not kept.)
func lowerNameInPlace(b []byte, n int) bool {
	const ones = 0x0101010101010101
	end := len(b)
	if end < 8 {
		return false // not reached (see above); appendImmediateWireGeneral then writes the answer
	}
	var high uint64
	i := end - n
	for ; i+8 < end; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		high |= w
		binary.LittleEndian.PutUint64(b[i:], lowerASCIIWord(w))
	}
	w := binary.LittleEndian.Uint64(b[end-8:])
	name := w
	if n < 8 {
		name &^= 1<<(8*(8-n)) - 1
	}
	high |= name
	if high&(ones*0x80) != 0 {
		return false
	}
	// lowerASCIIWord's upper-case bits of the name's bytes alone (the masked bytes are 0, not letters).
	upper := (name + ones*(0x80-'A')) &^ (name + ones*(0x80-'Z'-1)) & (ones * 0x80)
	binary.LittleEndian.PutUint64(b[end-8:], w|upper>>2)
	return true
}

// wireLine is one header line of appendImmediateWireGeneral: the name as sent (before ASCII lower-casing), the sizes of
// its HeaderValue and HeaderValueOption, and whether it is appended.
type wireLine struct {
	name    string
	hv, opt int
	app     bool
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

// The appends of protowire with the short cases inline: appendImmediateWire and appendLogMetadataWire write ≈ 100
// tags and lengths per answer, nearly all of one byte, and protowire.AppendVarint (not inlined, a case per length)
// was 4.3% of BenchmarkLambdaServe's CPU (Dec 2026). The bytes are the same (TestImmediateWireMatchesMarshal).
func appendVarint(b []byte, v uint64) []byte {
	if v < 1<<7 {
		return append(b, byte(v))
	}
	return appendVarintSlow(b, v)
}

// appendVarintSlow stays out of line so that appendVarint, its one-byte case, is inlined.
//
//go:noinline
func appendVarintSlow(b []byte, v uint64) []byte {
	if v < 1<<14 {
		return append(b, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(b, v)
}

// appendTag appends the tag of a field numbered below 16, one byte: every field this file and logmeta.go write.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return append(b, byte(num&15)<<3|byte(typ&7))
}

func appendString(b []byte, s string) []byte {
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, v []byte) []byte {
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendLowerASCIIInPlace is appendLowerASCII as one copy, then lower-casing the copy where it is, eight ASCII
// bytes at a time: byte by byte it was ≈ 0.9k of BenchmarkLambdaServe's ≈ 49k instructions per request
// (callgrind, Dec 2026).
func appendLowerASCIIInPlace(b []byte, s string) []byte {
	n := len(b)
	b = append(b, s...)
	t := b[n:]
	i := 0
	for ; i+8 <= len(t); i += 8 {
		w := binary.LittleEndian.Uint64(t[i:])
		if w&0x8080808080808080 != 0 {
			break // a non-ASCII byte: the rest byte by byte
		}
		binary.LittleEndian.PutUint64(t[i:], lowerASCIIWord(w))
	}
	for ; i < len(t); i++ {
		if c := t[i]; 'A' <= c && c <= 'Z' {
			t[i] = c + 'a' - 'A'
		}
	}
	return b
}

// lowerASCIIWord lower-cases the eight ASCII bytes of w (every byte < 0x80, so no sum below carries into the next
// byte): a byte's high bit after adding 0x80-'A' says it is ≥ 'A', after adding 0x80-'Z'-1 that it is > 'Z'; an
// upper-case letter gets 0x20 added.
func lowerASCIIWord(w uint64) uint64 {
	const ones = 0x0101010101010101
	geA := w + ones*(0x80-'A')
	gtZ := w + ones*(0x80-'Z'-1)
	upper := geA &^ gtZ & (ones * 0x80)
	return w | upper>>2
}

func headerValueSize(name, value string) int {
	n := 0
	if name != "" {
		n += 1 + sizeBytes(len(name)) // the tags of HeaderValue's fields take one byte
	}
	if value != "" {
		n += 1 + sizeBytes(len(value))
	}
	return n
}

// sizeBytes is protowire.SizeBytes with the one-byte length inline.
func sizeBytes(n int) int {
	if n < 1<<7 {
		return 1 + n
	}
	return protowire.SizeBytes(n)
}

// immediateSizes are the status code as written (an enum: int32, sign-extended), the HttpStatus's size and the
// ImmediateResponse's, for r with a header mutation of mutation bytes.
func immediateSizes(r *lambdaproxy.Response, mutation int) (code uint64, status, immediate int) {
	code = uint64(int64(int32(r.StatusCode)))
	if code != 0 {
		status = protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(code)
	}
	immediate = protowire.SizeTag(fieldImmediateStatus) + protowire.SizeBytes(status) +
		protowire.SizeTag(fieldImmediateHeaders) + protowire.SizeBytes(mutation)
	if len(r.Body) > 0 {
		immediate += protowire.SizeTag(fieldImmediateBody) + protowire.SizeBytes(len(r.Body))
	}
	if r.Details != "" {
		immediate += protowire.SizeTag(fieldImmediateDetails) + protowire.SizeBytes(len(r.Details))
	}
	return code, status, immediate
}

// appendImmediateHead appends the tags and lengths before the header lines: the immediate response's, the
// status with its code, and the header mutation's.
func appendImmediateHead(b []byte, code uint64, status, immediate, mutation int) []byte {
	b = appendTag(b, fieldProcessingImmediate, protowire.BytesType)
	b = appendVarint(b, uint64(immediate))
	b = appendTag(b, fieldImmediateStatus, protowire.BytesType)
	b = appendVarint(b, uint64(status))
	if code != 0 {
		b = appendTag(b, fieldStatusCode, protowire.VarintType)
		b = appendVarint(b, code)
	}
	b = appendTag(b, fieldImmediateHeaders, protowire.BytesType)
	return appendVarint(b, uint64(mutation))
}

// appendImmediateTail appends what follows the header lines: body, details and the processor's marker.
func appendImmediateTail(b []byte, r *lambdaproxy.Response) []byte {
	if len(r.Body) > 0 {
		b = appendTag(b, fieldImmediateBody, protowire.BytesType)
		b = appendBytes(b, r.Body)
	}
	if r.Details != "" {
		b = appendTag(b, fieldImmediateDetails, protowire.BytesType)
		b = appendString(b, r.Details)
	}
	return append(b, processorMarkerWire...)
}
