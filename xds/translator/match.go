package translator

import (
	"regexp"
	"strings"

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

const (
	paramRe  = `([^/]+)`   // one non-empty segment, raw (RTE-15, RTE-7: %2F does not split)
	greedyRe = `([^/].*?)` // at least one character, not starting with '/', lazily leaving trailing slashes (RTE-14, EVT-18)
	trailRe  = `/*`        // any number of trailing slashes is ignored (RTE-5)
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
