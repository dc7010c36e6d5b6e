package translator

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
	segChar  = `[\x00-.0-\x7f]`                // any ASCII byte but '/'
	anyChar  = `[\x00-\t\x0b-\x7f]`            // any ASCII byte but '\n', as '.' is
	paramRe  = `(` + segChar + `+)`            // one non-empty segment, raw (RTE-15, RTE-7: %2F does not split)
	greedyRe = `(` + segChar + anyChar + `*?)` // at least one character, not starting with '/', lazily leaving trailing slashes (RTE-14, EVT-18)
	trailRe  = `/*`                            // any number of trailing slashes is ignored (RTE-5)
)

// resourceRegex matches a resource under stage S.
func resourceRegex(stage string, segs []ir.Segment) string {
	var b strings.Builder
	b.WriteString("^/+")
	b.WriteString(regexp.QuoteMeta(stage))
	for i, s := range segs {
		if i == 0 {
			b.WriteString("/+")
		} else {
			b.WriteByte('/')
		}
		b.WriteString(segmentRegex(s))
	}
	b.WriteString(trailRe)
	b.WriteByte('$')
	return b.String()
}

// stageRegex matches everything under a stage, with any leading slashes (the stage's 403 catch-all).
func stageRegex(stage string) string {
	return "^/+" + regexp.QuoteMeta(stage) + "(?:/.*)?$"
}

func segmentRegex(s ir.Segment) string {
	switch s.Kind {
	case ir.Param:
		return paramRe
	case ir.Greedy:
		return greedyRe
	default:
		return regexp.QuoteMeta(s.Text)
	}
}

// captureIndex is the regex group of a path parameter: parameters are captured in path order.
func captureIndex(segs []ir.Segment, name string) int {
	n := 0
	for _, s := range segs {
		if s.Kind == ir.Literal {
			continue
		}
		n++
		if s.Text == name {
			return n
		}
	}
	return 0
}

// checkProgramSize refuses a regex Envoy would refuse: one over RE2 program size 100, Envoy's default
// re2.max_program_size.error_level (source/common/common/regex.cc, CompiledGoogleReMatcher; main 1.37.0-dev,
// 321a098d81). The limit is the default on purpose: the route configuration must load on any Envoy, including one
// whose bootstrap is not ours. Literal path bytes cost one instruction each and a parameter about seven, so this
// is what stops a very long resource path.
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
