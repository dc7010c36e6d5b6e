// Package lambdainvoke invokes Lambda functions for AWS_PROXY integrations (apigateway-rest §5.1): synchronously
// (RequestResponse), with the function ARN's qualifier passed as the Invoke qualifier (OUT-1), reporting function
// errors as data (OUT-2) and classifying Invoke API errors so callers can answer as API Gateway does (OUT-3, OUT-4,
// OPEN-3).
//
// NewAWS invokes through the Lambda API (aws-sdk-go-v2), which also reaches LocalStack, `sam local start-lambda`
// and the Lambda runtime interface emulator through an endpoint override. Func adapts an in-process function and
// Routing sends some functions to a local host and the rest elsewhere.
package lambdainvoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Result is what an invocation returned.
type Result struct {
	// Payload is the function's response, or for a function error the error object
	// ({"errorMessage", "errorType", "stackTrace"}).
	Payload []byte
	// FunctionError is X-Amz-Function-Error: "Unhandled", "Handled" or "" when the function succeeded. A function
	// error is not a Go error: Invoke returns it with a nil error (OUT-2 decides what the client gets).
	FunctionError string
	// ExecutedVersion is X-Amz-Executed-Version: the version that ran ("$LATEST", or what an alias resolved to).
	ExecutedVersion string
}

// Invoker invokes a function synchronously (RequestResponse). function is a function name, a partial or full
// ARN, optionally with a :qualifier (version or alias).
//
// Errors are Invoke failures, never function errors (see Result.FunctionError). Implementations wrap the
// sentinel errors of this package where they apply, and the context's error when the context ended the
// invocation, so errors.Is(err, context.DeadlineExceeded) tells an integration timeout (OUT-17).
// Implementations must be safe for concurrent use.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (*Result, error)
}

// Func adapts a function to Invoker, for in-process invokers and tests.
type Func func(ctx context.Context, function string, payload []byte) (*Result, error)

// Invoke calls f.
func (f Func) Invoke(ctx context.Context, function string, payload []byte) (*Result, error) {
	return f(ctx, function, payload)
}

// Classes of Invoke API errors. Errors returned by the invokers of this package wrap at most one of them (test
// with errors.Is); an error wrapping none is some other Invoke failure (service error, bad request, transport).
// API Gateway answers AccessDeniedException with 500, a request over Lambda's payload limit with 413 and every
// other Invoke error with 502 (OUT-3, OUT-4, OPEN-3).
var (
	// ErrThrottled: TooManyRequestsException (HTTP 429), concurrency or request-rate limits.
	ErrThrottled = errors.New("lambda invoke throttled")
	// ErrNotFound: ResourceNotFoundException (HTTP 404), the function, version or alias does not exist.
	ErrNotFound = errors.New("lambda function not found")
	// ErrAccessDenied: AccessDeniedException (HTTP 403), the caller may not invoke the function. Other 403 codes
	// (InvalidSignatureException, UnrecognizedClientException, ExpiredTokenException: bad credentials) are not
	// access denied: OUT-3 gives 500 for AccessDeniedException only.
	ErrAccessDenied = errors.New("lambda invoke access denied")
	// ErrPayloadTooLarge: the request payload exceeds Lambda's synchronous limit, HTTP 413 with
	// RequestEntityTooLargeException (the code Lambda sends), RequestTooLargeException (the code in the API
	// model) or SerializedRequestEntityTooLargeException.
	ErrPayloadTooLarge = errors.New("lambda invoke payload too large")
)

// InvokeError is an Invoke API or transport failure of one invocation. It wraps its class (one of the sentinel
// errors above, or none), the underlying error (an SDK error for NewAWS: errors.As finds smithy.APIError and the
// modelled exception types) and, when the context ended the invocation, the context's error.
type InvokeError struct {
	// Function is the function as given to Invoke.
	Function string
	// Code is Lambda's error code (X-Amzn-ErrorType), e.g. "TooManyRequestsException"; "" without an API error.
	Code string
	// Message is Lambda's error message; "" without an API error.
	Message string
	// StatusCode is the HTTP status of Lambda's answer; 0 when there was none.
	StatusCode int
	// RequestID is the Invoke API's request id (X-Amzn-RequestId) when it answered; "" otherwise.
	RequestID string
	// Class is ErrThrottled, ErrNotFound, ErrAccessDenied, ErrPayloadTooLarge or nil.
	Class error
	// Err is the underlying error.
	Err error
	// ctxErr is the context's error when the context ended the invocation.
	ctxErr error
}

func (e *InvokeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invoke %s: ", e.Function)
	if e.Class != nil {
		fmt.Fprintf(&b, "%v: ", e.Class)
	} else if e.ctxErr != nil {
		fmt.Fprintf(&b, "%v: ", e.ctxErr)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the class, the context's error and the underlying error that apply.
func (e *InvokeError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range []error{e.Class, e.ctxErr, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// classifyCode maps a Lambda error code and HTTP status to a class. The code decides; the status only classifies
// answers without a code (the SDK's "UnknownError"), as a proxy in front of Lambda or an emulator may send.
func classifyCode(code string, status int) error {
	switch code {
	case "TooManyRequestsException":
		return ErrThrottled
	case "ResourceNotFoundException":
		return ErrNotFound
	case "AccessDeniedException":
		return ErrAccessDenied
	case "RequestEntityTooLargeException", "RequestTooLargeException", "SerializedRequestEntityTooLargeException":
		return ErrPayloadTooLarge
	case "", "UnknownError":
	default:
		return nil
	}
	switch status {
	case 429:
		return ErrThrottled
	case 403:
		return ErrAccessDenied
	case 413:
		return ErrPayloadTooLarge
	}
	return nil
}
