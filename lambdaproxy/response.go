package lambdaproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Invocation is the outcome of invoking the function.
type Invocation struct {
	// Payload is what the function returned (the Invoke response payload).
	Payload []byte
	// FunctionError is X-Amz-Function-Error ("Unhandled", "Handled"), "" when none.
	FunctionError string
	// Err is set when the invoke call itself failed (transport, throttled, not found...): OUT-3, OPEN-3. Wrap
	// ErrAccessDenied or ErrRequestTooLarge, or return an error with an ErrorCode() string method (the AWS SDK's
	// smithy.APIError) reporting "AccessDeniedException" or "RequestTooLargeException", to get their statuses.
	Err error
	// TimedOut is set when the integration timeout expired (OUT-17).
	TimedOut bool
}

// MaxFunctionResponseBytes is Lambda's synchronous response limit (LIM-5). A larger payload gives 502 (OUT-4).
// The exact value is the one in Lambda's error "Response payload size exceeded maximum allowed payload size
// (6291556 bytes)" as API Gateway logs it [measured on AWS: DataBiosphere/azul#7466, #8192].
const MaxFunctionResponseBytes = 6291556

var (
	// ErrAccessDenied marks an Invoke error that API Gateway answers with 500 (OUT-3, OPEN-3).
	ErrAccessDenied = errors.New("lambdaproxy: invoke: AccessDeniedException")
	// ErrRequestTooLarge marks an Invoke error caused by an event above Lambda's request limit: 413 (OUT-4).
	ErrRequestTooLarge = errors.New("lambdaproxy: invoke: RequestTooLargeException")
)

// Response.Details values (%RESPONSE_CODE_DETAILS% in Envoy's access log, envoy-notes EXT-9).
const (
	DetailsLambdaOK                = "proxyplus_lambda_ok"
	DetailsMalformedLambdaResponse = "proxyplus_malformed_lambda_response"
	DetailsLambdaFunctionError     = "proxyplus_lambda_function_error"
	DetailsLambdaTimeout           = "proxyplus_lambda_timeout"
	DetailsLambdaResponseTooLarge  = "proxyplus_lambda_response_too_large"
	DetailsLambdaInvalidBase64     = "proxyplus_lambda_invalid_base64"
	DetailsLambdaInvokeError       = "proxyplus_lambda_invoke_error"
	DetailsLambdaAccessDenied      = "proxyplus_lambda_access_denied"
	DetailsLambdaRequestTooLong    = "proxyplus_lambda_request_too_long"
	DetailsMissingAuthToken        = "proxyplus_missing_authentication_token"
	DetailsForbidden               = "proxyplus_forbidden"
	DetailsInternalServerError     = "proxyplus_internal_server_error"
	DetailsBadGateway              = "proxyplus_bad_gateway"
	DetailsIntegrationTimeout      = "proxyplus_integration_timeout"
	DetailsContentLengthExceeded   = "proxyplus_content_length_exceeded"
)

// The gateway's own bodies, byte for byte (ERR-2).
const (
	outBodyInternalServerError   = `{"message": "Internal server error"}`
	outBodyEndpointTimedOut      = `{"message": "Endpoint request timed out"}`
	outBodyRequestTooLong        = `{"message": "Request Too Long"}`
	outBodyMissingAuthToken      = `{"message":"Missing Authentication Token"}`
	outBodyForbidden             = `{"message":"Forbidden"}`
	outBodyContentLengthExceeded = `HTTP content length exceeded 10485760 bytes.`
)

// x-amzn-ErrorType values (ERR-2).
const (
	outErrTypeInternal     = "InternalServerErrorException"
	outErrTypeBadRequest   = "BadRequestException"
	outErrTypeMissingToken = "MissingAuthenticationTokenException"
	outErrTypeForbidden    = "ForbiddenException"
)

