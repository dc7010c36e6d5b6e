package evaluator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// A property test: random small route tables of exact, prefix, path_separated_prefix and
// regex routes (regexes shaped like RTM-4's: literal and [^/]+ segments, optional
// trailing /*), optionally case-insensitive and method-guarded, against a straightforward
// reference implementation of the documented semantics.

type refRoute struct {
	name     string
	kind     string // path, prefix, sep, regex
	value    string // path / prefix
	segs     []string
	trailing bool
	ci       bool
	method   string // "" any; "GET"; "!GET" (inverted)
}

var segAlphabet = []string{"a", "b", "ab", "A", "x1"}

func randSegs(r *rand.Rand, min, max int) []string {
	n := min + r.IntN(max-min+1)
	out := make([]string, n)
	for i := range out {
		out[i] = segAlphabet[r.IntN(len(segAlphabet))]
	}
	return out
}

func randRoute(r *rand.Rand, i int) refRoute {
	rt := refRoute{name: fmt.Sprintf("r%d", i)}
	switch r.IntN(4) {
	case 0:
		rt.kind, rt.value = "path", "/"+strings.Join(randSegs(r, 0, 3), "/")
	case 1:
		rt.kind, rt.value = "prefix", "/"+strings.Join(randSegs(r, 0, 2), "/")
		if r.IntN(3) == 0 {
			rt.value = rt.value[:len(rt.value)-r.IntN(len(rt.value))] // cut mid-segment
			if rt.value == "" {
				rt.value = "/"
			}
		}
	case 2:
		rt.kind, rt.value = "sep", "/"+strings.Join(randSegs(r, 1, 2), "/")
	default:
		rt.kind, rt.segs, rt.trailing = "regex", randSegs(r, 1, 3), r.IntN(2) == 0
		for j := range rt.segs {
			if r.IntN(3) == 0 {
				rt.segs[j] = "{p}"
			}
		}
	}
	rt.ci = rt.kind != "regex" && r.IntN(4) == 0
	switch r.IntN(4) {
	case 0:
		rt.method = "GET"
	case 1:
		rt.method = "!GET"
	}
	return rt
}

func (rt refRoute) yaml() string {
	var m string
	switch rt.kind {
	case "path":
		m = fmt.Sprintf("path: %q", rt.value)
	case "prefix":
		m = fmt.Sprintf("prefix: %q", rt.value)
	case "sep":
		m = fmt.Sprintf("path_separated_prefix: %q", rt.value)
	case "regex":
		var b strings.Builder
		for _, s := range rt.segs {
			b.WriteString("/")
			if s == "{p}" {
				b.WriteString("([^/]+)")
			} else {
				b.WriteString(s)
			}
		}
		if rt.trailing {
			b.WriteString("/*")
		}
		m = fmt.Sprintf("safe_regex: {regex: %q}", b.String())
	}
	if rt.ci {
		m += ", case_sensitive: false"
	}
	switch rt.method {
	case "GET":
		m += `, headers: [{name: ":method", string_match: {exact: GET}}]`
	case "!GET":
		m += `, headers: [{name: ":method", string_match: {exact: GET}, invert_match: true}]`
	}
	return fmt.Sprintf("  - {name: %s, match: {%s}, direct_response: {status: 200}}\n", rt.name, m)
}

// matches is the reference: the documented semantics written the obvious way.
func (rt refRoute) matches(method, fullPath string) bool {
	switch rt.method {
	case "GET":
		if method != "GET" {
			return false
		}
	case "!GET":
		if method == "GET" {
			return false
		}
	}
	p := fullPath
	if i := strings.Index(p, "?"); i >= 0 {
		p = p[:i]
	}
	eq := func(a, b string) bool {
		if rt.ci {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	switch rt.kind {
	case "path":
		return eq(p, rt.value)
	case "prefix":
		return len(p) >= len(rt.value) && eq(p[:len(rt.value)], rt.value)
	case "sep":
		return eq(p, rt.value) || (len(p) > len(rt.value) && eq(p[:len(rt.value)], rt.value) && p[len(rt.value)] == '/')
	case "regex":
		if rt.trailing {
			p = strings.TrimRight(p, "/")
		}
		if !strings.HasPrefix(p, "/") {
			return false
		}
		parts := strings.Split(p[1:], "/")
		if len(parts) != len(rt.segs) {
			return false
		}
		for i, s := range rt.segs {
			if s == "{p}" {
				if parts[i] == "" {
					return false
				}
			} else if parts[i] != s {
				return false
			}
		}
		return true
	}
	return false
}

func randPath(r *rand.Rand) string {
	segs := randSegs(r, 0, 4)
	for i := range segs {
		if r.IntN(5) == 0 {
			segs[i] = strings.ToUpper(segs[i])
		}
		if r.IntN(10) == 0 {
			segs[i] = ""
		}
	}
	p := "/" + strings.Join(segs, "/")
	p += strings.Repeat("/", r.IntN(3)*r.IntN(2))
	if r.IntN(3) == 0 {
		p += "?q=/a/b&x"
	}
	return p
}

func TestPropertyRouteMatching(t *testing.T) {
	seed := uint64(20260102)
	r := rand.New(rand.NewPCG(seed, seed))
	hcm := baseHCM(t)
	tables, checks, matched := 300, 0, 0
	for tbl := 0; tbl < tables; tbl++ {
		n := 1 + r.IntN(6)
		routes := make([]refRoute, n)
		var y strings.Builder
		y.WriteString("name: t\nvirtual_hosts:\n- name: vh\n  domains: [\"*\"]\n  routes:\n")
		for i := range routes {
			routes[i] = randRoute(r, i)
			y.WriteString(routes[i].yaml())
		}
		e, err := New(rcYAML(t, y.String()), hcm)
		if err != nil {
			t.Fatalf("seed %d table %d: New: %v\n%s", seed, tbl, err, y.String())
		}
		for k := 0; k < 40; k++ {
			method := []string{"GET", "POST", "PUT"}[r.IntN(3)]
			path := randPath(r)
			want := ""
			for _, rt := range routes {
				if rt.matches(method, path) {
					want = rt.name
					break
				}
			}
			got := selectName(t, e, req(method, "h", path))
			checks++
			if want != "" {
				matched++
			}
			if got != want {
				t.Fatalf("seed %d table %d: %s %q -> %q, reference %q\n%s", seed, tbl, method, path, got, want, y.String())
			}
		}
	}
	t.Logf("%d tables, %d requests, %d matched a route", tables, checks, matched)
	if matched < checks/5 || matched > checks*4/5 {
		t.Errorf("poorly balanced generator: %d of %d requests matched", matched, checks)
	}
}
