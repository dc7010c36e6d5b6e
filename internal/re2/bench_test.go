package re2

import "testing"

// BenchmarkProgramSize: the cost the translator pays per regex shape and the evaluator per regex.
func BenchmarkProgramSize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ProgramSize(`^/+prod/+svc100/items2002/[\x00-.0-\x7f]+/*$`); err != nil {
			b.Fatal(err)
		}
	}
}
