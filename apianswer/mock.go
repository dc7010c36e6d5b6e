// Package apianswer builds the answers Amazon API Gateway makes itself, without a backend: MOCK integrations
// (MOCK-CORS.md §1, §2) and gateway responses (§3). The same code renders them at translation time, when nothing
// in them reads the request (Envoy then answers alone, with a direct_response), and per request in the processor.
package apianswer

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/mappingtemplate"
)

// Request is what a MOCK answer may read of a method request.
type Request struct {
	// ContentType and Accept are the request's headers ("" when absent).
	ContentType, Accept string
	Body                []byte
	// PathParams, QueryParams and Headers are the method request parameters (first value of each).
	PathParams, QueryParams, Headers map[string]string
	StageVariables                   map[string]string
	// Context holds $context variables by dotted name (requestId, httpMethod, resourcePath, stage, apiId, ...).
	Context map[string]string
}

// Answer is a response API Gateway generates.
type Answer struct {
	StatusCode int
	Headers    [][2]string
	Body       []byte
	// ErrorType is the x-amzn-ErrorType of a gateway error, "" otherwise.
	ErrorType string
	// Details names the outcome for logs (%RESPONSE_CODE_DETAILS%).
	Details string
}

// Gateway response types proxyplus generates (DG supported-gateway-response-types.md).
const (
	MissingAuthenticationToken = "MISSING_AUTHENTICATION_TOKEN"
	Unauthorized               = "UNAUTHORIZED"
	AccessDenied               = "ACCESS_DENIED"
	AuthorizerFailure          = "AUTHORIZER_FAILURE"
	AuthorizerConfiguration    = "AUTHORIZER_CONFIGURATION_ERROR"
	Throttled                  = "THROTTLED"
	QuotaExceeded              = "QUOTA_EXCEEDED"
	InvalidAPIKey              = "INVALID_API_KEY"
	APIConfigurationError      = "API_CONFIGURATION_ERROR"
	IntegrationFailure         = "INTEGRATION_FAILURE"
	IntegrationTimeout         = "INTEGRATION_TIMEOUT"
	RequestTooLarge            = "REQUEST_TOO_LARGE"
	UnsupportedMediaType       = "UNSUPPORTED_MEDIA_TYPE"
	BadRequestBody             = "BAD_REQUEST_BODY"
	Default4XX                 = "DEFAULT_4XX"
	Default5XX                 = "DEFAULT_5XX"
)

// AuthorizationServiceTypes are the gateway response types that can customise the authorization service's
// denials (package authz: Cognito scope and token_use 401s, API-key 403s and 429s): its route data carries the
// stage's customisations of these only (xds/builder authorizationPerRoute), which keeps that data small.
var AuthorizationServiceTypes = []string{Unauthorized, InvalidAPIKey, Throttled, QuotaExceeded, Default4XX}

// defaultContentType is the Content-Type of every MOCK answer that maps none (DG api-gateway-known-issues.md,
// MOCK-CORS.md §1 "Default headers of a MOCK response").
const defaultContentType = "application/json"

