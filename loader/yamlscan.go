package loader

import (
	"errors"
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

// errTooLarge stops the size count as soon as the limit is passed, so a count never runs past it.
var errTooLarge = errors.New("expanded size over the limit")

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
	_, err := s.size(&root)
	switch {
	case errors.Is(err, errTooLarge):
		r.errorf("$", "", "LIM-10", "the YAML document expands to more than %d bytes (%d MB) once its aliases are "+
			"expanded; proxyplus refuses larger documents (twice API Gateway's 6 MB definition limit) so that aliases "+
			"cannot multiply the memory an import takes", maxExpandedSize, maxExpandedSize>>20)
		return false
	case err != nil:
		r.errorf("$", "", "format", "not valid JSON or YAML: %v", err)
		return false
	}
	s.booleans(&root, "$", "")
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
	total  int64
	failed bool
}

// size counts n's expanded size; it fails with errTooLarge once the whole document's running total passes the
// limit.
func (s *yamlScan) size(n *yamlv3.Node) (int64, error) {
	if n == nil {
		return 0, nil
	}
	if n.Kind == yamlv3.AliasNode {
		target := n.Alias
		if target == nil {
			return 0, nil
		}
		if s.open[target] {
			return 0, fmt.Errorf("line %d, column %d: alias *%s refers to the value that contains it", n.Line, n.Column, n.Value)
		}
		// An anchor precedes its aliases and is counted where it is written, so its size is known here.
		return s.add(s.sizes[target])
	}
	if n.Anchor != "" {
		if sz, ok := s.sizes[n]; ok {
			return s.add(sz)
		}
		s.open[n] = true
		defer delete(s.open, n)
	}
	var sz int64
	switch n.Kind {
	case yamlv3.ScalarNode:
		var err error
		if sz, err = s.add(int64(len(n.Value)) + scalarOverhead); err != nil {
			return 0, err
		}
	default:
		sz = scalarOverhead
		if _, err := s.add(scalarOverhead); err != nil {
			return 0, err
		}
		for _, c := range n.Content {
			csz, err := s.size(c)
			if err != nil {
				return 0, err
			}
			sz += csz
		}
	}
	if n.Anchor != "" {
		s.sizes[n] = sz
	}
	return sz, nil
}

// add adds to the running total; sizes never exceed the limit by more than one node, so they cannot overflow.
func (s *yamlScan) add(n int64) (int64, error) {
	s.total += n
	if s.total > maxExpandedSize {
		return 0, errTooLarge
	}
	return n, nil
}

// booleans reports every plain YAML 1.1 boolean other than true/false, naming its key and JSON path. Aliases are
// not followed: the anchored value is reported where it is written.
func (s *yamlScan) booleans(n *yamlv3.Node, path, field string) {
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			s.booleans(c, path, field)
		}
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			s.checkBoolean(k, path, k.Value, "key")
			p := child(path, k.Value)
			s.booleans(v, p, k.Value)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			s.booleans(c, index(path, i), field)
		}
	case yamlv3.ScalarNode:
		s.checkBoolean(n, path, field, "value")
	}
}

func (s *yamlScan) checkBoolean(n *yamlv3.Node, path, field, what string) {
	if n.Kind != yamlv3.ScalarNode || n.Style&^yamlv3.FlowStyle != 0 || n.Tag != "!!str" {
		return // quoted, block or explicitly tagged scalars mean what they say
	}
	b, ok := yamlBooleans[n.Value]
	if !ok {
		return
	}
	s.failed = true
	s.r.errorf(path, field, "format", "line %d, column %d: the %s %s is read as the boolean %t by YAML 1.1, which "+
		"this document is converted with, but as the string %q by YAML 1.2 and JSON; write \"%s\" (quoted) for the "+
		"string or %t for the boolean", n.Line, n.Column, what, n.Value, b, n.Value, n.Value, b)
}
