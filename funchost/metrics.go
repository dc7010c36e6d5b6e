package funchost

import (
	"github.com/proxyplus/proxyplus/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the function host's Prometheus collectors, per local function: invocations, cold starts (instances
// started) and throttles (the queue was full). Registered in the registry the caller injects; a nil *Metrics
// records nothing.
type Metrics struct {
	invocations *prometheus.CounterVec
	coldStarts  *prometheus.CounterVec
	throttles   *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_funchost_invocations_total",
			Help: "Invocations of local functions, by function name."}, []string{"function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_funchost_cold_starts_total",
			Help: "Instances of local functions started (cold starts), by function name."}, []string{"function"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_funchost_throttles_total",
			Help: "Invocations of local functions refused with TooManyRequestsException (all instances busy, queue full)."}, []string{"function"}),
	}
	m.invocations = metricsreg.Register(reg, m.invocations)
	m.coldStarts = metricsreg.Register(reg, m.coldStarts)
	m.throttles = metricsreg.Register(reg, m.throttles)
	return m
}

func (m *Metrics) invoked(fn string) {
	if m != nil {
		m.invocations.WithLabelValues(fn).Inc()
	}
}

func (m *Metrics) coldStart(fn string) {
	if m != nil {
		m.coldStarts.WithLabelValues(fn).Inc()
	}
}

func (m *Metrics) throttled(fn string) {
	if m != nil {
		m.throttles.WithLabelValues(fn).Inc()
	}
}
