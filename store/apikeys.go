package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// KeyStore keeps API keys and usage plans (issue 11 scope 3), in the same transactions, revisions and backends
// (bbolt, etcd) as the APIs. Bolt and Etcd implement it. A write bumps the store revision, so Watch reports it,
// but does not change Deployed: keys apply without a new Envoy snapshot. Returned values are copies.
type KeyStore interface {
	// PutAPIKey creates (empty id: derived) or replaces a key. The value is required, at least
	// MinAPIKeyValueLength characters and unique among keys (ErrAlreadyExists). ErrConflict if expected != 0 and
	// the key is missing or at another revision.
	PutAPIKey(ctx context.Context, k *adminv1.ApiKey, expected Revision) (*adminv1.ApiKey, error)
	GetAPIKey(ctx context.Context, id string) (*adminv1.ApiKey, error)
	// ListAPIKeys returns every key ordered by id.
	ListAPIKeys(ctx context.Context) ([]*adminv1.ApiKey, error)
	// DeleteAPIKey deletes the key and removes it from every usage plan.
	DeleteAPIKey(ctx context.Context, id string, expected Revision) error
	// PutUsagePlan creates (empty id: derived) or replaces a plan. Its key_ids must name existing keys
	// (ErrFailedPrecondition); quota periods are DAY, WEEK or MONTH; limits are not negative.
	PutUsagePlan(ctx context.Context, p *adminv1.UsagePlan, expected Revision) (*adminv1.UsagePlan, error)
	GetUsagePlan(ctx context.Context, id string) (*adminv1.UsagePlan, error)
	ListUsagePlans(ctx context.Context) ([]*adminv1.UsagePlan, error)
	DeleteUsagePlan(ctx context.Context, id string, expected Revision) error
}

// MinAPIKeyValueLength is API Gateway's minimum key value length (CreateApiKey: "at least 20 characters").
const MinAPIKeyValueLength = 20

// maxAPIKeyValueLength bounds what a key value may cost in every check (API Gateway allows 128).
const maxAPIKeyValueLength = 128

var (
	_ KeyStore = (*Bolt)(nil)
	_ KeyStore = (*Etcd)(nil)
)

func getKey(tx kvTx, id string) (*adminv1.ApiKey, error) {
	return getRecord[adminv1.ApiKey](tx, tableAPIKeys, "api key", id)
}

func getPlan(tx kvTx, id string) (*adminv1.UsagePlan, error) {
	return getRecord[adminv1.UsagePlan](tx, tableUsagePlans, "usage plan", id)
}

// protoRecord is a pointer to a record type stored as protobuf (ApiKey, UsagePlan).
type protoRecord[M any] interface {
	*M
	proto.Message
}

// getRecord reads and decodes the record id of table t; kind names it in errors.
func getRecord[M any, PM protoRecord[M]](tx kvTx, t table, kind, id string) (*M, error) {
	v, err := tx.get(t, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	m := PM(new(M))
	if err := proto.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("%s %q: decode: %w", kind, id, err)
	}
	return m, nil
}

func putProto(tx kvTx, t table, id string, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	return tx.put(t, []byte(id), b)
}

func listKeys(tx kvTx) ([]*adminv1.ApiKey, error) {
	return listRecords[adminv1.ApiKey](tx, tableAPIKeys, "api key")
}

func listPlans(tx kvTx) ([]*adminv1.UsagePlan, error) {
	return listRecords[adminv1.UsagePlan](tx, tableUsagePlans, "usage plan")
}

