package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/admin"
	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/funchost"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

// maxProcessorMessage covers a 10 MiB request body plus headers in one ext_proc message (envoy-notes EXT-17).
const maxProcessorMessage = 16 << 20

func runServe(ctx context.Context, e *env, args []string) error {
	flags, err := parseServeFlags(e, args)
	if err != nil {
		return err
	}
	log, err := newLogger(e, flags.logFormat, flags.logLevel)
	if err != nil {
		return usageError{err}
	}
	o, err := newServeOptions(flags, log)
	if err != nil {
		return err
	}
	reg := newRegistry()
	xds, reloader := newControlPlane(o, log, reg)
	st, closeStore, err := openAdminStore(ctx, o, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if st != nil {
		reloader.Store = st
	}
	if err := initialReload(ctx, reloader); err != nil {
		return err
	}

	tasks := newServeTasks(ctx)
	defer tasks.cancel()
	s := &serveRun{o: o, log: log, reg: reg, xds: xds, reloader: reloader, store: st, tasks: tasks}
	if err := s.startXDS(); err != nil {
		return err
	}
	stopFunctions, err := s.startLocalFunctions()
	if err != nil {
		return err
	}
	defer stopFunctions()
	if err := s.startExtProc(); err != nil {
		return err
	}
	if err := s.startMetrics(); err != nil {
		return err
	}
	if err := s.startLambdaInvokeAPI(); err != nil {
		return err
	}
	// The admin API starts last: once it answers, every other listener is open (tests wait on it).
	if err := s.startAdmin(); err != nil {
		return err
	}
	s.startDefinitionWatcher()
	return tasks.wait(log)
}

// serveTasks runs serve's servers and loops until ctx ends or one of them fails. They all stop on the same
// cancellation; wait returns the first failure.
type serveTasks struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

func newServeTasks(parent context.Context) *serveTasks {
	ctx, cancel := context.WithCancel(parent)
	return &serveTasks{ctx: ctx, cancel: cancel, errs: make(chan error, 8)}
}

// start runs fn; an error other than cancellation is kept for wait and stops every other task.
func (t *serveTasks) start(name string, fn func() error) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
			t.errs <- fmt.Errorf("%s: %w", name, err)
			t.cancel()
		}
	}()
}

// wait blocks until the tasks' context ends, then until every task has returned; it gives the first failure.
func (t *serveTasks) wait(log *slog.Logger) error {
	<-t.ctx.Done()
	log.Info("shutting down")
	t.wg.Wait()
	select {
	case err := <-t.errs:
		return err
	default:
		return nil
	}
}

// serveRun is what serve's listeners share once the control plane is built.
type serveRun struct {
	o        *serveOptions
	log      *slog.Logger
	reg      *prometheus.Registry
	xds      *xdsserver.Server
	reloader *controlplane.Reloader
	store    store.Store // nil with the admin API off
	tasks    *serveTasks
	host     *funchost.Host       // local functions; nil without any (startLocalFunctions)
	invoker  lambdainvoke.Invoker // the ext_proc service's (startLocalFunctions)
	epHealth *health.Server       // the ext_proc service's gRPC health (startExtProc)
}

// startXDS opens the ADS server's listener and serves it.
func (s *serveRun) startXDS() error {
	ctx := s.tasks.ctx
	xdsLis, err := net.Listen("tcp", s.o.cfg.XdsAddress)
	if err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	s.log.Info("ADS server listening (state of the world and delta)", "address", xdsLis.Addr().String(), "version", s.reloader.Status().Version)
	s.tasks.start("xds server", func() error { return s.xds.Serve(ctx, xdsLis) })
	return nil
}

// startLocalFunctions starts the local functions (flags, then the config file) and the invoker of the ext_proc
// service; stop stops them, bounded by 10 seconds.
func (s *serveRun) startLocalFunctions() (stop func(), err error) {
	ctx, log := s.tasks.ctx, s.log
	fns, err := localFunctions(s.o.localFns)
	if err != nil {
		return nil, err
	}
	cfgFns, err := configFunctions(s.o.cfg.GetFunctions(), s.o.baseDir)
	if err != nil {
		return nil, err
	}
	fns = append(fns, cfgFns...)
	invoker, host, closeFunctions, err := lambdaInvoker(ctx, fns, log, funchost.NewMetrics(s.reg))
	if err != nil {
		return nil, err
	}
	s.host, s.invoker = host, invoker
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := closeFunctions(sctx); err != nil {
			log.Warn("stopping local functions", "error", err)
		}
	}, nil
}

