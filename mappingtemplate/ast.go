package mappingtemplate

// Statement nodes (what a block holds) and expression nodes. Positions are byte offsets into the template source
// (or into the enclosing source for interpolated strings); Template.pos converts them.

type node interface{}

type textNode struct{ text string }

// refNode renders a reference. literal is the reference's source without leading backslashes, rendered when the
// value is null (empty for a quiet reference that is not escaped).
type refNode struct {
	r         *refExpr
	escPrefix string // half of the leading backslashes
	escaped   bool   // odd number of leading backslashes
	literal   string
	direct    directKind // rendered in place by renderDirect
}

type directKind uint8

const (
	directNone directKind = iota
	directJSON
	directEscapeJavaScript
	directURLEncode
	directBase64Encode
)

type setNode struct {
	off      int
	lhs      *refExpr
	rhs      expr
	override string // "responseOverride.status", "requestOverride.header.X", ... for assignments into $context
}

type ifNode struct {
	off    int
	conds  []expr
	blocks [][]node // len(blocks) == len(conds), or len(conds)+1 with the #else block last
}

type foreachNode struct {
	off    int
	slot   int // loop variable
	varSrc string
	iter   expr
	body   []node
}

type breakNode struct{ off int }
type stopNode struct{ off int }

// unsupportedNode fails the evaluation when reached.
type unsupportedNode struct {
	off  int
	what string
}

type expr interface{}

type litExpr struct{ v any }

// strExpr is an interpolated "..." string.
type strExpr struct {
	off   int
	parts []node
}

type partKind uint8

const (
	partProp partKind = iota
	partMethod
	partIndex
)

type refPart struct {
	kind partKind
	off  int
	name string
	args []expr
	path *jsonPath // $input.json / $input.path with a literal path, compiled at parse time
	// For $context.a.b.c: ctxKey is the dotted key up to this part ("a.b"); on the first part, ctxLast is the index of
	// the last consecutive property part (0 when there is none after it).
	ctxKey  string
	ctxLast int
}

type refExpr struct {
	off   int
	slot  int
	name  string
	parts []refPart
	src   string // source text, e.g. $input.params('x')
}

type binExpr struct {
	off  int
	op   string
	l, r expr
}

type notExpr struct {
	off int
	x   expr
}

type listExpr struct {
	off   int
	items []expr
}

type mapExpr struct {
	off        int
	keys, vals []expr
}

type rangeExpr struct {
	off    int
	lo, hi expr
}
