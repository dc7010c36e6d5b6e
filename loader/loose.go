package loader

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// looseBooleans and looseIntegers are the OpenAPI, Swagger and API Gateway extension fields whose value API
// Gateway's importer accepts as a string too ("required": "true", "timeoutInMillis": "5000"): its JSON reader
// coerces scalars to the declared type. kin-openapi and the importer's own readers do not, so these are coerced
// once, on the tree both read, with a warning at each.
var (
	looseBooleans = map[string]bool{
		"required": true, "deprecated": true, "allowEmptyValue": true, "explode": true, "allowReserved": true,
		"nullable": true, "readOnly": true, "writeOnly": true, "uniqueItems": true, "exclusiveMaximum": true,
		"exclusiveMinimum": true, "insecureSkipVerification": true,
	}
	looseIntegers = map[string]bool{
		"timeoutInMillis": true, "maxLength": true, "minLength": true, "maxItems": true, "minItems": true,
		"maxProperties": true, "minProperties": true,
	}
	// looseDataKeys hold user data (examples, defaults, mapping templates), never coerced.
	looseDataKeys = map[string]bool{
		"example": true, "examples": true, "default": true, "enum": true, "requestTemplates": true,
		"responseTemplates": true, "requestParameters": true, "responseParameters": true,
	}
)

// coerceLoose rewrites, in place, the loosely typed scalars of looseBooleans and looseIntegers into the types
// the specification requires, warning at each (OAS-1).
func coerceLoose(r *reporter, v any, path string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := child(path, k)
			s, isString := v[k].(string)
			switch {
			case looseDataKeys[k]:
			case isString && looseBooleans[k]:
				if strings.EqualFold(s, "true") || strings.EqualFold(s, "false") {
					b := strings.EqualFold(s, "true")
					v[k] = b
					r.warnf(p, k, "OAS-1", "%s is the string %q, not a boolean; API Gateway reads it as %t and so does "+
						"proxyplus (write %t)", k, s, b, b)
				}
			case isString && looseIntegers[k]:
				if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
					v[k] = json.Number(strconv.FormatInt(n, 10))
					r.warnf(p, k, "OAS-1", "%s is the string %q, not a number; API Gateway reads it as %d and so does "+
						"proxyplus (write %d)", k, s, n, n)
				}
			default:
				coerceLoose(r, v[k], p)
			}
		}
	case []any:
		for i, e := range v {
			coerceLoose(r, e, index(path, i))
		}
	}
}
