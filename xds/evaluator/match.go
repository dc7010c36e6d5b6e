package evaluator

import (
	"fmt"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/proxyplus/proxyplus/internal/re2"
)

// compileFullRegex compiles an Envoy safe_regex for RE2 *full* matching
// (Regex::CompiledGoogleReMatcher::match uses re2::RE2::FullMatch). Go's regexp implements
// RE2 syntax and leftmost-first semantics; wrapping the pattern in ^(?:...)$ gives full
// match semantics.
func compileFullRegex(rm *matcherv3.RegexMatcher, l loc) (*regexp.Regexp, error) {
	if err := onlyFields(rm, l, "google_re2", "regex"); err != nil {
		return nil, err
	}
	if err := onlyFields(rm.GetGoogleRe2(), l.at("google_re2")); err != nil {
		return nil, err
	}
	re, err := regexp.Compile("^(?:" + rm.GetRegex() + ")$")
	if err != nil {
		return nil, l.at("regex").errf("Envoy would reject this RE2 regex (Go's RE2 implementation says: %v)", err)
	}
	if err := checkRE2ProgramSize(rm.GetRegex(), l.at("regex")); err != nil {
		return nil, err
	}
	return re, nil
}

// checkRE2ProgramSize refuses what Envoy refuses. Every safe_regex (route match, header and string matchers,
// regex_rewrite pattern) is compiled by Regex::Utility::parseRegex (source/common/common/regex.h): with google_re2
// set, CompiledGoogleReMatcher::create, which checks the runtime limit unless the deprecated
// google_re2.max_program_size is set (refused above by onlyFields); otherwise the default engine's
// GoogleReEngine::matcher → CompiledGoogleReMatcher::createAndSizeCheck. Both refuse "RE2 program size of N > max
// program size of 100 set for the error level threshold" (source/common/common/regex.cc, main 1.37.0-dev,
// 321a098d81), and the failing matcher fails the whole RouteConfiguration. The evaluator models an Envoy with the
// default runtime (re2.max_program_size.error_level = 100, which proxyplus's bootstrap also pins).
// re2.ProgramSize is a port of RE2's compiler.
func checkRE2ProgramSize(pattern string, l loc) error {
	n, err := re2.ProgramSize(pattern)
	if err != nil {
		return l.errf("cannot compute the RE2 program size of %q: %v", pattern, err)
	}
	if n > re2.DefaultMaxProgramSize {
		return l.errf("Envoy refuses regex %q: RE2 program size of %d > max program size of %d set for the error level threshold (runtime re2.max_program_size.error_level), which rejects the whole route configuration", pattern, n, re2.DefaultMaxProgramSize)
	}
	return nil
}

// removeQueryAndFragment is Http::PathUtil::removeQueryAndFragment: the path up to the
// first '?' or '#'.
func removeQueryAndFragment(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// asciiEqualFold / asciiHasPrefixFold are absl::EqualsIgnoreCase / StartsWithIgnoreCase
// (ASCII only).
func asciiEqualFold(a, b string) bool { return len(a) == len(b) && asciiLower(a) == asciiLower(b) }
func asciiHasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && asciiLower(s[:len(p)]) == asciiLower(p)
}

// stringMatcher is Matchers::StringMatcherImpl (source/common/common/matchers.cc).
type stringMatcher struct {
	kind       string // exact, prefix, suffix, contains, regex
	value      string
	re         *regexp.Regexp
	ignoreCase bool
}