// startExtProc opens the ext_proc service's listener and serves ext_proc and ext_authz on it.
func (s *serveRun) startExtProc() error {
	ctx, log, cfg := s.tasks.ctx, s.log, s.o.cfg
	lambda := &extproc.Lambda{Invoker: s.invoker, AccountID: s.o.accountID, Metrics: extproc.NewMetrics(s.reg)}
	epLis, err := listen(cfg.ExtprocAddress)
	if err != nil {
		return fmt.Errorf("ext_proc listener: %w", err)
	}
	log.Info("ext_proc service listening", "address", cfg.ExtprocAddress, "tls", cfg.ExtprocTls.GetCertFile() != "", "mtls", cfg.ExtprocTls.GetClientCaFile() != "")
	warnIfReachable(log, cfg.ExtprocAddress, cfg.ExtprocTls)
	s.epHealth = health.NewServer()
	epHealth, routeKeys, epOpts := s.epHealth, s.o.routeKeys, s.o.extprocOpts
	// API keys and usage plans of the store (admin API), followed as they change; quota counters shared with the
	// other replicas through the store.
	az := newAuthzService(ctx, s.store, log, func(name string, loop func()) { s.tasks.start(name, func() error { loop(); return nil }) })
	s.tasks.start("ext_proc service", func() error { return serveExtProc(ctx, epLis, log, lambda, epHealth, routeKeys, az, epOpts) })
	return nil
}

// startMetrics opens the metrics and status endpoint, unless it is off.
func (s *serveRun) startMetrics() error {
	ctx, cfg := s.tasks.ctx, s.o.cfg
	if cfg.MetricsAddress == "off" {
		return nil
	}
	mLis, err := net.Listen("tcp", cfg.MetricsAddress)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	s.log.Info("metrics and status endpoint listening", "address", mLis.Addr().String())
	epHealth := s.epHealth
	o := &endpoints{reg: s.reg, xds: s.xds, reloader: s.reloader, store: s.store, pprof: s.o.pprof,
		processor: func(ctx context.Context) bool { return serving(ctx, epHealth) }}
	s.tasks.start("metrics server", func() error { return serveMetrics(ctx, mLis, o) })
	return nil
}

// startLambdaInvokeAPI opens the Lambda Invoke API of the local functions, when an address is given.
func (s *serveRun) startLambdaInvokeAPI() error {
	ctx, cfg, host := s.tasks.ctx, s.o.cfg, s.host
	if cfg.LambdaApiAddress == "" {
		return nil
	}
	if host == nil {
		return usageError{errors.New("--lambda-api-address needs local functions (--local-function or functions in --config)")}
	}
	// The Invoke API checks no signatures: it must not be reachable from other machines.
	if !isLoopback(cfg.LambdaApiAddress) {
		return usageError{fmt.Errorf("--lambda-api-address %s: a loopback address is required (the local Invoke API is unauthenticated)", cfg.LambdaApiAddress)}
	}
	lLis, err := net.Listen("tcp", cfg.LambdaApiAddress)
	if err != nil {
		return fmt.Errorf("lambda invoke API listener: %w", err)
	}
	s.log.Info("Lambda Invoke API for local functions listening", "address", lLis.Addr().String(), "functions", host.Names())
	s.tasks.start("lambda invoke API", func() error { return serveHTTP(ctx, lLis, host.InvokeAPIHandler()) })
	return nil
}