// listRecords reads and decodes every record of table t, by key; kind names them in errors.
func listRecords[M any, PM protoRecord[M]](tx kvTx, t table, kind string) ([]*M, error) {
	pairs, err := tx.scan(t, nil, nil, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*M, 0, len(pairs))
	for _, p := range pairs {
		m := PM(new(M))
		if err := proto.Unmarshal(p.val, m); err != nil {
			return nil, fmt.Errorf("%s %q: decode: %w", kind, p.key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// newChildID is the id of a new key or plan: given (checked), or derived from the kind and the revision.
func newChildID(tx kvTx, t table, kind, given string, rev Revision) (string, bool, error) {
	if given != "" {
		if err := checkID(kind+" id", given); err != nil {
			return "", false, err
		}
		taken, err := exists(tx, t, []byte(given))
		return given, taken, err
	}
	revStr := strconv.FormatUint(uint64(rev), 10)
	for attempt := 0; ; attempt++ {
		id := deriveID(10, attempt, kind, revStr)
		taken, err := exists(tx, t, []byte(id))
		if err != nil {
			return "", false, err
		}
		if !taken {
			return id, false, nil
		}
	}
}

// PutAPIKey implements KeyStore.
func (s *kvStore) PutAPIKey(ctx context.Context, k *adminv1.ApiKey, expected Revision) (*adminv1.ApiKey, error) {
	if k == nil {
		return nil, fmt.Errorf("put api key: nil key: %w", ErrInvalidArgument)
	}
	if n := len(k.GetValue()); n < MinAPIKeyValueLength || n > maxAPIKeyValueLength {
		return nil, fmt.Errorf("api key %q: value must be %d to %d characters, has %d: %w", k.GetId(), MinAPIKeyValueLength, maxAPIKeyValueLength, n, ErrInvalidArgument)
	}
	var out *adminv1.ApiKey
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
		id, taken, err := newChildID(tx, tableAPIKeys, "apikey", k.GetId(), rev)
		if err != nil {
			return false, err
		}
		now := timestamppb.New(s.timestamp())
		created := now
		if taken {
			cur, err := getKey(tx, id)
			if err != nil {
				return false, err
			}
			if err := checkExpected("api key", id, expected, Revision(cur.GetRevision())); err != nil {
				return false, err
			}
			created = cur.GetCreateTime()
		} else if expected != 0 {
			return false, fmt.Errorf("api key %q: expected revision %d, but it does not exist: %w", id, expected, ErrConflict)
		}
		all, err := listKeys(tx)
		if err != nil {
			return false, err
		}
		for _, o := range all {
			if o.GetId() != id && o.GetValue() == k.GetValue() {
				return false, fmt.Errorf("api key %q: the value is already the value of key %q: %w", id, o.GetId(), ErrAlreadyExists)
			}
		}
		out = proto.Clone(k).(*adminv1.ApiKey)
		out.Id, out.Revision, out.CreateTime, out.UpdateTime = id, uint64(rev), created, now
		return false, putProto(tx, tableAPIKeys, id, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetAPIKey implements KeyStore.
func (s *kvStore) GetAPIKey(ctx context.Context, id string) (*adminv1.ApiKey, error) {
	var out *adminv1.ApiKey
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = getKey(tx, id)
		return err
	})
	return out, err
}

// ListAPIKeys implements KeyStore.
func (s *kvStore) ListAPIKeys(ctx context.Context) ([]*adminv1.ApiKey, error) {
	var out []*adminv1.ApiKey
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = listKeys(tx)
		return err
	})
	return out, err
}

// DeleteAPIKey implements KeyStore.
func (s *kvStore) DeleteAPIKey(ctx context.Context, id string, expected Revision) error {
	return s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
		cur, err := getKey(tx, id)
		if err != nil {
			return false, err
		}
		if err := checkExpected("api key", id, expected, Revision(cur.GetRevision())); err != nil {
			return false, err
		}
		plans, err := listPlans(tx)
		if err != nil {
			return false, err
		}
		for _, p := range plans {
			if i := slices.Index(p.GetKeyIds(), id); i >= 0 {
				p.KeyIds = slices.Delete(p.KeyIds, i, i+1)
				p.Revision, p.UpdateTime = uint64(rev), timestamppb.New(s.timestamp())
				if err := putProto(tx, tableUsagePlans, p.GetId(), p); err != nil {
					return false, err
				}
			}
		}
		return false, tx.del(tableAPIKeys, []byte(id))
	})
}

