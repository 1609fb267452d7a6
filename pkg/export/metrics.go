package export

import "github.com/prometheus/client_golang/prometheus"

const subsystem = "http"

// serverMetrics are the HTTP server's own: how full its limits are.
type serverMetrics struct {
	connections  prometheus.Gauge
	evicted      *prometheus.CounterVec
	connRejected prometheus.Counter
	reqRejected  prometheus.Counter
}

// newServerMetrics creates the server metrics at zero, registered with reg
// unless it is nil.
func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "connections",
			Help: "Open connections to the HTTP server, at most http.max_connections.",
		}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "connections_evicted_total",
			Help: "Connections closed to make room at http.max_connections or http.max_concurrent_requests, by reason: idle (between requests), no_request (connected without sending one), stalled (its client stopped reading).",
		}, []string{"reason"}),
		connRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "connections_rejected_total",
			Help: "Connections closed on arrival: http.max_connections were open and every one was busy.",
		}),
		reqRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "requests_rejected_total",
			Help: "Requests of /metrics, the status page or the API answered 503: http.max_concurrent_requests were in progress.",
		}),
	}
	for _, r := range []string{evictIdle, evictNoRequest, evictStalled} {
		m.evicted.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.evicted, m.connRejected, m.reqRejected)
	}
	return m
}
