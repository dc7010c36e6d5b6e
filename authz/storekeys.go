package authz

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// StoreKeys is the KeySource of a running proxyplus: the API keys and usage plans of the store (admin API),
// indexed by (API, stage, value) and swapped whole when the store changes, so a check never waits for the store.
type StoreKeys struct {
	index atomic.Pointer[map[stageKey]*Key]
	// loaded, when set, is called after every load Follow makes (tests wait on it).
	loaded func()
}

type stageKey struct{ api, stage, value string }

// Lookup implements KeySource.
func (s *StoreKeys) Lookup(apiID, stage, value string) (*Key, bool) {
	m := s.index.Load()
	if m == nil {
		return nil, false
	}
	k, ok := (*m)[stageKey{apiID, stage, value}]
	return k, ok
}

// Load reads every key and plan from ks and replaces the index.
func (s *StoreKeys) Load(ctx context.Context, ks store.KeyStore) error {
	keys, err := ks.ListAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	plans, err := ks.ListUsagePlans(ctx)
	if err != nil {
		return fmt.Errorf("usage plans: %w", err)
	}
	s.index.Store(buildIndex(keys, plans))
	return nil
}

// buildIndex binds each key of a plan to each of the plan's stages. API Gateway refuses a key in two plans of one
// stage; should the store hold such a pair, the plan listed first (by id) wins.
func buildIndex(keys []*adminv1.ApiKey, plans []*adminv1.UsagePlan) *map[stageKey]*Key {
	byID := make(map[string]*adminv1.ApiKey, len(keys))
	for _, k := range keys {
		byID[k.GetId()] = k
	}
	m := map[stageKey]*Key{}
	for _, p := range plans {
		plan := &UsagePlan{ID: p.GetId(), RateLimit: p.GetThrottle().GetRateLimit(), BurstLimit: int(p.GetThrottle().GetBurstLimit()),
			QuotaLimit: p.GetQuota().GetLimit(), QuotaPeriod: p.GetQuota().GetPeriod()}
		for _, id := range p.GetKeyIds() {
			k := byID[id]
			if k == nil {
				continue
			}
			key := &Key{ID: k.GetId(), Value: k.GetValue(), Enabled: k.GetEnabled(), Plan: plan}
			for _, st := range p.GetApiStages() {
				sk := stageKey{st.GetRestApiId(), st.GetStage(), k.GetValue()}
				if _, taken := m[sk]; !taken {
					m[sk] = key
				}
			}
		}
	}
	return &m
}

// Follow loads the index and reloads it after every store change until ctx ends. A failed reload keeps the
// previous index and is logged.
func (s *StoreKeys) Follow(ctx context.Context, st store.Store, ks store.KeyStore, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	changes := st.Watch(ctx) // before the first read, so no change is missed
	if err := s.Load(ctx, ks); err != nil {
		log.Error("authz: loading API keys", "error", err)
	}
	if s.loaded != nil {
		s.loaded()
	}
	for range changes {
		if err := s.Load(ctx, ks); err != nil && ctx.Err() == nil {
			log.Error("authz: reloading API keys", "error", err)
		}
		if s.loaded != nil {
			s.loaded()
		}
	}
}