func validatePlan(p *adminv1.UsagePlan) error {
	if t := p.GetThrottle(); t != nil && (t.GetRateLimit() < 0 || t.GetBurstLimit() < 0) {
		return fmt.Errorf("usage plan %q: throttle limits must not be negative: %w", p.GetId(), ErrInvalidArgument)
	}
	if q := p.GetQuota(); q != nil {
		if q.GetLimit() < 0 {
			return fmt.Errorf("usage plan %q: quota.limit must not be negative: %w", p.GetId(), ErrInvalidArgument)
		}
		switch q.GetPeriod() {
		case "DAY", "WEEK", "MONTH":
		default:
			return fmt.Errorf("usage plan %q: quota.period %q must be DAY, WEEK or MONTH: %w", p.GetId(), q.GetPeriod(), ErrInvalidArgument)
		}
	}
	for i, st := range p.GetApiStages() {
		if st.GetRestApiId() == "" || st.GetStage() == "" {
			return fmt.Errorf("usage plan %q: api_stages[%d] needs rest_api_id and stage: %w", p.GetId(), i, ErrInvalidArgument)
		}
	}
	return nil
}

// PutUsagePlan implements KeyStore.
func (s *kvStore) PutUsagePlan(ctx context.Context, p *adminv1.UsagePlan, expected Revision) (*adminv1.UsagePlan, error) {
	if p == nil {
		return nil, fmt.Errorf("put usage plan: nil plan: %w", ErrInvalidArgument)
	}
	if err := validatePlan(p); err != nil {
		return nil, err
	}
	var out *adminv1.UsagePlan
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
		id, taken, err := newChildID(tx, tableUsagePlans, "usageplan", p.GetId(), rev)
		if err != nil {
			return false, err
		}
		if taken {
			cur, err := getPlan(tx, id)
			if err != nil {
				return false, err
			}
			if err := checkExpected("usage plan", id, expected, Revision(cur.GetRevision())); err != nil {
				return false, err
			}
		} else if expected != 0 {
			return false, fmt.Errorf("usage plan %q: expected revision %d, but it does not exist: %w", id, expected, ErrConflict)
		}
		for _, k := range p.GetKeyIds() {
			if ok, err := exists(tx, tableAPIKeys, []byte(k)); err != nil {
				return false, err
			} else if !ok {
				return false, fmt.Errorf("usage plan %q: api key %q does not exist: %w", id, k, ErrFailedPrecondition)
			}
		}
		out = proto.Clone(p).(*adminv1.UsagePlan)
		out.Id, out.Revision, out.UpdateTime = id, uint64(rev), timestamppb.New(s.timestamp())
		return false, putProto(tx, tableUsagePlans, id, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetUsagePlan implements KeyStore.
func (s *kvStore) GetUsagePlan(ctx context.Context, id string) (*adminv1.UsagePlan, error) {
	var out *adminv1.UsagePlan
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = getPlan(tx, id)
		return err
	})
	return out, err
}

// ListUsagePlans implements KeyStore.
func (s *kvStore) ListUsagePlans(ctx context.Context) ([]*adminv1.UsagePlan, error) {
	var out []*adminv1.UsagePlan
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = listPlans(tx)
		return err
	})
	return out, err
}

// DeleteUsagePlan implements KeyStore.
func (s *kvStore) DeleteUsagePlan(ctx context.Context, id string, expected Revision) error {
	return s.b.update(ctx, func(tx kvTx, _ Revision) (bool, error) {
		cur, err := getPlan(tx, id)
		if err != nil {
			return false, err
		}
		if err := checkExpected("usage plan", id, expected, Revision(cur.GetRevision())); err != nil {
			return false, err
		}
		return false, tx.del(tableUsagePlans, []byte(id))
	})
}
