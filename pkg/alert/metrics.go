package alert

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	namespace = "normwatch"

	labelSink   = "sink"
	labelResult = "result"
)

// Results of alerts_sent_total.
const (
	// ResultOK: the peer accepted the alert.
	ResultOK = "ok"
	// ResultError: a network error, a timeout or a 5xx; the alert stays
	// queued and is retried on the next cycle.
	ResultError = "error"
	// ResultRejected: a 4xx; the peer will not take the alert as it is, so
	// it is logged and not retried.
	ResultRejected = "rejected"
	// ResultDropped: the queue was full and the alert, the oldest queued,
	// was dropped before it could be sent.
	ResultDropped = "dropped"
)

var results = []string{ResultOK, ResultError, ResultRejected, ResultDropped}

// metrics are the sinks' series, one set per sink (queue): an Alertmanager
// sink has one per URL, sink="alertmanager:<url>"; the Kafka sink has
// sink="kafka". Several sinks share the families on one registerer.
type metrics struct {
	sent    *prometheus.CounterVec
	queue   *prometheus.GaugeVec
	dropped *prometheus.CounterVec
}

// newMetrics creates the families and registers them with reg unless it is
// nil; a family another sink registered already is shared.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alerts_sent_total",
			Help: "Alerts handed to a sink, by result: ok, error (retried), rejected (4xx, not retried), dropped (queue full).",
		}, []string{labelSink, labelResult}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "alert_queue_length",
			Help: "Alerts waiting in a sink's queue.",
		}, []string{labelSink}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alerts_dropped_total",
			Help: "Alerts dropped, oldest first, because a sink's queue was full.",
		}, []string{labelSink}),
	}
	if reg != nil {
		m.sent = register(reg, m.sent)
		m.queue = register(reg, m.queue)
		m.dropped = register(reg, m.dropped)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// sinkMetrics are one sink's series, created at zero up front.
type sinkMetrics struct {
	sent    map[string]prometheus.Counter
	queue   prometheus.Gauge
	dropped prometheus.Counter
}

func (m *metrics) forSink(sink string) *sinkMetrics {
	s := &sinkMetrics{
		sent:    map[string]prometheus.Counter{},
		queue:   m.queue.WithLabelValues(sink),
		dropped: m.dropped.WithLabelValues(sink),
	}
	for _, r := range results {
		s.sent[r] = m.sent.WithLabelValues(sink, r)
	}
	return s
}

// drop counts n alerts dropped from the queue.
func (s *sinkMetrics) drop(n int) {
	if n > 0 {
		s.dropped.Add(float64(n))
		s.sent[ResultDropped].Add(float64(n))
	}
}
