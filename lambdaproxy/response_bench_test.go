package lambdaproxy

import (
	"encoding/json"
	"testing"
)

// BenchmarkOutputParse is target P2 (performance-targets.md §2.1): the function-output parser, validation of
// OUT-5..OUT-11 and header merging included, producing the Response handed to the immediate-response builder
// (proxyplus), against encoding/json decoding REF-OUTPUT into map[string]any (stdlib). Bound: ≥ 2× faster.
//
//	go test ./lambdaproxy -run '^$' -bench BenchmarkOutputParse -benchmem -count 10 -cpu 2 | tee bench.txt
//	benchstat bench.txt
func BenchmarkOutputParse(b *testing.B) {
	payload := outRefOutput(b)
	b.Run("proxyplus", func(b *testing.B) {
		inv := &Invocation{Payload: payload}
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if r := ConvertResponse(outRefRequest, nil, inv, outTestContext); r.StatusCode != 201 {
				b.Fatal(r.StatusCode, r.Details)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(payload, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
