//go:build re2

package builder

import (
	"fmt"
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
	over, published, sized := 0, 0, 0
	z := newRegexSizer()
	for range 2000 {
		var b strings.Builder
		params := rng.IntN(11)
		for b.Len() < 512 && (params > 0 || rng.IntN(4) != 0) {
			b.WriteByte('/')
			switch {
			case params > 0 && rng.IntN(2) == 0:
				fmt.Fprintf(&b, "{p%d}", params)
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
		// The shape cache's size (regexSizer) is RE2's on every form.
		if len(segs) > 0 {
			some := map[int]bool{}
			for i := range segs {
				some[i] = rng.IntN(2) == 0
			}
			spellSome := func(i int) bool { return some[i] }
			k := 1 + rng.IntN(len(segs))
			for _, f := range []regexForm{
				{spell: all, capture: all}, {spell: none, capture: none}, {spell: spellSome, capture: spellSome},
				{upTo: k, rest: hdrRest, spell: spellSome, capture: none}, {upTo: k, rest: rewriteRest, spell: all, capture: all},
			} {
				if f.upTo > 0 && segs[k-1].Kind == ir.Greedy {
					continue
				}
				re := buildRegex(stage, segs, f)
				got, err := z.size(stage, segs, f)
				if want := checkAgainstRE2(t, re); err != nil || got != want {
					t.Fatalf("regexSizer size of %q = %d, %v; RE2 says %d", re, got, err, want)
				}
				sized++
			}
		}
		// What the builder publishes for the resource: the match (split over :path header matchers when long)
		// and a rewrite pattern capturing some parameters.
		if m, err := resourceMatch(newRegexSizer(), stage, segs); err == nil {
			for _, re := range append([]string{m.path}, m.headers...) {
				if n := checkAgainstRE2(t, re); n > re2.DefaultMaxProgramSize {
					t.Fatalf("published regex %q has RE2 program size %d", re, n)
				}
				published++
			}
		}
		used := map[string]bool{}
		for _, s := range segs {
			if s.Kind != ir.Literal && rng.IntN(2) == 0 {
				used[s.Text] = true
			}
		}
		if pattern, _, err := rewritePattern(newRegexSizer(), stage, segs, used); err == nil {
			checkAgainstRE2(t, pattern)
			published++
		}
	}
	t.Logf("2000 random paths: %d over the limit as one regex; %d published regexes and %d sizes (%d shapes) checked", over, published, sized, len(z.byShape))
}

func parseSegments(t *testing.T, path string) []ir.Segment {
	t.Helper()
	var segs []ir.Segment
	for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if s == "" {
			continue // the root resource has no segment
		}
		if strings.HasPrefix(s, "{p") {
			segs = append(segs, ir.Segment{Kind: ir.Param, Text: strings.Trim(s, "{}")})
			continue
		}
		segs = append(segs, ir.Segment{Kind: ir.Literal, Text: s})
	}
	return segs
}

// The 10-parameter, 512-character paths of TestLongPathsWithinRE2LimitOrRefused (literal segments of 60, 20 and 8
// characters, then the parameters): every regex published for them has RE2's own program size within 100.
func TestLongPathRegexesAgainstRE2(t *testing.T) {
	const lit = "abcdefghijklmnopqrstuvwxyz0123456789_-.,:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	largest := 0
	for _, segLen := range []int{60, 20, 8} {
		for params := 0; params <= 10; params++ {
			var segs []ir.Segment
			length := 0
			for k := 0; length+6*params < 512; k++ {
				n := min(segLen, 512-6*params-length-1)
				if n <= 0 {
					break
				}
				var b strings.Builder
				for i := range n {
					b.WriteByte(lit[(k*7+i)%len(lit)])
				}
				segs = append(segs, ir.Segment{Kind: ir.Literal, Text: b.String()})
				length += n + 1
			}
			used := map[string]bool{}
			for i := range params {
				segs = append(segs, ir.Segment{Kind: ir.Param, Text: fmt.Sprintf("p%d", i)})
				used[fmt.Sprintf("p%d", i)] = i < 9
			}
			m, err := resourceMatch(newRegexSizer(), "dev", segs)
			if err != nil {
				continue // refused with an error (TestLongPathsWithinRE2LimitOrRefused checks the message)
			}
			regexes := append([]string{m.path}, m.headers...)
			if pattern, _, err := rewritePattern(newRegexSizer(), "dev", segs, used); err == nil {
				regexes = append(regexes, pattern)
			}
			for _, re := range regexes {
				n := checkAgainstRE2(t, re)
				if n > re2.DefaultMaxProgramSize {
					t.Fatalf("published regex %q has RE2 program size %d", re, n)
				}
				largest = max(largest, n)
			}
		}
	}
	t.Logf("largest RE2 program size (libre2) over the 512-character paths: %d", largest)
}
