// Package controlplane drives one configuration pipeline: load the definition files and the stages deployed
// through the admin API (the store), validate, translate to IR, build Envoy resources and publish them. Each API
// is loaded, translated and validated on its own (envoy-notes STY-6 item 5): an API whose definition fails is held
// back — its last good translation stays served and it is reported in Status.HeldBack — while the other APIs go
// on updating. Files are watched and reloaded after a quiet period, the store is watched and reloaded on every
// committed change.
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
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
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
	Publish(ctx context.Context, res *builder.Resources) (version string, err error)
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
	// FileAPIs maps the API ids defined by files to their file, as of the latest reload. A file that cannot be
	// read keeps the id of its last good version.
	FileAPIs map[string]string `json:"file_apis,omitempty"`
	// HeldBack lists the APIs whose latest definition the latest reload could not serve, sorted by source.
	HeldBack []HeldBack `json:"held_back,omitempty"`
}

// HeldBack is an API whose latest definition cannot be served. Its last good translation stays served when
// there is one; the other APIs go on updating.
type HeldBack struct {
	// API is the API id; "" when the definition could not be read far enough to know it and never was.
	API string `json:"api,omitempty"`
	// Source is the definition file, or store:apis/<id> for an API deployed through the admin API.
	Source string `json:"source"`
	// Reason is the first error on one line, with the number of further ones; Errors lists them all.
	Reason string    `json:"reason"`
	Errors diag.List `json:"errors"`
	// ServingLastGood says the API's last good translation (made at LastGoodAt) is still served; false when this
	// process never translated the API successfully, so it is not served at all.
	ServingLastGood bool      `json:"serving_last_good"`
	LastGoodAt      time.Time `json:"last_good_at,omitzero"`
	// Since is when the reloads began holding the API back.
	Since time.Time `json:"since"`
}

// FromFile reports whether the API is defined by a file (not the store).
func (h HeldBack) FromFile() bool { return !strings.HasPrefix(h.Source, storeSourcePrefix) }

// HeldBackError is what Reload returns when it published a configuration without the latest definition of some
// APIs (held back, see HeldBack). Everything else was published.
type HeldBackError struct{ APIs []HeldBack }

func (e *HeldBackError) Error() string {
	parts := make([]string, len(e.APIs))
	for i, h := range e.APIs {
		name := h.API
		if name == "" {
			name = "?"
		}
		served := "not served"
		if h.ServingLastGood {
			served = "its last good version stays served"
		}
		parts[i] = fmt.Sprintf("API %s (%s) held back, %s: %s", name, h.Source, served, h.Reason)
	}
	return strings.Join(parts, "; ")
}

// FromFiles reports whether any held-back API is defined by a file.
func (e *HeldBackError) FromFiles() bool {
	for _, h := range e.APIs {
		if h.FromFile() {
			return true
		}
	}
	return false
}

// storeSourcePrefix starts the Source of APIs deployed through the admin API.
const storeSourcePrefix = "store:apis/"

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
	// Metrics, when set before the first Reload, records every reload's outcome and duration (metrics.go).
	Metrics *ReloadMetrics

	// reloading serialises reloads: the file watcher and the store watcher both trigger them.
	reloading sync.Mutex
	mu        sync.Mutex
	status    Status
	// loaded fingerprints the file contents the latest reload read, the baseline Watch compares against.
	loaded string

	// lastGood holds, per API source (see candidate.key), the translation last published; heldSince when each
	// held-back source began failing. Both are used only under reloading.
	lastGood  map[string]goodAPI
	heldSince map[string]time.Time
	now       func() time.Time
	// Incremental translation (issue 13). translations translates each API source through a translator.Cache
	// keyed by the source's revision (sourceRevision: a file's content fingerprint, the store records'
	// revisions), so an unchanged source is neither loaded, encoded, hashed nor translated again, and a changed
	// one is translated again only in its changed resources. loaded keeps the last load of each file source by
	// content fingerprint. builder keeps the Envoy resources of unchanged APIs and routes across builds. All are
	// used only under reloading.
	translations *translator.Cache
	files        map[string]loadedFile
	builder      *builder.Builder
}

