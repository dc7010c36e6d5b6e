package extproc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

func startLambdaProcessor(t *testing.T, fn lambdainvoke.Func) extprocsvcv3.ExternalProcessorClient {
	t.Helper()
	return startServer(t, &extproc.Lambda{Invoker: fn, AccountID: "123456789012"})
}

func lambdaRoute(t *testing.T, timeout time.Duration) string {
	t.Helper()
	r := ir.Route{ResourceID: "res001", ResourcePath: "/items/{id}", Method: "ANY", Integration: ir.Integration{
		Type:   ir.AWSProxy,
		Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:items", Timeout: ir.Duration(timeout)},
	}}
	v, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "api0000001", Stage: "prod", DeploymentID: "dep001", Route: r}, testutil.RouteKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func openStream(t *testing.T, client extprocsvcv3.ExternalProcessorClient, ctx context.Context, route string) extprocsvcv3.ExternalProcessor_ProcessClient {
	t.Helper()
	stream, err := client.Process(metadata.AppendToOutgoingContext(ctx, ir.RouteMetadataKey, route))
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func lambdaHeaders(method string, endOfStream bool) *extprocsvcv3.ProcessingRequest {
	req := headers(":method", method, ":path", "/prod/items/42?a=1", ":authority", "api0000001.execute-api.us-east-1.amazonaws.com",
		"content-type", "application/json", "x-forwarded-for", "203.0.113.9", "x-forwarded-proto", "http")
	req.GetRequestHeaders().EndOfStream = endOfStream
	return req
}

func recvImmediate(t *testing.T, stream extprocsvcv3.ExternalProcessor_ProcessClient) *extprocsvcv3.ImmediateResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.ValidateAll(); err != nil {
		t.Fatalf("Envoy would reject the response: %v", err)
	}
	ir := resp.GetImmediateResponse()
	if ir == nil {
		t.Fatalf("want an immediate response, got %v", resp)
	}
	return ir
}

// TestLambdaHeadersOnly: a request without body is one message each way (envoy-notes EXT-8 item 1).
func TestLambdaHeadersOnly(t *testing.T) {
	var event map[string]any
	client := startLambdaProcessor(t, func(_ context.Context, fn string, payload []byte) (*lambdainvoke.Result, error) {
		if fn != "arn:aws:lambda:us-east-1:123456789012:function:items" {
			t.Errorf("invoked %s", fn)
		}
		if err := json.Unmarshal(payload, &event); err != nil {
			t.Errorf("event is not JSON: %v", err)
		}
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"headers":{"X-A":"1"},"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"ok"}`)}, nil
	})
	stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
	if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
		t.Fatal(err)
	}
	ir := recvImmediate(t, stream)
	if ir.GetStatus().GetCode() != 200 || string(ir.GetBody()) != "ok" || ir.GetDetails() != "proxyplus_lambda_ok" {
		t.Fatalf("immediate response: %v", ir)
	}
	cookies := 0
	for _, h := range ir.GetHeaders().GetSetHeaders() {
		if h.GetHeader().GetKey() == "set-cookie" {
			cookies++
			if cookies == 2 && !h.GetAppend().GetValue() {
				t.Error("the second Set-Cookie overwrites the first: repeated values need append (EXT-9)")
			}
		}
	}
	if cookies != 2 {
		t.Errorf("want both Set-Cookie values, got %d", cookies)
	}
	if event["body"] != nil || event["resource"] != "/items/{id}" || event["path"] != "/items/42" {
		t.Errorf("event: %v", event)
	}
	if rc := event["requestContext"].(map[string]any); rc["identity"].(map[string]any)["sourceIp"] != "203.0.113.9" {
		t.Errorf("sourceIp from Envoy's x-forwarded-for: %v", rc["identity"])
	}
}

// TestLambdaWithBody: the BUFFERED sequence (a configuration generated before Lambda routes moved to
// FULL_DUPLEX_STREAMED, or an Envoy that sends no protocol_config): headers are answered with CONTINUE, the
// buffered body with the immediate response (EXT-8 2). The generated configuration's sequence is
// TestLambdaFullDuplexOneAnswer's.
func TestLambdaWithBody(t *testing.T) {
	var body any
	client := startLambdaProcessor(t, func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		var ev map[string]any
		_ = json.Unmarshal(payload, &ev)
		body = ev["body"]
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":201}`)}, nil
	})
	stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
	if err := stream.Send(lambdaHeaders("POST", false)); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequestHeaders() == nil || resp.GetRequestHeaders().GetResponse().GetStatus() != extprocsvcv3.CommonResponse_CONTINUE {
		t.Fatalf("want CONTINUE on the headers, got %v", resp)
	}
	if err := stream.Send(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocsvcv3.HttpBody{Body: []byte(`{"n":1}`), EndOfStream: true},
	}}); err != nil {
		t.Fatal(err)
	}
	if ir := recvImmediate(t, stream); ir.GetStatus().GetCode() != 201 {
		t.Fatalf("status %v", ir.GetStatus())
	}
	if body != `{"n":1}` {
		t.Errorf("event body %v", body)
	}
}