// GatewayError returns the gateway's own error response for status, with the common headers of ERR-1
// (Content-Type: application/json, Content-Length, x-amzn-RequestId, x-amz-apigw-id, x-amzn-ErrorType; no
// X-Amzn-Trace-Id). The rows of ERR-2:
//
//	403  {"message":"Missing Authentication Token"}   MissingAuthenticationTokenException  (RTE-16)
//	413  {"message": "Request Too Long"}               BadRequestException                  (OUT-4, event too large)
//	500  {"message": "Internal server error"}          InternalServerErrorException         (RES-13, EVT-29, OUT-13, OUT-3, HTP-15)
//	502  {"message": "Internal server error"}          InternalServerErrorException         (OUT-2..OUT-5)
//	504  {"message": "Endpoint request timed out"}     InternalServerErrorException         (OUT-17, HTP-14, OPEN-14)
//
// Any other status gives the 500 row. The 403 Forbidden of an unknown stage or host is ForbiddenError, the
// 10 MB 413 is ContentLengthExceeded. Details names the row; callers may overwrite it with something more precise.
func GatewayError(status int, c *Context) *Response {
	switch status {
	case 403:
		return outGatewayResponse(403, outBodyMissingAuthToken, outErrTypeMissingToken, DetailsMissingAuthToken, c)
	case 413:
		return outGatewayResponse(413, outBodyRequestTooLong, outErrTypeBadRequest, DetailsLambdaRequestTooLong, c)
	case 502:
		return outGatewayResponse(502, outBodyInternalServerError, outErrTypeInternal, DetailsBadGateway, c)
	case 504:
		return outGatewayResponse(504, outBodyEndpointTimedOut, outErrTypeInternal, DetailsIntegrationTimeout, c)
	default:
		return outGatewayResponse(500, outBodyInternalServerError, outErrTypeInternal, DetailsInternalServerError, c)
	}
}

// ForbiddenError is the 403 {"message":"Forbidden"} (ForbiddenException) of an unknown stage or API host
// (RTE-17/18, OPEN-14).
func ForbiddenError(c *Context) *Response {
	return outGatewayResponse(403, outBodyForbidden, outErrTypeForbidden, DetailsForbidden, c)
}

// ContentLengthExceeded is the 413 for a request body above 10 MB (LIM-1): plain text, no x-amzn-* headers (ERR-1's
// exception).
func ContentLengthExceeded() *Response {
	return &Response{
		StatusCode: 413,
		Headers: [][2]string{
			{"Content-Type", "text; charset=utf-8"},
			{"Content-Length", strconv.Itoa(len(outBodyContentLengthExceeded))},
		},
		Body:    []byte(outBodyContentLengthExceeded),
		Details: DetailsContentLengthExceeded,
	}
}

