package extproc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

func startProcessor(t *testing.T) extprocsvcv3.ExternalProcessorClient {
	t.Helper()
	return startServer(t, nil)
}

// startServer runs the processor on an in-memory listener; lambda serves AWS_PROXY routes (nil: none).
func startServer(t *testing.T, lambda *extproc.Lambda) extprocsvcv3.ExternalProcessorClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	// The processor's production options (serve uses them): its codec is the one Envoy's messages go through.
	// The in-memory harness of the route-data tests (bufconnProcessor) keeps gRPC's defaults, so both paths run.
	gs := grpc.NewServer(extproc.ServerOptions()...)
	extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, testutil.RouteKeys(t)))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return extprocsvcv3.NewExternalProcessorClient(conn)
}

// route is an HTTP_PROXY route the builders would mark for the processor: fixed method, the uri's own query
// with a placeholder fed from the query, a query mapping (RTM-12).
func route(t *testing.T) string {
	t.Helper()
	r := ir.Route{ResourceID: "abc123", ResourcePath: "/{pathVariable}", Method: "POST", Integration: ir.Integration{
		Type: ir.HTTPProxy,
		HTTP: &ir.HTTPIntegration{
			Backend: ir.Backend{Scheme: "http", Host: "backend.example", Port: 80},
			Method:  "POST",
			Path:    []ir.PathPart{{Literal: "/items/"}, {Placeholder: "id"}},
			Query:   []ir.QueryPart{{Name: "testQs", Value: []ir.PathPart{{Placeholder: "qs"}}}},
			Placeholders: map[string]ir.ValueSource{
				"id": {Kind: ir.FromPath, Name: "pathVariable"},
				"qs": {Kind: ir.FromQuery, Name: "testVar"},
			},
			QueryMappings: []ir.Mapping{{Name: "mapped", Source: ir.ValueSource{Kind: ir.FromHeader, Name: "x-in"}}},
			Processor:     true,
		},
	}}
	v, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "api0000001", Stage: "test", DeploymentID: "dep001", Route: r}, testutil.RouteKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func headers(kv ...string) *extprocsvcv3.ProcessingRequest {
	hm := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm, EndOfStream: true},
	}}
}

// TestHTTPProxyRewriteOverGRPC replays Envoy's headers-only exchange for a rewritten HTTP_PROXY route: one
// request_headers message with the route's metadata, one request_headers answer that CONTINUEs with the rewrite.
func TestHTTPProxyRewriteOverGRPC(t *testing.T) {
	client := startProcessor(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, route(t))
	stream, err := client.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(headers(":method", "GET", ":path", "//test//foo%2Fbar/?testVar=a+b&z=1", ":authority", "api0000001.execute-api.localhost", "x-in", "v1")); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.ValidateAll(); err != nil {
		t.Fatalf("Envoy would reject the response: %v", err)
	}
	rh := resp.GetRequestHeaders()
	if rh == nil {
		t.Fatalf("want a request_headers answer, got %v", resp)
	}
	got := map[string]string{}
	for _, h := range rh.GetResponse().GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			t.Errorf("header %s set through value: Envoy fails requests that set value and raw_value (EXT-4)", h.GetHeader().GetKey())
		}
		got[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	// uri query first, then mappings, then the client's query as sent (HTP-6); path parameter raw (DEV-5).
	if want := "/items/foo%2Fbar?testQs=a+b&mapped=v1&testVar=a+b&z=1"; got[":path"] != want {
		t.Errorf(":path = %q, want %q", got[":path"], want)
	}
	if got[":method"] != "POST" {
		t.Errorf(":method = %q, want the fixed integration method POST (HTP-7)", got[":method"])
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the answer the stream should end cleanly, got %v", err)
	}
}

// TestMissingRouteMetadataFailsClosed: a stream without the route metadata is a configuration bug; the request
// fails with API Gateway's 500 as an immediate response, marked for the local-reply mappers.
func TestMissingRouteMetadataFailsClosed(t *testing.T) {
	client := startProcessor(t)
	stream, err := client.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(headers(":method", "GET", ":path", "/test/x")); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	ir := resp.GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 500 || !strings.Contains(string(ir.GetBody()), "Internal server error") {
		t.Fatalf("want an immediate 500, got %v", resp)
	}
	if resp.GetDynamicMetadata().GetFields()["proxyplus"] == nil {
		t.Error("immediate response lacks the proxyplus marker the HCM mappers rely on")
	}
}
