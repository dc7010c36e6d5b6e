package lambdaproxy

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// outEndsRun is what outStringMask flags: the bytes that end a JSON string's plain run.
func outEndsRun(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }

// TestOutStringMask: the lowest byte outStringMask flags is the first byte ending a plain run, in words with one
// such byte at every position over every filler, and in random words mixing them.
func TestOutStringMask(t *testing.T) {
	check := func(b [8]byte) {
		t.Helper()
		first := 8
		for i := len(b) - 1; i >= 0; i-- {
			if outEndsRun(b[i]) {
				first = i
			}
		}
		m := outStringMask(binary.LittleEndian.Uint64(b[:]))
		if got := bits.TrailingZeros64(m) >> 3; got != first {
			t.Fatalf("outStringMask(%q) flags byte %d first, want %d", b, got, first)
		}
	}
	for _, filler := range []byte{'a', ' ', '~', 0x21, 0x7f, 0x00, '"', 0xff, 0x80, '\\'} {
		for pos := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = filler
				}
				b[pos] = byte(c)
				check(b)
			}
		}
	}
	pick := []byte{'a', ' ', '~', 0x21, 0x7f, 0x00, 0x1f, 0x20, '"', '\\', 0x80, 0xff, 0xc3, 0x01, 0xa2, 0xdc}
	r := mrand.New(mrand.NewPCG(7, 8))
	for range 200000 {
		var b [8]byte
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = pick[r.IntN(len(pick))]
			}
		}
		check(b)
	}
}

// TestOutAppendString: reading a string in one pass fails, ends and unescapes exactly as scanString followed by
// outAppendUnescaped, on random inputs dense in escapes (valid, invalid, surrogate pairs and halves), control
// characters, quotes and UTF-8, of every length around the word size.
func TestOutAppendString(t *testing.T) {
	pieces := []string{"a", "bc", " ", "é", "\xff", "\x00", "\x1f", "\t", `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`,
		`\u0041`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\ude00`, `\ud83dx`, `\ud83d\u0041`, `\u12`, `\uzzzz`, `\x`, `\`,
		`"`, "abcdefghij", `\ud83d\uzzzz`}
	r := mrand.New(mrand.NewPCG(11, 12))
	var b strings.Builder
	for range 200000 {
		b.Reset()
		b.WriteByte('"')
		for n := r.IntN(10); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if r.IntN(8) != 0 {
			b.WriteByte('"')
		}
		if r.IntN(2) == 0 {
			b.WriteString(`, "next": 1}`)
		}
		in := []byte(b.String())

		p := &outputParser{in: in}
		raw, escaped, wantOK := p.scanString()
		var want []byte
		if wantOK && escaped {
			want = outAppendUnescaped([]byte("x"), raw)
		} else if wantOK {
			want = append([]byte("x"), raw...)
		}
		got, next, ok := outAppendString([]byte("x"), in, 0)
		if ok != wantOK || ok && (next != p.pos || !bytes.Equal(got, want)) {
			t.Fatalf("outAppendString(%q) = %q, %d, %v; scanString and outAppendUnescaped give %q, %d, %v",
				in, got, next, ok, want, p.pos, wantOK)
		}
	}
}

// TestValidHeaderValueWords: the word-at-a-time outValidHeaderValue agrees with its byte-by-byte rule (no control
// byte but HTAB, no DEL) for every byte value at every position of values up to 17 bytes.
func TestValidHeaderValueWords(t *testing.T) {
	for n := 1; n <= 17; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				v := []byte("value; Path=/x ~!"[:n])
				v[pos] = byte(c)
				want := !(c < 0x20 && c != '\t' || c == 0x7f)
				if got := outValidHeaderValue(v); got != want {
					t.Fatalf("outValidHeaderValue(%q) = %v, want %v", v, got, want)
				}
			}
		}
	}
}

// TestOutValidHeaderName: the eight-at-a-time token check agrees with tokenByte for every byte value at every
// position of names up to 17 bytes.
func TestOutValidHeaderName(t *testing.T) {
	if outValidHeaderName(nil) {
		t.Error("an empty name is not a token")
	}
	for n := 1; n <= 17; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("aZ-9!", 4)[:n])
				b[pos] = byte(c)
				if got := outValidHeaderName(b); got != tokenByte[c] {
					t.Fatalf("outValidHeaderName(%q) = %v", b, got)
				}
			}
		}
	}
}

// TestPooledReleaseClears: releasing a pooled response leaves none of its strings (the request's ids, the
// payload's) in the parser's response memory, whatever the number of lines it used.
func TestPooledReleaseClears(t *testing.T) {
	for _, payload := range []string{string(outRefOutput(t)), `{}`, `{"headers": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7"}}`,
		`{"multiValueHeaders": {"a": ["1", "2", "3", "4", "5", "6", "7", "8", "9"]}}`} {
		p := &outputParser{pooled: true}
		if !p.parse([]byte(payload)) {
			t.Fatalf("%s: not parsed", payload)
		}
		r := p.response(p.body, outTestContext)
		if len(r.Headers) == 0 {
			t.Fatalf("%s: no headers", payload)
		}
		p.release()
		if p.resp.h != ([12][2]string{}) || p.resp.r.Headers != nil || p.resp.r.Body != nil || p.respLines != 0 {
			t.Errorf("%s: response memory not cleared: %+v", payload, p.resp)
		}
	}
}
