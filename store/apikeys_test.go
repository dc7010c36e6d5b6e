package store

import (
	"context"
	"testing"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// testAPIKeysAndUsagePlans: keys and plans round-trip with revisions; values are unique and long enough; a plan
// names only existing keys; deleting a key removes it from its plans; writes bump the store revision without
// changing what is deployed.
func testAPIKeysAndUsagePlans(t *testing.T, open func(*testing.T) contractStore) {
	ctx := context.Background()
	s := open(t)
	ks, ok := s.(KeyStore)
	if !ok {
		t.Fatalf("%T does not implement KeyStore", s)
	}
	depBefore, _, err := s.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	_, err = ks.PutAPIKey(ctx, &adminv1.ApiKey{Value: "short"}, 0)
	wantErr(t, err, ErrInvalidArgument)
	k, err := ks.PutAPIKey(ctx, &adminv1.ApiKey{Name: "partner", Value: value, Enabled: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.GetId()) != 10 || k.GetRevision() == 0 {
		t.Fatalf("key %+v: want a derived 10-character id and a revision", k)
	}
	_, err = ks.PutAPIKey(ctx, &adminv1.ApiKey{Value: value}, 0)
	wantErr(t, err, ErrAlreadyExists)
	_, err = ks.PutAPIKey(ctx, &adminv1.ApiKey{Id: k.GetId(), Value: value, Enabled: false}, Revision(k.GetRevision()+100))
	wantErr(t, err, ErrConflict)
	k2, err := ks.PutAPIKey(ctx, &adminv1.ApiKey{Id: k.GetId(), Name: "partner", Value: value, Enabled: false}, Revision(k.GetRevision()))
	if err != nil {
		t.Fatal(err)
	}
	if k2.GetEnabled() || k2.GetRevision() <= k.GetRevision() {
		t.Fatalf("updated key %+v", k2)
	}
	_, err = ks.PutUsagePlan(ctx, &adminv1.UsagePlan{KeyIds: []string{"nosuchkey0"}}, 0)
	wantErr(t, err, ErrFailedPrecondition)
	_, err = ks.PutUsagePlan(ctx, &adminv1.UsagePlan{Quota: &adminv1.Quota{Limit: 1, Period: "YEAR"}}, 0)
	wantErr(t, err, ErrInvalidArgument)
	p, err := ks.PutUsagePlan(ctx, &adminv1.UsagePlan{Name: "gold", KeyIds: []string{k.GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: "a1b2c3d4e5", Stage: "dev"}},
		Throttle:  &adminv1.Throttle{RateLimit: 100, BurstLimit: 200}, Quota: &adminv1.Quota{Limit: 10000, Period: "MONTH"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := ks.ListUsagePlans(ctx)
	if err != nil || len(plans) != 1 || plans[0].GetQuota().GetLimit() != 10000 {
		t.Fatalf("plans %v, %v", plans, err)
	}
	if err := ks.DeleteAPIKey(ctx, k.GetId(), 0); err != nil {
		t.Fatal(err)
	}
	got, err := ks.GetUsagePlan(ctx, p.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetKeyIds()) != 0 {
		t.Errorf("plan still lists the deleted key: %v", got.GetKeyIds())
	}
	_, err = ks.GetAPIKey(ctx, k.GetId())
	wantErr(t, err, ErrNotFound)
	if err := ks.DeleteUsagePlan(ctx, p.GetId(), 0); err != nil {
		t.Fatal(err)
	}
	depAfter, _, err := s.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if depAfter != depBefore {
		t.Errorf("deployed revision moved from %d to %d: keys must not change what Envoy serves", depBefore, depAfter)
	}
}

// testUsageCounters: concurrent adds from several writers all count; a zero delta reads; counting does not bump
// the store revision (Watch stays quiet for it).
func testUsageCounters(t *testing.T, open func(*testing.T) contractStore) {
	ctx := context.Background()
	s := open(t)
	us, ok := s.(UsageStore)
	if !ok {
		t.Fatalf("%T does not implement UsageStore", s)
	}
	before, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const writers, adds = 4, 25
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < adds; i++ {
				if _, err := us.AddUsage(ctx, map[string]int64{"k1/gold/2026-12-07": 1, "k2/gold/2026-12-07": 2}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := us.AddUsage(ctx, map[string]int64{"k1/gold/2026-12-07": 0, "k2/gold/2026-12-07": 0, "k3/none": 0})
	if err != nil {
		t.Fatal(err)
	}
	if got["k1/gold/2026-12-07"] != writers*adds || got["k2/gold/2026-12-07"] != 2*writers*adds || got["k3/none"] != 0 {
		t.Errorf("totals %v", got)
	}
	after, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("store revision moved from %d to %d: usage counting must not", before, after)
	}
	_, err = us.AddUsage(ctx, map[string]int64{"": 1})
	wantErr(t, err, ErrInvalidArgument)
}
