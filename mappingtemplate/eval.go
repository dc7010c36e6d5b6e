package mappingtemplate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// strReg is returned instead of a string value that is held in evaluator.sreg: references rendered straight to
// the output (the common case: "$context.stage", "$util.escapeJavaScript(...)") then never box the string into an
// interface, which would allocate. Only property, call and walk return it; every other consumer goes through
// evalRef, which boxes.
var strReg any = &struct{ byte }{}

type inputObj struct{}
type utilObj struct{}

// contextObj is $context or one of its sub-objects ($context.identity): the keys of Input.Context under prefix.
type contextObj struct{ prefix string }

var (
	theInput   = &inputObj{}
	theUtil    = &utilObj{}
	theContext = &contextObj{}
)

type evaluator struct {
	t            *Template
	in           *Input
	lim          Limits
	out          []byte
	base         int // len(out) before this evaluation
	vars         []any
	steps        int
	valueBytes   int
	depth        int
	stopped      bool
	breaking     bool
	inString     int               // > 0 while an interpolated string renders into out
	sreg         string            // the string behind strReg
	ov           map[string]string // $context.requestOverride / responseOverride assignments, by dotted name
	foreachChunk []foreachObj
	maps         []smallMap
	mapsUsed     int
	lists        []smallList
	listsUsed    int
	foreachUsed  int
	argStack     []any // method arguments, a stack shared by nested calls
	at           int   // offset of the node being evaluated, for limit errors

	bodyDone  bool
	body      any
	bodyErr   error
	params    *vmap
	stageVars *vmap
	regexps   map[string]*regexp.Regexp
}

// abort carries an evaluation error through panics to render.
type abort struct{ err error }

var evaluators = sync.Pool{New: func() any { return new(evaluator) }}

func (t *Template) render(dst []byte, in *Input, lim Limits) ([]byte, error) {
	return t.renderWith(dst, in, lim, nil)
}

// renderWith evaluates the template; when ovOut is not nil it receives the overrides assigned.
func (t *Template) renderWith(dst []byte, in *Input, lim Limits, ovOut **Overrides) (out []byte, err error) {
	ev := evaluators.Get().(*evaluator)
	vars := ev.vars[:0]
	for range t.slots {
		vars = append(vars, nil)
	}
	*ev = evaluator{t: t, in: in, lim: lim, out: dst, base: len(dst), vars: vars, argStack: ev.argStack[:0],
		foreachChunk: ev.foreachChunk, maps: ev.maps, lists: ev.lists}
	ev.vars[slotInput] = theInput
	ev.vars[slotContext] = theContext
	ev.vars[slotUtil] = theUtil
	ev.vars[slotStageVariables] = stageVarsSentinel
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			out, err = ev.out, a.err
		}
		if ovOut != nil && ev.ov != nil {
			*ovOut = ev.overrides()
		}
		clear(ev.vars)
		clear(ev.maps[:ev.mapsUsed]) // drop the values (and the body they may point into)
		clear(ev.lists[:ev.listsUsed])
		clear(ev.foreachChunk[:ev.foreachUsed])
		clear(ev.argStack[:cap(ev.argStack)])
		ev.ov = nil
		ev.t, ev.in, ev.out, ev.body, ev.params, ev.stageVars, ev.regexps = nil, nil, nil, nil, nil, nil, nil
		evaluators.Put(ev)
	}()
	ev.block(t.root)
	return ev.out, nil
}

// stageVarsSentinel stands for $stageVariables until it is first used (then built from Input.StageVariables).
var stageVarsSentinel = &struct{ stageVarsMarker }{}

type stageVarsMarker struct{}

func (ev *evaluator) pos(off int) Pos { return posIn(ev.t.lineStarts, off) }

func (ev *evaluator) fail(off int, unsupported bool, format string, args ...any) {
	panic(abort{&RuntimeError{Template: ev.t.name, Pos: ev.pos(off), Msg: fmt.Sprintf(format, args...), Unsupported: unsupported}})
}

func (ev *evaluator) limit(which string, max int) {
	panic(abort{&LimitError{Template: ev.t.name, Pos: ev.pos(ev.curOff()), Limit: which, Max: max}})
}

func (ev *evaluator) curOff() int { return ev.at }

func (ev *evaluator) step() {
	ev.steps++
	if ev.steps > ev.lim.MaxSteps {
		ev.limit("MaxSteps", ev.lim.MaxSteps)
	}
}

// work charges n bytes of reading (scanning, comparing, matching) to the step budget: one step per 64 bytes, so
// operations on large values cannot multiply the time a step stands for.
func (ev *evaluator) work(n int) {
	ev.steps += n >> 6
	if ev.steps > ev.lim.MaxSteps {
		ev.limit("MaxSteps", ev.lim.MaxSteps)
	}
}

