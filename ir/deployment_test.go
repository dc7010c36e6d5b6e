package ir_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

// TestDecodeDeployedRoute: route data without a deployment id and the API's deployment value verify separately and
// join into the route with its stage's deployment id; a value of one kind never verifies as the other.
func TestDecodeDeployedRoute(t *testing.T) {
	keys := testutil.RouteKeys(t)
	pr := ir.ProcessorRoute{APIID: "a1", Stage: "prod", Route: ir.Route{ResourceID: "r1", ResourcePath: "/x", Method: "GET",
		Integration: ir.Integration{Type: ir.Mock}}}
	route, err := ir.EncodeProcessorRoute(pr, keys)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(route, `"d"`) {
		t.Fatalf("route data without a deployment id states one: %s", route)
	}
	dep, err := ir.EncodeAPIDeployments(ir.APIDeployments{APIID: "a1", Stages: map[string]string{"prod": "dep1", "beta": "dep2"}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ir.DecodeDeployedRoute(route, dep, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeploymentID != "dep1" || got.Route.Name != "a1/prod/r1/GET" {
		t.Fatalf("joined route: deployment %q name %q", got.DeploymentID, got.Route.Name)
	}
	// Route data that states its own deployment id needs no deployment value.
	pr.DeploymentID = "own"
	own, err := ir.EncodeProcessorRoute(pr, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ir.DecodeDeployedRoute(own, "", keys); err != nil || got.DeploymentID != "own" {
		t.Fatalf("self-contained route data: %v, %v", got, err)
	}
	for name, c := range map[string][2]string{
		"missing":             {route, ""},
		"route as deployment": {route, route},
		"deployment as route": {dep, dep},
	} {
		_, err := ir.DecodeDeployedRoute(c[0], c[1], keys)
		var rd *ir.RouteDataError
		if !errors.As(err, &rd) {
			t.Errorf("%s: got %v, want a RouteDataError", name, err)
		}
	}
}
