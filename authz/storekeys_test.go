package authz

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// TestStoreKeys: a key of a plan is found for the plan's stages only, enabled as stored; a change in the store
// reaches the index.
func TestStoreKeys(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	k, err := st.PutAPIKey(ctx, &adminv1.ApiKey{Value: value, Enabled: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUsagePlan(ctx, &adminv1.UsagePlan{Id: "gold", KeyIds: []string{k.GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: "a1b2c3d4e5", Stage: "dev"}},
		Throttle:  &adminv1.Throttle{RateLimit: 5, BurstLimit: 10}, Quota: &adminv1.Quota{Limit: 100, Period: "DAY"}}, 0); err != nil {
		t.Fatal(err)
	}
	var sk StoreKeys
	if err := sk.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, ok := sk.Lookup("a1b2c3d4e5", "dev", value)
	if !ok || got.ID != k.GetId() || !got.Enabled || got.Plan.BurstLimit != 10 || got.Plan.QuotaPeriod != "DAY" {
		t.Fatalf("lookup dev: %+v %v", got, ok)
	}
	if _, ok := sk.Lookup("a1b2c3d4e5", "prod", value); ok {
		t.Errorf("the key is found on a stage its plan does not name")
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	loads := make(chan struct{}, 16)
	sk.loaded = func() { loads <- struct{}{} }
	go func() { sk.Follow(fctx, st, st, nil); close(done) }()
	<-loads // the first load
	k.Enabled = false
	if _, err := st.PutAPIKey(ctx, k, 0); err != nil {
		t.Fatal(err)
	}
	for got, ok := sk.Lookup("a1b2c3d4e5", "dev", value); !ok || got.Enabled; got, ok = sk.Lookup("a1b2c3d4e5", "dev", value) {
		<-loads // a reload after the write
	}
	cancel()
	<-done
}

// TestLimiterSharedQuota: two replicas sharing the store's counters: each admits on its own until a sync, after
// which both see the other's requests and refuse once the quota is used up.
func TestLimiterSharedQuota(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := NewLimiter(), NewLimiter()
	a.Shared, b.Shared = st, st
	k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{ID: "gold", QuotaLimit: 10, QuotaPeriod: "MONTH"}}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		if d := a.Take(k, now); d != nil {
			t.Fatalf("replica a request %d: %v", i, d)
		}
	}
	for i := 0; i < 4; i++ {
		if d := b.Take(k, now); d != nil {
			t.Fatalf("replica b request %d: %v", i, d)
		}
	}
	for _, l := range []*Limiter{a, b, a} {
		if err := l.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := a.Take(k, now); d != &QuotaExceeded {
		t.Errorf("replica a after sync: %v, want QUOTA_EXCEEDED (6 + 4 of 10 used)", d)
	}
	if d := b.Take(k, now); d != &QuotaExceeded {
		t.Errorf("replica b after sync: %v, want QUOTA_EXCEEDED", d)
	}
	// Next month the counters start again.
	if d := a.Take(k, now.AddDate(0, 1, 0)); d != nil {
		t.Errorf("next month: %v", d)
	}
}

// TestLimiterSharedThrottle: two replicas sharing the store's counters, both offered far more than the plan's rate
// for ten simulated seconds and syncing once a second (half a second apart). Over every span of the run the two
// admit together at most burst + rate·T + (N−1)·(burst + rate·L), L = two sync intervals (the bound the README
// states); each replica on its own bucket (before the shared throttle) admitted about N× the rate.
func TestLimiterSharedThrottle(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const (
		rate, burst = 10.0, 5
		replicas    = 2
		step        = 10 * time.Millisecond
		steps       = 1000 // ten seconds
		lag         = 2.0  // seconds: two sync intervals of one second
	)
	a, b := NewLimiter(), NewLimiter()
	a.Shared, b.Shared = st, st
	k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{ID: "gold", RateLimit: rate, BurstLimit: burst}}
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	// admitted[i] is what both replicas admitted in step i; prefix sums give every span.
	prefix := make([]int, steps+1)
	for i := range steps {
		now := start.Add(time.Duration(i) * step)
		if i%100 == 0 {
			if err := a.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 50 {
			if err := b.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, l := range []*Limiter{a, b} {
			switch d := l.Take(k, now); d {
			case nil:
				n++
			case &Throttled:
			default:
				t.Fatalf("step %d: %v", i, d)
			}
		}
		prefix[i+1] = prefix[i] + n
	}
	worst, worstSpan := 0.0, [2]int{}
	for i := 0; i < steps; i++ {
		for j := i + 1; j <= steps; j++ {
			span := float64(j-i) * step.Seconds()
			bound := burst + rate*span + (replicas-1)*(burst+rate*lag)
			if over := float64(prefix[j]-prefix[i]) - bound; over > worst {
				worst, worstSpan = over, [2]int{i, j}
			}
		}
	}
	if worst > 0 {
		i, j := worstSpan[0], worstSpan[1]
		t.Errorf("steps %d..%d (%.2f s): admitted %d, %.0f over the bound", i, j, float64(j-i)*step.Seconds(), prefix[j]-prefix[i], worst)
	}
	total := prefix[steps]
	t.Logf("admitted %d in %d s at rate %v burst %d by %d replicas (one bucket: %v; bound %v)", total, steps/100, rate, burst, replicas,
		burst+rate*10, burst+rate*10+(replicas-1)*(burst+rate*lag))
	// The shared throttle does not starve the key either: the fleet gets at least the plan's rate.
	if min := int(rate * 10); total < min {
		t.Errorf("admitted %d in 10 s, want at least rate·T = %d", total, min)
	}
}
