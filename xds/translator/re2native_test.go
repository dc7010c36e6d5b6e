//go:build re2

package translator

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/internal/re2"
	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
)

// checkAgainstRE2 compares re2.ProgramSize with libre2's RE2::ProgramSize and returns the size.
func checkAgainstRE2(t *testing.T, re string) int {
	t.Helper()
	want, err := re2.NativeProgramSize(re)
	if err != nil {
		t.Fatalf("RE2 refuses %q: %v", re, err)
	}
	got, err := re2.ProgramSize(re)
	if err != nil || got != want {
		t.Fatalf("ProgramSize(%q) = %d, %v; RE2 says %d", re, got, err, want)
	}
	return want
}

// Every regex of REF-API(20000)'s route configuration, sized by RE2 itself, is within Envoy's default limit and
// equals the Go port's size.
func TestREFAPIRegexesAgainstRE2(t *testing.T) {
	cfg, diags := translator.Translate([]translator.Input{{File: "ref-api", API: refapi.New(20000)}}, translator.Options{})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	largest, count := 0, 0
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				res := []string{r.GetMatch().GetSafeRegex().GetRegex(), r.GetRoute().GetRegexRewrite().GetPattern().GetRegex()}
				for _, h := range r.GetMatch().GetHeaders() {
					res = append(res, h.GetStringMatch().GetSafeRegex().GetRegex())
				}
				for _, re := range res {
					if re == "" {
						continue
					}
					count++
					largest = max(largest, checkAgainstRE2(t, re))
				}
			}
		}
	}
	t.Logf("REF-API(20000): %d regexes, largest RE2 program size (libre2) %d", count, largest)
	if largest > re2.DefaultMaxProgramSize {
		t.Fatalf("largest RE2 program size %d > %d", largest, re2.DefaultMaxProgramSize)
	}
}

// Random resource paths of up to 10 parameters and 512 characters, with literal characters from the whole
// printable ASCII range and UTF-8, on random stages: the Go port agrees with RE2 on every resource and stage
// regex, including those over the limit that translation refuses.
func TestRandomPathRegexesAgainstRE2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 512))
	litChars := []rune("abcxyzABC019-._~!$&'()*+,;=:@%[]^|\\\"<>`{}é日")
	over := 0
	for range 2000 {
		var b strings.Builder
		params := rng.IntN(11)
		for b.Len() < 512 && (params > 0 || rng.IntN(4) != 0) {
			b.WriteByte('/')
			switch {
			case params > 0 && rng.IntN(2) == 0:
				b.WriteString("{p}")
				params--
			default:
				for range 1 + rng.IntN(40) {
					b.WriteRune(litChars[rng.IntN(len(litChars))])
				}
			}
		}
		segs := parseSegments(t, b.String())
		if rng.IntN(5) == 0 {
			segs = append(segs, ir.Segment{Kind: ir.Greedy, Text: "proxy"})
		}
		stage := []string{"dev", "prod", "v1_2-3", strings.Repeat("s", 128)}[rng.IntN(4)]
		if checkAgainstRE2(t, resourceRegex(stage, segs)) > re2.DefaultMaxProgramSize {
			over++
		}
		checkAgainstRE2(t, stageRegex(stage))
	}
	t.Logf("2000 random paths: %d over the limit", over)
}

func parseSegments(t *testing.T, path string) []ir.Segment {
	t.Helper()
	var segs []ir.Segment
	for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if s == "{p}" {
			segs = append(segs, ir.Segment{Kind: ir.Param, Text: "p"})
			continue
		}
		segs = append(segs, ir.Segment{Kind: ir.Literal, Text: s})
	}
	return segs
}
