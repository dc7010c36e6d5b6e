package re2

import (
	"errors"
	"regexp/syntax"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxProgramSize is Envoy's default for the runtime key re2.max_program_size.error_level: a safe_regex
// whose RE2 program is larger is refused (source/common/common/regex.cc,
// CompiledGoogleReMatcher::CompiledGoogleReMatcher, main 1.37.0-dev, 321a098d81).
const DefaultMaxProgramSize = 100

// ProgramSize is RE2::ProgramSize(): the number of instructions of RE2's forward program for pattern, compiled
// with RE2's default options (UTF-8, Perl-like syntax), which is how Envoy builds a safe_regex.
//
// It is a port of RE2's compiler (re2/compile.cc: Compiler::PostVisit, the UTF-8 rune range trie with its suffix
// cache, IsAnchorStart/IsAnchorEnd, Compile, Finish) and of re2/prog.cc (Prog::Optimize, Prog::Flatten:
// MarkSuccessors, MarkDominator, EmitList), read at RE2 2024-07-02 (the version Envoy's bazel module pins);
// those functions are unchanged between 2022-06-01 (Debian 12's libre2) and 2024-07-02. The parse tree comes
// from Go's regexp/syntax, itself a port of RE2's parser (same literal-string merging, single-rune classes
// as literals, alternation factoring); where the two parsers disagree (syntax only one of them accepts, or
// a different factoring of an exotic alternation) the result may differ. The regexes proxyplus generates
// (literals, ASCII classes, captures, +, *, ?, lazy forms, anchors, a flat alternation of literals) are
// checked against the real RE2 in the tests built with -tags re2.
func ProgramSize(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, err
	}
	// Regexp::Simplify: CoalesceWalker, then SimplifyWalker (Go's Simplify rewrites repeats the same way).
	re = coalesce(requiredPrefixSuffix(re)).Simplify()
	c := &compiler{runeCache: map[uint64]uint32{}}
	c.allocInst(1) // instruction 0 is kInstFail
	c.inst[0].op = opFail
	anchorStart := isAnchorStart(&re, 0)
	isAnchorEnd(&re, 0) // drops a trailing $; the end anchor is a flag on the program, not an instruction
	all := c.walk(re)
	if c.failed {
		return 0, errors.New("RE2 would fail to compile the pattern (program too large)")
	}
	all = c.cat(all, c.match())
	start := all.begin
	if !anchorStart {
		// Compiler::Compile: the unanchored version starts with a .*? loop.
		all = c.cat(c.star(c.byteRange(0x00, 0xff, false), true), all)
	}
	startUnanchored := all.begin
	if c.failed {
		return 0, errors.New("RE2 would fail to compile the pattern (program too large)")
	}
	p := &prog{inst: c.inst, start: start, startUnanchored: startUnanchored}
	if start == 0 && startUnanchored == 0 {
		// Compiler::Finish: no possible matches; keep the Fail instruction only.
		p.inst = p.inst[:1]
	}
	p.optimize()
	return p.flatten(), nil
}

// requiredPrefixSuffix is what RE2::Init compiles: when the regexp is ^ anchors followed by a literal
// (Regexp::RequiredPrefix, re2/regexp.cc), RE2 matches that literal with memcmp and compiles only the rest,
// without the anchors, so the program then carries the unanchored .*? loop.
func requiredPrefixSuffix(re *syntax.Regexp) *syntax.Regexp {
	if re.Op != syntax.OpConcat {
		return re
	}
	i := 0
	for i < len(re.Sub) && re.Sub[i].Op == syntax.OpBeginText {
		i++
	}
	if i == 0 || i >= len(re.Sub) || re.Sub[i].Op != syntax.OpLiteral {
		return re
	}
	rest := re.Sub[i+1:]
	switch len(rest) {
	case 0:
		return &syntax.Regexp{Op: syntax.OpEmptyMatch, Flags: re.Flags}
	case 1:
		return rest[0]
	}
	return &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: rest}
}

