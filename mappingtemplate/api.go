package mappingtemplate

import (
	"fmt"
)

// Pos is a position in a template: 1-based line and column (the column counts bytes).
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Input is what a template reads. The caller fills it per request; nil maps are empty.
type Input struct {
	// Body is the payload: $input.body, and the document of $input.json / $input.path.
	Body []byte
	// PathParams, QueryParams and Headers are the method request parameters ($input.params()).
	PathParams, QueryParams, Headers map[string]string
	// StageVariables are $stageVariables.
	StageVariables map[string]string
	// Context holds $context variables under their dotted names: "requestId", "stage", "httpMethod",
	// "resourcePath", "apiId", "identity.sourceIp", "error.message", "error.responseType", ...
	// "error.messageString" defaults to error.message as a JSON string literal.
	Context map[string]string
}

// Limits bound one evaluation. A zero field takes its DefaultLimits value.
type Limits struct {
	// MaxOutputBytes caps the rendered output.
	MaxOutputBytes int
	// MaxSteps caps the work: one step per node rendered, expression evaluated, method called and loop iteration,
	// plus one per 64 bytes that string, list and map methods read.
	MaxSteps int
	// MaxForeachIterations stops a #foreach after that many iterations (API Gateway: 1,000). Not an error.
	MaxForeachIterations int
	// MaxDepth caps nesting: directives and expressions evaluated inside each other, nested values rendered or
	// parsed from JSON.
	MaxDepth int
	// MaxValueBytes caps the bytes of strings, lists and maps created while evaluating (interpolation, +,
	// replace, add, put, ranges, parsed JSON).
	MaxValueBytes int
}

// DefaultLimits are the limits Render uses.
func DefaultLimits() Limits {
	return Limits{
		MaxOutputBytes:       10 << 20, // API Gateway's payload limit
		MaxSteps:             1_000_000,
		MaxForeachIterations: 1000,
		MaxDepth:             64,
		MaxValueBytes:        32 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = d.MaxOutputBytes
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = d.MaxSteps
	}
	if l.MaxForeachIterations <= 0 {
		l.MaxForeachIterations = d.MaxForeachIterations
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = d.MaxValueBytes
	}
	return l
}

// Issue is a construct the interpreter cannot run (or, from Check, the syntax error).
type Issue struct {
	Pos Pos
	// Construct names what was found: "#macro", "$util.foo", "JSONPath filter", "syntax", ...
	Construct string
	Message   string
}

func (i Issue) String() string { return fmt.Sprintf("%s: %s: %s", i.Pos, i.Construct, i.Message) }

// SyntaxError is a template that does not parse.
type SyntaxError struct {
	Template string
	Pos      Pos
	Msg      string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("mapping template %q: %s: syntax error: %s", e.Template, e.Pos, e.Msg)
}

// RuntimeError is an evaluation that cannot complete: an invalid JSONPath, a body that is not JSON, invalid
// base64 or URL encoding, an unsupported construct reached, a regular expression RE2 cannot compile.
type RuntimeError struct {
	Template string
	Pos      Pos
	Msg      string
	// Unsupported is set when the cause is a construct listed by Unsupported.
	Unsupported bool
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("mapping template %q: %s: %s", e.Template, e.Pos, e.Msg)
}

// LimitError is an evaluation stopped by one of its Limits.
type LimitError struct {
	Template string
	Pos      Pos
	// Limit is the Limits field exceeded: "MaxOutputBytes", "MaxSteps", "MaxDepth" or "MaxValueBytes".
	Limit string
	Max   int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("mapping template %q: %s: evaluation exceeds %s (%d)", e.Template, e.Pos, e.Limit, e.Max)
}

// Template is a parsed template. It is immutable and safe for concurrent Render calls.
type Template struct {
	name        string
	src         string
	subst       bool
	root        []node
	slots       []string // variable names; slot i holds the value of $names[i]
	lineStarts  []int
	unsupported []Issue
}

// Parse parses a VTL mapping template (integration request or response template). name labels errors.
func Parse(name, src string) (*Template, error) {
	return parse(name, src, false)
}

// ParseSubstitution parses a gateway-response template: $context.<name> and $stageVariables.<name> (also as
// ${...}) are replaced by their values, everything else — directives, other references, undefined variables — is
// copied byte for byte. It never fails on content; the error is kept for symmetry with Parse.
func ParseSubstitution(name, src string) (*Template, error) {
	return parse(name, src, true)
}

// Name is the name given to Parse.
func (t *Template) Name() string { return t.name }

// Unsupported lists the constructs of the template the interpreter cannot run, in source order.
func (t *Template) Unsupported() []Issue {
	return append([]Issue(nil), t.unsupported...)
}

// Check parses src and returns its syntax error (Construct "syntax") or its unsupported constructs; nil when the
// template can be run.
func Check(name, src string) []Issue {
	t, err := Parse(name, src)
	if err != nil {
		if se, ok := err.(*SyntaxError); ok {
			return []Issue{{Pos: se.Pos, Construct: "syntax", Message: se.Msg}}
		}
		return []Issue{{Construct: "syntax", Message: err.Error()}}
	}
	return t.Unsupported()
}

// Render evaluates the template with DefaultLimits.
func (t *Template) Render(in *Input) ([]byte, error) {
	return t.AppendRender(nil, in, Limits{})
}

// AppendRender evaluates the template, appends the output to dst and returns it. On error the returned slice is
// dst with whatever was rendered before the error.
func (t *Template) AppendRender(dst []byte, in *Input, lim Limits) ([]byte, error) {
	if in == nil {
		in = &Input{}
	}
	return t.render(dst, in, lim.withDefaults())
}

// Overrides holds what a template assigned to $context.requestOverride and $context.responseOverride (DG
// apigateway-override-request-response-parameters.md): #set($context.responseOverride.status = 404),
// #set($context.responseOverride.header.X-Name = "v"), #set($context.requestOverride.header.X-Name = "v"),
// .querystring.<name>, .path.<name>. Values are the assigned values' strings.
type Overrides struct {
	// Status is responseOverride.status, 0 when not assigned.
	Status                                                     int
	ResponseHeaders, RequestHeaders, RequestQuery, RequestPath map[string]string
}

// RenderOverrides is AppendRender that also returns the overrides the template assigned (nil when none).
func (t *Template) RenderOverrides(dst []byte, in *Input, lim Limits) ([]byte, *Overrides, error) {
	if in == nil {
		in = &Input{}
	}
	var ov *Overrides
	out, err := t.renderWith(dst, in, lim.withDefaults(), &ov)
	return out, ov, err
}

// String returns the template source.
func (t *Template) String() string { return t.src }
