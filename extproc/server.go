// Package extproc is proxyplus's Envoy ext_proc service (envoy.service.ext_proc.v3.ExternalProcessor). Envoy
// calls it only on routes that enable it; what a route needs arrives as per-route gRPC initial metadata written by
// the xDS builders (ir.RouteMetadataKey), so the service holds no copy of the definitions and scales out freely.
package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// Server answers Envoy's ext_proc streams.
type Server struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
	log    *slog.Logger
	lambda *Lambda
	routes routeCache
}

// NewServer returns a processor that logs to log and serves Lambda proxy routes with lambda (nil: those
// routes fail with API Gateway's 500).
func NewServer(log *slog.Logger, lambda *Lambda) *Server { return &Server{log: log, lambda: lambda} }

// Process serves one HTTP request: Envoy opens one stream per request (envoy-notes EXT-1) and expects exactly one
// answer of the matching kind per message it sends (EXT-5).
func (s *Server) Process(stream extprocsvcv3.ExternalProcessor_ProcessServer) error {
	pr, routeErr := s.routeFromMetadata(stream)
	st := &streamState{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Envoy cancelled the stream (client gone, Envoy's own timeout): nothing left to answer (EXT-8 item 4).
			if status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		resp := s.handle(stream.Context(), st, pr, routeErr, req)
		if err := stream.Send(resp); err != nil {
			return err
		}
		if resp.GetImmediateResponse() != nil {
			return nil
		}
	}
}

// streamState is what one stream remembers between Envoy's messages: the request headers of a Lambda request
// whose body follows.
type streamState struct {
	headers *RequestHeaders
	body    []byte
}

func (s *Server) handle(ctx context.Context, st *streamState, pr *ir.ProcessorRoute, routeErr error, req *extprocsvcv3.ProcessingRequest) *extprocsvcv3.ProcessingResponse {
	if routeErr != nil {
		// A route without valid metadata is a configuration bug, never client input: fail the request like API
		// Gateway fails a broken integration.
		s.log.Error("ext_proc stream without a usable route", "err", routeErr)
		return internalError("proxyplus_route_metadata_invalid")
	}
	switch r := req.Request.(type) {
	case *extprocsvcv3.ProcessingRequest_RequestHeaders:
		switch pr.Route.Integration.Type {
		case ir.HTTPProxy:
			hm, err := RewriteHTTPProxy(pr, headersOf(r.RequestHeaders))
			if err != nil {
				s.log.Error("HTTP_PROXY rewrite failed", "route", pr.Route.Name, "err", err)
				return internalError("proxyplus_http_proxy_rewrite_failed")
			}
			return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{
				RequestHeaders: &extprocsvcv3.HeadersResponse{Response: &extprocsvcv3.CommonResponse{HeaderMutation: hm}},
			}}
		case ir.AWSProxy:
			st.headers = headersOf(r.RequestHeaders)
			if r.RequestHeaders.GetEndOfStream() {
				// No body: the whole exchange is headers → immediate response (envoy-notes EXT-8 item 1).
				return s.serveLambda(ctx, pr, st)
			}
			// A body follows; Envoy buffers it once the headers are answered (EXT-8 item 2).
			return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{
				RequestHeaders: &extprocsvcv3.HeadersResponse{Response: &extprocsvcv3.CommonResponse{}},
			}}
		default:
			return s.unsupported(pr)
		}
	case *extprocsvcv3.ProcessingRequest_RequestBody:
		if pr.Route.Integration.Type != ir.AWSProxy || st.headers == nil {
			return s.unsupported(pr)
		}
		st.body = append(st.body, r.RequestBody.GetBody()...)
		if !r.RequestBody.GetEndOfStream() {
			// BUFFERED mode sends the body in one message; keep the exchange well-formed if a chunk ever comes.
			return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestBody{RequestBody: &extprocsvcv3.BodyResponse{}}}
		}
		return s.serveLambda(ctx, pr, st)
	case *extprocsvcv3.ProcessingRequest_ResponseHeaders:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvcv3.HeadersResponse{}}}
	case *extprocsvcv3.ProcessingRequest_ResponseBody:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvcv3.BodyResponse{}}}
	case *extprocsvcv3.ProcessingRequest_RequestTrailers:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvcv3.TrailersResponse{}}}
	case *extprocsvcv3.ProcessingRequest_ResponseTrailers:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvcv3.TrailersResponse{}}}
	}
	return internalError("proxyplus_unknown_message")
}

// serveLambda runs the Lambda exchange and answers with an immediate response (envoy-notes EXT-9).
func (s *Server) serveLambda(ctx context.Context, pr *ir.ProcessorRoute, st *streamState) *extprocsvcv3.ProcessingResponse {
	if s.lambda == nil || s.lambda.Invoker == nil {
		return s.unsupported(pr)
	}
	req := LambdaRequest(st.headers, st.body, sourceIP(st.headers), "")
	x, done := s.lambda.ServePooled(ctx, pr, req)
	defer done()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("lambda proxy request", "route", pr.Route.Name, "function", pr.Route.Integration.Lambda.FunctionARN,
			"status", x.Response.StatusCode, "details", x.Response.Details, "request_id", x.Context.RequestID)
	}
	return ImmediateResponse(x.Response)
}

