package lambdaproxy

// GatewayResponse is a gateway-generated answer with API Gateway's headers (ERR-1): Content-Type
// application/json, the request ids of c and x-amzn-ErrorType errType. Used for the authorizer's 401/403/500.
func GatewayResponse(status int, body, errType, details string, c *Context) *Response {
	return outGatewayResponse(status, body, errType, details, c)
}