// startAdmin opens the admin API and follows the store's changes, unless the admin API is off.
func (s *serveRun) startAdmin() error {
	ctx, cfg, log := s.tasks.ctx, s.o.cfg, s.log
	if !s.o.adminOn {
		return nil
	}
	aLis, err := net.Listen("tcp", cfg.AdminAddress)
	if err != nil {
		return fmt.Errorf("admin API listener: %w", err)
	}
	xds, reloader, epHealth := s.xds, s.reloader, s.epHealth
	srv := admin.New(admin.Options{
		Store: s.store, Logger: log,
		StatusFunc:     func() any { return statusDocument(xds, reloader) },
		ExtProcHealthy: func() bool { return serving(ctx, epHealth) },
		FileAPIs:       func() map[string]string { return reloader.Status().FileAPIs },
	})
	log.Info("admin API listening", "address", aLis.Addr().String(), "store", storeName(cfg.Store, cfg.DataDir),
		"auth", authSummary(cfg))
	adminOpts := append(s.o.adminOpts, newAdminMetrics(s.reg).serverOptions()...)
	s.tasks.start("admin API", func() error { return serveAdmin(ctx, aLis, adminOpts, srv) })
	s.tasks.start("store watcher", func() error { reloader.WatchStore(ctx); return nil })
	return nil
}

// startDefinitionWatcher reloads the definition files when they change, unless --watch-interval is 0.
func (s *serveRun) startDefinitionWatcher() {
	ctx, reloader, interval := s.tasks.ctx, s.reloader, s.o.watch
	if interval > 0 {
		s.tasks.start("definition watcher", func() error { reloader.Watch(ctx, interval, 300*time.Millisecond); return nil })
	}
}

// serveFlags holds the command line of serve as given; newServeOptions merges it with the config file.
type serveFlags struct {
	configFile                                          string
	api                                                 apiFlags
	xdsAddr, extprocAddr, extprocAdvertise, metricsAddr string
	pprof                                               bool
	xrayDaemon                                          string
	sampleRate                                          float64
	accessLog, dataDir, storeSpec                       string
	adminAddr, adminTokenFile, adminCert, adminKey      string
	adminClientCA, xdsCert, xdsKey, xdsClientCA         string
	listenPort                                          uint
	logFormat, logLevel, lambdaAPIAddr                  string
	localFns                                            multiFlag
	accountID                                           string
	watchInterval                                       time.Duration
	routeKeyFile, extprocCert, extprocKey               string
	extprocClientCA, extprocServerName                  string
}