func (ev *evaluator) charge(n int) {
	ev.valueBytes += n
	if ev.valueBytes > ev.lim.MaxValueBytes {
		ev.limit("MaxValueBytes", ev.lim.MaxValueBytes)
	}
}

func (ev *evaluator) write(s string) {
	if ev.inString > 0 { // rendering an interpolated string: a value, not output
		ev.charge(len(s))
		ev.out = append(ev.out, s...)
		return
	}
	if len(ev.out)-ev.base+len(s) > ev.lim.MaxOutputBytes {
		ev.limit("MaxOutputBytes", ev.lim.MaxOutputBytes)
	}
	ev.out = append(ev.out, s...)
}

func (ev *evaluator) checkOut() {
	if ev.inString > 0 {
		return
	}
	if len(ev.out)-ev.base > ev.lim.MaxOutputBytes {
		ev.limit("MaxOutputBytes", ev.lim.MaxOutputBytes)
	}
}

func (ev *evaluator) block(nodes []node) {
	ev.depth++
	if ev.depth > ev.lim.MaxDepth {
		ev.limit("MaxDepth", ev.lim.MaxDepth)
	}
	for _, n := range nodes {
		if ev.stopped || ev.breaking {
			break
		}
		ev.step()
		switch x := n.(type) {
		case *textNode:
			ev.write(x.text)
		case *refNode:
			ev.at = x.r.off
			ev.renderRef(x)
		case *setNode:
			ev.at = x.off
			ev.set(x)
		case *ifNode:
			ev.at = x.off
			ev.ifElse(x)
		case *foreachNode:
			ev.at = x.off
			ev.foreach(x)
		case *breakNode:
			ev.breaking = true
		case *stopNode:
			ev.stopped = true
		case *unsupportedNode:
			ev.fail(x.off, true, "%s is not supported", x.what)
		}
	}
	ev.depth--
}

func (ev *evaluator) ifElse(n *ifNode) {
	for i, c := range n.conds {
		if truthy(ev.eval(c)) {
			ev.block(n.blocks[i])
			return
		}
	}
	if len(n.blocks) > len(n.conds) {
		ev.block(n.blocks[len(n.blocks)-1])
	}
}

