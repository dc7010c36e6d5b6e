package lambdaproxy

// Auth is what the authorization filters established for a request (issue 11): the verified Cognito token's
// claims and the API key. nil for routes without authorization.
type Auth struct {
	// Claims are requestContext.authorizer.claims in name order, values as rendered (Claim); nil without Cognito.
	Claims []Claim
	// APIKey and APIKeyID are requestContext.identity.apiKey / apiKeyId; empty when no key was required.
	APIKey, APIKeyID string
}

// Claim is one token claim; AWS renders claims as strings (AUTHORIZERS.md §3: string claims are pinned; numbers
// and booleans are written as their JSON text, e.g. "4102444800", "true" — not pinned by a recording).
type Claim struct {
	Name, Value string
}

// appendAuthorizer writes ,"authorizer":{"claims":{...}} when the request carries claims.
func appendAuthorizer(dst []byte, a *Auth) []byte {
	if a == nil || a.Claims == nil {
		return dst
	}
	dst = append(dst, `,"authorizer":{"claims":`...)
	if len(a.Claims) == 0 {
		dst = append(dst, '{')
	}
	for i, c := range a.Claims {
		dst = evAppendKey(dst, i, c.Name)
		dst = evAppendString(dst, c.Value)
	}
	return append(dst, "}}"...)
}

// appendAPIKey writes "apiKey":...,"apiKeyId":..., inside identity, when a key was required.
func appendAPIKey(dst []byte, a *Auth) []byte {
	if a == nil || a.APIKey == "" {
		return dst
	}
	dst = append(dst, `"apiKey":`...)
	dst = evAppendString(dst, a.APIKey)
	dst = append(dst, `,"apiKeyId":`...)
	dst = evAppendString(dst, a.APIKeyID)
	return append(dst, ',')
}
