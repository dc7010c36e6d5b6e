// Package conformance reads the cases recorded against real API Gateway (../shared/conformance/cases) and
// checks outcomes against their expectations with the suite's matching rules (its README).
package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Case is one recorded request and what API Gateway did with it.
type Case struct {
	ID             string            `json:"id"`
	File           string            `json:"-"`
	API            json.RawMessage   `json:"api"`
	Stage          string            `json:"stage"`
	StageVariables map[string]string `json:"stageVariables"`
	Request        Request           `json:"request"`
	// FunctionResponse is what the function returned (AWS_PROXY cases).
	FunctionResponse json.RawMessage `json:"functionResponse"`
	Expect           Expect          `json:"expect"`
	// Functions are what other functions (Lambda authorizers) return, by the last segment of their ARN, shaped
	// like FunctionResponse (README additions 2026-12-06).
	Functions map[string]json.RawMessage `json:"functions"`
	// Requests and Expects replace Request and Expect for a sequence sent to one deployed API (shared cache).
	Requests []Request `json:"requests"`
	Expects  []Expect  `json:"expects"`
	// APIKeys are the keys bound to the stage (README additions 2026-12-06: apiKeys); JWKS the Cognito pool's key set.
	APIKeys json.RawMessage `json:"apiKeys"`
	JWKS    json.RawMessage `json:"jwks"`
}

