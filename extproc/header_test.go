package extproc

import (
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// TestHeaderIs: headerIs answers as strings.EqualFold, Unicode folding included (U+212A KELVIN SIGN folds to k,
// U+017F LONG S to s).
func TestHeaderIs(t *testing.T) {
	wants := []string{"content-length", "x-forwarded-for", "x-envoy-external-address", "k", "s", "accept"}
	haves := []string{"", "content-length", "Content-Length", "CONTENT-LENGTH", "content-lengtH", "content-lengt",
		"x-forwarded-for", "X-Forwarded-For", "x-forwarded-fo", "\u212a", "K", "k", "\u017f", "S", "x-envoy-external-addre\u017fs",
		"x-envoy-external-addre\u017f", "accept", "Accept", "\u212aaccept", "é", "a"}
	for _, want := range wants {
		for _, have := range haves {
			if got, exp := headerIs(have, want), strings.EqualFold(have, want); got != exp {
				t.Errorf("headerIs(%q, %q) = %v, EqualFold says %v", have, want, got, exp)
			}
		}
	}
	if !headerIs("", "") || headerIs("", "a") || headerIs("a", "") {
		t.Error("empty names")
	}
}

// TestScanKnown: the one-pass lookup finds what Get finds, and sourceIP and the X-Forwarded-For rewrite answer as
// without it, for random header lists mixing the names in any case, look-alikes and Unicode folds.
func TestScanKnown(t *testing.T) {
	names := []string{"content-length", "Content-Length", "x-forwarded-for", "X-Forwarded-For", "x-envoy-external-address",
		"X-ENVOY-EXTERNAL-ADDRESS", "x-forwarded-fo", "x-forwarded-proto", "x-correlation-id", "content-type",
		"x-envoy-external-addre\u017fs", "x-envoy-external-addre\u017f\u017f", "X-\u017fnvoy-external-addre\u017f\u017f", "x-envoy-external-addre\u017f\u017fx",
		"\u212aontent-length", "content-length\u212a", "x-forwarded-for\u017f", "accept", "x-forwarded-for ", "host"}
	values := []string{"", "10", "192.0.2.1", "192.0.2.1,198.51.100.2", "198.51.100.2:443", "a, b,c"}
	r := mrand.New(mrand.NewPCG(13, 14))
	for range 20000 {
		var hs [][2]string
		for n := r.IntN(6); n > 0; n-- {
			hs = append(hs, [2]string{names[r.IntN(len(names))], values[r.IntN(len(values))]})
		}
		scanned := &RequestHeaders{Headers: slices.Clone(hs)}
		scanned.scanKnown()
		plain := &RequestHeaders{Headers: slices.Clone(hs)}
		for name, at := range map[string]int{"content-length": scanned.known.contentLength,
			"x-forwarded-for": scanned.known.forwarded, "x-envoy-external-address": scanned.known.externalAddress} {
			gv, gok := plain.Get(name)
			kv, kok := scanned.getKnown(at)
			if gv != kv || gok != kok {
				t.Fatalf("%q: %s: scan found %q %v, Get %q %v", hs, name, kv, kok, gv, gok)
			}
		}
		if a, b := sourceIP(scanned), sourceIP(plain); a != b {
			t.Fatalf("%q: sourceIP %q with the scan, %q without", hs, a, b)
		}
		var x, y lambdaproxy.Request
		fillLambdaRequest(&x, scanned, nil, "", "")
		fillLambdaRequest(&y, plain, nil, "", "")
		if !slices.Equal(x.Headers, y.Headers) {
			t.Fatalf("%q: X-Forwarded-For rewritten to %q with the scan, %q without", hs, x.Headers, y.Headers)
		}
	}
	folded := &RequestHeaders{Headers: [][2]string{{"x-envoy-external-addre\u017f\u017f", "203.0.113.9"}}}
	folded.scanKnown()
	if ip := sourceIP(folded); ip != "203.0.113.9" {
		t.Errorf("a name folding to x-envoy-external-address through U+017F: sourceIP %q", ip)
	}
}
