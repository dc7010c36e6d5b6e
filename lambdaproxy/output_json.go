package lambdaproxy

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON scanning for the output parser: strings, numbers and literals read in place, with the escape and header
// validity tables they need.

func (p *outputParser) text(s outSpan) []byte { return p.arena[s.off:s.end] }

// appendText copies a string's contents (unescaped) or a literal's text into the arena.
func (p *outputParser) appendText(raw []byte, escaped bool) outSpan {
	off := len(p.arena)
	if escaped {
		p.arena = outAppendUnescaped(p.arena, raw)
	} else {
		p.arena = append(p.arena, raw...)
	}
	return outSpan{off, len(p.arena)}
}

// outAppendString reads the JSON string at in[i] (its opening quote), appends its contents unescaped to dst, and
// returns the index after its closing quote; ok is false exactly where scanString fails (an invalid escape, a
// control character, no closing quote), and the contents are those of outAppendUnescaped. It is scanString and
// outAppendUnescaped in one pass: plain bytes are copied a word at a time, the whole word appended and cut back
// before its first special byte. A function output is mostly string bytes and its body often escape-dense (a
// JSON body's quotes): scanning, then copying or unescaping, was ≈ 9k of the ≈ 64k instructions of
// BenchmarkLambdaServe's request (callgrind, Dec 2026).
func outAppendString(dst, in []byte, i int) (out []byte, next int, ok bool) {
	if i >= len(in) || in[i] != '"' {
		return dst, i, false
	}
	i++
	for {
		if i+8 <= len(in) {
			w := binary.LittleEndian.Uint64(in[i:])
			m := outStringMask(w)
			d := len(dst)
			dst = binary.LittleEndian.AppendUint64(dst, w)
			if m == 0 {
				i += 8
				continue
			}
			k := bits.TrailingZeros64(m) >> 3
			dst = dst[:d+k]
			i += k
		}
		if i >= len(in) {
			return dst, i, false
		}
		switch c := in[i]; {
		case c == '"':
			return dst, i + 1, true
		case c < 0x20:
			return dst, i, false // a control character
		case c != '\\':
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(in) {
			return dst, i, false
		}
		// The two-byte escapes from a table (a JSON body's \" nearly all of them): the switch's comparisons were
		// ≈ 0.1k of BenchmarkLambdaServe's ≈ 46.6k instructions per request (REF-OUTPUT's body has 28; callgrind,
		// Dec 2026).
		e := in[i+1]
		if d := outShortUnescape[e]; d != 0 {
			dst = append(dst, d)
			i += 2
			continue
		}
		switch e {
		case 'u':
			if i+6 > len(in) {
				return dst, i, false
			}
			r := outHex4(in[i+2 : i+6])
			if r < 0 {
				return dst, i, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// An invalid second escape is not taken here, and fails as the next one.
				r, i = outSurrogatePair(in, i, r)
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, i, false
		}
	}
}

// outShortUnescape is the byte a two-byte escape's second byte stands for, 0 for the others.
var outShortUnescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// outStringMask has the high bit set of each byte of x (little-endian) that ends a JSON string's plain run — '"',
// '\\' or a byte below 0x20 — and maybe of some bytes above the first: as in evSpecialMask, a borrow runs only
// upwards from a flagged byte, so the lowest bit set is exact, and the mask is zero exactly when no byte is
// flagged. Bytes from 0x80 are plain (UTF-8 is passed through).
func outStringMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	control := (x - ones*0x20) &^ x
	quote = (quote - ones) &^ quote
	backslash = (backslash - ones) &^ backslash
	return (control | quote | backslash) & highs
}

func (p *outputParser) appendLiteral(s string) outSpan {
	off := len(p.arena)
	p.arena = append(p.arena, s...)
	return outSpan{off, len(p.arena)}
}

// skipWS steps over JSON whitespace. Every byte above ' ' ends it at one comparison rather than the four-case
// switch (≈ 0.1k of BenchmarkLambdaServe's ≈ 46.8k instructions per request; callgrind, Dec 2026).
func (p *outputParser) skipWS() {
	for p.pos < len(p.in) && p.in[p.pos] <= ' ' {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// colon steps over whitespace, a ':' and whitespace; false (p at the byte found) without the ':'. separator steps
// over whitespace, the byte after it (returned; 0 at the end) and, after a ',', whitespace again. The steps of
// skipWS, consume and next in one, with the position in a register: the parser's ≈ 40 whitespace skips of
// REF-OUTPUT were ≈ 0.6k of the ≈ 8.8k instructions of converting it (callgrind, Dec 2026).
func (p *outputParser) colon() bool {
	in, i := p.in, p.pos
	for i < len(in) && in[i] <= ' ' && outIsWS(in[i]) {
		i++
	}
	if i >= len(in) || in[i] != ':' {
		p.pos = i
		return false
	}
	i++
	for i < len(in) && in[i] <= ' ' && outIsWS(in[i]) {
		i++
	}
	p.pos = i
	return true
}

func (p *outputParser) separator() byte {
	in, i := p.in, p.pos
	for i < len(in) && in[i] <= ' ' && outIsWS(in[i]) {
		i++
	}
	if i >= len(in) {
		p.pos = i
		return 0
	}
	c := in[i]
	i++
	if c == ',' {
		for i < len(in) && in[i] <= ' ' && outIsWS(in[i]) {
			i++
		}
	}
	p.pos = i
	return c
}

func outIsWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *outputParser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

func (p *outputParser) consume(c byte) bool {
	if p.pos < len(p.in) && p.in[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *outputParser) atEnd() bool {
	p.skipWS()
	return p.pos == len(p.in)
}

func (p *outputParser) literal(lit string) bool {
	if len(p.in)-p.pos >= len(lit) && string(p.in[p.pos:p.pos+len(lit)]) == lit {
		p.pos += len(lit)
		return true
	}
	return false
}

// outPlainStringByte marks bytes that need no attention inside a JSON string.
var outPlainStringByte = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

// scanString reads the JSON string at p.pos and returns its raw contents (between the quotes) and whether it has
// escapes. Invalid escapes and unescaped control characters fail, as in any JSON parser. Invalid UTF-8 is passed
// through unchanged.
func (p *outputParser) scanString() (raw []byte, escaped, ok bool) {
	in := p.in
	if p.pos >= len(in) || in[p.pos] != '"' {
		return nil, false, false
	}
	start := p.pos + 1
	i := start
	for {
		for i < len(in) && outPlainStringByte[in[i]] {
			i++
		}
		if i >= len(in) {
			return nil, false, false
		}
		switch in[i] {
		case '"':
			p.pos = i + 1
			return in[start:i], escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(in) {
				return nil, false, false
			}
			switch in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(in) || outHex4(in[i+2:i+6]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		default: // control character
			return nil, false, false
		}
	}
}

// scanNumber reads a JSON number; integer reports the absence of fraction and exponent.
func (p *outputParser) scanNumber() (raw []byte, integer, ok bool) {
	in, i := p.in, p.pos
	start := i
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return nil, false, false
	}
	integer = true
	if i < len(in) && in[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		integer = false
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	p.pos = i
	return in[start:i], integer, true
}

func outHex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// outAppendUnescaped appends the unescaped form of a string's raw contents, already checked by scanString. A lone
// UTF-16 surrogate becomes U+FFFD, as in encoding/json.
func outAppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
			continue
		}
		switch c := raw[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := outHex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r, i = outSurrogatePair(raw, i, r)
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst
}

// outValidHeaderName reports whether b is a token (RFC 9110 §5.6.2). The lookups of eight bytes are ANDed before one
// branch: a branch per byte was ≈ 0.4k of the ≈ 9.6k instructions of converting REF-OUTPUT (callgrind, Dec 2026).
func outValidHeaderName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	t := &outTokenByte
	ok := uint8(1)
	for ; len(b) >= 8; b = b[8:] {
		ok &= t[b[0]] & t[b[1]] & t[b[2]] & t[b[3]] & t[b[4]] & t[b[5]] & t[b[6]] & t[b[7]]
	}
	if len(b) >= 4 {
		ok &= t[b[0]] & t[b[1]] & t[b[2]] & t[b[3]]
		b = b[4:]
	}
	for _, c := range b {
		ok &= t[c]
	}
	return ok != 0
}

// outTokenByte is tokenByte as 1 and 0.
var outTokenByte = func() (t [256]uint8) {
	for c, tok := range tokenByte {
		if tok {
			t[c] = 1
		}
	}
	return t
}()

// outValidHeaderValue accepts field-value bytes: no control characters other than HTAB (RFC 9110 §5.5), which is
// what Envoy's header validation enforces.
//
// Eight bytes at a time while no byte is below 0x20 or is 0x7f (a word with one, a tab most likely, is looked at
// byte by byte): the byte loop over a function's header values was ≈ 0.9k of BenchmarkLambdaServe's ≈ 49k
// instructions per request (callgrind, Dec 2026).
func outValidHeaderValue(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		del := x ^ ones*0x7f
		// A borrow only runs upwards and only from a flagged byte: the mask is zero exactly when no byte is
		// below 0x20 or equal to 0x7f.
		if ((x-ones*0x20)&^x|(del-ones)&^del)&highs != 0 {
			break
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// outSurrogatePair completes r, a surrogate read from a \u escape that ends before i, as encoding/json does: with
// a second \u escape at i that makes a pair, the pair's rune and the index after it; otherwise U+FFFD and i.
func outSurrogatePair(b []byte, i int, r rune) (rune, int) {
	r2 := rune(-1)
	if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
		r2 = outHex4(b[i+2 : i+6])
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		return dec, i + 6
	}
	return utf8.RuneError, i
}
