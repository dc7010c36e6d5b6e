package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/store"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

// versionInfo is proxyplus's version: the -ldflags "-X main.version=…" value when set, else the module version
// and VCS revision Go recorded in the binary (runtime/debug.ReadBuildInfo: "go install …@v1.2.3" gives v1.2.3, a
// build from a checkout "(devel)" with vcs.revision and vcs.modified).
type versionInfo struct {
	Version, Revision, GoVersion string
	Modified                     bool
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v.Version == "dev" && bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v versionInfo) String() string {
	s := v.Version
	if v.Revision != "" {
		s += " (" + v.Revision
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.GoVersion
}

// registerBuildInfo adds proxyplus_build_info (always 1; the labels say what runs).
func registerBuildInfo(reg prometheus.Registerer) {
	v := buildVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "proxyplus_build_info",
		Help:        "Always 1; the labels name the running build (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion}})
	g.Set(1)
	reg.MustRegister(g)
}

// adminMetrics count the admin API's RPCs by method and gRPC status code, with their duration.
type adminMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAdminMetrics(reg prometheus.Registerer) *adminMetrics {
	m := &adminMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_admin_requests_total",
			Help: "Admin API RPCs by full method name and gRPC status code."}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "proxyplus_admin_request_duration_seconds",
			Help: "Admin API RPC duration by full method name.", Buckets: prometheus.DefBuckets}, []string{"method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *adminMetrics) observe(method string, start time.Time, err error) {
	m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// serverOptions chain the counting interceptors after the admin API's own (authentication and audit).
func (m *adminMetrics) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := h(ctx, req)
			m.observe(info.FullMethod, start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			start := time.Now()
			err := h(srv, ss)
			m.observe(info.FullMethod, start, err)
			return err
		}),
	}
}

// endpoints is the metrics port: /metrics, /status, /livez (and /healthz, its old name), /readyz and, opt-in,
// /debug/pprof/.
type endpoints struct {
	reg      *prometheus.Registry
	xds      *xdsserver.Server
	reloader *controlplane.Reloader // nil in proxyplus extproc (with xds)
	// store is probed by /readyz (etcd or bbolt reachable); nil without the admin API.
	store store.Store
	// processor reports the ext_proc service's gRPC health; nil: not checked.
	processor func(context.Context) bool
	pprof     bool
}

// storeProbeTimeout bounds /readyz's store probe.
const storeProbeTimeout = 2 * time.Second

func (o *endpoints) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	if o.xds != nil && o.reloader != nil {
		mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(statusDocument(o.xds, o.reloader))
		})
	}
	live := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("/livez", live)
	mux.HandleFunc("/healthz", live)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		checks := o.ready(r.Context())
		code := http.StatusOK
		for _, v := range checks {
			if v != "ok" {
				code = http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(checks)
	})
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ready is /readyz's checks: "ok" or why not. reload: a configuration was published and the latest reload
// published (or held back single APIs); store: the store answers a read within storeProbeTimeout; processor: the
// ext_proc service reports SERVING.
func (o *endpoints) ready(ctx context.Context) map[string]string {
	checks := map[string]string{}
	if o.reloader != nil {
		st := o.reloader.Status()
		switch {
		case st.Version == "":
			checks["reload"] = "no configuration published yet"
		case st.Error != "":
			checks["reload"] = "latest reload failed: " + oneLine(st.Error)
		default:
			checks["reload"] = "ok"
		}
	}
	if o.store != nil {
		pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
		_, _, err := o.store.ListAPIs(pctx, 1, "")
		cancel()
		checks["store"] = "ok"
		if err != nil {
			checks["store"] = "unreachable: " + oneLine(err.Error())
			if errors.Is(err, context.DeadlineExceeded) {
				checks["store"] = "unreachable: no answer within " + storeProbeTimeout.String()
			}
		}
	}
	if o.processor != nil {
		checks["processor"] = "ok"
		if !o.processor(ctx) {
			checks["processor"] = "not serving"
		}
	}
	return checks
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
