package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// The semantics of the Store (validation, id derivation, optimistic
// concurrency, what changes the served view) live here once, over a small
// key-value transaction interface that Bolt and Etcd implement. Replicas
// must derive the same ids and revisions from the same history whichever
// backend they use, so this logic must not be duplicated per backend.

// table is one of the keyspaces of the store. Keys are the ids, and for
// children childKey(api id, child id).
type table int

const (
	tableAPIs table = iota
	tableDeployments
	tableStages
	tableAPIKeys    // apikeys.go
	tableUsagePlans // apikeys.go
)

// metaKey names a store-wide counter.
type metaKey int

const (
	metaRevision         metaKey = iota // store revision
	metaDeployedRevision                // last write that changed Deployed()
)

type kvPair struct{ key, val []byte }

// kvTx is one transaction over the tables. Reads see one consistent
// snapshot. Writes are applied when the backend commits; reads do not see
// the transaction's own writes (no store operation needs to).
type kvTx interface {
	// get returns nil, nil for a missing key.
	get(t table, key []byte) ([]byte, error)
	// scan returns, in key order, up to limit (0: all) pairs whose keys start
	// with prefix and, if after is not nil, sort strictly after it.
	scan(t table, prefix, after []byte, limit int) ([]kvPair, error)
	meta(k metaKey) (Revision, error)
	put(t table, key, val []byte) error
	del(t table, key []byte) error
	// deletePrefix deletes the keys with the prefix and returns how many.
	deletePrefix(t table, prefix []byte) (int, error)
}

// kvBackend runs transactions.
type kvBackend interface {
	view(ctx context.Context, fn func(tx kvTx) error) error
	// update runs fn in a write transaction with the next store revision. fn
	// reports whether it changed the served view (Deployed). On commit the
	// backend persists the revision (and the deployed revision if the view
	// changed) with fn's writes and notifies watchers. fn may run more than
	// once (Etcd retries when another writer committed first).
	update(ctx context.Context, fn func(tx kvTx, rev Revision) (servedChanged bool, err error)) error
}

// kvStore implements the Store methods that do not depend on the backend.
type kvStore struct {
	b   kvBackend
	now func() time.Time
}

func (s *kvStore) timestamp() time.Time { return s.now().UTC().Round(0) }

// Revision returns the current store revision.
func (s *kvStore) Revision(ctx context.Context) (Revision, error) {
	var rev Revision
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		rev, err = tx.meta(metaRevision)
		return err
	})
	return rev, err
}

func getAPI(tx kvTx, id string) (*API, error) {
	v, err := tx.get(tableAPIs, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("api %q: %w", id, ErrNotFound)
	}
	return decodeAPI(v)
}

func putAPI(tx kvTx, a *API) error {
	b, err := encodeAPI(a)
	if err != nil {
		return err
	}
	return tx.put(tableAPIs, []byte(a.ID), b)
}

func exists(tx kvTx, t table, key []byte) (bool, error) {
	v, err := tx.get(t, key)
	return v != nil, err
}

func checkExpected(kind, id string, expected, current Revision) error {
	if expected != 0 && expected != current {
		return fmt.Errorf("%s %q: expected revision %d, current %d: %w", kind, id, expected, current, ErrConflict)
	}
	return nil
}

// CreateAPI implements Store.
func (s *kvStore) CreateAPI(ctx context.Context, def *apigatewayv1.RestApi) (*API, error) {
	if def == nil {
		return nil, fmt.Errorf("create api: nil definition: %w", ErrInvalidArgument)
	}
	if def.GetId() != "" {
		if err := checkID("api id", def.GetId()); err != nil {
			return nil, err
		}
	}
	var out *API
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
		id := def.GetId()
		if id == "" {
			revStr := strconv.FormatUint(uint64(rev), 10)
			for attempt := 0; ; attempt++ {
				id = deriveID(10, attempt, "api", revStr)
				taken, err := exists(tx, tableAPIs, []byte(id))
				if err != nil {
					return false, err
				}
				if !taken {
					break
				}
			}
		} else if taken, err := exists(tx, tableAPIs, []byte(id)); err != nil {
			return false, err
		} else if taken {
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
func (s *kvStore) GetAPI(ctx context.Context, id string) (*API, error) {
	var out *API
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = getAPI(tx, id)
		return err
	})
	return out, err
}

