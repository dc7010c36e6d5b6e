// Package store persists the runtime-managed API definitions of proxyplus:
// APIs, their immutable deployments, and the stages that point at them.
//
// The Store interface is implemented by an embedded bbolt store (OpenBolt, the
// default, one file in --data-dir) and by an etcd store (OpenEtcd, --store
// etcd://host:port/prefix) that several proxyplus replicas share: every write
// is one etcd transaction that also bumps the revision, and Watch reports
// writes made through any replica.
//
// # Revisions
//
// The store keeps one store-wide Revision that every committed write bumps by
// one. It is persisted with the data, so it survives restarts, and it depends
// only on the sequence of writes, so replicas replaying the same history agree
// on it. Each record carries the revision of the write that last changed it;
// Update*/Delete*/PutStage take an expected revision for optimistic
// concurrency (0 means unconditional) and fail with ErrConflict when it does
// not match.
//
// Deployed reports the revision of the last write that changed what is served
// (a stage created, updated or deleted, or an API with stages deleted), not the
// latest store revision: editing an API or creating a deployment does not
// change what Envoy serves until a stage points at the new deployment, so it
// does not change the snapshot version either.
//
// # Identifiers
//
// No identifier is random. An API created without an id, and every
// deployment, get an id derived by hashing the kind, the owning API id and
// the store revision of the creating write, so replicas with identical
// histories produce identical ids.
package store

import (
	"context"
	"errors"
	"time"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// Revision is the store-wide, monotonically increasing write counter.
type Revision uint64

// Errors returned by Store methods. They are wrapped with context; test with
// errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrConflict           = errors.New("revision conflict")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrClosed             = errors.New("store closed")
)

// API is a managed REST API and its current (editable) definition. The
// store does not interpret Definition.Stages: served stages are the Stage
// records managed with PutStage.
type API struct {
	ID         string
	Definition *apigatewayv1.RestApi
	// Revision is the store revision of the write that last changed the API.
	Revision  Revision
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Deployment is an immutable snapshot of an API's definition.
type Deployment struct {
	ID          string
	APIID       string
	Definition  *apigatewayv1.RestApi // frozen copy taken at creation
	Description string
	CreatedAt   time.Time
	// Revision is the store revision of the write that created the deployment.
	Revision Revision
}

// Stage is a named pointer from an API to one of its deployments, with stage
// variables.
type Stage struct {
	APIID        string
	Name         string
	DeploymentID string
	Variables    map[string]string
	Description  string
	// Revision is the store revision of the write that last changed the stage.
	Revision  Revision
	UpdatedAt time.Time
}

// DeployedStage is one served stage together with the deployment it points at.
type DeployedStage struct {
	Stage      *Stage
	Deployment *Deployment
}

// Store is the persistence interface of the admin API. Implementations are
// safe for concurrent use. Returned values are copies the caller may modify.
type Store interface {
	// CreateAPI stores a new API. def.Id may be empty, in which case an id is
	// derived (see package doc). ErrAlreadyExists if the id is taken.
	CreateAPI(ctx context.Context, def *apigatewayv1.RestApi) (*API, error)
	// GetAPI returns ErrNotFound for an unknown id.
	GetAPI(ctx context.Context, id string) (*API, error)
	// ListAPIs returns APIs ordered by id. pageSize 0 means DefaultPageSize;
	// larger sizes are capped at MaxPageSize. The returned token is empty on
	// the last page. A malformed token is ErrInvalidArgument.
	ListAPIs(ctx context.Context, pageSize int, pageToken string) ([]*API, string, error)
	// UpdateAPI replaces the definition of the API def.Id. ErrNotFound,
	// ErrConflict if expected != 0 and differs from the API's revision.
	UpdateAPI(ctx context.Context, def *apigatewayv1.RestApi, expected Revision) (*API, error)
	// DeleteAPI deletes the API with its deployments and stages.
	DeleteAPI(ctx context.Context, id string, expected Revision) error

	// CreateDeployment snapshots the API's current definition.
	CreateDeployment(ctx context.Context, apiID, description string) (*Deployment, error)
	GetDeployment(ctx context.Context, apiID, id string) (*Deployment, error)
	// ListDeployments pages through an API's deployments ordered by id, with
	// the same paging rules as ListAPIs. ErrNotFound for an unknown API.
	ListDeployments(ctx context.Context, apiID string, pageSize int, pageToken string) ([]*Deployment, string, error)

	// PutStage creates or updates st (keyed by APIID and Name; Revision and
	// UpdatedAt are ignored on input). ErrNotFound for an unknown API,
	// ErrFailedPrecondition if st.DeploymentID is not a deployment of the API,
	// ErrConflict if expected != 0 and the stage is missing or at another
	// revision.
	PutStage(ctx context.Context, st *Stage, expected Revision) (*Stage, error)
	GetStage(ctx context.Context, apiID, name string) (*Stage, error)
	// ListStages returns the API's stages ordered by name.
	ListStages(ctx context.Context, apiID string) ([]*Stage, error)
	DeleteStage(ctx context.Context, apiID, name string, expected Revision) error

	// Deployed returns what is served: every stage (ordered by API id, then
	// name) with its deployment, and the revision of the last write that
	// changed this view (see package doc), read atomically.
	Deployed(ctx context.Context) (Revision, []DeployedStage, error)
	// Watch returns a channel that receives the store revision after
	// committed changes (coalesced: a slow reader sees the latest) until ctx
	// ends or the store is closed, when it is closed. To not miss changes,
	// call Watch before reading the state.
	Watch(ctx context.Context) <-chan Revision

	Close() error
}

// Paging limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)