func outGatewayResponse(status int, body, errType, details string, c *Context) *Response {
	if c == nil {
		c = &Context{}
	}
	h := make([][2]string, 0, 5)
	h = append(h, [2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", strconv.Itoa(len(body))})
	h = outAppendGatewayIDs(h, c)
	h = append(h, [2]string{"x-amzn-ErrorType", errType})
	return &Response{StatusCode: status, Headers: h, Body: []byte(body), ErrorType: errType, Details: details}
}

// outAppendGatewayIDs adds x-amzn-RequestId and x-amz-apigw-id (OUT-15, ERR-1), when the context has them.
func outAppendGatewayIDs(h [][2]string, c *Context) [][2]string {
	if c.RequestID != "" {
		h = append(h, [2]string{"x-amzn-RequestId", c.RequestID})
	}
	if c.ExtendedRequestID != "" {
		h = append(h, [2]string{"x-amz-apigw-id", c.ExtendedRequestID})
	}
	return h
}

// ConvertResponse turns an invocation into the client response exactly as API Gateway does (apigateway-rest §5):
//
//   - timeout → 504; Invoke error → 502, access denied → 500, event too large → 413 (OUT-3, OUT-4, OUT-17);
//   - function error, payload above MaxFunctionResponseBytes, or output failing the validation of OUT-5..OUT-11
//     → 502 {"message": "Internal server error"} (OUT-2, OUT-4, OUT-5);
//   - otherwise the function's response: statusCode (default 200), the union of headers and multiValueHeaders
//     (OUT-9) after the header table of OUT-14, Content-Type: application/json when the function set none,
//     Content-Length of the final body, x-amzn-RequestId, x-amz-apigw-id and X-Amzn-Trace-Id (OUT-15); the body
//     base64-decoded only when isBase64Encoded is true and the request's first Accept media range matches
//     binaryMediaTypes (OUT-12, BIN-1, BIN-2), an undecodable body then giving 500 (OUT-13).
//
// Response.Body may share memory with inv.Payload: do not modify the payload while the response is in use.
// For a HEAD request the body is kept: Envoy's local-reply path sends the headers only (envoy-notes EXT-9) with the
// Content-Length of this body. Date is left to Envoy, which adds it to every response (envoy-notes §1.2).
//
// Status codes and Envoy. Response.StatusCode is the status API Gateway sends: any integer in 200..599 (OUT-6).
// Envoy's ImmediateResponse carries it as envoy.type.v3.StatusCode, an enum that lacks many codes of that range
// (e.g. 209, 299, 420, 509). The immediate-response builder must still send the exact code: set
// HttpStatus.Code = typev3.StatusCode(resp.StatusCode) (Go and C++ proto3 enums are open, so the number goes on
// the wire unchanged, and Envoy's ext_proc filter only requires code >= 200, MutationUtils::isValidHttpStatus),
// and must not run ValidateAll()/Validate() on that ImmediateResponse (protoc-gen-validate's defined_only rule
// rejects such codes); validate only when StatusInEnvoyEnum is true. Never round to a nearby enum value: the client
// would see another status than on AWS. The e2e suite covers 299 (envoy-notes EXT-9).
func ConvertResponse(req *Request, binaryMediaTypes []string, inv *Invocation, c *Context) *Response {
	if c == nil {
		c = &Context{}
	}
	switch {
	case inv == nil:
		return outWithDetails(GatewayError(502, c), DetailsLambdaInvokeError)
	case inv.TimedOut || errors.Is(inv.Err, context.DeadlineExceeded):
		// The integration timeout is normally enforced with a context deadline, so an invoker that reports
		// the expired deadline as its error is a timeout too.
		return outWithDetails(GatewayError(504, c), DetailsLambdaTimeout)
	case inv.Err != nil:
		return outInvokeError(inv.Err, c)
	case inv.FunctionError != "":
		return outWithDetails(GatewayError(502, c), DetailsLambdaFunctionError)
	case len(inv.Payload) > MaxFunctionResponseBytes:
		return outWithDetails(GatewayError(502, c), DetailsLambdaResponseTooLarge)
	}

	p := outParserPool.Get().(*outputParser)
	defer p.release()
	if !p.parse(inv.Payload) {
		return outWithDetails(GatewayError(502, c), DetailsMalformedLambdaResponse)
	}
	body := p.body
	if p.base64 && outIsBinaryResponse(req, binaryMediaTypes) {
		decoded, ok := outDecodeBase64(body)
		if !ok {
			return outWithDetails(GatewayError(500, c), DetailsLambdaInvalidBase64)
		}
		body = decoded
	}
	return p.response(body, c)
}

// StatusInEnvoyEnum reports whether code is a value of envoy.type.v3.StatusCode, i.e. whether an
// ImmediateResponse carrying it passes protoc-gen-validate (see ConvertResponse).
func StatusInEnvoyEnum(code int) bool {
	switch code {
	case 100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
		300, 301, 302, 303, 304, 305, 307, 308,
		400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
		421, 422, 423, 424, 426, 428, 429, 431,
		500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511:
		return true
	}
	return false
}

func outWithDetails(r *Response, details string) *Response {
	r.Details = details
	return r
}

// outInvokeError maps a failed Invoke call (OUT-3, OUT-4; OPEN-3).
func outInvokeError(err error, c *Context) *Response {
	var coded interface{ ErrorCode() string }
	code := ""
	if errors.As(err, &coded) {
		code = coded.ErrorCode()
	}
	switch {
	case errors.Is(err, ErrAccessDenied) || code == "AccessDeniedException":
		return outWithDetails(GatewayError(500, c), DetailsLambdaAccessDenied)
	case errors.Is(err, ErrRequestTooLarge) || code == "RequestTooLargeException":
		return GatewayError(413, c)
	}
	return outWithDetails(GatewayError(502, c), DetailsLambdaInvokeError)
}

// outDecodeBase64 decodes a response body (OUT-12, OUT-13). The standard alphabet is required; padding may be
// omitted, but when present it must be complete; line breaks and other characters are errors (the behaviour of
// a basic RFC 4648 decoder such as Java's Base64.getDecoder(); Go's decoder would skip CR and LF).
// [proxyplus decision] (Low)
func outDecodeBase64(b []byte) ([]byte, bool) {
	if bytes.IndexByte(b, '\r') >= 0 || bytes.IndexByte(b, '\n') >= 0 {
		return nil, false
	}
	enc := base64.RawStdEncoding
	if bytes.IndexByte(b, '=') >= 0 {
		enc = base64.StdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(b)))
	n, err := enc.Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// outIsBinaryResponse applies BIN-1 and BIN-2 to the request's first Accept media range.
func outIsBinaryResponse(req *Request, binaryMediaTypes []string) bool {
	if req == nil || len(binaryMediaTypes) == 0 {
		return false
	}
	for _, h := range req.Headers {
		if strings.EqualFold(h[0], "accept") {
			return matchesBinaryMediaType(outFirstMediaType(h[1]), binaryMediaTypes)
		}
	}
	return false // BIN-2: a missing Accept matches nothing (OPEN-12)
}

// outFirstMediaType is the first media range of an Accept value, parameters dropped.
func outFirstMediaType(accept string) string {
	if i := strings.IndexByte(accept, ','); i >= 0 {
		accept = accept[:i]
	}
	if i := strings.IndexByte(accept, ';'); i >= 0 {
		accept = accept[:i]
	}
	return strings.Trim(accept, " \t")
}

// --- function output parser -------------------------------------------------------------------------------

// outSpan is a piece of outputParser.arena.
type outSpan struct{ off, end int }

type outHeader struct {
	name, value outSpan
	// merge is the index of the multiValueHeaders entry this header joins (OUT-9), -1 when none; next is the
	// next header joining the same entry.
	merge, next int
}

type outMulti struct {
	name outSpan
	// vals indexes outputParser.mvals.
	first, n int
}

// outputParser reads a function output (OUT-5..OUT-11) in one pass over the payload, without building a generic
// JSON tree. All decoded header text goes into one arena that becomes one string, so a typical output costs a
// handful of allocations. Parsers are pooled.
type outputParser struct {
	in  []byte
	pos int

	arena   []byte
	headers []outHeader
	multi   []outMulti
	mvals   []outSpan
	joins   []int // per multi entry, the first header joining it (-1: none)

	status    int // 0: absent
	body      []byte
	base64    bool
	scratch   [32]byte
	byName    map[string]int // exact header name → index in headers, for outputs with many headers
	multiName map[string]int // exact multiValueHeaders name → index in multi
}

var outParserPool = sync.Pool{New: func() any { return new(outputParser) }}

func (p *outputParser) release() {
	if cap(p.arena) > 64<<10 || cap(p.headers) > 1024 || cap(p.mvals) > 1024 || cap(p.multi) > 1024 || cap(p.joins) > 1024 {
		return // do not keep huge buffers alive
	}
	p.in, p.body = nil, nil
	p.byName, p.multiName = nil, nil
	outParserPool.Put(p)
}

func (p *outputParser) reset(in []byte) {
	p.in, p.pos = in, 0
	p.arena = p.arena[:0]
	p.headers = p.headers[:0]
	p.multi = p.multi[:0]
	p.mvals = p.mvals[:0]
	p.status, p.body, p.base64 = 0, nil, false
	p.byName, p.multiName = nil, nil // the linear search is cheaper for the usual few headers
}

const (
	outKeyUnknown = iota
	outKeyStatusCode
	outKeyHeaders
	outKeyMultiValueHeaders
	outKeyBody
	outKeyIsBase64Encoded
)

func outKeyID(k []byte) int {
	switch string(k) {
	case "statusCode":
		return outKeyStatusCode
	case "headers":
		return outKeyHeaders
	case "multiValueHeaders":
		return outKeyMultiValueHeaders
	case "body":
		return outKeyBody
	case "isBase64Encoded":
		return outKeyIsBase64Encoded
	}
	return outKeyUnknown
}

// parse reads the whole payload; false means 502 (OUT-5: not JSON, not an object, an unknown key, or a value of
// the wrong type). A key given twice keeps its last value, as JSON object readers do.
func (p *outputParser) parse(in []byte) bool {
	p.reset(in)
	p.skipWS()
	if !p.consume('{') {
		return false
	}
	p.skipWS()
	if p.consume('}') {
		return p.atEnd()
	}
	for {
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		if escaped {
			// Keys are compared after unescaping ("status\u0043ode" is statusCode); no valid key is longer than
			// the scratch buffer.
			if len(raw) > 6*len(p.scratch) {
				return false
			}
			raw = outAppendUnescaped(p.scratch[:0], raw)
		}
		key := outKeyID(raw)
		p.skipWS()
		if !p.consume(':') {
			return false
		}
		p.skipWS()
		switch key {
		case outKeyStatusCode:
			ok = p.parseStatus()
		case outKeyHeaders:
			ok = p.parseHeaders()
		case outKeyMultiValueHeaders:
			ok = p.parseMultiValueHeaders()
		case outKeyBody:
			ok = p.parseBody()
		case outKeyIsBase64Encoded:
			ok = p.parseBase64Flag()
		default:
			ok = false // OUT-5: any other key
		}
		if !ok {
			return false
		}
		p.skipWS()
		switch p.next() {
		case ',':
			p.skipWS()
		case '}':
			return p.atEnd()
		default:
			return false
		}
	}
}

// parseStatus is OUT-6: null/absent → 200; an integer; a string of decimal digits; an integral number; the
// value must be in 200..599.
func (p *outputParser) parseStatus() bool {
	switch c := p.peek(); {
	case c == 'n':
		p.status = 0
		return p.literal("null")
	case c == '"':
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		if escaped {
			if len(raw) > 6*len(p.scratch) {
				return false
			}
			raw = outAppendUnescaped(p.scratch[:0], raw)
		}
		return p.setStatusDigits(raw)
	case c == '-' || c >= '0' && c <= '9':
		raw, integer, ok := p.scanNumber()
		if !ok {
			return false
		}
		if integer {
			return p.setStatusDigits(raw) // a leading '-' fails the digit check: out of range anyway
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) || f < 200 || f > 599 {
			return false // a fractional part (OUT-6, Low)
		}
		p.status = int(f)
		return true
	}
	return false
}

func (p *outputParser) setStatusDigits(d []byte) bool {
	if len(d) == 0 {
		return false
	}
	for len(d) > 1 && d[0] == '0' {
		d = d[1:]
	}
	if len(d) > 3 {
		return false
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	if n < 200 || n > 599 {
		return false
	}
	p.status = n
	return true
}

// parseHeaders is OUT-7.
func (p *outputParser) parseHeaders() bool {
	p.headers = p.headers[:0]
	clear(p.byName)
	if p.peek() == 'n' {
		return p.literal("null")
	}
	return p.parseObject(func(name outSpan) bool {
		v, present, ok := p.headerValue()
		if !ok || !present {
			return ok // a null value omits the header
		}
		if i := p.findHeader(name); i >= 0 {
			p.headers[i].value = v // last one wins, in the first one's place
			return true
		}
		p.headers = append(p.headers, outHeader{name: name, value: v, merge: -1})
		if p.byName != nil {
			p.byName[string(p.text(name))] = len(p.headers) - 1
		}
		return true
	})
}

// parseMultiValueHeaders is OUT-8: values must be arrays (null omits the name), elements follow OUT-7.
func (p *outputParser) parseMultiValueHeaders() bool {
	p.multi = p.multi[:0]
	p.mvals = p.mvals[:0]
	clear(p.multiName)
	if p.peek() == 'n' {
		return p.literal("null")
	}
	return p.parseObject(func(name outSpan) bool {
		switch p.peek() {
		case 'n':
			return p.literal("null") // [proxyplus decision] (Low): like a null header value
		case '[':
		default:
			return false // a bare string, number, object... (OUT-8)
		}
		p.pos++
		first := len(p.mvals)
		p.skipWS()
		if !p.consume(']') {
			for {
				v, present, ok := p.headerValue()
				if !ok {
					return false
				}
				if present {
					p.mvals = append(p.mvals, v)
				}
				p.skipWS()
				c := p.next()
				if c == ']' {
					break
				}
				if c != ',' {
					return false
				}
				p.skipWS()
			}
		}
		m := outMulti{name: name, first: first, n: len(p.mvals) - first}
		if i := p.findMulti(name); i >= 0 {
			p.multi[i].first, p.multi[i].n = m.first, m.n
			return true
		}
		p.multi = append(p.multi, m)
		if p.multiName != nil {
			p.multiName[string(p.text(name))] = len(p.multi) - 1
		}
		return true
	})
}

// parseObject reads an object of header names (at '{'), calling value for each name with p at the value.
func (p *outputParser) parseObject(value func(name outSpan) bool) bool {
	if !p.consume('{') {
		return false // headers/multiValueHeaders that is not an object
	}
	p.skipWS()
	if p.consume('}') {
		return true
	}
	for {
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		name := p.appendText(raw, escaped)
		if !outValidHeaderName(p.text(name)) {
			return false // [proxyplus decision] (Low): Envoy could not send it
		}
		p.skipWS()
		if !p.consume(':') {
			return false
		}
		p.skipWS()
		if !value(name) {
			return false
		}
		p.skipWS()
		switch p.next() {
		case ',':
			p.skipWS()
		case '}':
			return true
		default:
			return false
		}
	}
}

// headerValue reads one header value (OUT-7): a string; a boolean rendered true/false; a number in its JSON text;
// null → not present; anything else fails.
func (p *outputParser) headerValue() (v outSpan, present, ok bool) {
	switch c := p.peek(); {
	case c == '"':
		raw, escaped, ok := p.scanString()
		if !ok {
			return outSpan{}, false, false
		}
		v = p.appendText(raw, escaped)
		// CR, LF, NUL and other controls cannot be sent (Envoy rejects them): the output is malformed.
		// [proxyplus decision] (Low)
		return v, true, outValidHeaderValue(p.text(v))
	case c == 't':
		if !p.literal("true") {
			return outSpan{}, false, false
		}
		return p.appendLiteral("true"), true, true
	case c == 'f':
		if !p.literal("false") {
			return outSpan{}, false, false
		}
		return p.appendLiteral("false"), true, true
	case c == 'n':
		return outSpan{}, false, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		raw, _, ok := p.scanNumber()
		if !ok {
			return outSpan{}, false, false
		}
		return p.appendText(raw, false), true, true
	}
	return outSpan{}, false, false // object, array or not JSON
}

// parseBody is OUT-10: a string, or null.
func (p *outputParser) parseBody() bool {
	switch p.peek() {
	case 'n':
		p.body = nil
		return p.literal("null")
	case '"':
		raw, escaped, ok := p.scanString()
		if !ok {
			return false
		}
		if escaped {
			p.body = outAppendUnescaped(make([]byte, 0, len(raw)), raw)
		} else {
			p.body = raw // shares the payload
		}
		return true
	}
	return false
}

// parseBase64Flag is OUT-11: a boolean; null counts as absent; anything else (including "true") fails (OPEN-5).
func (p *outputParser) parseBase64Flag() bool {
	switch p.peek() {
	case 't':
		p.base64 = true
		return p.literal("true")
	case 'f':
		p.base64 = false
		return p.literal("false")
	case 'n':
		p.base64 = false
		return p.literal("null")
	}
	return false
}

func (p *outputParser) findHeader(name outSpan) int {
	return p.findName(name, len(p.headers), func(i int) outSpan { return p.headers[i].name }, &p.byName)
}

func (p *outputParser) findMulti(name outSpan) int {
	return p.findName(name, len(p.multi), func(i int) outSpan { return p.multi[i].name }, &p.multiName)
}

// findName finds an entry by exact name: a linear scan for the usual few entries, an index built on first use
// past 16 (an output with very many headers stays linear in its size).
func (p *outputParser) findName(name outSpan, n int, nameAt func(int) outSpan, index *map[string]int) int {
	key := p.text(name)
	if *index == nil && n < 16 {
		for i := 0; i < n; i++ {
			if bytes.Equal(p.text(nameAt(i)), key) {
				return i
			}
		}
		return -1
	}
	if *index == nil {
		*index = make(map[string]int, 2*n)
	}
	if len(*index) == 0 {
		for i := 0; i < n; i++ {
			if _, dup := (*index)[string(p.text(nameAt(i)))]; !dup {
				(*index)[string(p.text(nameAt(i)))] = i
			}
		}
	}
	if i, ok := (*index)[string(key)]; ok {
		return i
	}
	return -1
}

// Header classes of OUT-14.
const (
	outHdrPass = iota
	outHdrRemap
	outHdrDrop
	outHdrContentType
)

// outHeaderClass is the Lambda column of the header table (OUT-14), by case-insensitive name.
func outHeaderClass(name string) int {
	switch len(name) {
	case 2:
		if strings.EqualFold(name, "te") {
			return outHdrDrop
		}
	case 3:
		if strings.EqualFold(name, "via") {
			return outHdrDrop
		}
	case 4:
		switch {
		case strings.EqualFold(name, "date"):
			return outHdrRemap
		case strings.EqualFold(name, "host"):
			return outHdrDrop
		}
	case 6:
		switch {
		case strings.EqualFold(name, "server"):
			return outHdrRemap
		case strings.EqualFold(name, "expect"):
			return outHdrDrop
		}
	case 7:
		switch {
		case strings.EqualFold(name, "trailer"), strings.EqualFold(name, "upgrade"):
			return outHdrDrop
		}
	case 10:
		switch {
		case strings.EqualFold(name, "connection"), strings.EqualFold(name, "user-agent"):
			return outHdrRemap
		}
	case 11:
		if strings.EqualFold(name, "content-md5") {
			return outHdrRemap
		}
	case 12:
		switch {
		case strings.EqualFold(name, "content-type"):
			return outHdrContentType
		case strings.EqualFold(name, "max-forwards"):
			return outHdrRemap
		}
	case 13:
		if strings.EqualFold(name, "authorization") {
			return outHdrRemap
		}
	case 14:
		// Never forwarded: the length is that of the final body.
		if strings.EqualFold(name, "content-length") {
			return outHdrDrop
		}
	case 16:
		switch {
		case strings.EqualFold(name, "www-authenticate"), strings.EqualFold(name, "x-amzn-requestid"):
			return outHdrRemap
		}
	case 17:
		if strings.EqualFold(name, "transfer-encoding") {
			return outHdrDrop
		}
	case 18:
		if strings.EqualFold(name, "proxy-authenticate") {
			return outHdrDrop
		}
	}
	return outHdrPass
}

// outRemappedPrefix is prepended to a remapped name, which keeps the function's spelling (OUT-14).
const outRemappedPrefix = "x-amzn-Remapped-"

// response assembles the function's response (OUT-9, OUT-14, OUT-15).
func (p *outputParser) response(body []byte, c *Context) *Response {
	clOff := len(p.arena)
	p.arena = strconv.AppendInt(p.arena, int64(len(body)), 10) // Content-Length, without an allocation of its own
	text := string(p.arena)
	contentLength := text[clOff:]
	str := func(s outSpan) string { return text[s.off:s.end] }

	// Each headers entry joins the first multiValueHeaders entry with the same name, compared case-insensitively.
	var multiLower map[string]int
	if len(p.multi) > 16 && len(p.headers) > 0 {
		multiLower = make(map[string]int, len(p.multi))
		for i := len(p.multi) - 1; i >= 0; i-- {
			multiLower[strings.ToLower(str(p.multi[i].name))] = i
		}
	}
	p.joins = p.joins[:0]
	for range p.multi {
		p.joins = append(p.joins, -1)
	}
	for i := range p.headers {
		h := &p.headers[i]
		h.merge = -1
		if len(p.multi) == 0 {
			continue
		}
		name := str(h.name)
		if multiLower != nil {
			if j, ok := multiLower[strings.ToLower(name)]; ok {
				h.merge = j
			}
		} else {
			for j := range p.multi {
				if strings.EqualFold(str(p.multi[j].name), name) {
					h.merge = j
					break
				}
			}
		}
	}
	for i := len(p.headers) - 1; i >= 0; i-- { // chain the joining headers of each entry, in headers order
		if h := &p.headers[i]; h.merge >= 0 {
			h.next, p.joins[h.merge] = p.joins[h.merge], i
		}
	}

	var r *Response
	var hdrs [][2]string
	if lines := len(p.mvals) + len(p.headers) + 5; lines <= len(outResponseAlloc{}.h) {
		out := &outResponseAlloc{}
		r, hdrs = &out.r, out.h[:0]
	} else {
		r, hdrs = &Response{}, make([][2]string, 0, lines)
	}
	contentType := false
	add := func(name, value string) {
		switch outHeaderClass(name) {
		case outHdrDrop:
			return
		case outHdrRemap:
			name = outRemappedPrefix + name
		case outHdrContentType:
			contentType = true
		}
		hdrs = append(hdrs, [2]string{name, value})
	}

	for j, m := range p.multi {
		name := str(m.name)
		vals := p.mvals[m.first : m.first+m.n]
		for _, v := range vals {
			add(name, str(v))
		}
		var set map[string]struct{}
		for i := p.joins[j]; i >= 0; i = p.headers[i].next {
			// The headers value joins the multiValueHeaders values unless it is one of them (OUT-9).
			hv := str(p.headers[i].value)
			if len(vals) > 32 {
				// Bound the work on adversarial outputs: one set per long value list.
				if set == nil {
					set = make(map[string]struct{}, len(vals))
					for _, v := range vals {
						set[str(v)] = struct{}{}
					}
				}
				if _, dup := set[hv]; !dup {
					add(name, hv)
				}
				continue
			}
			if !outContainsValue(text, vals, hv) {
				add(name, hv)
			}
		}
	}
	for i := range p.headers {
		if p.headers[i].merge < 0 {
			add(str(p.headers[i].name), str(p.headers[i].value))
		}
	}

	if !contentType {
		hdrs = append(hdrs, [2]string{"Content-Type", "application/json"})
	}
	hdrs = append(hdrs, [2]string{"Content-Length", contentLength})
	hdrs = outAppendGatewayIDs(hdrs, c)
	if c.TraceID != "" {
		hdrs = append(hdrs, [2]string{"X-Amzn-Trace-Id", c.TraceID})
	}

	status := p.status
	if status == 0 {
		status = 200
	}
	*r = Response{StatusCode: status, Headers: hdrs, Body: body, Details: DetailsLambdaOK}
	return r
}

// outResponseAlloc puts a response and room for its usual headers in one allocation.
type outResponseAlloc struct {
	r Response
	h [12][2]string
}

func outContainsValue(text string, vals []outSpan, v string) bool {
	for _, s := range vals {
		if text[s.off:s.end] == v {
			return true
		}
	}
	return false
}

// --- JSON scanning -------------------------------------------------------------------------------------------

func (p *outputParser) text(s outSpan) []byte { return p.arena[s.off:s.end] }

// appendText copies a string's contents (unescaped) or a literal's text into the arena.
func (p *outputParser) appendText(raw []byte, escaped bool) outSpan {
	off := len(p.arena)
	if escaped {
		p.arena = outAppendUnescaped(p.arena, raw)
	} else {
		p.arena = append(p.arena, raw...)
	}
	return outSpan{off, len(p.arena)}
}

func (p *outputParser) appendLiteral(s string) outSpan {
	off := len(p.arena)
	p.arena = append(p.arena, s...)
	return outSpan{off, len(p.arena)}
}

func (p *outputParser) skipWS() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *outputParser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

func (p *outputParser) next() byte {
	if p.pos < len(p.in) {
		p.pos++
		return p.in[p.pos-1]
	}
	return 0
}

func (p *outputParser) consume(c byte) bool {
	if p.pos < len(p.in) && p.in[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *outputParser) atEnd() bool {
	p.skipWS()
	return p.pos == len(p.in)
}

func (p *outputParser) literal(lit string) bool {
	if len(p.in)-p.pos >= len(lit) && string(p.in[p.pos:p.pos+len(lit)]) == lit {
		p.pos += len(lit)
		return true
	}
	return false
}

// outPlainStringByte marks bytes that need no attention inside a JSON string.
var outPlainStringByte = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

// scanString reads the JSON string at p.pos and returns its raw contents (between the quotes) and whether it has
// escapes. Invalid escapes and unescaped control characters fail, as in any JSON parser. Invalid UTF-8 is passed
// through unchanged.
func (p *outputParser) scanString() (raw []byte, escaped, ok bool) {
	in := p.in
	if p.pos >= len(in) || in[p.pos] != '"' {
		return nil, false, false
	}
	start := p.pos + 1
	i := start
	for {
		for i < len(in) && outPlainStringByte[in[i]] {
			i++
		}
		if i >= len(in) {
			return nil, false, false
		}
		switch in[i] {
		case '"':
			p.pos = i + 1
			return in[start:i], escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(in) {
				return nil, false, false
			}
			switch in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(in) || outHex4(in[i+2:i+6]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		default: // control character
			return nil, false, false
		}
	}
}

// scanNumber reads a JSON number; integer reports the absence of fraction and exponent.
func (p *outputParser) scanNumber() (raw []byte, integer, ok bool) {
	in, i := p.in, p.pos
	start := i
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return nil, false, false
	}
	integer = true
	if i < len(in) && in[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		integer = false
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	p.pos = i
	return in[start:i], integer, true
}

func outHex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// outAppendUnescaped appends the unescaped form of a string's raw contents, already checked by scanString. A lone
// UTF-16 surrogate becomes U+FFFD, as in encoding/json.
func outAppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
			continue
		}
		switch c := raw[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := outHex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = outHex4(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst
}

func outValidHeaderName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

// outValidHeaderValue accepts field-value bytes: no control characters other than HTAB (RFC 9110 §5.5), which is
// what Envoy's header validation enforces.
func outValidHeaderValue(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