// coalesce is RE2's CoalesceWalker (re2/simplify.cc): in a concatenation, a repeated literal, class or any
// char is merged with a following repeat of it or occurrence of it (x*x+ → x{1,}, /+/ → /{2,}).
func coalesce(re *syntax.Regexp) *syntax.Regexp {
	if len(re.Sub) == 0 {
		return re
	}
	subs := make([]*syntax.Regexp, len(re.Sub))
	for i, s := range re.Sub {
		subs[i] = coalesce(s)
	}
	cp := *re
	cp.Sub = subs
	if re.Op != syntax.OpConcat {
		return &cp
	}
	for i := 0; i+1 < len(subs); i++ {
		if canCoalesce(subs[i], subs[i+1]) {
			subs[i], subs[i+1] = doCoalesce(subs[i], subs[i+1])
		}
	}
	cp.Sub = nil
	for _, s := range subs {
		if s.Op != syntax.OpEmptyMatch {
			cp.Sub = append(cp.Sub, s)
		}
	}
	return &cp
}

func isRepeatOp(op syntax.Op) bool {
	return op == syntax.OpStar || op == syntax.OpPlus || op == syntax.OpQuest || op == syntax.OpRepeat
}

// isSingle: a literal of one rune, a class, or any char (RE2's kRegexpLiteral, CharClass, AnyChar).
func isSingle(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 1
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	}
	return false
}

// singleEqual is Regexp::Equal on the single-character forms.
func singleEqual(a, b *syntax.Regexp) bool {
	if a.Op != b.Op || len(a.Rune) != len(b.Rune) {
		return false
	}
	if a.Op == syntax.OpLiteral && a.Flags&syntax.FoldCase != b.Flags&syntax.FoldCase {
		return false
	}
	for i := range a.Rune {
		if a.Rune[i] != b.Rune[i] {
			return false
		}
	}
	return true
}

func canCoalesce(r1, r2 *syntax.Regexp) bool {
	if !isRepeatOp(r1.Op) || !isSingle(r1.Sub[0]) {
		return false
	}
	if isRepeatOp(r2.Op) && singleEqual(r1.Sub[0], r2.Sub[0]) && r1.Flags&syntax.NonGreedy == r2.Flags&syntax.NonGreedy {
		return true
	}
	if isSingle(r2) && singleEqual(r1.Sub[0], r2) {
		return true
	}
	return r1.Sub[0].Op == syntax.OpLiteral && r2.Op == syntax.OpLiteral && len(r2.Rune) > 1 &&
		r2.Rune[0] == r1.Sub[0].Rune[0] && r1.Sub[0].Flags&syntax.FoldCase == r2.Flags&syntax.FoldCase
}

func doCoalesce(r1, r2 *syntax.Regexp) (*syntax.Regexp, *syntax.Regexp) {
	nre := &syntax.Regexp{Op: syntax.OpRepeat, Flags: r1.Flags, Sub: []*syntax.Regexp{r1.Sub[0]}}
	switch r1.Op {
	case syntax.OpStar:
		nre.Min, nre.Max = 0, -1
	case syntax.OpPlus:
		nre.Min, nre.Max = 1, -1
	case syntax.OpQuest:
		nre.Min, nre.Max = 0, 1
	case syntax.OpRepeat:
		nre.Min, nre.Max = r1.Min, r1.Max
	}
	empty := &syntax.Regexp{Op: syntax.OpEmptyMatch}
	switch {
	case r2.Op == syntax.OpStar:
		nre.Max = -1
	case r2.Op == syntax.OpPlus:
		nre.Min++
		nre.Max = -1
	case r2.Op == syntax.OpQuest:
		if nre.Max != -1 {
			nre.Max++
		}
	case r2.Op == syntax.OpRepeat:
		nre.Min += r2.Min
		if r2.Max == -1 {
			nre.Max = -1
		} else if nre.Max != -1 {
			nre.Max += r2.Max
		}
	case isSingle(r2):
		nre.Min++
		if nre.Max != -1 {
			nre.Max++
		}
	default: // a literal string beginning with r1's rune
		r := r1.Sub[0].Rune[0]
		n := 1
		for n < len(r2.Rune) && r2.Rune[n] == r {
			n++
		}
		nre.Min += n
		if nre.Max != -1 {
			nre.Max += n
		}
		if n < len(r2.Rune) {
			rest := *r2
			rest.Rune = r2.Rune[n:]
			return nre, &rest
		}
	}
	return empty, nre
}

