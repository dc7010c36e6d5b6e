package extproc_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// wireBytes is a message the test client sends as the bytes given (rawClientCodec), whatever they are.
type wireBytes []byte

type rawClientCodec struct{ proto encoding.CodecV2 }

func (c rawClientCodec) Name() string { return c.proto.Name() }

func (c rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(wireBytes); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawClientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}

// TestMalformedMessageRefused: a message that is not a well-formed ProcessingRequest (here a header name that is
// not UTF-8, which proto3 refuses in a string field) ends the stream with InvalidArgument — Envoy then answers the
// client 500 — invokes nothing, and leaves one log line naming the route and the cause. With the processor's
// server options (serverCodec) and without them (gRPC's proto codec into the empty message) alike; a well-formed
// message on the same server is served.
func TestMalformedMessageRefused(t *testing.T) {
	for name, opts := range map[string][]grpc.ServerOption{"ServerOptions": extproc.ServerOptions(), "default codec": nil} {
		t.Run(name, func(t *testing.T) {
			keys := testutil.RouteKeys(t)
			var calls atomic.Int32
			client, logs := bufconnProcessor(t, keys, lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
				calls.Add(1)
				return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"invoked"}`)}, nil
			}), opts...)
			ctx := metadata.AppendToOutgoingContext(t.Context(), ir.RouteMetadataKey, signedLambdaRoute(t, keys))
			headers := func(key string) []byte {
				b, err := proto.Marshal(&extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{
					RequestHeaders: &extprocsvcv3.HttpHeaders{EndOfStream: true, Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
						{Key: ":method", RawValue: []byte("GET")}, {Key: ":path", RawValue: []byte("/prod/items/1")},
						{Key: ":authority", RawValue: []byte("api.example.com")}, {Key: key, RawValue: []byte("v")},
					}}}}})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			exchange := func(msg []byte) (*extprocsvcv3.ProcessingResponse, error) {
				s, err := client.Process(ctx, grpc.ForceCodecV2(rawClientCodec{proto: encoding.GetCodecV2("proto")}))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SendMsg(wireBytes(msg)); err != nil {
					t.Fatal(err)
				}
				return s.Recv()
			}

			bad := headers("x-name")
			bad[strings.Index(string(bad), "x-name")] = 0xff
			if resp, err := exchange(bad); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("malformed message: answer %v, error %v; want InvalidArgument", resp, err)
			}
			if calls.Load() != 0 {
				t.Error("a malformed message invoked the function")
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "not a well-formed ProcessingRequest") ||
				!strings.Contains(lines[0], "route=") || !strings.Contains(lines[0], "UTF-8") {
				t.Errorf("want one log line naming the route and the cause, got %q", logs.String())
			}

			resp, err := exchange(headers("x-name"))
			if err != nil || resp.GetImmediateResponse().GetStatus().GetCode() != 200 || calls.Load() != 1 {
				t.Fatalf("well-formed message: %v %v (invocations %d)", resp, err, calls.Load())
			}
		})
	}
}
