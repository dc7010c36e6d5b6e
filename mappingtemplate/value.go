package mappingtemplate

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Values are nil, string, int64, float64, bool, *vlist, *vmap and the built-in objects (*inputObj, *contextObj,
// *utilObj, *foreachObj).

// vlist is a Java List. fromJSON lists (from $input.path / parseJson) render as JSON text, as API Gateway's
// json-smart JSONArray does (LocalStack's AWS-validated VTLJsonList); template lists render as [a, b].
type vlist struct {
	items    []any
	fromJSON bool
}

// vmap is an insertion-ordered Java Map (LinkedHashMap).
type vmap struct {
	keys  []string
	vals  []any
	index map[string]int // built once the map grows past a few entries
}

func (m *vmap) find(k string) int {
	if m.index != nil {
		if i, ok := m.index[k]; ok {
			return i
		}
		return -1
	}
	for i, key := range m.keys {
		if key == k {
			return i
		}
	}
	return -1
}

func (m *vmap) get(k string) (any, bool) {
	if i := m.find(k); i >= 0 {
		return m.vals[i], true
	}
	return nil, false
}

func (m *vmap) put(k string, v any) any {
	if i := m.find(k); i >= 0 {
		old := m.vals[i]
		m.vals[i] = v
		return old
	}
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
	if m.index != nil {
		m.index[k] = len(m.keys) - 1
	} else if len(m.keys) > 8 {
		m.index = make(map[string]int, len(m.keys)*2)
		for i, key := range m.keys {
			m.index[key] = i
		}
	}
	return nil
}

func (m *vmap) remove(k string) any {
	i := m.find(k)
	if i < 0 {
		return nil
	}
	old := m.vals[i]
	m.keys = append(m.keys[:i], m.keys[i+1:]...)
	m.vals = append(m.vals[:i], m.vals[i+1:]...)
	if m.index != nil {
		m.index = make(map[string]int, len(m.keys))
		for j, key := range m.keys {
			m.index[key] = j
		}
	}
	return old
}

// smallMap and smallList hold a map or list with its first four entries. The evaluator hands them out from slabs
// it keeps between evaluations (values never outlive the evaluation that made them: the output is bytes).
type smallMap struct {
	m vmap
	k [4]string
	v [4]any
}

type smallList struct {
	l vlist
	a [4]any
}

// maxSlab bounds the slabs a pooled evaluator keeps.
const maxSlab = 1024

// newMap returns an empty map with room for n entries.
func (ev *evaluator) newMap(n int) *vmap {
	if n > 4 {
		return &vmap{keys: make([]string, 0, n), vals: make([]any, 0, n)}
	}
	if ev.mapsUsed == len(ev.maps) {
		ev.maps = make([]smallMap, min(2*len(ev.maps)+8, maxSlab))
		ev.mapsUsed = 0
	}
	s := &ev.maps[ev.mapsUsed]
	ev.mapsUsed++
	s.m.keys, s.m.vals = s.k[:0], s.v[:0]
	return &s.m
}

// newList returns a list of length n.
func (ev *evaluator) newList(n int, fromJSON bool) *vlist {
	if n > 4 {
		return &vlist{items: make([]any, n), fromJSON: fromJSON}
	}
	if ev.listsUsed == len(ev.lists) {
		ev.lists = make([]smallList, min(2*len(ev.lists)+8, maxSlab))
		ev.listsUsed = 0
	}
	s := &ev.lists[ev.listsUsed]
	ev.listsUsed++
	s.l.items, s.l.fromJSON = s.a[:n], fromJSON
	return &s.l
}

// mapFromStrings builds a map with sorted keys from a Go map.
func (ev *evaluator) mapFromStrings(src map[string]string) *vmap {
	m := ev.newMap(len(src))
	for k, v := range src {
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, v)
	}
	// Sort the key/value pairs together (no second lookup per key); insertion sort for the usual small maps.
	if len(m.keys) > 16 {
		sort.Sort(byKey{m})
	}
	for i := 1; i < len(m.keys); i++ {
		for j := i; j > 0 && m.keys[j] < m.keys[j-1]; j-- {
			m.keys[j], m.keys[j-1] = m.keys[j-1], m.keys[j]
			m.vals[j], m.vals[j-1] = m.vals[j-1], m.vals[j]
		}
	}
	if len(m.keys) > 8 {
		m.index = make(map[string]int, len(m.keys))
		for i, k := range m.keys {
			m.index[k] = i
		}
	}
	return m
}

