// Package ids is proxyplus's one generator of request ids (v4 UUIDs) and X-Ray trace ids, and the rules that
// continue a caller's trace: the processor, the function host and the Invoke path all take their ids here.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"
)

// source is a ChaCha8 stream seeded from crypto/rand: ids need to be unique and unpredictable, not a syscall per
// id on the request path. It is the process's one generator (a generator is shared state by nature).
var source = struct {
	sync.Mutex
	r *mrand.ChaCha8
}{r: newChaCha()}

func newChaCha() *mrand.ChaCha8 {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}

// Read fills b with random bytes from the generator, under one lock.
func Read(b []byte) {
	source.Lock()
	_, _ = source.r.Read(b)
	source.Unlock()
}

// Random16 is 16 random bytes.
func Random16() (b [16]byte) {
	Read(b[:])
	return b
}

// NewUUID is a random lower-case v4 UUID, as API Gateway and Lambda request ids (and Envoy's %UNIQUE_ID%) are.
func NewUUID() string {
	var out [36]byte
	return string(AppendUUID(out[:0], Random16()))
}

// AppendUUID appends b as a lower-case v4 UUID (EVT-23 requestId).
func AppendUUID(dst []byte, b [16]byte) []byte {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return append(dst, out[:]...)
}

// AppendNewTraceID appends a new X-Ray trace header, Root=1-<8 hex epoch seconds>-<24 hex> (EVT-11).
func AppendNewTraceID(dst []byte, now time.Time, rnd [16]byte) []byte {
	var sec [4]byte
	binary.BigEndian.PutUint32(sec[:], uint32(now.Unix()))
	dst = append(dst, "Root=1-"...)
	dst = hex.AppendEncode(dst, sec[:])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, rnd[:12])
}

// NewTraceHeader is a new unsampled X-Ray trace header with a Parent, as Lambda's runtime gets it when nothing
// upstream traced the request: Root=1-…;Parent=<16 hex>;Sampled=0.
func NewTraceHeader(now time.Time) string {
	var rnd [16 + 8]byte
	Read(rnd[:])
	b := AppendNewTraceID(make([]byte, 0, 72), now, [16]byte(rnd[:16]))
	b = append(b, ";Parent="...)
	b = hex.AppendEncode(b, rnd[16:])
	return string(append(b, ";Sampled=0"...))
}

// Continue is the gateway's trace header for a request (EVT-11): a client's Root=…;Parent=…;Sampled=… is kept as
// sent, a bare Root gets a Parent, and without one a W3C traceparent (the client's) or edge (the trace Envoy
// started, see TraceFromEdge) trace is continued; otherwise a new X-Ray trace starts.
func Continue(client, traceparent, edge string, now time.Time, rnd [16]byte) string {
	switch {
	case strings.HasPrefix(client, "Root=") && !strings.Contains(client, "Parent="):
		return client + ";Parent=" + hex.EncodeToString(rnd[:8])
	case client != "":
		return client
	}
	if h, ok := FromTraceparent(traceparent); ok {
		return h
	}
	if edge != "" {
		return edge
	}
	return string(AppendNewTraceID(nil, now, rnd))
}

// FromTraceparent maps a W3C traceparent (version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>) to
// the X-Ray header of the same trace, as X-Ray maps W3C ids: Root=1-<first 8 hex>-<last 24 hex>;Parent=<parent
// id>;Sampled=<flags & 1>. ok is false for anything else, including the all-zero ids W3C declares invalid.
func FromTraceparent(tp string) (string, bool) {
	tp = strings.TrimSpace(tp)
	if len(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || !isLowerHex(tp[:2]) || tp[:2] == "ff" {
		return "", false
	}
	trace, parent, flags := tp[3:35], tp[36:52], tp[53:55]
	if !isLowerHex(trace) || !isLowerHex(parent) || !isLowerHex(flags) ||
		trace == strings.Repeat("0", 32) || parent == strings.Repeat("0", 16) {
		return "", false
	}
	sampled := "0"
	if b, _ := hex.DecodeString(flags); b[0]&1 == 1 {
		sampled = "1"
	}
	return "Root=1-" + trace[:8] + "-" + trace[8:] + ";Parent=" + parent + ";Sampled=" + sampled, true
}

// Root is the trace id of an X-Ray header ("1-<8 hex>-<24 hex>"), what Envoy's %TRACE_ID% shows for it
// (source/extensions/tracers/xray/tracer.h Span::getTraceId, main 1.37.0-dev 321a098d81); "" without a Root.
func Root(header string) string {
	for rest := header; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "root") {
			return v
		}
	}
	return ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
