package authz

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
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

// Limiter counts requests per key: a token bucket for the throttle and a counter per quota window. One Limiter
// holds the counts of every Envoy that calls this service replica; see the README section on how exact that is
// across replicas. Memory is bounded by the number of keys (one entry per key).
type Limiter struct {
	mu    sync.Mutex
	state map[string]*usage
}

type usage struct {
	tokens float64
	last   time.Time
	window time.Time
	count  int64
}

// NewLimiter is an empty Limiter.
func NewLimiter() *Limiter { return &Limiter{state: map[string]*usage{}} }

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
		}
		if u.count >= p.QuotaLimit {
			return &QuotaExceeded
		}
		u.count++
	}
	if p.RateLimit > 0 || p.BurstLimit > 0 {
		u.tokens--
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
