package lambdaproxy

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// The function output parser: one pass over the function's JSON into spans of an arena, validating API Gateway's
// output rules (OUT-5..OUT-11) as it goes; response() turns the spans into the client response.

// outSpan is a piece of outputParser.arena.
type outSpan struct{ off, end int }

type outHeader struct {
	name, value outSpan
	// merge is the index of the multiValueHeaders entry this header joins (OUT-9), -1 when none; next is the
	// next header joining the same entry.
	merge, next int
}

type outMulti struct {
	name outSpan
	// vals indexes outputParser.mvals.
	first, n int
}

// outputParser reads a function output (OUT-5..OUT-11) in one pass over the payload, without building a generic
// JSON tree. All decoded header text goes into one arena that becomes one string, so a typical output costs a
// handful of allocations. Parsers are pooled.
type outputParser struct {
	in  []byte
	pos int

	arena   []byte
	headers []outHeader
	multi   []outMulti
	mvals   []outSpan
	joins   []int // per multi entry, the first header joining it (-1: none)

	status    int // 0: absent
	body      []byte
	base64    bool
	scratch   [32]byte
	byName    map[string]int // exact header name → index in headers, for outputs with many headers
	multiName map[string]int // exact multiValueHeaders name → index in multi

	// pooled is set for ConvertResponsePooled: the response, its header text and an unescaped body are built in
	// the parser's own memory (resp, arena, unescaped) and live until PooledResponse.Release.
	pooled    bool
	resp      outResponseAlloc
	respLines int // the lines of resp.h the response holds
	unescaped []byte
}

var outParserPool = sync.Pool{New: func() any { return new(outputParser) }}

func (p *outputParser) release() {
	if cap(p.arena) > 64<<10 || cap(p.headers) > 1024 || cap(p.mvals) > 1024 || cap(p.multi) > 1024 || cap(p.joins) > 1024 ||
		cap(p.unescaped) > 64<<10 {
		return // do not keep huge buffers alive
	}
	p.in, p.body = nil, nil
	p.byName, p.multiName = nil, nil
	if p.pooled {
		// The request's strings and the payload: only the header lines a response used hold any (≈ 50
		// instructions fewer than zeroing the whole; callgrind, Dec 2026).
		clear(p.resp.h[:min(p.respLines, len(p.resp.h))])
		p.resp.r, p.respLines = Response{}, 0
		p.pooled = false
	}
	outParserPool.Put(p)
}

func (p *outputParser) reset(in []byte) {
	p.in, p.pos = in, 0
	p.arena = p.arena[:0]
	p.headers = p.headers[:0]
	p.multi = p.multi[:0]
	p.mvals = p.mvals[:0]
	p.status, p.body, p.base64 = 0, nil, false
	p.byName, p.multiName = nil, nil // the linear search is cheaper for the usual few headers
}

const (
	outKeyUnknown = iota
	outKeyStatusCode
	outKeyHeaders
	outKeyMultiValueHeaders
	outKeyBody
	outKeyIsBase64Encoded
)

func outKeyID(k []byte) int {
	switch string(k) {
	case "statusCode":
		return outKeyStatusCode
	case "headers":
		return outKeyHeaders
	case "multiValueHeaders":
		return outKeyMultiValueHeaders
	case "body":
		return outKeyBody
	case "isBase64Encoded":
		return outKeyIsBase64Encoded
	}
	return outKeyUnknown
}

// knownKey reads a key written plainly — one of the five, quotes included, at p.pos — and returns its id, or -1
// (p unmoved) for any other text, which parse then reads as a string. Scanning the key as a string and then
// matching it was ≈ 0.6k of the ≈ 9.6k instructions of converting REF-OUTPUT (callgrind, Dec 2026).
func (p *outputParser) knownKey() int {
	in := p.in[p.pos:]
	if len(in) < 6 || in[0] != '"' {
		return -1
	}
	// Each comparison with a constant of its own, which the compiler makes a few word compares.
	n, id := 0, -1
	switch in[1] {
	case 's':
		if len(in) >= 12 && string(in[:12]) == `"statusCode"` {
			n, id = 12, outKeyStatusCode
		}
	case 'h':
		if len(in) >= 9 && string(in[:9]) == `"headers"` {
			n, id = 9, outKeyHeaders
		}
	case 'm':
		if len(in) >= 19 && string(in[:19]) == `"multiValueHeaders"` {
			n, id = 19, outKeyMultiValueHeaders
		}
	case 'b':
		if string(in[:6]) == `"body"` {
			n, id = 6, outKeyBody
		}
	case 'i':
		if len(in) >= 17 && string(in[:17]) == `"isBase64Encoded"` {
			n, id = 17, outKeyIsBase64Encoded
		}
	}
	p.pos += n
	return id
}

