// Package controlplane drives one configuration pipeline: load the definition files and the stages deployed
// through the admin API (the store), validate, translate to IR, build Envoy resources and publish them. A
// definition that fails anywhere leaves the last good configuration published and is reported; files are
// watched and reloaded after a quiet period, the store is watched and reloaded on every committed change.
//
// File definitions are a read-only source (GitOps): they are served as they are, and an API id defined by a
// file shadows a stored API with the same id (reported as a warning). The admin API refuses to create or change
// APIs whose id a file defines.
package controlplane

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	xdstranslator "github.com/proxyplus/proxyplus/xds/translator"
)

// Source is one definition file and the stages it is served on (all declared stages when empty).
type Source struct {
	File   string
	Stages []*apigatewayv1.Stage
	// StageVariables override the variables of every stage of this source (the --stage-variable flags).
	StageVariables map[string]string
}

// Publisher serves what the pipeline builds: the xDS server.
type Publisher interface {
	// Publish validates and publishes a configuration and returns its version; on error the last good one stays.
	Publish(ctx context.Context, res *xdstranslator.Resources) (version string, err error)
	// Reject records a configuration that failed before it could be published.
	Reject(err error)
}

// Status is the outcome of the latest reload, for the status endpoint and logs.
type Status struct {
	Version     string    `json:"version"`
	LastReload  time.Time `json:"last_reload"`
	LastSuccess time.Time `json:"last_success,omitempty"`
	// Error is the reason the latest reload was not published; the previous version is still served.
	Error       string    `json:"error,omitempty"`
	Diagnostics diag.List `json:"diagnostics,omitempty"`
	// StoreRevision is the store's deployed revision the latest reload read (0 without a store).
	StoreRevision store.Revision `json:"store_revision,omitempty"`
	// FileAPIs maps the API ids defined by files to their file, as of the latest reload.
	FileAPIs map[string]string `json:"file_apis,omitempty"`
}

// Reloader runs the pipeline.
type Reloader struct {
	sources []Source
	opts    translator.Options
	publish Publisher
	log     *slog.Logger
	// OnReload, when set before Watch starts, is called after every reload with its outcome.
	OnReload func(Status)
	// Store, when set before the first Reload, adds the stages deployed through the admin API.
	Store store.Store

	// reloading serialises reloads: the file watcher and the store watcher both trigger them.
	reloading sync.Mutex
	mu        sync.Mutex
	status    Status
	// loaded fingerprints the file contents the latest reload read, the baseline Watch compares against.
	loaded string
}

// NewReloader returns a reloader for sources.
func NewReloader(sources []Source, opts translator.Options, publish Publisher, log *slog.Logger) *Reloader {
	return &Reloader{sources: sources, opts: opts, publish: publish, log: log}
}

// Status returns the latest reload outcome.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Reload runs the pipeline once. On any error nothing is published and the error says which file and field.
func (r *Reloader) Reload(ctx context.Context) error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	fp := r.fingerprint()
	b, err := r.build(ctx)
	version, diags, published := b.version, b.diags, b.published
	r.mu.Lock()
	prevVersion := r.status.Version
	r.loaded = fp
	r.status.LastReload = time.Now()
	r.status.Diagnostics = diags
	if b.fileAPIs != nil {
		r.status.FileAPIs = b.fileAPIs
	}
	if b.storeRead {
		r.status.StoreRevision = b.storeRevision
	}
	if err != nil {
		r.status.Error = err.Error()
	} else {
		r.status.Error, r.status.Version, r.status.LastSuccess = "", version, r.status.LastReload
	}
	st := r.status
	r.mu.Unlock()
	if r.OnReload != nil {
		defer r.OnReload(st)
	}
	for _, d := range diags.Warnings() {
		r.log.Warn("definition warning", "diagnostic", d.String())
	}
	if err != nil {
		r.log.Error("configuration not published; the last good configuration stays in service", "err", err)
		if !published {
			r.publish.Reject(err)
		}
		return err
	}
	if version == prevVersion {
		r.log.Debug("configuration unchanged", "version", version, "store_revision", b.storeRevision)
		return nil
	}
	r.log.Info("configuration published", "version", version, "store_revision", b.storeRevision)
	return nil
}

// buildResult is what one pipeline run produced.
type buildResult struct {
	version string
	diags   diag.List
	// published says whether the Publisher saw the configuration (and so recorded any error).
	published bool
	// fileAPIs are the API ids the files define (id → file); nil when a file could not be read.
	fileAPIs      map[string]string
	storeRevision store.Revision
	storeRead     bool
}

// build runs the pipeline.
func (r *Reloader) build(ctx context.Context) (b buildResult, err error) {
	var inputs []translator.Input
	fileAPIs := map[string]string{}
	for _, s := range r.sources {
		res, err := loader.LoadFile(s.File, loader.Options{})
		if res != nil {
			b.diags = append(b.diags, res.Diagnostics...)
		}
		if err != nil {
			// b.fileAPIs stays nil: the ids the files defined before stay read-only.
			return b, err
		}
		if id := res.API.GetId(); id != "" {
			if _, dup := fileAPIs[id]; !dup {
				fileAPIs[id] = s.File
			}
		}
		inputs = append(inputs, s.input(res.API))
	}
	b.fileAPIs = fileAPIs
	if r.Store != nil {
		rev, stored, ds, err := storeInputs(ctx, r.Store, fileAPIs)
		b.diags = append(b.diags, ds...)
		if err != nil {
			return b, fmt.Errorf("reading deployed stages from the store: %w", err)
		}
		b.storeRevision, b.storeRead = rev, true
		inputs = append(inputs, stored...)
	}
	if len(inputs) == 0 {
		// Nothing deployed yet (a store-only control plane before the first deployment): an empty configuration
		// still gives Envoy its listener, which answers every request like API Gateway does for unknown APIs.
		b.diags = append(b.diags, diag.Diagnostic{Severity: diag.Warning, Message: "no API is deployed yet: serving an empty configuration"})
	}
	cfg, tdiags := translator.Translate(inputs, r.opts)
	b.diags = append(b.diags, tdiags...)
	if err := tdiags.Err(); err != nil {
		return b, err
	}
	res, err := xdstranslator.Build(cfg)
	if err != nil {
		return b, fmt.Errorf("generated Envoy configuration is invalid (a proxyplus bug; please report it): %w", err)
	}
	b.published = true
	b.version, err = r.publish.Publish(ctx, res)
	return b, err
}