func (ev *evaluator) renderRef(n *refNode) {
	if n.direct != directNone && ev.renderDirect(n) {
		return
	}
	v := ev.walk(n.r, ev.vars[n.r.slot], n.r.parts)
	if n.escaped {
		ev.write(n.escPrefix)
		if v == nil {
			ev.write(`\`)
		}
		ev.write(n.literal)
		return
	}
	if v == nil {
		ev.write(n.escPrefix)
		ev.write(n.escPrefix)
		ev.write(n.literal)
		return
	}
	ev.write(n.escPrefix)
	if v == strReg {
		ev.write(ev.sreg)
		return
	}
	if s, ok := v.(string); ok {
		ev.write(s)
		return
	}
	mark := len(ev.out)
	ev.out = ev.appendString(ev.out, v, 0)
	if ev.inString > 0 {
		ev.charge(len(ev.out) - mark)
	}
	ev.checkOut()
}

// renderDirect writes $input.json(p), $util.escapeJavaScript(x), $util.urlEncode(x) and $util.base64Encode(x)
// straight into the output, without building the intermediate string. It reports whether it did.
func (ev *evaluator) renderDirect(n *refNode) bool {
	r := n.r
	if ev.inString > 0 || ev.vars[r.slot] != builtinValue(r.slot) {
		return false
	}
	part := &r.parts[0]
	ev.step()
	if n.direct == directJSON {
		jp := ev.jsonPathArg(part, ev.eval(part.args[0]))
		sel := jp.eval(ev, ev.bodyValue(part.off))
		ev.write(n.escPrefix)
		ev.out = ev.appendJSON(ev.out, sel, 0)
		ev.checkOut()
		return true
	}
	a := ev.eval(part.args[0])
	s, ok := a.(string)
	if !ok {
		if a == nil {
			ev.write(n.escPrefix)
			ev.write(n.escPrefix)
			ev.write(n.literal)
			return true
		}
		s = ev.toString(a)
	}
	ev.write(n.escPrefix)
	switch n.direct {
	case directEscapeJavaScript:
		ev.out = escapeJavaScript(ev.out, s)
	case directURLEncode:
		ev.out = appendURLEncode(ev.out, s)
	case directBase64Encode:
		ev.out = base64.StdEncoding.AppendEncode(ev.out, []byte(s))
	}
	ev.checkOut()
	return true
}

func builtinValue(slot int) any {
	switch slot {
	case slotInput:
		return theInput
	case slotUtil:
		return theUtil
	}
	return nil
}

func (ev *evaluator) set(n *setNode) {
	v := ev.eval(n.rhs)
	if n.override != "" {
		ev.setOverride(n, v)
		return
	}
	if len(n.lhs.parts) == 0 {
		ev.vars[n.lhs.slot] = v
		return
	}
	last := n.lhs.parts[len(n.lhs.parts)-1]
	target := ev.walk(n.lhs, ev.vars[n.lhs.slot], n.lhs.parts[:len(n.lhs.parts)-1])
	if target == strReg {
		target = ev.sreg
	}
	switch x := target.(type) {
	case *vmap:
		switch last.kind {
		case partProp:
			ev.charge(16)
			x.put(last.name, v)
		case partIndex:
			ev.charge(16)
			x.put(ev.toString(ev.eval(last.args[0])), v)
		}
	case *vlist:
		if last.kind == partIndex {
			if i, ok := toInt(ev.eval(last.args[0])); ok && i >= 0 && i < int64(len(x.items)) {
				x.items[i] = v
			}
		}
	case *contextObj:
		ev.fail(n.off, true, "assignments into $context are not supported")
	}
}

func (ev *evaluator) setOverride(n *setNode, v any) {
	if ev.ov == nil {
		ev.ov = map[string]string{}
	}
	if v == nil {
		delete(ev.ov, n.override)
		return
	}
	s := ev.toString(v)
	if n.override == "responseOverride.status" {
		code, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || code < 100 || code > 599 {
			ev.fail(n.off, false, "$context.responseOverride.status = %q is not an HTTP status code", truncate(s))
		}
	}
	ev.charge(len(n.override) + len(s))
	ev.ov[n.override] = s
}

func (ev *evaluator) overrides() *Overrides {
	o := &Overrides{}
	put := func(m *map[string]string, k, v string) {
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = v
	}
	for k, v := range ev.ov {
		switch {
		case k == "responseOverride.status":
			o.Status, _ = strconv.Atoi(strings.TrimSpace(v))
		case strings.HasPrefix(k, "responseOverride.header."):
			put(&o.ResponseHeaders, strings.TrimPrefix(k, "responseOverride.header."), v)
		case strings.HasPrefix(k, "requestOverride.header."):
			put(&o.RequestHeaders, strings.TrimPrefix(k, "requestOverride.header."), v)
		case strings.HasPrefix(k, "requestOverride.querystring."):
			put(&o.RequestQuery, strings.TrimPrefix(k, "requestOverride.querystring."), v)
		case strings.HasPrefix(k, "requestOverride.path."):
			put(&o.RequestPath, strings.TrimPrefix(k, "requestOverride.path."), v)
		}
	}
	return o
}

func (ev *evaluator) foreach(n *foreachNode) {
	var items []any
	switch x := ev.eval(n.iter).(type) {
	case *vlist:
		items = x.items
	case *vmap:
		items = x.vals
	case *contextObj:
		items = ev.contextMap(x.prefix).vals
	default:
		return // null and non-collections: no iterations (Velocity 1.7 logs)
	}
	saved, savedForeach := ev.vars[n.slot], ev.vars[slotForeach]
	savedCount, savedHasNext := ev.vars[slotVelocityCount], ev.vars[slotVelocityHasNext]
	fo := ev.newForeach()
	if p, ok := savedForeach.(*foreachObj); ok {
		fo.parent = p
	}
	for i, it := range items {
		if i >= ev.lim.MaxForeachIterations || ev.stopped {
			break
		}
		ev.step()
		fo.index = i
		fo.hasNext = i+1 < len(items)
		ev.vars[n.slot] = it
		ev.vars[slotForeach] = fo
		ev.vars[slotVelocityCount] = int64(i + 1)
		ev.vars[slotVelocityHasNext] = fo.hasNext
		ev.block(n.body)
		if ev.breaking {
			ev.breaking = false
			break
		}
	}
	ev.vars[n.slot], ev.vars[slotForeach] = saved, savedForeach
	ev.vars[slotVelocityCount], ev.vars[slotVelocityHasNext] = savedCount, savedHasNext
}

// newForeach hands out $foreach objects from a chunk kept with the pooled evaluator (one allocation for many
// loops). They are never reused within an evaluation, so a $foreach kept by #set stays valid.
func (ev *evaluator) newForeach() *foreachObj {
	if ev.foreachUsed == len(ev.foreachChunk) {
		ev.foreachChunk = make([]foreachObj, 8+len(ev.foreachChunk))
		ev.foreachUsed = 0
	}
	fo := &ev.foreachChunk[ev.foreachUsed]
	ev.foreachUsed++
	*fo = foreachObj{}
	return fo
}

func (ev *evaluator) eval(e expr) any {
	ev.step()
	switch x := e.(type) {
	case *litExpr:
		return x.v
	case *refExpr:
		return ev.evalRef(x)
	case *strExpr:
		mark := len(ev.out)
		stopped, breaking := ev.stopped, ev.breaking
		ev.inString++
		ev.block(x.parts)
		ev.inString--
		ev.stopped, ev.breaking = stopped, breaking
		s := string(ev.out[mark:])
		ev.out = ev.out[:mark]
		return s
	case *notExpr:
		return !truthy(ev.eval(x.x))
	case *binExpr:
		return ev.binary(x)
	case *listExpr:
		ev.charge(16 * len(x.items))
		l := ev.newList(len(x.items), false)
		for i, it := range x.items {
			l.items[i] = ev.eval(it)
		}
		return l
	case *mapExpr:
		ev.charge(16 * len(x.keys))
		m := ev.newMap(len(x.keys))
		for i := range x.keys {
			k := ev.eval(x.keys[i])
			v := ev.eval(x.vals[i])
			if k == nil {
				continue
			}
			m.put(ev.toString(k), v)
		}
		return m
	case *rangeExpr:
		lo, ok1 := toInt(ev.eval(x.lo))
		hi, ok2 := toInt(ev.eval(x.hi))
		if !ok1 || !ok2 {
			return nil
		}
		if math.Abs(float64(hi)-float64(lo)) >= float64(ev.lim.MaxValueBytes/16) { // no int64 overflow
			ev.limit("MaxValueBytes", ev.lim.MaxValueBytes)
		}
		n := hi - lo
		if n < 0 {
			n = -n
		}
		ev.charge(16 * int(n+1))
		l := &vlist{items: make([]any, 0, n+1)}
		for v := lo; ; {
			l.items = append(l.items, v)
			if v == hi {
				break
			}
			if lo < hi {
				v++
			} else {
				v--
			}
		}
		return l
	}
	return nil
}

func (ev *evaluator) binary(x *binExpr) any {
	switch x.op {
	case "&&":
		return truthy(ev.eval(x.l)) && truthy(ev.eval(x.r))
	case "||":
		return truthy(ev.eval(x.l)) || truthy(ev.eval(x.r))
	}
	l, r := ev.eval(x.l), ev.eval(x.r)
	switch x.op {
	case "==":
		return ev.valuesEqual(l, r)
	case "!=":
		return !ev.valuesEqual(l, r)
	case "<", "<=", ">", ">=":
		c, ok := compare(l, r)
		if !ok {
			return false
		}
		switch x.op {
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	case "+":
		_, ls := l.(string)
		_, rs := r.(string)
		if (ls || rs) && l != nil && r != nil {
			s := ev.toString(l) + ev.toString(r)
			ev.charge(len(s))
			return s
		}
	}
	if !isNumber(l) || !isNumber(r) {
		return nil
	}
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt {
		switch x.op {
		case "+":
			return li + ri
		case "-":
			return li - ri
		case "*":
			return li * ri
		case "/":
			if ri == 0 {
				return nil
			}
			return li / ri
		case "%":
			if ri == 0 {
				return nil
			}
			return li % ri
		}
		return nil
	}
	lf, rf := toFloat(l), toFloat(r)
	switch x.op {
	case "+":
		return lf + rf
	case "-":
		return lf - rf
	case "*":
		return lf * rf
	case "/":
		if rf == 0 {
			return nil
		}
		return lf / rf
	case "%":
		if rf == 0 {
			return nil
		}
		li, _ := toInt(lf)
		ri, _ := toInt(rf)
		if ri == 0 {
			return nil
		}
		return float64(li % ri)
	}
	return nil
}

func (ev *evaluator) evalRef(r *refExpr) any {
	v := ev.walk(r, ev.vars[r.slot], r.parts)
	if v == strReg {
		return ev.sreg
	}
	return v
}

func (ev *evaluator) walk(r *refExpr, v any, parts []refPart) any {
	if v == stageVarsSentinel {
		v = ev.stageVariables()
	}
	for i := 0; i < len(parts); i++ {
		if v == nil {
			return nil
		}
		if v == strReg {
			v = ev.sreg
		}
		part := &parts[i]
		ev.step()
		if c, ok := v.(*contextObj); ok && c.prefix == "" && part.ctxLast > i && ev.ov == nil {
			// $context.a.b.c: one lookup of "a.b.c" instead of an object per level.
			if s, ok := ev.in.Context[parts[part.ctxLast].ctxKey]; ok {
				ev.sreg, v = s, strReg
				i = part.ctxLast
				continue
			}
		}
		switch part.kind {
		case partProp:
			v = ev.property(v, part.name)
		case partIndex:
			v = ev.index(part, v, ev.eval(part.args[0]))
		case partMethod:
			v = ev.call(part, v)
		}
	}
	return v
}

func (ev *evaluator) stageVariables() *vmap {
	if ev.stageVars == nil {
		ev.stageVars = ev.mapFromStrings(ev.in.StageVariables)
	}
	return ev.stageVars
}

func (ev *evaluator) property(v any, name string) any {
	switch x := v.(type) {
	case *vmap:
		r, _ := x.get(name)
		return r
	case *contextObj:
		if ev.ov == nil {
			if s, ok := ev.in.Context[x.prefix+name]; ok {
				ev.sreg = s
				return strReg
			}
		}
		return ev.contextGet(x.prefix + name)
	case *inputObj:
		if name == "body" {
			ev.sreg = ev.bodyString()
			return strReg
		}
		ev.fail(ev.at, true, "$input.%s is not supported", name)
	case *foreachObj:
		switch name {
		case "hasNext":
			return x.hasNext
		case "index":
			return int64(x.index)
		case "count":
			return int64(x.index + 1)
		case "first":
			return x.index == 0
		case "last":
			return !x.hasNext
		case "parent":
			if x.parent == nil {
				return nil
			}
			return x.parent
		}
	case string:
		if name == "empty" {
			return len(x) == 0
		}
	case *vlist:
		if name == "empty" {
			return len(x.items) == 0
		}
	}
	return nil
}

func (ev *evaluator) index(part *refPart, v, idx any) any {
	switch x := v.(type) {
	case *vlist:
		i, ok := toInt(idx)
		if !ok {
			return nil
		}
		if i < 0 {
			i += int64(len(x.items))
		}
		if i < 0 || i >= int64(len(x.items)) {
			return nil
		}
		return x.items[i]
	case *vmap:
		if idx == nil {
			return nil
		}
		r, _ := x.get(ev.toString(idx))
		return r
	case *contextObj:
		if idx == nil {
			return nil
		}
		return ev.contextGet(x.prefix + ev.toString(idx))
	}
	return nil
}

// bodyString is $input.body. An empty body reads as "{}" (LocalStack's AWS-validated VelocityInput.body).
func (ev *evaluator) bodyString() string {
	if len(ev.in.Body) == 0 {
		return "{}"
	}
	ev.charge(len(ev.in.Body))
	return string(ev.in.Body)
}

func (ev *evaluator) bodyValue(off int) any {
	if !ev.bodyDone {
		ev.bodyDone = true
		if len(bytes.TrimSpace(ev.in.Body)) == 0 {
			ev.body = &vmap{}
		} else {
			ev.body, ev.bodyErr = ev.parseJSON(string(ev.in.Body))
		}
	}
	if ev.bodyErr != nil {
		ev.fail(off, false, "$input: the body is not valid JSON: %v", ev.bodyErr)
	}
	return ev.body
}

func (ev *evaluator) contextGet(key string) any {
	if v, ok := ev.ov[key]; ok {
		return v
	}
	if v, ok := ev.in.Context[key]; ok {
		return v
	}
	if key == "error.messageString" {
		if m, ok := ev.in.Context["error.message"]; ok {
			return string(appendJSONString(nil, m))
		}
	}
	prefix := key + "."
	if key == "" {
		prefix = ""
	}
	ev.work(64 * (len(ev.in.Context) + len(ev.ov)))
	for k := range ev.in.Context {
		if strings.HasPrefix(k, prefix) {
			return &contextObj{prefix: prefix}
		}
	}
	for k := range ev.ov {
		if strings.HasPrefix(k, prefix) {
			return &contextObj{prefix: prefix}
		}
	}
	return nil
}

// contextMap materialises the context object at prefix as a map of its direct children.
func (ev *evaluator) contextMap(prefix string) *vmap {
	keys := make([]string, 0, 8)
	seen := map[string]bool{}
	all := make([]string, 0, len(ev.in.Context)+len(ev.ov))
	for k := range ev.in.Context {
		all = append(all, k)
	}
	for k := range ev.ov {
		all = append(all, k)
	}
	for _, k := range all {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		first, _, _ := strings.Cut(k[len(prefix):], ".")
		if !seen[first] {
			seen[first] = true
			keys = append(keys, first)
		}
	}
	if prefix == "error." && !seen["messageString"] && seen["message"] {
		keys = append(keys, "messageString")
	}
	sort.Strings(keys)
	m := &vmap{}
	for _, k := range keys {
		ev.charge(16 + len(k))
		m.put(k, ev.contextGet(prefix+k))
	}
	return m
}

func (ev *evaluator) paramsMap() *vmap {
	if ev.params == nil {
		m := ev.newMap(3)
		m.put("path", ev.mapFromStrings(ev.in.PathParams))
		m.put("querystring", ev.mapFromStrings(ev.in.QueryParams))
		m.put("header", ev.mapFromStrings(ev.in.Headers))
		ev.params = m
	}
	return ev.params
}

func (ev *evaluator) param(name string) string {
	if v, ok := ev.in.PathParams[name]; ok {
		return v
	}
	if v, ok := ev.in.QueryParams[name]; ok {
		return v
	}
	if v, ok := ev.in.Headers[name]; ok {
		return v
	}
	for k, v := range ev.in.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// args evaluates a call's arguments onto ev.argStack; the caller truncates the stack to start afterwards.
func (ev *evaluator) args(part *refPart) (args []any, start int) {
	start = len(ev.argStack)
	if len(part.args) == 0 {
		return nil, start
	}
	for _, a := range part.args {
		v := ev.eval(a)
		ev.argStack = append(ev.argStack, v)
	}
	return ev.argStack[start:len(ev.argStack):len(ev.argStack)], start
}

func (ev *evaluator) jsonPathArg(part *refPart, a any) *jsonPath {
	if part.path != nil {
		return part.path
	}
	s, ok := a.(string)
	if !ok {
		ev.fail(part.off, false, "$input.%s needs a JSONPath string", part.name)
	}
	jp, err := compileJSONPath(s)
	if err != nil {
		ev.fail(part.off, true, "%v", err)
	}
	return jp
}

func (ev *evaluator) call(part *refPart, v any) any {
	args, start := ev.args(part)
	r := ev.callWith(part, v, args)
	clear(ev.argStack[start:])
	ev.argStack = ev.argStack[:start]
	return r
}

func (ev *evaluator) callWith(part *refPart, v any, args []any) any {
	switch v.(type) {
	case *inputObj, *utilObj:
	default:
		if !valueMethods[part.name] {
			// A Java method this interpreter does not implement (reported by Check): fail rather than render
			// the reference as text where API Gateway would call it.
			ev.fail(part.off, true, ".%s() is not supported", part.name)
		}
	}
	switch x := v.(type) {
	case *inputObj:
		switch part.name {
		case "params":
			if len(args) == 0 {
				return ev.paramsMap()
			}
			if args[0] == nil {
				return nil
			}
			ev.sreg = ev.param(ev.toString(args[0]))
			return strReg
		case "json", "path":
			if len(args) != 1 {
				return nil
			}
			jp := ev.jsonPathArg(part, args[0])
			sel := jp.eval(ev, ev.bodyValue(part.off))
			if part.name == "path" {
				return sel
			}
			b := ev.appendJSON(nil, sel, 0)
			ev.charge(len(b))
			ev.sreg = string(b)
			return strReg
		}
		ev.fail(part.off, true, "$input.%s is not supported", part.name)
	case *utilObj:
		return ev.util(part, args)
	case *contextObj:
		return ev.mapMethod(part, ev.contextMap(x.prefix), args, x)
	case *vmap:
		return ev.mapMethod(part, x, args, nil)
	case *vlist:
		return ev.listMethod(part, x, args)
	case string:
		return ev.stringMethod(part, x, args)
	case int64, float64, bool:
		switch part.name {
		case "toString":
			return ev.toString(x)
		case "equals":
			if len(args) == 1 {
				return ev.valuesEqual(x, args[0]) && fmt.Sprintf("%T", x) == fmt.Sprintf("%T", args[0])
			}
		case "intValue", "longValue":
			if n, ok := toInt(x); ok && isNumber(x) {
				if part.name == "intValue" {
					return int64(int32(n))
				}
				return n
			}
		case "doubleValue":
			if isNumber(x) {
				return toFloat(x)
			}
		case "booleanValue":
			if b, ok := x.(bool); ok {
				return b
			}
		}
	case *foreachObj:
		switch part.name {
		case "hasNext", "getHasNext":
			return x.hasNext
		case "getIndex":
			return int64(x.index)
		case "getCount":
			return int64(x.index + 1)
		case "isFirst":
			return x.index == 0
		case "isLast":
			return !x.hasNext
		case "getParent":
			if x.parent == nil {
				return nil
			}
			return x.parent
		}
	}
	return nil // no such method on this value: null, as Velocity's uberspector
}

func (ev *evaluator) util(part *refPart, args []any) any {
	if !utilMethods[part.name] {
		ev.fail(part.off, true, "$util.%s is not supported", part.name)
	}
	if len(args) != 1 {
		return nil
	}
	if args[0] == nil {
		return nil
	}
	s := ev.toString(args[0])
	switch part.name {
	case "escapeJavaScript":
		b := escapeJavaScript(make([]byte, 0, len(s)+8), s)
		ev.charge(len(b))
		ev.sreg = string(b)
		return strReg
	case "urlEncode":
		r := urlEncode(s)
		ev.charge(len(r))
		ev.sreg = r
		return strReg
	case "urlDecode":
		r, ok := urlDecode(s)
		if !ok {
			ev.fail(part.off, false, "$util.urlDecode: malformed escape in %q", truncate(s))
		}
		ev.charge(len(r))
		return r
	case "base64Encode":
		r := base64.StdEncoding.EncodeToString([]byte(s))
		ev.charge(len(r))
		ev.sreg = r
		return strReg
	case "base64Decode":
		r, ok := base64Decode(s)
		if !ok {
			ev.fail(part.off, false, "$util.base64Decode: invalid base64 %q", truncate(s))
		}
		ev.charge(len(r))
		return r
	case "parseJson":
		v, err := ev.parseJSON(s)
		if err != nil {
			ev.fail(part.off, false, "$util.parseJson: %v", err)
		}
		return v
	}
	ev.fail(part.off, true, "$util.%s is not supported", part.name)
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (ev *evaluator) mapMethod(part *refPart, m *vmap, args []any, ctx *contextObj) any {
	switch part.name {
	case "size":
		return int64(len(m.keys))
	case "isEmpty":
		return len(m.keys) == 0
	case "get":
		if len(args) == 1 && args[0] != nil {
			if ctx != nil {
				return ev.contextGet(ctx.prefix + ev.toString(args[0]))
			}
			r, _ := m.get(ev.toString(args[0]))
			return r
		}
	case "containsKey":
		if len(args) == 1 && args[0] != nil {
			_, ok := m.get(ev.toString(args[0]))
			return ok
		}
	case "containsValue":
		if len(args) == 1 {
			ev.work(64 * len(m.vals))
			for _, v := range m.vals {
				if ev.valuesEqual(v, args[0]) {
					return true
				}
			}
			return false
		}
	case "keySet":
		ev.charge(16 * len(m.keys))
		l := ev.newList(len(m.keys), false)
		for i, k := range m.keys {
			l.items[i] = k
		}
		return l
	case "values":
		ev.charge(16 * len(m.vals))
		return &vlist{items: append([]any(nil), m.vals...)}
	case "put":
		if ctx != nil {
			ev.fail(part.off, true, "assignments into $context are not supported")
		}
		if len(args) == 2 && args[0] != nil {
			ev.charge(16)
			return m.put(ev.toString(args[0]), args[1])
		}
	case "remove":
		if len(args) == 1 && args[0] != nil && ctx == nil {
			return m.remove(ev.toString(args[0]))
		}
	case "toString":
		return ev.toString(m)
	case "equals":
		if len(args) == 1 {
			return ev.valuesEqual(m, args[0])
		}
	}
	return nil
}

func (ev *evaluator) listMethod(part *refPart, l *vlist, args []any) any {
	switch part.name {
	case "size":
		return int64(len(l.items))
	case "isEmpty":
		return len(l.items) == 0
	case "get":
		if len(args) == 1 {
			i, ok := args[0].(int64)
			if !ok {
				return nil
			}
			if i < 0 || i >= int64(len(l.items)) {
				ev.fail(part.off, false, "get(%d): index out of bounds for a list of %d", i, len(l.items))
			}
			return l.items[i]
		}
	case "contains":
		if len(args) == 1 {
			ev.work(64 * len(l.items))
			for _, v := range l.items {
				if ev.valuesEqual(v, args[0]) {
					return true
				}
			}
			return false
		}
	case "indexOf":
		if len(args) == 1 {
			ev.work(64 * len(l.items))
			for i, v := range l.items {
				if ev.valuesEqual(v, args[0]) {
					return int64(i)
				}
			}
			return int64(-1)
		}
	case "add":
		ev.charge(16)
		switch len(args) {
		case 1:
			l.items = append(l.items, args[0])
			return true
		case 2:
			i, ok := args[0].(int64)
			if !ok || i < 0 || i > int64(len(l.items)) {
				ev.fail(part.off, false, "add(%v): index out of bounds for a list of %d", args[0], len(l.items))
			}
			l.items = append(l.items, nil)
			copy(l.items[i+1:], l.items[i:])
			l.items[i] = args[1]
			return nil
		}
	case "set":
		if len(args) == 2 {
			i, ok := args[0].(int64)
			if !ok || i < 0 || i >= int64(len(l.items)) {
				ev.fail(part.off, false, "set(%v): index out of bounds for a list of %d", args[0], len(l.items))
			}
			old := l.items[i]
			l.items[i] = args[1]
			return old
		}
	case "remove":
		if len(args) == 1 {
			if i, ok := args[0].(int64); ok {
				if i < 0 || i >= int64(len(l.items)) {
					ev.fail(part.off, false, "remove(%d): index out of bounds for a list of %d", i, len(l.items))
				}
				old := l.items[i]
				l.items = append(l.items[:i], l.items[i+1:]...)
				return old
			}
			for i, v := range l.items {
				if ev.valuesEqual(v, args[0]) {
					l.items = append(l.items[:i], l.items[i+1:]...)
					return true
				}
			}
			return false
		}
	case "toString":
		return ev.toString(l)
	case "equals":
		if len(args) == 1 {
			return ev.valuesEqual(l, args[0])
		}
	}
	return nil
}

func (ev *evaluator) regexp(part *refPart, pattern string) *regexp.Regexp {
	if re, ok := ev.regexps[pattern]; ok {
		return re
	}
	ev.work(64 * len(pattern))
	re, err := regexp.Compile(pattern)
	if err != nil {
		ev.fail(part.off, true, "regular expression %q: %v (RE2 syntax)", truncate(pattern), err)
	}
	if ev.regexps == nil {
		ev.regexps = map[string]*regexp.Regexp{}
	}
	ev.regexps[pattern] = re
	return re
}

func strArg(args []any, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	s, ok := args[i].(string)
	return s, ok
}

func (ev *evaluator) stringMethod(part *refPart, s string, args []any) any {
	a0, ok0 := strArg(args, 0)
	a1, ok1 := strArg(args, 1)
	ev.work(len(s) + len(a0) + len(a1))
	result := func(r string) any {
		ev.charge(len(r))
		return r
	}
	switch part.name {
	case "length":
		return int64(javaLength(s))
	case "isEmpty":
		return len(s) == 0
	case "toString":
		return s
	case "toLowerCase":
		return result(strings.ToLower(s))
	case "toUpperCase":
		return result(strings.ToUpper(s))
	case "trim":
		return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	case "substring":
		if len(args) == 0 || len(args) > 2 {
			return nil
		}
		b, okb := args[0].(int64)
		e := int64(javaLength(s))
		if len(args) == 2 {
			var oke bool
			e, oke = args[1].(int64)
			if !oke {
				return nil
			}
		}
		if !okb {
			return nil
		}
		r, ok := javaSubstring(s, int(b), int(e))
		if !ok || b > int64(len(s))*2 || e > int64(len(s))*2 {
			ev.fail(part.off, false, "substring(%d, %d): out of range for a string of length %d", b, e, javaLength(s))
		}
		return r
	case "indexOf":
		if ok0 {
			from := int64(0)
			if len(args) == 2 {
				from, _ = args[1].(int64)
			}
			if from > int64(len(s)) {
				return int64(-1)
			}
			return int64(javaIndexOf(s, a0, int(from)))
		}
	case "lastIndexOf":
		if ok0 {
			return int64(javaLastIndexOf(s, a0))
		}
	case "startsWith":
		if ok0 {
			return strings.HasPrefix(s, a0)
		}
	case "endsWith":
		if ok0 {
			return strings.HasSuffix(s, a0)
		}
	case "contains":
		if ok0 {
			return strings.Contains(s, a0)
		}
	case "equals":
		if len(args) == 1 {
			return ok0 && s == a0
		}
	case "equalsIgnoreCase":
		if len(args) == 1 {
			return ok0 && strings.EqualFold(s, a0)
		}
	case "concat":
		if ok0 {
			return result(s + a0)
		}
	case "replace":
		if ok0 && ok1 {
			if a0 == "" && len(s) > 0 {
				ev.charge(len(s) * (len(a1) + 1))
			}
			return result(strings.ReplaceAll(s, a0, a1))
		}
	case "replaceAll", "replaceFirst":
		if ok0 && ok1 {
			re := ev.regexp(part, a0)
			ev.charge(len(s) * (len(a1) + 1))
			repl := javaReplacement(a1)
			if part.name == "replaceAll" {
				return result(re.ReplaceAllString(s, repl))
			}
			done := false
			return result(re.ReplaceAllStringFunc(s, func(m string) string {
				if done {
					return m
				}
				done = true
				return re.ReplaceAllString(m, repl)
			}))
		}
	case "matches":
		if ok0 {
			return ev.regexp(part, "^(?:"+a0+")$").MatchString(s)
		}
	case "split":
		if ok0 {
			parts := ev.regexp(part, a0).Split(s, -1)
			for len(parts) > 0 && parts[len(parts)-1] == "" { // Java drops trailing empty strings
				parts = parts[:len(parts)-1]
			}
			if len(parts) == 0 {
				parts = []string{""}
				if s != "" {
					parts = nil
				}
			}
			ev.charge(16*len(parts) + len(s))
			l := &vlist{items: make([]any, len(parts))}
			for i, p := range parts {
				l.items[i] = p
			}
			return l
		}
	case "charAt":
		if len(args) == 1 {
			i, ok := args[0].(int64)
			r, okr := javaSubstring(s, int(i), int(i)+1)
			if !ok || !okr {
				ev.fail(part.off, false, "charAt(%v): out of range for a string of length %d", args[0], javaLength(s))
			}
			return r
		}
	}
	return nil
}

// javaReplacement converts a java.util.regex replacement ($1, \$) to Go's (${1}, $$).
func javaReplacement(r string) string {
	if !strings.ContainsAny(r, `$\`) {
		return r
	}
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case c == '$':
			j := i + 1
			for j < len(r) && isDigit(r[j]) {
				j++
			}
			if j == i+1 {
				b.WriteString("$$")
				continue
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
