package testinvoke_test

import (
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
)

// startProcessor runs the ext_proc service as serve does (its server options, 16 MiB messages) on a unix socket
// and returns a client for it.
func startProcessor(t testing.TB, lambda *extproc.Lambda, keys ir.RouteKeys) extprocsvcv3.ExternalProcessorClient {
	t.Helper()
	gs := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20), grpc.MaxSendMsgSize(16 << 20)}, extproc.ServerOptions()...)...)
	extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, keys))
	return extprocsvcv3.NewExternalProcessorClient(serveUnix(t, gs))
}

// startAuthz serves the authorization service over gRPC on a unix socket.
func startAuthz(t testing.TB, svc *authz.Service) authv3.AuthorizationClient {
	t.Helper()
	svc.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, svc)
	return authv3.NewAuthorizationClient(serveUnix(t, gs))
}

// serveUnix serves gs on a unix socket until the test ends and returns a client connection to it.
func serveUnix(t testing.TB, gs *grpc.Server) *grpc.ClientConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