type opcode uint8

const (
	opAlt opcode = iota
	opAltMatch
	opByteRange
	opCapture
	opEmptyWidth
	opMatch
	opNop
	opFail
)

type inst struct {
	op     opcode
	out    uint32
	out1   uint32
	lo, hi byte
	fold   bool
}

// patchList: head refers to inst[head>>1].out (head&1 == 0) or .out1 (head&1 == 1); 0 is the empty list.
type patchList struct{ head, tail uint32 }

type frag struct {
	begin    uint32
	end      patchList
	nullable bool
}

// maxInst approximates Compiler::Setup's limit for RE2's default max_mem (8 MiB, of which 2/3 go to the forward
// program; 16-byte instructions). Reaching it makes RE2 fail the compile.
const maxInst = (8 << 20) * 2 / 3 / 16

type compiler struct {
	inst      []inst
	failed    bool
	runeCache map[uint64]uint32
	runeRange frag
}

func (c *compiler) allocInst(n int) (uint32, bool) {
	if c.failed || len(c.inst)+n > maxInst {
		c.failed = true
		return 0, false
	}
	id := uint32(len(c.inst))
	for range n {
		c.inst = append(c.inst, inst{})
	}
	return id, true
}

func (c *compiler) patch(l patchList, p uint32) {
	for l.head != 0 {
		ip := &c.inst[l.head>>1]
		if l.head&1 != 0 {
			l.head = ip.out1
			ip.out1 = p
		} else {
			l.head = ip.out
			ip.out = p
		}
	}
}

func (c *compiler) appendList(l1, l2 patchList) patchList {
	if l1.head == 0 {
		return l2
	}
	if l2.head == 0 {
		return l1
	}
	ip := &c.inst[l1.tail>>1]
	if l1.tail&1 != 0 {
		ip.out1 = l2.head
	} else {
		ip.out = l2.head
	}
	return patchList{l1.head, l2.tail}
}

func mk(p uint32) patchList { return patchList{p, p} }

func isNoMatch(a frag) bool { return a.begin == 0 }

func (c *compiler) cat(a, b frag) frag {
	if isNoMatch(a) || isNoMatch(b) {
		return frag{}
	}
	// Elide a leading no-op.
	if begin := c.inst[a.begin]; begin.op == opNop && a.end.head == a.begin<<1 && begin.out == 0 {
		c.patch(a.end, b.begin)
		return b
	}
	c.patch(a.end, b.begin)
	return frag{a.begin, b.end, a.nullable && b.nullable}
}

func (c *compiler) alt(a, b frag) frag {
	if isNoMatch(a) {
		return b
	}
	if isNoMatch(b) {
		return a
	}
	id, ok := c.allocInst(1)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opAlt, out: a.begin, out1: b.begin}
	return frag{id, c.appendList(a.end, b.end), a.nullable || b.nullable}
}

// loop is the Alt shared by Plus, Star and Quest: greedy prefers a (out), lazy prefers leaving (out1 = a).
func (c *compiler) loopAlt(a frag, nongreedy bool) (uint32, patchList, bool) {
	id, ok := c.allocInst(1)
	if !ok {
		return 0, patchList{}, false
	}
	if nongreedy {
		c.inst[id] = inst{op: opAlt, out: 0, out1: a.begin}
		return id, mk(id << 1), true
	}
	c.inst[id] = inst{op: opAlt, out: a.begin, out1: 0}
	return id, mk(id<<1 | 1), true
}

