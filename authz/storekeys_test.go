package authz

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/internal/testutil/etcdtest"
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

// TestLimiterSharedThrottle: replicas sharing the store's counters, offered far more than the plan's rate for ten
// simulated seconds and each syncing once a second (at its own offset). Over every span of the run they admit
// together at most burst + rate·T + (N−1)·(burst + rate·L), L = two sync intervals (the bound the README states),
// and at least rate·T; each replica on its own bucket (before the shared throttle) admitted about N× the rate. On
// bbolt (one store, as replicas on one file would share it) and on etcd (one client per replica).
func TestLimiterSharedThrottle(t *testing.T) {
	etcd, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	stores := []struct {
		name string
		// open is the counter store of each of n replicas.
		open func(t *testing.T, n int) []store.UsageStore
	}{
		{"bolt", func(t *testing.T, n int) []store.UsageStore {
			st, err := store.OpenBolt(filepath.Join(t.TempDir(), "u.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			out := make([]store.UsageStore, n)
			for i := range out {
				out[i] = st
			}
			return out
		}},
		{"etcd", func(t *testing.T, n int) []store.UsageStore {
			out := make([]store.UsageStore, n)
			for i := range out {
				st, err := store.OpenEtcd(t.Context(), etcd.Endpoints, "proxyplus-"+t.Name())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				out[i] = st
			}
			return out
		}},
	}
	const (
		rate, burst = 10.0, 5
		step        = 10 * time.Millisecond
		steps       = 1000 // ten seconds, a sync interval is 100 steps
		lag         = 2.0  // seconds: two sync intervals
	)
	for _, tc := range []struct {
		name string
		// from is the step each replica's requests start at; every replica is offered one request a step.
		from []int
	}{
		{"two replicas", []int{0, 0}},
		{"three replicas", []int{0, 0, 0}},
		{"a replica joins after three seconds", []int{0, 300}},
		{"replicas join one by one", []int{0, 250, 575}},
	} {
		for _, sk := range stores {
			t.Run(sk.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{ID: "gold", RateLimit: rate, BurstLimit: burst}}
				replicas := len(tc.from)
				shared := sk.open(t, replicas)
				ls := make([]*Limiter, replicas)
				for r := range ls {
					ls[r] = NewLimiter()
					ls[r].Shared = shared[r]
				}
				start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
				// prefix[i] is what all replicas admitted before step i: every span's count is a difference.
				prefix := make([]int, steps+1)
				for i := range steps {
					now := start.Add(time.Duration(i) * step)
					n := 0
					for r, l := range ls {
						if i%100 == r*100/replicas%100 { // each replica syncs once a second, offset from the others
							if err := l.Sync(ctx); err != nil {
								t.Fatal(err)
							}
						}
						if i < tc.from[r] {
							continue
						}
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
						bound := burst + rate*span + float64(replicas-1)*(burst+rate*lag)
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
				t.Logf("admitted %d in 10 s at rate %v burst %d by %d replicas (one bucket: %v; bound %v)", total, rate, burst, replicas,
					burst+rate*10, burst+rate*10+float64(replicas-1)*(burst+rate*lag))
				// The shared throttle does not starve the key either: the fleet gets at least the plan's rate.
				if least := int(rate * 10); total < least {
					t.Errorf("admitted %d in 10 s, want at least rate·T = %d", total, least)
				}
			})
		}
	}
}

// flakyUsage fails the next AddUsage when fail is set, as a store out of reach would.
type flakyUsage struct {
	store.UsageStore
	fail bool
}

func (f *flakyUsage) AddUsage(ctx context.Context, deltas map[string]int64) (map[string]int64, error) {
	if f.fail {
		f.fail = false
		return nil, errors.New("store unreachable")
	}
	return f.UsageStore.AddUsage(ctx, deltas)
}

// TestLimiterSharedThrottleCharges: each replica's bucket is charged exactly the other replicas' admissions, once,
// also when a sync fails and its counts go out with the next one; a replica's first sync of a key only sets where
// it counts from.
func TestLimiterSharedThrottleCharges(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := NewLimiter(), NewLimiter()
	bStore := &flakyUsage{UsageStore: st}
	a.Shared, b.Shared = st, bStore
	// One instant throughout: no refill, so the tokens left are the burst less what was charged.
	k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{ID: "gold", RateLimit: 1, BurstLimit: 100}}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	take := func(l *Limiter, n int) {
		t.Helper()
		for i := range n {
			if d := l.Take(k, now); d != nil {
				t.Fatalf("request %d: %v", i, d)
			}
		}
	}
	sync := func(l *Limiter) error { return l.Sync(ctx) }
	tokens := func(l *Limiter) float64 { return l.state["k1/gold"].tokens }
	take(a, 10)
	take(b, 20)
	for _, l := range []*Limiter{a, b} {
		if err := sync(l); err != nil {
			t.Fatal(err)
		}
	}
	if ta, tb := tokens(a), tokens(b); ta != 90 || tb != 80 {
		t.Fatalf("after the first syncs: tokens %v and %v, want 90 and 80 (a first sync charges nothing, not even a's 10 to b)", ta, tb)
	}
	take(a, 5)
	take(b, 7)
	bStore.fail = true
	if err := sync(b); err == nil {
		t.Fatal("sync through a failing store: no error")
	}
	if err := sync(a); err != nil {
		t.Fatal(err)
	}
	if ta := tokens(a); ta != 65 {
		t.Errorf("a before b's new counts reach the store: %v tokens, want 65 (85 less b's 20 of before)", ta)
	}
	for _, l := range []*Limiter{b, a} {
		if err := sync(l); err != nil {
			t.Fatal(err)
		}
	}
	if ta, tb := tokens(a), tokens(b); ta != 58 || tb != 68 {
		t.Errorf("after b's retried sync: tokens %v and %v, want 58 (65 less b's 7) and 68 (73 less a's 5)", ta, tb)
	}
	// Nothing new: a further round charges nothing.
	for _, l := range []*Limiter{a, b} {
		if err := sync(l); err != nil {
			t.Fatal(err)
		}
	}
	if ta, tb := tokens(a), tokens(b); ta != 58 || tb != 68 {
		t.Errorf("after an idle round: tokens %v and %v, want 58 and 68", ta, tb)
	}
}