// loadedFile is a definition file as last loaded: its content fingerprint and the loader's result.
type loadedFile struct {
	revision string
	res      *loader.Result
	err      error
}

// maxDefinitionRead bounds the read of a definition file: API Gateway's 6 MiB import limit (LIM-10) and one byte
// more, so that loader.Load reports an oversized file (as loader.LoadFile reads it) without reading it whole.
const maxDefinitionRead = 6<<20 + 1

// readDefinition reads a definition file, at most maxDefinitionRead bytes.
func readDefinition(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxDefinitionRead))
}

// fileRevision fingerprints what a file source's translation input is made of: the file's bytes and the
// source's stages and stage variables.
func fileRevision(s Source, data []byte) string {
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%q %d\n", s.File, len(data))
	_, _ = h.Write(data)
	for _, st := range s.Stages {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st)
		_, _ = fmt.Fprintf(h, "stage %d\n", len(b))
		_, _ = h.Write(b)
	}
	keys := make([]string, 0, len(s.StageVariables))
	for k := range s.StageVariables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _ = fmt.Fprintf(h, "var %q=%q\n", k, s.StageVariables[k])
	}
	return fmt.Sprintf("file:%x", h.Sum(nil))
}

// storeRevision identifies what a stored API's translation input is made of without reading the definitions:
// for each deployed stage, its record's revision (its variables, its deployment pointer) and its deployment's
// (a deployment is immutable). "" (translate, no shortcut) when a record carries no revision.
func storeRevision(stages []store.DeployedStage) string {
	var b strings.Builder
	b.WriteString("store")
	for _, d := range stages {
		if d.Stage.Revision == 0 || d.Deployment.Revision == 0 {
			return ""
		}
		fmt.Fprintf(&b, " %q:%d/%q:%d", d.Stage.Name, d.Stage.Revision, d.Deployment.ID, d.Deployment.Revision)
	}
	return b.String()
}

// goodAPI is the last published translation of one API source.
type goodAPI struct {
	api ir.API
	at  time.Time
}

// NewReloader returns a reloader for sources.
func NewReloader(sources []Source, opts translator.Options, publish Publisher, log *slog.Logger) *Reloader {
	return &Reloader{sources: sources, opts: opts, publish: publish, log: log, lastGood: map[string]goodAPI{},
		heldSince: map[string]time.Time{}, now: time.Now, translations: translator.NewCache(),
		files: map[string]loadedFile{}, builder: builder.NewBuilder()}
}

// Status returns the latest reload outcome.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Reload runs the pipeline once. An API that fails is held back (its last good translation stays served) and the
// others are published: Reload then returns a *HeldBackError naming the held-back APIs. Any other error means
// nothing was published (the store could not be read, the combined configuration is invalid); it says which file
// and field.
func (r *Reloader) Reload(ctx context.Context) (err error) {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	start := time.Now()
	defer func() { r.Metrics.observe(time.Since(start), err, r.now()) }()
	fp := r.fingerprint()
	b, err := r.build(ctx)
	version, diags, published := b.version, b.diags, b.published
	r.mu.Lock()
	prevVersion := r.status.Version
	r.loaded = fp
	r.status.LastReload = r.now()
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
		r.status.HeldBack = b.heldBack
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
		r.log.Error("configuration not published; the last good configuration stays in service", "error", err)
		if !published {
			r.publish.Reject(err)
		}
		return err
	}
	for _, h := range b.heldBack {
		msg := "API held back: its definition cannot be served; its last good version stays in service"
		if !h.ServingLastGood {
			msg = "API held back: its definition cannot be served and it has no last good version; it is not served"
		}
		r.log.Error(msg, "api", h.API, "source", h.Source, "error", h.Reason, "errors", len(h.Errors),
			"held_back_since", h.Since)
	}
	if version == prevVersion {
		r.log.Debug("configuration unchanged", "version", version, "store_revision", b.storeRevision)
	} else {
		r.log.Info("configuration published", "version", version, "store_revision", b.storeRevision,
			"held_back", len(b.heldBack))
	}
	if len(b.heldBack) > 0 {
		return &HeldBackError{APIs: b.heldBack}
	}
	return nil
}

