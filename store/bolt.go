package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

var (
	bucketMeta        = []byte("meta")
	bucketAPIs        = []byte("apis")
	bucketDeployments = []byte("deployments")
	bucketStages      = []byte("stages")

	keyRevision         = []byte("revision")          // store revision
	keyDeployedRevision = []byte("deployed_revision") // last write that changed Deployed()
	keySchema           = []byte("schema")
)

// Bolt is the embedded Store backed by one bbolt file.
type Bolt struct {
	db  *bolt.DB
	now func() time.Time

	// writeMu orders commits and their Watch notifications, so watchers
	// never see revisions go backwards.
	writeMu sync.Mutex

	watchMu  sync.Mutex
	watchers map[chan Revision]struct{}
	closed   bool
	done     chan struct{} // closed by Close; ends Watch goroutines
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
		for _, name := range [][]byte{bucketMeta, bucketAPIs, bucketDeployments, bucketStages} {
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
	return &Bolt{db: db, now: time.Now, watchers: map[chan Revision]struct{}{}, done: make(chan struct{})}, nil
}

// Close closes the database and every Watch channel.
func (s *Bolt) Close() error {
	s.watchMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for ch := range s.watchers {
			close(ch)
		}
		clear(s.watchers)
	}
	s.watchMu.Unlock()
	return s.db.Close()
}

func (s *Bolt) timestamp() time.Time { return s.now().UTC().Round(0) }

func wrapDBErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

func (s *Bolt) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapDBErr(s.db.View(fn))
}

// update runs fn in a write transaction with the next store revision. fn
// reports whether it changed the served view (Deployed). On success the
// revision is persisted and watchers are notified.
func (s *Bolt) update(ctx context.Context, fn func(tx *bolt.Tx, rev Revision) (servedChanged bool, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var rev Revision
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		rev = bytesRev(meta.Get(keyRevision)) + 1
		served, err := fn(tx, rev)
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
	s.notify(rev)
	return nil
}

func (s *Bolt) notify(rev Revision) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- rev:
		default:
			// Coalesce: replace the unread older revision by the newest.
			select {
			case <-ch:
			default:
			}
			ch <- rev // cannot block: we hold watchMu and the buffer is empty
		}
	}
}

// Watch implements Store.
func (s *Bolt) Watch(ctx context.Context) <-chan Revision {
	ch := make(chan Revision, 1)
	s.watchMu.Lock()
	if s.closed {
		s.watchMu.Unlock()
		close(ch)
		return ch
	}
	s.watchers[ch] = struct{}{}
	s.watchMu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
	}()
	return ch
}

// Revision returns the current store revision.
func (s *Bolt) Revision(ctx context.Context) (Revision, error) {
	var rev Revision
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rev = bytesRev(tx.Bucket(bucketMeta).Get(keyRevision))
		return nil
	})
	return rev, err
}

func getAPI(tx *bolt.Tx, id string) (*API, error) {
	v := tx.Bucket(bucketAPIs).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("api %q: %w", id, ErrNotFound)
	}
	return decodeAPI(v)
}

func putAPI(tx *bolt.Tx, a *API) error {
	b, err := encodeAPI(a)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketAPIs).Put([]byte(a.ID), b)
}

func checkExpected(kind, id string, expected, current Revision) error {
	if expected != 0 && expected != current {
		return fmt.Errorf("%s %q: expected revision %d, current %d: %w", kind, id, expected, current, ErrConflict)
	}
	return nil
}

// CreateAPI implements Store.
func (s *Bolt) CreateAPI(ctx context.Context, def *apigatewayv1.RestApi) (*API, error) {
	if def == nil {
		return nil, fmt.Errorf("create api: nil definition: %w", ErrInvalidArgument)
	}
	if def.GetId() != "" {
		if err := checkID("api id", def.GetId()); err != nil {
			return nil, err
		}
	}
	var out *API
	err := s.update(ctx, func(tx *bolt.Tx, rev Revision) (bool, error) {
		apis := tx.Bucket(bucketAPIs)
		id := def.GetId()
		if id == "" {
			revStr := strconv.FormatUint(uint64(rev), 10)
			for attempt := 0; ; attempt++ {
				id = deriveID(10, attempt, "api", revStr)
				if apis.Get([]byte(id)) == nil {
					break
				}
			}
		} else if apis.Get([]byte(id)) != nil {
			return false, fmt.Errorf("api %q: %w", id, ErrAlreadyExists)
		}
		d := proto.Clone(def).(*apigatewayv1.RestApi)
		d.Id = id
		now := s.timestamp()
		out = &API{ID: id, Definition: d, Revision: rev, CreatedAt: now, UpdatedAt: now}
		return false, putAPI(tx, out)
	})
	if err != nil {
		return nil, err
	}
	return cloneAPI(out), nil
}

// GetAPI implements Store.
func (s *Bolt) GetAPI(ctx context.Context, id string) (*API, error) {
	var out *API
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getAPI(tx, id)
		return err
	})
	return out, err
}

