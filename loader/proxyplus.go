package loader

import (
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// loadProxyplus reads proxyplus's own format: the RestApi message as protojson (camelCase or proto field names),
// written as JSON or YAML.
func loadProxyplus(r *reporter, doc *document) (*apigatewayv1.RestApi, *sourceMap) {
	// protojson stops at the first unknown field and gives a position in the JSON we converted the YAML to, which
	// the user never saw; walking the tree first names every unknown field by its path.
	if !checkFields(r, doc.tree, (&apigatewayv1.RestApi{}).ProtoReflect().Descriptor(), "$") {
		return nil, nil
	}
	api := &apigatewayv1.RestApi{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc.json, api); err != nil {
		r.errorf("$", "", "format", "not a valid proxyplus definition: %s", protoErrorText(err))
		return nil, nil
	}
	src := newSourceMap()
	for i, res := range api.Resources {
		loc := index("$.resources", i)
		src.resources[res] = loc
		for key, m := range res.GetResourceMethods() {
			mloc := child(child(loc, "resourceMethods"), key)
			src.methods[m] = methodSource{method: mloc, integration: child(mloc, "integration")}
		}
	}
	return api, src
}

// checkFields reports every key of obj that is not a field of md, recursing into message-typed fields, lists and
// maps. Type mismatches are left to protojson.
func checkFields(r *reporter, obj map[string]any, md protoreflect.MessageDescriptor, path string) bool {
	ok := true
	fields := md.Fields()
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		loc := child(path, key)
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil {
			r.errorf(loc, key, "format", "unknown field %q%s", key, suggestField(fields, key))
			ok = false
			continue
		}
		v := obj[key]
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				continue
			}
			if m, isObj := v.(map[string]any); isObj {
				for _, k := range slices.Sorted(maps.Keys(m)) {
					if sub, isObj := m[k].(map[string]any); isObj {
						ok = checkFields(r, sub, fd.MapValue().Message(), child(loc, k)) && ok
					}
				}
			}
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			if list, isList := v.([]any); isList {
				for i, e := range list {
					if sub, isObj := e.(map[string]any); isObj {
						ok = checkFields(r, sub, fd.Message(), index(loc, i)) && ok
					}
				}
			}
		default:
			if sub, isObj := v.(map[string]any); isObj {
				ok = checkFields(r, sub, fd.Message(), loc) && ok
			}
		}
	}
	return ok
}

// suggestField names the field a misspelt key probably meant ("ResourceMethods", "resource-methods").
func suggestField(fields protoreflect.FieldDescriptors, key string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); norm(fd.JSONName()) == norm(key) {
			return ": did you mean \"" + fd.JSONName() + "\"?"
		}
	}
	return ""
}

// protoErrorPrefix matches protojson's "proto: (line 1:23): "; protobuf-go varies the space after "proto:" on
// purpose, and the position refers to JSON converted from the user's YAML, so both are dropped.
var protoErrorPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]*(\(line \d+:\d+\):\s*)?`)

func protoErrorText(err error) string {
	return protoErrorPrefix.ReplaceAllString(err.Error(), "")
}