// buildResult is what one pipeline run produced.
type buildResult struct {
	version string
	diags   diag.List
	// published says whether the Publisher saw the configuration (and so recorded any error).
	published bool
	// fileAPIs are the API ids the files define (id → file).
	fileAPIs      map[string]string
	storeRevision store.Revision
	storeRead     bool
	heldBack      []HeldBack
}

// candidate is one API source of a reload: a definition file or an API in the store.
type candidate struct {
	// key identifies the source across reloads: "file:<index in sources>" or "store:<API id>".
	key    string
	source string
	id     string
	input  translator.Input
	// revision identifies the input (fileRevision, storeRevision); "" when unknown.
	revision string
	// errs, when not empty, say why the source cannot be served (loading failed before translation).
	errs diag.List
	api  ir.API
}

// build runs the pipeline: every source is loaded, translated and validated on its own; the sources that fail
// are held back with their last good translation, the rest is published together.
func (r *Reloader) build(ctx context.Context) (b buildResult, err error) {
	var cands []*candidate
	fileAPIs := map[string]string{}
	files := map[string]loadedFile{}
	for i, s := range r.sources {
		c := &candidate{key: fmt.Sprintf("file:%d", i), source: s.File}
		var res *loader.Result
		var err error
		if data, rerr := readDefinition(s.File); rerr != nil {
			res, err = loader.LoadFile(s.File, loader.Options{}) // reports the read error
		} else {
			c.revision = fileRevision(s, data)
			l, ok := r.files[c.key]
			if !ok || l.revision != c.revision {
				// Unchanged content is not parsed again: loading is deterministic.
				l.revision = c.revision
				l.res, l.err = loader.Load(s.File, data, loader.Options{})
			}
			files[c.key] = l
			res, err = l.res, l.err
		}
		if res != nil {
			b.diags = append(b.diags, res.Diagnostics...)
		}
		if res != nil && res.API != nil {
			c.id = res.API.GetId()
		}
		if err != nil {
			c.errs = loadErrors(s.File, res, err)
			if c.id == "" {
				c.id = r.lastGood[c.key].api.ID
			}
		} else {
			c.input = s.input(res.API)
		}
		// A file that cannot be read keeps the id of its last good version read-only: the store must not start
		// serving a stored API of that id because the file broke.
		if c.id != "" {
			if _, dup := fileAPIs[c.id]; !dup {
				fileAPIs[c.id] = s.File
			}
		}
		cands = append(cands, c)
	}
	b.fileAPIs = fileAPIs
	if r.Store != nil {
		rev, stored, ds, err := storeInputs(ctx, r.Store, fileAPIs)
		b.diags = append(b.diags, ds...)
		if err != nil {
			return b, fmt.Errorf("reading deployed stages from the store: %w", err)
		}
		b.storeRevision, b.storeRead = rev, true
		for _, in := range stored {
			id := in.input.API.GetId()
			cands = append(cands, &candidate{key: "store:" + id, source: in.input.File, id: id, input: in.input,
				revision: in.revision})
		}
	}
	if len(cands) == 0 {
		// Nothing deployed yet (a store-only control plane before the first deployment): an empty configuration
		// still gives Envoy its listener, which answers every request like API Gateway does for unknown APIs.
		b.diags = append(b.diags, diag.Diagnostic{Severity: diag.Warning, Message: "no API is deployed yet: serving an empty configuration"})
	}

	// Translate each API alone; the first source of an id wins, as in translator.Translate.
	ids := map[string]string{}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return b, err
		}
		if len(c.errs) > 0 {
			continue
		}
		api, ds := r.translations.TranslateAPI(c.key, c.revision, c.input)
		b.diags = append(b.diags, ds...)
		if ds.Err() != nil {
			c.errs = stageErrors(c.input, ds)
			continue
		}
		if prev, dup := ids[api.ID]; dup {
			c.errs = diag.List{{Severity: diag.Error, File: c.source, Field: "id",
				Message: fmt.Sprintf("API id %q is also used by %s; ids must be unique", api.ID, prev)}}
			b.diags = append(b.diags, c.errs...)
			continue
		}
		ids[api.ID] = c.source
		c.api = api
	}
	r.translations.Prune()

	now := r.now()
	apis, heldSince := r.serving(cands, &b, now)
	res, err := r.builder.Build(translator.Assemble(apis, r.opts))
	if err != nil && r.holdBackInvalid(cands, &b) {
		// Some API's Envoy configuration is invalid. Each API's is validated only here, together (building every
		// changed API alone as well would double the work of every edit); holdBackInvalid found the ones at fault
		// among the APIs not published before: the rest is built again without them.
		apis, heldSince = r.serving(cands, &b, now)
		res, err = r.builder.Build(translator.Assemble(apis, r.opts))
	}
	if err != nil {
		return b, fmt.Errorf("generated Envoy configuration is invalid (a proxyplus bug; please report it): %w", err)
	}
	b.published = true
	if b.version, err = r.publish.Publish(ctx, res); err != nil {
		return b, err
	}

	// Published: remember what is served, forget sources that are gone.
	lastGood := map[string]goodAPI{}
	for _, c := range cands {
		if len(c.errs) == 0 {
			lastGood[c.key] = goodAPI{api: c.api, at: now}
		} else if good, ok := r.lastGood[c.key]; ok {
			lastGood[c.key] = good
		}
	}
	r.lastGood, r.heldSince, r.files = lastGood, heldSince, files
	sort.SliceStable(b.heldBack, func(i, j int) bool { return b.heldBack[i].Source < b.heldBack[j].Source })
	return b, nil
}

