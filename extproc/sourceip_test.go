package extproc

import "testing"

// sourceIp is the address Envoy trusted: x-envoy-external-address, which for a loopback
// client differs from the last x-forwarded-for entry (Envoy appends its own address there,
// appendXff); the last x-forwarded-for entry only without it.
func TestSourceIPPrefersExternalAddress(t *testing.T) {
	for _, c := range []struct {
		headers [][2]string
		want    string
	}{
		{[][2]string{{"x-forwarded-for", "198.51.100.1,172.17.0.2"}, {"x-envoy-external-address", "127.0.0.1"}}, "127.0.0.1"},
		{[][2]string{{"x-forwarded-for", "198.51.100.1,203.0.113.7"}}, "203.0.113.7"},
	} {
		if got := sourceIP(NewRequestHeaders(c.headers)); got != c.want {
			t.Errorf("%v: sourceIP = %q, want %q", c.headers, got, c.want)
		}
	}
}
