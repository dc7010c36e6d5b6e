package ir

import (
	"fmt"
	"strings"
)

// API key sources (RestApi.apiKeySource, AUTHORIZERS.md §6).
const (
	APIKeySourceHeader     = "HEADER"
	APIKeySourceAuthorizer = "AUTHORIZER"
	// APIKeyHeader is the header a HEADER-source key is read from (api-gateway-api-key-source.md).
	APIKeyHeader = "x-api-key"
)

// CognitoAuthorizer is a COGNITO_USER_POOLS authorizer as one method uses it (AUTHORIZERS.md §5).
type CognitoAuthorizer struct {
	// Name is the authorizer's (security scheme's) name.
	Name string `json:"name"`
	// TokenHeader is the header the token is read from (the scheme's name; identitySource method.request.header.X).
	TokenHeader string `json:"tokenHeader"`
	// Pools are the user pools of providerARNs, in order.
	Pools []UserPool `json:"pools"`
	// Scopes are the method's authorizationScopes: none → the token must be an ID token; some → an access token
	// whose scope claim holds at least one of them.
	Scopes []string `json:"scopes,omitempty"`
}

// UserPool is one Cognito user pool: its issuer and where its JWKS is served.
type UserPool struct {
	Region string `json:"region"`
	ID     string `json:"id"`
}

// ParseUserPoolARN reads arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}.
func ParseUserPoolARN(arn string) (UserPool, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "cognito-idp" || parts[3] == "" || !strings.HasPrefix(parts[5], "userpool/") {
		return UserPool{}, fmt.Errorf("provider ARN %q is not arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}", arn)
	}
	id := strings.TrimPrefix(parts[5], "userpool/")
	if id == "" || strings.ContainsAny(id, "/?#") {
		return UserPool{}, fmt.Errorf("provider ARN %q has no valid user pool id", arn)
	}
	return UserPool{Region: parts[3], ID: id}, nil
}

// ParseUserPoolARNs reads a Cognito authorizer's providerARNs, in order; the error is the first ARN's that names
// no user pool.
func ParseUserPoolARNs(arns []string) ([]UserPool, error) {
	var pools []UserPool
	for _, arn := range arns {
		p, err := ParseUserPoolARN(arn)
		if err != nil {
			return nil, err
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// Host is the Cognito IdP endpoint of the pool's region.
func (p UserPool) Host() string { return "cognito-idp." + p.Region + ".amazonaws.com" }

// Issuer is the iss claim of the pool's tokens.
func (p UserPool) Issuer() string { return "https://" + p.Host() + "/" + p.ID }

// JWKSURI is where the pool publishes its signing keys.
func (p UserPool) JWKSURI() string { return p.Issuer() + "/.well-known/jwks.json" }

// Enforced reports whether proxyplus enforces everything the requirement asks for (else the route is refused,
// fail-closed): a Lambda authorizer (CUSTOM, run by the processor), a Cognito user pool (jwt_authn + the
// authorization service) and an API key read from the x-api-key header (the authorization service over
// ext_authz). An API key from a Lambda authorizer's usageIdentifierKey (source AUTHORIZER) is enforced when the
// method has a Lambda authorizer (the processor checks the key after running it); AWS_IAM is not enforced.
func (a *Authorization) Enforced() bool {
	switch a.Type {
	case "":
	case AuthCustom:
		if a.Lambda == nil {
			return false
		}
	case AuthCognito:
		if a.Cognito == nil || len(a.Cognito.Pools) == 0 {
			return false
		}
	default:
		return false
	}
	switch {
	case !a.APIKeyRequired || a.APIKeySource == "" || a.APIKeySource == APIKeySourceHeader:
		return true
	case a.APIKeySource == APIKeySourceAuthorizer:
		return a.Type == AuthCustom && a.Lambda != nil
	}
	return false
}