// serving returns the APIs to serve: the good translations and, for the sources that failed, their last good
// ones; it records the held-back sources in b.heldBack and returns when each began failing.
func (r *Reloader) serving(cands []*candidate, b *buildResult, now time.Time) ([]ir.API, map[string]time.Time) {
	ids := map[string]string{}
	for _, c := range cands {
		if len(c.errs) == 0 {
			ids[c.api.ID] = c.source
		}
	}
	var apis []ir.API
	heldSince := map[string]time.Time{}
	b.heldBack = nil
	for _, c := range cands {
		if len(c.errs) == 0 {
			apis = append(apis, c.api)
			continue
		}
		h := HeldBack{API: c.id, Source: c.source, Reason: reason(c.errs), Errors: c.errs, Since: now}
		if since, ok := r.heldSince[c.key]; ok {
			h.Since = since
		}
		if good, ok := r.lastGood[c.key]; ok {
			if _, dup := ids[good.api.ID]; !dup {
				ids[good.api.ID] = c.source
				apis = append(apis, good.api)
				h.ServingLastGood, h.LastGoodAt = true, good.at
				if h.API == "" {
					h.API = good.api.ID
				}
			}
		}
		heldSince[c.key] = h.Since
		b.heldBack = append(b.heldBack, h)
	}
	return apis, heldSince
}

// holdBackInvalid builds alone each API translated afresh (not the translation published last for its source)
// and marks those whose Envoy configuration is invalid as failed; it reports whether it found any. Only a failed
// build pays for this.
func (r *Reloader) holdBackInvalid(cands []*candidate, b *buildResult) bool {
	found := false
	for _, c := range cands {
		if len(c.errs) > 0 {
			continue
		}
		if good, ok := r.lastGood[c.key]; ok && sameTranslation(good.api, c.api) {
			continue // published before, so validated then
		}
		if _, err := builder.Build(translator.Assemble([]ir.API{c.api}, r.opts)); err != nil {
			c.errs = diag.List{{Severity: diag.Error, File: c.source,
				Message: fmt.Sprintf("generated Envoy configuration is invalid (a proxyplus bug; please report it): %v", err)}}
			b.diags = append(b.diags, c.errs...)
			found = true
		}
	}
	return found
}

