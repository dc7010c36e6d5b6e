package extproc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

// Ref is the shared reference input of the P3 benchmarks and the allocation test (performance-targets PR-6):
// REF-EVENT's route and request as Envoy sends them to the processor, and REF-OUTPUT as the function's answer.
//
// The messages are the sequence the generated configuration makes Envoy play on a Lambda route for an HTTP/1.1
// client (xds/evaluator ExtProcExchange; envoy-notes EXT-6a): request_headers with end_of_stream false and
// protocol_config naming FULL_DUPLEX_STREAMED (ext_proc.cc Filter::encodeProtocolConfig), the body as the codec
// read it with end_of_stream false (http1/codec_impl.cc ServerConnectionImpl::onBody), and the empty
// end_of_stream chunk (onMessageCompleteBase). Envoy waits for nothing before the last; the processor answers
// that one only.
type Ref struct {
	Route string // the x-proxyplus-route metadata value, without the deployment id, as the builder writes it
	// Deployment is the x-proxyplus-deployment value Envoy merges in from the virtual host (ir.DeploymentMetadataKey).
	Deployment string
	Headers    *extprocsvcv3.ProcessingRequest
	Body       *extprocsvcv3.ProcessingRequest
	End        *extprocsvcv3.ProcessingRequest
	Output     []byte
}

// Metadata is the gRPC initial metadata Envoy sends with the stream: the virtual host's and the route's
// grpc_initial_metadata merged (ext_proc.cc Filter::mergePerRouteConfig).
func (r *Ref) Metadata() []string {
	return []string{ir.RouteMetadataKey, r.Route, ir.DeploymentMetadataKey, r.Deployment}
}

// routeOf is the route the service decodes from ref's metadata.
func (s *Server) routeOf(ref *Ref) (*ir.ProcessorRoute, error) {
	return s.routes.DecodeDeployed(ref.Route, ref.Deployment, s.routeKeys)
}

// Messages are the messages of one exchange, in order.
func (r *Ref) Messages() []*extprocsvcv3.ProcessingRequest {
	return []*extprocsvcv3.ProcessingRequest{r.Headers, r.Body, r.End}
}

// Wire is Messages as the processor's gRPC server receives them.
func (r *Ref) Wire() []mem.BufferSlice {
	var out []mem.BufferSlice
	for _, m := range r.Messages() {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, mem.BufferSlice{mem.SliceBuffer(b)})
	}
	return out
}

// receiveWire hands the service one message as its gRPC server receives it with ServerOptions (serverCodec: a
// copy, as the unknown fields of the empty message the service receives into) and handles it.
func (s *Server) receiveWire(ctx context.Context, st *streamState, pr *ir.ProcessorRoute, routeErr error, wire mem.BufferSlice) *extprocsvcv3.ProcessingResponse {
	if err := newServerCodec().Unmarshal(wire, &st.msg.raw); err != nil {
		panic(err)
	}
	resp, err := s.receive(ctx, st, pr, routeErr)
	if err != nil {
		panic(err)
	}
	return resp
}

// LoadRef reads REF-EVENT and REF-OUTPUT from lambdaproxy/testdata.
func LoadRef(tb testing.TB) *Ref {
	tb.Helper()
	dir := filepath.Join("..", "lambdaproxy", "testdata")
	raw, err := os.ReadFile(filepath.Join(dir, "event_ref.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var in struct {
		Route   ir.ProcessorRoute `json:"route"`
		Request struct {
			Method    string      `json:"method"`
			Path      string      `json:"path"`
			Authority string      `json:"authority"`
			Headers   [][2]string `json:"headers"`
			Body      string      `json:"body"`
		} `json:"request"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		tb.Fatal(err)
	}
	// As the builder issues them: the stage's deployment id in the API's value, not in the route's data.
	deployment, err := ir.EncodeAPIDeployments(ir.APIDeployments{APIID: in.Route.APIID,
		Stages: map[string]string{in.Route.Stage: in.Route.DeploymentID}}, testutil.RouteKeys(tb))
	if err != nil {
		tb.Fatal(err)
	}
	in.Route.DeploymentID = ""
	route, err := ir.EncodeProcessorRoute(in.Route, testutil.RouteKeys(tb))
	if err != nil {
		tb.Fatal(err)
	}
	r := in.Request
	hm := &corev3.HeaderMap{}
	for _, kv := range append([][2]string{{":method", r.Method}, {":path", r.Path}, {":authority", r.Authority}, {":scheme", "https"}}, r.Headers...) {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	out, err := os.ReadFile(filepath.Join(dir, "response_ref_output.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return &Ref{
		Route:      route,
		Deployment: deployment,
		Headers: &extprocsvcv3.ProcessingRequest{
			Request:        &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm}},
			ProtocolConfig: &extprocsvcv3.ProtocolConfiguration{RequestBodyMode: extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED},
		},
		Body:   &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{Body: []byte(r.Body)}}},
		End:    &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{EndOfStream: true}}},
		Output: out,
	}
}
