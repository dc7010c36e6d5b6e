package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/proxyplus/proxyplus/admin"
	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/internal/tlsconfig"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

// resolve makes a path from the config file relative to the file's directory.
func resolve(baseDir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(baseDir, path)
}

// resolveTLS merges TLS files from the config file (relative to it) with flags (which win).
func resolveTLS(baseDir string, cfg *apigatewayv1.TLSFiles, cert, key, clientCA string) *apigatewayv1.TLSFiles {
	out := &apigatewayv1.TLSFiles{
		CertFile: resolve(baseDir, cfg.GetCertFile()), KeyFile: resolve(baseDir, cfg.GetKeyFile()),
		ClientCaFile: resolve(baseDir, cfg.GetClientCaFile()),
	}
	override(&out.CertFile, cert, "")
	override(&out.KeyFile, key, "")
	override(&out.ClientCaFile, clientCA, "")
	return out
}

// tlsServerOption builds the gRPC transport credentials for files; none when no certificate is given.
func tlsServerOption(files *apigatewayv1.TLSFiles) ([]grpc.ServerOption, error) {
	if files.GetCertFile() == "" && files.GetKeyFile() == "" {
		if files.GetClientCaFile() != "" {
			return nil, fmt.Errorf("a client CA needs a server certificate and key too")
		}
		return nil, nil
	}
	cfg, err := tlsconfig.Server(files.GetCertFile(), files.GetKeyFile(), files.GetClientCaFile())
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// openStore opens the admin API's store: etcd for an etcd:// spec, else the bbolt file in dataDir.
func openStore(ctx context.Context, spec, dataDir string, log *slog.Logger) (store.Store, error) {
	if strings.HasPrefix(spec, "etcd://") {
		endpoints, prefix, err := store.ParseEtcdURL(spec)
		if err != nil {
			return nil, usageError{fmt.Errorf("--store: %w", err)}
		}
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := store.OpenEtcd(octx, endpoints, prefix, store.WithEtcdLogger(log))
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", spec, err)
		}
		return st, nil
	}
	if spec != "" {
		return nil, usageError{fmt.Errorf("--store %q: want etcd://host:port/prefix, or nothing for the embedded store in --data-dir", spec)}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.OpenBolt(filepath.Join(dataDir, "proxyplus.db"))
	if err != nil {
		return nil, fmt.Errorf("store in data dir %s (is another proxyplus using it? give each its own --data-dir): %w", dataDir, err)
	}
	return st, nil
}

func storeName(spec, dataDir string) string {
	if spec != "" {
		return spec
	}
	return filepath.Join(dataDir, "proxyplus.db")
}

// authSummary says how the admin API authenticates, for the startup log line.
func authSummary(cfg *apigatewayv1.GatewayConfig) string {
	var parts []string
	if cfg.GetAdminTls().GetClientCaFile() != "" {
		parts = append(parts, "mTLS")
	}
	if cfg.GetAdminTokenFile() != "" {
		parts = append(parts, "bearer tokens")
	}
	if len(parts) == 0 {
		return "none (loopback only)"
	}
	return strings.Join(parts, " + ")
}

// serveAdmin serves the admin API with gRPC health and reflection (for grpcurl) until ctx ends.
func serveAdmin(ctx context.Context, lis net.Listener, opts []grpc.ServerOption, srv *admin.Server) error {
	gs := grpc.NewServer(opts...)
	srv.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return serveGRPC(ctx, gs, hs, lis)
}

// serveGRPC serves gs until ctx ends, then reports NOT_SERVING and stops gracefully within 10 s.
func serveGRPC(ctx context.Context, gs *grpc.Server, hs *health.Server, lis net.Listener) error {
	go func() {
		<-ctx.Done()
		hs.Shutdown()
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			gs.Stop()
		}
	}()
	return gs.Serve(lis)
}

// serving reports whether hs says the whole server is SERVING.
func serving(ctx context.Context, hs *health.Server) bool {
	resp, err := hs.Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// statusDocument is what /status and the admin API's GetStatus report.
func statusDocument(xds *xdsserver.Server, r *controlplane.Reloader) map[string]any {
	return map[string]any{"xds": xds.Status(), "definitions": r.Status()}
}
