package ir

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// RouteMetadataKey carries a route's ProcessorRoute (base64url JSON) to the ext_proc service as per-route gRPC
// initial metadata. Base64 keeps the value a plain token: no '%' that a formatter could read, no non-ASCII bytes.
const RouteMetadataKey = "x-proxyplus-route"

// EncodeProcessorRoute is the value of RouteMetadataKey. Segments and the name are left out (the resource path
// and ids hold them): the value is carried by every processor route, in proxyplus's and Envoy's memory.
func EncodeProcessorRoute(pr ProcessorRoute) (string, error) {
	pr.Route.Segments, pr.Route.Name = nil, ""
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
	if pr.Route.Segments, err = ParseResourcePath(pr.Route.ResourcePath); err != nil {
		return nil, fmt.Errorf("%s: %w", RouteMetadataKey, err)
	}
	pr.Route.Name = RouteName(pr.APIID, pr.Stage, pr.Route.ResourceID, pr.Route.Method)
	return &pr, nil
}

// ParseResourcePath splits a resource path ("/pets/{petId}", "/{proxy+}", "/") into segments. The loader has
// validated the character set (RES-2); this only classifies.
func ParseResourcePath(path string) ([]Segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("resource path %q must start with /", path)
	}
	if path == "/" {
		return nil, nil
	}
	parts := strings.Split(path[1:], "/")
	segs := make([]Segment, 0, len(parts))
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("resource path %q has an empty segment", path)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return nil, fmt.Errorf("resource path %q: greedy parameter %s must be the last segment", path, p)
			}
			segs = append(segs, Segment{Kind: Greedy, Text: p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			segs = append(segs, Segment{Kind: Param, Text: p[1 : len(p)-1]})
		default:
			segs = append(segs, Segment{Kind: Literal, Text: p})
		}
	}
	return segs, nil
}

// RouteName is a route's identity in Envoy, logs and the processor: "<apiId>/<stage>/<resourceId>/<METHOD>".
func RouteName(apiID, stage, resourceID, method string) string {
	return apiID + "/" + stage + "/" + resourceID + "/" + method
}
