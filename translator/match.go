package translator

import (
	"strings"

	"github.com/proxyplus/proxyplus/ir"
)

// This file implements API Gateway's path rules directly, without regexes: the processor uses it to extract path
// parameters from the :path of a route Envoy already matched, and tests use it as the reference the generated
// Envoy routes must agree with.

// SplitStagePath splits a raw request path (no query) into the stage and the resource path, following RTE-2 and
// RTE-3: repeated slashes before the stage and right after it are ignored. ok is false when there is no stage.
func SplitStagePath(path string) (stage, rest string, ok bool) {
	p := strings.TrimLeft(path, "/")
	if p == "" || len(p) == len(path) {
		return "", "", false
	}
	stage, rest, _ = strings.Cut(p, "/")
	rest = strings.TrimLeft(rest, "/")
	return stage, rest, stage != ""
}

// PathParam is one path parameter of a matched resource: the name without "+" and the raw value.
type PathParam struct{ Name, Value string }

// AppendParams matches the part of the path after the stage (as SplitStagePath returns it) against a resource
// template and appends its parameters, in path order, to dst. Trailing slashes are ignored (RTE-5); a parameter
// is one non-empty raw segment (RTE-15, RTE-7); a greedy parameter takes at least one segment, keeps inner "//"
// and loses trailing slashes (RTE-14, EVT-18). Values are raw (not percent-decoded, EVT-17). It allocates
// nothing beyond dst's growth, so the Lambda event builder can use it on every request.
func AppendParams(dst []PathParam, segs []ir.Segment, rest string) ([]PathParam, bool) {
	rest = strings.TrimRight(rest, "/")
	for i, s := range segs {
		if rest == "" {
			return dst, false
		}
		if s.Kind == ir.Greedy {
			// The greedy value starts at a segment: "/a//x" leaves an empty segment after /a (OPEN-7).
			if i != len(segs)-1 || strings.HasPrefix(rest, "/") {
				return dst, false
			}
			return append(dst, PathParam{s.Text, rest}), true
		}
		seg, tail, _ := strings.Cut(rest, "/")
		if seg == "" || (s.Kind == ir.Literal && seg != s.Text) {
			return dst, false
		}
		if s.Kind == ir.Param {
			dst = append(dst, PathParam{s.Text, seg})
		}
		rest = tail
		if tail == "" && i < len(segs)-1 {
			return dst, false
		}
	}
	return dst, rest == ""
}

// MatchResource is AppendParams with the parameters as a map.
func MatchResource(segs []ir.Segment, rest string) (map[string]string, bool) {
	ps, ok := AppendParams(nil, segs, rest)
	if !ok {
		return nil, false
	}
	params := make(map[string]string, len(ps))
	for _, p := range ps {
		params[p.Name] = p.Value
	}
	return params, true
}

// SelectRoute applies API Gateway's back-off rule (RTE-10, RTE-12, RTE-13) to a stage's routes: among the
// resources whose template matches and that define the method or ANY, the most specific wins; within a resource
// an explicit method beats ANY. Specificity is compared segment by segment (literal > param > greedy). It returns
// nil when no pair qualifies (RTE-16).
func SelectRoute(routes []ir.Route, method, rest string) *ir.Route {
	anyOK := false
	for _, m := range ir.AnyMethods {
		anyOK = anyOK || m == method
	}
	var best *ir.Route
	for i := range routes {
		r := &routes[i]
		if r.Method != method && !(r.Method == "ANY" && anyOK) {
			continue
		}
		if _, ok := MatchResource(r.Segments, rest); !ok {
			continue
		}
		if best == nil || moreSpecific(r, best) {
			best = r
		}
	}
	return best
}

func moreSpecific(a, b *ir.Route) bool {
	for i := 0; i < len(a.Segments) && i < len(b.Segments); i++ {
		if a.Segments[i].Kind != b.Segments[i].Kind {
			return a.Segments[i].Kind < b.Segments[i].Kind
		}
	}
	if a.ResourcePath == b.ResourcePath {
		return a.Method != "ANY" && b.Method == "ANY"
	}
	return len(a.Segments) > len(b.Segments)
}
