package server

import (
	"github.com/proxyplus/proxyplus/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors of the xDS server. The Publisher and the NodeTracker share one Metrics.
type Metrics struct {
	snapshotInfo       *prometheus.GaugeVec
	snapshotGeneration prometheus.Gauge
	pushes             *prometheus.CounterVec
	nacks              *prometheus.CounterVec
	connectedNodes     prometheus.Gauge
	streams            prometheus.Gauge
	translationErrors  prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg. A nil reg leaves them unregistered (they still
// count, which tests use). Collectors already registered in reg with the same description are reused, so two
// servers can share a registry; any other registration error is a programming error and panics, like
// prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		snapshotInfo: metricsreg.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "proxyplus_snapshot_info",
			Help: "Always 1; the version label is the content-hash version of the xDS snapshot currently served.",
		}, []string{"version"})),
		snapshotGeneration: metricsreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxyplus_snapshot_generation",
			Help: "Number of distinct snapshot versions published since the process started.",
		})),
		pushes: metricsreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxyplus_snapshot_pushes_total",
			Help: "xDS responses sent to clients (SotW, delta and fetch), by resource type URL.",
		}, []string{"type_url"})),
		nacks: metricsreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proxyplus_xds_nacks_total",
			Help: "xDS requests carrying error_detail (configuration rejected by a client), by resource type URL.",
		}, []string{"type_url"})),
		connectedNodes: metricsreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxyplus_xds_connected_nodes",
			Help: "Nodes with at least one open xDS stream.",
		})),
		streams: metricsreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxyplus_xds_streams",
			Help: "Open xDS streams (SotW and delta).",
		})),
		translationErrors: metricsreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "proxyplus_translation_errors_total",
			Help: "Configurations rejected before publishing (resource validation or snapshot consistency); the last good snapshot stays served.",
		})),
	}
}

func (m *Metrics) setSnapshot(version string, generation uint64) {
	m.snapshotInfo.Reset()
	m.snapshotInfo.WithLabelValues(version).Set(1)
	m.snapshotGeneration.Set(float64(generation))
}
