package builder_test

import (
	"flag"
	"fmt"
	"runtime"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

var long = flag.Bool("long", false, "run long measurements (heap per route)")

// translateAndBuild is one P4 operation: REF-API(N) definition → IR → Envoy protos → ValidateAll → consistent
// snapshot (no network).
func translateAndBuild(tb testing.TB, n int) (*ir.Config, *builder.Resources, *cachev3.Snapshot) {
	api := refapi.New(n)
	cfg, diags := translator.Translate([]translator.Input{{File: "ref-api", API: api}}, translator.Options{})
	if err := diags.Err(); err != nil {
		tb.Fatal(err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := cachev3.NewSnapshot("v1", res.ByType())
	if err != nil {
		tb.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		tb.Fatal(err)
	}
	return cfg, res, snap
}

// BenchmarkTranslate is P4: ns/route must stay within ±20% of the 1,000-route value up to 20,000 routes.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{1000, 2000, 5000, 10000, 20000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				translateAndBuild(b, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/route")
		})
	}
}

// TestHeapPerRoute is P5: retained heap per route of a published configuration at 10k routes: what serve keeps
// (the Envoy resources in a snapshot; the IR is garbage once built). It measures; run it with:
// go test ./xds/builder -run HeapPerRoute -long -v
func TestHeapPerRoute(t *testing.T) {
	if !*long {
		t.Skip("measurement; run with -long")
	}
	const n = 10000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, snap := translateAndBuild(t, n)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perRoute := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(snap)
	t.Logf("retained heap: %.0f bytes per route (%d routes, %.1f MiB)", perRoute, n, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
}
