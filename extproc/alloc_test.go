package extproc

import (
	"context"
	"io"
	"log/slog"
	"testing"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// refServer is the processor with an in-process invoker answering REF-OUTPUT, and REF-EVENT's messages.
func refServer(tb testing.TB) (*Server, *Ref) {
	ref := LoadRef(tb)
	res := &lambdainvoke.Result{Payload: ref.Output}
	s := NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), &Lambda{AccountID: "123456789012",
		Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) { return res, nil })}, testutil.RouteKeys(tb))
	return s, ref
}

// serveRef is the processor's whole per-request work for REF-EVENT without gRPC: the route from its metadata
// value, the stream's state, Envoy's FULL_DUPLEX_STREAMED sequence (request headers and the body chunk, not
// answered; the end_of_stream chunk) → event → invoke → conversion → immediate response, and the answer's buffer
// released as after Send. Envoy's messages arrive as wire bytes (wire, Ref.Wire) and are decoded here, as the
// service decodes them (request.go). With decode it returns the answer's status as Envoy reads it
// (the answer marshalled and parsed again; not part of the processor's work), else 0.
func serveRef(s *Server, ref *Ref, wire []mem.BufferSlice, decode bool) int {
	pr, err := s.routeOf(ref)
	st := newStreamState()
	defer st.free()
	ctx := context.Background()
	if s.receiveWire(ctx, st, pr, err, wire[0]) != nil || s.receiveWire(ctx, st, pr, err, wire[1]) != nil {
		panic("the processor answered before end_of_stream")
	}
	resp := s.receiveWire(ctx, st, pr, err, wire[2])
	code := 0
	if decode {
		code = int(onTheWire(resp).GetImmediateResponse().GetStatus().GetCode())
	}
	return code
}

// onTheWire is resp as its receiver decodes it.
func onTheWire(resp *extprocsvcv3.ProcessingResponse) *extprocsvcv3.ProcessingResponse {
	b, err := proto.Marshal(resp)
	if err != nil {
		panic(err)
	}
	out := &extprocsvcv3.ProcessingResponse{}
	if err := proto.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// BenchmarkLambdaServe is the processor's own share of a Lambda exchange (serveRef), without gRPC.
//
//	go test ./extproc -run '^$' -bench BenchmarkLambdaServe -benchmem
func BenchmarkLambdaServe(b *testing.B) {
	s, ref := refServer(b)
	wire := ref.Wire()
	if serveRef(s, ref, wire, true) != 201 {
		b.Fatal("status")
	}
	b.ReportAllocs()
	for b.Loop() {
		serveRef(s, ref, wire, false)
	}
}

// TestLambdaServeAllocs pins the processor's allocations per Lambda request (PR-5: deterministic, skipped
// under -race): one copy of each of Envoy's three messages as received (serverCodec; gRPC's buffer is recycled once
// the codec returns), the generated ids' string and the invocation's context (the header values are the message's bytes;
// the integration timeout's context starts no timer when the invoker does not wait, deadline.go; the function
// output is converted in pooled memory); the stream state is recycled and the answer written as wire bytes into a
// recycled buffer (wire.go). A new allocation on this path shows here first.
func TestLambdaServeAllocs(t *testing.T) {
	if testutil.Instrumented() {
		t.Skip("allocation counts differ under -race and coverage")
	}
	s, ref := refServer(t)
	wire := ref.Wire()
	if serveRef(s, ref, wire, true) != 201 {
		t.Fatal("status")
	}
	const want = 5
	if got := testing.AllocsPerRun(200, func() { serveRef(s, ref, wire, false) }); got > want {
		t.Errorf("%v allocations per Lambda request, want at most %d", got, want)
	}
}

// TestLambdaServeAllocsWithMetrics: the per-function metrics add no allocation per request (the function's
// handles are cached; counters and the histogram are atomic).
func TestLambdaServeAllocsWithMetrics(t *testing.T) {
	if testutil.Instrumented() {
		t.Skip("allocation counts differ under -race and coverage")
	}
	s, ref := refServer(t)
	wire := ref.Wire()
	s.lambda.Metrics = NewMetrics(nil)
	if serveRef(s, ref, wire, true) != 201 {
		t.Fatal("status")
	}
	const want = 5
	if got := testing.AllocsPerRun(200, func() { serveRef(s, ref, wire, false) }); got > want {
		t.Errorf("%v allocations per Lambda request with metrics, want at most %d", got, want)
	}
}
