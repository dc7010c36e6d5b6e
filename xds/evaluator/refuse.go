package evaluator

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// UnsupportedError reports configuration that the evaluator refuses because it does not
// implement it (or because Envoy itself would reject it). VirtualHost and Route are empty
// when the field is not inside a virtual host or route.
type UnsupportedError struct {
	VirtualHost string
	Route       string
	Field       string // dotted path of the offending field, e.g. "match.query_parameters"
	Reason      string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	b.WriteString("evaluator: ")
	if e.VirtualHost != "" {
		fmt.Fprintf(&b, "virtual host %q: ", e.VirtualHost)
	}
	if e.Route != "" {
		fmt.Fprintf(&b, "route %q: ", e.Route)
	}
	fmt.Fprintf(&b, "field %s: %s", e.Field, e.Reason)
	return b.String()
}

// loc identifies where in the configuration the walker is.
type loc struct {
	vh, route string
	path      []string
}

func (l loc) at(field string) loc {
	p := make([]string, len(l.path), len(l.path)+1)
	copy(p, l.path)
	return loc{vh: l.vh, route: l.route, path: append(p, field)}
}

func (l loc) errf(format string, a ...any) *UnsupportedError {
	return &UnsupportedError{VirtualHost: l.vh, Route: l.route, Field: strings.Join(l.path, "."), Reason: fmt.Sprintf(format, a...)}
}

func (l loc) wrap(err error) error {
	if err == nil {
		return nil
	}
	if u, ok := err.(*UnsupportedError); ok {
		return u
	}
	return l.errf("%v", err)
}

// onlyFields refuses any populated field of m whose proto name is not in allowed, and any
// unknown field. This is what makes the evaluator refuse instead of silently ignoring
// configuration it does not implement: new Envoy fields are refused automatically.
func onlyFields(m proto.Message, l loc, allowed ...string) error {
	if m == nil {
		return nil
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var bad []string
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !ok[string(fd.Name())] {
			bad = append(bad, string(fd.Name()))
		}
		return true
	})
	if len(r.GetUnknown()) > 0 {
		return l.errf("message %s carries unknown fields", r.Descriptor().FullName())
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return l.at(bad[0]).errf("not supported by the evaluator (%s)", r.Descriptor().FullName())
	}
	return nil
}
