package builder

import (
	"fmt"

	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BufferFilterName is the HCM filter that buffers HTTP_PROXY request bodies.
const BufferFilterName = "envoy.filters.http.buffer"

// httpProxyBodyLimit is API Gateway's 10 MB payload limit (LIM-1).
const httpProxyBodyLimit = 10 * 1024 * 1024

// bufferFilter is disabled on the HCM and enabled on HTTP_PROXY routes. API Gateway buffers whole requests: a
// body over 10 MB gets 413 (LIM-1, DEV-10), and the backend sees a Content-Length, never chunked framing (HTP-9,
// "generated from the body"). Envoy's buffer filter does both: it answers 413 past max_request_bytes and
// populates content-length when the request has none (Envoy docs, "Buffer" HTTP filter).
func bufferFilter() (*hcmv3.HttpFilter, error) {
	a, err := anypb.New(&bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(httpProxyBodyLimit)})
	if err != nil {
		return nil, fmt.Errorf("buffer filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: BufferFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// bufferPerRoute enables the buffer filter on a route with the 10 MB limit.
func bufferPerRoute() (map[string]*anypb.Any, error) {
	return enableFilter(BufferFilterName, &bufferv3.BufferPerRoute{Override: &bufferv3.BufferPerRoute_Buffer{
		Buffer: &bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(httpProxyBodyLimit)},
	}})
}
