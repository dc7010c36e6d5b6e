package extproc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
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
//
// The client keeps each answer as bytes and reads only which answer it is (rawAnswer), on every side alike, as the
// P6 clients keep resources as bytes: the client stands for Envoy, and the Go decoding of an answer into messages
// (for the Lambda answer 9 header options with their wrappers and the marker's Struct maps, ≈ 30 allocations)
// is neither proxyplus's work nor what Envoy's C++ parser costs. Before the loop each side runs one exchange
// decoded in full and checked (status, ValidateAll), so every side still answers correctly. `unix-decode` is the
// previous method, kept for continuity: the client decodes every answer into messages.
func BenchmarkExchange(b *testing.B) {
	for _, network := range []string{"tcp", "unix", "unix-decode"} {
		b.Run(network, func(b *testing.B) {
			decode := network == "unix-decode"
			benchmarkExchange(b, strings.TrimSuffix(network, "-decode"), decode)
		})
	}
}

func benchmarkExchange(b *testing.B, network string, decode bool) {
	ref := extproc.LoadRef(b)
	res := &lambdainvoke.Result{Payload: ref.Output}
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return res, nil
	})}
	srv := extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, testutil.RouteKeys(b))

	// exchange runs one operation. The answers are received as rawAnswer (the kind checked: CONTINUE to the
	// headers, then last) unless full is set; then they are decoded into messages and the last one is checked.
	exchange := func(b *testing.B, client extprocsvcv3.ExternalProcessorClient, ctx context.Context, raw *rawAnswer,
		last protowire.Number, full bool, check func(*extprocsvcv3.ProcessingResponse) bool) extprocsvcv3.ExternalProcessor_ProcessClient {
		s, err := client.Process(ctx)
		if err != nil {
			b.Fatal(err)
		}
		recv := func(kind protowire.Number) *extprocsvcv3.ProcessingResponse {
			if full {
				resp, err := s.Recv()
				if err != nil {
					b.Fatal(err)
				}
				return resp
			}
			if err := s.RecvMsg(raw); err != nil || raw.kind != kind {
				b.Fatalf("answer kind %d, want %d: %v", raw.kind, kind, err)
			}
			return nil
		}
		if err := s.Send(ref.Headers); err != nil {
			b.Fatal(err)
		}
		if resp := recv(answerRequestHeaders); full && resp.GetRequestHeaders() == nil {
			b.Fatalf("headers answer: %v", resp)
		}
		if err := s.Send(ref.Body); err != nil {
			b.Fatal(err)
		}
		if resp := recv(last); full {
			if err := resp.ValidateAll(); err != nil || !check(resp) {
				b.Fatalf("exchange: %v %v", resp, err)
			}
		}
		return s
	}
	finish := func(b *testing.B, s extprocsvcv3.ExternalProcessor_ProcessClient) {
		// Finish the stream as Envoy does after the last answer (half-close, then the processor's trailers),
		// outside the measured latency. Without it grpc-go keeps every stream and its goroutine until the
		// connection closes, and the heap and the GC work grow with b.N.
		_ = s.CloseSend()
		if _, err := s.Recv(); err != io.EOF {
			b.Fatalf("stream end: %v", err)
		}
	}
	run := func(b *testing.B, srv extprocsvcv3.ExternalProcessorServer, last protowire.Number, check func(*extprocsvcv3.ProcessingResponse) bool) {
		conn := serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) })
		client := extprocsvcv3.NewExternalProcessorClient(conn)
		ctx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, ref.Route)
		raw := &rawAnswer{}
		finish(b, exchange(b, client, ctx, raw, last, true, check)) // decoded in full and checked, once
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			s := exchange(b, client, ctx, raw, last, decode, check)
			lat = append(lat, time.Since(start))
			finish(b, s)
		}
		report(b, lat)
	}
	isLambda := func(r *extprocsvcv3.ProcessingResponse) bool {
		return r.GetImmediateResponse().GetStatus().GetCode() == 201
	}
	b.Run("lambda", func(b *testing.B) { run(b, srv, answerImmediate, isLambda) })
	b.Run("noop", func(b *testing.B) {
		run(b, noopProcessor{}, answerRequestBody, func(r *extprocsvcv3.ProcessingResponse) bool { return r.GetRequestBody() != nil })
	})
	b.Run("fixed", func(b *testing.B) {
		// The Lambda exchange's answer, captured once through the real server, replayed.
		var last *extprocsvcv3.ProcessingResponse
		run(b, &capture{srv: srv, last: &last}, answerImmediate, isLambda)
	})
	b.Run("unary-echo", func(b *testing.B) {
		conn := serve(b, network, func(gs *grpc.Server) { testgrpc.RegisterTestServiceServer(gs, echoServer{}) })
		client := testgrpc.NewTestServiceClient(conn)
		req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 1024)}}
		// Decoded in full and checked, once.
		if resp, err := client.UnaryCall(context.Background(), req); err != nil || len(resp.GetPayload().GetBody()) != 1024 {
			b.Fatalf("echo: %v %v", resp, err)
		}
		raw := &rawAnswer{}
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			var err error
			if decode {
				_, err = client.UnaryCall(context.Background(), req)
			} else {
				err = conn.Invoke(context.Background(), testgrpc.TestService_UnaryCall_FullMethodName, req, raw)
				if err == nil && raw.kind != 1 { // SimpleResponse.payload
					b.Fatalf("echo answer field %d", raw.kind)
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
}

// Which answer a ProcessingResponse is: the field number of its response oneof.
const (
	answerRequestHeaders protowire.Number = 1
	answerRequestBody    protowire.Number = 3
	answerImmediate      protowire.Number = 7
)

// rawAnswer is an answer the benchmark client keeps as bytes (in a reused buffer), as Envoy's stand-in. Unmarshal
// walks the top-level fields (well-formed wire, nothing left over) and keeps the last length-delimited field's
// number: the response oneof for a ProcessingResponse (the marker, field 8, is skipped), the payload (1) for a
// SimpleResponse.
type rawAnswer struct {
	b    []byte
	kind protowire.Number
}

// benchCodec is the benchmark client's codec: requests are marshalled by gRPC's proto codec, answers received as
// rawAnswer are kept as bytes, anything else is decoded by the proto codec.
type benchCodec struct{ proto encoding.CodecV2 }

func (c benchCodec) Name() string { return c.proto.Name() }

func (c benchCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c benchCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawAnswer)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	r.b, r.kind = r.b[:0], 0
	for _, buf := range data {
		r.b = append(r.b, buf.ReadOnlyData()...)
	}
	for b := r.b; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		if typ == protowire.BytesType && num != 8 {
			r.kind = num
		}
		b = b[n+m:]
	}
	return nil
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
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(benchCodec{proto: encoding.GetCodecV2("proto")})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}
