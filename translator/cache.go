package translator

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// Cache is TranslateAPI with memory, for a control plane that translates the same API sources again and again
// (incremental translation, issue 13: P7, a one-route edit in a 10,000-route API ≤ 5% of a full rebuild, and
// new-route propagation at 10,000 routes ≤ 2× that at 100). It works at two levels:
//
//   - Per source: a source whose revision (a store record's revision, a file's content fingerprint — whatever
//     the caller knows changes whenever the input does) is the one last translated is not read at all: no
//     encoding, no hashing, the previous translation is returned. Hashing every definition on every reload
//     was 40% of a reload at 100 APIs × 100 routes.
//   - Per resource, inside a source that changed: each resource's methods are translated again only when their
//     content changed. The key is a SHA-256 of the resource (id, path, each method's deterministic encoding) and
//     of its stage context (the file name, the definition without its resources, the API's own definition
//     without its resources, the stage): everything translateResource and the processor-route check read. A
//     change of an API- or stage-level setting changes the context and so retranslates every resource of the
//     stage. Cross-route steps stay whole and cheap: the first-match order is SortRoutes' stable order,
//     computed again (O(n log n) comparisons on indices) unless every route compares equal, position by position,
//     to the previous translation's (O(n), sameOrder: an edit that changes no path or method), and the stage's
//     processor-route finding is the first failing route in that order, as TranslateAPI gives it.
//
// Routes coming out of a Cache carry their content key (ir.Route.Source), which xds/builder's Builder keys its
// per-route cache on. A Cache's translation equals TranslateAPI's apart from Source (TestCacheMatchesTranslateAPI).
//
// Memory is bounded: per source, only the resources of its latest translation are kept, and they point into the
// routes of that translation rather than holding copies; Prune drops the sources not translated since the
// previous Prune. The ir.API values returned share their data with the cache and must
// not be modified (the control plane keeps them as they are). Safe for concurrent use.
type Cache struct {
	mu   sync.Mutex
	apis map[string]*cachedAPI
	gen  uint64 // counts Prunes
}

// cachedAPI is the latest translation of one source.
type cachedAPI struct {
	revision  string
	api       ir.API
	diags     diag.List
	resources map[ir.SourceKey]*cachedResource
	orders    map[string]stageOrder
	used      uint64
}

// cachedResource is one resource translated on one stage.
type cachedResource struct {
	// routes point into the stage's Routes of the latest translation (translateStage).
	routes []*ir.Route
	diags  diag.List
	// processor holds the processor-route findings of the routes that have one, by route name (almost always
	// empty); translateStage reports the first in route order.
	processor map[string]diag.Diagnostic
	// wire is the resource as a RestApi.resources field in the definition's deterministic encoding (tag, length,
	// message), from which a derived deployment id is computed without encoding the whole definition again
	// (derivedDeploymentID).
	wire []byte
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{apis: map[string]*cachedAPI{}} }

// TranslateAPI is TranslateAPI(in) for the API source named source. When revision is not empty and is the
// revision of the source's previous translation, in is not read and that translation is returned.
func (c *Cache) TranslateAPI(source, revision string, in Input) (ir.API, diag.List) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.apis[source]
	if prev != nil && revision != "" && prev.revision == revision {
		prev.used = c.gen
		return prev.api, prev.diags
	}
	memo := &resourceMemo{next: map[ir.SourceKey]*cachedResource{}}
	if prev != nil {
		memo.prev, memo.prevOrders = prev.resources, prev.orders
	}
	api, diags := translateAPI(in, memo)
	c.apis[source] = &cachedAPI{revision: revision, api: api, diags: diags, resources: memo.next,
		orders: memo.nextOrders, used: c.gen}
	return api, diags
}

// Prune drops the sources not translated since the previous Prune. Call it once per generation, after
// translating every source of it.
func (c *Cache) Prune() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, a := range c.apis {
		if a.used != c.gen {
			delete(c.apis, k)
		}
	}
	c.gen++
}

