package ir

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// DeploymentMetadataKey carries an API's deployments (APIDeployments) to the ext_proc service. The xDS builders put
// it in the virtual host's ext_proc per-filter config, once per API, and leave the deployment id out of every
// route's data (RouteMetadataKey): Envoy merges the virtual host's grpc_initial_metadata with the route's and sends
// both (ext_proc.cc Filter::mergePerRouteConfig), and the processor joins them (DecodeDeployedRoute). A
// deployment — a new deployment id for a stage, which API Gateway issues on every deploy — then changes one value
// per API instead of every route's (issue 13, P7).
const DeploymentMetadataKey = "x-proxyplus-deployment"

// deploymentFormat is the layout of a DeploymentMetadataKey value: routeFormat's, with its own format name under
// the MAC, so that a deployment value never verifies as route data or the other way round.
const deploymentFormat = "d1"

// APIDeployments are the deployment ids of one API's stages.
type APIDeployments struct {
	APIID string
	// Stages maps a stage name to the id of its deployment.
	Stages map[string]string
}

type deploymentWire struct {
	APIID  string            `json:"a"`
	Stages map[string]string `json:"s"`
}

// EncodeAPIDeployments is the value of DeploymentMetadataKey, signed with the first of keys as route data is
// (EncodeProcessorRoute). A value longer than Envoy accepts is an error naming the API.
func EncodeAPIDeployments(d APIDeployments, keys RouteKeys) (string, error) {
	v, err := signedValue(deploymentFormat, &deploymentWire{APIID: d.APIID, Stages: d.Stages}, keys)
	if err != nil {
		return "", fmt.Errorf("API %s: encode deployment ids: %w", d.APIID, err)
	}
	if len(v) > MaxRouteMetadataBytes {
		return "", fmt.Errorf("API %s: the deployment ids Envoy sends to the processor are %d bytes, Envoy accepts at most %d: the API has too many stages", d.APIID, len(v), MaxRouteMetadataBytes)
	}
	return v, nil
}

// DecodeAPIDeployments verifies a DeploymentMetadataKey value against keys, then decodes it.
func DecodeAPIDeployments(v string, keys RouteKeys) (*APIDeployments, error) {
	payload, err := verifiedPayload(v, DeploymentMetadataKey, deploymentFormat, "deployment data", keys, claimedAPI)
	if err != nil {
		return nil, err
	}
	var w deploymentWire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return nil, &RouteDataError{Reason: fmt.Sprintf("%s payload: %v", DeploymentMetadataKey, err)}
	}
	return &APIDeployments{APIID: w.APIID, Stages: w.Stages}, nil
}

// claimedAPI is the API an unverified deployment payload states, or "".
func claimedAPI(payload string) string {
	var w struct {
		APIID string `json:"a"`
	}
	if json.Unmarshal([]byte(payload), &w) != nil || w.APIID == "" {
		return ""
	}
	return strconv.QuoteToASCII("API " + w.APIID)
}

// NeedsDeployment reports whether pr, as decoded from route data, takes its deployment id from the API's
// deployment value (Deployed). Route data that states a deployment id itself needs none.
func (pr *ProcessorRoute) NeedsDeployment() bool { return pr.DeploymentID == "" }

// Deployed is pr with its stage's deployment id from d, both verified: a copy, pr is not changed. d must be for
// pr's API and name pr's stage; otherwise the two were not issued together (a *RouteDataError naming the route).
// Route data that states its own deployment id is returned as it is.
func (pr *ProcessorRoute) Deployed(d *APIDeployments) (*ProcessorRoute, error) {
	if !pr.NeedsDeployment() {
		return pr, nil
	}
	claimed := strconv.QuoteToASCII(pr.Route.Name)
	if d == nil {
		return nil, &RouteDataError{Reason: fmt.Sprintf("route data without a deployment id came without %s", DeploymentMetadataKey), ClaimedRoute: claimed}
	}
	if d.APIID != pr.APIID {
		return nil, &RouteDataError{Reason: fmt.Sprintf("%s is for API %q, the route data for API %q", DeploymentMetadataKey, d.APIID, pr.APIID), ClaimedRoute: claimed}
	}
	id, ok := d.Stages[pr.Stage]
	if !ok {
		return nil, &RouteDataError{Reason: fmt.Sprintf("%s of API %q has no stage %q", DeploymentMetadataKey, d.APIID, pr.Stage), ClaimedRoute: claimed}
	}
	out := *pr
	out.DeploymentID = id
	return &out, nil
}

// DecodeDeployedRoute verifies and joins a RouteMetadataKey value and a DeploymentMetadataKey value (deployment ""
// when Envoy sent none): the route as the processor serves it.
func DecodeDeployedRoute(route, deployment string, keys RouteKeys) (*ProcessorRoute, error) {
	pr, err := DecodeProcessorRoute(route, keys)
	if err != nil || !pr.NeedsDeployment() {
		return pr, err
	}
	var d *APIDeployments
	if deployment != "" {
		if d, err = DecodeAPIDeployments(deployment, keys); err != nil {
			return nil, err
		}
	}
	return pr.Deployed(d)
}
