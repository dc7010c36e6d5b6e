package ids

import (
	"regexp"
	"testing"
	"time"
)

func TestContinue(t *testing.T) {
	now := time.Unix(0x67c75145, 0)
	rnd := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct{ name, client, parent, edge, want string }{
		{"full client header kept", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", tp, "Root=1-x", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
		{"bare root gets a parent", "Root=1-5759e988-bd862e3fe1be46a994272793", "", "", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0102030405060708"},
		{"traceparent", "", tp, "Root=1-x", "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"},
		{"invalid traceparent, edge", "", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "Root=1-67c75145-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=1;Sampled=0", "Root=1-67c75145-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=1;Sampled=0"},
		{"new", "", "", "", "Root=1-67c75145-0102030405060708090a0b0c"},
	}
	for _, tt := range tests {
		if got := Continue(tt.client, tt.parent, tt.edge, now, rnd); got != tt.want {
			t.Errorf("%s: Continue = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Root("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7"); got != "1-4bf92f35-77b34da6a3ce929d0e0e4736" {
		t.Errorf("Root = %q", got)
	}
	if got := NewTraceHeader(now); !regexp.MustCompile(`^Root=1-67c75145-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(got) {
		t.Errorf("NewTraceHeader = %q", got)
	}
	if got := NewUUID(); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got) {
		t.Errorf("NewUUID = %q", got)
	}
}