func (c *compiler) plus(a frag, nongreedy bool) frag {
	id, pl, ok := c.loopAlt(a, nongreedy)
	if !ok {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{a.begin, pl, a.nullable}
}

func (c *compiler) star(a frag, nongreedy bool) frag {
	// A nullable subexpression is compiled as (a+)? so that priorities stay right.
	if a.nullable {
		return c.quest(c.plus(a, nongreedy), nongreedy)
	}
	id, pl, ok := c.loopAlt(a, nongreedy)
	if !ok {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{id, pl, true}
}

func (c *compiler) quest(a frag, nongreedy bool) frag {
	if isNoMatch(a) {
		return c.nop()
	}
	id, pl, ok := c.loopAlt(a, nongreedy)
	if !ok {
		return frag{}
	}
	return frag{id, c.appendList(pl, a.end), true}
}

func (c *compiler) byteRange(lo, hi byte, fold bool) frag {
	id, ok := c.allocInst(1)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opByteRange, lo: lo, hi: hi, fold: fold}
	return frag{id, mk(id << 1), false}
}

func (c *compiler) nop() frag {
	id, ok := c.allocInst(1)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opNop}
	return frag{id, mk(id << 1), true}
}

func (c *compiler) match() frag {
	id, ok := c.allocInst(1)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opMatch}
	return frag{id, patchList{}, false}
}

func (c *compiler) emptyWidth() frag {
	id, ok := c.allocInst(1)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opEmptyWidth}
	return frag{id, mk(id << 1), true}
}

func (c *compiler) capture(a frag) frag {
	if isNoMatch(a) {
		return frag{}
	}
	id, ok := c.allocInst(2)
	if !ok {
		return frag{}
	}
	c.inst[id] = inst{op: opCapture, out: a.begin}
	c.inst[id+1] = inst{op: opCapture}
	c.patch(a.end, id+1)
	return frag{id, mk((id + 1) << 1), a.nullable}
}

// The rune range compiler (Compiler::BeginRange .. EndRange, forward UTF-8 mode).

func (c *compiler) beginRange() {
	clear(c.runeCache)
	c.runeRange = frag{}
}

func (c *compiler) uncachedSuffix(lo, hi byte, fold bool, next uint32) uint32 {
	f := c.byteRange(lo, hi, fold)
	if next != 0 {
		c.patch(f.end, next)
	} else {
		c.runeRange.end = c.appendList(c.runeRange.end, f.end)
	}
	return f.begin
}

func runeCacheKey(lo, hi byte, fold bool, next uint32) uint64 {
	k := uint64(next)<<17 | uint64(lo)<<9 | uint64(hi)<<1
	if fold {
		k |= 1
	}
	return k
}

func (c *compiler) cachedSuffix(lo, hi byte, fold bool, next uint32) uint32 {
	key := runeCacheKey(lo, hi, fold, next)
	if id, ok := c.runeCache[key]; ok {
		return id
	}
	id := c.uncachedSuffix(lo, hi, fold, next)
	c.runeCache[key] = id
	return id
}

func (c *compiler) isCachedSuffix(id uint32) bool {
	in := c.inst[id]
	_, ok := c.runeCache[runeCacheKey(in.lo, in.hi, in.fold, in.out)]
	return ok
}

func (c *compiler) addSuffix(id uint32) {
	if c.failed {
		return
	}
	if c.runeRange.begin == 0 {
		c.runeRange.begin = id
		return
	}
	c.runeRange.begin = c.addSuffixRecursive(c.runeRange.begin, id)
}