// parse reads the whole payload; false means 502 (OUT-5: not JSON, not an object, an unknown key, or a value of
// the wrong type). A key given twice keeps its last value, as JSON object readers do.
func (p *outputParser) parse(in []byte) bool {
	p.reset(in)
	p.skipWS()
	if !p.consume('{') {
		return false
	}
	p.skipWS()
	if p.consume('}') {
		return p.atEnd()
	}
	for {
		key := p.knownKey()
		if key < 0 {
			raw, escaped, ok := p.scanString()
			if !ok {
				return false
			}
			if escaped {
				// Keys are compared after unescaping ("status\u0043ode" is statusCode); no valid key is longer than
				// the scratch buffer.
				if len(raw) > 6*len(p.scratch) {
					return false
				}
				raw = outAppendUnescaped(p.scratch[:0], raw)
			}
			key = outKeyID(raw)
		}
		if !p.colon() {
			return false
		}
		var ok bool
		switch key {
		case outKeyStatusCode:
			ok = p.parseStatus()
		case outKeyHeaders:
			ok = p.parseHeaders()
		case outKeyMultiValueHeaders:
			ok = p.parseMultiValueHeaders()
		case outKeyBody:
			ok = p.parseBody()
		case outKeyIsBase64Encoded:
			ok = p.parseBase64Flag()
		default:
			ok = false // OUT-5: any other key
		}
		if !ok {
			return false
		}
		switch p.separator() {
		case ',':
		case '}':
			return p.atEnd()
		default:
			return false
		}
	}
}

// parseStatus is OUT-6: null/absent → 200; an integer; a string of decimal digits; an integral number; the
// value must be in 200..599.
func (p *outputParser) parseStatus() bool {
	switch c := p.peek(); {
	case c == 'n':
		p.status = 0
		return p.literal("null")
	case c == '"':
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		if escaped {
			if len(raw) > 6*len(p.scratch) {
				return false
			}
			raw = outAppendUnescaped(p.scratch[:0], raw)
		}
		return p.setStatusDigits(raw)
	case c == '-' || c >= '0' && c <= '9':
		raw, integer, ok := p.scanNumber()
		if !ok {
			return false
		}
		if integer {
			return p.setStatusDigits(raw) // a leading '-' fails the digit check: out of range anyway
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) || f < 200 || f > 599 {
			return false // a fractional part (OUT-6, Low)
		}
		p.status = int(f)
		return true
	}
	return false
}

