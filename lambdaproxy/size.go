package lambdaproxy

import (
	"encoding/base64"
	"math/bits"
	"unicode/utf8"
	"unsafe"

	"github.com/proxyplus/proxyplus/ir"
)

// MinEventSize is a lower bound of len(AppendEvent(nil, route, req, c)) computed in one pass over the body and
// without building anything: the body exactly as AppendEvent writes it (base64 for a binary media type, else a
// JSON string whose control characters take up to 6 bytes each — a NUL byte is written \u0000), plus the path,
// which the event carries twice. The processor compares it with Lambda's invoke limit before it builds the event,
// so a body that would make a 6× larger event is refused without the memory for it (issue 10 scope 3).
func MinEventSize(route *ir.ProcessorRoute, req *Request) int {
	n := 2 * len(req.Path)
	if len(req.Body) == 0 {
		return n
	}
	if ct, ok := lastContentType(req.Headers); ok && matchesBinaryMediaType(ct, route.BinaryMediaTypes) {
		return n + base64.StdEncoding.EncodedLen(len(req.Body))
	}
	return n + evStringBodyLen(unsafe.String(unsafe.SliceData(req.Body), len(req.Body)))
}

// lastContentType is the Content-Type AppendEvent decides on: the last line of that name, as collectHeaders
// keeps it (a Content-Type line is never dropped, EVT-8).
func lastContentType(hs [][2]string) (string, bool) {
	v, ok := "", false
	for _, h := range hs {
		if evEqualFold(h[0], "content-type") {
			v, ok = h[1], true
		}
	}
	return v, ok
}

// evStringBodyLen is len(evAppendStringBody(nil, s)), counted without writing.
func evStringBodyLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			m := evSpecialMask(evLoad8(s, i))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if !evPlainByte[c] {
				switch c {
				case '"', '\\', '\n', '\r', '\t', '\b', '\f':
					n++ // two bytes for one
				default:
					n += 5 // \u00XX: six bytes for one
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 2 // U+FFFD: three bytes for one
		}
		i += size
	}
	return n
}
