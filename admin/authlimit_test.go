package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// fakeClock is the limiter's clock in tests: time moves only when the test says, and the flush the limiter
// schedules is run by the test.
type fakeClock struct {
	now     time.Time
	pending []func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) { c.pending = append(c.pending, f) }

// runPending runs the scheduled flushes.
func (c *fakeClock) runPending() {
	fs := c.pending
	c.pending = nil
	for _, f := range fs {
		f()
	}
}

// limitedGuard is a token-protected guard with a fake clock, and its log.
func limitedGuard(t *testing.T) (*guard, *fakeClock, *bytes.Buffer) {
	t.Helper()
	ts, err := openTokens(tokenFile(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	return &guard{log: log, tokens: ts, limit: newAuthLimiter(log, clock.Now, clock.AfterFunc)}, clock, &logs
}

// call runs a ListRestApis call from ip with token through the guard; it reports whether the handler ran.
func call(g *guard, ip, token string) (bool, error) {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}})
	if token != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+token))
	}
	ran := false
	_, err := g.unary(ctx, &adminv1.ListRestApisRequest{}, &grpc.UnaryServerInfo{FullMethod: adminv1.AdminService_ListRestApis_FullMethodName},
		func(context.Context, any) (any, error) { ran = true; return &adminv1.ListRestApisResponse{}, nil })
	return ran, err
}

// authLines parses the "admin authentication failed" lines.
func authLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "admin authentication failed" {
			out = append(out, m)
		}
	}
	return out
}

// TestAuthFailuresRateLimited: after AuthFailureBurst failures a peer is refused with RESOURCE_EXHAUSTED, even
// with a valid token, which is not checked; other peers are not affected; one more attempt is allowed per
// AuthFailureRefill.
func TestAuthFailuresRateLimited(t *testing.T) {
	g, clock, _ := limitedGuard(t)
	const attacker, other = "192.0.2.1", "192.0.2.2"
	for i := 0; i < AuthFailureBurst; i++ {
		if _, err := call(g, attacker, "wrong-token-0123456789"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	ran, err := call(g, attacker, aliceToken)
	if ran || status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), attacker) {
		t.Fatalf("limited peer with a valid token: ran %v, %v", ran, err)
	}
	if ran, err := call(g, other, aliceToken); !ran || err != nil {
		t.Fatalf("another peer: ran %v, %v", ran, err)
	}
	// Refused calls cost nothing more: one refill later, one attempt is allowed again.
	clock.now = clock.now.Add(AuthFailureRefill - time.Second)
	if _, err := call(g, attacker, aliceToken); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("before the refill: %v", err)
	}
	clock.now = clock.now.Add(time.Second)
	if ran, err := call(g, attacker, aliceToken); !ran || err != nil {
		t.Fatalf("after one refill with a valid token: ran %v, %v", ran, err)
	}
	if _, err := call(g, attacker, "wrong-token-0123456789"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the refilled attempt: %v", err)
	}
	if _, err := call(g, attacker, aliceToken); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("after spending the refilled attempt: %v", err)
	}
	// A missing token counts as a failure too.
	for i := 0; i < AuthFailureBurst; i++ {
		_, _ = call(g, other, "")
	}
	if _, err := call(g, other, aliceToken); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("peer without tokens: %v", err)
	}
}

