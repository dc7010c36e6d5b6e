// Package lambdaproxy is API Gateway's Lambda proxy integration (AWS_PROXY, REST payload format 1.0) as pure
// functions: the event a function receives (apigateway-rest §3, §4) and the client response made from what it
// returns (§5). The ext_proc service and test-invoke both call these, so what test-invoke shows is what the
// service does.
package lambdaproxy

import "time"

// Request is the client request as the processor sees it: Envoy's view after its codec and HTTP connection
// manager (x-forwarded-* added, names lower-case), pseudo-headers split out.
type Request struct {
	Method string
	// Path is :path as received: path and query, percent-encoding untouched.
	Path      string
	Authority string
	// Headers are the request headers in order, names lower-case, pseudo-headers excluded.
	Headers [][2]string
	// Body is the buffered request body; nil or empty when there is none.
	Body []byte
	// SourceIP is the client address Envoy trusts, without port.
	SourceIP string
	// Protocol is "HTTP/1.1" or "HTTP/2.0".
	Protocol string
	// Authorizer is requestContext.authorizer, a JSON object the route's Lambda authorizer produced (principalId,
	// its context stringified, integrationLatency); nil when the route has no authorizer (EVT-24).
	Authorizer []byte
	// Auth is what Envoy's authorization filters established (auth.go); nil when the route requires none.
	Auth *Auth
}

// Context holds the per-request values the gateway itself generates.
type Context struct {
	AccountID string
	// RequestID is a lower-case UUID v4, also returned as x-amzn-RequestId.
	RequestID string
	// ExtendedRequestID is returned as x-amz-apigw-id.
	ExtendedRequestID string
	// TraceID is the X-Amzn-Trace-Id value of the request (EVT-11).
	TraceID string
	Now     time.Time
}

// Response is what the client receives.
type Response struct {
	StatusCode int
	// Headers in order; names as API Gateway sends them (Envoy writes them lower-case on HTTP/1.1, DEV-2).
	Headers [][2]string
	Body    []byte
	// ErrorType is the x-amzn-ErrorType of a gateway error, "" for a function's own response.
	ErrorType string
	// Details names the outcome for Envoy's access logs (%RESPONSE_CODE_DETAILS%), e.g. proxyplus_lambda_ok.
	Details string
}