func compileStringMatcher(sm *matcherv3.StringMatcher, l loc) (*stringMatcher, error) {
	if err := onlyFields(sm, l, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"); err != nil {
		return nil, err
	}
	m := &stringMatcher{ignoreCase: sm.GetIgnoreCase()}
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		m.kind, m.value = "exact", p.Exact
	case *matcherv3.StringMatcher_Prefix:
		m.kind, m.value = "prefix", p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		m.kind, m.value = "suffix", p.Suffix
	case *matcherv3.StringMatcher_Contains:
		m.kind, m.value = "contains", p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		// StringMatcherImpl throws "ignore_case has no effect for safe_regex." when both
		// are set.
		if sm.GetIgnoreCase() {
			return nil, l.errf("Envoy rejects this configuration: ignore_case has no effect for safe_regex")
		}
		re, err := compileFullRegex(p.SafeRegex, l.at("safe_regex"))
		if err != nil {
			return nil, err
		}
		m.kind, m.re = "regex", re
	default:
		return nil, l.errf("string matcher without a supported pattern (%T)", p)
	}
	return m, nil
}

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case "exact":
		if m.ignoreCase {
			return asciiEqualFold(v, m.value)
		}
		return v == m.value
	case "prefix":
		if m.ignoreCase {
			return asciiHasPrefixFold(v, m.value)
		}
		return strings.HasPrefix(v, m.value)
	case "suffix":
		if m.ignoreCase {
			return len(v) >= len(m.value) && asciiEqualFold(v[len(v)-len(m.value):], m.value)
		}
		return strings.HasSuffix(v, m.value)
	case "contains":
		if m.ignoreCase {
			return strings.Contains(asciiLower(v), asciiLower(m.value))
		}
		return strings.Contains(v, m.value)
	case "regex":
		return m.re.MatchString(v)
	}
	return false
}

// headerMatcher is Http::HeaderUtility::HeaderData (source/common/http/header_utility.cc).
type headerMatcher struct {
	name          string
	kind          string // value, regex, present, prefix, suffix, contains, string
	value         string
	present       bool
	re            *regexp.Regexp
	sm            *stringMatcher
	invert        bool
	missingAsEmpt bool // treat_missing_header_as_empty
}

func compileHeaderMatcher(hm *routev3.HeaderMatcher, l loc) (*headerMatcher, error) {
	if err := onlyFields(hm, l, "name", "exact_match", "safe_regex_match", "present_match", "prefix_match",
		"suffix_match", "contains_match", "string_match", "invert_match", "treat_missing_header_as_empty"); err != nil {
		return nil, err
	}
	m := &headerMatcher{name: strings.ToLower(hm.GetName()), invert: hm.GetInvertMatch(), missingAsEmpt: hm.GetTreatMissingHeaderAsEmpty()}
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_ExactMatch:
		m.kind, m.value = "value", s.ExactMatch
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := compileFullRegex(s.SafeRegexMatch, l.at("safe_regex_match"))
		if err != nil {
			return nil, err
		}
		m.kind, m.re = "regex", re
	case *routev3.HeaderMatcher_PresentMatch:
		m.kind, m.present = "present", s.PresentMatch
	case *routev3.HeaderMatcher_PrefixMatch:
		m.kind, m.value = "prefix", s.PrefixMatch
	case *routev3.HeaderMatcher_SuffixMatch:
		m.kind, m.value = "suffix", s.SuffixMatch
	case *routev3.HeaderMatcher_ContainsMatch:
		m.kind, m.value = "contains", s.ContainsMatch
	case *routev3.HeaderMatcher_StringMatch:
		sm, err := compileStringMatcher(s.StringMatch, l.at("string_match"))
		if err != nil {
			return nil, err
		}
		m.kind, m.sm = "string", sm
	case nil:
		// HEADER_MATCH_SPECIFIER_NOT_SET: "Absence of these options implies empty header
		// value match based on header presence" -> Present, present_=true.
		m.kind, m.present = "present", true
	default:
		return nil, l.errf("header matcher %T is not supported by the evaluator", s)
	}
	return m, nil
}