// parseServeFlags defines serve's flags and parses args.
func parseServeFlags(e *env, args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := newFlagSet(e, "serve", "serve --config gateway.yaml | serve --api FILE --stage NAME [--stage-variable k=v]... --xds-address HOST:PORT [--extproc-address HOST:PORT] [--data-dir DIR]")
	fs.StringVar(&f.configFile, "config", "", "gateway configuration file (GatewayConfig YAML); other flags override it")
	f.api.register(fs)
	fs.StringVar(&f.xdsAddr, "xds-address", "", "address of the ADS server, state of the world and delta (default 127.0.0.1:18000)")
	fs.StringVar(&f.extprocAddr, "extproc-address", "", "address the ext_proc service listens on, host:port or unix:/path (default 127.0.0.1:18001)")
	fs.StringVar(&f.extprocAdvertise, "extproc-advertise-address", "", "address Envoy dials for the ext_proc service when it differs from --extproc-address (e.g. proxyplus:18001 while listening on 0.0.0.0:18001)")
	fs.StringVar(&f.metricsAddr, "metrics-address", "", "address of the Prometheus /metrics and /status endpoint (default 127.0.0.1:9090; \"off\" disables)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's pprof profiles under /debug/pprof/ on the metrics address")
	fs.StringVar(&f.xrayDaemon, "xray-daemon", "", "send sampled X-Ray segments from Envoy to this UDP host:port (an X-Ray daemon, or an OpenTelemetry collector's awsxray receiver); default: none sampled")
	fs.Float64Var(&f.sampleRate, "trace-sample-rate", 0.05, "share of requests Envoy samples for X-Ray with --xray-daemon (0 to 1), unless the client's X-Amzn-Trace-Id decides")
	fs.StringVar(&f.accessLog, "access-log", "stdout", "where Envoy writes access logs: stdout, off, file:PATH (on Envoy's machine), otel:CLUSTER or grpc:CLUSTER (a cluster of Envoy's bootstrap)")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for the embedded store of APIs managed through the admin API (default .proxyplus; created if missing)")
	fs.StringVar(&f.storeSpec, "store", "", "store for the admin API's APIs, deployments and stages: empty for the embedded bbolt file in --data-dir, or etcd://host:port[,host:port]/prefix shared by several replicas")
	fs.StringVar(&f.adminAddr, "admin-address", "", "address of the gRPC admin API (default 127.0.0.1:18002; \"off\" disables it and the store)")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "admin API bearer tokens, one \"NAME TOKEN\" per line (NAME appears in the audit log)")
	fs.StringVar(&f.adminCert, "admin-tls-cert", "", "admin API TLS certificate chain (PEM)")
	fs.StringVar(&f.adminKey, "admin-tls-key", "", "admin API TLS private key (PEM)")
	fs.StringVar(&f.adminClientCA, "admin-client-ca", "", "require admin API clients to present a certificate issued by these CAs (PEM; mTLS)")
	fs.StringVar(&f.xdsCert, "xds-tls-cert", "", "ADS server TLS certificate chain (PEM)")
	fs.StringVar(&f.xdsKey, "xds-tls-key", "", "ADS server TLS private key (PEM)")
	fs.StringVar(&f.xdsClientCA, "xds-client-ca", "", "require Envoys to present a certificate issued by these CAs (PEM; mTLS)")
	fs.UintVar(&f.listenPort, "listener-port", 0, "port Envoy's API listener binds (default 8080)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.lambdaAPIAddr, "lambda-api-address", "", "serve the Lambda Invoke API for local functions on this loopback address (e.g. 127.0.0.1:9001), for test-invoke --lambda-endpoint, the AWS CLI and SDKs")
	fs.Var(&f.localFns, "local-function", "run a Lambda function locally: NAME=COMMAND (repeatable; COMMAND split like a shell, e.g. hello='./bin/hello'); AWS_PROXY integrations naming NAME invoke it")
	fs.StringVar(&f.accountID, "account-id", "000000000000", "AWS account id reported to Lambda functions as requestContext.accountId")
	fs.DurationVar(&f.watchInterval, "watch-interval", 500*time.Millisecond, "how often definition files are checked for changes (0 disables)")
	fs.StringVar(&f.routeKeyFile, "route-key-file", "", "route keys signing the route data Envoy sends the ext_proc service, one per line, first signs (default: route.key in --data-dir, created if missing; required with an etcd store). A standalone proxyplus extproc needs the same file")
	fs.StringVar(&f.extprocCert, "extproc-tls-cert", "", "ext_proc service TLS certificate chain (PEM); Envoy then connects over TLS (its bootstrap: proxyplus bootstrap --extproc-tls-ca)")
	fs.StringVar(&f.extprocKey, "extproc-tls-key", "", "ext_proc service TLS private key (PEM)")
	fs.StringVar(&f.extprocClientCA, "extproc-client-ca", "", "require Envoys to present a certificate issued by these CAs to the ext_proc service (PEM; mTLS; bootstrap --extproc-tls-cert/--extproc-tls-key)")
	fs.StringVar(&f.extprocServerName, "extproc-tls-server-name", "", "name Envoy checks in the ext_proc service's certificate and sends as SNI (default: the host of --extproc-advertise-address)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return f, nil
}

// serveOptions is serve's configuration: the flags merged into the config file, checked, with what is derived
// from it before anything starts.
type serveOptions struct {
	cfg         *apigatewayv1.GatewayConfig
	baseDir     string // directory paths in the config file are relative to
	sources     []controlplane.Source
	extprocOpts []grpc.ServerOption
	extprocTLS  *ir.ExtProcTLS
	adminOn     bool
	adminOpts   []grpc.ServerOption
	xdsTLS      []grpc.ServerOption
	accessLog   *ir.AccessLogSink
	tracing     *ir.TracingSettings
	routeKeys   ir.RouteKeys
	localFns    []string
	accountID   string
	pprof       bool
	watch       time.Duration
}

// newServeOptions merges the flags into the config file (flags win) and checks everything a start could refuse,
// in the order serve always checked it.
func newServeOptions(f *serveFlags, log *slog.Logger) (*serveOptions, error) {
	o := &serveOptions{localFns: f.localFns, accountID: f.accountID, pprof: f.pprof, watch: f.watchInterval}
	var err error
	if o.cfg, o.baseDir, err = mergeGatewayConfig(f); err != nil {
		return nil, err
	}
	if o.extprocOpts, o.extprocTLS, err = extprocSecurity(o.cfg); err != nil {
		return nil, err
	}
	if o.cfg.Listener == nil {
		o.cfg.Listener = &apigatewayv1.Listener{}
	}
	if f.listenPort != 0 {
		o.cfg.Listener.Port = uint32(f.listenPort)
	}
	if o.sources, err = serveSources(f.api, o.cfg, o.baseDir); err != nil {
		return nil, err
	}
	o.adminOn = o.cfg.AdminAddress != "off"
	if len(o.sources) == 0 && !o.adminOn {
		return nil, usageError{errors.New("nothing to serve: give --api and --stage, --config with apis, or enable the admin API")}
	}
	// Check the admin API's security before anything starts: refusing to run must not leave half a server.
	if o.adminOn {
		if o.adminOpts, err = admin.ServerOptions(o.cfg.AdminAddress, admin.Security{
			TokenFile: o.cfg.AdminTokenFile, CertFile: o.cfg.AdminTls.GetCertFile(), KeyFile: o.cfg.AdminTls.GetKeyFile(),
			ClientCAFile: o.cfg.AdminTls.GetClientCaFile(), AllowInsecureLoopback: true,
		}, log.With("log", "audit")); err != nil {
			return nil, usageError{err}
		}
	}
	if o.xdsTLS, err = tlsServerOption(o.cfg.XdsTls); err != nil {
		return nil, usageError{fmt.Errorf("xds TLS: %w", err)}
	}
	if o.accessLog, err = ir.ParseAccessLogSink(f.accessLog); err != nil {
		return nil, usageError{err}
	}
	if f.xrayDaemon != "" {
		o.tracing = &ir.TracingSettings{Daemon: f.xrayDaemon, SampleRate: f.sampleRate}
	}
	if o.routeKeys, err = serveRouteKeys(o.cfg.RouteKeyFile, o.cfg.DataDir, o.cfg.Store, log); err != nil {
		return nil, err
	}
	return o, nil
}

// mergeGatewayConfig reads --config, if given, and lets the flags override it; it returns the directory paths in
// the config file are relative to.
func mergeGatewayConfig(f *serveFlags) (*apigatewayv1.GatewayConfig, string, error) {
	cfg := &apigatewayv1.GatewayConfig{}
	baseDir := "."
	if f.configFile != "" {
		var err error
		if cfg, err = readGatewayConfig(f.configFile); err != nil {
			return nil, "", err
		}
		baseDir = filepath.Dir(f.configFile)
	}
	override(&cfg.XdsAddress, f.xdsAddr, "127.0.0.1:18000")
	override(&cfg.ExtprocAddress, f.extprocAddr, "127.0.0.1:18001")
	override(&cfg.MetricsAddress, f.metricsAddr, "127.0.0.1:9090")
	// Paths in the config file are relative to it; flags are relative to the working directory.
	cfg.DataDir = resolve(baseDir, cfg.DataDir)
	override(&cfg.DataDir, f.dataDir, ".proxyplus")
	override(&cfg.AdminAddress, f.adminAddr, "127.0.0.1:18002")
	override(&cfg.Store, f.storeSpec, "")
	override(&cfg.LambdaApiAddress, f.lambdaAPIAddr, "")
	cfg.AdminTokenFile = resolve(baseDir, cfg.AdminTokenFile)
	override(&cfg.AdminTokenFile, f.adminTokenFile, "")
	cfg.AdminTls = resolveTLS(baseDir, cfg.AdminTls, f.adminCert, f.adminKey, f.adminClientCA)
	cfg.XdsTls = resolveTLS(baseDir, cfg.XdsTls, f.xdsCert, f.xdsKey, f.xdsClientCA)
	override(&cfg.ExtprocAdvertiseAddress, f.extprocAdvertise, cfg.ExtprocAddress)
	if host, _, err := net.SplitHostPort(cfg.ExtprocAdvertiseAddress); err == nil && (host == "0.0.0.0" || host == "::" || host == "") {
		return nil, "", usageError{fmt.Errorf("Envoy cannot dial the ext_proc service at %s: give --extproc-advertise-address (the address Envoy reaches this process at)", cfg.ExtprocAdvertiseAddress)}
	}
	cfg.RouteKeyFile = resolve(baseDir, cfg.RouteKeyFile)
	override(&cfg.RouteKeyFile, f.routeKeyFile, "")
	cfg.ExtprocTls = resolveTLS(baseDir, cfg.ExtprocTls, f.extprocCert, f.extprocKey, f.extprocClientCA)
	override(&cfg.ExtprocTlsServerName, f.extprocServerName, "")
	return cfg, baseDir, nil
}

// extprocSecurity gives the ext_proc service's server options and what Envoy needs to dial it over TLS (nil: plaintext).
func extprocSecurity(cfg *apigatewayv1.GatewayConfig) ([]grpc.ServerOption, *ir.ExtProcTLS, error) {
	epOpts, err := processorServerOptions(cfg.ExtprocTls)
	if err != nil {
		return nil, nil, usageError{err}
	}
	var epTLS *ir.ExtProcTLS
	if cfg.ExtprocTls.GetCertFile() != "" {
		epTLS = &ir.ExtProcTLS{ServerName: cfg.ExtprocTlsServerName, ClientCertificate: cfg.ExtprocTls.GetClientCaFile() != ""}
		if epTLS.ServerName == "" {
			host, _, err := net.SplitHostPort(cfg.ExtprocAdvertiseAddress)
			if err != nil {
				return nil, nil, usageError{fmt.Errorf("ext_proc TLS: give --extproc-tls-server-name (the advertised address %s has no host name)", cfg.ExtprocAdvertiseAddress)}
			}
			epTLS.ServerName = strings.Trim(host, "[]")
		}
	}
	return epOpts, epTLS, nil
}

// serveSources lists the definition files served: --api with its stage, then the config file's apis.
func serveSources(a apiFlags, cfg *apigatewayv1.GatewayConfig, baseDir string) ([]controlplane.Source, error) {
	var sources []controlplane.Source
	if a.api != "" {
		if a.stage == "" {
			return nil, usageError{errors.New("--stage is required with --api")}
		}
		vars, err := keyValues("stage-variable", a.stageVars)
		if err != nil {
			return nil, err
		}
		sources = append(sources, controlplane.Source{File: a.api, Stages: []*apigatewayv1.Stage{{StageName: a.stage}}, StageVariables: vars})
	}
	for _, s := range cfg.GetApis() {
		file := s.GetFile()
		if !filepath.IsAbs(file) {
			file = filepath.Join(baseDir, file)
		}
		sources = append(sources, controlplane.Source{File: file, Stages: s.GetStages()})
	}
	return sources, nil
}

// newRegistry is the Prometheus registry of serve's and extproc's /metrics: Go and process collectors and the
// build info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)
	return reg
}

