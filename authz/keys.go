package authz

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/store"
)

// Key is an API key bound to one stage through its usage plan.
type Key struct {
	ID      string
	Value   string
	Enabled bool
	Plan    *UsagePlan
}

// UsagePlan limits the keys bound to it (DG api-gateway-api-usage-plans.md).
type UsagePlan struct {
	ID string
	// Throttle: steady requests per second and bucket size; zero values mean no throttle.
	RateLimit  float64
	BurstLimit int
	// Quota: requests per period (DAY, WEEK or MONTH, UTC calendar windows); 0 means no quota.
	QuotaLimit  int64
	QuotaPeriod string
}

// KeySource finds the key a request names for a stage.
type KeySource interface {
	Lookup(apiID, stage, value string) (*Key, bool)
}

// StaticKeys are keys bound to every stage (test-invoke --api-keys, conformance cases).
type StaticKeys map[string]*Key

// Lookup implements KeySource.
func (s StaticKeys) Lookup(_, _, value string) (*Key, bool) {
	k, ok := s[value]
	return k, ok
}

// KeyFile is the test-invoke --api-keys format (conformance README "apiKeys").
type KeyFile []struct {
	Value     string `json:"value"`
	Enabled   *bool  `json:"enabled"`
	UsagePlan *struct {
		Throttle *struct {
			RateLimit  float64 `json:"rateLimit"`
			BurstLimit int     `json:"burstLimit"`
		} `json:"throttle"`
		Quota *struct {
			Limit  int64  `json:"limit"`
			Period string `json:"period"`
		} `json:"quota"`
	} `json:"usagePlan"`
}

// ParseKeyFile reads a YAML or JSON list of keys; name is the file for errors.
func ParseKeyFile(name string, b []byte) (StaticKeys, error) {
	var kf KeyFile
	j, err := yaml.YAMLToJSON(b)
	if err == nil {
		err = json.Unmarshal(j, &kf)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := StaticKeys{}
	for i, e := range kf {
		if e.Value == "" {
			return nil, fmt.Errorf("%s: [%d].value is empty", name, i)
		}
		k := &Key{ID: KeyID(e.Value), Value: e.Value, Enabled: e.Enabled == nil || *e.Enabled, Plan: &UsagePlan{ID: "plan-" + KeyID(e.Value)}}
		if up := e.UsagePlan; up != nil {
			if t := up.Throttle; t != nil {
				k.Plan.RateLimit, k.Plan.BurstLimit = t.RateLimit, t.BurstLimit
			}
			if q := up.Quota; q != nil {
				p := strings.ToUpper(q.Period)
				if p != "DAY" && p != "WEEK" && p != "MONTH" {
					return nil, fmt.Errorf("%s: [%d].usagePlan.quota.period %q must be DAY, WEEK or MONTH", name, i, q.Period)
				}
				k.Plan.QuotaLimit, k.Plan.QuotaPeriod = q.Limit, p
			}
		}
		out[e.Value] = k
	}
	return out, nil
}

// KeyID is a stable 10-character id for a key value (API Gateway's ids are 10 lower-case alphanumerics).
func KeyID(value string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256([]byte(value))
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

// Limiter counts requests per key and plan: a token bucket for the throttle and a counter per quota window. One
// Limiter holds the counts of every Envoy that calls this service replica. With a shared counter store (Shared,
// SyncEvery) both limits hold across replicas, through counters added up in the store at each sync and never on the
// request path:
//   - quota: a replica admits while the window's total it last read plus what it admitted since stays under the
//     limit, so N replicas overshoot a quota by at most what the other N-1 admit within one sync interval;
//   - throttle: each (key, plan) has one cumulative counter of admitted requests; each replica adds what it admitted
//     and takes from its own bucket what the counter grew by beyond that (the other replicas' admissions). Every
//     replica's bucket is thus debited with every admission of the fleet, its own at once and the others' within
//     L = two sync intervals, and over any span of T seconds the fleet admits at most
//     burst + rate·T + (N−1)·(burst + rate·L) requests, once every replica has synced the key's counter (README
//     "How exact the limits are across a fleet" has the exceptions).
//
// Memory is bounded by the keys in use (one entry per key and plan, one pending count per counter).
type Limiter struct {
	mu    sync.Mutex
	state map[string]*usage
	// Shared, when set, holds the quota counters of all replicas (store.UsageStore).
	Shared store.UsageStore
	// base is each quota counter's total at the last sync; pending what this replica admitted since.
	base, pending map[string]int64
}

type usage struct {
	tokens float64
	last   time.Time
	window time.Time
	// count is what this replica admitted in the window since the last sync (all of it without Shared);
	// counter names the window's shared counter.
	count   int64
	counter string
	// throttleCounter names the shared cumulative count of the throttle's admissions (with Shared);
	// throttleTotal is its value at the last sync, throttleSynced whether there was one.
	throttleCounter string
	throttleTotal   int64
	throttleSynced  bool
}

// NewLimiter is an empty Limiter.
func NewLimiter() *Limiter {
	return &Limiter{state: map[string]*usage{}, base: map[string]int64{}, pending: map[string]int64{}}
}

// Sync adds what this replica admitted since the last sync to the shared counters and reads back every current
// window's total (what the other replicas admitted included). On failure the counts stay pending for the next sync.
func (l *Limiter) Sync(ctx context.Context) error {
	if l.Shared == nil {
		return nil
	}
	l.mu.Lock()
	deltas := make(map[string]int64, len(l.state))
	for _, u := range l.state {
		if u.counter != "" {
			deltas[u.counter] += 0 // read every window in use, not only those with news
		}
		if u.throttleCounter != "" {
			deltas[u.throttleCounter] += 0
		}
	}
	for k, n := range l.pending {
		deltas[k] += n
	}
	l.pending = map[string]int64{}
	l.mu.Unlock()
	if len(deltas) == 0 {
		return nil
	}
	totals, err := l.Shared.AddUsage(ctx, deltas)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		for k, n := range deltas {
			l.pending[k] += n
		}
		return fmt.Errorf("usage sync: %w", err)
	}
	base := make(map[string]int64, len(totals))
	for k, n := range totals {
		base[k] = n
	}
	l.base = base
	// What was admitted since the swap is still pending, and still counted in the windows' local counts; the
	// synced part is now in base.
	for _, u := range l.state {
		u.count = l.pending[u.counter]
		// The throttle counter grew by this replica's published admissions (already taken from the bucket) and
		// by the other replicas' since the last sync: take those from the bucket too. The bucket may go below
		// zero; it refills at the plan's rate. The first sync of a counter only sets where to count from.
		tc := u.throttleCounter
		total, ok := totals[tc]
		if tc == "" || !ok {
			continue
		}
		if u.throttleSynced {
			if others := total - u.throttleTotal - deltas[tc]; others > 0 {
				u.tokens -= float64(others)
			}
		}
		u.throttleTotal, u.throttleSynced = total, true
	}
	return nil
}

// SyncEvery syncs every interval until ctx ends; failures are logged and retried at the next tick.
func (l *Limiter) SyncEvery(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
				log.Error("authz: usage-plan counters not shared", "error", err)
			}
		}
	}
}

