package translator

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/ir"
)

// legacyResourceRegex is the resource regex as generated before the RE2 program size work, with [^/] and '.'.
func legacyResourceRegex(stage string, segs []ir.Segment) string {
	re := resourceRegex(stage, segs)
	re = strings.ReplaceAll(re, greedyRe, `([^/].*?)`)
	return strings.ReplaceAll(re, paramRe, `([^/]+)`)
}

// On every ASCII path (all 128 byte values, the only paths that reach a resource route: see nonASCIITargetRoute),
// the ASCII-class regex matches exactly when the [^/] one does, with the same captures, which regex_rewrite and
// the placeholders use. Paths are built from the resource's own shape (repeated slashes around the stage,
// trailing slashes, {proxy+} remainders with inner slashes) so that most of them match, and mutated so that many
// do not.
func TestASCIIClassesEquivalentToLegacyRegex(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 128))
	asciiByte := func() byte {
		if rng.IntN(3) == 0 {
			return byte(rng.IntN(128)) // any ASCII byte: controls, '\n', '/', DEL
		}
		const common = "ab/%2F.-~\n\x00\x7f"
		return common[rng.IntN(len(common))]
	}
	matched, total := 0, 0
	for range 400 {
		var segs []ir.Segment
		for range rng.IntN(5) {
			switch rng.IntN(3) {
			case 0:
				segs = append(segs, ir.Segment{Kind: ir.Param, Text: "p"})
			default:
				segs = append(segs, ir.Segment{Kind: ir.Literal, Text: []string{"a", "b.c", "x+y", "%41"}[rng.IntN(4)]})
			}
		}
		if rng.IntN(4) == 0 {
			segs = append(segs, ir.Segment{Kind: ir.Greedy, Text: "proxy"})
		}
		re := regexp.MustCompile(resourceRegex("dev", segs))
		legacy := regexp.MustCompile(legacyResourceRegex("dev", segs))
		for range 50 {
			var b strings.Builder
			b.WriteString(strings.Repeat("/", 1+rng.IntN(2)) + "dev" + strings.Repeat("/", 1+rng.IntN(2)))
			for i, s := range segs {
				if i > 0 {
					b.WriteByte('/')
				}
				switch s.Kind {
				case ir.Literal:
					b.WriteString(s.Text)
				default:
					for range rng.IntN(4) {
						b.WriteByte(asciiByte())
					}
				}
			}
			b.WriteString(strings.Repeat("/", rng.IntN(3)))
			p := []byte(b.String())
			if rng.IntN(4) == 0 && len(p) > 0 {
				p[rng.IntN(len(p))] = asciiByte()
			}
			got, want := re.FindStringSubmatch(string(p)), legacy.FindStringSubmatch(string(p))
			total++
			if want != nil {
				matched++
			}
			if strings.Join(got, "\x01") != strings.Join(want, "\x01") || (got == nil) != (want == nil) {
				t.Fatalf("path %q: %s gives %q, %s gives %q", p, re, got, legacy, want)
			}
		}
	}
	if matched < total/5 || matched > total*4/5 {
		t.Fatalf("%d of %d paths matched; tune the generator", matched, total)
	}
}