// resourceMemo translates the resources of one API translation through the previous translation's results.
type resourceMemo struct {
	prev, next             map[ir.SourceKey]*cachedResource
	prevOrders, nextOrders map[string]stageOrder // by stage name
	buf                    []byte
}

// translateStage fills stage.Routes from def's resources (translateResource through the cache) and returns the
// resources' diagnostics and the stage's processor-route finding, as translateStage without a cache does.
func (m *resourceMemo) translateStage(file string, api ir.API, main, def *apigatewayv1.RestApi, st *apigatewayv1.Stage, stage *ir.Stage) (diag.List, error) {
	ctx, err := m.stageContext(file, main, def, st)
	if err != nil {
		return nil, err
	}
	var diags diag.List
	var processor map[string]diag.Diagnostic
	prevOrder := m.prevOrders[stage.Name]
	entries := make([]*cachedResource, 0, len(def.GetResources()))
	refs := make([]*ir.Route, 0, len(prevOrder.perm))
	for _, res := range def.GetResources() {
		key := m.resourceKey(ctx, res)
		e, ok := m.next[key] // two resources of one content (a duplicate): one entry
		if !ok {
			e, ok = m.prev[key]
		}
		if !ok {
			e = &cachedResource{}
			if e.wire, err = resourceField(res); err != nil {
				return nil, err
			}
			var routes []ir.Route
			routes, e.diags = translateResource(file, def, *stage, res)
			e.routes = make([]*ir.Route, len(routes))
			for i := range routes {
				r := &routes[i]
				e.routes[i] = r
				r.Source = m.routeSource(ctx, res, r.Method)
				if d, bad := checkProcessorRoute(file, api, *stage, *r); bad {
					if e.processor == nil {
						e.processor = map[string]diag.Diagnostic{}
					}
					e.processor[r.Name] = d
				}
			}
		}
		m.next[key] = e
		entries = append(entries, e)
		diags = append(diags, e.diags...)
		refs = append(refs, e.routes...)
		for name, d := range e.processor {
			if processor == nil {
				processor = map[string]diag.Diagnostic{}
			}
			processor[name] = d
		}
	}
	perm := prevOrder.perm
	if !sameOrder(prevOrder.entries, entries) {
		perm = sortOrder(refs)
	}
	if m.nextOrders == nil {
		m.nextOrders = map[string]stageOrder{}
	}
	m.nextOrders[stage.Name] = stageOrder{entries: entries, perm: perm}
	if len(refs) > 0 {
		stage.Routes = make([]ir.Route, len(refs))
		at := make([]int32, len(refs)) // at[j]: where route j of the concatenation went
		for i, j := range perm {
			stage.Routes[i] = *refs[j]
			at[j] = int32(i)
		}
		// The entries now refer to the routes of the translation returned (which is not modified), so the cache
		// keeps no copy of its own (P5, retained heap per route) and no earlier translation's routes alive.
		k := 0
		for _, e := range entries {
			for j := range e.routes {
				e.routes[j] = &stage.Routes[at[k]]
				k++
			}
		}
	}
	if stage.DeploymentID == "" {
		if stage.DeploymentID, err = derivedDeploymentID(def, st, entries); err != nil {
			return nil, err
		}
	}
	if len(processor) > 0 {
		for _, r := range stage.Routes {
			if d, ok := processor[r.Name]; ok {
				// One finding per stage, the first in route order (checkProcessorRoutes).
				diags = append(diags, d)
				break
			}
		}
	}
	return diags, nil
}

// restAPIResourcesField is RestApi.resources' field number (proto/proxyplus/apigateway/v1/restapi.proto).
const restAPIResourcesField = 5