// TestAuthFailuresLoggedInAggregate: a peer's first failure is logged at once; the rest of the interval's failures
// and refusals make one more line with their counts when the interval is over, not one line each.
func TestAuthFailuresLoggedInAggregate(t *testing.T) {
	g, clock, logs := limitedGuard(t)
	for i := 0; i < 50; i++ {
		_, _ = call(g, "192.0.2.1", "wrong-token-0123456789")
	}
	_, _ = call(g, "198.51.100.7", "")
	lines := authLines(t, logs)
	if len(lines) != 2 {
		t.Fatalf("want one line per peer so far, got %d:\n%s", len(lines), logs)
	}
	if lines[0]["peer"] != "192.0.2.1" || lines[0]["failures"] != 1.0 || lines[0]["error"] == nil {
		t.Errorf("first line: %v", lines[0])
	}
	if len(clock.pending) != 1 {
		t.Fatalf("want one flush scheduled, got %d", len(clock.pending))
	}
	// The flush before the interval ends logs nothing and schedules itself again.
	clock.now = clock.now.Add(AuthFailureLogInterval / 2)
	clock.runPending()
	if n := len(authLines(t, logs)); n != 2 || len(clock.pending) != 1 {
		t.Fatalf("early flush: %d lines, %d scheduled", n, len(clock.pending))
	}
	clock.now = clock.now.Add(AuthFailureLogInterval / 2)
	clock.runPending()
	lines = authLines(t, logs)
	if len(lines) != 3 {
		t.Fatalf("want one aggregate line, got %d:\n%s", len(lines), logs)
	}
	// 10 failures spent the bucket (the first was logged alone), the other 40 calls were refused unchecked.
	if l := lines[2]; l["peer"] != "192.0.2.1" || l["failures"] != float64(AuthFailureBurst-1) || l["refused"] != 40.0 || l["over"] != "1m0s" {
		t.Errorf("aggregate line: %v", l)
	}
	if len(clock.pending) != 0 {
		t.Errorf("a flush is scheduled with nothing to log")
	}
}

// TestAuthFailurePeerTableBounded: the per-peer table never outgrows its bound; peers beyond it share one bucket
// ("other"), and peers that are idle again are forgotten.
func TestAuthFailurePeerTableBounded(t *testing.T) {
	g, clock, logs := limitedGuard(t)
	g.limit.maxPeers = 4
	for i := 0; i < 100; i++ {
		_, _ = call(g, fmt.Sprintf("203.0.113.%d", i), "wrong-token-0123456789")
		if n := len(g.limit.peers); n > 4 {
			t.Fatalf("%d peers tracked", n)
		}
	}
	// The 96 untracked peers spent the shared bucket: a new untracked peer is refused.
	if _, err := call(g, "203.0.113.200", aliceToken); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("untracked peer after the shared bucket is spent: %v", err)
	}
	if !strings.Contains(logs.String(), `"peer":"other"`) {
		t.Errorf("no line for the untracked peers:\n%s", logs)
	}
	// Once the buckets are full again and the counts logged, the peers are forgotten.
	clock.now = clock.now.Add(AuthFailureRefill * AuthFailureBurst)
	clock.runPending()
	if n := len(g.limit.peers); n != 0 {
		t.Fatalf("%d idle peers still tracked", n)
	}
	if ran, err := call(g, "203.0.113.200", aliceToken); !ran || err != nil {
		t.Fatalf("after the refill: ran %v, %v", ran, err)
	}
}

// TestAuthFailuresLimitedOverGRPC: the limit applies to a real admin server: the 11th call from one address is
// refused with RESOURCE_EXHAUSTED even with a valid token.
func TestAuthFailuresLimitedOverGRPC(t *testing.T) {
	addr, logs := secureServer(t, Security{TokenFile: tokenFile(t)})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	for i := 0; i < AuthFailureBurst; i++ {
		_, err := c.ListRestApis(withToken(t.Context(), "wrong-token-0123456789"), &adminv1.ListRestApisRequest{})
		wantStatus(t, err, codes.Unauthenticated, "invalid bearer token")
	}
	_, err := c.ListRestApis(withToken(t.Context(), aliceToken), &adminv1.ListRestApisRequest{})
	wantStatus(t, err, codes.ResourceExhausted, "too many failed authentications from 127.0.0.1")
	if n := strings.Count(logs.String(), `"msg":"admin authentication failed"`); n != 1 {
		t.Errorf("want 1 log line for %d failures, got %d:\n%s", AuthFailureBurst+1, n, logs)
	}
}
