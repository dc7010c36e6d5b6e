package extproc

import (
	"strings"
	"testing"
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
