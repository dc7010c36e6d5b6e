package loader

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/proxyplus/proxyplus/diag"
)

// reporter collects the diagnostics of one input. Every finding names the file, so the caller never has to
// patch File in afterwards.
type reporter struct {
	file string
	list diag.List
	seen map[diag.Diagnostic]bool
}

func newReporter(file string) *reporter {
	return &reporter{file: file, seen: map[diag.Diagnostic]bool{}}
}

func (r *reporter) add(sev diag.Severity, path, field, rule, format string, args ...any) {
	d := diag.Diagnostic{
		Severity: sev,
		File:     r.file,
		Path:     path,
		Field:    field,
		Rule:     rule,
		Message:  fmt.Sprintf(format, args...),
	}
	// Implied resources share the location of the resource that implied them, so one defect can be found twice;
	// reporting it once keeps the list readable.
	if r.seen[d] {
		return
	}
	r.seen[d] = true
	r.list = append(r.list, d)
}

// addAll adds diagnostics made by another reporter for the same file.
func (r *reporter) addAll(list diag.List) {
	for _, d := range list {
		r.add(d.Severity, d.Path, d.Field, d.Rule, "%s", d.Message)
	}
}

func (r *reporter) errorf(path, field, rule, format string, args ...any) {
	r.add(diag.Error, path, field, rule, format, args...)
}

func (r *reporter) warnf(path, field, rule, format string, args ...any) {
	r.add(diag.Warning, path, field, rule, format, args...)
}

var plainKey = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// child appends one object key to a JSON path: $.info.title, but $.paths['/pets'] for keys that are not plain
// identifiers.
func child(path, key string) string {
	if plainKey.MatchString(key) {
		return path + "." + key
	}
	return path + "['" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(key) + "']"
}

// index appends an array index to a JSON path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
