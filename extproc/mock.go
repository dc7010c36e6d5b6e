package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/apianswer"
	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdaproxy"
	"github.com/proxyplus/proxyplus/translator"
)

// mockInternalError is the gateway-generated body of a MOCK failure (apigateway-rest ERR-2).
const mockInternalError = `{"message": "Internal server error"}`

// ServeMock answers a request on a MOCK route whose answer reads the request (MOCK-CORS.md §1): the request
// template chosen by Content-Type, the integration response its status selects, header mappings, the response
// template chosen by Accept, all rendered per request. A template or configuration failure is API Gateway's 500,
// logged with its cause on log; a Content-Type the passthrough behaviour refuses is its 415. Gateway responses
// customised for the stage shape both.
func ServeMock(ctx context.Context, log *slog.Logger, pr *ir.ProcessorRoute, rh *RequestHeaders, body []byte) *lambdaproxy.Response {
	m := pr.Route.Integration.Mock
	if m == nil {
		return gatewayAnswer(pr, rh, NewUUID(), apianswer.GatewayError{Type: apianswer.APIConfigurationError, StatusCode: 500,
			Body: mockInternalError, ErrorType: "InternalServerErrorException", Message: "Internal server error"}, "proxyplus_mock_missing")
	}
	req := mockRequest(pr, rh, body)
	defer releaseMockRequest(req)
	a, err := apianswer.Mock(&m.MockTemplates, req)
	switch {
	case errors.Is(err, apianswer.ErrUnsupportedMediaType):
		return gatewayAnswer(pr, rh, req.Context["requestId"], apianswer.UnsupportedMediaTypeError, "proxyplus_mock_unsupported_media_type")
	case err != nil:
		log.LogAttrs(ctx, slog.LevelError, "MOCK integration failed: answering 500", slog.String("route", pr.Route.Name),
			slog.String("request_id", req.Context["requestId"]), slog.Any("error", err))
		return gatewayAnswer(pr, rh, req.Context["requestId"], apianswer.GatewayError{Type: apianswer.APIConfigurationError, StatusCode: 500,
			Body: mockInternalError, ErrorType: "InternalServerErrorException", Message: "Internal server error"}, "proxyplus_mock_failed")
	}
	resp := &lambdaproxy.Response{StatusCode: a.StatusCode, Headers: a.Headers, Body: a.Body, Details: a.Details}
	resp.Headers = append(resp.Headers, [2]string{"x-amzn-RequestId", req.Context["requestId"]}, [2]string{"x-amz-apigw-id", NewUUID()})
	return resp
}

// mockRequest is what a MOCK's templates read of the request.
func mockRequest(pr *ir.ProcessorRoute, rh *RequestHeaders, body []byte) *apianswer.Request {
	rawPath, rawQuery, _ := strings.Cut(rh.Path, "?")
	req := mockRequests.Get().(*apianswer.Request)
	req.Body, req.StageVariables = body, pr.StageVariables
	if _, rest, ok := translator.SplitStagePath(rawPath); ok {
		req.PathParams, _ = translator.MatchResource(pr.Route.Segments, rest)
	}
	if rawQuery != "" {
		for _, p := range parseQuery(rawQuery) {
			req.QueryParams[p.name] = p.value // the last value, as single-valued sources read it (EVT-14)
		}
	}
	for _, h := range rh.Headers {
		if _, seen := req.Headers[h[0]]; !seen {
			req.Headers[h[0]] = h[1]
		}
	}
	req.ContentType, req.Accept = req.Headers["content-type"], req.Headers["accept"]
	c := req.Context
	c["requestId"], c["apiId"], c["stage"], c["deploymentId"] = NewUUID(), pr.APIID, pr.Stage, pr.DeploymentID
	c["resourceId"], c["resourcePath"], c["httpMethod"], c["path"] = pr.Route.ResourceID, pr.Route.ResourcePath, rh.Method, rawPath
	domainPrefix, _, _ := strings.Cut(rh.Authority, ".")
	c["domainName"], c["domainPrefix"] = rh.Authority, domainPrefix
	if m := pr.Route.Integration.Mock; m != nil && mockReads(&m.MockTemplates, "identity") {
		c["identity.sourceIp"] = sourceIP(rh) // parsing X-Forwarded-For only for the templates that read it
	}
	return req
}

// mockReads reports whether any template of m mentions s.
func mockReads(m *ir.MockTemplates, s string) bool {
	for _, t := range m.RequestTemplates {
		if strings.Contains(t.Template, s) {
			return true
		}
	}
	for _, r := range m.Responses {
		for _, t := range r.Templates {
			if strings.Contains(t.Template, s) {
				return true
			}
		}
	}
	return false
}

// mockRequests recycles the maps of a MOCK request: one per request otherwise, with a dozen entries each.
var mockRequests = sync.Pool{New: func() any {
	return &apianswer.Request{Headers: make(map[string]string, 16), QueryParams: make(map[string]string, 4), Context: make(map[string]string, 16)}
}}

// releaseMockRequest returns req to the pool once its answer is built (rendered output is its own memory).
func releaseMockRequest(req *apianswer.Request) {
	clear(req.Headers)
	clear(req.QueryParams)
	clear(req.Context)
	*req = apianswer.Request{Headers: req.Headers, QueryParams: req.QueryParams, Context: req.Context}
	mockRequests.Put(req)
}

