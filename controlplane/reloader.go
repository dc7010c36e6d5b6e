// Package controlplane drives one configuration pipeline: load the definition files, validate, translate to IR,
// build Envoy resources and publish them. A definition that fails anywhere leaves the last good configuration
// published and is reported; files are watched and reloaded after a quiet period.
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
}

// Reloader runs the pipeline.
type Reloader struct {
	sources []Source
	opts    translator.Options
	publish Publisher
	log     *slog.Logger
	// OnReload, when set before Watch starts, is called after every reload with its outcome.
	OnReload func(Status)

	mu     sync.Mutex
	status Status
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
	fp := r.fingerprint()
	version, diags, published, err := r.build(ctx)
	r.mu.Lock()
	r.loaded = fp
	r.status.LastReload = time.Now()
	r.status.Diagnostics = diags
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
	r.log.Info("configuration published", "version", version)
	return nil
}

// build runs the pipeline; published says whether the Publisher saw the configuration (and so recorded any error).
func (r *Reloader) build(ctx context.Context) (version string, diags diag.List, published bool, err error) {
	var inputs []translator.Input
	for _, s := range r.sources {
		res, err := loader.LoadFile(s.File, loader.Options{})
		if res != nil {
			diags = append(diags, res.Diagnostics...)
		}
		if err != nil {
			return "", diags, false, err
		}
		inputs = append(inputs, s.input(res.API))
	}
	cfg, tdiags := translator.Translate(inputs, r.opts)
	diags = append(diags, tdiags...)
	if err := tdiags.Err(); err != nil {
		return "", diags, false, err
	}
	res, err := xdstranslator.Build(cfg)
	if err != nil {
		return "", diags, false, fmt.Errorf("generated Envoy configuration is invalid (a proxyplus bug; please report it): %w", err)
	}
	version, err = r.publish.Publish(ctx, res)
	return version, diags, true, err
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
