package evaluator

import (
	"fmt"
	"strings"

	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// headerAdd is one compiled HeaderValueOption (Router::HeadersToAddEntry in
// source/common/router/header_parser.cc).
type headerAdd struct {
	key       string
	f         *formatter
	action    corev3.HeaderValueOption_HeaderAppendAction
	keepEmpty bool
}

// headerOps is one level's *_headers_to_add / *_headers_to_remove
// (Router::HeaderParser).
type headerOps struct {
	remove []string
	add    []headerAdd
}

// isModifiable mirrors Http::HeaderUtility::isModifiableHeader / isRemovableHeader:
// ":"-prefixed pseudo-headers and "host" can be neither added nor removed through
// *_headers_to_add/remove; HeaderParser::configure rejects the configuration
// (":-prefixed or host headers may not be modified/removed"). Docs "Custom
// request/response headers": "Neither :-prefixed pseudo-headers nor the Host: header may
// be modified via this mechanism."
func isModifiable(name string) bool {
	return !strings.HasPrefix(name, ":") && !strings.EqualFold(name, "host")
}

func compileHeaderAdd(o *corev3.HeaderValueOption, l loc, ops opSet) (headerAdd, error) {
	if err := onlyFields(o, l, "header", "append", "append_action", "keep_empty_value"); err != nil {
		return headerAdd{}, err
	}
	if err := onlyFields(o.GetHeader(), l.at("header"), "key", "value"); err != nil {
		return headerAdd{}, err
	}
	key := o.GetHeader().GetKey()
	if !isModifiable(key) {
		return headerAdd{}, l.at("header").errf("Envoy rejects this configuration: %q: \":-prefixed or host headers may not be modified\"", key)
	}
	a := headerAdd{key: strings.ToLower(key), keepEmpty: o.GetKeepEmptyValue(), action: o.GetAppendAction()}
	// HeadersToAddEntry: when the deprecated BoolValue `append` is set, append_action must
	// stay at its default ("Both append and append_action are set and it's not allowed");
	// append=true means APPEND_IF_EXISTS_OR_ADD, append=false OVERWRITE_IF_EXISTS_OR_ADD.
	// Without `append`, append_action applies (default APPEND_IF_EXISTS_OR_ADD).
	if o.GetAppend() != nil {
		if o.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
			return headerAdd{}, l.errf("Envoy rejects this configuration: both append and append_action are set")
		}
		if o.GetAppend().GetValue() {
			a.action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		} else {
			a.action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		}
	}
	f, err := parseFormat(o.GetHeader().GetValue(), ops)
	if err != nil {
		return headerAdd{}, l.at("header.value").wrap(err)
	}
	a.f = f
	return a, nil
}

func compileHeaderOps(adds []*corev3.HeaderValueOption, removes []string, l loc, addField, removeField string, ops opSet) (*headerOps, error) {
	h := &headerOps{}
	for i, o := range adds {
		a, err := compileHeaderAdd(o, l.at(fmt.Sprintf("%s[%d]", addField, i)), ops)
		if err != nil {
			return nil, err
		}
		h.add = append(h.add, a)
	}
	for i, r := range removes {
		if !isModifiable(r) {
			return nil, l.at(fmt.Sprintf("%s[%d]", removeField, i)).errf("Envoy rejects this configuration: %q: \":-prefixed or host headers may not be removed\"", r)
		}
		h.remove = append(h.remove, strings.ToLower(r))
	}
	return h, nil
}

// apply is Router::HeaderParser::evaluateHeaders (source/common/router/header_parser.cc):
//  1. every header in headers_to_remove is removed first ("remove-before-add");
//  2. every headers_to_add value is formatted against the headers as they are after step 1,
//     before any addition of this level ("This is required to execute all formatters using
//     the original received headers");
//  3. a value that formats to "" is skipped unless keep_empty_value;
//  4. per append_action: APPEND_IF_EXISTS_OR_ADD queues an add; ADD_IF_ABSENT queues an add
//     only if the header is absent; OVERWRITE_IF_EXISTS queues an overwrite only if present;
//     OVERWRITE_IF_EXISTS_OR_ADD queues an overwrite;
//  5. all overwrites are applied (set), then all adds (append).
//
// c.req/c.resp must already point at the maps the formatters read; m is the map mutated.
func (h *headerOps) apply(m *headerMap, c *fmtCtx) error {
	if h == nil {
		return nil
	}
	for _, r := range h.remove {
		m.remove(r)
	}
	type kv struct{ k, v string }
	var adds, overwrites []kv
	for _, a := range h.add {
		v, err := a.f.text(c, true)
		if err != nil {
			return err
		}
		if v == "" && !a.keepEmpty {
			continue
		}
		switch a.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			adds = append(adds, kv{a.key, v})
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !m.has(a.key) {
				adds = append(adds, kv{a.key, v})
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if m.has(a.key) {
				overwrites = append(overwrites, kv{a.key, v})
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			overwrites = append(overwrites, kv{a.key, v})
		default:
			return fmt.Errorf("unknown append_action %v", a.action)
		}
	}
	for _, o := range overwrites {
		m.set(o.k, o.v)
	}
	for _, a := range adds {
		m.add(a.k, a.v)
	}
	return nil
}

// mutationList is a compiled list of config.common.mutation_rules.v3.HeaderMutation as
// used by the header_mutation filter (Http::HeaderMutations in
// source/common/http/header_mutation.cc): unlike HeaderParser, each mutation is applied in
// order, and an `append` entry is formatted and applied immediately.
type mutationList []mutationOp

type mutationOp struct {
	remove string // non-empty: remove this header
	add    headerAdd
}

func compileMutations(ms []*mutationv3.HeaderMutation, l loc) (mutationList, error) {
	var out mutationList
	for i, m := range ms {
		ml := l.at(fmt.Sprintf("[%d]", i))
		switch a := m.GetAction().(type) {
		case *mutationv3.HeaderMutation_Remove:
			out = append(out, mutationOp{remove: strings.ToLower(a.Remove)})
		case *mutationv3.HeaderMutation_Append:
			ha, err := compileHeaderAdd(a.Append, ml.at("append"), opsHeader)
			if err != nil {
				return nil, err
			}
			out = append(out, mutationOp{add: ha})
		default:
			return nil, ml.errf("header mutation action %T is not supported by the evaluator", a)
		}
	}
	return out, nil
}

func (ms mutationList) apply(m *headerMap, c *fmtCtx) error {
	for _, op := range ms {
		if op.remove != "" {
			m.remove(op.remove)
			continue
		}
		a := op.add
		v, err := a.f.text(c, true)
		if err != nil {
			return err
		}
		if v == "" && !a.keepEmpty {
			continue
		}
		switch a.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			m.add(a.key, v)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !m.has(a.key) {
				m.add(a.key, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if m.has(a.key) {
				m.set(a.key, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			m.set(a.key, v)
		}
	}
	return nil
}
