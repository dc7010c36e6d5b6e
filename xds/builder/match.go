package builder

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/proxyplus/proxyplus/internal/re2"
	"github.com/proxyplus/proxyplus/ir"
)

// Path matching (apigateway-rest RTE-2..RTE-15, envoy-notes RTM-4/RTM-6/RTM-7).
//
// Every (resource, method) pair is one route with one anchored RE2 (`safe_regex`). Why a regex even for literal
// resources: API Gateway ignores trailing slashes (RTE-5) and repeated slashes before and right after the stage
// (RTE-2, RTE-3), so `/S/a/b`, `//S/a/b`, `/S//a/b/` are one resource; one compiled RE2 per pair absorbs them,
// where exact matchers would need a route per variant. Envoy can only collapse every `//` (merge_slashes),
// which would destroy inner ones (RTE-4), so the tolerance lives in the pattern: `/+S/+` at the front and `/*`
// at the end, while inner separators stay single. RE2 runs in time linear in the path with no per-request work
// beyond the match. Envoy's `safe_regex` must match the whole path without the query string
// (route_components.proto RouteMatch.safe_regex), which is exactly RTE-9. Matching is case-sensitive (RTE-8).
// Envoy limits each regex's RE2 program size to 100 (see below): a resource too long for one regex is matched by
// a safe_regex plus :path header matchers whose conjunction is exactly that regex (resourceMatch).

// Segment classes are byte ranges of ASCII, not [^/] or '.': RE2 compiles a class that reaches beyond U+007F to a
// UTF-8 byte trie (six more instructions per occurrence), and Envoy refuses a safe_regex whose RE2 program size
// exceeds re2.max_program_size.error_level, default 100 (source/common/common/regex.cc,
// CompiledGoogleReMatcher::CompiledGoogleReMatcher, main 1.37.0-dev, 321a098d81) — a refusal that NACKs the whole
// RouteConfiguration. On a path of ASCII bytes, segChar is exactly [^/] and anyChar exactly '.' (every byte but
// '\n'), and resource regexes only ever see ASCII paths: HTTP/1 targets with a byte ≥ 0x80 never reach the router
// (source/common/http/http1/balsa_parser.cc isUrlValid: only TAB, FF and '!'..'~'; `char` is signed), and the
// HTTP/2 ones nghttp2 lets through are answered by the guard route ahead of every resource route
// (nonASCIITargetRoute, route.go). TestASCIIClassesEquivalentToLegacyRegex checks the equivalence.
const (
	segChar = `[\x00-.0-\x7f]`     // any ASCII byte but '/'
	anyChar = `[\x00-\t\x0b-\x7f]` // any ASCII byte but '\n', as '.' is
	trailRe = `/*`                 // any number of trailing slashes is ignored (RTE-5)
)

// hdrRest ends a :path header matcher (resourceMatch): after its last segment comes the rest of the path, the
// query or the fragment, or nothing. A header matcher full-matches the raw :path (HeaderDataStringMatch), while
// Envoy's path matching cuts the path at the first '?' or '#' (Matchers::PathMatcher::match → Http::PathUtil::
// removeQueryAndFragment, source/common/common/matchers.cc; main 1.37.0-dev, 321a098d81). ASCII suffices: a
// target with another byte was answered by nonASCIITargetRoute.
const hdrRest = `(?:[/?#][\x00-\x7f]*)?`

// rewriteRest ends a regex_rewrite pattern after the last parameter it captures: the rest of the path, if any.
const rewriteRest = `(?:/[\x00-\x7f]*)?`

// regexForm says how a resource regex is written.
type regexForm struct {
	// upTo > 0 checks segments 1..upTo only, and rest matches what follows them. 0: the whole path.
	upTo    int
	rest    string
	spell   func(i int) bool // literal segment i is spelled out; otherwise it is matched as any segment
	capture func(i int) bool // parameter segment i is a capture group
}

