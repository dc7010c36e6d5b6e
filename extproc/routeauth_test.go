package extproc_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// syncBuffer is a log sink the server's goroutines write to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// guardedProcessor is a processor holding keys whose invoker only counts calls, with its log.
func guardedProcessor(t *testing.T, keys ir.RouteKeys) (extprocsvcv3.ExternalProcessorClient, *atomic.Int32, *syncBuffer) {
	t.Helper()
	var calls atomic.Int32
	client, logs := bufconnProcessor(t, keys, lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		calls.Add(1)
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200,"body":"invoked"}`)}, nil
	}))
	return client, &calls, logs
}

// bufconnProcessor serves the processor with keys and invoker over an in-memory connection (a gRPC server with
// opts) and returns a client and the processor's log.
func bufconnProcessor(t *testing.T, keys ir.RouteKeys, invoker lambdainvoke.Invoker, opts ...grpc.ServerOption) (extprocsvcv3.ExternalProcessorClient, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(opts...)
	extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(slog.New(slog.NewTextHandler(logs, nil)),
		&extproc.Lambda{Invoker: invoker, AccountID: "123456789012"}, keys))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return extprocsvcv3.NewExternalProcessorClient(conn), logs
}

func signedLambdaRoute(t *testing.T, keys ir.RouteKeys) string {
	t.Helper()
	r := ir.Route{ResourceID: "res001", ResourcePath: "/items/{id}", Method: "ANY", Integration: ir.Integration{
		Type:   ir.AWSProxy,
		Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:items", Timeout: ir.Duration(5 * time.Second)},
	}}
	v, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "api0000001", Stage: "prod", DeploymentID: "dep001", Route: r}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestForgedRouteInvokesNothing (issue 10 scope 2): a stream whose route data the control plane did not sign
// gets API Gateway's 500 on its first message, invokes nothing, and leaves one log line naming why, the route
// it claims and the peer.
func TestForgedRouteInvokesNothing(t *testing.T) {
	keys := testutil.RouteKeys(t)
	client, calls, logs := guardedProcessor(t, keys[:1])
	signed := signedLambdaRoute(t, keys[:1])
	tampered := []byte(signed)
	tampered[len("v1.")+len(keys[0].ID)+10] ^= 0x02 // one byte of the payload
	unsigned := signedLambdaRoute(t, nil)
	other, err := ir.NewRouteKey(bytes.Repeat([]byte{'Z'}, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret := other
	wrongSecret.ID = keys[0].ID
	// A forger rewriting the function of a signed value, keeping its key id and MAC.
	forged := strings.Replace(signed, "function:items", "function:admin", 1)
	cases := []struct {
		name, route, reason string
		body                bool
	}{
		{"forged", forged, "does not verify", false},
		{"forged with body", forged, "does not verify", true},
		{"tampered byte", string(tampered), "", false},
		{"unsigned", unsigned, "unsigned", false},
		{"wrong key", signedLambdaRoute(t, ir.RouteKeys{wrongSecret}), "does not verify", false},
		{"unknown key", signedLambdaRoute(t, ir.RouteKeys{other}), "does not hold", false},
		{"retired key", signedLambdaRoute(t, keys[1:]), "does not hold", false},
		{"no metadata", "", "want one x-proxyplus-route metadata value, got 0", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "\n")
			ctx := context.Background()
			if c.route != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, ir.RouteMetadataKey, c.route)
			}
			stream, err := client.Process(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(lambdaHeaders("POST", !c.body)); err != nil {
				t.Fatal(err)
			}
			imm := recvImmediate(t, stream)
			if imm.GetStatus().GetCode() != 500 || imm.GetDetails() != "proxyplus_route_metadata_invalid" {
				t.Fatalf("answer: %v", imm)
			}
			// Nothing follows the refusal: once Envoy ends its side, the stream ends without another message.
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if m, err := stream.Recv(); err != io.EOF {
				t.Fatalf("after the refusal: %v, %v; want the end of the stream", m, err)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("the function was invoked %d times", n)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")[before:]
			if len(lines) != 1 {
				t.Fatalf("want one log line, got %q", lines)
			}
			if !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "error.peer=") || !strings.Contains(lines[0], "error.reason=") ||
				!strings.Contains(lines[0], c.reason) {
				t.Fatalf("log line %q: want the reason %q and the peer", lines[0], c.reason)
			}
			if c.route != "" && c.name != "tampered byte" && !strings.Contains(lines[0], "api0000001/prod/res001/ANY") {
				t.Fatalf("log line %q does not name the claimed route", lines[0])
			}
		})
	}
}

// TestPreviousRouteKeyAccepted: during a rotation a processor holding [new, previous] serves routes signed with
// either; what it refuses is never cached as accepted.
func TestPreviousRouteKeyAccepted(t *testing.T) {
	keys := testutil.RouteKeys(t)
	client, calls, _ := guardedProcessor(t, keys)
	for i, route := range []string{signedLambdaRoute(t, keys[1:]), signedLambdaRoute(t, keys[:1]), signedLambdaRoute(t, keys[1:])} {
		stream := openStream(t, client, context.Background(), route)
		if err := stream.Send(lambdaHeaders("GET", true)); err != nil {
			t.Fatal(err)
		}
		if imm := recvImmediate(t, stream); imm.GetStatus().GetCode() != 200 || string(imm.GetBody()) != "invoked" {
			t.Fatalf("route %d: %v", i, imm)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("invoked %d times, want 3", calls.Load())
	}
}