// newControlPlane builds the ADS server and the reloader that translates the definitions and publishes them to it.
func newControlPlane(o *serveOptions, log *slog.Logger, reg *prometheus.Registry) (*xdsserver.Server, *controlplane.Reloader) {
	cfg := o.cfg
	xds := xdsserver.New(xdsserver.Options{Logger: log, Registerer: reg, GRPCOptions: o.xdsTLS})
	reloader := controlplane.NewReloader(o.sources, translator.Options{
		ListenerAddress: cfg.Listener.GetAddress(), ListenerPort: cfg.Listener.GetPort(),
		ExtProcAddress: cfg.ExtprocAdvertiseAddress, ExtraHosts: []string{"localhost", "127.0.0.1"},
		RouteKeys: o.routeKeys, ExtProcTLS: o.extprocTLS, AccessLog: o.accessLog, Tracing: o.tracing,
	}, xdsPublisher{xds}, log)
	reloader.Metrics = controlplane.NewReloadMetrics(reg)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "proxyplus_apis_held_back",
		Help: "APIs whose latest definition cannot be served; each keeps its last good version, if any (status names them)"},
		func() float64 { return float64(len(reloader.Status().HeldBack)) }))
	return xds, reloader
}

// openAdminStore opens the admin API's store, nil when the admin API is off; closeStore closes it (a no-op then).
func openAdminStore(ctx context.Context, o *serveOptions, log *slog.Logger) (st store.Store, closeStore func(), err error) {
	if !o.adminOn {
		return nil, func() {}, nil
	}
	if st, err = openStore(ctx, o.cfg.Store, o.cfg.DataDir, log); err != nil {
		return nil, nil, err
	}
	return st, func() {
		if err := st.Close(); err != nil {
			log.Warn("closing the store", "error", err)
		}
	}, nil
}