func (c *compiler) addSuffixRecursive(root, id uint32) uint32 {
	f := c.findByteRange(root, id)
	if isNoMatch(f) {
		alt, ok := c.allocInst(1)
		if !ok {
			return 0
		}
		c.inst[alt] = inst{op: opAlt, out: root, out1: id}
		return alt
	}
	var br uint32
	switch {
	case f.end.head == 0:
		br = root
	case f.end.head&1 != 0:
		br = c.inst[f.begin].out1
	default:
		br = c.inst[f.begin].out
	}
	if c.isCachedSuffix(br) {
		// Cached suffixes are shared: clone the head.
		clone, ok := c.allocInst(1)
		if !ok {
			return 0
		}
		b := c.inst[br]
		c.inst[clone] = inst{op: opByteRange, lo: b.lo, hi: b.hi, fold: b.fold, out: b.out}
		br = clone
		switch {
		case f.end.head == 0:
			root = br
		case f.end.head&1 != 0:
			c.inst[f.begin].out1 = br
		default:
			c.inst[f.begin].out = br
		}
	}
	out := c.inst[id].out
	if !c.isCachedSuffix(id) {
		// The head is the most recently allocated instruction: free it.
		c.inst = c.inst[:len(c.inst)-1]
	}
	out = c.addSuffixRecursive(c.inst[br].out, out)
	if out == 0 {
		return 0
	}
	c.inst[br].out = out
	return root
}

func (c *compiler) byteRangeEqual(id1, id2 uint32) bool {
	a, b := c.inst[id1], c.inst[id2]
	return a.lo == b.lo && a.hi == b.hi && a.fold == b.fold
}

func (c *compiler) findByteRange(root, id uint32) frag {
	if c.inst[root].op == opByteRange {
		if c.byteRangeEqual(root, id) {
			return frag{root, patchList{}, false}
		}
		return frag{}
	}
	if c.inst[root].op == opAlt {
		// Forward mode: a class is a sorted list of ranges, so only out1 of the root Alt can match.
		if c.byteRangeEqual(c.inst[root].out1, id) {
			return frag{root, mk(root<<1 | 1), false}
		}
	}
	return frag{}
}

// maxRune is the largest rune a UTF-8 sequence of n bytes encodes.
func maxRune(n int) rune {
	if n == 1 {
		return 1<<7 - 1
	}
	return 1<<(8-(n+1)+6*(n-1)) - 1
}

func (c *compiler) add80to10ffff() {
	cont1 := c.uncachedSuffix(0x80, 0xBF, false, 0)
	c.addSuffix(c.uncachedSuffix(0xC2, 0xDF, false, cont1))
	cont2 := c.uncachedSuffix(0x80, 0xBF, false, cont1)
	c.addSuffix(c.uncachedSuffix(0xE0, 0xEF, false, cont2))
	cont3 := c.uncachedSuffix(0x80, 0xBF, false, cont2)
	c.addSuffix(c.uncachedSuffix(0xF0, 0xF4, false, cont3))
}

func (c *compiler) addRuneRange(lo, hi rune, fold bool) {
	if lo > hi {
		return
	}
	if lo == 0x80 && hi == 0x10ffff {
		c.add80to10ffff()
		return
	}
	// Split into ranges of one encoded length.
	for i := 1; i < utf8.UTFMax; i++ {
		if m := maxRune(i); lo <= m && m < hi {
			c.addRuneRange(lo, m, fold)
			c.addRuneRange(m+1, hi, fold)
			return
		}
	}
	if hi < utf8.RuneSelf {
		c.addSuffix(c.uncachedSuffix(byte(lo), byte(hi), fold, 0))
		return
	}
	// Split into sections that agree on leading bytes.
	for i := 1; i < utf8.UTFMax; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				c.addRuneRange(lo, lo|m, fold)
				c.addRuneRange((lo|m)+1, hi, fold)
				return
			}
			if hi&m != m {
				c.addRuneRange(lo, (hi&^m)-1, fold)
				c.addRuneRange(hi&^m, hi, fold)
				return
			}
		}
	}
	var ulo, uhi [utf8.UTFMax]byte
	n := utf8.EncodeRune(ulo[:], lo)
	utf8.EncodeRune(uhi[:], hi)
	var id uint32
	for i := n - 1; i >= 0; i-- {
		// Forward mode: cache the last continuation byte and inner byte ranges, never the leading byte.
		if i == n-1 || (ulo[i] < uhi[i] && i != 0) {
			id = c.cachedSuffix(ulo[i], uhi[i], false, id)
		} else {
			id = c.uncachedSuffix(ulo[i], uhi[i], false, id)
		}
	}
	c.addSuffix(id)
}