// storeInputs turns the store's deployed stages into translator inputs, one per API with each stage serving its
// own deployment. APIs whose id a file defines are left out with a warning: files take precedence.
func storeInputs(ctx context.Context, st store.Store, fileAPIs map[string]string) (store.Revision, []translator.Input, diag.List, error) {
	rev, deployed, err := st.Deployed(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	var inputs []translator.Input
	var diags diag.List
	byAPI := map[string]int{} // API id → index in inputs
	newest := map[string]store.Revision{}
	for _, d := range deployed {
		apiID := d.Stage.APIID
		file := "store:apis/" + apiID
		if f, shadowed := fileAPIs[apiID]; shadowed {
			diags = append(diags, diag.Diagnostic{Severity: diag.Warning, File: file, Field: "stages." + d.Stage.Name,
				Message: fmt.Sprintf("not served: API id %q is defined by %s, and file definitions take precedence over stored ones", apiID, f)})
			continue
		}
		stage := &apigatewayv1.Stage{StageName: d.Stage.Name, DeploymentId: d.Stage.DeploymentID, Description: d.Stage.Description, Variables: d.Stage.Variables}
		i, ok := byAPI[apiID]
		if !ok {
			i = len(inputs)
			byAPI[apiID] = i
			inputs = append(inputs, translator.Input{File: file, StageAPIs: map[string]*apigatewayv1.RestApi{}})
		}
		in := &inputs[i]
		in.Stages = append(in.Stages, stage)
		in.StageAPIs[stage.StageName] = d.Deployment.Definition
		// API-wide settings (binary media types, hosts) come from the newest deployment any stage serves.
		if d.Deployment.Revision >= newest[apiID] {
			newest[apiID] = d.Deployment.Revision
			in.API = d.Deployment.Definition
		}
	}
	return rev, inputs, diags, nil
}

func (s Source) input(api *apigatewayv1.RestApi) translator.Input {
	stages := s.Stages
	if len(stages) == 0 {
		stages = api.GetStages()
	}
	out := make([]*apigatewayv1.Stage, 0, len(stages))
	for _, st := range stages {
		merged := &apigatewayv1.Stage{StageName: st.GetStageName(), DeploymentId: st.GetDeploymentId(), Description: st.GetDescription(), Variables: map[string]string{}}
		for _, declared := range api.GetStages() {
			if declared.GetStageName() == st.GetStageName() {
				for k, v := range declared.GetVariables() {
					merged.Variables[k] = v
				}
			}
		}
		for k, v := range st.GetVariables() {
			merged.Variables[k] = v
		}
		for k, v := range s.StageVariables {
			merged.Variables[k] = v
		}
		if len(merged.Variables) == 0 {
			merged.Variables = nil
		}
		out = append(out, merged)
	}
	return translator.Input{File: s.File, API: api, Stages: out}
}

// WatchStore reloads after every committed store change until ctx ends. Changes arriving during a reload are
// coalesced into one more reload (the store's watch keeps only the latest revision). With etcd, changes made
// through other replicas arrive here too, so every replica serves the same configuration.
func (r *Reloader) WatchStore(ctx context.Context) {
	if r.Store == nil {
		return
	}
	// Watch first, then read: a change committed in between is then both read and notified, never lost.
	changes := r.Store.Watch(ctx)
	if err := r.Reload(ctx); err != nil && errors.Is(err, context.Canceled) {
		return
	}
	for rev := range changes {
		// Every committed write is notified, also those that do not change what is served (an API edited but
		// not deployed): those reload to the same content, and the same content publishes nothing (XDS-4).
		r.log.Debug("store changed; reloading", "store_revision", rev)
		if err := r.Reload(ctx); err != nil && errors.Is(err, context.Canceled) {
			return
		}
	}
}

// Watch polls the definition files and reloads once their content has changed and stayed unchanged for
// quiet (debounce: editors write files in several steps). Polling content hashes works with every editor's
// save strategy (rename, truncate) and on every file system. It returns when ctx ends.
func (r *Reloader) Watch(ctx context.Context, interval, quiet time.Duration) {
	r.mu.Lock()
	last := r.loaded
	r.mu.Unlock()
	var changedAt time.Time
	pending := ""
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fp := r.fingerprint()
			if fp != last && fp != pending {
				pending, changedAt = fp, now
				continue
			}
			if pending != "" && fp == pending && now.Sub(changedAt) >= quiet {
				last, pending = fp, ""
				r.log.Info("definition files changed; reloading")
				// Reload records the content it read as the new baseline; a file changed during the reload is
				// seen as changed again on the next tick.
				if err := r.Reload(ctx); err != nil && errors.Is(err, context.Canceled) {
					return
				}
			}
		}
	}
}

func (r *Reloader) fingerprint() string {
	h := sha256.New()
	for _, s := range r.sources {
		b, err := os.ReadFile(s.File)
		if err != nil {
			fmt.Fprintf(h, "%s: %v\n", s.File, err)
			continue
		}
		fmt.Fprintf(h, "%s %d\n", s.File, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