// buildRegex writes the regex of a resource under stage S: `^/+S/+seg/seg/.../*$`. Segments are single-slash
// separated, non-empty and free of '/', so every form of one resource splits a path into the same segments; a
// form only differs in which literal segments it spells out, which parameters it captures, and whether it stops
// after segment upTo.
func buildRegex(stage string, segs []ir.Segment, f regexForm) string {
	re, _ := writeRegex(stage, segs, f, false)
	return re
}

// writeRegex is buildRegex; with shape set, the stage and every spelled literal are written as one byte, and
// literalBytes counts the bytes left out (see regexSizer).
func writeRegex(stage string, segs []ir.Segment, f regexForm, shape bool) (re string, literalBytes int) {
	literal := func(text string) string {
		if shape {
			literalBytes += len(text) - 1
			return "a"
		}
		return regexp.QuoteMeta(text)
	}
	n := len(segs)
	if f.upTo > 0 {
		n = f.upTo
	}
	var b strings.Builder
	b.WriteString("^/+")
	b.WriteString(literal(stage))
	for i, s := range segs[:n] {
		if i == 0 {
			b.WriteString("/+")
		} else {
			b.WriteByte('/')
		}
		var re string
		switch {
		case s.Kind == ir.Literal && f.spell(i):
			b.WriteString(literal(s.Text))
			continue
		case s.Kind == ir.Greedy:
			// At least one character, not starting with '/', lazily leaving trailing slashes (RTE-14, EVT-18).
			re = segChar + anyChar + "*?"
		default:
			// One non-empty segment, raw (RTE-15, RTE-7: %2F does not split).
			re = segChar + "+"
		}
		if s.Kind != ir.Literal && f.capture(i) {
			re = "(" + re + ")"
		}
		b.WriteString(re)
	}
	if f.upTo > 0 {
		b.WriteString(f.rest)
	} else {
		b.WriteString(trailRe) // any number of trailing slashes is ignored (RTE-5)
	}
	b.WriteByte('$')
	return b.String(), literalBytes
}

// regexSizer gives the RE2 program size of resource regexes, computing it once per shape. RE2 compiles a literal
// of n bytes to a chain of n ByteRange instructions (Compiler::Literal, re2/compile.cc); after flattening, every
// byte but the first is the successor of the one before, so a root whose list is that one instruction
// (Prog::Flatten, MarkSuccessors, re2/prog.cc), and shortening the literal to its first byte removes exactly those
// lists. Nothing in these regexes lets a literal interact with its neighbours: no literal holds '/', so
// CoalesceWalker never merges one with `/+` or `/*`, and every regex starts with `^/+`, so RE2::Init's required
// literal prefix never applies. So size = size of the shape (stage and literals one byte each) + the bytes left
// out. The tests built with -tags re2 compare it with libre2 (re2native_test.go).
type regexSizer struct {
	byShape map[string]int
}

func newRegexSizer() *regexSizer { return &regexSizer{byShape: map[string]int{}} }

func (z *regexSizer) size(stage string, segs []ir.Segment, f regexForm) (int, error) {
	shape, extra := writeRegex(stage, segs, f, true)
	n, ok := z.byShape[shape]
	if !ok {
		var err error
		if n, err = re2.ProgramSize(shape); err != nil {
			return 0, fmt.Errorf("regex %q: %w", buildRegex(stage, segs, f), err)
		}
		z.byShape[shape] = n
	}
	return n + extra, nil
}

func (z *regexSizer) fits(stage string, segs []ir.Segment, f regexForm) bool {
	n, err := z.size(stage, segs, f)
	return err == nil && n <= re2.DefaultMaxProgramSize
}

func all(int) bool  { return true }
func none(int) bool { return false }

// pathMatch is how a route recognises its resource: a safe_regex on the path, and :path header matchers when the
// resource's literal text does not fit one regex.
type pathMatch struct {
	path    string
	headers []string
}

