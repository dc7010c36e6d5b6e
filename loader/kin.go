package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
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
			r.errorf("$", "", "OAS-1", "not a valid Swagger 2.0 document: %v", err)
			return false
		}
		if doc, err = openapi2conv.ToV3(&doc2); err != nil {
			r.warnf("$", "", "OAS-1", "the OpenAPI validator could not check this document: %v", err)
			return true
		}
	} else {
		// External references stay disallowed (the default): loading a definition never reads files or URLs.
		if doc, err = openapi3.NewLoader().LoadFromData(js); err != nil {
			r.errorf("$", "", "OAS-1", "not a valid OpenAPI 3 document: %s", kinLoadError(err))
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

func oneLine(err error) string {
	return strings.Join(strings.Fields(fmt.Sprint(err)), " ")
}
