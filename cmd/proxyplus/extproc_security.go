package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"

	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// routeKeyFileName is serve's key file in its data directory when no --route-key-file is given.
const routeKeyFileName = "route.key"

// readRouteKeys reads a route key file (ir.ParseRouteKeys).
func readRouteKeys(file string) (ir.RouteKeys, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("route key file: %w", err)
	}
	return ir.ParseRouteKeys(file, raw)
}

// serveRouteKeys are the keys serve signs route data with: file when given; otherwise route.key in dataDir,
// created on first use. A generated key is this machine's own, so it is refused with a shared (etcd) store:
// replicas must publish identical configuration, and every processor must verify what any replica signed.
func serveRouteKeys(file, dataDir, storeSpec string, log *slog.Logger) (ir.RouteKeys, error) {
	if file != "" {
		return readRouteKeys(file)
	}
	if strings.HasPrefix(storeSpec, "etcd://") {
		return nil, usageError{errors.New("with a shared etcd store every replica must sign route data with the same key: give --route-key-file (route_key_file), the same file on every replica and processor")}
	}
	path := filepath.Join(dataDir, routeKeyFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if raw, err = ir.NewRouteKeyFile(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("route key: %w", err)
		}
		// O_EXCL: two processes starting at once never overwrite each other's key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("route key: %w", err)
		}
		_, werr := f.Write(raw)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("route key %s: %w", path, werr)
		}
		log.Info("generated a route key; a standalone `proxyplus extproc` serving this configuration needs the same file (--route-key-file)", "file", path)
	} else if err != nil {
		return nil, fmt.Errorf("route key: %w", err)
	}
	return ir.ParseRouteKeys(path, raw)
}

// warnIfReachable logs, loudly, a processor listening beyond loopback: whoever reaches it can have functions
// invoked with proxyplus's credentials as soon as they hold signed route data (any Envoy configuration dump
// has it), so only Envoy must reach it.
func warnIfReachable(log *slog.Logger, addr string, tls *apigatewayv1.TLSFiles) {
	if strings.HasPrefix(addr, "unix:") || isLoopback(addr) {
		return
	}
	protection := "no TLS"
	switch {
	case tls.GetClientCaFile() != "":
		protection = "mTLS (only clients with a certificate from the client CA)"
	case tls.GetCertFile() != "":
		protection = "TLS without client certificates (anyone who reaches the port may call it)"
	}
	host, _, _ := net.SplitHostPort(addr)
	all := host == "" || host == "0.0.0.0" || host == "::"
	log.Warn("ext_proc service listens on a NON-LOOPBACK address: anyone who reaches it can submit requests to your Lambda functions under signed route data; "+
		"let only Envoy reach it (firewall, Kubernetes NetworkPolicy) and require Envoy's client certificate (client CA)",
		"address", addr, "all_interfaces", all, "protection", protection)
}

// processorServerOptions are the processor's gRPC options beyond extproc.ServerOptions: message limits for a
// 10 MiB body, a header limit (Envoy's route data is at most ir.MaxRouteMetadataBytes), and TLS when configured.
func processorServerOptions(tls *apigatewayv1.TLSFiles) ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxProcessorMessage), grpc.MaxSendMsgSize(maxProcessorMessage),
		grpc.MaxHeaderListSize(maxProcessorHeaderList),
	}
	creds, err := tlsServerOption(tls)
	if err != nil {
		return nil, fmt.Errorf("ext_proc TLS: %w", err)
	}
	return append(opts, creds...), nil
}

// maxProcessorHeaderList bounds a stream's metadata: the route data, Envoy's own headers, room to spare.
const maxProcessorHeaderList = 64 << 10