// Take counts one request of k at now: nil when allowed, else the throttle or quota denial. A throttled request
// does not count against the quota.
func (l *Limiter) Take(k *Key, now time.Time) *Denial {
	p := k.Plan
	if p == nil || (p.BurstLimit <= 0 && p.RateLimit <= 0 && p.QuotaLimit <= 0) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	id := k.ID + "/" + p.ID // a key's usage counts per plan, as API Gateway's usage does
	u := l.state[id]
	if u == nil {
		u = &usage{tokens: float64(p.BurstLimit), last: now}
		l.state[id] = u
	}
	if p.RateLimit > 0 || p.BurstLimit > 0 {
		if l.Shared != nil && u.throttleCounter == "" {
			u.throttleCounter = id + "/throttle" // quota counters end in a date: no clash
		}
		burst := float64(max(p.BurstLimit, 1))
		u.tokens = math.Min(burst, u.tokens+now.Sub(u.last).Seconds()*p.RateLimit)
		u.last = now
		if u.tokens < 1 {
			return &Throttled
		}
	}
	if p.QuotaLimit > 0 {
		w := windowStart(now, p.QuotaPeriod)
		if !w.Equal(u.window) {
			u.window, u.count = w, 0
			u.counter = id + "/" + w.Format("2006-01-02")
		}
		if l.base[u.counter]+u.count >= p.QuotaLimit {
			return &QuotaExceeded
		}
		u.count++
		if l.Shared != nil {
			l.pending[u.counter]++
		}
	}
	if p.RateLimit > 0 || p.BurstLimit > 0 {
		u.tokens--
		if u.throttleCounter != "" {
			l.pending[u.throttleCounter]++
		}
	}
	return nil
}

// windowStart is the UTC start of the quota period holding t (weeks start on Monday).
func windowStart(t time.Time, period string) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case "WEEK":
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "MONTH":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}