// MockStatus is the status a rendered integration request selects with: the three digits after the first
// statusCode key, in JSON or in the lenient {statusCode: 200} CDK writes (MOCK-CORS.md §1), optionally quoted;
// ok is false when it names none.
func MockStatus(rendered []byte) (string, bool) {
	const key = "statusCode"
	for rest := rendered; ; {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return "", false
		}
		rest = rest[i+len(key):]
		j := 0
		if j < len(rest) && rest[j] == '"' {
			j++
		}
		j = skipSpace(rest, j)
		if j >= len(rest) || rest[j] != ':' {
			continue
		}
		j = skipSpace(rest, j+1)
		if j < len(rest) && rest[j] == '"' {
			j++
		}
		if j+3 <= len(rest) && isDigit(rest[j]) && isDigit(rest[j+1]) && isDigit(rest[j+2]) && (j+3 == len(rest) || !isDigit(rest[j+3])) {
			return string(rest[j : j+3]), true
		}
		return "", false
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// MediaType is the lower-case type/subtype of a Content-Type or Accept entry, parameters dropped.
func MediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// RequestTemplate is the template a request's Content-Type selects (no Content-Type means application/json);
// ok is false when none matches.
func RequestTemplate(m *ir.MockTemplates, contentType string) (ir.MediaTemplate, bool) {
	mt := MediaType(contentType)
	if mt == "" {
		mt = defaultContentType
	}
	for _, t := range m.RequestTemplates {
		if t.MediaType == mt {
			return t, true
		}
	}
	return ir.MediaTemplate{}, false
}

// ResponseTemplate is the template Accept selects (DG request-response-data-mappings.md, MOCK-CORS.md §1): the
// first Accept entry naming a template's media type; without one application/json; otherwise the first
// template. ok is false when there are none.
func ResponseTemplate(templates []ir.MediaTemplate, accept string) (ir.MediaTemplate, bool) {
	if len(templates) == 0 {
		return ir.MediaTemplate{}, false
	}
	for _, entry := range strings.Split(accept, ",") {
		mt := MediaType(entry)
		for _, t := range templates {
			if t.MediaType == mt {
				return t, true
			}
		}
	}
	for _, t := range templates {
		if t.MediaType == defaultContentType {
			return t, true
		}
	}
	return templates[0], true
}

// SelectResponse is the integration response status selects: the first selection pattern matching the whole
// status, else the default (DG api-gateway-integration-settings-integration-response.md).
func SelectResponse(m *ir.MockTemplates, status string) (*ir.MockResponse, error) {
	var def *ir.MockResponse
	for i := range m.Responses {
		r := &m.Responses[i]
		if r.Pattern == "" {
			def = r
			continue
		}
		re, err := compilePattern(r.Pattern)
		if err != nil {
			return nil, err
		}
		if re.MatchString(status) {
			return r, nil
		}
	}
	if def == nil {
		return nil, fmt.Errorf("no integration response selects status %s and none is the default", status)
	}
	return def, nil
}

// Refuses reports whether the passthrough behaviour refuses a Content-Type no request template matches.
func Refuses(m *ir.MockTemplates) bool {
	return m.Passthrough == "NEVER" || m.Passthrough == "WHEN_NO_TEMPLATES" && len(m.RequestTemplates) > 0
}

// DefaultResponse is the integration response without a selection pattern, nil when there is none.
func DefaultResponse(m *ir.MockTemplates) *ir.MockResponse { return defaultResponse(m) }

func defaultResponse(m *ir.MockTemplates) *ir.MockResponse {
	for i := range m.Responses {
		if m.Responses[i].Pattern == "" {
			return &m.Responses[i]
		}
	}
	return nil
}

// patterns caches compiled selection patterns and templates parsed templates, by source: route data arrives per
// request, its patterns and templates repeat. Bounded: configuration generations come and go.
var (
	patterns  = boundedCache[*regexp.Regexp]{max: maxCached}
	templates = boundedCache[*mappingtemplate.Template]{max: maxCached}
)

// maxCached bounds each cache; a full cache starts over (the working set is a configuration's templates).
const maxCached = 4096

type boundedCache[V any] struct {
	mu  sync.RWMutex
	m   map[string]V
	max int
}

func (c *boundedCache[V]) get(k string) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *boundedCache[V]) put(k string, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[string]V)
	}
	c.m[k] = v
	c.mu.Unlock()
}

func compilePattern(p string) (*regexp.Regexp, error) {
	if re, ok := patterns.get(p); ok {
		return re, nil
	}
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, fmt.Errorf("selection pattern %q: %w", p, err)
	}
	patterns.put(p, re)
	return re, nil
}

func parsed(name, src string) (*mappingtemplate.Template, error) {
	if t, ok := templates.get(src); ok {
		return t, nil
	}
	t, err := mappingtemplate.Parse(name, src)
	if err != nil {
		return nil, err
	}
	templates.put(src, t)
	return t, nil
}