// resourceMatch is the match of a resource under stage S within Envoy's RE2 program size limit. One regex when
// it fits (no captures: only regex_rewrite needs them, in its own pattern). Otherwise the route's safe_regex is
// the resource's whole shape spelling out as many of its last literal segments as fit, and :path header matchers
// check the other literal segments, front to back, each as many as fit, stopping after its last one (hdrRest).
// Envoy requires all of them (RouteEntryImplBase::matchRoute: every header matcher, then the path;
// source/common/router/config_impl.cc).
//
// Why the conjunction is exactly the single regex, for a path p (up to the first '?' or '#') and :path = p + q (q
// empty or starting with '?' or '#'). Segments are single-slash separated, non-empty, '/'-free runs after
// `/+S/+`, so a path has at most one split into segments. p matches the single regex iff p has the resource's
// shape and each literal segment equals its text; the safe_regex checks the shape on p. A header matcher spelling
// literals up to segment k full-matches p + q iff a prefix X of p + q splits into k segments with its literals
// in place and is followed by '/', '?', '#' or nothing. If X lies within p (p has no '?' or '#'), X's segments
// are p's first k segments. X cannot reach into q: it would then contain all of p, so k would be p's last segment
// (a {proxy+} is never in a header matcher, and the shape fixes p's segment count), extended by q; the header
// matcher spells it only if it is a literal, which holds no '?' or '#' (checked; RES-2 allows none anyway), and
// a skipped segment constrains nothing. So every spelled literal is checked on p's own segment, and each literal
// is spelled in one of the regexes. A resource whose shape alone, or the shape up to one of its literal segments,
// is over the limit cannot be expressed: an error.
func resourceMatch(z *regexSizer, stage string, segs []ir.Segment) (pathMatch, error) {
	single := regexForm{spell: all, capture: none}
	size, err := z.size(stage, segs, single)
	if err != nil {
		return pathMatch{}, err
	}
	if size <= re2.DefaultMaxProgramSize {
		return pathMatch{path: buildRegex(stage, segs, single)}, nil
	}
	spelling := func(set []int) func(int) bool {
		m := map[int]bool{}
		for _, i := range set {
			m[i] = true
		}
		return func(i int) bool { return m[i] }
	}
	var literals []int
	for i, s := range segs {
		if s.Kind == ir.Literal {
			literals = append(literals, i)
		}
	}
	// The safe_regex: the shape, with the last literals spelled out while they fit.
	pathForm := func(set []int) regexForm { return regexForm{spell: spelling(set), capture: none} }
	var tail []int
	for k := len(literals) - 1; k >= 0 && z.fits(stage, segs, pathForm(append([]int{literals[k]}, tail...))); k-- {
		tail = append([]int{literals[k]}, tail...)
	}
	if !z.fits(stage, segs, pathForm(tail)) {
		re := buildRegex(stage, segs, pathForm(tail))
		n, _ := z.size(stage, segs, pathForm(tail))
		return pathMatch{}, fmt.Errorf("the path regex %q matching only the resource's shape has RE2 program size %d, over the %d Envoy accepts (runtime re2.max_program_size.error_level); Envoy would refuse the whole route configuration, so the resource path must have fewer segments", re, n, re2.DefaultMaxProgramSize)
	}
	m := pathMatch{path: buildRegex(stage, segs, pathForm(tail))}
	// Header matchers for the literals before those.
	rest := literals[:len(literals)-len(tail)]
	headerForm := func(set []int) regexForm {
		return regexForm{upTo: set[len(set)-1] + 1, rest: hdrRest, spell: spelling(set), capture: none}
	}
	var group []int
	for _, i := range rest {
		if strings.ContainsAny(segs[i].Text, "?#") {
			return pathMatch{}, fmt.Errorf("literal segment %q holds '?' or '#', which a :path header matcher cannot check; the resource path is too long to be matched by one regex", segs[i].Text)
		}
		if next := append(group[:len(group):len(group)], i); z.fits(stage, segs, headerForm(next)) {
			group = next
			continue
		}
		if len(group) > 0 {
			m.headers = append(m.headers, buildRegex(stage, segs, headerForm(group)))
		}
		group = []int{i}
		if !z.fits(stage, segs, headerForm(group)) {
			n, _ := z.size(stage, segs, headerForm(group))
			return pathMatch{}, fmt.Errorf("literal segment %q: the :path regex %q checking it has RE2 program size %d, over the %d Envoy accepts (runtime re2.max_program_size.error_level); Envoy would refuse the whole route configuration, so the segment, or the path before it, must be shorter", segs[i].Text, buildRegex(stage, segs, headerForm(group)), n, re2.DefaultMaxProgramSize)
		}
	}
	if len(group) > 0 {
		m.headers = append(m.headers, buildRegex(stage, segs, headerForm(group)))
	}
	return m, nil
}

