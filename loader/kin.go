package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// checkWithKin has kin-openapi parse the document — a document it cannot read at all is an error — and turns its
// validation findings into warnings, because API Gateway's importer accepts documents the specification does not
// (OAS-2 is one). The model itself is read from the decoded tree (openapi.go) so that every finding keeps its
// JSON path and no API Gateway extension is lost on the way.
func checkWithKin(r *reporter, tree map[string]any, swagger bool) (ok bool) {
	// kin-openapi is third-party code run on untrusted input: a panic in it must not take the caller down.
	defer func() {
		if p := recover(); p != nil {
			r.warnf("$", "", "OAS-1", "the OpenAPI validator failed on this document (%v); it was not validated", p)
			ok = true
		}
	}()
	js, err := json.Marshal(kinCopy(tree, swagger))
	if err != nil {
		r.errorf("$", "", "OAS-1", "cannot re-encode the document: %v", err)
		return false
	}
	var doc *openapi3.T
	if swagger {
		var doc2 openapi2.T
		if err := json.Unmarshal(js, &doc2); err != nil {
			path, field := locateTypeError(tree, err)
			r.errorf(path, field, "OAS-1", "not a valid Swagger 2.0 document: %s", kinLoadError(err))
			return false
		}
		if doc, err = openapi2conv.ToV3(&doc2); err != nil {
			r.warnf("$", "", "OAS-1", "the OpenAPI validator could not check this document: %v", err)
			return true
		}
	} else {
		// External references stay disallowed (the default): loading a definition never reads files or URLs.
		if doc, err = openapi3.NewLoader().LoadFromData(js); err != nil {
			path, field := locateTypeError(tree, err)
			r.errorf(path, field, "OAS-1", "not a valid OpenAPI 3 document: %s", kinLoadError(err))
			return false
		}
	}
	if err := doc.Validate(context.Background()); err != nil {
		r.warnf("$", "", "OAS-1", "the document does not validate against the OpenAPI specification (API Gateway may "+
			"still import it): %s", oneLine(err))
	}
	return true
}

var greedyParamRe = regexp.MustCompile(`\{([^{}/]+)\+\}`)

// kinCopy is what kin-openapi gets to see: greedy parameters written {proxy} (OAS-2: kin rejects {proxy+} against
// a parameter named proxy) and the version as a string (YAML reads openapi: 3.0 as a number). The tree itself is
// not modified.
func kinCopy(tree map[string]any, swagger bool) map[string]any {
	out := make(map[string]any, len(tree))
	for k, v := range tree {
		out[k] = v
	}
	versionKey := "openapi"
	if swagger {
		versionKey = "swagger"
	}
	if _, isString := tree[versionKey].(string); !isString {
		out[versionKey] = versionString(tree[versionKey])
	}
	if paths, ok := tree["paths"].(map[string]any); ok {
		renamed := make(map[string]any, len(paths))
		for k, v := range paths {
			nk := greedyParamRe.ReplaceAllString(k, "{$1}")
			if _, clash := paths[nk]; clash && nk != k {
				nk = k // /a/{x} and /a/{x+} both exist: keep the original and let kin complain.
			}
			renamed[nk] = v
		}
		out["paths"] = renamed
	}
	return out
}

// kinLoadError is the JSON half of kin-openapi's load error: it tries JSON, then YAML, and reports both, but
// the document it gets is always JSON, so the YAML attempt only repeats the finding in other words.
func kinLoadError(err error) string {
	msg := oneLine(err)
	msg = strings.TrimPrefix(msg, "failed to unmarshal data: ")
	msg = strings.TrimPrefix(msg, "json error: ")
	if i := strings.Index(msg, ", yaml error:"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// typeErrorRe reads the field and wanted type out of encoding/json's type error, which kin-openapi passes on:
// "cannot unmarshal string into field Operation.deprecated of type bool".
var typeErrorRe = regexp.MustCompile(`cannot unmarshal (\w+) into (?:Go struct )?field (?:\w+\.)*(\w+) of type (\S+)`)

// locateTypeError finds, for a JSON type error, the first value in the document under that key with the JSON
// type the error names; "$" and no field when there is none.
func locateTypeError(tree map[string]any, err error) (path, field string) {
	m := typeErrorRe.FindStringSubmatch(err.Error())
	if m == nil {
		return "$", ""
	}
	got, key := m[1], m[2]
	var find func(v any, p string) (string, bool)
	find = func(v any, p string) (string, bool) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if k == key && jsonKind(v[k]) == got {
					return child(p, k), true
				}
				if found, ok := find(v[k], child(p, k)); ok {
					return found, true
				}
			}
		case []any:
			for i, e := range v {
				if found, ok := find(e, index(p, i)); ok {
					return found, true
				}
			}
		}
		return "", false
	}
	if p, ok := find(tree, "$"); ok {
		return p, key
	}
	return "$", ""
}

// jsonKind names a decoded value's type the way encoding/json's errors do.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(fmt.Sprint(err)), " ")
}