// Render renders one mapping template with the request's inputs and body.
func Render(name, src string, req *Request, body []byte) ([]byte, error) {
	t, err := parsed(name, src)
	if err != nil {
		return nil, err
	}
	return t.Render(&mappingtemplate.Input{Body: body, PathParams: req.PathParams, QueryParams: req.QueryParams,
		Headers: req.Headers, StageVariables: req.StageVariables, Context: req.Context})
}

// ErrUnsupportedMediaType is a request whose Content-Type the passthrough behaviour refuses.
var ErrUnsupportedMediaType = errors.New("unsupported media type")

// Mock is a MOCK integration's answer to req, without the x-amzn-RequestId and x-amz-apigw-id headers every
// answer gets. A configuration or template failure is an error; the caller answers API Gateway's 500.
func Mock(m *ir.MockTemplates, req *Request) (*Answer, error) {
	var r *ir.MockResponse
	if t, ok := RequestTemplate(m, req.ContentType); ok {
		// A template without references, directives or escapes renders to itself: the usual {"statusCode": 200}.
		out := []byte(t.Template)
		if strings.ContainsAny(t.Template, "$#\\") {
			var err error
			if out, err = Render("integration request "+t.MediaType, t.Template, req, req.Body); err != nil {
				return nil, fmt.Errorf("request template %s: %w", t.MediaType, err)
			}
		}
		status, ok := MockStatus(out)
		if !ok {
			// AWS: "Execution failed due to configuration error: statusCode should be an integer which defined in
			// request template".
			return nil, fmt.Errorf("request template %s: statusCode should be an integer which defined in request template", t.MediaType)
		}
		var err error
		if r, err = SelectResponse(m, status); err != nil {
			return nil, err
		}
	} else {
		// DG integration-passthrough-behaviors.md: NEVER refuses every unmapped Content-Type, WHEN_NO_TEMPLATES
		// refuses it once any template is defined, WHEN_NO_MATCH passes the body through — and a MOCK without a
		// request template answers with its default integration response (DG how-to-mock-integration.md: "return
		// the default integration response without defining the integration request mapping template").
		if Refuses(m) {
			return nil, ErrUnsupportedMediaType
		}
		if r = defaultResponse(m); r == nil {
			return nil, fmt.Errorf("no request template matches and no integration response is the default")
		}
	}
	return Respond(r, req)
}

// Respond is the answer of the selected integration response r: its header mappings and the response template
// Accept chooses.
func Respond(r *ir.MockResponse, req *Request) (*Answer, error) {
	// Room for Content-Type, the mapped headers and the two request ids the caller adds.
	a := &Answer{StatusCode: int(r.StatusCode), Details: "proxyplus_mock", Headers: make([][2]string, 1, len(r.Headers)+3)}
	contentType := defaultContentType
	for _, h := range r.Headers {
		v, ok := mappedValue(h.Source, req)
		if !ok {
			continue // an absent parameter maps no header
		}
		if strings.EqualFold(h.Name, "content-type") {
			contentType = v
			continue
		}
		a.Headers = append(a.Headers, [2]string{h.Name, v})
	}
	a.Headers[0] = [2]string{"Content-Type", contentType}
	if t, ok := ResponseTemplate(r.Templates, req.Accept); ok {
		// A MOCK has no integration response payload: $input.body is empty (MOCK-CORS.md §1).
		out, err := Render("integration response "+t.MediaType, t.Template, req, nil)
		if err != nil {
			return nil, fmt.Errorf("response template %s of status %d: %w", t.MediaType, r.StatusCode, err)
		}
		a.Body = out
	}
	return a, nil
}

func mappedValue(s ir.ValueSource, req *Request) (string, bool) {
	var v string
	var ok bool
	switch s.Kind {
	case ir.FromStatic:
		return s.Name, true
	case ir.FromPath:
		v, ok = req.PathParams[s.Name]
	case ir.FromQuery:
		v, ok = req.QueryParams[s.Name]
	case ir.FromHeader:
		v, ok = req.Headers[strings.ToLower(s.Name)]
	case ir.FromContext:
		v, ok = req.Context[s.Name]
	}
	return v, ok
}