// match is HeaderUtility::matchHeaders(headers, header_data):
//   - all values of the header are joined with "," before matching;
//   - an absent header (unless treat_missing_header_as_empty) matches only a
//     present_match:false matcher, or, with invert_match, a present_match:true matcher.
//     So a string/regex matcher with invert_match does NOT match an absent header
//     (route_components.proto, HeaderMatcher.treat_missing_header_as_empty example
//     "header2": "the header match rule for header2 will be ignored so it will not match");
//   - exact_match "" (deprecated field) matches any present value;
//   - otherwise the result is XOR-ed with invert_match.
func (m *headerMatcher) match(h *headerMap) bool {
	v, ok := h.joined(m.name)
	if m.kind == "present" {
		// Presence is judged on the real header (both the older switch in matchHeaders and
		// the newer HeaderDataPresentMatch give (present_match == present) XOR invert).
		return (m.present == ok) != m.invert
	}
	if !ok && !m.missingAsEmpt {
		return false
	}
	var r bool
	switch m.kind {
	case "value":
		r = m.value == "" || v == m.value
	case "regex":
		r = m.re.MatchString(v)
	case "prefix":
		r = strings.HasPrefix(v, m.value)
	case "suffix":
		r = strings.HasSuffix(v, m.value)
	case "contains":
		r = strings.Contains(v, m.value)
	case "string":
		r = m.sm.match(v)
	}
	return r != m.invert
}

// domain matching ---------------------------------------------------------------------

// wildcardGroup holds wildcard domains of one length (the domain without its '*').
type wildcardGroup struct {
	n int
	m map[string]*vhost
}

func addWildcard(groups []wildcardGroup, key string, vh *vhost) ([]wildcardGroup, bool) {
	for i := range groups {
		if groups[i].n == len(key) {
			if _, dup := groups[i].m[key]; dup {
				return groups, false
			}
			groups[i].m[key] = vh
			return groups, true
		}
	}
	groups = append(groups, wildcardGroup{n: len(key), m: map[string]*vhost{key: vh}})
	// Longest first, as RouteMatcher's WildcardVirtualHosts map is ordered by length
	// descending.
	for i := len(groups) - 1; i > 0 && groups[i].n > groups[i-1].n; i-- {
		groups[i], groups[i-1] = groups[i-1], groups[i]
	}
	return groups, true
}

// findWildcard is RouteMatcher::findWildcardVirtualHost: for each length, longest first,
// skip lengths >= len(host) ("*.foo.com shouldn't match .foo.com" - the wildcard never
// matches the empty string) and look up the host's suffix/prefix of that length.
func findWildcard(host string, groups []wildcardGroup, suffix bool) *vhost {
	for _, g := range groups {
		if g.n >= len(host) {
			continue
		}
		var k string
		if suffix {
			k = host[len(host)-g.n:]
		} else {
			k = host[:g.n]
		}
		if vh, ok := g.m[k]; ok {
			return vh
		}
	}
	return nil
}

// portStart is HeaderUtility::getPortStart: the last ':' unless it is inside an IPv6
// literal "[...]".
func portStart(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return -1
	}
	if j := strings.LastIndexByte(host, ']'); j >= 0 && j > i {
		return -1
	}
	return i
}

// findVirtualHost is RouteMatcher::findVirtualHost (source/common/router/config_impl.cc):
//  1. with only a "*" virtual host, it is used (even without a Host);
//  2. no :authority -> no virtual host;
//  3. ignore_port_in_host_matching strips ":port" from the host (domains are not changed);
//  4. the host is lower-cased, then: exact domains, suffix wildcards ("*.foo.com",
//     "*-bar.foo.com") longest first, prefix wildcards ("foo.*") longest first, then "*".
//
// Domain search order documented in route_components.proto, VirtualHost.domains.
func (rc *compiledRC) findVirtualHost(authority string, hasAuthority bool) *vhost {
	if len(rc.exact) == 0 && len(rc.suffix) == 0 && len(rc.prefix) == 0 {
		return rc.deflt
	}
	if !hasAuthority {
		return nil
	}
	host := authority
	if rc.ignorePort {
		if i := portStart(host); i >= 0 {
			host = host[:i]
		}
	}
	host = asciiLower(host)
	if vh, ok := rc.exact[host]; ok {
		return vh
	}
	if vh := findWildcard(host, rc.suffix, true); vh != nil {
		return vh
	}
	if vh := findWildcard(host, rc.prefix, false); vh != nil {
		return vh
	}
	return rc.deflt
}

// route matching ----------------------------------------------------------------------

type pathKind int

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathSeparatedPrefix
)

func (k pathKind) String() string {
	return [...]string{"prefix", "path", "safe_regex", "path_separated_prefix"}[k]
}

