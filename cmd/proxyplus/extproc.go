package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc/health"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
)

// runExtProc runs the ext_proc service alone, so it can be scaled as a sidecar or a separate deployment: it needs
// no definitions, because every route's data arrives from Envoy's configuration with each stream.
func runExtProc(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "extproc", "extproc --route-key-file FILE [--store etcd://host:port/prefix] [--listen HOST:PORT|unix:/path] [--tls-cert FILE --tls-key FILE [--client-ca FILE]] [--account-id ID]")
	addr := fs.String("listen", "127.0.0.1:18001", "address to listen on, host:port or unix:/path; anything but loopback or a unix socket must be reachable by Envoy only (a warning is logged)")
	routeKeyFile := fs.String("route-key-file", "", "route keys of the control plane (serve's --route-key-file, or route.key in its data dir): the processor acts only on route data signed with one of them (required)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate chain (PEM); Envoy must then connect over TLS (serve --extproc-tls-cert with the same CA)")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	clientCA := fs.String("client-ca", "", "require Envoys to present a certificate issued by these CAs (PEM; mTLS)")
	accountID := fs.String("account-id", "000000000000", "AWS account id reported to Lambda functions as requestContext.accountId")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	metricsAddr := fs.String("metrics-address", "off", "address of /metrics, /livez and /readyz (e.g. 127.0.0.1:9091; \"off\" disables)")
	pprofOn := fs.Bool("pprof", false, "serve Go's pprof profiles under /debug/pprof/ on the metrics address")
	storeSpec := fs.String("store", "", "etcd://host:port/prefix of the control plane's store (serve --store): API keys and usage plans for API-key routes, quota counters shared with the other replicas; without it API-key routes answer 403")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(e, *logFormat, *logLevel)
	if err != nil {
		return usageError{err}
	}
	if *routeKeyFile == "" {
		return usageError{errors.New("--route-key-file is required: the processor acts only on route data the control plane signed (serve's key file)")}
	}
	keys, err := readRouteKeys(*routeKeyFile)
	if err != nil {
		return usageError{err}
	}
	tlsFiles := &apigatewayv1.TLSFiles{CertFile: *tlsCert, KeyFile: *tlsKey, ClientCaFile: *clientCA}
	opts, err := processorServerOptions(tlsFiles)
	if err != nil {
		return usageError{err}
	}
	invoker, err := lambdainvoke.NewAWS(ctx, lambdainvoke.Options{})
	if err != nil {
		return fmt.Errorf("lambda invoker: %w", err)
	}
	lis, err := listen(*addr)
	if err != nil {
		return fmt.Errorf("ext_proc listener: %w", err)
	}
	log.Info("ext_proc service listening", "address", lis.Addr().String(), "tls", *tlsCert != "", "mtls", *clientCA != "", "route_keys", len(keys))
	warnIfReachable(log, *addr, tlsFiles)
	lambda := &extproc.Lambda{Invoker: invoker, AccountID: *accountID}
	hs := health.NewServer()
	if *metricsAddr != "off" {
		reg := newRegistry()
		lambda.Metrics = extproc.NewMetrics(reg)
		mLis, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		log.Info("metrics endpoint listening", "address", mLis.Addr().String())
		o := &endpoints{reg: reg, pprof: *pprofOn, processor: func(ctx context.Context) bool { return serving(ctx, hs) }}
		mctx, mcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := serveMetrics(mctx, mLis, o); err != nil {
				log.Error("metrics endpoint stopped", "error", err)
			}
		}()
		defer func() { mcancel(); <-done }() // the endpoint stops with the service
	}
	var st store.Store
	if *storeSpec != "" {
		if !strings.HasPrefix(*storeSpec, "etcd://") {
			return usageError{fmt.Errorf("--store %q: want etcd://host:port/prefix (the embedded store belongs to one serve)", *storeSpec)}
		}
		if st, err = openStore(ctx, *storeSpec, "", log); err != nil {
			return err
		}
		defer func() {
			if err := st.Close(); err != nil {
				log.Warn("closing the store", "error", err)
			}
		}()
	}
	az := newAuthzService(ctx, st, log, func(_ string, loop func()) { go loop() })
	err = serveExtProc(ctx, lis, log, lambda, hs, keys, az, opts)
	log.Info("ext_proc service stopped")
	return err
}
