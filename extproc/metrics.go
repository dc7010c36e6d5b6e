package extproc

import (
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// Metrics are the processor's Prometheus collectors (README "Metrics"): per function the invocations, their
// errors by class (lambdainvoke.ErrorClass, plus "function" for a function error), throttles and the latency
// histogram; per integration type the requests the processor answered, by status class. Registered in the
// registry the caller injects; nil *Metrics records nothing.
type Metrics struct {
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	answers     *prometheus.CounterVec
	refusals    prometheus.Counter
	streams     prometheus.Gauge

	// fns caches one function's handles: a request then costs a map read, not a label hash and lookup per
	// collector. Bounded: a new map past maxFunctionHandles (the collectors keep their series).
	mu  sync.RWMutex
	fns map[string]*functionMetrics
}

type functionMetrics struct {
	invocations prometheus.Counter
	duration    prometheus.Observer
}

const maxFunctionHandles = 4096

// LatencyBuckets are the invocation latency histogram's upper bounds in seconds: 1 ms to 30 s (API Gateway's
// integration timeout is at most 29 s).
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics creates the processor's collectors and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_lambda_invocations_total",
			Help: "Lambda invocations the processor made, by function."}, []string{"function"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_lambda_invocation_errors_total",
			Help: "Failed Lambda invocations by function and class: throttled, not_found, access_denied, payload_too_large, timeout, canceled, api_error, not_sent, connection, error, or function (the function returned an error)."},
			[]string{"function", "class"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_lambda_throttles_total",
			Help: "Invocations Lambda throttled (TooManyRequestsException and the like), by function."}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "proxyplus_lambda_invocation_duration_seconds",
			Help: "Time from Invoke to its result (API Gateway's integrationLatency), by function.", Buckets: LatencyBuckets},
			[]string{"function"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_extproc_responses_total",
			Help: "Requests the processor answered, by integration type and status class (2xx … 5xx)."}, []string{"integration", "code_class"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "proxyplus_extproc_route_refusals_total",
			Help: "ext_proc streams refused because their route data was missing, unsigned or invalid."}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "proxyplus_extproc_streams",
			Help: "ext_proc streams open now (one per request Envoy is processing)."}),
		fns: map[string]*functionMetrics{},
	}
	m.invocations = metricsreg.Register(reg, m.invocations)
	m.errors = metricsreg.Register(reg, m.errors)
	m.throttles = metricsreg.Register(reg, m.throttles)
	m.duration = metricsreg.Register(reg, m.duration)
	m.answers = metricsreg.Register(reg, m.answers)
	m.refusals = metricsreg.Register(reg, m.refusals)
	m.streams = metricsreg.Register(reg, m.streams)
	return m
}

func (m *Metrics) function(arn string) *functionMetrics {
	m.mu.RLock()
	f := m.fns[arn]
	m.mu.RUnlock()
	if f != nil {
		return f
	}
	f = &functionMetrics{invocations: m.invocations.WithLabelValues(arn), duration: m.duration.WithLabelValues(arn)}
	m.mu.Lock()
	if len(m.fns) >= maxFunctionHandles {
		m.fns = map[string]*functionMetrics{}
	}
	m.fns[arn] = f
	m.mu.Unlock()
	return f
}

// invoked records one invocation: its duration, and its error class ("" when it succeeded).
func (m *Metrics) invoked(arn string, d time.Duration, class string, r *lambdaproxy.Response) {
	if m == nil {
		return
	}
	f := m.function(arn)
	f.invocations.Inc()
	f.duration.Observe(d.Seconds())
	if class == "" && r != nil && r.Details == lambdaproxy.DetailsLambdaFunctionError {
		class = "function"
	}
	if class != "" {
		m.errors.WithLabelValues(arn, class).Inc()
		if class == "throttled" {
			m.throttles.WithLabelValues(arn).Inc()
		}
	}
}

var codeClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *Metrics) answered(integration string, status int) {
	if m == nil {
		return
	}
	cls := "other"
	if i := status/100 - 1; i >= 0 && i < len(codeClasses) {
		cls = codeClasses[i]
	}
	m.answers.WithLabelValues(integration, cls).Inc()
}

func (m *Metrics) refused() {
	if m != nil {
		m.refusals.Inc()
	}
}
