package loader

import (
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// jsonReader reads typed values out of a decoded document, reporting a value of the wrong type as an error at
// its path instead of failing somewhere later.
type jsonReader struct {
	r *reporter
	// rule is the spec rule type errors are reported under.
	rule string
}

func (j jsonReader) typeError(path, key, want string, v any) {
	j.r.errorf(child(path, key), key, j.rule, "%s must be %s, not %s", key, want, jsonType(v))
}

// object returns obj[key] as an object; nil when absent or null.
func (j jsonReader) object(obj map[string]any, key, path string) map[string]any {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		j.typeError(path, key, "an object", v)
	}
	return m
}

func (j jsonReader) str(obj map[string]any, key, path string) string {
	v, ok := obj[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		j.typeError(path, key, "a string", v)
	}
	return s
}

// scalarString accepts a string or a number written unquoted in YAML (statusCode: 200).
func (j jsonReader) scalarString(obj map[string]any, key, path string) string {
	if n, ok := obj[key].(json.Number); ok {
		return n.String()
	}
	return j.str(obj, key, path)
}

func (j jsonReader) boolean(obj map[string]any, key, path string) bool {
	v, ok := obj[key]
	if !ok || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		j.typeError(path, key, "true or false", v)
	}
	return b
}

// int32 reads a whole number in int32 range.
func (j jsonReader) int32(obj map[string]any, key, path string) int32 {
	v, ok := obj[key]
	if !ok || v == nil {
		return 0
	}
	n, isNum := v.(json.Number)
	if !isNum {
		j.typeError(path, key, "a whole number", v)
		return 0
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			j.r.errorf(child(path, key), key, j.rule, "%s must be a whole number, not %s", key, n)
			return 0
		}
		i = int64(f)
	}
	if i > math.MaxInt32 || i < math.MinInt32 {
		j.r.errorf(child(path, key), key, j.rule, "%s %s is out of range", key, n)
		return 0
	}
	return int32(i)
}

func (j jsonReader) strList(obj map[string]any, key, path string) []string {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		j.typeError(path, key, "an array of strings", v)
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			j.r.errorf(index(child(path, key), i), key, j.rule, "%s[%d] must be a string, not %s", key, i, jsonType(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// strMap reads an object of strings; nil when absent.
func (j jsonReader) strMap(obj map[string]any, key, path string) map[string]string {
	m := j.object(obj, key, path)
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s, ok := m[k].(string)
		if !ok {
			j.r.errorf(child(child(path, key), k), key, j.rule, "%s[%q] must be a string, not %s", key, k, jsonType(m[k]))
			continue
		}
		out[k] = s
	}
	return out
}

// warnUnknown warns about keys of obj outside known: the input asks for something this importer ignores.
func (j jsonReader) warnUnknown(obj map[string]any, known map[string]bool, path, what string) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if !known[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		j.r.warnf(child(path, k), k, j.rule, "%s field %q is not supported by proxyplus; it is ignored", what, k)
	}
}

// resolveRef follows a local $ref ("#/components/parameters/id") to its target, returning the target and its JSON
// path. API Gateway imports a single document, so other references are errors.
func (j jsonReader) resolveRef(root map[string]any, v any, path string) (any, string, bool) {
	for hops := 0; hops < 32; hops++ {
		obj, isObj := v.(map[string]any)
		if !isObj {
			return v, path, true
		}
		ref, has := obj["$ref"].(string)
		if !has {
			return v, path, true
		}
		if !strings.HasPrefix(ref, "#/") {
			j.r.errorf(child(path, "$ref"), "$ref", j.rule, "reference %q points outside the document; API Gateway imports a single document", ref)
			return nil, path, false
		}
		target, tpath, found := lookupPointer(root, ref)
		if !found {
			j.r.errorf(child(path, "$ref"), "$ref", j.rule, "reference %q points to nothing in the document", ref)
			return nil, path, false
		}
		v, path = target, tpath
	}
	j.r.errorf(child(path, "$ref"), "$ref", j.rule, "reference chain is too long or circular")
	return nil, path, false
}

// lookupPointer resolves a "#/a/b~1c" JSON pointer into root, returning the value and its JSON path.
func lookupPointer(root map[string]any, ref string) (any, string, bool) {
	var cur any = root
	path := "$"
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		// A fragment may percent-encode characters ("#/paths/~1pets~1%7Bid%7D").
		if u, err := url.PathUnescape(tok); err == nil {
			tok = u
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, "", false
			}
			cur, path = next, child(path, tok)
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, "", false
			}
			cur, path = c[i], index(path, i)
		default:
			return nil, "", false
		}
	}
	return cur, path, true
}