// initialReload loads every definition before anything listens.
// At start there is no last good version to keep serving. A broken definition file stops serve (the operator
// is at hand, and a new replica failing to start leaves the running ones serving); a broken stored API does
// not: it was accepted by the admin API, so it broke by an upgrade, and one API must not keep a replica down.
// It is held back (not served) and named in status.
func initialReload(ctx context.Context, reloader *controlplane.Reloader) error {

	if err := reloader.Reload(ctx); err != nil {
		var held *controlplane.HeldBackError
		if !errors.As(err, &held) {
			return err
		}
		var fileErrs diag.List
		for _, h := range held.APIs {
			if h.FromFile() {
				fileErrs = append(fileErrs, h.Errors...)
			}
		}
		if len(fileErrs) > 0 {
			return fmt.Errorf("a definition file cannot be served: %w", fileErrs.Err())
		}
	}
	return nil
}

func override(dst *string, flagValue, def string) {
	if flagValue != "" {
		*dst = flagValue
	}
	if *dst == "" {
		*dst = def
	}
}

func readGatewayConfig(path string) (*apigatewayv1.GatewayConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := &apigatewayv1.GatewayConfig{}
	if err := protojson.Unmarshal(j, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newLogger(e *env, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// listen accepts host:port or unix:/path.
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		_ = os.Remove(path) // a stale socket from a previous run
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// serveExtProc runs the processor with opts (processorServerOptions), acting on route data signed with keys,
// gRPC health (hs; a new one when nil) and reflection.
func serveExtProc(ctx context.Context, lis net.Listener, log *slog.Logger, lambda *extproc.Lambda, hs *health.Server, keys ir.RouteKeys, az *authz.Service, opts []grpc.ServerOption) error {
	gs := grpc.NewServer(append(opts, extproc.ServerOptions()...)...)
	// The authorization service Envoy's ext_authz filter calls on the same cluster (xds/builder/authz.go).
	// Without keys (no store: az nil or az.Keys nil) every API-key route answers 403 Forbidden.
	if az == nil {
		az = &authz.Service{Limits: authz.NewLimiter()}
	}
	az.RouteKeys, az.Log = keys, log
	if lambda != nil && lambda.APIKeys == nil {
		// The processor checks the API keys Lambda authorizers name (source AUTHORIZER) against the same keys
		// and usage-plan counters.
		lambda.APIKeys = az
	}
	extprocsvcv3.RegisterExternalProcessorServer(gs, extproc.NewServer(log, lambda, keys))
	authv3.RegisterAuthorizationServer(gs, az)
	if hs == nil {
		hs = health.NewServer()
	}
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return serveGRPC(ctx, gs, hs, lis)
}

// serveHTTP serves h until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveMetrics serves the metrics port: /metrics (Prometheus), /status (xDS nodes, snapshot, last reload),
// /livez, /readyz and, opt-in, pprof (observability.go).
func serveMetrics(ctx context.Context, lis net.Listener, o *endpoints) error {
	return serveHTTP(ctx, lis, o.mux())
}

// xdsPublisher adapts the xDS server to the pipeline.
type xdsPublisher struct{ s *xdsserver.Server }

func (p xdsPublisher) Publish(ctx context.Context, res *builder.Resources) (string, error) {
	return p.s.PublishDigested(ctx, res.ByType(), res)
}

func (p xdsPublisher) Reject(err error) { p.s.Reject(err) }
