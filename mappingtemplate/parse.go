package mappingtemplate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// maxParseDepth bounds the parser's recursion: nested directives, parentheses, lists, maps and interpolated strings.
const maxParseDepth = 64

// builtin variable slots, fixed so the evaluator can fill them without a lookup.
const (
	slotInput = iota
	slotContext
	slotUtil
	slotStageVariables
	slotForeach
	slotVelocityCount
	slotVelocityHasNext
	numBuiltinSlots
)

var builtinNames = [numBuiltinSlots]string{"input", "context", "util", "stageVariables", "foreach", "velocityCount", "velocityHasNext"}

type parser struct {
	name        string
	src         string
	lineStarts  []int
	slots       map[string]int
	slotNames   []string
	unsupported []Issue
	depth       int
}

type parseError struct {
	off int
	msg string
}

func parse(name, src string, subst bool) (t *Template, err error) {
	p := &parser{name: name, src: src, slots: map[string]int{}}
	p.lineStarts = append(p.lineStarts, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	for i, n := range builtinNames {
		p.slots[n] = i
		p.slotNames = append(p.slotNames, n)
	}
	t = &Template{name: name, src: src, subst: subst, lineStarts: p.lineStarts}
	if subst {
		t.root = parseSubstitution(src)
		t.slots = p.slotNames
		return t, nil
	}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			t, err = nil, &SyntaxError{Template: name, Pos: p.pos(pe.off), Msg: pe.msg}
		}
	}()
	nodes, _, _, _ := p.statements(0, len(src), false)
	t.root = nodes
	t.slots = p.slotNames
	sort.SliceStable(p.unsupported, func(i, j int) bool {
		a, b := p.unsupported[i].Pos, p.unsupported[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	t.unsupported = p.unsupported
	return t, nil
}

func (p *parser) pos(off int) Pos { return posIn(p.lineStarts, off) }

func posIn(lineStarts []int, off int) Pos {
	i := sort.Search(len(lineStarts), func(i int) bool { return lineStarts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return Pos{Line: i + 1, Col: off - lineStarts[i] + 1}
}

func (p *parser) fail(off int, format string, args ...any) {
	panic(parseError{off: off, msg: fmt.Sprintf(format, args...)})
}

func (p *parser) report(off int, construct, msg string) {
	p.unsupported = append(p.unsupported, Issue{Pos: p.pos(off), Construct: construct, Message: msg})
}

func (p *parser) slot(name string) int {
	if s, ok := p.slots[name]; ok {
		return s
	}
	s := len(p.slotNames)
	p.slots[name] = s
	p.slotNames = append(p.slotNames, name)
	return s
}

func (p *parser) enter(off int) {
	p.depth++
	if p.depth > maxParseDepth {
		p.fail(off, "nesting deeper than %d", maxParseDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func isLetter(c byte) bool     { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return isLetter(c) || c == '_' }
func isIdentChar(c byte) bool  { return isLetter(c) || isDigit(c) || c == '_' || c == '-' }
func isWordChar(c byte) bool   { return isLetter(c) || isDigit(c) || c == '_' || c == '@' }
func isWS(c byte) bool         { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// directives Velocity 1.7 knows (grammar ones and the default pluggable ones).
var knownDirectives = map[string]bool{
	"if": true, "elseif": true, "else": true, "end": true, "set": true, "foreach": true, "break": true,
	"stop": true, "include": true, "parse": true, "macro": true, "evaluate": true, "define": true, "literal": true,
}

// eatNewline returns the offset after optional spaces/tabs and one newline at i, or i when there is no newline
// (Velocity 1.7 RPAREN, END and ELSE_DIRECTIVE tokens).
func (p *parser) eatNewline(i, end int) int {
	j := i
	for j < end && (p.src[j] == ' ' || p.src[j] == '\t') {
		j++
	}
	if j < end && p.src[j] == '\n' {
		return j + 1
	}
	if j < end && p.src[j] == '\r' {
		if j+1 < end && p.src[j+1] == '\n' {
			return j + 2
		}
		return j + 1
	}
	return i
}

// statements parses src[i:end] until its end or, when inBlock, a terminator (#end, #else, #elseif). It returns
// the nodes, the terminator name ("" at the end), the offset of the terminator's '#' and where parsing continues.
func (p *parser) statements(i, end int, inBlock bool) (nodes []node, term string, termOff, next int) {
	var text strings.Builder
	runStart := 0 // start in text of the current lexer text run (for #set's leading whitespace)
	flush := func() {
		if text.Len() > 0 {
			nodes = append(nodes, &textNode{text: text.String()})
			text.Reset()
		}
		runStart = 0
	}
	boundary := func() { runStart = text.Len() }
	for i < end {
		c := p.src[i]
		switch c {
		case '\\':
			n := 0
			for i+n < end && p.src[i+n] == '\\' {
				n++
			}
			j := i + n
			if j < end && p.src[j] == '$' {
				if r, rend, ok := p.reference(j, end); ok {
					flush()
					nodes = append(nodes, p.refNodeFor(r, n, rend))
					i = rend
					boundary()
					continue
				}
				text.WriteString(p.src[i:j])
				i = j
				continue
			}
			if j < end && p.src[j] == '#' {
				name, wend := p.directiveWord(j+1, end)
				if name != "" {
					recognized := knownDirectives[name]
					if n%2 == 1 {
						if recognized {
							text.WriteString(strings.Repeat(`\`, (n-1)/2))
						} else {
							text.WriteString(p.src[i:j])
						}
						text.WriteString(p.src[j:wend])
						i = wend
						boundary()
						continue
					}
					if recognized {
						text.WriteString(strings.Repeat(`\`, n/2))
					} else {
						text.WriteString(p.src[i:j])
					}
					i = j
					boundary()
					continue
				}
			}
			text.WriteString(p.src[i:j])
			i = j
			boundary()
		case '$':
			if r, rend, ok := p.reference(i, end); ok {
				flush()
				nodes = append(nodes, p.refNodeFor(r, 0, rend))
				i = rend
				boundary()
				continue
			}
			text.WriteByte('$')
			i++
		case '#':
			if i+1 < end && p.src[i+1] == '#' { // ## comment, newline included
				j := i + 2
				for j < end && p.src[j] != '\n' && p.src[j] != '\r' {
					j++
				}
				if j < end && p.src[j] == '\r' && j+1 < end && p.src[j+1] == '\n' {
					j++
				}
				if j < end {
					j++
				}
				i = j
				boundary()
				continue
			}
			if i+1 < end && p.src[i+1] == '*' { // #* ... *#
				k := strings.Index(p.src[i+2:end], "*#")
				if k < 0 {
					p.fail(i, "unterminated #* comment")
				}
				i = i + 2 + k + 2
				boundary()
				continue
			}
			if strings.HasPrefix(p.src[i:end], "#[[") { // #[[ unparsed ]]#
				k := strings.Index(p.src[i+3:end], "]]#")
				if k < 0 {
					p.fail(i, "unterminated #[[ text block")
				}
				text.WriteString(p.src[i+3 : i+3+k])
				i = i + 3 + k + 3
				boundary()
				continue
			}
			name, wend := p.directiveWord(i+1, end)
			if name == "" {
				text.WriteByte('#')
				i++
				continue
			}
			switch name {
			case "end", "else":
				if !inBlock {
					p.fail(i, "#%s without an opening #if or #foreach", name)
				}
				flush()
				return nodes, name, i, p.eatNewline(wend, end)
			case "elseif":
				if !inBlock {
					p.fail(i, "#elseif without an opening #if")
				}
				flush()
				return nodes, name, i, wend
			case "set":
				j := wend
				for j < end && p.src[j] == ' ' {
					j++
				}
				if j >= end || p.src[j] != '(' {
					text.WriteString(p.src[i:wend])
					i = wend
					continue
				}
				// SET_DIRECTIVE includes the spaces and tabs before it when they start a lexer token.
				if ws := text.String()[runStart:]; strings.Trim(ws, " \t") == "" {
					s := text.String()[:runStart]
					text.Reset()
					text.WriteString(s)
				}
				flush()
				n, next := p.setDirective(i, j+1, end)
				nodes = append(nodes, n)
				i = next
				boundary()
			case "if":
				flush()
				n, next := p.ifDirective(i, wend, end)
				nodes = append(nodes, n)
				i = next
				boundary()
			case "foreach":
				flush()
				n, next := p.foreachDirective(i, wend, end)
				nodes = append(nodes, n)
				i = next
				boundary()
			case "break", "stop":
				flush()
				next := wend
				if j, ok := p.leftParen(wend, end); ok {
					next = p.skipArgs(j, end)
				}
				if name == "break" {
					nodes = append(nodes, &breakNode{off: i})
				} else {
					nodes = append(nodes, &stopNode{off: i})
				}
				i = next
				boundary()
			default:
				j, hasParen := p.leftParen(wend, end)
				block := name == "macro" || name == "define" || name == "literal" || strings.HasPrefix(name, "@")
				if !hasParen && !knownDirectives[name] && !strings.HasPrefix(name, "@") {
					// Not a directive: Velocity renders the word as text.
					text.WriteString(p.src[i:wend])
					i = wend
					continue
				}
				flush()
				what := "#" + name
				msg := "directive not supported by this interpreter"
				switch {
				case name == "include" || name == "parse":
					msg = "API Gateway templates cannot load other templates"
				case !knownDirectives[name]:
					msg = "macro call: macros are not supported"
				}
				p.report(i, what, msg)
				next := wend
				if hasParen {
					next = p.skipArgs(j, end)
				}
				if block {
					p.enter(i)
					_, term, toff, bnext := p.statements(next, end, true)
					for term == "else" || term == "elseif" {
						_, term, toff, bnext = p.statements(bnext, end, true)
					}
					if term != "end" {
						p.fail(i, "%s without #end", what)
					}
					_ = toff
					next = bnext
					p.leave()
				}
				nodes = append(nodes, &unsupportedNode{off: i, what: what})
				i = next
				boundary()
			}
		default:
			j := i
			for j < end && p.src[j] != '$' && p.src[j] != '#' && p.src[j] != '\\' {
				j++
			}
			text.WriteString(p.src[i:j])
			i = j
		}
	}
	flush()
	return nodes, "", end, end
}

// directiveWord reads a directive name at i (after '#'): a word or {word}. It returns "" when there is none.
func (p *parser) directiveWord(i, end int) (string, int) {
	if i < end && p.src[i] == '{' {
		j := i + 1
		if j < end && (isLetter(p.src[j]) || p.src[j] == '_') {
			for j < end && isWordChar(p.src[j]) {
				j++
			}
			if j < end && p.src[j] == '}' {
				return p.src[i+1 : j], j + 1
			}
		}
		return "", i
	}
	j := i
	if j < end && (isLetter(p.src[j]) || p.src[j] == '_' || p.src[j] == '@') {
		for j < end && isWordChar(p.src[j]) {
			j++
		}
		return p.src[i:j], j
	}
	return "", i
}

// leftParen reports whether optional whitespace and '(' follow i, and the offset after '('.
func (p *parser) leftParen(i, end int) (int, bool) {
	for i < end && isWS(p.src[i]) {
		i++
	}
	if i < end && p.src[i] == '(' {
		return i + 1, true
	}
	return 0, false
}

// skipArgs skips to after the ')' matching an already consumed '(' at i-1, honouring string literals.
func (p *parser) skipArgs(i, end int) int {
	depth := 1
	start := i
	for i < end {
		switch c := p.src[i]; c {
		case '"', '\'':
			i = p.stringEnd(i, end)
			continue
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return p.eatNewline(i+1, end)
			}
		}
		i++
	}
	p.fail(start-1, "unclosed (")
	return end
}

// stringEnd returns the offset after the string literal starting at i.
func (p *parser) stringEnd(i, end int) int {
	q := p.src[i]
	j := i + 1
	for j < end {
		if p.src[j] == q {
			if j+1 < end && p.src[j+1] == q { // doubled quote
				j += 2
				continue
			}
			return j + 1
		}
		j++
	}
	p.fail(i, "unterminated string literal")
	return end
}

func (p *parser) refNodeFor(r *refExpr, backslashes, rend int) *refNode {
	n := &refNode{r: r, escPrefix: strings.Repeat(`\`, backslashes/2), escaped: backslashes%2 == 1}
	n.literal = r.src
	if strings.HasPrefix(r.src, "$!") && !n.escaped {
		n.literal = ""
	}
	if len(r.parts) == 1 && r.parts[0].kind == partMethod && len(r.parts[0].args) == 1 && !n.escaped {
		switch {
		case r.slot == slotInput && r.parts[0].name == "json":
			n.direct = directJSON
		case r.slot == slotUtil && r.parts[0].name == "escapeJavaScript":
			n.direct = directEscapeJavaScript
		case r.slot == slotUtil && r.parts[0].name == "urlEncode":
			n.direct = directURLEncode
		case r.slot == slotUtil && r.parts[0].name == "base64Encode":
			n.direct = directBase64Encode
		}
	}
	return n
}

// reference parses a reference at i ('$'). ok is false when '$' does not start one (it is text then).
func (p *parser) reference(i, end int) (*refExpr, int, bool) {
	p.enter(i)
	defer p.leave()
	j := i + 1
	if j < end && p.src[j] == '!' {
		j++
	}
	formal := false
	if j < end && p.src[j] == '{' {
		formal = true
		j++
	}
	if j >= end || !isIdentStart(p.src[j]) {
		return nil, i, false
	}
	k := j
	for k < end && isIdentChar(p.src[k]) {
		k++
	}
	r := &refExpr{off: i, name: p.src[j:k]}
	r.slot = p.slot(r.name)
	k = p.indexes(r, k, end)
	for k+1 < end && p.src[k] == '.' && isLetter(p.src[k+1]) {
		m := k + 1
		for m < end && isIdentChar(p.src[m]) {
			m++
		}
		part := refPart{off: k + 1, name: p.src[k+1 : m]}
		if m < end && p.src[m] == '(' {
			part.kind = partMethod
			args, next := p.args(m+1, end)
			part.args = args
			m = next
		}
		r.parts = append(r.parts, part)
		k = p.indexes(r, m, end)
	}
	if formal {
		if k >= end || p.src[k] != '}' {
			p.fail(i, "reference %s is missing its closing }", p.src[i:k])
		}
		k++
	}
	r.src = p.src[i:k]
	if r.slot == slotContext {
		key := ""
		for n := range r.parts {
			if r.parts[n].kind != partProp {
				break
			}
			if n > 0 {
				key += "."
			}
			key += r.parts[n].name
			r.parts[n].ctxKey = key
			r.parts[0].ctxLast = n
		}
	}
	p.checkRef(r)
	return r, k, true
}

func (p *parser) indexes(r *refExpr, k, end int) int {
	for k < end && p.src[k] == '[' {
		off := k
		k = p.skipWS(k+1, end)
		var e expr
		if k < end && (p.src[k] == '"' || p.src[k] == '\'') {
			e, k = p.stringLit(k, end)
		} else if k < end && (isDigit(p.src[k]) || p.src[k] == '-') {
			e, k = p.number(k, end)
		} else if strings.HasPrefix(p.src[k:end], "true") {
			e, k = &litExpr{v: true}, k+4
		} else if strings.HasPrefix(p.src[k:end], "false") {
			e, k = &litExpr{v: false}, k+5
		} else if k < end && p.src[k] == '$' {
			ref, next, ok := p.reference(k, end)
			if !ok {
				p.fail(k, "invalid index")
			}
			e, k = ref, next
		} else {
			p.fail(off, "invalid index after %s", p.src[r.off:off])
		}
		k = p.skipWS(k, end)
		if k >= end || p.src[k] != ']' {
			p.fail(off, "index without closing ]")
		}
		k++
		r.parts = append(r.parts, refPart{kind: partIndex, off: off, args: []expr{e}})
	}
	return k
}

func (p *parser) skipWS(i, end int) int {
	for i < end && isWS(p.src[i]) {
		i++
	}
	return i
}

// args parses method arguments after '(' up to and including ')'.
func (p *parser) args(i, end int) ([]expr, int) {
	p.enter(i)
	defer p.leave()
	var out []expr
	i = p.skipWS(i, end)
	if i < end && p.src[i] == ')' {
		return out, i + 1
	}
	for {
		var e expr
		e, i = p.param(i, end)
		out = append(out, e)
		i = p.skipWS(i, end)
		if i < end && p.src[i] == ',' {
			i++
			continue
		}
		if i < end && p.src[i] == ')' {
			return out, i + 1
		}
		p.fail(i, "expected , or ) in method arguments")
	}
}

// param parses a Velocity Parameter (method argument, list item, map key/value, #foreach collection).
func (p *parser) param(i, end int) (expr, int) {
	i = p.skipWS(i, end)
	if i >= end {
		p.fail(i, "unexpected end of template")
	}
	var e expr
	switch c := p.src[i]; {
	case c == '"' || c == '\'':
		e, i = p.stringLit(i, end)
	case isDigit(c) || c == '-' || c == '.':
		e, i = p.number(i, end)
	case c == '[':
		e, i = p.listOrRange(i, end)
	case c == '{':
		e, i = p.mapLit(i, end)
	case c == '$':
		r, next, ok := p.reference(i, end)
		if !ok {
			p.fail(i, "invalid reference")
		}
		e, i = r, next
	case strings.HasPrefix(p.src[i:end], "true") && !(i+4 < end && isWordChar(p.src[i+4])):
		e, i = &litExpr{v: true}, i+4
	case strings.HasPrefix(p.src[i:end], "false") && !(i+5 < end && isWordChar(p.src[i+5])):
		e, i = &litExpr{v: false}, i+5
	default:
		p.fail(i, "unexpected %q", string(c))
	}
	return e, p.skipWS(i, end)
}

func (p *parser) number(i, end int) (expr, int) {
	j := i
	if j < end && p.src[j] == '-' {
		j++
	}
	ds := j
	for j < end && isDigit(p.src[j]) {
		j++
	}
	isFloat := false
	if j < end && p.src[j] == '.' && !(j+1 < end && p.src[j+1] == '.') {
		isFloat = true
		j++
		for j < end && isDigit(p.src[j]) {
			j++
		}
	}
	if j < end && (p.src[j] == 'e' || p.src[j] == 'E') {
		k := j + 1
		if k < end && (p.src[k] == '+' || p.src[k] == '-') {
			k++
		}
		if k < end && isDigit(p.src[k]) {
			isFloat = true
			for k < end && isDigit(p.src[k]) {
				k++
			}
			j = k
		}
	}
	lit := p.src[i:j]
	if j == ds || (!isFloat && j == ds) {
		p.fail(i, "invalid number")
	}
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			p.fail(i, "invalid number %s", lit)
		}
		return &litExpr{v: f}, j
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(lit, 64)
		if ferr != nil {
			p.fail(i, "invalid number %s", lit)
		}
		return &litExpr{v: f}, j
	}
	return &litExpr{v: n}, j
}

func (p *parser) listOrRange(i, end int) (expr, int) {
	p.enter(i)
	defer p.leave()
	off := i
	j := p.skipWS(i+1, end)
	if j < end && p.src[j] == ']' {
		return &listExpr{off: off}, j + 1
	}
	first, j := p.param(j, end)
	if strings.HasPrefix(p.src[j:end], "..") {
		switch first.(type) {
		case *litExpr, *refExpr:
		default:
			p.fail(off, "a range bound must be an integer or a reference")
		}
		hi, k := p.param(j+2, end)
		if k >= end || p.src[k] != ']' {
			p.fail(off, "range without closing ]")
		}
		return &rangeExpr{off: off, lo: first, hi: hi}, k + 1
	}
	items := []expr{first}
	for {
		if j < end && p.src[j] == ']' {
			return &listExpr{off: off, items: items}, j + 1
		}
		if j < end && p.src[j] == ',' {
			var e expr
			e, j = p.param(j+1, end)
			items = append(items, e)
			continue
		}
		p.fail(j, "expected , or ] in list")
	}
}

func (p *parser) mapLit(i, end int) (expr, int) {
	p.enter(i)
	defer p.leave()
	m := &mapExpr{off: i}
	j := p.skipWS(i+1, end)
	if j < end && p.src[j] == '}' {
		return m, j + 1
	}
	for {
		var k, v expr
		k, j = p.param(j, end)
		if j >= end || p.src[j] != ':' {
			p.fail(j, "expected : in map")
		}
		v, j = p.param(j+1, end)
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, v)
		if j < end && p.src[j] == ',' {
			j++
			continue
		}
		if j < end && p.src[j] == '}' {
			return m, j + 1
		}
		p.fail(j, "expected , or } in map")
	}
}

// stringLit parses "..." (interpolated) or '...' (literal). Doubled quotes stand for one quote (Velocity 1.7).
func (p *parser) stringLit(i, end int) (expr, int) {
	q := p.src[i]
	j := p.stringEnd(i, end)
	raw := p.src[i+1 : j-1]
	if strings.Contains(raw, string([]byte{q, q})) {
		raw = strings.ReplaceAll(raw, string([]byte{q, q}), string(q))
	}
	if strings.Contains(raw, `\u`) {
		raw = unescapeUnicode(raw) // Velocity 1.7 ASTStringLiteral unescapes \uXXXX only
	}
	if q == '\'' || !strings.ContainsAny(raw, "$#") {
		return &litExpr{v: raw}, j
	}
	// Interpolated: parse the content as a template. Offsets inside refer to the original source only when no
	// doubled quote was collapsed; positions are approximate otherwise.
	p.enter(i)
	defer p.leave()
	sub := &parser{name: p.name, src: raw, lineStarts: p.lineStarts, slots: p.slots, slotNames: p.slotNames, depth: p.depth}
	nodes, term, toff, _ := sub.statements(0, len(raw), false)
	_ = term
	_ = toff
	p.slotNames = sub.slotNames
	for _, is := range sub.unsupported {
		is.Pos = p.pos(i + 1)
		p.unsupported = append(p.unsupported, is)
	}
	return &strExpr{off: i, parts: nodes}, j
}

func unescapeUnicode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+6 <= len(s) && s[i+1] == 'u' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				b.WriteRune(rune(n))
				i += 5
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (p *parser) setDirective(off, i, end int) (node, int) {
	p.enter(off)
	defer p.leave()
	i = p.skipWS(i, end)
	if i >= end || p.src[i] != '$' {
		p.fail(off, "#set needs a reference on its left-hand side")
	}
	lhs, i, ok := p.reference(i, end)
	if !ok {
		p.fail(off, "#set needs a reference on its left-hand side")
	}
	if strings.HasPrefix(lhs.src, "$!") {
		lhs.src = "$" + lhs.src[2:]
	}
	override := ""
	if lhs.slot == slotContext && len(lhs.parts) > 0 {
		override = overridePath(lhs)
		if override == "" {
			p.report(off, "#set($context...)", "only $context.requestOverride.header/querystring/path.<name> and "+
				"$context.responseOverride.status/header.<name> can be assigned")
		}
	}
	i = p.skipWS(i, end)
	if i >= end || p.src[i] != '=' || (i+1 < end && p.src[i+1] == '=') {
		p.fail(i, "#set needs = after %s", lhs.src)
	}
	rhs, i := p.expr(i+1, end)
	if i >= end || p.src[i] != ')' {
		p.fail(i, "#set needs a closing )")
	}
	return &setNode{off: off, lhs: lhs, rhs: rhs, override: override}, p.eatNewline(i+1, end)
}

// overridePath returns the dotted name of an assignable $context override (DG
// apigateway-override-request-response-parameters.md), or "".
func overridePath(r *refExpr) string {
	var names []string
	for _, part := range r.parts {
		if part.kind != partProp {
			return ""
		}
		names = append(names, part.name)
	}
	switch {
	case len(names) == 2 && names[0] == "responseOverride" && names[1] == "status":
	case len(names) == 3 && names[0] == "responseOverride" && names[1] == "header":
	case len(names) == 3 && names[0] == "requestOverride" && (names[1] == "header" || names[1] == "querystring" || names[1] == "path"):
	default:
		return ""
	}
	return strings.Join(names, ".")
}

func (p *parser) condition(off, i, end int, what string) (expr, int) {
	j, ok := p.leftParen(i, end)
	if !ok {
		p.fail(off, "%s needs a (condition)", what)
	}
	e, j := p.expr(j, end)
	if j >= end || p.src[j] != ')' {
		p.fail(j, "%s condition needs a closing )", what)
	}
	return e, p.eatNewline(j+1, end)
}

func (p *parser) ifDirective(off, i, end int) (node, int) {
	p.enter(off)
	defer p.leave()
	n := &ifNode{off: off}
	cond, i := p.condition(off, i, end, "#if")
	for {
		body, term, toff, next := p.statements(i, end, true)
		n.conds = append(n.conds, cond)
		n.blocks = append(n.blocks, body)
		switch term {
		case "end":
			return n, next
		case "elseif":
			cond, i = p.condition(toff, next, end, "#elseif")
			continue
		case "else":
			body, term, _, next = p.statements(next, end, true)
			n.blocks = append(n.blocks, body)
			if term != "end" {
				if term == "" {
					p.fail(off, "#if without #end")
				}
				p.fail(off, "#%s after #else", term)
			}
			return n, next
		default:
			p.fail(off, "#if without #end")
		}
	}
}

func (p *parser) foreachDirective(off, i, end int) (node, int) {
	p.enter(off)
	defer p.leave()
	j, ok := p.leftParen(i, end)
	if !ok {
		p.fail(off, "#foreach needs ($item in collection)")
	}
	j = p.skipWS(j, end)
	if j >= end || p.src[j] != '$' {
		p.fail(j, "#foreach needs a loop variable")
	}
	v, j, ok := p.reference(j, end)
	if !ok || len(v.parts) > 0 {
		p.fail(j, "#foreach needs a simple loop variable")
	}
	k := p.skipWS(j, end)
	if k == j || !strings.HasPrefix(p.src[k:end], "in") || k+2 >= end || !isWS(p.src[k+2]) {
		p.fail(k, "#foreach needs 'in' after the loop variable")
	}
	iter, k := p.param(k+2, end)
	if k >= end || p.src[k] != ')' {
		p.fail(k, "#foreach needs a closing )")
	}
	n := &foreachNode{off: off, slot: v.slot, varSrc: v.src, iter: iter}
	body, term, _, next := p.statements(p.eatNewline(k+1, end), end, true)
	if term != "end" {
		if term == "" {
			p.fail(off, "#foreach without #end")
		}
		p.fail(off, "#%s inside #foreach without #if", term)
	}
	n.body = body
	return n, next
}

// Expressions (inside #set, #if, #elseif).

var wordOps = map[string]string{"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

// op reads an operator at i (after whitespace); "" when none.
func (p *parser) op(i, end int) (string, int) {
	i = p.skipWS(i, end)
	if i >= end {
		return "", i
	}
	s := p.src[i:end]
	for _, o := range []string{"&&", "||", "==", "!=", "<=", ">="} {
		if strings.HasPrefix(s, o) {
			return o, i + 2
		}
	}
	switch s[0] {
	case '<', '>', '+', '-', '*', '/', '%', '!':
		return string(s[0]), i + 1
	}
	if isLetter(s[0]) {
		j := i
		for j < end && isWordChar(p.src[j]) {
			j++
		}
		if o, ok := wordOps[p.src[i:j]]; ok {
			return o, j
		}
	}
	return "", i
}

func (p *parser) expr(i, end int) (expr, int) {
	p.enter(i)
	defer p.leave()
	return p.binary(i, end, 0)
}

var precedence = [][]string{{"||"}, {"&&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"+", "-"}, {"*", "/", "%"}}

func (p *parser) binary(i, end, level int) (expr, int) {
	if level == len(precedence) {
		return p.unary(i, end)
	}
	l, i := p.binary(i, end, level+1)
	for {
		o, j := p.op(i, end)
		found := false
		for _, c := range precedence[level] {
			if o == c {
				found = true
			}
		}
		if !found {
			return l, i
		}
		r, k := p.binary(j, end, level+1)
		l = &binExpr{off: i, op: o, l: l, r: r}
		i = k
	}
}

func (p *parser) unary(i, end int) (expr, int) {
	o, j := p.op(i, end)
	if o == "!" {
		p.enter(i)
		x, k := p.unary(j, end)
		p.leave()
		return &notExpr{off: i, x: x}, k
	}
	i = p.skipWS(i, end)
	if i < end && p.src[i] == '(' {
		e, k := p.expr(i+1, end)
		k = p.skipWS(k, end)
		if k >= end || p.src[k] != ')' {
			p.fail(i, "unclosed (")
		}
		return e, p.skipWS(k+1, end)
	}
	return p.param(i, end)
}

// checkRef reports unsupported $util methods, unknown $input members and methods no value type implements.
func (p *parser) checkRef(r *refExpr) {
	if len(r.parts) == 0 {
		return
	}
	first := &r.parts[0]
	switch r.slot {
	case slotUtil:
		if first.kind == partMethod && !utilMethods[first.name] {
			p.report(first.off, "$util."+first.name, "unknown $util method")
		}
	case slotInput:
		switch {
		case first.kind == partProp && first.name == "body":
		case first.kind == partMethod && (first.name == "params" || first.name == "json" || first.name == "path"):
			if first.name != "params" && len(first.args) == 1 {
				if lit, ok := first.args[0].(*litExpr); ok {
					if s, ok := lit.v.(string); ok {
						jp, err := compileJSONPath(s)
						if err != nil {
							p.report(first.off, "JSONPath", err.Error())
						}
						first.path = jp
					}
				}
			}
		default:
			p.report(first.off, "$input."+first.name, "unknown $input member")
		}
	}
	for k, part := range r.parts {
		if part.kind != partMethod {
			continue
		}
		if k == 0 && (r.slot == slotUtil || r.slot == slotInput) {
			continue
		}
		if !valueMethods[part.name] {
			p.report(part.off, "."+part.name+"()", "method not implemented")
		}
	}
}

// parseSubstitution splits a gateway-response template into text and $context / $stageVariables references.
func parseSubstitution(src string) []node {
	var nodes []node
	start := 0
	for i := 0; i < len(src); i++ {
		if src[i] != '$' {
			continue
		}
		j := i + 1
		formal := j < len(src) && src[j] == '{'
		if formal {
			j++
		}
		var slot int
		switch {
		case strings.HasPrefix(src[j:], "context."):
			slot, j = slotContext, j+len("context.")
		case strings.HasPrefix(src[j:], "stageVariables."):
			slot, j = slotStageVariables, j+len("stageVariables.")
		default:
			continue
		}
		k := j
		for k < len(src) && (isIdentChar(src[k]) || src[k] == '.' && k+1 < len(src) && isLetter(src[k+1])) {
			k++
		}
		if k == j {
			continue
		}
		if formal {
			if k >= len(src) || src[k] != '}' {
				continue
			}
			k++
		}
		name := src[j:k]
		if formal {
			name = src[j : k-1]
		}
		if start < i {
			nodes = append(nodes, &textNode{text: src[start:i]})
		}
		r := &refExpr{off: i, slot: slot, name: builtinNames[slot], src: src[i:k]}
		r.parts = []refPart{{kind: partProp, off: j, name: name}}
		nodes = append(nodes, &refNode{r: r, literal: r.src})
		start, i = k, k-1
	}
	if start < len(src) {
		nodes = append(nodes, &textNode{text: src[start:]})
	}
	return nodes
}
