package apianswer

import (
	"strconv"
	"strings"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/mappingtemplate"
)

// GatewayError is one gateway-generated response as proxyplus makes it without customisation.
type GatewayError struct {
	// Type is the gateway response type; "" when the error has no specific type of its own (it then takes only
	// DEFAULT_4XX / DEFAULT_5XX).
	Type       string
	StatusCode int
	// Body is the uncustomised body, kept byte for byte when the customisation sets no template.
	Body      string
	ErrorType string
	// Message is $context.error.message.
	Message string
}

// UnsupportedMediaTypeError is the passthrough behaviour's refusal of a Content-Type no request template matches
// (ErrUnsupportedMediaType): 415, UNSUPPORTED_MEDIA_TYPE. The translator renders it for a static MOCK route, the
// processor per request.
var UnsupportedMediaTypeError = GatewayError{Type: UnsupportedMediaType, StatusCode: 415,
	Body: `{"message": "Unsupported Media Type"}`, ErrorType: "UnsupportedMediaTypeException", Message: "Unsupported Media Type"}

// Customisation is the gateway response that shapes e (MOCK-CORS.md §3): the customised specific type, as a
// whole; else DEFAULT_4XX or DEFAULT_5XX by status class; name is the type it came from. ok is false when nothing
// is customised for e.
func Customisation(grs map[string]ir.GatewayResponse, e GatewayError) (gr ir.GatewayResponse, name string, ok bool) {
	if len(grs) == 0 {
		return gr, "", false
	}
	if e.Type != "" {
		if gr, ok := grs[e.Type]; ok {
			return gr, e.Type, true
		}
	}
	def := Default4XX
	if e.StatusCode >= 500 {
		def = Default5XX
	}
	gr, ok = grs[def]
	return gr, def, ok
}

// GatewayContext is what a gateway-response template can read at translation time and per request.
type GatewayContext struct {
	Stage, APIID   string
	StageVariables map[string]string
	// Extra $context variables known per request (requestId, identity.sourceIp, ...), nil at translation time.
	Extra map[string]string
}

// Gateway is the response for e with the API's customisations applied: status override, header literals, the
// template chosen by accept rendered by plain substitution (not VTL; DG
// api-gateway-swagger-extensions-gateway-responses.md). Without a customisation it is e as is. Headers come
// without Content-Type and the request-id headers, which the caller adds.
func Gateway(grs map[string]ir.GatewayResponse, e GatewayError, accept string, c GatewayContext) *Answer {
	a := &Answer{StatusCode: e.StatusCode, Body: []byte(e.Body), ErrorType: e.ErrorType}
	gr, _, ok := Customisation(grs, e)
	if !ok {
		return a
	}
	if gr.StatusCode != 0 {
		a.StatusCode = int(gr.StatusCode)
	}
	a.Headers = append(a.Headers, gr.Headers...)
	if t, ok := ResponseTemplate(gr.Templates, accept); ok {
		typ := e.Type
		if typ == "" {
			typ = Default4XX
			if e.StatusCode >= 500 {
				typ = Default5XX
			}
		}
		ctx := map[string]string{
			"stage": c.Stage, "apiId": c.APIID, "error.message": e.Message,
			"error.messageString": strconv.Quote(e.Message), "error.responseType": typ,
		}
		for k, v := range c.Extra {
			ctx[k] = v
		}
		a.Body = substitute(t.Template, ctx, c.StageVariables)
	}
	return a
}

// substitute renders a gateway-response template with the interpreter's plain substitution.
func substitute(src string, ctx, vars map[string]string) []byte {
	t, err := mappingtemplate.ParseSubstitution("gateway response", src)
	if err != nil {
		return []byte(src)
	}
	out, err := t.Render(&mappingtemplate.Input{Context: ctx, StageVariables: vars})
	if err != nil {
		return []byte(src)
	}
	return out
}

// requestContextVars are $context variables whose value differs per request: a gateway-response template that
// uses one cannot be rendered at translation time.
var requestContextVars = []string{"requestId", "extendedRequestId", "requestTime", "requestTimeEpoch", "identity",
	"path", "domainName", "domainPrefix", "httpMethod", "resourcePath", "resourceId", "protocol", "authorizer",
	"xrayTraceId", "requestOverride", "responseOverride", "accountId", "error.validationErrorString"}

// RequestDependent names the first per-request $context variable template uses, "" when it uses none.
func RequestDependent(template string) string {
	for rest := template; ; {
		i := strings.Index(rest, "context.")
		if i < 0 {
			return ""
		}
		rest = rest[i+len("context."):]
		for _, v := range requestContextVars {
			if strings.HasPrefix(rest, v) {
				return v
			}
		}
	}
}
