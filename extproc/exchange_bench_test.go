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
	"google.golang.org/grpc/encoding"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// noopProcessor is the P3a baseline: the same messages on the same transport as the Lambda exchange, answered with
// the least Envoy accepts — in FULL_DUPLEX_STREAMED nothing before end_of_stream, then one empty immediate response
// (performance-targets §2.1).
type noopProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
}

var emptyImmediate = &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ImmediateResponse{
	ImmediateResponse: &extprocsvcv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK}},
}}

func (noopProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	return fixedProcessor{last: emptyImmediate}.Process(s)
}

// fixedProcessor reads Envoy's messages up to end_of_stream and answers that one with last. With last = the
// Lambda exchange's own immediate response it is a diagnostic: the same messages both ways as `lambda`, none of
// the work, so `lambda` − `fixed` is the processor's work and `fixed` − `noop` the bigger answer.
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
		if req.GetRequestHeaders().GetEndOfStream() || req.GetRequestBody().GetEndOfStream() || req.GetRequestTrailers() != nil {
			if err := s.Send(f.last); err != nil {
				return err
			}
			// Then, as the service does (extproc drainAfterAnswer), nothing more until the client ends the
			// stream: both sides write their trailers outside the measured exchange.
			for {
				if _, err := s.Recv(); err != nil {
					return nil
				}
			}
		}
	}
}

// bytesNoopProcessor is a diagnostic floor for P3a: it receives each of Envoy's messages as bytes, as the service
// does (an empty message; extproc.ServerOptions' codec copies it once), reads none of it, and answers the third —
// the benchmark's sequence (Ref.Messages) — with the empty immediate response. `noop` decodes the messages with the
// generated code, as a processor written from the protos does; the service reads its few fields from the bytes
// (request.go), so lambda/noop counts that decoding in the service's favour, and lambda/noop-bytes shows the
// service's work over receiving and answering alone.
type bytesNoopProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
}

func (bytesNoopProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	var m emptypb.Empty
	for range 3 {
		if err := s.RecvMsg(&m); err != nil {
			return nil
		}
	}
	if err := s.Send(emptyImmediate); err != nil {
		return err
	}
	_ = s.RecvMsg(&m) // Envoy's close, as the service waits for it (extproc drainAfterAnswer)
	return nil
}

