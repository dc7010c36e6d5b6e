package ir

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// RouteMetadataKey carries a route's ProcessorRoute (base64url JSON) to the ext_proc service as per-route gRPC
// initial metadata. Base64 keeps the value a plain token: no '%' that a formatter could read, no non-ASCII bytes.
const RouteMetadataKey = "x-proxyplus-route"

// EncodeProcessorRoute is the value of RouteMetadataKey.
func EncodeProcessorRoute(pr ProcessorRoute) (string, error) {
	b, err := json.Marshal(pr)
	if err != nil {
		return "", fmt.Errorf("encode processor route %s: %w", pr.Route.Name, err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeProcessorRoute reverses EncodeProcessorRoute.
func DecodeProcessorRoute(v string) (*ProcessorRoute, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", RouteMetadataKey, err)
	}
	var pr ProcessorRoute
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, fmt.Errorf("%s: %w", RouteMetadataKey, err)
	}
	return &pr, nil
}
