package extproc_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// deployedProcessor is a processor holding keys whose invoker records the events it is given, with its log.
func deployedProcessor(t *testing.T, keys ir.RouteKeys) (extprocsvcv3.ExternalProcessorClient, func() []string, *syncBuffer) {
	t.Helper()
	var mu sync.Mutex
	var events []string
	client, logs := bufconnProcessor(t, keys, lambdainvoke.Func(func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		mu.Lock()
		events = append(events, string(payload))
		mu.Unlock()
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"invoked"}`)}, nil
	}))
	return client, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), events...)
	}, logs
}

// routeWithoutDeployment is Lambda route data as the xDS builders issue it: no deployment id of its own.
func routeWithoutDeployment(t *testing.T, keys ir.RouteKeys, apiID string) string {
	t.Helper()
	r := ir.Route{ResourceID: "res001", ResourcePath: "/items/{id}", Method: "ANY", Integration: ir.Integration{
		Type:   ir.AWSProxy,
		Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:items", Timeout: ir.Duration(5 * time.Second)},
	}}
	v, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: apiID, Stage: "prod", Route: r}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func deploymentValue(t *testing.T, keys ir.RouteKeys, apiID string, stages map[string]string) string {
	t.Helper()
	v, err := ir.EncodeAPIDeployments(ir.APIDeployments{APIID: apiID, Stages: stages}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exchange plays one bodiless request with the given metadata pairs and returns the immediate response.
func exchange(t *testing.T, client extprocsvcv3.ExternalProcessorClient, md ...string) *extprocsvcv3.ImmediateResponse {
	t.Helper()
	stream, err := client.Process(metadata.AppendToOutgoingContext(context.Background(), md...))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
		t.Fatal(err)
	}
	return recvImmediate(t, stream)
}

// TestRouteJoinedWithAPIDeployment (issue 13): route data without a deployment id is served with the deployment
// id the API's deployment value gives its stage, as Envoy sends both (the virtual host's and the route's
// grpc_initial_metadata merged); a new deployment value with the same route data gives the new id.
func TestRouteJoinedWithAPIDeployment(t *testing.T) {
	keys := testutil.RouteKeys(t)
	client, events, _ := deployedProcessor(t, keys[:1])
	route := routeWithoutDeployment(t, keys[:1], "api0000001")
	for i, dep := range []string{"dep001", "dep002", "dep001"} {
		d := deploymentValue(t, keys[:1], "api0000001", map[string]string{"prod": dep, "test": "other"})
		if imm := exchange(t, client, ir.RouteMetadataKey, route, ir.DeploymentMetadataKey, d); imm.GetStatus().GetCode() != 200 {
			t.Fatalf("deployment %d: answer %v", i, imm)
		}
		evs := events()
		var ev struct {
			RequestContext struct {
				DeploymentID string `json:"deploymentId"`
				Stage        string `json:"stage"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal([]byte(evs[len(evs)-1]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.RequestContext.DeploymentID != dep || ev.RequestContext.Stage != "prod" {
			t.Fatalf("deployment %d: event requestContext %+v, want deploymentId %s", i, ev.RequestContext, dep)
		}
	}
}

// TestDeploymentValueFailsClosed: route data that takes its deployment id from the API's deployment value is
// refused, with API Gateway's 500 and one log line and no invocation, when that value is missing, forged, of
// another API, without the route's stage, repeated, or route data passed off as one.
func TestDeploymentValueFailsClosed(t *testing.T) {
	keys := testutil.RouteKeys(t)
	client, events, logs := deployedProcessor(t, keys[:1])
	route := routeWithoutDeployment(t, keys[:1], "api0000001")
	good := deploymentValue(t, keys[:1], "api0000001", map[string]string{"prod": "dep001"})
	forged := strings.Replace(good, "dep001", "dep666", 1)
	cases := []struct {
		name   string
		md     []string
		reason string
	}{
		{"missing", nil, "came without x-proxyplus-deployment"},
		{"forged", []string{ir.DeploymentMetadataKey, forged}, "deployment data signature does not verify"},
		{"unsigned", []string{ir.DeploymentMetadataKey, deploymentValue(t, nil, "api0000001", map[string]string{"prod": "dep001"})}, "deployment data is unsigned"},
		{"other API", []string{ir.DeploymentMetadataKey, deploymentValue(t, keys[:1], "api0000002", map[string]string{"prod": "dep001"})}, "is for API"},
		{"no such stage", []string{ir.DeploymentMetadataKey, deploymentValue(t, keys[:1], "api0000001", map[string]string{"test": "dep001"})}, "has no stage"},
		{"twice", []string{ir.DeploymentMetadataKey, good, ir.DeploymentMetadataKey, good}, "want at most one x-proxyplus-deployment"},
		{"route data as deployment", []string{ir.DeploymentMetadataKey, route}, "not proxyplus deployment data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "\n")
			imm := exchange(t, client, append([]string{ir.RouteMetadataKey, route}, c.md...)...)
			if imm.GetStatus().GetCode() != 500 || imm.GetDetails() != "proxyplus_route_metadata_invalid" {
				t.Fatalf("answer: %v", imm)
			}
			if n := len(events()); n != 0 {
				t.Fatalf("the function was invoked %d times", n)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")[before:]
			if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], c.reason) {
				t.Fatalf("log lines %q: want one error line with %q", lines, c.reason)
			}
		})
	}
	// The good value still serves after the refusals (none of them was remembered as verified).
	if imm := exchange(t, client, ir.RouteMetadataKey, route, ir.DeploymentMetadataKey, good); imm.GetStatus().GetCode() != 200 {
		t.Fatalf("answer: %v", imm)
	}
}
