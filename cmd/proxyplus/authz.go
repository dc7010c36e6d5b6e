package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/store"
)

// usageSyncInterval is how often the usage-plan counters (quota windows, throttle admissions) are added up across
// replicas (authz.Limiter); the throttle bound across replicas grows with it (L = two intervals, README).
const usageSyncInterval = time.Second

// newAuthzService is the authorization service Envoy's ext_authz filter calls (API keys, usage plans, Cognito
// scopes), over the API keys and usage plans of st, followed as they change, with the quota and throttle counters
// shared through st. run starts its background loops (they stop with serve's or extproc's context). Without a store
// every API-key route answers 403 Forbidden.
func newAuthzService(ctx context.Context, st store.Store, log *slog.Logger, run func(name string, loop func())) *authz.Service {
	az := &authz.Service{Limits: authz.NewLimiter(), Log: log}
	if st == nil {
		return az
	}
	if ks, ok := st.(store.KeyStore); ok {
		sk := &authz.StoreKeys{}
		az.Keys = sk
		run("API key index", func() { sk.Follow(ctx, st, ks, log) })
	}
	if us, ok := st.(store.UsageStore); ok {
		az.Limits.Shared = us
		run("usage-plan counters", func() { az.Limits.SyncEvery(ctx, usageSyncInterval, log) })
	}
	return az
}