// gatewayAnswer is a gateway error the processor answers for the request requestID, shaped by the stage's gateway
// responses.
func gatewayAnswer(pr *ir.ProcessorRoute, rh *RequestHeaders, requestID string, e apianswer.GatewayError, details string) *lambdaproxy.Response {
	accept, _ := rh.Get("accept")
	a := apianswer.Gateway(pr.GatewayResponses, e, accept, apianswer.GatewayContext{Stage: pr.Stage, APIID: pr.APIID, StageVariables: pr.StageVariables})
	resp := &lambdaproxy.Response{StatusCode: a.StatusCode, Body: a.Body, ErrorType: a.ErrorType, Details: details}
	resp.Headers = append(resp.Headers, [2]string{"Content-Type", "application/json"})
	resp.Headers = append(resp.Headers, a.Headers...)
	resp.Headers = append(resp.Headers, [2]string{"x-amzn-RequestId", requestID}, [2]string{"x-amz-apigw-id", NewUUID()})
	if e.ErrorType != "" {
		resp.Headers = append(resp.Headers, [2]string{"x-amzn-ErrorType", e.ErrorType})
	}
	return resp
}

// ApplyGatewayResponses reshapes a gateway error the processor made on a Lambda route (ErrorType set: function
// errors, timeouts, refused bodies) with the stage's customised gateway responses (MOCK-CORS.md §3); a
// function's own response, and any response on a stage without customisations, is left alone.
func ApplyGatewayResponses(pr *ir.ProcessorRoute, accept string, r *lambdaproxy.Response) {
	if len(pr.GatewayResponses) == 0 || (r.ErrorType == "" && r.Details != lambdaproxy.DetailsContentLengthExceeded) {
		return
	}
	e := apianswer.GatewayError{Type: gatewayType(r.StatusCode, r.ErrorType, r.Details), StatusCode: r.StatusCode, Body: string(r.Body),
		ErrorType: r.ErrorType, Message: messageOf(r.Body)}
	a := apianswer.Gateway(pr.GatewayResponses, e, accept, apianswer.GatewayContext{Stage: pr.Stage, APIID: pr.APIID, StageVariables: pr.StageVariables})
	r.StatusCode, r.Body = a.StatusCode, a.Body
	hs := make([][2]string, 0, len(r.Headers)+len(a.Headers))
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], "content-length") {
			h[1] = strconv.Itoa(len(r.Body))
		}
		hs = append(hs, h)
	}
	r.Headers = append(hs, a.Headers...)
}

// gatewayType is the gateway response type of an error the processor makes; "" when it has no specific type
// of its own (a function error: the type is undocumented, MOCK-CORS.md "Not pinned"), which only DEFAULT_4XX /
// DEFAULT_5XX customise. The Lambda authorizer's refusals and the AUTHORIZER-source API-key check's are told
// by their Details, which name each refusal (issue 11 scope 6).
func gatewayType(status int, errorType, details string) string {
	switch details {
	case authorizer.DetailsUnauthorized:
		return apianswer.Unauthorized
	case authorizer.DetailsDenied:
		return apianswer.AccessDenied
	case authorizer.DetailsConfigError:
		return apianswer.AuthorizerConfiguration
	case detailsAPIKeyRefused:
		switch errorType {
		case authz.Throttled.ErrorType:
			return apianswer.Throttled
		case authz.QuotaExceeded.ErrorType:
			return apianswer.QuotaExceeded
		}
		return apianswer.InvalidAPIKey
	}
	switch status {
	case 413:
		return apianswer.RequestTooLarge
	case 415:
		return apianswer.UnsupportedMediaType
	case 504:
		return apianswer.IntegrationTimeout
	}
	switch errorType {
	case "MissingAuthenticationTokenException":
		return apianswer.MissingAuthenticationToken
	case "UnauthorizedException":
		return apianswer.Unauthorized
	}
	return ""
}

// messageOf is $context.error.message: the message of a {"message": ...} body, else the body.
func messageOf(body []byte) string {
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != nil {
		return *m.Message
	}
	return string(body)
}

// detailsAPIKeyRefused names the refusal of the API-key check of a route whose key source is AUTHORIZER
// (lambda.go checkAuthorizerKey).
const detailsAPIKeyRefused = "proxyplus_api_key_refused"

// applyGatewayResponses shapes the gateway errors of a Lambda exchange; nothing to do on stages without
// customised gateway responses (the usual case costs one length check).
func applyGatewayResponses(pr *ir.ProcessorRoute, req *lambdaproxy.Request, x *Exchange) {
	if len(pr.GatewayResponses) == 0 || x.Response == nil {
		return
	}
	ApplyGatewayResponses(pr, headerValue(req.Headers, "accept"), x.Response)
}

// serveMock answers a MOCK route's stream once its body is in (MOCK-CORS.md §1), with the processor's marker so
// the HCM's local-reply mappers leave the answer alone.
func (s *Server) serveMock(ctx context.Context, pr *ir.ProcessorRoute, st *streamState) *extprocsvcv3.ProcessingResponse {
	if st.tooLong {
		// The body was dropped past the invoke-sized limit the stream keeps; a MOCK reads at most its template
		// inputs, so API Gateway's 10 MB limit (LIM-1) is what it answers beyond.
		return ImmediateResponse(lambdaproxy.ContentLengthExceeded())
	}
	resp := ServeMock(ctx, s.log, pr, st.headers, st.body)
	// The answer as wire bytes in a pooled buffer, as serveLambda sends a function's (wire.go).
	bp := wireBuffers.Get().(*[]byte)
	b, ok := appendImmediateWire((*bp)[:0], resp)
	if !ok {
		wireBuffers.Put(bp)
		return ImmediateResponse(resp)
	}
	*bp = b
	st.wire = bp
	st.resp.ProtoReflect().SetUnknown(*bp)
	return &st.resp
}

// streamsBody reports whether a route's body comes to the processor (FULL_DUPLEX_STREAMED): Lambda and MOCK.
func streamsBody(pr *ir.ProcessorRoute) bool {
	t := pr.Route.Integration.Type
	return t == ir.AWSProxy || t == ir.Mock
}
