package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// pipeline is the control plane's build path from API definitions to a published snapshot, as
// controlplane.Reloader runs it without the loading: each API translated through one translator.Cache (skipped
// when its source revision is unchanged, otherwise per resource), the APIs assembled, built by one
// builder.Builder (per-route cache) and published.
//
// revisions, when set (newRevisionPipeline), stand for the store's record revisions: a test that edits an API
// then calls edited, as a store write bumps the record's revision. Without them (newPipeline, for tests that edit
// definitions in place without saying so) no source revision is known and every API is checked resource by
// resource, as a control plane without revisions would.
type pipeline struct {
	pub       *Publisher
	builder   *builder.Builder
	cache     *translator.Cache
	revisions map[string]int
	last      map[resourcev3.Type][]types.Resource // what run published last
	// lastDigests are the Builder's content digests of last (Publisher.PublishDigested), as the control plane
	// publishes them.
	lastDigests Digests
}

func newPipeline() *pipeline {
	return &pipeline{pub: NewPublisher(slog.New(slog.DiscardHandler), nil), builder: builder.NewBuilder(),
		cache: translator.NewCache()}
}

// newRevisionPipeline is a pipeline that knows each API's revision: every edit must be followed by edited.
func newRevisionPipeline() *pipeline {
	p := newPipeline()
	p.revisions = map[string]int{}
	return p
}

// edited records that the definition of API id changed (a new store revision).
func (p *pipeline) edited(id string) {
	if p.revisions != nil {
		p.revisions[id]++
	}
}

func (p *pipeline) run(tb testing.TB, apis []*apigatewayv1.RestApi) string {
	tb.Helper()
	out := make([]ir.API, 0, len(apis))
	for _, a := range apis {
		rev := ""
		if p.revisions != nil {
			rev = strconv.Itoa(p.revisions[a.GetId()])
		}
		api, ds := p.cache.TranslateAPI(a.GetId(), rev, translator.Input{File: a.GetId(), API: a})
		if err := ds.Err(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, api)
	}
	p.cache.Prune()
	res, err := p.builder.Build(translator.Assemble(out, translator.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	p.last, p.lastDigests = res.ByType(), res
	v, err := p.pub.PublishDigested(context.Background(), p.last, res)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// fleetAPIs is `apis` REF-API(perAPI) definitions with distinct ids (and so distinct default hosts).
func fleetAPIs(apis, perAPI int) []*apigatewayv1.RestApi {
	out := make([]*apigatewayv1.RestApi, apis)
	for i := range out {
		out[i] = refapi.New(perAPI)
		out[i].Id = fmt.Sprintf("fleet%05d", i)
	}
	return out
}

// editTimeout is a one-method edit: the integration timeout of API 0's first GET (below the 29 s default, so the
// configuration-wide processor timeout stays).
func editTimeout(apis []*apigatewayv1.RestApi, i int) {
	m := apis[0].GetResources()[0].GetResourceMethods()["GET"]
	m.Integration.TimeoutInMillis = int32(1000 + i%2*1000)
}

// rebuildShape is a configuration BenchmarkRebuild and BenchmarkPropagation edit.
type rebuildShape struct {
	name         string
	nAPIs        int
	perAPI       int
	deploymentID bool // the stages name their deployment (declaredDeployment)
}

func (s rebuildShape) apis() []*apigatewayv1.RestApi {
	apis := fleetAPIs(s.nAPIs, s.perAPI)
	if s.deploymentID {
		declaredDeployment(apis)
	}
	return apis
}

// rebuildShapes: single=10000 is REF-API(10000), one API; routes=10000 is 100 APIs of REF-API(100), where the
// split and the per-API caches apply. REF-API's stage does not name its deployment, so the stage's deployment id
// is derived from the definition's content (translator deploymentID): every edit is a new deployment, and the
// deployment id is part of the signed route data of every processor route (ir.EncodeProcessorRoute, the Lambda
// event's requestContext.deploymentId), so a one-method edit changes 9,000 of REF-API(10000)'s routes.
// single=10000-deployment is the same API with its stage naming its deployment (stage deploymentId in the
// definition, as `proxyplus deploy` and the store's stages do): an edit served under the same deployment changes
// one route.
var rebuildShapes = []rebuildShape{
	{name: "single=10000", nAPIs: 1, perAPI: 10_000},
	{name: "single=10000-deployment", nAPIs: 1, perAPI: 10_000, deploymentID: true},
	{name: "routes=10000", nAPIs: 100, perAPI: 100},
}

// declaredDeployment makes every stage name its deployment.
func declaredDeployment(apis []*apigatewayv1.RestApi) {
	for _, a := range apis {
		for _, st := range a.GetStages() {
			st.DeploymentId = "dep001"
		}
	}
}

// BenchmarkRebuild is P7 (§2.1): full = translate and publish from an empty state; one-route-edit = from the
// published state, change one method's integration timeout, translate and publish. Both end when the snapshot is
// set (no client connected; P6 covers the push). Shapes: rebuildShapes.
//
//	go test ./xds/server -run '^$' -bench BenchmarkRebuild -benchtime 5x -count 5 -cpu 2
func BenchmarkRebuild(b *testing.B) {
	for _, shape := range rebuildShapes {
		b.Run(shape.name+"/full", func(b *testing.B) {
			apis := shape.apis()
			for b.Loop() {
				newRevisionPipeline().run(b, apis)
			}
		})
		b.Run(shape.name+"/one-route-edit", func(b *testing.B) {
			apis := shape.apis()
			p := newRevisionPipeline()
			prev := p.run(b, apis)
			for i := 0; b.Loop(); i++ {
				editTimeout(apis, i)
				p.edited(apis[0].GetId())
				v := p.run(b, apis)
				if v == prev {
					b.Fatal("the edit did not change the version")
				}
				prev = v
			}
		})
	}
}
