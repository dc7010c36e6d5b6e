package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketMeta        = []byte("meta")
	bucketAPIs        = []byte("apis")
	bucketDeployments = []byte("deployments")
	bucketStages      = []byte("stages")
	bucketAPIKeys     = []byte("apikeys")
	bucketUsagePlans  = []byte("usageplans")

	keyRevision         = []byte("revision")          // store revision
	keyDeployedRevision = []byte("deployed_revision") // last write that changed Deployed()
	keySchema           = []byte("schema")
)

// Bolt is the embedded Store backed by one bbolt file.
type Bolt struct {
	kvStore
	db *bolt.DB

	// writeMu orders commits and their Watch notifications, so watchers
	// never see revisions go backwards.
	writeMu  sync.Mutex
	watchers *watchers
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if missing, with mode 0600, parent directories
// 0700) the bbolt database at path. Only one process may have it open; a
// second open fails after a few seconds.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketAPIs, bucketDeployments, bucketStages, bucketAPIKeys, bucketUsagePlans} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion)))
		case string(v) != strconv.Itoa(schemaVersion):
			return fmt.Errorf("unsupported schema version %q", v)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	s := &Bolt{db: db, watchers: newWatchers()}
	s.kvStore = kvStore{b: (*boltBackend)(s), now: time.Now}
	return s, nil
}

// Close closes the database and every Watch channel.
func (s *Bolt) Close() error {
	s.watchers.close()
	return s.db.Close()
}

// Watch implements Store.
func (s *Bolt) Watch(ctx context.Context) <-chan Revision { return s.watchers.add(ctx) }

func wrapDBErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// boltBackend is the kvBackend of a Bolt. It is a separate named type so
// view and update do not become methods of Bolt.
type boltBackend Bolt

func (b *boltBackend) view(ctx context.Context, fn func(tx kvTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapDBErr(b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) }))
}

func (b *boltBackend) update(ctx context.Context, fn func(tx kvTx, rev Revision) (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	var rev Revision
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		rev = bytesRev(meta.Get(keyRevision)) + 1
		served, err := fn(boltTx{tx}, rev)
		if err != nil {
			return err
		}
		if served {
			if err := meta.Put(keyDeployedRevision, revBytes(rev)); err != nil {
				return err
			}
		}
		return meta.Put(keyRevision, revBytes(rev))
	})
	if err != nil {
		return wrapDBErr(err)
	}
	b.watchers.notify(rev)
	return nil
}

// boltTx maps the tables onto buckets. Values returned are copies: bbolt's
// are only valid inside the transaction.
type boltTx struct{ tx *bolt.Tx }

var boltTables = map[table][]byte{tableAPIs: bucketAPIs, tableDeployments: bucketDeployments, tableStages: bucketStages,
	tableAPIKeys: bucketAPIKeys, tableUsagePlans: bucketUsagePlans}

func (t boltTx) bucket(tb table) *bolt.Bucket { return t.tx.Bucket(boltTables[tb]) }

func (t boltTx) get(tb table, key []byte) ([]byte, error) {
	return bytes.Clone(t.bucket(tb).Get(key)), nil
}

func (t boltTx) scan(tb table, prefix, after []byte, limit int) ([]kvPair, error) {
	c := t.bucket(tb).Cursor()
	var k, v []byte
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(prefix)
	}
	var out []kvPair
	for ; k != nil && bytes.HasPrefix(k, prefix) && (limit == 0 || len(out) < limit); k, v = c.Next() {
		out = append(out, kvPair{bytes.Clone(k), bytes.Clone(v)})
	}
	return out, nil
}

func (t boltTx) meta(k metaKey) (Revision, error) {
	key := keyRevision
	if k == metaDeployedRevision {
		key = keyDeployedRevision
	}
	return bytesRev(t.tx.Bucket(bucketMeta).Get(key)), nil
}

func (t boltTx) put(tb table, key, val []byte) error { return t.bucket(tb).Put(key, val) }

func (t boltTx) del(tb table, key []byte) error { return t.bucket(tb).Delete(key) }

func (t boltTx) deletePrefix(tb table, prefix []byte) (int, error) {
	b := t.bucket(tb)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
