package testinvoke_test

import (
	"context"
	"testing"

	"github.com/proxyplus/proxyplus/testinvoke"
)

// BenchmarkMockAnswer runs the PetStore example's MOCKs through test-invoke's model of Envoy (the evaluator) with
// the ext_proc service behind a real socket: `static` is GET / (the landing page, a direct_response) and
// `preflight` OPTIONS /pets; both must be answered by Envoy alone, so the benchmark fails on any processor
// stream.
//
//	go test ./testinvoke -run '^$' -bench BenchmarkMockAnswer -benchmem -cpu 2
func BenchmarkMockAnswer(b *testing.B) {
	for _, c := range []struct{ name, method, target string }{
		{"static", "GET", "/test/"},
		{"preflight", "OPTIONS", "/test/pets"},
	} {
		b.Run(c.name, func(b *testing.B) {
			inv, p := petstoreInvoker(b)
			req := testinvoke.Request{Method: c.method, Target: c.target, Headers: [][2]string{{"Accept", "text/html"}}}
			for b.Loop() {
				got, err := inv.Invoke(context.Background(), req)
				if err != nil || got.Response.StatusCode != 200 {
					b.Fatalf("%v %v", got, err)
				}
			}
			if n := p.calls.Load(); n != 0 {
				b.Fatalf("%d processor streams; a static MOCK is Envoy's alone", n)
			}
		})
	}
}
