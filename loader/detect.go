package loader

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Input formats reported in Result.Format.
const (
	FormatProxyplus = "proxyplus"
	FormatOpenAPI3  = "openapi3"
	FormatSwagger2  = "swagger2"
)

// document is an input decoded to JSON: the bytes (what protojson and kin-openapi read) and the generic tree
// (what the importers walk, so every finding can be given a JSON path).
type document struct {
	json []byte
	tree map[string]any
}

// decode reads JSON or YAML, reporting why it cannot. JSON is used as is because YAML 1.1 differs from JSON in
// corner cases (tabs); everything else goes through YAMLToJSON, which also accepts JSON-like YAML, after
// scanYAML has bounded its expanded size and refused YAML 1.1 booleans.
func decode(r *reporter, data []byte) *document {
	js := data
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		if !scanYAML(r, data) {
			return nil
		}
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			r.errorf("$", "", "format", "not valid JSON or YAML: %v", err)
			return nil
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	// Numbers are kept as json.Number so integers (timeouts, status codes) are read exactly.
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		r.errorf("$", "", "format", "not valid JSON or YAML: %v", err)
		return nil
	}
	tree, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			r.errorf("$", "", "format", "the document is empty")
		} else {
			r.errorf("$", "", "format", "the document must be an object, not %s", jsonType(v))
		}
		return nil
	}
	return &document{json: js, tree: tree}
}

// detectFormat tells OpenAPI 3 (openapi: 3.x) and Swagger 2 (swagger: "2.0") from proxyplus's own format, which
// has neither key. It returns the version string as written so the importer can judge it.
func detectFormat(tree map[string]any) (format, version string) {
	if v, ok := tree["openapi"]; ok {
		return FormatOpenAPI3, versionString(v)
	}
	if v, ok := tree["swagger"]; ok {
		return FormatSwagger2, versionString(v)
	}
	return FormatProxyplus, ""
}

// versionString accepts the unquoted YAML forms (openapi: 3.0 decodes as a number).
func versionString(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', 1, 64)
		}
		return v.String()
	}
	return ""
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}