func (p *outputParser) setStatusDigits(d []byte) bool {
	if len(d) == 0 {
		return false
	}
	for len(d) > 1 && d[0] == '0' {
		d = d[1:]
	}
	if len(d) > 3 {
		return false
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	if n < 200 || n > 599 {
		return false
	}
	p.status = n
	return true
}

// parseHeaders is OUT-7.
func (p *outputParser) parseHeaders() bool {
	p.headers = p.headers[:0]
	clear(p.byName)
	if p.peek() == 'n' {
		return p.literal("null")
	}
	return p.parseObject(func(name outSpan) bool {
		v, present, ok := p.headerValue()
		if !ok || !present {
			return ok // a null value omits the header
		}
		if i := p.findHeader(name); i >= 0 {
			p.headers[i].value = v // last one wins, in the first one's place
			return true
		}
		p.headers = append(p.headers, outHeader{name: name, value: v, merge: -1})
		if p.byName != nil {
			p.byName[string(p.text(name))] = len(p.headers) - 1
		}
		return true
	})
}

// parseMultiValueHeaders is OUT-8: values must be arrays (null omits the name), elements follow OUT-7.
func (p *outputParser) parseMultiValueHeaders() bool {
	p.multi = p.multi[:0]
	p.mvals = p.mvals[:0]
	clear(p.multiName)
	if p.peek() == 'n' {
		return p.literal("null")
	}
	return p.parseObject(func(name outSpan) bool {
		switch p.peek() {
		case 'n':
			return p.literal("null") // [proxyplus decision] (Low): like a null header value
		case '[':
		default:
			return false // a bare string, number, object... (OUT-8)
		}
		p.pos++
		first := len(p.mvals)
		p.skipWS()
		if !p.consume(']') {
			for {
				v, present, ok := p.headerValue()
				if !ok {
					return false
				}
				if present {
					p.mvals = append(p.mvals, v)
				}
				c := p.separator()
				if c == ']' {
					break
				}
				if c != ',' {
					return false
				}
			}
		}
		m := outMulti{name: name, first: first, n: len(p.mvals) - first}
		if i := p.findMulti(name); i >= 0 {
			p.multi[i].first, p.multi[i].n = m.first, m.n
			return true
		}
		p.multi = append(p.multi, m)
		if p.multiName != nil {
			p.multiName[string(p.text(name))] = len(p.multi) - 1
		}
		return true
	})
}

// parseObject reads an object of header names (at '{'), calling value for each name with p at the value.
func (p *outputParser) parseObject(value func(name outSpan) bool) bool {
	if !p.consume('{') {
		return false // headers/multiValueHeaders that is not an object
	}
	p.skipWS()
	if p.consume('}') {
		return true
	}
	for {
		// The name read into the arena here rather than through a method, which was not inlined: the call was ≈ 25
		// instructions a string (callgrind, Dec 2026).
		off := len(p.arena)
		var ok bool
		p.arena, p.pos, ok = outAppendString(p.arena, p.in, p.pos)
		if !ok {
			return false
		}
		name := outSpan{off, len(p.arena)}
		if !outValidHeaderName(p.text(name)) {
			return false // [proxyplus decision] (Low): Envoy could not send it
		}
		if !p.colon() {
			return false
		}
		if !value(name) {
			return false
		}
		switch p.separator() {
		case ',':
		case '}':
			return true
		default:
			return false
		}
	}
}

// headerValue reads one header value (OUT-7): a string; a boolean rendered true/false; a number in its JSON text;
// null → not present; anything else fails.
func (p *outputParser) headerValue() (v outSpan, present, ok bool) {
	switch c := p.peek(); {
	case c == '"':
		// The value read into the arena here (as the name in parseObject).
		off := len(p.arena)
		var ok bool
		p.arena, p.pos, ok = outAppendString(p.arena, p.in, p.pos)
		if !ok {
			return outSpan{}, false, false
		}
		v := outSpan{off, len(p.arena)}
		// CR, LF, NUL and other controls cannot be sent (Envoy rejects them): the output is malformed.
		// [proxyplus decision] (Low)
		return v, true, outValidHeaderValue(p.text(v))
	case c == 't':
		if !p.literal("true") {
			return outSpan{}, false, false
		}
		return p.appendLiteral("true"), true, true
	case c == 'f':
		if !p.literal("false") {
			return outSpan{}, false, false
		}
		return p.appendLiteral("false"), true, true
	case c == 'n':
		return outSpan{}, false, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		raw, _, ok := p.scanNumber()
		if !ok {
			return outSpan{}, false, false
		}
		return p.appendText(raw, false), true, true
	}
	return outSpan{}, false, false // object, array or not JSON
}

// parseBody is OUT-10: a string, or null.
func (p *outputParser) parseBody() bool {
	switch p.peek() {
	case 'n':
		p.body = nil
		return p.literal("null")
	case '"':
		if p.pooled {
			// Read in one pass into the parser's own buffer (outAppendString).
			var ok bool
			p.unescaped, p.pos, ok = outAppendString(p.unescaped[:0], p.in, p.pos)
			p.body = p.unescaped
			return ok
		}
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		switch {
		case escaped:
			p.body = outAppendUnescaped(make([]byte, 0, len(raw)), raw)
		default:
			p.body = raw // shares the payload
		}
		return true
	}
	return false
}

// parseBase64Flag is OUT-11: a boolean; null counts as absent; anything else (including "true") fails (OPEN-5).
func (p *outputParser) parseBase64Flag() bool {
	switch p.peek() {
	case 't':
		p.base64 = true
		return p.literal("true")
	case 'f':
		p.base64 = false
		return p.literal("false")
	case 'n':
		p.base64 = false
		return p.literal("null")
	}
	return false
}

// findHeader and findMulti compare the usual few names directly, lengths first (through findName's function
// value, every comparison was an indirect call and a memequal: ≈ 0.3k instructions per REF-OUTPUT, callgrind,
// Dec 2026).
func (p *outputParser) findHeader(name outSpan) int {
	if p.byName == nil && len(p.headers) < 16 {
		key := p.arena[name.off:name.end]
		for i := range p.headers {
			if h := p.headers[i].name; h.end-h.off == len(key) && string(p.arena[h.off:h.end]) == string(key) {
				return i
			}
		}
		return -1
	}
	return p.findName(name, len(p.headers), func(i int) outSpan { return p.headers[i].name }, &p.byName)
}

func (p *outputParser) findMulti(name outSpan) int {
	if p.multiName == nil && len(p.multi) < 16 {
		key := p.arena[name.off:name.end]
		for i := range p.multi {
			if m := p.multi[i].name; m.end-m.off == len(key) && string(p.arena[m.off:m.end]) == string(key) {
				return i
			}
		}
		return -1
	}
	return p.findName(name, len(p.multi), func(i int) outSpan { return p.multi[i].name }, &p.multiName)
}

// findName finds an entry by exact name: a linear scan for the usual few entries, an index built on first use
// past 16 (an output with very many headers stays linear in its size).
func (p *outputParser) findName(name outSpan, n int, nameAt func(int) outSpan, index *map[string]int) int {
	key := p.text(name)
	if *index == nil && n < 16 {
		for i := 0; i < n; i++ {
			if bytes.Equal(p.text(nameAt(i)), key) {
				return i
			}
		}
		return -1
	}
	if *index == nil {
		*index = make(map[string]int, 2*n)
	}
	if len(*index) == 0 {
		for i := 0; i < n; i++ {
			if _, dup := (*index)[string(p.text(nameAt(i)))]; !dup {
				(*index)[string(p.text(nameAt(i)))] = i
			}
		}
	}
	if i, ok := (*index)[string(key)]; ok {
		return i
	}
	return -1
}

// Header classes of OUT-14.
const (
	outHdrPass = iota
	outHdrRemap
	outHdrDrop
	outHdrContentType
)

// outHeaderClass is the Lambda column of the header table (OUT-14), by case-insensitive name. Names are tokens
// (parseObject checks them), ASCII: evEqualFold, without strings.EqualFold's Unicode cases (≈ 0.4k instructions per
// REF-OUTPUT, callgrind, Dec 2026).
func outHeaderClass(name string) int {
	if name == "" {
		return outHdrPass
	}
	// The first letter lower-cased (a byte that is no letter never becomes one) rules out most names before
	// evEqualFold is called: ≈ 0.1k instructions per REF-OUTPUT (callgrind, Dec 2026).
	c := name[0] | 0x20
	switch len(name) {
	case 2:
		if c == 't' && evEqualFold(name, "te") {
			return outHdrDrop
		}
	case 3:
		if c == 'v' && evEqualFold(name, "via") {
			return outHdrDrop
		}
	case 4:
		switch {
		case c == 'd' && evEqualFold(name, "date"):
			return outHdrRemap
		case c == 'h' && evEqualFold(name, "host"):
			return outHdrDrop
		}
	case 6:
		switch {
		case c == 's' && evEqualFold(name, "server"):
			return outHdrRemap
		case c == 'e' && evEqualFold(name, "expect"):
			return outHdrDrop
		}
	case 7:
		switch {
		case c == 't' && evEqualFold(name, "trailer"), c == 'u' && evEqualFold(name, "upgrade"):
			return outHdrDrop
		}
	case 10:
		switch {
		case c == 'c' && evEqualFold(name, "connection"), c == 'u' && evEqualFold(name, "user-agent"):
			return outHdrRemap
		}
	case 11:
		if c == 'c' && evEqualFold(name, "content-md5") {
			return outHdrRemap
		}
	case 12:
		switch {
		case c == 'c' && evEqualFold(name, "content-type"):
			return outHdrContentType
		case c == 'm' && evEqualFold(name, "max-forwards"):
			return outHdrRemap
		}
	case 13:
		if c == 'a' && evEqualFold(name, "authorization") {
			return outHdrRemap
		}
	case 14:
		// Never forwarded: the length is that of the final body.
		if c == 'c' && evEqualFold(name, "content-length") {
			return outHdrDrop
		}
	case 16:
		switch {
		case c == 'w' && evEqualFold(name, "www-authenticate"), c == 'x' && evEqualFold(name, "x-amzn-requestid"):
			return outHdrRemap
		}
	case 17:
		if c == 't' && evEqualFold(name, "transfer-encoding") {
			return outHdrDrop
		}
	case 18:
		if c == 'p' && evEqualFold(name, "proxy-authenticate") {
			return outHdrDrop
		}
	}
	return outHdrPass
}

// outRemappedPrefix is prepended to a remapped name, which keeps the function's spelling (OUT-14).
const outRemappedPrefix = "x-amzn-Remapped-"

// response assembles the function's response (OUT-9, OUT-14, OUT-15).
func (p *outputParser) response(body []byte, c *Context) *Response {
	clOff := len(p.arena)
	p.arena = strconv.AppendInt(p.arena, int64(len(body)), 10) // Content-Length, without an allocation of its own
	var text string
	if p.pooled {
		// The arena is not written again until the parser is released (PooledResponse.Release).
		text = unsafe.String(unsafe.SliceData(p.arena), len(p.arena))
	} else {
		text = string(p.arena)
	}
	contentLength := text[clOff:]
	str := func(s outSpan) string { return text[s.off:s.end] }

	// Each headers entry joins the first multiValueHeaders entry with the same name, compared case-insensitively.
	var multiLower map[string]int
	if len(p.multi) > 16 && len(p.headers) > 0 {
		multiLower = make(map[string]int, len(p.multi))
		for i := len(p.multi) - 1; i >= 0; i-- {
			multiLower[strings.ToLower(str(p.multi[i].name))] = i
		}
	}
	p.joins = p.joins[:0]
	for range p.multi {
		p.joins = append(p.joins, -1)
	}
	for i := range p.headers {
		h := &p.headers[i]
		h.merge = -1
		if len(p.multi) == 0 {
			continue
		}
		name := str(h.name)
		if multiLower != nil {
			if j, ok := multiLower[strings.ToLower(name)]; ok {
				h.merge = j
			}
		} else {
			for j := range p.multi {
				if evEqualFold(str(p.multi[j].name), name) { // tokens: ASCII (outHeaderClass)
					h.merge = j
					break
				}
			}
		}
	}
	for i := len(p.headers) - 1; i >= 0; i-- { // chain the joining headers of each entry, in headers order
		if h := &p.headers[i]; h.merge >= 0 {
			h.next, p.joins[h.merge] = p.joins[h.merge], i
		}
	}

	var r *Response
	var hdrs [][2]string
	switch lines := len(p.mvals) + len(p.headers) + 5; {
	case lines <= len(outResponseAlloc{}.h) && p.pooled:
		r, hdrs = &p.resp.r, p.resp.h[:0]
	case lines <= len(outResponseAlloc{}.h):
		out := &outResponseAlloc{}
		r, hdrs = &out.r, out.h[:0]
	default:
		r, hdrs = &Response{}, make([][2]string, 0, lines)
	}
	contentType := false
	add := func(name, value string) {
		switch outHeaderClass(name) {
		case outHdrDrop:
			return
		case outHdrRemap:
			name = outRemappedPrefix + name
		case outHdrContentType:
			contentType = true
		}
		hdrs = append(hdrs, [2]string{name, value})
	}

	for j, m := range p.multi {
		name := str(m.name)
		vals := p.mvals[m.first : m.first+m.n]
		for _, v := range vals {
			add(name, str(v))
		}
		var set map[string]struct{}
		for i := p.joins[j]; i >= 0; i = p.headers[i].next {
			// The headers value joins the multiValueHeaders values unless it is one of them (OUT-9).
			hv := str(p.headers[i].value)
			if len(vals) > 32 {
				// Bound the work on adversarial outputs: one set per long value list.
				if set == nil {
					set = make(map[string]struct{}, len(vals))
					for _, v := range vals {
						set[str(v)] = struct{}{}
					}
				}
				if _, dup := set[hv]; !dup {
					add(name, hv)
				}
				continue
			}
			if !outContainsValue(text, vals, hv) {
				add(name, hv)
			}
		}
	}
	for i := range p.headers {
		if p.headers[i].merge < 0 {
			add(str(p.headers[i].name), str(p.headers[i].value))
		}
	}

	if !contentType {
		hdrs = append(hdrs, [2]string{"Content-Type", "application/json"})
	}
	hdrs = append(hdrs, [2]string{"Content-Length", contentLength})
	hdrs = outAppendGatewayIDs(hdrs, c)
	if c.TraceID != "" {
		hdrs = append(hdrs, [2]string{"X-Amzn-Trace-Id", c.TraceID})
	}

	if p.pooled && r == &p.resp.r {
		p.respLines = len(hdrs)
	}
	status := p.status
	if status == 0 {
		status = 200
	}
	*r = Response{StatusCode: status, Headers: hdrs, Body: body, Details: DetailsLambdaOK}
	return r
}

// outResponseAlloc puts a response and room for its usual headers in one allocation.
type outResponseAlloc struct {
	r Response
	h [12][2]string
}

func outContainsValue(text string, vals []outSpan, v string) bool {
	for _, s := range vals {
		if text[s.off:s.end] == v {
			return true
		}
	}
	return false
}
