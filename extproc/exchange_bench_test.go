package extproc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// noopProcessor answers Envoy's sequence with no work: CONTINUE on headers, a fixed immediate response on the
// body. It is the P3a baseline: the same messages on the same transport as the Lambda exchange.
type noopProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
}

func (noopProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		if req.GetRequestHeaders() != nil && !req.GetRequestHeaders().GetEndOfStream() {
			if err := s.Send(&extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvcv3.HeadersResponse{}}}); err != nil {
				return err
			}
			continue
		}
		return s.Send(&extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvcv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: 200}, Body: []byte(`{"ok":true}`),
		}}})
	}
}

type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoServer) UnaryCall(_ context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

// BenchmarkExchange is P3a/P3b: a full Lambda exchange (request headers + 2 KB body → event → in-process no-op
// invoker → response conversion → immediate response) against a no-op ext_proc exchange with the same messages,
// and a unary gRPC echo of 1 KB, in one process, c=1, over loopback TCP and over a Unix socket (the co-located
// processor of envoy-notes EXT-18). Report p50.
//
//	go test ./extproc -run '^$' -bench BenchmarkExchange -benchtime 3000x -cpu 2
func BenchmarkExchange(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) { benchmarkExchange(b, network) })
	}
}

func benchmarkExchange(b *testing.B, network string) {
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"ok\":true}"}`)}, nil
	})}
	route := lambdaRouteB(b)
	body := []byte(strings.Repeat(`{"k":"vvvvvvvvvvvvvvvvvvvv"},`, 73)[:2048])
	hdrs := benchHeaders()

	run := func(b *testing.B, srv extprocsvcv3.ExternalProcessorServer) {
		conn := serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) })
		client := extprocsvcv3.NewExternalProcessorClient(conn)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-proxyplus-route", route)
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			s, err := client.Process(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Send(hdrs); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				b.Fatal(err)
			}
			if err := s.Send(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{Body: body, EndOfStream: true}}}); err != nil {
				b.Fatal(err)
			}
			resp, err := s.Recv()
			if err != nil || resp.GetImmediateResponse().GetStatus().GetCode() != 200 {
				b.Fatalf("exchange: %v %v", resp, err)
			}
			_ = s.CloseSend()
			lat = append(lat, time.Since(start))
		}
		reportP50(b, lat)
	}
	b.Run("lambda", func(b *testing.B) { run(b, extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda)) })
	b.Run("noop", func(b *testing.B) { run(b, noopProcessor{}) })
	b.Run("unary-echo", func(b *testing.B) {
		conn := serve(b, network, func(gs *grpc.Server) { testgrpc.RegisterTestServiceServer(gs, echoServer{}) })
		client := testgrpc.NewTestServiceClient(conn)
		req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 1024)}}
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if _, err := client.UnaryCall(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		reportP50(b, lat)
	})
}

func reportP50(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
}

func serve(b *testing.B, network string, register func(*grpc.Server)) *grpc.ClientConn {
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(b.TempDir(), "p.sock")
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	target := lis.Addr().String()
	if network == "unix" {
		target = "unix://" + addr
	}
	gs := grpc.NewServer()
	register(gs)
	go func() { _ = gs.Serve(lis) }()
	b.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

func benchHeaders() *extprocsvcv3.ProcessingRequest {
	hm := &corev3.HeaderMap{}
	for _, kv := range [][2]string{
		{":method", "POST"}, {":path", "/prod/items/42?a=1&b=two"}, {":authority", "api0000001.execute-api.us-east-1.amazonaws.com"},
		{":scheme", "http"}, {"content-type", "application/json"}, {"accept", "application/json"}, {"user-agent", "bench/1.0"},
		{"x-forwarded-for", "203.0.113.9"}, {"x-forwarded-proto", "http"}, {"x-forwarded-port", "8080"}, {"content-length", "2048"},
	} {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	return &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{Headers: hm}}}
}

func lambdaRouteB(b *testing.B) string {
	t := &testing.T{}
	v := lambdaRoute(t, 5*time.Second)
	if v == "" {
		b.Fatal(fmt.Errorf("route"))
	}
	return v
}

// BenchmarkLambdaServe is the processor's own share of a Lambda exchange, without gRPC: event, no-op invoke,
// conversion, immediate response.
//
//	go test ./extproc -run '^$' -bench BenchmarkLambdaServe -benchmem
func BenchmarkLambdaServe(b *testing.B) {
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"ok\":true}"}`)}, nil
	})}
	pr, err := ir.DecodeProcessorRoute(lambdaRouteB(b))
	if err != nil {
		b.Fatal(err)
	}
	rh := extproc.NewRequestHeaders([][2]string{{":method", "POST"}, {":path", "/prod/items/42?a=1&b=two"}, {":authority", "api0000001.execute-api.us-east-1.amazonaws.com"},
		{"content-type", "application/json"}, {"accept", "application/json"}, {"user-agent", "bench/1.0"},
		{"x-forwarded-for", "203.0.113.9"}, {"x-forwarded-proto", "http"}, {"x-forwarded-port", "8080"}, {"content-length", "2048"}})
	body := []byte(strings.Repeat("x", 2048))
	b.ReportAllocs()
	for b.Loop() {
		x := lambda.Serve(context.Background(), pr, extproc.LambdaRequest(rh, body, "203.0.113.9", ""))
		_ = extproc.ImmediateResponse(x.Response)
	}
}