// ListAPIs implements Store.
func (s *Bolt) ListAPIs(ctx context.Context, size int, token string) ([]*API, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	var out []*API
	var next string
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		next, err = page(tx.Bucket(bucketAPIs).Cursor(), nil, after, n, func(v []byte) error {
			a, err := decodeAPI(v)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// page walks keys with the prefix, strictly after `after` (if set), calling
// add for up to n values. It returns the token for the next page, or "".
func page(c *bolt.Cursor, prefix, after []byte, n int, add func(v []byte) error) (string, error) {
	var k, v []byte
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(prefix)
	}
	var last []byte
	for count := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if count == n {
			return encodeToken(last), nil
		}
		if err := add(v); err != nil {
			return "", err
		}
		last = bytes.Clone(k)
		count++
	}
	return "", nil
}

// UpdateAPI implements Store.
func (s *Bolt) UpdateAPI(ctx context.Context, def *apigatewayv1.RestApi, expected Revision) (*API, error) {
	if def == nil {
		return nil, fmt.Errorf("update api: nil definition: %w", ErrInvalidArgument)
	}
	if err := checkID("api id", def.GetId()); err != nil {
		return nil, err
	}
	var out *API
	err := s.update(ctx, func(tx *bolt.Tx, rev Revision) (bool, error) {
		cur, err := getAPI(tx, def.GetId())
		if err != nil {
			return false, err
		}
		if err := checkExpected("api", cur.ID, expected, cur.Revision); err != nil {
			return false, err
		}
		out = &API{ID: cur.ID, Definition: proto.Clone(def).(*apigatewayv1.RestApi), Revision: rev, CreatedAt: cur.CreatedAt, UpdatedAt: s.timestamp()}
		return false, putAPI(tx, out)
	})
	if err != nil {
		return nil, err
	}
	return cloneAPI(out), nil
}

// DeleteAPI implements Store.
func (s *Bolt) DeleteAPI(ctx context.Context, id string, expected Revision) error {
	return s.update(ctx, func(tx *bolt.Tx, _ Revision) (bool, error) {
		cur, err := getAPI(tx, id)
		if err != nil {
			return false, err
		}
		if err := checkExpected("api", id, expected, cur.Revision); err != nil {
			return false, err
		}
		if err := tx.Bucket(bucketAPIs).Delete([]byte(id)); err != nil {
			return false, err
		}
		if _, err := deletePrefix(tx.Bucket(bucketDeployments), childPrefix(id)); err != nil {
			return false, err
		}
		stages, err := deletePrefix(tx.Bucket(bucketStages), childPrefix(id))
		return stages > 0, err
	})
}

func deletePrefix(b *bolt.Bucket, prefix []byte) (int, error) {
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

// CreateDeployment implements Store.
func (s *Bolt) CreateDeployment(ctx context.Context, apiID, description string) (*Deployment, error) {
	var out *Deployment
	err := s.update(ctx, func(tx *bolt.Tx, rev Revision) (bool, error) {
		api, err := getAPI(tx, apiID)
		if err != nil {
			return false, err
		}
		deps := tx.Bucket(bucketDeployments)
		revStr := strconv.FormatUint(uint64(rev), 10)
		var id string
		for attempt := 0; ; attempt++ {
			id = deriveID(6, attempt, "deployment", apiID, revStr)
			if deps.Get(childKey(apiID, id)) == nil {
				break
			}
		}
		out = &Deployment{ID: id, APIID: apiID, Definition: api.Definition, Description: description, CreatedAt: s.timestamp(), Revision: rev}
		b, err := encodeDeployment(out)
		if err != nil {
			return false, err
		}
		// A new deployment is not referenced by any stage yet: the served
		// view is unchanged.
		return false, deps.Put(childKey(apiID, id), b)
	})
	if err != nil {
		return nil, err
	}
	return cloneDeployment(out), nil
}

func getDeployment(tx *bolt.Tx, apiID, id string) (*Deployment, error) {
	v := tx.Bucket(bucketDeployments).Get(childKey(apiID, id))
	if v == nil {
		return nil, fmt.Errorf("deployment %q of api %q: %w", id, apiID, ErrNotFound)
	}
	return decodeDeployment(v)
}

// GetDeployment implements Store.
func (s *Bolt) GetDeployment(ctx context.Context, apiID, id string) (*Deployment, error) {
	var out *Deployment
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getDeployment(tx, apiID, id)
		return err
	})
	return out, err
}