// LambdaAuthorizerCase reports whether an authorizers/ case is about Lambda authorizers (issue 11 scope 1), not
// Cognito or API keys (operation-security-overrides-root is a Cognito case).
func LambdaAuthorizerCase(id string) bool {
	name := strings.TrimPrefix(id, "authorizers/")
	for _, p := range []string{"token-", "request-", "policy-", "context-value-types-stringified", "root-security-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// FunctionOutput is a recorded function output (functionResponse, functions:): payload (any JSON), raw bytes,
// and/or a function error.
type FunctionOutput struct {
	Payload       json.RawMessage `json:"payload"`
	Raw           *string         `json:"raw"`
	FunctionError string          `json:"functionError"`
}

// Sequence is the case's requests with their expectations: Requests/Expects, or the one Request/Expect.
func (c *Case) Sequence() ([]Request, []Expect) {
	if len(c.Requests) > 0 {
		return c.Requests, c.Expects
	}
	return []Request{c.Request}, []Expect{c.Expect}
}

// Request is what the client sent.
type Request struct {
	Method     string     `json:"method"`
	Target     string     `json:"target"`
	Headers    [][]string `json:"headers"`
	Body       *string    `json:"body"`
	BodyBase64 *string    `json:"bodyBase64"`
}

// BodyBytes is the request body (nil when none).
func (r Request) BodyBytes() ([]byte, error) {
	switch {
	case r.BodyBase64 != nil:
		return base64.StdEncoding.DecodeString(*r.BodyBase64)
	case r.Body != nil:
		return []byte(*r.Body), nil
	}
	return nil, nil
}

// Expect holds the checked keys; a nil RawMessage means "not checked", JSON null means "must be null".
type Expect struct {
	Route              json.RawMessage `json:"route"`
	Event              json.RawMessage `json:"event"`
	EventAbsentHeaders []string        `json:"eventAbsentHeaders"`
	Upstream           *Upstream       `json:"upstream"`
	Response           *Response       `json:"response"`
	// AuthorizerCalls is how many times the Lambda authorizer is invoked for the request; AuthorizerEvent the
	// event it receives, matched like Event.
	AuthorizerCalls *int            `json:"authorizerCalls"`
	AuthorizerEvent json.RawMessage `json:"authorizerEvent"`
}

// Upstream is the request the HTTP backend receives.
type Upstream struct {
	Method  *string             `json:"method"`
	URL     *string             `json:"url"`
	Headers map[string]string   `json:"headers"`
	Query   map[string][]string `json:"query"`
	Body    *string             `json:"body"`
}

// Response is what the client receives.
type Response struct {
	StatusCode *int              `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body"`
	BodyJSON   json.RawMessage   `json:"bodyJson"`
	BodyBase64 *string           `json:"bodyBase64"`
}

// Load reads every case of a group ("routing", "http-proxy", ...) under shared/conformance/cases.
func Load(sharedDir, group string) ([]*Case, error) {
	files, err := filepath.Glob(filepath.Join(sharedDir, "conformance", "cases", group, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no cases in group %s under %s", group, sharedDir)
	}
	sort.Strings(files)
	var out []*Case
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c Case
		if err := yaml.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if c.JWKS != nil {
			// YAML 1.1 (sigs.k8s.io/yaml) reads a JWK's "n" key as the boolean false; the cases are YAML 1.2.
			var doc struct {
				JWKS any `yaml:"jwks"`
			}
			if err := yamlv3.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("%s: jwks: %w", f, err)
			}
			if c.JWKS, err = json.Marshal(doc.JWKS); err != nil {
				return nil, fmt.Errorf("%s: jwks: %w", f, err)
			}
		}
		c.File = f
		out = append(out, &c)
	}
	return out, nil
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
var clfRe = regexp.MustCompile(`^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$`)

// MatchValue compares one expected scalar (string with placeholders) with an actual string.
func MatchValue(want, got string) bool {
	switch want {
	case "<any>":
		return true
	case "<string>":
		return got != ""
	case "<uuid>":
		return uuidRe.MatchString(got)
	case "<clf-time>":
		return clfRe.MatchString(got)
	}
	return want == got
}

// MatchJSON compares an expected JSON value with an actual one: objects key by key for the keys written in the
// expectation, lists and scalars equal, placeholders as in MatchValue. It returns a description of the first
// difference, or "".
func MatchJSON(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", path, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if !present {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if d := MatchJSON(path+"."+k, w[k], gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %v, got %v", path, w, got)
		}
		for i := range w {
			if d := MatchJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case string:
		if w == "<any>" {
			return "" // present, whatever its type (integrationLatency is a number)
		}
		if w == "<epoch-ms>" {
			n, ok := got.(float64)
			if !ok || abs(n-float64(time.Now().UnixMilli())) > float64(24*time.Hour/time.Millisecond) {
				return fmt.Sprintf("%s: want epoch milliseconds, got %v", path, got)
			}
			return ""
		}
		g, ok := got.(string)
		if !ok || !MatchValue(w, g) {
			return fmt.Sprintf("%s: want %q, got %v", path, w, got)
		}
		return ""
	default:
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			return fmt.Sprintf("%s: want %s, got %s", path, wb, gb)
		}
		return ""
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// MatchHeaders checks expected headers (a subset, names case-insensitive, "<absent>" for must-not-be-present,
// repeated lines joined with ", ") against actual header lines.
func MatchHeaders(what string, want map[string]string, got [][2]string) []string {
	var problems []string
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var vals []string
		for _, h := range got {
			if strings.EqualFold(h[0], name) {
				vals = append(vals, h[1])
			}
		}
		w := want[name]
		switch {
		case w == "<absent>":
			if len(vals) > 0 {
				problems = append(problems, fmt.Sprintf("%s header %s: want absent, got %q", what, name, vals))
			}
		case len(vals) == 0:
			problems = append(problems, fmt.Sprintf("%s header %s: missing (want %q)", what, name, w))
		default:
			joined := normaliseCommas(strings.Join(vals, ", "))
			if !MatchValue(w, joined) && normaliseCommas(w) != joined {
				problems = append(problems, fmt.Sprintf("%s header %s: want %q, got %q", what, name, w, joined))
			}
		}
	}
	return problems
}

func normaliseCommas(s string) string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimLeft(parts[i], " ")
	}
	return strings.Join(parts, ",")
}