// sameTranslation reports whether a and b are the same translation (not merely equal): translator.Cache returns
// the very value it returned before for an unchanged source.
func sameTranslation(a, b ir.API) bool {
	if a.ID != b.ID || len(a.Stages) != len(b.Stages) {
		return false
	}
	return len(a.Stages) == 0 || &a.Stages[0] == &b.Stages[0]
}

// loadErrors are the errors of a definition that failed to load.
func loadErrors(file string, res *loader.Result, err error) diag.List {
	if res != nil {
		if errs := res.Diagnostics.Errors(); len(errs) > 0 {
			return errs
		}
	}
	return diag.List{{Severity: diag.Error, File: file, Message: err.Error()}}
}

// stageErrors returns the errors of a failed translation with the stage each belongs to in their Path (the
// translator's diagnostics name the method, not the stage): the API is translated once per stage to find out.
// Only a failing API pays for this.
func stageErrors(in translator.Input, all diag.List) diag.List {
	stages := in.Stages
	if len(stages) == 0 {
		stages = in.API.GetStages()
	}
	if len(stages) < 1 {
		return all.Errors()
	}
	var out diag.List
	for _, st := range stages {
		one := in
		one.Stages = []*apigatewayv1.Stage{st}
		_, ds := translator.TranslateAPI(one)
		for _, d := range ds.Errors() {
			if d.Path != "" {
				d.Path = "stage " + st.GetStageName() + ", " + d.Path
			} else {
				d.Path = "stage " + st.GetStageName()
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		// The stages translate alone: the failure is about the API as a whole (e.g. a stage listed twice).
		return all.Errors()
	}
	return out
}

// reason is the first error on one line, with the number of further ones.
func reason(errs diag.List) string {
	if len(errs) == 0 {
		return ""
	}
	d := errs[0]
	d.Severity, d.File = "", ""
	msg := strings.Join(strings.Fields(strings.TrimPrefix(d.String(), ": ")), " ")
	if n := len(errs) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// storeInputs turns the store's deployed stages into translator inputs, one per API with each stage serving its
// own deployment. APIs whose id a file defines are left out with a warning: files take precedence.
func storeInputs(ctx context.Context, st store.Store, fileAPIs map[string]string) (store.Revision, []storedInput, diag.List, error) {
	rev, deployed, err := st.Deployed(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	var inputs []translator.Input
	stagesOf := map[string][]store.DeployedStage{}
	var diags diag.List
	byAPI := map[string]int{} // API id → index in inputs
	newest := map[string]store.Revision{}
	for _, d := range deployed {
		apiID := d.Stage.APIID
		file := storeSourcePrefix + apiID
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
		stagesOf[apiID] = append(stagesOf[apiID], d)
		in := &inputs[i]
		in.Stages = append(in.Stages, stage)
		in.StageAPIs[stage.StageName] = d.Deployment.Definition
		// API-wide settings (binary media types, hosts) come from the newest deployment any stage serves.
		if d.Deployment.Revision >= newest[apiID] {
			newest[apiID] = d.Deployment.Revision
			in.API = d.Deployment.Definition
		}
	}
	out := make([]storedInput, len(inputs))
	for i, in := range inputs {
		out[i] = storedInput{input: in, revision: storeRevision(stagesOf[strings.TrimPrefix(in.File, storeSourcePrefix)])}
	}
	return rev, out, diags, nil
}

// storedInput is a stored API's translation input and its revision (storeRevision).
type storedInput struct {
	input    translator.Input
	revision string
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