func (c *compiler) literal(r rune, fold bool) frag {
	if r < utf8.RuneSelf {
		return c.byteRange(byte(r), byte(r), fold)
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	f := c.byteRange(buf[0], buf[0], false)
	for i := 1; i < n; i++ {
		f = c.cat(f, c.byteRange(buf[i], buf[i], false))
	}
	return f
}

// charClass is Compiler::PostVisit's kRegexpCharClass case with CharClass::FoldsASCII.
func (c *compiler) charClass(ranges []rune) frag {
	foldASCII := foldsASCII(ranges)
	c.beginRange()
	for i := 0; i < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if foldASCII && 'A' <= lo && hi <= 'Z' {
			continue
		}
		fold := foldASCII
		if (lo <= 'A' && 'z' <= hi) || hi < 'A' || 'z' < lo || ('Z' < lo && hi < 'a') {
			fold = false
		}
		c.addRuneRange(lo, hi, fold)
	}
	return c.runeRange
}

// foldsASCII: the class matches A-Z exactly where it matches a-z.
func foldsASCII(ranges []rune) bool {
	in := func(r rune) bool {
		i := sort.Search(len(ranges)/2, func(i int) bool { return ranges[2*i+1] >= r })
		return i < len(ranges)/2 && ranges[2*i] <= r
	}
	for r := 'A'; r <= 'Z'; r++ {
		if in(r) != in(r+'a'-'A') {
			return false
		}
	}
	return true
}

func (c *compiler) walk(re *syntax.Regexp) frag {
	if c.failed {
		return frag{}
	}
	switch re.Op {
	case syntax.OpNoMatch:
		return frag{}
	case syntax.OpEmptyMatch:
		return c.nop()
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return c.nop()
		}
		fold := re.Flags&syntax.FoldCase != 0
		var f frag
		for i, r := range re.Rune {
			if fold {
				// RE2's parser keeps ASCII case-folded letters as lower-case literals with FoldCase;
				// other runes are classes of their fold orbit.
				f1 := c.foldedLiteral(r)
				if i == 0 {
					f = f1
				} else {
					f = c.cat(f, f1)
				}
				continue
			}
			f1 := c.literal(r, false)
			if i == 0 {
				f = f1
			} else {
				f = c.cat(f, f1)
			}
		}
		return f
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return frag{}
		}
		return c.charClass(re.Rune)
	case syntax.OpAnyCharNotNL:
		// RE2's parser turns '.' into the class [^\n] (no DotNL).
		return c.charClass([]rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune})
	case syntax.OpAnyChar:
		c.beginRange()
		c.addRuneRange(0, utf8.MaxRune, false)
		return c.runeRange
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return c.emptyWidth()
	case syntax.OpCapture:
		return c.capture(c.walk(re.Sub[0]))
	case syntax.OpStar:
		return c.star(c.walk(re.Sub[0]), re.Flags&syntax.NonGreedy != 0)
	case syntax.OpPlus:
		return c.plus(c.walk(re.Sub[0]), re.Flags&syntax.NonGreedy != 0)
	case syntax.OpQuest:
		return c.quest(c.walk(re.Sub[0]), re.Flags&syntax.NonGreedy != 0)
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return c.nop()
		}
		f := c.walk(re.Sub[0])
		for _, s := range re.Sub[1:] {
			f = c.cat(f, c.walk(s))
		}
		return f
	case syntax.OpAlternate:
		f := c.walk(re.Sub[0])
		for _, s := range re.Sub[1:] {
			f = c.alt(f, c.walk(s))
		}
		return f
	}
	c.failed = true
	return frag{}
}

