package mappingtemplate

import (
	"errors"
	"strconv"
	"strings"
)

// The JSONPath subset of $input.json / $input.path (DG api-gateway-mapping-template-reference.md: "a JSONPath
// expression"; the examples use $, $.a.b, $.a[0], $['a'] and $..a).

type pathStepKind uint8

const (
	stepField pathStepKind = iota
	stepIndex
	stepWildcard
	stepDeep
)

type pathStep struct {
	kind pathStepKind
	name string
	n    int
}

type jsonPath struct {
	steps    []pathStep
	definite bool
}

func compileJSONPath(s string) (*jsonPath, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "$") {
		return nil, errors.New("JSONPath " + strconv.Quote(s) + " must start with $")
	}
	jp := &jsonPath{definite: true}
	i := 1
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], ".."):
			j := i + 2
			k := j
			for k < len(s) && s[k] != '.' && s[k] != '[' {
				k++
			}
			if k == j || s[j:k] == "*" {
				return nil, errors.New("JSONPath " + strconv.Quote(s) + ": only ..name deep scans are supported")
			}
			jp.steps = append(jp.steps, pathStep{kind: stepDeep, name: s[j:k]})
			jp.definite = false
			i = k
		case s[i] == '.':
			j := i + 1
			k := j
			for k < len(s) && s[k] != '.' && s[k] != '[' {
				k++
			}
			if k == j {
				return nil, errors.New("JSONPath " + strconv.Quote(s) + ": empty member name")
			}
			if s[j:k] == "*" {
				jp.steps = append(jp.steps, pathStep{kind: stepWildcard})
				jp.definite = false
			} else {
				jp.steps = append(jp.steps, pathStep{kind: stepField, name: s[j:k]})
			}
			i = k
		case s[i] == '[':
			k := strings.IndexByte(s[i:], ']')
			if k < 0 {
				return nil, errors.New("JSONPath " + strconv.Quote(s) + ": [ without ]")
			}
			in := strings.TrimSpace(s[i+1 : i+k])
			switch {
			case in == "*":
				jp.steps = append(jp.steps, pathStep{kind: stepWildcard})
				jp.definite = false
			case len(in) >= 2 && (in[0] == '\'' && in[len(in)-1] == '\'' || in[0] == '"' && in[len(in)-1] == '"') &&
				!strings.ContainsAny(in[1:len(in)-1], "'\""):
				jp.steps = append(jp.steps, pathStep{kind: stepField, name: in[1 : len(in)-1]})
			default:
				n, err := strconv.Atoi(in)
				if err != nil {
					what := "unsupported selector"
					if strings.HasPrefix(in, "?") {
						what = "filters are not supported"
					} else if strings.ContainsAny(in, ":,") {
						what = "slices and unions are not supported"
					}
					return nil, errors.New("JSONPath " + strconv.Quote(s) + ": [" + in + "]: " + what)
				}
				jp.steps = append(jp.steps, pathStep{kind: stepIndex, n: n})
			}
			i += k + 1
		default:
			return nil, errors.New("JSONPath " + strconv.Quote(s) + ": unexpected " + strconv.Quote(s[i:i+1]))
		}
	}
	return jp, nil
}

// eval selects from root. A definite path gives the value or nil; an indefinite one a JSON list of matches.
func (jp *jsonPath) eval(ev *evaluator, root any) any {
	if jp.definite {
		cur := root
		for _, st := range jp.steps {
			cur = selectStep(st, cur)
			if cur == nil {
				return nil
			}
		}
		return cur
	}
	cur := []any{root}
	for _, st := range jp.steps {
		var next []any
		for _, v := range cur {
			ev.step()
			switch st.kind {
			case stepWildcard:
				switch x := v.(type) {
				case *vmap:
					next = append(next, x.vals...)
				case *vlist:
					next = append(next, x.items...)
				}
			case stepDeep:
				next = deepScan(ev, v, st.name, next, 0)
			default:
				if r := selectStep(st, v); r != nil {
					next = append(next, r)
				}
			}
		}
		ev.charge(16 * len(next))
		cur = next
	}
	return &vlist{items: cur, fromJSON: true}
}

func selectStep(st pathStep, v any) any {
	switch st.kind {
	case stepField:
		if m, ok := v.(*vmap); ok {
			r, _ := m.get(st.name)
			return r
		}
	case stepIndex:
		if l, ok := v.(*vlist); ok {
			n := st.n
			if n < 0 {
				n += len(l.items)
			}
			if n >= 0 && n < len(l.items) {
				return l.items[n]
			}
		}
	}
	return nil
}

func deepScan(ev *evaluator, v any, name string, out []any, depth int) []any {
	if depth > ev.lim.MaxDepth {
		ev.limit("MaxDepth", ev.lim.MaxDepth)
	}
	ev.step()
	switch x := v.(type) {
	case *vmap:
		if r, ok := x.get(name); ok {
			out = append(out, r)
		}
		for _, c := range x.vals {
			out = deepScan(ev, c, name, out, depth+1)
		}
	case *vlist:
		for _, c := range x.items {
			out = deepScan(ev, c, name, out, depth+1)
		}
	}
	return out
}