// matchPath implements the path part of PrefixRouteEntryImpl, PathRouteEntryImpl,
// RegexRouteEntryImpl and PathSeparatedPrefixRouteEntryImpl::matches. Envoy's
// Matchers::PathMatcher matches the :path with query string and fragment removed
// (route_components.proto: "exact path rule meaning that the path must exactly match the
// :path header once the query string is removed"; safe_regex: "The entire path (without
// the query string) must match the regex"; path_separated_prefix: "the :path header
// (without the query string) must either exactly match the path_separated_prefix or have
// it as a prefix, followed by /"). case_sensitive=false makes prefix/path/
// path_separated_prefix ASCII case-insensitive and is "Ignored for safe_regex matching".
func (r *route) matchPath(path string) bool {
	p := removeQueryAndFragment(path)
	switch r.kind {
	case pathPrefix:
		if r.caseSensitive {
			return strings.HasPrefix(p, r.value)
		}
		return asciiHasPrefixFold(p, r.value)
	case pathExact:
		if r.caseSensitive {
			return p == r.value
		}
		return asciiEqualFold(p, r.value)
	case pathRegex:
		return r.re.MatchString(p)
	case pathSeparatedPrefix:
		var ok bool
		if r.caseSensitive {
			ok = strings.HasPrefix(p, r.value)
		} else {
			ok = asciiHasPrefixFold(p, r.value)
		}
		return ok && (len(p) == len(r.value) || p[len(r.value)] == '/')
	}
	return false
}

// matches is RouteEntryImplBase::matchRoute (headers; no runtime, grpc, query, TLS,
// metadata or filter-state criteria are accepted by New) plus the path check.
func (r *route) matches(h *headerMap, path string) bool {
	for _, hm := range r.headers {
		if !hm.match(h) {
			return false
		}
	}
	return r.matchPath(path)
}

// regex substitution -------------------------------------------------------------------

// rewriteTemplate is a compiled RE2 rewrite string (RE2::Rewrite): "\0".."\9" insert a
// capture group, "\\" is a backslash; anything else after "\" is invalid
// (RE2::CheckRewriteString rejects it, and a reference to a group the pattern does not
// have).
type rewriteTemplate []rewritePiece

type rewritePiece struct {
	lit   string
	group int // -1 for literal
}

func compileRewrite(sub string, groups int) (rewriteTemplate, error) {
	var out rewriteTemplate
	var lit strings.Builder
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		if c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(sub) {
			return nil, fmt.Errorf("rewrite %q ends with a backslash", sub)
		}
		n := sub[i+1]
		i++
		switch {
		case n == '\\':
			lit.WriteByte('\\')
		case n >= '0' && n <= '9':
			g := int(n - '0')
			if g > groups {
				return nil, fmt.Errorf("rewrite %q requests group %d but the pattern has only %d", sub, g, groups)
			}
			if lit.Len() > 0 {
				out = append(out, rewritePiece{lit: lit.String(), group: -1})
				lit.Reset()
			}
			out = append(out, rewritePiece{group: g})
		default:
			return nil, fmt.Errorf("invalid rewrite pattern %q: bad escape \\%c", sub, n)
		}
	}
	if lit.Len() > 0 {
		out = append(out, rewritePiece{lit: lit.String(), group: -1})
	}
	return out, nil
}

// globalReplace is RE2::GlobalReplace as used by Regex::CompiledGoogleReMatcher::replaceAll:
// every non-overlapping, unanchored match is replaced; an empty match adjacent to the
// previous match is skipped. Go's FindAllStringSubmatchIndex applies the same rule
// ("Empty matches abutting a preceding match are ignored").
func globalReplace(re *regexp.Regexp, s string, tpl rewriteTemplate) string {
	ms := re.FindAllStringSubmatchIndex(s, -1)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m[0]])
		for _, p := range tpl {
			if p.group < 0 {
				b.WriteString(p.lit)
				continue
			}
			if a, e := m[2*p.group], m[2*p.group+1]; a >= 0 {
				b.WriteString(s[a:e])
			}
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
