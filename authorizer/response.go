package authorizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Result is a Lambda authorizer's accepted answer: who the caller is, what it may invoke, and what reaches the
// integration. Immutable: the cache shares it between requests.
type Result struct {
	PrincipalID string
	// Context is the answer's context with every value stringified (AUTHORIZERS.md §3), sorted by key.
	Context [][2]string
	// UsageIdentifierKey is the API key the authorizer names for usage plans (API key source AUTHORIZER).
	UsageIdentifierKey string
	Policy             *Policy
}

// errUnauthorized is a function error whose message is exactly "Unauthorized": 401 (AUTHORIZERS.md §2).
var errUnauthorized = errors.New("the authorizer function answered Unauthorized")

// maxContextKeys bounds the context a function can make the gateway copy into every event.
const maxContextKeys = 256

// ParseResult reads what the authorizer function returned (DG api-gateway-lambda-authorizer-output.md). A
// function error is errUnauthorized when its errorMessage is exactly "Unauthorized", otherwise an error (500);
// an answer without a principalId or a valid policyDocument, or with a context value that is an object or a
// list, is an error (500, AUTHORIZERS.md §2).
func ParseResult(payload []byte, functionError string) (*Result, error) {
	if functionError != "" {
		var e struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(payload, &e) == nil && e.ErrorMessage == "Unauthorized" {
			return nil, errUnauthorized
		}
		return nil, fmt.Errorf("the authorizer function failed (%s): %.200s", functionError, payload)
	}
	if bytes.Equal(bytes.TrimSpace(payload), []byte(`"Unauthorized"`)) {
		// Some runtimes report callback("Unauthorized") as the error string itself.
		return nil, errUnauthorized
	}
	// Keys are matched exactly (encoding/json's struct fields would also take "principalid").
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return nil, fmt.Errorf("the authorizer's answer is not a JSON object: %w", err)
	}
	var out struct {
		PrincipalID, PolicyDocument json.RawMessage
		Context                     map[string]json.RawMessage
		UsageIdentifierKey          *string
	}
	out.PrincipalID, out.PolicyDocument = top["principalId"], top["policyDocument"]
	if c := top["context"]; c != nil && string(c) != "null" {
		if err := json.Unmarshal(c, &out.Context); err != nil {
			return nil, fmt.Errorf("context: %w", err)
		}
	}
	if k := top["usageIdentifierKey"]; k != nil && string(k) != "null" {
		if err := json.Unmarshal(k, &out.UsageIdentifierKey); err != nil {
			return nil, fmt.Errorf("usageIdentifierKey: %w", err)
		}
	}
	if out.PolicyDocument == nil {
		return nil, errors.New("the authorizer's answer has no policyDocument")
	}
	r := &Result{}
	switch p, err := scalarString(out.PrincipalID); {
	case out.PrincipalID == nil || string(out.PrincipalID) == "null":
		return nil, errors.New("the authorizer's answer has no principalId")
	case err != nil:
		return nil, fmt.Errorf("principalId: %w", err)
	default:
		r.PrincipalID = p
	}
	var err error
	if r.Policy, err = ParsePolicy(out.PolicyDocument); err != nil {
		return nil, err
	}
	if out.UsageIdentifierKey != nil {
		r.UsageIdentifierKey = *out.UsageIdentifierKey
	}
	if len(out.Context) > maxContextKeys {
		return nil, fmt.Errorf("the authorizer's context has %d keys, more than %d", len(out.Context), maxContextKeys)
	}
	for k, v := range out.Context {
		if string(v) == "null" {
			continue
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("context key %q: %w", k, err)
		}
		r.Context = append(r.Context, [2]string{k, s})
	}
	slices.SortFunc(r.Context, func(a, b [2]string) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return r, nil
}

// scalarString is a JSON string, number or boolean as API Gateway stringifies it: strings as they are, numbers
// as written, true/false.
func scalarString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return "", err
		}
		return strconv.FormatBool(b), nil
	case '{', '[':
		return "", errors.New("objects and lists are not allowed; values must be strings, numbers or booleans")
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// AppendContextJSON appends requestContext.authorizer as the integration receives it: the context keys, then
// principalId and integrationLatency (the order of the AWS measurement in DefinitelyTyped/DefinitelyTyped#69823).
func (r *Result) AppendContextJSON(dst []byte, latencyMillis int64) []byte {
	dst = append(dst, '{')
	for _, kv := range r.Context {
		if kv[0] == "principalId" || kv[0] == "integrationLatency" {
			continue // the gateway's own keys win
		}
		dst = appendJSONString(dst, kv[0])
		dst = append(dst, ':')
		dst = appendJSONString(dst, kv[1])
		dst = append(dst, ',')
	}
	dst = append(dst, `"principalId":`...)
	dst = appendJSONString(dst, r.PrincipalID)
	dst = append(dst, `,"integrationLatency":`...)
	dst = strconv.AppendInt(dst, latencyMillis, 10)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
