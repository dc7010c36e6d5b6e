// Package diag holds the diagnostics that loading, validation and translation report: each names the file, the
// location inside it, the field and the rule, so a user can find and fix the input.
package diag

import (
	"fmt"
	"strings"
)

// Severity says whether a diagnostic stops the definition from being served.
type Severity string

const (
	// Error: the definition is rejected; nothing already running is replaced.
	Error Severity = "error"
	// Warning: the definition is served; the named part is ignored, unsupported or approximated as described.
	Warning Severity = "warning"
)

// Diagnostic is one finding about an input.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	// File is the input file ("" for inputs that came from no file).
	File string `json:"file,omitempty"`
	// Path locates the finding inside the document as a JSON path, e.g. $.paths['/pets'].get.x-amazon-apigateway-integration.
	Path string `json:"path,omitempty"`
	// Field is the offending field, e.g. "timeoutInMillis".
	Field string `json:"field,omitempty"`
	// Rule is the spec rule id (RES-3, HTP-1, ...) or a short rule name.
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

// String renders "file: path: field: message [rule]".
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(string(d.Severity))
	b.WriteString(": ")
	for _, p := range []string{d.File, d.Path, d.Field} {
		if p != "" {
			b.WriteString(p)
			b.WriteString(": ")
		}
	}
	b.WriteString(d.Message)
	if d.Rule != "" {
		fmt.Fprintf(&b, " [%s]", d.Rule)
	}
	return b.String()
}

// List is an ordered list of diagnostics.
type List []Diagnostic

// Errors returns only the error diagnostics.
func (l List) Errors() List {
	var out List
	for _, d := range l {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns only the warning diagnostics.
func (l List) Warnings() List {
	var out List
	for _, d := range l {
		if d.Severity == Warning {
			out = append(out, d)
		}
	}
	return out
}

// Err returns an error that lists every error diagnostic, or nil when there is none.
func (l List) Err() error {
	errs := l.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &ListError{Diagnostics: errs}
}

// ListError is the error form of a list of error diagnostics.
type ListError struct{ Diagnostics List }

func (e *ListError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d errors:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Rules about authorization that proxyplus does not enforce yet (issue 10 scope 1). They are warnings, so the
// definition is served (fail-closed); `validate` reports RuleUnenforcedAuthorization as an error.
const (
	// RuleUnenforcedAuthorization: a method requires an authorizer, AWS_IAM or an API key; proxyplus refuses every
	// request to it as API Gateway refuses one without credentials.
	RuleUnenforcedAuthorization = "AUTH-1"
	// RuleServedUnauthenticated: the API's insecure opt-out serves such methods open, to anyone.
	RuleServedUnauthenticated = "AUTH-2"
)
