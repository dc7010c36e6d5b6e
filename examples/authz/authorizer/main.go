// Command authorizer is the Lambda authorizer of the authz example (examples/authz/api.yaml): a Go function built
// with aws-lambda-go, the same artefact you would deploy to Lambda's provided.al2023 runtime, run locally by
// proxyplus's function host. It serves both authorizer types of the example:
//
//   - TOKEN (/orders): the Authorization header "Bearer <user>". alice may call every method of the stage, bob
//     only GET, mallory is denied explicitly; any other token is refused with the error "Unauthorized" (401).
//   - REQUEST (/reports): the X-Tenant header and the "session" query parameter; tenant acme with a session
//     starting "s-" is allowed.
//
// The policy names the stage's methods from the methodArn the gateway sends, and the context reaches the
// integration as requestContext.authorizer (numbers and booleans as strings).
package main

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// event is what either authorizer type receives (only the fields this function reads).
type event struct {
	Type                  string            `json:"type"`
	AuthorizationToken    string            `json:"authorizationToken"`
	MethodArn             string            `json:"methodArn"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
}

// users are the TOKEN authorizer's callers: which verbs they may use on the stage.
var users = map[string]string{"alice": "*", "bob": "GET"}

func handle(_ context.Context, ev event) (events.APIGatewayCustomAuthorizerResponse, error) {
	// arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path}: keep up to the stage.
	parts := strings.SplitN(ev.MethodArn, "/", 3)
	if len(parts) < 3 {
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("unexpected methodArn " + ev.MethodArn)
	}
	stage := parts[0] + "/" + parts[1]
	if ev.Type == "REQUEST" {
		tenant, session := header(ev.Headers, "X-Tenant"), ev.QueryStringParameters["session"]
		if tenant != "acme" || !strings.HasPrefix(session, "s-") {
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
		}
		return policy("tenant-"+tenant, "Allow", stage+"/GET/reports", map[string]any{"tenant": tenant, "seats": 12}), nil
	}
	user, ok := strings.CutPrefix(ev.AuthorizationToken, "Bearer ")
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	if user == "mallory" {
		return policy(user, "Deny", stage+"/*", nil), nil
	}
	verb, known := users[user]
	if !known {
		// Exactly "Unauthorized": the gateway answers 401 instead of 500.
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	return policy(user, "Allow", stage+"/"+verb+"/*", map[string]any{"user": user, "admin": verb == "*", "level": len(verb)}), nil
}

func policy(principal, effect, resource string, ctx map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{resource},
			}},
		},
		Context: ctx,
	}
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func main() { lambda.Start(handle) }