// resourceField is res as a RestApi.resources field of the definition's deterministic encoding: tag, length and
// the message, as proto.MarshalOptions{Deterministic: true} writes each element of a repeated message field.
func resourceField(res *apigatewayv1.Resource) ([]byte, error) {
	b, err := deploymentEncoding.Marshal(res)
	if err != nil {
		return nil, err
	}
	out := protowire.AppendTag(make([]byte, 0, len(b)+8), restAPIResourcesField, protowire.BytesType)
	return append(protowire.AppendVarint(out, uint64(len(b))), b...), nil
}

// deploymentEncoding is deploymentID's encoding.
var deploymentEncoding = proto.MarshalOptions{Deterministic: true}

// derivedDeploymentID is deploymentID(def, st), computed from the kept encodings of def's resources (entries, in
// definition order): a deterministic encoding writes known fields in field-number order, so def's is the encoding
// of def without resources with the resources' fields spliced in before its first field numbered above theirs.
// A definition with unknown fields (whose place that rule does not give) is encoded whole. Resources' unknown
// fields are not in their content keys, so such a resource keeps the encoding of the first resource of its
// content (the id is then still a function of what is served).
func derivedDeploymentID(def *apigatewayv1.RestApi, st *apigatewayv1.Stage, entries []*cachedResource) (string, error) {
	if len(def.ProtoReflect().GetUnknown()) > 0 {
		return deploymentID(def, st), nil
	}
	src := def.ProtoReflect()
	shell := src.New()
	resources := src.Descriptor().Fields().ByNumber(restAPIResourcesField)
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd != resources {
			shell.Set(fd, v)
		}
		return true
	})
	w, err := deploymentEncoding.Marshal(shell.Interface())
	if err != nil {
		return "", err
	}
	split := len(w)
	for in := w; len(in) > 0; {
		num, typ, n := protowire.ConsumeTag(in)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		if num > restAPIResourcesField {
			split = len(w) - len(in)
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, in[n:])
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		in = in[n+m:]
	}
	h := sha256.New()
	h.Write(w[:split])
	for _, e := range entries {
		h.Write(e.wire)
	}
	h.Write(w[split:])
	h.Write([]byte(st.GetStageName()))
	var sum [sha256.Size]byte
	return deploymentIDFromSum(h.Sum(sum[:0])), nil
}

// stageOrder is a stage's routes as last translated: the resources' entries in definition order and the
// permutation SortRoutes applies to their routes, concatenated.
type stageOrder struct {
	entries []*cachedResource
	perm    []int32
}

// sortOrder is the permutation SortRoutes applies to routes: the same stable order, computed on indices rather
// than by moving routes (a route is a large struct; sort.SliceStable's swaps of 10,000 of them took 8 ms).
func sortOrder(routes []*ir.Route) []int32 {
	perm := make([]int32, len(routes))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortStableFunc(perm, func(a, b int32) int { return compareRoutes(routes[a], routes[b]) })
	return perm
}

// sameOrder reports whether routes concatenated from cur sort as those of prev did: position by position, each
// route compares equal (compareRoutes) to the one before. A stable sort's result depends only on those
// comparisons, so the previous permutation then still applies; an edit that changes no path or method (most
// edits) costs no sort. O(resources) when the entries are the same.
func sameOrder(prev, cur []*cachedResource) bool {
	if len(prev) != len(cur) || len(prev) == 0 {
		return false
	}
	for i, p := range prev {
		c := cur[i]
		if p == c {
			continue
		}
		if len(p.routes) != len(c.routes) {
			return false
		}
		for j := range p.routes {
			if compareRoutes(p.routes[j], c.routes[j]) != 0 {
				return false
			}
		}
	}
	return true
}