// ListAPIs implements Store.
func (s *kvStore) ListAPIs(ctx context.Context, size int, token string) ([]*API, string, error) {
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
	err = s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, next, err = page(tx, tableAPIs, nil, after, n, decodeAPI)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// page decodes up to n values with the prefix, strictly after `after` (if set). It returns them and the token
// for the next page, or "".
func page[T any](tx kvTx, t table, prefix, after []byte, n int, decode func(v []byte) (T, error)) ([]T, string, error) {
	// One extra row tells whether there is a next page.
	kvs, err := tx.scan(t, prefix, after, n+1)
	if err != nil {
		return nil, "", err
	}
	more := len(kvs) > n
	if more {
		kvs = kvs[:n]
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		v, err := decode(kv.val)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if !more {
		return out, "", nil
	}
	return out, encodeToken(kvs[len(kvs)-1].key), nil
}

// UpdateAPI implements Store.
func (s *kvStore) UpdateAPI(ctx context.Context, def *apigatewayv1.RestApi, expected Revision) (*API, error) {
	if def == nil {
		return nil, fmt.Errorf("update api: nil definition: %w", ErrInvalidArgument)
	}
	if err := checkID("api id", def.GetId()); err != nil {
		return nil, err
	}
	var out *API
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
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
func (s *kvStore) DeleteAPI(ctx context.Context, id string, expected Revision) error {
	return s.b.update(ctx, func(tx kvTx, _ Revision) (bool, error) {
		cur, err := getAPI(tx, id)
		if err != nil {
			return false, err
		}
		if err := checkExpected("api", id, expected, cur.Revision); err != nil {
			return false, err
		}
		if err := tx.del(tableAPIs, []byte(id)); err != nil {
			return false, err
		}
		if _, err := tx.deletePrefix(tableDeployments, childPrefix(id)); err != nil {
			return false, err
		}
		stages, err := tx.deletePrefix(tableStages, childPrefix(id))
		return stages > 0, err
	})
}

// CreateDeployment implements Store.
func (s *kvStore) CreateDeployment(ctx context.Context, apiID, description string) (*Deployment, error) {
	var out *Deployment
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
		api, err := getAPI(tx, apiID)
		if err != nil {
			return false, err
		}
		revStr := strconv.FormatUint(uint64(rev), 10)
		var id string
		for attempt := 0; ; attempt++ {
			id = deriveID(6, attempt, "deployment", apiID, revStr)
			taken, err := exists(tx, tableDeployments, childKey(apiID, id))
			if err != nil {
				return false, err
			}
			if !taken {
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
		return false, tx.put(tableDeployments, childKey(apiID, id), b)
	})
	if err != nil {
		return nil, err
	}
	return cloneDeployment(out), nil
}

func getDeployment(tx kvTx, apiID, id string) (*Deployment, error) {
	v, err := tx.get(tableDeployments, childKey(apiID, id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("deployment %q of api %q: %w", id, apiID, ErrNotFound)
	}
	return decodeDeployment(v)
}

// GetDeployment implements Store.
func (s *kvStore) GetDeployment(ctx context.Context, apiID, id string) (*Deployment, error) {
	var out *Deployment
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = getDeployment(tx, apiID, id)
		return err
	})
	return out, err
}

// ListDeployments implements Store.
func (s *kvStore) ListDeployments(ctx context.Context, apiID string, size int, token string) ([]*Deployment, string, error) {
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
	err = s.b.view(ctx, func(tx kvTx) error {
		if _, err := getAPI(tx, apiID); err != nil {
			return err
		}
		var err error
		out, next, err = page(tx, tableDeployments, prefix, after, n, decodeDeployment)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func getStage(tx kvTx, apiID, name string) (*Stage, error) {
	v, err := tx.get(tableStages, childKey(apiID, name))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("stage %q of api %q: %w", name, apiID, ErrNotFound)
	}
	return decodeStage(v)
}

// PutStage implements Store.
func (s *kvStore) PutStage(ctx context.Context, st *Stage, expected Revision) (*Stage, error) {
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
	err := s.b.update(ctx, func(tx kvTx, rev Revision) (bool, error) {
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
		if ok, err := exists(tx, tableDeployments, childKey(st.APIID, st.DeploymentID)); err != nil {
			return false, err
		} else if !ok {
			return false, fmt.Errorf("deployment %q of api %q does not exist: %w", st.DeploymentID, st.APIID, ErrFailedPrecondition)
		}
		out = &Stage{APIID: st.APIID, Name: st.Name, DeploymentID: st.DeploymentID, Variables: nonNilMap(st.Variables), Description: st.Description, Revision: rev, UpdatedAt: s.timestamp()}
		b, err := encodeStage(out)
		if err != nil {
			return false, err
		}
		return true, tx.put(tableStages, childKey(st.APIID, st.Name), b)
	})
	if err != nil {
		return nil, err
	}
	return cloneStage(out), nil
}

// GetStage implements Store.
func (s *kvStore) GetStage(ctx context.Context, apiID, name string) (*Stage, error) {
	var out *Stage
	err := s.b.view(ctx, func(tx kvTx) error {
		var err error
		out, err = getStage(tx, apiID, name)
		return err
	})
	return out, err
}

// ListStages implements Store.
func (s *kvStore) ListStages(ctx context.Context, apiID string) ([]*Stage, error) {
	var out []*Stage
	err := s.b.view(ctx, func(tx kvTx) error {
		out = nil // view may run fn again
		if _, err := getAPI(tx, apiID); err != nil {
			return err
		}
		kvs, err := tx.scan(tableStages, childPrefix(apiID), nil, 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			st, err := decodeStage(kv.val)
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
func (s *kvStore) DeleteStage(ctx context.Context, apiID, name string, expected Revision) error {
	return s.b.update(ctx, func(tx kvTx, _ Revision) (bool, error) {
		cur, err := getStage(tx, apiID, name)
		if err != nil {
			return false, err
		}
		if err := checkExpected("stage", name, expected, cur.Revision); err != nil {
			return false, err
		}
		return true, tx.del(tableStages, childKey(apiID, name))
	})
}

// Deployed implements Store.
func (s *kvStore) Deployed(ctx context.Context) (Revision, []DeployedStage, error) {
	var rev Revision
	var out []DeployedStage
	err := s.b.view(ctx, func(tx kvTx) error {
		out = nil // view may run fn again
		var err error
		if rev, err = tx.meta(metaDeployedRevision); err != nil {
			return err
		}
		kvs, err := tx.scan(tableStages, nil, nil, 0)
		if err != nil {
			return err
		}
		// Stages often share a deployment; decode each once.
		deps := map[string]*Deployment{}
		for _, kv := range kvs {
			st, err := decodeStage(kv.val)
			if err != nil {
				return err
			}
			k := string(childKey(st.APIID, st.DeploymentID))
			dep, ok := deps[k]
			if !ok {
				if dep, err = getDeployment(tx, st.APIID, st.DeploymentID); err != nil {
					return fmt.Errorf("store inconsistent: stage %q: %w", st.Name, err)
				}
				deps[k] = dep
			} else {
				dep = cloneDeployment(dep) // callers may modify what they get
			}
			out = append(out, DeployedStage{Stage: st, Deployment: dep})
		}
		return nil
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