// byKey sorts a map's entries by key.
type byKey struct{ m *vmap }

func (b byKey) Len() int           { return len(b.m.keys) }
func (b byKey) Less(i, j int) bool { return b.m.keys[i] < b.m.keys[j] }
func (b byKey) Swap(i, j int) {
	b.m.keys[i], b.m.keys[j] = b.m.keys[j], b.m.keys[i]
	b.m.vals[i], b.m.vals[j] = b.m.vals[j], b.m.vals[i]
}

type foreachObj struct {
	index   int
	hasNext bool
	parent  *foreachObj
}

// appendString appends the Java toString of v (the caller handles nil).
func (ev *evaluator) appendString(dst []byte, v any, depth int) []byte {
	if depth > ev.lim.MaxDepth {
		ev.limit("MaxDepth", ev.lim.MaxDepth)
	}
	switch x := v.(type) {
	case string:
		return append(dst, x...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case float64:
		return appendJavaDouble(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case nil:
		return append(dst, "null"...)
	case *vlist:
		ev.work(64 * len(x.items))
		if x.fromJSON {
			return ev.appendJSON(dst, x, depth)
		}
		dst = append(dst, '[')
		for i, it := range x.items {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = ev.appendString(dst, it, depth+1)
		}
		return append(dst, ']')
	case *vmap:
		ev.work(64 * len(x.keys))
		dst = append(dst, '{')
		for i, k := range x.keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, k...)
			dst = append(dst, '=')
			dst = ev.appendString(dst, x.vals[i], depth+1)
		}
		return append(dst, '}')
	case *contextObj:
		return ev.appendString(dst, ev.contextMap(x.prefix), depth)
	case *foreachObj:
		return append(dst, "org.apache.velocity.runtime.directive.ForeachScope"...)
	case *inputObj:
		return append(dst, "$input"...)
	case *utilObj:
		return append(dst, "$util"...)
	}
	return dst
}

func (ev *evaluator) toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b := ev.appendString(nil, v, 0)
	ev.charge(len(b))
	return string(b)
}

// appendJavaDouble formats f as Java's Double.toString.
func appendJavaDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		if bytes.IndexByte(dst[start:], '.') < 0 {
			dst = append(dst, ".0"...)
		}
		return dst
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	dst = append(dst, mant...)
	dst = append(dst, 'E')
	if exp[0] == '+' {
		exp = exp[1:]
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if exp == "" {
		exp = "0"
	}
	if neg {
		dst = append(dst, '-')
	}
	return append(dst, exp...)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	}
	return true
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x >= -9.2e18 && x <= 9.2e18 {
			return int64(x), true
		}
	}
	return 0, false
}

// valuesEqual is Velocity 1.7's ASTEQNode: numbers by value, same kinds with equals, otherwise toString.
func (ev *evaluator) valuesEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if isNumber(a) && isNumber(b) {
		ai, aInt := a.(int64)
		bi, bInt := b.(int64)
		if aInt && bInt {
			return ai == bi
		}
		return toFloat(a) == toFloat(b)
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			ev.work(len(x))
			return x == y
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case *vlist:
		if y, ok := b.(*vlist); ok {
			if len(x.items) != len(y.items) {
				return false
			}
			ev.step()
			for i := range x.items {
				if !ev.valuesEqual(x.items[i], y.items[i]) {
					return false
				}
			}
			return true
		}
	case *vmap:
		if y, ok := b.(*vmap); ok {
			if len(x.keys) != len(y.keys) {
				return false
			}
			for i, k := range x.keys {
				yv, ok := y.get(k)
				if !ok || !ev.valuesEqual(x.vals[i], yv) {
					return false
				}
			}
			return true
		}
	}
	return ev.toString(a) == ev.toString(b)
}

// compare returns -1, 0, 1; ok is false when either side is not a number (Velocity 1.7 logs and yields false).
func compare(a, b any) (int, bool) {
	if !isNumber(a) || !isNumber(b) {
		return 0, false
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		switch {
		case ai < bi:
			return -1, true
		case ai > bi:
			return 1, true
		}
		return 0, true
	}
	af, bf := toFloat(a), toFloat(b)
	switch {
	case af < bf:
		return -1, true
	case af > bf:
		return 1, true
	}
	return 0, true
}