// rewritePattern is the regex_rewrite pattern of an HTTP_PROXY route: the resource regex capturing the parameters
// the substitution uses, in path order (captureOf gives each one's group). Envoy applies it to a path the route
// has matched (RegexRouteEntryImpl::rewritePathHeader, source/common/router/config_impl.cc), so when spelling the
// whole path is over the size limit, a pattern that stops after the last captured parameter (rewriteRest), and
// then one that also matches the literal segments as any segment, capture the same text: on a path of the
// resource's shape every form splits into the same segments (buildRegex). A {proxy+} captured last needs the
// whole path (it spans slashes).
func rewritePattern(z *regexSizer, stage string, segs []ir.Segment, used map[string]bool) (pattern string, captureOf map[string]int, err error) {
	captureOf = map[string]int{}
	last := -1
	for i, s := range segs {
		if s.Kind != ir.Literal && used[s.Text] {
			captureOf[s.Text] = len(captureOf) + 1
			last = i
		}
	}
	capture := func(i int) bool { return used[segs[i].Text] }
	forms := []regexForm{{spell: all, capture: capture}}
	if last >= 0 && segs[last].Kind != ir.Greedy {
		forms = append(forms, regexForm{upTo: last + 1, rest: rewriteRest, spell: all, capture: capture},
			regexForm{upTo: last + 1, rest: rewriteRest, spell: none, capture: capture})
	} else {
		forms = append(forms, regexForm{spell: none, capture: capture})
	}
	for _, f := range forms {
		if z.fits(stage, segs, f) {
			return buildRegex(stage, segs, f), captureOf, nil
		}
	}
	pattern = buildRegex(stage, segs, forms[len(forms)-1])
	n, err := z.size(stage, segs, forms[len(forms)-1])
	if err != nil {
		return "", nil, err
	}
	return "", nil, fmt.Errorf("regex_rewrite pattern %q has RE2 program size %d, over the %d Envoy accepts (runtime re2.max_program_size.error_level) even matching only the segments up to the last parameter the upstream path uses; Envoy would refuse the whole route configuration", pattern, n, re2.DefaultMaxProgramSize)
}

// stageRegex matches everything under a stage, with any leading slashes (the stage's 403 catch-all).
func stageRegex(stage string) string {
	return "^/+" + regexp.QuoteMeta(stage) + "(?:/.*)?$"
}

// checkProgramSize refuses a regex Envoy would refuse: one over RE2 program size 100, Envoy's default
// re2.max_program_size.error_level (source/common/common/regex.cc, CompiledGoogleReMatcher; main 1.37.0-dev,
// 321a098d81). The limit is the default on purpose: the route configuration must load on any Envoy, including one
// whose bootstrap is not ours.
func checkProgramSize(re string) error {
	n, err := re2.ProgramSize(re)
	if err != nil {
		return fmt.Errorf("regex %q: %w", re, err)
	}
	if n > re2.DefaultMaxProgramSize {
		return fmt.Errorf("path regex %q has RE2 program size %d, over the %d Envoy accepts (runtime re2.max_program_size.error_level); Envoy would refuse the whole route configuration, so the resource path must be shorter", re, n, re2.DefaultMaxProgramSize)
	}
	return nil
}
