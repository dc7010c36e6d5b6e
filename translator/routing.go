package translator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/proxyplus/proxyplus/ir"
)

// ParseResourcePath splits a resource path ("/pets/{petId}", "/{proxy+}", "/") into segments. The loader has
// validated the character set (RES-2); this only classifies.
func ParseResourcePath(path string) ([]ir.Segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("resource path %q must start with /", path)
	}
	if path == "/" {
		return nil, nil
	}
	parts := strings.Split(path[1:], "/")
	segs := make([]ir.Segment, 0, len(parts))
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("resource path %q has an empty segment", path)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return nil, fmt.Errorf("resource path %q: greedy parameter %s must be the last segment", path, p)
			}
			segs = append(segs, ir.Segment{Kind: ir.Greedy, Text: p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			segs = append(segs, ir.Segment{Kind: ir.Param, Text: p[1 : len(p)-1]})
		default:
			segs = append(segs, ir.Segment{Kind: ir.Literal, Text: p})
		}
	}
	return segs, nil
}

// SortRoutes orders a stage's (resource, method) pairs so that the first route matching a request is the one API
// Gateway selects (RTE-11): segment kinds compared left to right with literal < param < greedy; when one
// sequence is a prefix of the other the longer first; then literal texts; then explicit methods before ANY.
// Pairs equal under this key have resources that can never match the same path, so the order is total enough.
func SortRoutes(routes []ir.Route) {
	sort.SliceStable(routes, func(i, j int) bool { return routeLess(routes[i], routes[j]) })
}

func routeLess(a, b ir.Route) bool {
	if c := compareSegments(a.Segments, b.Segments); c != 0 {
		return c < 0
	}
	if (a.Method == "ANY") != (b.Method == "ANY") {
		return b.Method == "ANY"
	}
	return a.Method < b.Method
}

func compareSegments(a, b []ir.Segment) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].Kind != b[i].Kind {
			return int(a[i].Kind) - int(b[i].Kind)
		}
	}
	if len(a) != len(b) {
		return len(b) - len(a) // longer first
	}
	for i := range a {
		if a[i].Kind == ir.Literal && a[i].Text != b[i].Text {
			return strings.Compare(a[i].Text, b[i].Text)
		}
	}
	return 0
}
