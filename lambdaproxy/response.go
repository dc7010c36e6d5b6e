package lambdaproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
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
	r, _ := convertResponse(req, binaryMediaTypes, inv, c, false)
	return r
}

// ConvertResponsePooled is ConvertResponse with a function's response built in pooled memory (its headers'
// text, the response and its header list, an unescaped body): no allocation per request in the usual case,
// where ConvertResponse makes three (BenchmarkLambdaServe, Dec 2026). The response is valid until the
// PooledResponse is released; release it once nothing reads the response any more.
func ConvertResponsePooled(req *Request, binaryMediaTypes []string, inv *Invocation, c *Context) (*Response, PooledResponse) {
	r, p := convertResponse(req, binaryMediaTypes, inv, c, true)
	return r, PooledResponse{p}
}

// PooledResponse holds the memory of a response ConvertResponsePooled built; the zero value holds none.
type PooledResponse struct{ p *outputParser }

// Release returns the memory to the pool: the response must no longer be used.
func (pr *PooledResponse) Release() {
	if pr.p != nil {
		pr.p.release()
		pr.p = nil
	}
}

// convertResponse is ConvertResponse; with pooled, a function's response lives in the returned parser (nil when
// the response is the gateway's own).
func convertResponse(req *Request, binaryMediaTypes []string, inv *Invocation, c *Context, pooled bool) (*Response, *outputParser) {
	if c == nil {
		c = &Context{}
	}
	switch {
	case inv == nil:
		return outWithDetails(GatewayError(502, c), DetailsLambdaInvokeError), nil
	case inv.TimedOut || errors.Is(inv.Err, context.DeadlineExceeded):
		// The integration timeout is normally enforced with a context deadline, so an invoker that reports
		// the expired deadline as its error is a timeout too.
		return outWithDetails(GatewayError(504, c), DetailsLambdaTimeout), nil
	case inv.Err != nil:
		return outInvokeError(inv.Err, c), nil
	case inv.FunctionError != "":
		return outWithDetails(GatewayError(502, c), DetailsLambdaFunctionError), nil
	case len(inv.Payload) > MaxFunctionResponseBytes:
		return outWithDetails(GatewayError(502, c), DetailsLambdaResponseTooLarge), nil
	}

	p := outParserPool.Get().(*outputParser)
	p.pooled = pooled
	if !p.parse(inv.Payload) {
		p.release()
		return outWithDetails(GatewayError(502, c), DetailsMalformedLambdaResponse), nil
	}
	body := p.body
	if p.base64 && outIsBinaryResponse(req, binaryMediaTypes) {
		decoded, ok := outDecodeBase64(body)
		if !ok {
			p.release()
			return outWithDetails(GatewayError(500, c), DetailsLambdaInvalidBase64), nil
		}
		body = decoded
	}
	r := p.response(body, c)
	if !pooled {
		p.release()
		return r, nil
	}
	return r, p
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
