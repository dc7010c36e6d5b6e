package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// UsageStore keeps the usage-plan counters every authorization service replica shares (issue 11 scope 3: quotas
// and throttles hold across the replicas of one control plane). Counters are outside the revisioned tables: adding
// to them does not bump the store revision or wake Watch, so counting costs the APIs nothing. Bolt and Etcd
// implement it.
type UsageStore interface {
	// AddUsage adds each delta (0 reads) to its counter atomically and returns every counter's new total.
	AddUsage(ctx context.Context, deltas map[string]int64) (map[string]int64, error)
}

var (
	_ UsageStore = (*Bolt)(nil)
	_ UsageStore = (*Etcd)(nil)
)

// maxUsageCounters bounds one AddUsage call (one transaction).
const maxUsageCounters = 10000

var bucketUsage = []byte("usage")

func checkUsage(deltas map[string]int64) error {
	if len(deltas) > maxUsageCounters {
		return fmt.Errorf("add usage: %d counters, at most %d per call: %w", len(deltas), maxUsageCounters, ErrInvalidArgument)
	}
	for k := range deltas {
		if k == "" || len(k) > 512 {
			return fmt.Errorf("add usage: counter name %q: 1 to 512 bytes: %w", k, ErrInvalidArgument)
		}
	}
	return nil
}

func usageBytes(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func usageValue(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// AddUsage implements UsageStore in one bbolt write transaction (its own bucket, no revision).
func (s *Bolt) AddUsage(ctx context.Context, deltas map[string]int64) (map[string]int64, error) {
	if err := checkUsage(deltas); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(deltas))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketUsage)
		if err != nil {
			return err
		}
		for k, d := range deltas {
			n := usageValue(b.Get([]byte(k))) + d
			if d != 0 {
				if err := b.Put([]byte(k), usageBytes(n)); err != nil {
					return err
				}
			}
			out[k] = n
		}
		return nil
	})
	if err != nil {
		return nil, wrapDBErr(err)
	}
	return out, nil
}

// etcdUsageAttempts bounds the optimistic retries of one AddUsage when other replicas add at the same time.
const etcdUsageAttempts = 100

// AddUsage implements UsageStore with one etcd transaction guarded by the counters' mod revisions, retried when
// another replica changed one of them first. Counters live under P/usage/, outside meta/revision, so Watch does
// not see them.
func (s *Etcd) AddUsage(ctx context.Context, deltas map[string]int64) (map[string]int64, error) {
	if err := checkUsage(deltas); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(deltas))
	for k := range deltas {
		names = append(names, k)
	}
	sort.Strings(names)
	for attempt := 0; attempt < etcdUsageAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ops := make([]clientv3.Op, len(names))
		for i, k := range names {
			ops[i] = clientv3.OpGet(s.prefix + "usage/" + k)
		}
		read, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("etcd store: read usage: %w", err)
		}
		out := make(map[string]int64, len(names))
		var cmps []clientv3.Cmp
		var puts []clientv3.Op
		for i, k := range names {
			key := s.prefix + "usage/" + k
			var cur int64
			var mod int64
			if kvs := read.Responses[i].GetResponseRange().GetKvs(); len(kvs) == 1 {
				cur, mod = usageValue(kvs[0].Value), kvs[0].ModRevision
			}
			out[k] = cur + deltas[k]
			if deltas[k] == 0 {
				continue
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", mod))
			puts = append(puts, clientv3.OpPut(key, string(usageBytes(out[k]))))
		}
		if len(puts) == 0 {
			return out, nil
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Commit()
		if err != nil {
			return nil, fmt.Errorf("etcd store: add usage: %w", err)
		}
		if resp.Succeeded {
			return out, nil
		}
	}
	return nil, fmt.Errorf("etcd store: add usage: %d attempts lost to concurrent writers: %w", etcdUsageAttempts, ErrConflict)
}