type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoServer) UnaryCall(_ context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

// BenchmarkExtProcExchange is P3a/P3b (performance-targets §2.1): per operation the client plays Envoy on a
// Lambda route of the generated configuration — a new Process stream with the route's x-proxyplus-route initial
// metadata, then without waiting request_headers (REF-EVENT's headers, end_of_stream false, protocol_config
// FULL_DUPLEX_STREAMED), request_body (REF-EVENT's body, end_of_stream false) and the empty end_of_stream chunk of
// Envoy's HTTP/1 codec (Ref.Messages), then the one answer — over a real socket, c=1. `lambda` runs the production
// code path with an in-process invoker answering REF-OUTPUT; `noop` answers the same sequence with one empty
// immediate response; `unary-echo` is a unary call echoing 1 KB; `fixed` is the diagnostic above. Latency is
// measured per operation up to the answer; p50/p99 are reported.
//
//	go test ./extproc -run '^$' -bench 'BenchmarkExtProcExchange/uds' -benchmem -count 6 -cpu 2
//
// The client keeps each answer as bytes and reads only which answer it is (rawAnswer), on every side alike, as the
// P6 clients keep resources as bytes: the client stands for Envoy, and the Go decoding of an answer into messages
// (for the Lambda answer 9 header options with their wrappers and the marker's Struct maps, ≈ 30 allocations)
// is neither proxyplus's work nor what Envoy's C++ parser costs. Before the loop each side runs one exchange
// decoded in full and checked (status, ValidateAll), so every side still answers correctly.
func BenchmarkExtProcExchange(b *testing.B) {
	for _, network := range []string{"uds", "tcp"} {
		b.Run(network, func(b *testing.B) { benchmarkExchange(b, network) })
	}
}

func benchmarkExchange(b *testing.B, network string) {
	ref := extproc.LoadRef(b)
	res := &lambdainvoke.Result{Payload: ref.Output}
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return res, nil
	})}
	srv := extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, testutil.RouteKeys(b))

	// exchange runs one operation. The one answer is received as rawAnswer (its kind checked) unless full is set;
	// then it is decoded into a message and checked.
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
		for _, m := range ref.Messages() {
			if err := s.Send(m); err != nil {
				b.Fatal(err)
			}
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
	run := func(b *testing.B, srv extprocsvcv3.ExternalProcessorServer, last protowire.Number, check func(*extprocsvcv3.ProcessingResponse) bool, route ...string) {
		conn := serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) })
		client := extprocsvcv3.NewExternalProcessorClient(conn)
		md := ref.Metadata()
		if len(route) > 0 {
			md = []string{ir.RouteMetadataKey, route[0]}
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), md...)
		raw := &rawAnswer{}
		finish(b, exchange(b, client, ctx, raw, last, true, check)) // decoded in full and checked, once
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			s := exchange(b, client, ctx, raw, last, false, check)
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
		run(b, noopProcessor{}, answerImmediate, func(r *extprocsvcv3.ProcessingResponse) bool {
			return r.GetImmediateResponse().GetStatus().GetCode() == typev3.StatusCode_OK
		})
	})
	// mock: the same messages on a templated MOCK route (mockBenchRoute): the processor renders the request and
	// response templates and answers; mock-interleaved times it against noop in turn, both sides in one run.
	mockRoute := mockBenchRoute(b)
	isMock := func(r *extprocsvcv3.ProcessingResponse) bool {
		return r.GetImmediateResponse().GetStatus().GetCode() == typev3.StatusCode_OK && len(r.GetImmediateResponse().GetBody()) > 0
	}
	b.Run("mock", func(b *testing.B) { run(b, srv, answerImmediate, isMock, mockRoute) })
	b.Run("mock-interleaved", func(b *testing.B) {
		mockCtx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, mockRoute)
		ctx := metadata.AppendToOutgoingContext(context.Background(), ref.Metadata()...)
		mockClient := extprocsvcv3.NewExternalProcessorClient(serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) }))
		noopClient := extprocsvcv3.NewExternalProcessorClient(serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, noopProcessor{}) }))
		isOK := func(r *extprocsvcv3.ProcessingResponse) bool {
			return r.GetImmediateResponse().GetStatus().GetCode() == typev3.StatusCode_OK
		}
		raw := &rawAnswer{}
		finish(b, exchange(b, mockClient, mockCtx, raw, answerImmediate, true, isMock))
		finish(b, exchange(b, noopClient, ctx, raw, answerImmediate, true, isOK))
		var mock, noop []time.Duration
		for b.Loop() {
			start := time.Now()
			s := exchange(b, mockClient, mockCtx, raw, answerImmediate, false, isMock)
			mock = append(mock, time.Since(start))
			finish(b, s)
			start = time.Now()
			s = exchange(b, noopClient, ctx, raw, answerImmediate, false, isOK)
			noop = append(noop, time.Since(start))
			finish(b, s)
		}
		m, n := median(mock), median(noop)
		b.ReportMetric(float64(m.Nanoseconds()), "mock-p50-ns")
		b.ReportMetric(float64(n.Nanoseconds()), "noop-p50-ns")
		b.ReportMetric(float64(m)/float64(n), "mock/noop")
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
			err := conn.Invoke(context.Background(), testgrpc.TestService_UnaryCall_FullMethodName, req, raw)
			if err == nil && raw.kind != 1 { // SimpleResponse.payload
				b.Fatalf("echo answer field %d", raw.kind)
			}
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
	b.Run("interleaved", func(b *testing.B) {
		// A diagnostic for a shared, loaded machine: one operation is one lambda exchange, one noop exchange, one
		// noop-bytes exchange (bytesNoopProcessor) and one unary echo, in turn, each timed alone, so the sides meet
		// the same load; it reports their p50s, the P3a and P3b ratios of those p50s, and lambda/noop-bytes. The
		// sides are the ones above, on their own connections.
		ctx := metadata.AppendToOutgoingContext(context.Background(), ref.Metadata()...)
		lambdaClient := extprocsvcv3.NewExternalProcessorClient(serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) }))
		noopClient := extprocsvcv3.NewExternalProcessorClient(serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, noopProcessor{}) }))
		bytesClient := extprocsvcv3.NewExternalProcessorClient(serve(b, network, func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, bytesNoopProcessor{}) }))
		echoConn := serve(b, network, func(gs *grpc.Server) { testgrpc.RegisterTestServiceServer(gs, echoServer{}) })
		isOK := func(r *extprocsvcv3.ProcessingResponse) bool {
			return r.GetImmediateResponse().GetStatus().GetCode() == typev3.StatusCode_OK
		}
		raw := &rawAnswer{}
		finish(b, exchange(b, lambdaClient, ctx, raw, answerImmediate, true, isLambda))
		finish(b, exchange(b, noopClient, ctx, raw, answerImmediate, true, isOK))
		finish(b, exchange(b, bytesClient, ctx, raw, answerImmediate, true, isOK))
		req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 1024)}}
		var lam, noop, bytesNoop, echo []time.Duration
		for b.Loop() {
			start := time.Now()
			s := exchange(b, lambdaClient, ctx, raw, answerImmediate, false, isLambda)
			lam = append(lam, time.Since(start))
			finish(b, s)
			start = time.Now()
			s = exchange(b, noopClient, ctx, raw, answerImmediate, false, isOK)
			noop = append(noop, time.Since(start))
			finish(b, s)
			start = time.Now()
			s = exchange(b, bytesClient, ctx, raw, answerImmediate, false, isOK)
			bytesNoop = append(bytesNoop, time.Since(start))
			finish(b, s)
			start = time.Now()
			if err := echoConn.Invoke(context.Background(), testgrpc.TestService_UnaryCall_FullMethodName, req, raw); err != nil || raw.kind != 1 {
				b.Fatalf("echo: %v %d", err, raw.kind)
			}
			echo = append(echo, time.Since(start))
		}
		l, n, nb, e := median(lam), median(noop), median(bytesNoop), median(echo)
		b.ReportMetric(float64(l.Nanoseconds()), "lambda-p50-ns")
		b.ReportMetric(float64(n.Nanoseconds()), "noop-p50-ns")
		b.ReportMetric(float64(e.Nanoseconds()), "echo-p50-ns")
		b.ReportMetric(float64(nb.Nanoseconds()), "noop-bytes-p50-ns")
		b.ReportMetric(float64(l)/float64(nb), "lambda/noop-bytes")
		b.ReportMetric(float64(l)/float64(n), "P3a")
		b.ReportMetric(float64(l)/float64(e), "P3b")
	})
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Which answer a ProcessingResponse is: the field number of its response oneof.
const (
	answerImmediate protowire.Number = 7
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
	addr, netw := "127.0.0.1:0", "tcp"
	if network == "uds" {
		addr, netw = filepath.Join(b.TempDir(), "p.sock"), "unix"
	}
	lis, err := net.Listen(netw, addr)
	if err != nil {
		b.Fatal(err)
	}
	target := lis.Addr().String()
	if netw == "unix" {
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
