package authz

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// TestLimiterThrottleAndQuota: a burst of 2 at 1 request/s answers THROTTLED on the third request in the same
// instant and lets one through a second later; a quota of 3 a day answers QUOTA_EXCEEDED on the fourth request
// and resets at midnight UTC.
func TestLimiterThrottleAndQuota(t *testing.T) {
	l := NewLimiter()
	now := time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)
	k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{RateLimit: 1, BurstLimit: 2, QuotaLimit: 3, QuotaPeriod: "DAY"}}
	for i, want := range []*Denial{nil, nil, &Throttled} {
		if got := l.Take(k, now); got != want {
			t.Fatalf("request %d: %v, want %v", i, got, want)
		}
	}
	now = now.Add(time.Second)
	if got := l.Take(k, now); got != nil {
		t.Fatalf("after a second: %v, want allowed", got)
	}
	now = now.Add(10 * time.Second)
	if got := l.Take(k, now); got != &QuotaExceeded {
		t.Fatalf("fourth request of the day: %v, want QUOTA_EXCEEDED", got)
	}
	now = time.Date(2026, 12, 8, 0, 0, 1, 0, time.UTC)
	if got := l.Take(k, now); got != nil {
		t.Fatalf("next day: %v, want allowed", got)
	}
}

// TestTokenAllowed: no scopes → only an ID token; scopes → an access token holding any of them.
func TestTokenAllowed(t *testing.T) {
	claims := func(use, scope string) *structpb.Struct {
		s, _ := structpb.NewStruct(map[string]any{"token_use": use, "scope": scope})
		return s
	}
	for _, tc := range []struct {
		claims *structpb.Struct
		scopes []string
		want   bool
	}{
		{claims("id", ""), nil, true},
		{claims("access", "openid"), nil, false},
		{claims("access", "openid email https://x/read"), []string{"https://x/read", "https://x/admin"}, true},
		{claims("access", "openid email"), []string{"https://x/read"}, false},
		{claims("id", "https://x/read"), []string{"https://x/read"}, false},
		{nil, nil, false},
	} {
		if got := tokenAllowed(tc.claims, tc.scopes); got != tc.want {
			t.Errorf("tokenAllowed(%v, %v) = %v, want %v", tc.claims, tc.scopes, got, tc.want)
		}
	}
}

// TestWindowStart: weeks start on Monday, months on the 1st, UTC.
func TestWindowStart(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC) // a Sunday
	if got := windowStart(at, "WEEK"); !got.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("week start %v", got)
	}
	if got := windowStart(at, "MONTH"); !got.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("month start %v", got)
	}
}
