package ir

// MockTemplates is how a MOCK integration answers (apianswer.Mock): the request template chosen by the request's
// Content-Type renders the "backend" status, which selects an integration response, whose header mappings and
// response template (chosen by Accept) make the client's answer (MOCK-CORS.md §1).
type MockTemplates struct {
	// Static is the answer to every request whose Content-Type selects a request template (no Content-Type counts
	// as application/json), rendered at translation time because nothing in it reads the request; nil when it
	// does. StaticMediaTypes are those media types. Requests with another Content-Type take the passthrough
	// path, which reads the body, so they reach the processor.
	Static           *MockAnswer `json:"static,omitempty"`
	StaticMediaTypes []string    `json:"staticMediaTypes,omitempty"`
	// StaticOther is the answer, rendered at translation time, to requests whose Content-Type selects no
	// request template: the default integration response (passthrough), or the 415 of a passthrough behaviour
	// that refuses them; nil when it reads the request.
	StaticOther *MockAnswer `json:"staticOther,omitempty"`
	// RequestTemplates by lower-case media type, sorted.
	RequestTemplates []MediaTemplate `json:"requestTemplates,omitempty"`
	// Passthrough is WHEN_NO_MATCH (also for ""), WHEN_NO_TEMPLATES or NEVER.
	Passthrough string `json:"passthrough,omitempty"`
	// Responses are the integration responses: selection patterns in sorted order, the default (pattern "")
	// last.
	Responses []MockResponse `json:"responses,omitempty"`
}

// MockAnswer is a complete answer: status, headers in order, body.
type MockAnswer struct {
	StatusCode uint32      `json:"statusCode"`
	Headers    [][2]string `json:"headers,omitempty"`
	Body       string      `json:"body,omitempty"`
}

// MediaTemplate is a mapping template keyed by media type.
type MediaTemplate struct {
	MediaType string `json:"mediaType"`
	Template  string `json:"template"`
}

// MockResponse is one integration response of a MOCK.
type MockResponse struct {
	// Pattern is the selection pattern (a regular expression matched against the whole status), "" for default.
	Pattern    string `json:"pattern,omitempty"`
	StatusCode uint32 `json:"statusCode"`
	// Headers map method.response.header.<Name> from a literal or stage variable (FromStatic) or a method request
	// parameter (FromPath, FromQuery, FromHeader).
	Headers []Mapping `json:"headers,omitempty"`
	// Templates by media type in sorted order.
	Templates []MediaTemplate `json:"templates,omitempty"`
}

// GatewayResponse is one customised gateway response type (x-amazon-apigateway-gateway-responses).
type GatewayResponse struct {
	// StatusCode replaces the type's status; 0 keeps it.
	StatusCode uint32 `json:"statusCode,omitempty"`
	// Headers are gatewayresponse.header.<Name> literals (stage variables resolved), in name order.
	Headers [][2]string `json:"headers,omitempty"`
	// Templates by media type in sorted order; none keeps the default body.
	Templates []MediaTemplate `json:"templates,omitempty"`
}

// mockWire is what the processor needs of a MOCK: the templates and responses, not the static answer Envoy
// serves itself.
type mockWire struct {
	RequestTemplates []MediaTemplate `json:"q,omitempty"`
	Passthrough      string          `json:"p,omitempty"`
	Responses        []MockResponse  `json:"r,omitempty"`
}

func encodeMock(m *MockIntegration) *mockWire {
	return &mockWire{RequestTemplates: m.RequestTemplates, Passthrough: m.Passthrough, Responses: m.Responses}
}

func (w *mockWire) decode() *MockIntegration {
	return &MockIntegration{MockTemplates: MockTemplates{RequestTemplates: w.RequestTemplates, Passthrough: w.Passthrough, Responses: w.Responses}}
}
