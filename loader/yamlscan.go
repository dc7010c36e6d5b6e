package loader

import (
	"fmt"

	yamlv3 "go.yaml.in/yaml/v3"
)

// maxExpandedSize bounds a YAML document with every alias expanded. Aliases let a few bytes stand for a large
// value many times over (a 5 MB string aliased 100 times is 500 MB once converted to JSON, and the classic
// "billion laughs" is 3 GB from under 1 kB), and the JSON conversion expands them all. Twice LIM-10's 6 MB leaves
// room for definitions that share integration blocks through anchors while keeping the conversion's memory a
// small multiple of what an alias-free 6 MB document costs.
const maxExpandedSize = 2 * maxDocumentSize

// scalarOverhead is what each node adds to the expanded size besides its text: quotes, separators, the key of
// a mapping entry. It keeps a document of many tiny aliased nodes from counting as nearly nothing.
const scalarOverhead = 4

// yamlBooleans are the plain scalars YAML 1.1 — which the JSON conversion (sigs.k8s.io/yaml over go-yaml v2)
// implements — reads as booleans, while YAML 1.2 and every JSON-minded reader take them as strings: `country: NO`
// silently becomes false. true and false are the same in both and stay accepted.
var yamlBooleans = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// scanError is a finding of the size count, with the node it was made at.
type scanError struct {
	tooLarge bool
	node     *yamlv3.Node
	path     string
	field    string // the nearest key on the way to node
	msg      string
}

// scanYAML checks a YAML document before it is converted to JSON: its expanded size (aliases counted at the size
// of what they stand for) must stay within maxExpandedSize, and no plain scalar may be a YAML 1.1 boolean other
// than true/false. The document is parsed into nodes, which keeps aliases unexpanded, so the scan itself costs a
// small multiple of the input whatever the aliases would expand to. It reports what it finds and returns false
// when the document must not be converted.
func scanYAML(r *reporter, data []byte) bool {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(data, &root); err != nil {
		r.errorf("$", "", "format", "not valid JSON or YAML: %v", err)
		return false
	}
	s := &yamlScan{r: r, sizes: map[*yamlv3.Node]int64{}, open: map[*yamlv3.Node]bool{}}
	if _, err := s.size(&root); err != nil {
		if err.tooLarge {
			r.errorf(err.path, err.field, "LIM-10", "line %d, column %d: the YAML document expands to more than %d bytes "+
				"(%d MB) once its aliases are expanded, passing the limit here; proxyplus refuses larger documents "+
				"(twice API Gateway's 6 MB definition limit) so that aliases cannot multiply the memory an import "+
				"takes", err.node.Line, err.node.Column, maxExpandedSize, maxExpandedSize>>20)
		} else {
			r.errorf(err.path, err.field, "format", "line %d, column %d: %s", err.node.Line, err.node.Column, err.msg)
		}
		return false
	}
	return !s.failed
}

type yamlScan struct {
	r *reporter
	// sizes memoises the expanded size of anchored nodes, so every alias of one costs a map lookup and a
	// billion laughs is counted in linear time.
	sizes map[*yamlv3.Node]int64
	// open holds the nodes being counted, to refuse an alias inside its own anchor.
	open map[*yamlv3.Node]bool
	// total is the expanded size counted so far.
	total int64
	// at is the way from the root to the node being counted, turned into a JSON path only for an error.
	at     []pathStep
	failed bool
}

// pathStep is one step of a JSON path: an index when i >= 0, a key when i is -1, nothing when i is noStep (the
// stack stays balanced for nodes that add no step).
type pathStep struct {
	key string
	i   int
}

const noStep = -2

// path is the JSON path of the node being walked and the nearest key on the way to it.
func (s *yamlScan) path() (path, field string) {
	path = "$"
	for _, st := range s.at {
		switch {
		case st.i == noStep:
		case st.i >= 0:
			path = index(path, st.i)
		default:
			path, field = child(path, st.key), st.key
		}
	}
	return path, field
}

func (s *yamlScan) fail(n *yamlv3.Node, tooLarge bool, msg string) *scanError {
	path, field := s.path()
	return &scanError{tooLarge: tooLarge, node: n, path: path, field: field, msg: msg}
}

// size counts n's expanded size; it fails once the whole document's running total passes the limit.
func (s *yamlScan) size(n *yamlv3.Node) (int64, *scanError) {
	if n == nil {
		return 0, nil
	}
	if n.Kind == yamlv3.AliasNode {
		target := n.Alias
		if target == nil {
			return 0, nil
		}
		if s.open[target] {
			return 0, s.fail(n, false, fmt.Sprintf("alias *%s refers to the value that contains it", n.Value))
		}
		// An anchor precedes its aliases and is counted where it is written, so its size is known here.
		return s.add(n, s.sizes[target])
	}
	if n.Anchor != "" {
		s.open[n] = true
		defer delete(s.open, n)
	}
	sz := int64(scalarOverhead)
	if n.Kind == yamlv3.ScalarNode {
		sz += int64(len(n.Value))
		s.checkBoolean(n, "value")
	}
	if _, err := s.add(n, sz); err != nil {
		return 0, err
	}
	for i, c := range n.Content {
		switch {
		case n.Kind == yamlv3.MappingNode && i%2 == 0 && c.Kind == yamlv3.ScalarNode && c.Anchor == "":
			// A plain key: counted here, so that its check names it as a key.
			s.checkBoolean(c, "key")
			ksz, err := s.add(c, int64(len(c.Value))+scalarOverhead)
			if err != nil {
				return 0, err
			}
			sz += ksz
			continue
		case n.Kind == yamlv3.MappingNode && i%2 == 1:
			s.at = append(s.at, pathStep{key: n.Content[i-1].Value, i: -1})
		case n.Kind == yamlv3.SequenceNode:
			s.at = append(s.at, pathStep{i: i})
		default: // a complex mapping key or a document's content: no step of its own
			s.at = append(s.at, pathStep{i: noStep})
		}
		csz, err := s.size(c)
		s.at = s.at[:len(s.at)-1]
		if err != nil {
			return 0, err
		}
		sz += csz
	}
	if n.Anchor != "" {
		s.sizes[n] = sz
	}
	return sz, nil
}

// add adds to the running total; sizes never exceed the limit by more than one node, so they cannot overflow.
func (s *yamlScan) add(n *yamlv3.Node, sz int64) (int64, *scanError) {
	s.total += sz
	if s.total > maxExpandedSize {
		return 0, s.fail(n, true, "")
	}
	return sz, nil
}

// checkBoolean reports a plain YAML 1.1 boolean other than true/false, naming its key and JSON path; what is "key"
// or "value". Aliases are not followed by the walk, so an anchored value is reported where it is written.
func (s *yamlScan) checkBoolean(n *yamlv3.Node, what string) {
	if n.Kind != yamlv3.ScalarNode || n.Style&^yamlv3.FlowStyle != 0 || n.Tag != "!!str" {
		return // quoted, block or explicitly tagged scalars mean what they say
	}
	b, ok := yamlBooleans[n.Value]
	if !ok {
		return
	}
	s.failed = true
	path, field := s.path()
	if what == "key" {
		field = n.Value
	}
	s.r.errorf(path, field, "format", "line %d, column %d: the %s %s is read as the boolean %t by YAML 1.1, which "+
		"this document is converted with, but as the string %q by YAML 1.2 and JSON; write \"%s\" (quoted) for the "+
		"string or %t for the boolean", n.Line, n.Column, what, n.Value, b, n.Value, n.Value, b)
}
