package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// pipeline is the control plane's build path from API definitions to a published snapshot, as
// controlplane.Reloader runs it without the loading: each API translated alone (translator.TranslateAPI) unless its
// input is unchanged (content hash), the APIs assembled, built by one builder.Builder and published.
type pipeline struct {
	pub        *Publisher
	builder    *builder.Builder
	translated map[string]translatedAPI
	last       map[resourcev3.Type][]types.Resource // what run published last
}

type translatedAPI struct {
	hash [sha256.Size]byte
	api  ir.API
}

func newPipeline() *pipeline {
	return &pipeline{pub: NewPublisher(slog.New(slog.DiscardHandler), nil), builder: builder.NewBuilder(), translated: map[string]translatedAPI{}}
}

func (p *pipeline) run(tb testing.TB, apis []*apigatewayv1.RestApi) string {
	tb.Helper()
	var out []ir.API
	next := make(map[string]translatedAPI, len(apis))
	for _, a := range apis {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		if err != nil {
			tb.Fatal(err)
		}
		h := sha256.Sum256(b)
		t, ok := p.translated[a.GetId()]
		if !ok || t.hash != h {
			api, ds := translator.TranslateAPI(translator.Input{File: a.GetId(), API: a})
			if err := ds.Err(); err != nil {
				tb.Fatal(err)
			}
			t = translatedAPI{hash: h, api: api}
		}
		next[a.GetId()] = t
		out = append(out, t.api)
	}
	p.translated = next
	res, err := p.builder.Build(translator.Assemble(out, translator.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	p.last = res.ByType()
	v, err := p.pub.Publish(context.Background(), p.last)
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

// BenchmarkRebuild is P7 (§2.1): full = translate and publish from an empty state; one-route-edit = from the
// published state, change one method's integration timeout, translate and publish. Both end when the snapshot is
// set (no client connected; P6 covers the push). single=10000 is REF-API(10000), one API; routes=10000 is 100 APIs
// of REF-API(100), where the split and the per-API caches apply.
//
//	go test ./xds/server -run '^$' -bench BenchmarkRebuild -benchtime 5x -count 5 -cpu 2
func BenchmarkRebuild(b *testing.B) {
	for _, shape := range []struct {
		name         string
		apis, perAPI int
	}{{"single=10000", 1, 10_000}, {"routes=10000", 100, 100}} {
		b.Run(shape.name+"/full", func(b *testing.B) {
			apis := fleetAPIs(shape.apis, shape.perAPI)
			for b.Loop() {
				newPipeline().run(b, apis)
			}
		})
		b.Run(shape.name+"/one-route-edit", func(b *testing.B) {
			apis := fleetAPIs(shape.apis, shape.perAPI)
			p := newPipeline()
			prev := p.run(b, apis)
			for i := 0; b.Loop(); i++ {
				editTimeout(apis, i)
				v := p.run(b, apis)
				if v == prev {
					b.Fatal("the edit did not change the version")
				}
				prev = v
			}
		})
	}
}
