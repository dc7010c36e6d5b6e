package builder

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/ir"
)

// resourceRegex matches a resource under stage S, with every parameter captured.
func resourceRegex(stage string, segs []ir.Segment) string {
	return buildRegex(stage, segs, regexForm{spell: all, capture: all})
}

// legacyResourceRegex is the resource regex as generated before the RE2 program size work, with [^/] and '.'.
func legacyResourceRegex(stage string, segs []ir.Segment) string {
	re := resourceRegex(stage, segs)
	re = strings.ReplaceAll(re, "("+segChar+anyChar+"*?)", `([^/].*?)`)
	return strings.ReplaceAll(re, "("+segChar+"+)", `([^/]+)`)
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

// matchesRoute is what Envoy requires of a pathMatch: the safe_regex on the path cut at the first '?' or '#'
// (Http::PathUtil::removeQueryAndFragment) and every :path header regex on the whole target.
func matchesRoute(t *testing.T, m pathMatch, target string) bool {
	t.Helper()
	p := target
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !regexp.MustCompile(m.path).MatchString(p) {
		return false
	}
	for _, h := range m.headers {
		if !regexp.MustCompile(h).MatchString(target) {
			return false
		}
	}
	return true
}

// A long resource matched by a safe_regex plus :path header matchers (resourceMatch) matches exactly the targets
// its single regex matches, whatever the query and fragment hold; its rewrite pattern captures what the single
// regex captures. Resources have long literal segments (so that they are split) and parameters; targets are built
// from the resource with mutations (a literal changed in one place, segments added or dropped, slashes doubled)
// and queries full of '/', '?', '#' and copies of the literals.
func TestSplitMatchEquivalentToSingleRegex(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 100))
	const litChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:"
	split, matched, total := 0, 0, 0
	for range 300 {
		var segs []ir.Segment
		nsegs := 2 + rng.IntN(12)
		params := 0
		for i := range nsegs {
			if rng.IntN(3) == 0 {
				segs = append(segs, ir.Segment{Kind: ir.Param, Text: "p" + string(rune('a'+i))})
				params++
				continue
			}
			b := make([]byte, 1+rng.IntN(70))
			for j := range b {
				b[j] = litChars[rng.IntN(len(litChars))]
			}
			segs = append(segs, ir.Segment{Kind: ir.Literal, Text: string(b)})
		}
		if rng.IntN(4) == 0 {
			segs = append(segs, ir.Segment{Kind: ir.Greedy, Text: "proxy"})
		}
		m, err := resourceMatch(newRegexSizer(), "dev", segs)
		if err != nil {
			continue // refused: nothing is published
		}
		if len(m.headers) > 0 {
			split++
		}
		single := regexp.MustCompile(buildRegex("dev", segs, regexForm{spell: all, capture: all}))
		used := map[string]bool{}
		for _, s := range segs {
			if s.Kind != ir.Literal && rng.IntN(2) == 0 {
				used[s.Text] = true
			}
		}
		pattern, captureOf, err := rewritePattern(newRegexSizer(), "dev", segs, used)
		if err != nil {
			t.Fatalf("%v: rewrite pattern: %v", segs, err)
		}
		rw := regexp.MustCompile(pattern)
		for range 40 {
			var b strings.Builder
			b.WriteString(strings.Repeat("/", 1+rng.IntN(2)) + "dev" + strings.Repeat("/", 1+rng.IntN(2)))
			for i, s := range segs {
				if i > 0 {
					b.WriteString(strings.Repeat("/", 1+boolInt(rng.IntN(30) == 0)))
				}
				switch {
				case s.Kind == ir.Literal && rng.IntN(40) == 0:
					b.WriteString(s.Text[:len(s.Text)-1] + "x")
				case s.Kind == ir.Literal && rng.IntN(40) == 0:
					b.WriteString(s.Text + "z")
				case s.Kind == ir.Literal:
					b.WriteString(s.Text)
				case s.Kind == ir.Greedy:
					b.WriteString([]string{"g", "g/h", "g//h", segs[0].Text}[rng.IntN(4)])
				default:
					b.WriteString([]string{"v", "%2F", "v.w", segs[0].Text, "q?", ""}[rng.IntN(5)])
				}
			}
			if rng.IntN(20) == 0 {
				b.WriteString("/" + segs[len(segs)-1].Text)
			}
			b.WriteString(strings.Repeat("/", rng.IntN(3)))
			path := b.String()
			target := path + []string{"", "?a=/b", "#" + segs[0].Text, "?/" + segs[len(segs)-1].Text, "?x#y/z?"}[rng.IntN(5)]
			want := single.FindStringSubmatch(strings.SplitN(strings.SplitN(target, "?", 2)[0], "#", 2)[0])
			got := matchesRoute(t, m, target)
			total++
			if want != nil {
				matched++
			}
			if got != (want != nil) {
				t.Fatalf("target %q: split match %v says %v, single regex %s says %v", target, m, got, single, want != nil)
			}
			if want == nil {
				continue
			}
			caps := rw.FindStringSubmatch(strings.SplitN(strings.SplitN(target, "?", 2)[0], "#", 2)[0])
			if caps == nil {
				t.Fatalf("target %q: rewrite pattern %s does not match", target, pattern)
			}
			n := 0
			for i, s := range segs {
				if s.Kind == ir.Literal {
					continue
				}
				n++
				if k := captureOf[s.Text]; used[s.Text] && caps[k] != want[n] {
					t.Fatalf("target %q segment %d: rewrite pattern %s captures %q, the single regex %q", target, i, pattern, caps[k], want[n])
				}
			}
		}
	}
	if split < 50 || matched < total/5 || matched > total*4/5 {
		t.Fatalf("%d split resources, %d of %d targets matched; tune the generator", split, matched, total)
	}
	t.Logf("%d split resources; %d of %d targets matched", split, matched, total)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
