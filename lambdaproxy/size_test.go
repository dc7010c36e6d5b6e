package lambdaproxy

import (
	"strings"
	"testing"
	"time"
)

// TestMinEventSize: the estimate never exceeds the event AppendEvent builds, and the body's share is exact (the
// difference does not depend on the body).
func TestMinEventSize(t *testing.T) {
	route := evRoute(t, "/{proxy+}", "ANY")
	route.Stage, route.BinaryMediaTypes = "dev", []string{"image/png"}
	c := &Context{AccountID: "123456789012", RequestID: "r", ExtendedRequestID: "e", TraceID: "t", Now: time.Unix(0, 0)}
	bodies := map[string]string{
		"empty":   "",
		"ascii":   "hello world",
		"nul":     strings.Repeat("\x00", 1000),
		"escapes": "\"\\\n\r\t\b\f\x01\x1f",
		"utf8":    "héllo ✓ 😀",
		"invalid": "a\xffb\xc3",
		"mixed":   strings.Repeat("abcdefgh\x00ij\"kl", 37),
	}
	base := map[string]int{} // per Content-Type: its value is in the event too
	for name, body := range bodies {
		for _, ct := range []string{"text/plain", "image/png"} {
			req := &Request{Method: "POST", Path: "/dev/x/y?q=1", Authority: "h", Body: []byte(body),
				Headers: [][2]string{{"content-type", ct}, {"x-a", "b"}}}
			ev, err := AppendEvent(nil, route, req, c)
			if err != nil {
				t.Fatal(err)
			}
			est := MinEventSize(route, req)
			if est > len(ev) {
				t.Errorf("%s/%s: estimate %d > event %d", name, ct, est, len(ev))
			}
			if body == "" {
				continue
			}
			d := len(ev) - est
			if base[ct] == 0 {
				base[ct] = d
			}
			if d != base[ct] {
				t.Errorf("%s/%s: event − estimate = %d, want %d for every body (the body's share exact)", name, ct, d, base[ct])
			}
		}
	}
	if got := MinEventSize(route, &Request{Path: "/dev/x", Body: make([]byte, 1<<20)}); got < 6<<20 {
		t.Errorf("1 MiB of NUL bytes: estimate %d, want at least 6 MiB", got)
	}
}
