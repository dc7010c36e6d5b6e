package controlplane

import (
	"errors"
	"time"

	"github.com/proxyplus/proxyplus/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"
)

// ReloadMetrics are the reloader's Prometheus collectors: reloads by outcome (published, held_back: some APIs
// kept their last good version, failed: nothing published) and their duration. Registered in the registry the
// caller injects; a nil *ReloadMetrics records nothing.
type ReloadMetrics struct {
	reloads  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	last     prometheus.Gauge
}

// NewReloadMetrics creates the collectors and registers them with reg (nil: unregistered).
func NewReloadMetrics(reg prometheus.Registerer) *ReloadMetrics {
	m := &ReloadMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "proxyplus_reloads_total",
			Help: "Configuration reloads by outcome: published, held_back (some APIs keep their last good version), failed (nothing published)."},
			[]string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "proxyplus_reload_duration_seconds",
			Help: "Time to load, translate, validate and publish the configuration, by outcome.", Buckets: prometheus.ExponentialBuckets(.001, 4, 9)},
			[]string{"outcome"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "proxyplus_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last reload that published a configuration."}),
	}
	m.reloads = metricsreg.Register(reg, m.reloads)
	m.duration = metricsreg.Register(reg, m.duration)
	m.last = metricsreg.Register(reg, m.last)
	return m
}

// observe records one reload that took d and returned err.
func (m *ReloadMetrics) observe(d time.Duration, err error, now time.Time) {
	if m == nil {
		return
	}
	outcome := "published"
	var held *HeldBackError
	switch {
	case errors.As(err, &held):
		outcome = "held_back"
	case err != nil:
		outcome = "failed"
	}
	m.reloads.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
	if outcome != "failed" {
		m.last.Set(float64(now.Unix()))
	}
}