// ListDeployments implements Store.
func (s *Bolt) ListDeployments(ctx context.Context, apiID string, size int, token string) ([]*Deployment, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	prefix := childPrefix(apiID)
	if after != nil && !bytes.HasPrefix(after, prefix) {
		return nil, "", fmt.Errorf("page token is not for api %q: %w", apiID, ErrInvalidArgument)
	}
	var out []*Deployment
	var next string
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getAPI(tx, apiID); err != nil {
			return err
		}
		var err error
		next, err = page(tx.Bucket(bucketDeployments).Cursor(), prefix, after, n, func(v []byte) error {
			d, err := decodeDeployment(v)
			if err == nil {
				out = append(out, d)
			}
			return err
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func getStage(tx *bolt.Tx, apiID, name string) (*Stage, error) {
	v := tx.Bucket(bucketStages).Get(childKey(apiID, name))
	if v == nil {
		return nil, fmt.Errorf("stage %q of api %q: %w", name, apiID, ErrNotFound)
	}
	return decodeStage(v)
}

// PutStage implements Store.
func (s *Bolt) PutStage(ctx context.Context, st *Stage, expected Revision) (*Stage, error) {
	if st == nil {
		return nil, fmt.Errorf("put stage: nil stage: %w", ErrInvalidArgument)
	}
	if err := checkID("stage name", st.Name); err != nil {
		return nil, err
	}
	if !idPattern.MatchString(st.DeploymentID) {
		return nil, fmt.Errorf("stage %q: deployment %q does not exist: %w", st.Name, st.DeploymentID, ErrFailedPrecondition)
	}
	var out *Stage
	err := s.update(ctx, func(tx *bolt.Tx, rev Revision) (bool, error) {
		if _, err := getAPI(tx, st.APIID); err != nil {
			return false, err
		}
		cur, err := getStage(tx, st.APIID, st.Name)
		switch {
		case errors.Is(err, ErrNotFound):
			if expected != 0 {
				return false, fmt.Errorf("stage %q of api %q does not exist, expected revision %d: %w", st.Name, st.APIID, expected, ErrConflict)
			}
		case err != nil:
			return false, err
		default:
			if err := checkExpected("stage", st.Name, expected, cur.Revision); err != nil {
				return false, err
			}
		}
		if tx.Bucket(bucketDeployments).Get(childKey(st.APIID, st.DeploymentID)) == nil {
			return false, fmt.Errorf("deployment %q of api %q does not exist: %w", st.DeploymentID, st.APIID, ErrFailedPrecondition)
		}
		out = &Stage{APIID: st.APIID, Name: st.Name, DeploymentID: st.DeploymentID, Variables: nonNilMap(st.Variables), Description: st.Description, Revision: rev, UpdatedAt: s.timestamp()}
		b, err := encodeStage(out)
		if err != nil {
			return false, err
		}
		return true, tx.Bucket(bucketStages).Put(childKey(st.APIID, st.Name), b)
	})
	if err != nil {
		return nil, err
	}
	return cloneStage(out), nil
}

// GetStage implements Store.
func (s *Bolt) GetStage(ctx context.Context, apiID, name string) (*Stage, error) {
	var out *Stage
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getStage(tx, apiID, name)
		return err
	})
	return out, err
}

// ListStages implements Store.
func (s *Bolt) ListStages(ctx context.Context, apiID string) ([]*Stage, error) {
	var out []*Stage
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getAPI(tx, apiID); err != nil {
			return err
		}
		prefix := childPrefix(apiID)
		c := tx.Bucket(bucketStages).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			st, err := decodeStage(v)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// DeleteStage implements Store.
func (s *Bolt) DeleteStage(ctx context.Context, apiID, name string, expected Revision) error {
	return s.update(ctx, func(tx *bolt.Tx, _ Revision) (bool, error) {
		cur, err := getStage(tx, apiID, name)
		if err != nil {
			return false, err
		}
		if err := checkExpected("stage", name, expected, cur.Revision); err != nil {
			return false, err
		}
		return true, tx.Bucket(bucketStages).Delete(childKey(apiID, name))
	})
}

// Deployed implements Store.
func (s *Bolt) Deployed(ctx context.Context) (Revision, []DeployedStage, error) {
	var rev Revision
	var out []DeployedStage
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rev = bytesRev(tx.Bucket(bucketMeta).Get(keyDeployedRevision))
		return tx.Bucket(bucketStages).ForEach(func(_, v []byte) error {
			st, err := decodeStage(v)
			if err != nil {
				return err
			}
			dep, err := getDeployment(tx, st.APIID, st.DeploymentID)
			if err != nil {
				return fmt.Errorf("store inconsistent: stage %q: %w", st.Name, err)
			}
			out = append(out, DeployedStage{Stage: st, Deployment: dep})
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return rev, out, nil
}

func cloneAPI(a *API) *API {
	c := *a
	c.Definition = proto.Clone(a.Definition).(*apigatewayv1.RestApi)
	return &c
}

func cloneDeployment(d *Deployment) *Deployment {
	c := *d
	c.Definition = proto.Clone(d.Definition).(*apigatewayv1.RestApi)
	return &c
}

func cloneStage(s *Stage) *Stage {
	c := *s
	c.Variables = maps.Clone(s.Variables)
	return &c
}