// TestLambdaTimeoutAndErrors: the integration timeout answers 504 before Envoy's message timeout; a function
// error answers 502 (OUT-17, OUT-2).
func TestLambdaTimeoutAndErrors(t *testing.T) {
	client := startLambdaProcessor(t, func(ctx context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		if strings.Contains(string(payload), `"httpMethod":"PUT"`) {
			<-ctx.Done() // a function slower than the integration timeout
			return nil, ctx.Err()
		}
		return &lambdainvoke.Result{Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled"}, nil
	})
	stream := openStream(t, client, context.Background(), lambdaRoute(t, 50*time.Millisecond))
	if err := stream.Send(lambdaHeaders("PUT", true)); err != nil {
		t.Fatal(err)
	}
	if ir := recvImmediate(t, stream); ir.GetStatus().GetCode() != 504 || !strings.Contains(string(ir.GetBody()), "Endpoint request timed out") {
		t.Fatalf("timeout: %v", ir)
	}
	stream = openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
	if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
		t.Fatal(err)
	}
	if ir := recvImmediate(t, stream); ir.GetStatus().GetCode() != 502 {
		t.Fatalf("function error: %v", ir)
	}
}

// TestLambdaClientCancel: when Envoy cancels the stream mid-invocation, the invocation's context is cancelled.
func TestLambdaClientCancel(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan error, 1)
	client := startLambdaProcessor(t, func(ctx context.Context, _ string, _ []byte) (*lambdainvoke.Result, error) {
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	stream := openStream(t, client, ctx, lambdaRoute(t, 10*time.Second))
	if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("invocation ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the invocation was not cancelled with the stream")
	}
}

// TestServiceRestart: Envoy keeps its gRPC channel to the processor; after the service restarts on the same
// address, the next request's stream is served (the service holds no state a restart could lose).
func TestServiceRestart(t *testing.T) {
	fn := lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"up"}`)}, nil
	})
	start := func(addr string) (*grpc.Server, string) {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer()
		extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), &extproc.Lambda{Invoker: fn}, testutil.RouteKeys(t)))
		go func() { _ = gs.Serve(lis) }()
		return gs, lis.Addr().String()
	}
	gs, addr := start("127.0.0.1:0")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := extprocsvcv3.NewExternalProcessorClient(conn)
	exchange := func() {
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, lambdaRoute(t, time.Second)), 20*time.Second)
		defer cancel()
		stream, err := client.Process(ctx, grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
			t.Fatal(err)
		}
		if ir := recvImmediate(t, stream); string(ir.GetBody()) != "up" {
			t.Fatalf("response %v", ir)
		}
	}
	exchange()
	gs.Stop()
	// The channel notices the restart (it leaves READY) before the next request, as Envoy's does.
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if !conn.WaitForStateChange(wctx, connectivity.Ready) {
		t.Fatal("the channel never noticed the processor stopping")
	}
	gs2, _ := start(addr)
	defer gs2.Stop()
	exchange()
}

// TestLambdaXForwardedForSeparator: Envoy appends the client address to X-Forwarded-For with ",", API Gateway
// with ", " (EVT-10): the event shows API Gateway's separator before the appended address, and the client's own
// separators as sent.
func TestLambdaXForwardedForSeparator(t *testing.T) {
	for _, tc := range []struct{ fromEnvoy, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"198.51.100.1,203.0.113.9", "198.51.100.1, 203.0.113.9"},
		{"10.0.0.1,10.0.0.2, 198.51.100.1,203.0.113.9", "10.0.0.1,10.0.0.2, 198.51.100.1, 203.0.113.9"},
		{"198.51.100.1, 203.0.113.9", "198.51.100.1, 203.0.113.9"},
	} {
		var event map[string]any
		client := startLambdaProcessor(t, func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
			if err := json.Unmarshal(payload, &event); err != nil {
				t.Errorf("event is not JSON: %v", err)
			}
			return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200}`)}, nil
		})
		stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
		req := headers(":method", "GET", ":path", "/prod/items/42", ":authority", "api0000001.execute-api.us-east-1.amazonaws.com",
			"x-forwarded-for", tc.fromEnvoy)
		req.GetRequestHeaders().EndOfStream = true
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		recvImmediate(t, stream)
		hs, _ := event["headers"].(map[string]any)
		mv, _ := event["multiValueHeaders"].(map[string]any)
		if hs["X-Forwarded-For"] != tc.want || fmt.Sprint(mv["X-Forwarded-For"]) != "["+tc.want+"]" {
			t.Errorf("Envoy sent %q: event has %q / %v, want %q", tc.fromEnvoy, hs["X-Forwarded-For"], mv["X-Forwarded-For"], tc.want)
		}
		if rc := event["requestContext"].(map[string]any); rc["identity"].(map[string]any)["sourceIp"] != "203.0.113.9" {
			t.Errorf("sourceIp: %v", rc["identity"])
		}
	}
}
