package extproc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// noopProcessor is the P3a baseline: the same messages on the same transport as the Lambda exchange, answered
// CONTINUE (an empty common response) without work.
type noopProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
}

var (
	continueHeaders = &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvcv3.HeadersResponse{}}}
	continueBody    = &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestBody{RequestBody: &extprocsvcv3.BodyResponse{}}}
)

func (noopProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	return fixedProcessor{last: continueBody}.Process(s)
}

// fixedProcessor answers request headers with CONTINUE and the end of the body with last. With last = the
// Lambda exchange's own immediate response it is a diagnostic: the same messages both ways as `lambda`, none
// of the work, so `lambda` − `fixed` is the processor's work and `fixed` − `noop` the bigger answer.
type fixedProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
	last *extprocsvcv3.ProcessingResponse
}

func (f fixedProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		if req.GetRequestHeaders() != nil && !req.GetRequestHeaders().GetEndOfStream() {
			if err := s.Send(continueHeaders); err != nil {
				return err
			}
			continue
		}
		return s.Send(f.last)
	}
}

type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoServer) UnaryCall(_ context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

// BenchmarkExchange is P3a/P3b (performance-targets §2.1): per operation the client plays Envoy — a new Process
// stream with the route's x-proxyplus-route initial metadata, request_headers (REF-EVENT's headers,
// end_of_stream false), its answer, request_body (REF-EVENT's body, end_of_stream true), its answer — over a
// real socket, c=1. `lambda` runs the production code path with an in-process invoker answering REF-OUTPUT;
// `noop` answers CONTINUE to both; `unary-echo` is a unary call echoing 1 KB; `fixed` is the diagnostic above.
// Latency is measured per operation up to the last answer; p50/p99 are reported.
//
//	go test ./extproc -run '^$' -bench 'BenchmarkExchange' -benchmem -count 6 -cpu 2
func BenchmarkExchange(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) { benchmarkExchange(b, network) })
	}
}

func benchmarkExchange(b *testing.B, network string) {
	ref := extproc.LoadRef(b)
	res := &lambdainvoke.Result{Payload: ref.Output}
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return res, nil
	})}
	srv := extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda)

	run := func(b *testing.B, srv extprocsvcv3.ExternalProcessorServer, check func(*extprocsvcv3.ProcessingResponse) bool) {
		conn := serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) })
		client := extprocsvcv3.NewExternalProcessorClient(conn)
		ctx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, ref.Route)
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			s, err := client.Process(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Send(ref.Headers); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				b.Fatal(err)
			}
			if err := s.Send(ref.Body); err != nil {
				b.Fatal(err)
			}
			resp, err := s.Recv()
			if err != nil || !check(resp) {
				b.Fatalf("exchange: %v %v", resp, err)
			}
			lat = append(lat, time.Since(start))
			// Finish the stream as Envoy does after the last answer (half-close, then the processor's trailers),
			// outside the measured latency. Without it grpc-go keeps every stream and its goroutine until the
			// connection closes, and the heap and the GC work grow with b.N.
			_ = s.CloseSend()
			if _, err := s.Recv(); err != io.EOF {
				b.Fatalf("stream end: %v", err)
			}
		}
		report(b, lat)
	}
	isLambda := func(r *extprocsvcv3.ProcessingResponse) bool {
		return r.GetImmediateResponse().GetStatus().GetCode() == 201
	}
	b.Run("lambda", func(b *testing.B) { run(b, srv, isLambda) })
	b.Run("noop", func(b *testing.B) {
		run(b, noopProcessor{}, func(r *extprocsvcv3.ProcessingResponse) bool { return r.GetRequestBody() != nil })
	})
	b.Run("fixed", func(b *testing.B) {
		// The Lambda exchange's answer, captured once through the real server, replayed.
		var last *extprocsvcv3.ProcessingResponse
		run(b, &capture{srv: srv, last: &last}, isLambda)
	})
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
		report(b, lat)
	})
}

// capture serves its first stream with srv and keeps the final answer, then replays it (fixedProcessor).
type capture struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
	srv  extprocsvcv3.ExternalProcessorServer
	last **extprocsvcv3.ProcessingResponse
}

func (c *capture) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	if *c.last != nil {
		return fixedProcessor{last: *c.last}.Process(s)
	}
	return c.srv.Process(&recorder{ExternalProcessor_ProcessServer: s, last: c.last})
}

type recorder struct {
	extprocsvcv3.ExternalProcessor_ProcessServer
	last **extprocsvcv3.ProcessingResponse
}

func (r *recorder) Send(m *extprocsvcv3.ProcessingResponse) error {
	// The service sends its Lambda answer as wire bytes (unknown fields of an empty message): keep what the
	// client receives, decoded.
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	var got extprocsvcv3.ProcessingResponse
	if err := proto.Unmarshal(b, &got); err != nil {
		return err
	}
	if got.GetImmediateResponse() != nil {
		// Replayed as the same bytes, sent the way the service sends them.
		last := &extprocsvcv3.ProcessingResponse{}
		last.ProtoReflect().SetUnknown(b)
		*r.last = last
	}
	return r.ExternalProcessor_ProcessServer.Send(m)
}

// report adds the median and the 99th percentile of the per-operation latencies (PR-3).
func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/op")
}

// envoyWindow is Envoy's default HTTP/2 initial stream and connection window (256 MiB, fixed: Envoy does no BDP
// estimation); the benchmark client plays Envoy.
const envoyWindow = 256 << 20

// serve starts a gRPC server with the processor's production options (extproc.ServerOptions) for every side of
// the comparison, and a client with Envoy's flow-control windows.
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
	gs := grpc.NewServer(extproc.ServerOptions()...)
	register(gs)
	go func() { _ = gs.Serve(lis) }()
	b.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}
