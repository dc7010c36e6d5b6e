package translator

import (
	"regexp"
	"strings"

	"github.com/proxyplus/proxyplus/ir"
)

// Path matching (apigateway-rest RTE-2..RTE-15, envoy-notes RTM-4/RTM-6/RTM-7).
//
// Every (resource, method) pair is one route with one anchored RE2 (`safe_regex`). Why a regex even for literal
// resources: API Gateway ignores trailing slashes (RTE-5), so `/S/a/b`, `/S/a/b/` and `/S/a/b//` are one
// resource; a single compiled RE2 per pair absorbs them, where exact matchers would need a route per variant
// and break the "one route per pair" ordering. RE2 runs in time linear in the path, with no per-request work
// beyond the match itself. Envoy's `safe_regex` must match the whole path without the query string
// (route_components.proto RouteMatch.safe_regex), which is exactly RTE-9. Matching is case-sensitive (RTE-8).
//
// Leading repeated slashes (`//S/x`, `/S//x`) route like the canonical path (RTE-2, RTE-3), but Envoy can only
// collapse every `//` (merge_slashes), which would destroy inner ones (RTE-4). So each stage also gets a block of
// "odd slashes" routes whose regexes accept only non-canonical prefixes; canonical requests never reach them
// before matching, and the processor sees the original :path.

const (
	paramRe  = `([^/]+)`   // one non-empty segment, raw (RTE-15, RTE-7: %2F does not split)
	greedyRe = `([^/].*?)` // at least one character, not starting with '/', lazily leaving trailing slashes (RTE-14, EVT-18)
	trailRe  = `/*`        // any number of trailing slashes is ignored (RTE-5)
)

// canonicalRegex matches a resource under stage S with exactly one slash before and after the stage.
func canonicalRegex(stage string, segs []ir.Segment) string {
	var b strings.Builder
	b.WriteString("^/")
	b.WriteString(regexp.QuoteMeta(stage))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(segmentRegex(s))
	}
	b.WriteString(trailRe)
	b.WriteByte('$')
	return b.String()
}

// oddSlashesRegex matches the same resource only when slashes repeat before or right after the stage.
func oddSlashesRegex(stage string, segs []ir.Segment) string {
	q := regexp.QuoteMeta(stage)
	if len(segs) == 0 {
		return "^//+" + q + trailRe + "$"
	}
	var b strings.Builder
	b.WriteString("^(?://+" + q + "/+|/+" + q + "//+)")
	for i, s := range segs {
		if i > 0 {
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
