package translator

import (
	"sort"
	"strings"

	"github.com/proxyplus/proxyplus/ir"
)

// ParseResourcePath splits a resource path into segments (see ir.ParseResourcePath).
func ParseResourcePath(path string) ([]ir.Segment, error) { return ir.ParseResourcePath(path) }

// SortRoutes orders a stage's (resource, method) pairs so that the first route matching a request is the one API
// Gateway selects (RTE-11): segment kinds compared left to right with literal < param < greedy; when one
// sequence is a prefix of the other the longer first; then literal texts; then explicit methods before ANY.
// Pairs equal under this key have resources that can never match the same path, so the order is total enough.
func SortRoutes(routes []ir.Route) {
	sort.SliceStable(routes, func(i, j int) bool { return routeLess(routes[i], routes[j]) })
}

func routeLess(a, b ir.Route) bool { return compareRoutes(&a, &b) < 0 }

// compareRoutes is routeLess as a three-way comparison (negative: a first).
func compareRoutes(a, b *ir.Route) int {
	if c := compareSegments(a.Segments, b.Segments); c != 0 {
		return c
	}
	if (a.Method == "ANY") != (b.Method == "ANY") {
		if b.Method == "ANY" {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Method, b.Method)
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
