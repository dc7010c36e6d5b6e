// Package output holds what `proxyplus test-invoke` prints for one request: the JSON form of these types is the
// CLI's contract (README, "The test-invoke contract").
package output

import "encoding/json"

// Result is test-invoke's output; its JSON form is the CLI's contract.
type Result struct {
	Route       *RouteRef    `json:"route"`
	Integration *Integration `json:"integration"`
	Response    *Message     `json:"response"`
	// Authorizer is set on routes with a Lambda authorizer: its invocations for this request.
	Authorizer *AuthorizerCalls `json:"authorizer,omitempty"`
}

// AuthorizerCalls is the Lambda authorizer's part of one request: how many invocations (0 when refused before
// the call or answered from the cache) and the event of the last one (null when none).
type AuthorizerCalls struct {
	Calls int             `json:"calls"`
	Event json.RawMessage `json:"event"`
}

// RouteRef is the (resource, method) that handles the request.
type RouteRef struct {
	Resource string `json:"resource"`
	Method   string `json:"method"`
}

// Integration is what the gateway asks of the integration: the HTTP request for HTTP_PROXY, the event for
// AWS_PROXY.
type Integration struct {
	Type    string          `json:"type"`
	Request *Message        `json:"request,omitempty"`
	Event   json.RawMessage `json:"event,omitempty"`
}

// Message is an HTTP request or response; Body is text when valid UTF-8, else base64 with IsBase64Encoded.
type Message struct {
	Method          string      `json:"method,omitempty"`
	URL             string      `json:"url,omitempty"`
	StatusCode      int         `json:"statusCode,omitempty"`
	Headers         [][2]string `json:"headers"`
	Body            string      `json:"body"`
	IsBase64Encoded bool        `json:"isBase64Encoded"`
}