// foldedLiteral compiles a case-folded rune the way RE2's parser leaves it: an ASCII letter is one folding
// ByteRange of its lower case; another rune with case variants is the class of its fold orbit.
func (c *compiler) foldedLiteral(r rune) frag {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	if len(orbit) == 1 {
		return c.literal(r, false)
	}
	if len(orbit) == 2 && r < utf8.RuneSelf && orbit[1] < utf8.RuneSelf {
		lower := min(orbit[0], orbit[1]) + ('a' - 'A')
		return c.byteRange(byte(lower), byte(lower), true)
	}
	sort.Slice(orbit, func(i, j int) bool { return orbit[i] < orbit[j] })
	var ranges []rune
	for _, o := range orbit {
		if n := len(ranges); n > 0 && ranges[n-1]+1 == o {
			ranges[n-1] = o
			continue
		}
		ranges = append(ranges, o, o)
	}
	return c.charClass(ranges)
}

func isAnchorStart(pre **syntax.Regexp, depth int) bool {
	re := *pre
	if re == nil || depth >= 4 {
		return false
	}
	switch re.Op {
	case syntax.OpConcat:
		if len(re.Sub) > 0 {
			sub := re.Sub[0]
			if isAnchorStart(&sub, depth+1) {
				cp := *re
				cp.Sub = append([]*syntax.Regexp{sub}, re.Sub[1:]...)
				*pre = &cp
				return true
			}
		}
	case syntax.OpCapture:
		sub := re.Sub[0]
		if isAnchorStart(&sub, depth+1) {
			cp := *re
			cp.Sub = []*syntax.Regexp{sub}
			*pre = &cp
			return true
		}
	case syntax.OpBeginText:
		*pre = &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags}
		return true
	}
	return false
}

func isAnchorEnd(pre **syntax.Regexp, depth int) bool {
	re := *pre
	if re == nil || depth >= 4 {
		return false
	}
	switch re.Op {
	case syntax.OpConcat:
		if n := len(re.Sub); n > 0 {
			sub := re.Sub[n-1]
			if isAnchorEnd(&sub, depth+1) {
				cp := *re
				cp.Sub = append(append([]*syntax.Regexp(nil), re.Sub[:n-1]...), sub)
				*pre = &cp
				return true
			}
		}
	case syntax.OpCapture:
		sub := re.Sub[0]
		if isAnchorEnd(&sub, depth+1) {
			cp := *re
			cp.Sub = []*syntax.Regexp{sub}
			*pre = &cp
			return true
		}
	case syntax.OpEndText:
		*pre = &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags}
		return true
	}
	return false
}

// prog is the compiled program before flattening.
type prog struct {
	inst            []inst
	start           uint32
	startUnanchored uint32
}

// sparseSet is RE2's SparseSet over instruction ids: membership plus insertion order, cleared in time
// proportional to its size.
type sparseSet struct {
	pos   []int32 // pos[id] is id's index in order, or -1
	order []uint32
}

func newSparseSet(n int) *sparseSet {
	s := &sparseSet{pos: make([]int32, n), order: make([]uint32, 0, n)}
	for i := range s.pos {
		s.pos[i] = -1
	}
	return s
}

func (s *sparseSet) has(id uint32) bool { return s.pos[id] >= 0 }

func (s *sparseSet) add(id uint32) {
	if s.pos[id] < 0 {
		s.pos[id] = int32(len(s.order))
		s.order = append(s.order, id)
	}
}

func (s *sparseSet) clear() {
	for _, id := range s.order {
		s.pos[id] = -1
	}
	s.order = s.order[:0]
}