// stageContext keys what translating a resource on st reads besides the resource: the file name (diagnostics
// name it), the definition serving the stage and the API's own definition without their resources (API-wide
// settings, authorizers, gateway responses, the declared stages), and the stage.
func (m *resourceMemo) stageContext(file string, main, def *apigatewayv1.RestApi, st *apigatewayv1.Stage) ([sha256.Size]byte, error) {
	h := sha256.New()
	writeString(h, file)
	// Without the deployment id, which no route reads (route data does not carry it: the API's deployment value
	// does, xds/builder extproc.go), so a deployment — declared or derived from the content — keeps every route.
	if st.GetDeploymentId() != "" {
		c := proto.Clone(st).(*apigatewayv1.Stage)
		c.DeploymentId = ""
		st = c
	}
	for _, msg := range []proto.Message{withoutResources(main), withoutResources(def), st} {
		var err error
		if m.buf, err = deterministic.MarshalAppend(m.buf[:0], msg); err != nil {
			return [sha256.Size]byte{}, err
		}
		writeBytes(h, m.buf)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k, nil
}

// deterministic encodes for content keys. AllowPartial skips the required-field check, which proto3 messages
// cannot fail and which took a third of the encoding time.
var deterministic = proto.MarshalOptions{Deterministic: true, AllowPartial: true}

// withoutResources is def without its resources and without its declared stages' deployment ids, which no route
// reads (stageContext) (a shallow copy: for encoding only).
func withoutResources(def *apigatewayv1.RestApi) proto.Message {
	src := def.ProtoReflect()
	out := src.New()
	resources := src.Descriptor().Fields().ByName("resources")
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd != resources {
			out.Set(fd, v)
		}
		return true
	})
	if slices.ContainsFunc(def.GetStages(), func(st *apigatewayv1.Stage) bool { return st.GetDeploymentId() != "" }) {
		o := out.Interface().(*apigatewayv1.RestApi)
		o.Stages = make([]*apigatewayv1.Stage, len(def.GetStages()))
		for i, st := range def.GetStages() {
			c := proto.Clone(st).(*apigatewayv1.Stage)
			c.DeploymentId = ""
			o.Stages[i] = c
		}
	}
	return out.Interface()
}

// resourceKey is the content key of res on the stage of ctx: its id and path and each method's name and
// fingerprint (fingerprint.go). (Resource has no other field; TestResourceKeyCoversResource checks that.)
// Everything is written into one buffer and hashed once: this runs for every resource of a changed API, so
// per-call overhead counts.
func (m *resourceMemo) resourceKey(ctx [sha256.Size]byte, res *apigatewayv1.Resource) ir.SourceKey {
	b := append(m.buf[:0], ctx[:]...)
	b = appendField(b, res.GetId())
	b = appendField(b, res.GetPath())
	for _, name := range sortedMethods(res) {
		b = appendField(b, name)
		start := len(b)
		b = appendMethodFingerprint(b, res.GetResourceMethods()[name])
		b = appendLength(b, len(b)-start)
	}
	m.buf = b
	return sha256.Sum256(b)
}

// appendField appends s and its length after it (every field ends with its length: the concatenation parses
// back from the end, so different contents never write the same bytes).
func appendField(b []byte, s string) []byte {
	return appendLength(append(b, s...), len(s))
}

func appendLength(b []byte, n int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(n)) }

// routeSource is the content key of the route of method on res, on the stage of ctx: as resourceKey, with that
// method only, so an edit of one method gives that method's route alone a new key (the builder rebuilds that
// route only). Computed for the resources translated afresh only.
func (m *resourceMemo) routeSource(ctx [sha256.Size]byte, res *apigatewayv1.Resource, method string) ir.SourceKey {
	b := append(m.buf[:0], ctx[:]...)
	b = appendField(b, res.GetId())
	b = appendField(b, res.GetPath())
	b = appendField(b, method)
	start := len(b)
	b = appendMethodFingerprint(b, res.GetResourceMethods()[method])
	b = appendLength(b, len(b)-start)
	m.buf = b
	return sha256.Sum256(b)
}

// writeString and writeBytes write length-prefixed fields, so that different splits hash differently.
func writeString(h hash.Hash, s string) { writeBytes(h, []byte(s)) }

func writeBytes(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	_, _ = h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	_, _ = h.Write(b)
}