// ImmediateResponse is a client response as an ext_proc immediate response: raw_value headers, repeated names
// appended rather than overwritten (EXT-9), the details for the access log, and the marker that keeps the HCM's
// local-reply mappers away (HCM-12). The status goes through unchanged even when envoy.type.v3.StatusCode has no
// name for it (see lambdaproxy.ConvertResponse).
func ImmediateResponse(r *lambdaproxy.Response) *extprocsvcv3.ProcessingResponse {
	// One allocation each for the options, the header values and their bytes, not three per header: this is on
	// every Lambda request's path.
	n := len(r.Headers)
	opts := make([]corev3.HeaderValueOption, n)
	vals := make([]corev3.HeaderValue, n)
	size := 0
	for _, h := range r.Headers {
		size += len(h[1])
	}
	raw := make([]byte, 0, size)
	hm := &extprocsvcv3.HeaderMutation{SetHeaders: make([]*corev3.HeaderValueOption, n)}
	for i, h := range r.Headers {
		start := len(raw)
		raw = append(raw, h[1]...)
		vals[i] = corev3.HeaderValue{Key: strings.ToLower(h[0]), RawValue: raw[start:len(raw):len(raw)]}
		opts[i] = corev3.HeaderValueOption{Header: &vals[i], Append: overwrite}
		for j := 0; j < i; j++ {
			if vals[j].Key == vals[i].Key {
				opts[i].Append = appendValue // a repeated name adds a line (EXT-9)
				break
			}
		}
		hm.SetHeaders[i] = &opts[i]
	}
	return &extprocsvcv3.ProcessingResponse{
		Response: &extprocsvcv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvcv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.StatusCode)},
			Headers: hm,
			Body:    r.Body,
			Details: r.Details,
		}},
		DynamicMetadata: processorMarker,
	}
}

// The deprecated append flag is the field ext_proc reads for set_headers (EXT-9); shared, never modified.
var (
	overwrite   = wrapperspb.Bool(false)
	appendValue = wrapperspb.Bool(true)
)

// unsupported answers integrations this service does not run yet (Lambda proxy invocation is built separately).
func (s *Server) unsupported(pr *ir.ProcessorRoute) *extprocsvcv3.ProcessingResponse {
	s.log.Error("integration not served by this processor", "route", pr.Route.Name, "type", pr.Route.Integration.Type)
	return internalError("proxyplus_integration_not_supported")
}

func (s *Server) routeFromMetadata(stream extprocsvcv3.ExternalProcessor_ProcessServer) (*ir.ProcessorRoute, error) {
	md, _ := metadata.FromIncomingContext(stream.Context())
	vals := md.Get(ir.RouteMetadataKey)
	if len(vals) != 1 {
		return nil, fmt.Errorf("want one %s metadata value, got %d", ir.RouteMetadataKey, len(vals))
	}
	return s.routes.decode(vals[0])
}

// routeCache remembers decoded route metadata by its exact value. It holds only what Envoy sent on earlier
// streams (the key is the value itself, so a changed route is a new key), never a copy of the definitions; it is
// bounded and starts over when full.
type routeCache struct {
	mu sync.Mutex
	m  map[string]*ir.ProcessorRoute
}

const routeCacheSize = 4096

func (c *routeCache) decode(v string) (*ir.ProcessorRoute, error) {
	c.mu.Lock()
	pr, ok := c.m[v]
	c.mu.Unlock()
	if ok {
		return pr, nil
	}
	pr, err := ir.DecodeProcessorRoute(v)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= routeCacheSize {
		c.m = make(map[string]*ir.ProcessorRoute)
	}
	c.m[v] = pr
	c.mu.Unlock()
	return pr, nil
}

// headersOf reads raw_value, falling back to value (envoy-notes EXT-4).
func headersOf(h *extprocsvcv3.HttpHeaders) *RequestHeaders {
	list := make([][2]string, 0, len(h.GetHeaders().GetHeaders()))
	for _, hv := range h.GetHeaders().GetHeaders() {
		v := string(hv.GetRawValue())
		if v == "" {
			v = hv.GetValue()
		}
		list = append(list, [2]string{hv.GetKey(), v})
	}
	return NewRequestHeaders(list)
}

// internalError is API Gateway's 500 (ERR-2) as an immediate response; details name the cause in Envoy's access
// log (EXT-9).
func internalError(details string) *extprocsvcv3.ProcessingResponse {
	r := lambdaproxy.GatewayError(500, nil)
	r.Details = details
	return ImmediateResponse(r)
}

// processorMarker is the dynamic metadata the HCM's local-reply mappers use to recognise processor responses.
// One shared value: responses only marshal it, and never change it.
var processorMarker = &structpb.Struct{Fields: map[string]*structpb.Value{
	"proxyplus": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"processor": structpb.NewBoolValue(true)}}),
}}