// optimize is Prog::Optimize: skip Nops, then mark .* loops before a Match as AltMatch. Work queues start from
// start_ and never hold instruction 0 (RE2's AddToQueue).
func (p *prog) optimize() {
	skipNops := func(j uint32) uint32 {
		for j != 0 && p.inst[j].op == opNop {
			j = p.inst[j].out
		}
		return j
	}
	q := newSparseSet(len(p.inst))
	add := func(id uint32) {
		if id != 0 {
			q.add(id)
		}
	}
	add(p.start)
	for i := 0; i < len(q.order); i++ {
		ip := &p.inst[q.order[i]]
		ip.out = skipNops(ip.out)
		add(ip.out)
		if ip.op == opAlt {
			ip.out1 = skipNops(ip.out1)
			add(ip.out1)
		}
	}
	isMatch := func(id uint32) bool {
		for {
			in := p.inst[id]
			switch in.op {
			case opCapture, opNop:
				id = in.out
			case opMatch:
				return true
			default:
				return false
			}
		}
	}
	q.clear()
	add(p.start)
	for i := 0; i < len(q.order); i++ {
		id := q.order[i]
		ip := &p.inst[id]
		add(ip.out)
		if ip.op != opAlt {
			continue
		}
		add(ip.out1)
		j, k := p.inst[ip.out], p.inst[ip.out1]
		if j.op == opByteRange && j.out == id && j.lo == 0x00 && j.hi == 0xFF && isMatch(ip.out1) {
			ip.op = opAltMatch
			continue
		}
		if isMatch(ip.out) && k.op == opByteRange && k.out == id && k.lo == 0x00 && k.hi == 0xFF {
			ip.op = opAltMatch
		}
	}
}

// flatten is Prog::Flatten reduced to what decides the size: the roots (MarkSuccessors, then MarkDominator in
// descending instruction order) and the length of each emitted list (EmitList).
func (p *prog) flatten() int {
	n := len(p.inst)
	roots := newSparseSet(n)
	reach := newSparseSet(n)
	preds := make([][]uint32, n)
	var stk []uint32
	// MarkSuccessors.
	roots.add(0)
	roots.add(p.startUnanchored)
	roots.add(p.start)
	stk = append(stk, p.startUnanchored)
	for len(stk) > 0 {
		id := stk[len(stk)-1]
		stk = stk[:len(stk)-1]
		for !reach.has(id) {
			reach.add(id)
			ip := p.inst[id]
			switch ip.op {
			case opAlt, opAltMatch:
				preds[ip.out] = append(preds[ip.out], id)
				preds[ip.out1] = append(preds[ip.out1], id)
				stk = append(stk, ip.out1)
				id = ip.out
				continue
			case opByteRange, opCapture, opEmptyWidth:
				roots.add(ip.out)
				id = ip.out
				continue
			case opNop:
				id = ip.out
				continue
			}
			break
		}
	}
	// MarkDominator over the successor roots, greatest instruction first, skipping the smallest.
	sorted := append([]uint32(nil), roots.order...)
	slices.Sort(sorted)
	for i := len(sorted) - 1; i > 0; i-- {
		root := sorted[i]
		if root == p.startUnanchored || root == p.start {
			continue
		}
		p.tree(root, roots, reach, &stk)
		for _, id := range reach.order {
			for _, pred := range preds[id] {
				if !reach.has(pred) {
					roots.add(id)
				}
			}
		}
	}
	// EmitList per root.
	size := 0
	for i := 0; i < len(roots.order); i++ {
		root := roots.order[i]
		p.tree(root, roots, reach, &stk)
		for _, id := range reach.order {
			if id != root && roots.has(id) {
				size++ // a Nop to the other list
				continue
			}
			switch p.inst[id].op {
			case opAltMatch, opByteRange, opCapture, opEmptyWidth, opMatch, opFail:
				size++
			}
		}
	}
	return size
}

// tree floods reach from root through Alt and Nop instructions, stopping at leaves and at other roots.
func (p *prog) tree(root uint32, roots, reach *sparseSet, stk *[]uint32) {
	reach.clear()
	*stk = append((*stk)[:0], root)
	for len(*stk) > 0 {
		id := (*stk)[len(*stk)-1]
		*stk = (*stk)[:len(*stk)-1]
		for !reach.has(id) {
			reach.add(id)
			if id != root && roots.has(id) {
				break
			}
			ip := p.inst[id]
			if ip.op == opAlt || ip.op == opAltMatch {
				*stk = append(*stk, ip.out1)
				id = ip.out
				continue
			}
			if ip.op == opNop {
				id = ip.out
				continue
			}
			break
		}
	}
}
