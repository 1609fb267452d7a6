package stream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const (
	namespace = "normwatch"

	labelReason    = "reason"
	labelTopic     = "topic"
	labelPartition = "partition"
	labelResult    = "result"

	resultOK    = "ok"
	resultError = "error"
)

// metrics are the consumer's series. events_total belongs to the engine,
// which alone knows what an applied event counted for.
type metrics struct {
	decodeErrors        *prometheus.CounterVec
	timeFallbacks       *prometheus.CounterVec
	dlqMessages         prometheus.Counter
	consumerLag         *prometheus.GaugeVec
	topicMissing        *prometheus.GaugeVec
	reconnects          prometheus.Counter
	redeliveriesSkipped prometheus.Counter
	checkpoints         *prometheus.CounterVec
	offsetCommits       *prometheus.CounterVec
}

// newMetrics creates the series, every label value known up front at zero,
// and registers them with reg unless it is nil.
func newMetrics(reg prometheus.Registerer, subsystem string) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		decodeErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "decode_errors_total",
			Help: "Messages that could not be decoded, by reason, each sent to the dead-letter topic and skipped; reason internal_error counts messages whose decoding or processing hit an internal error (a bug, never bad input).",
		}, []string{labelReason}),
		timeFallbacks: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "event_time_fallbacks_total",
			Help: "Events whose own time could not be used, by reason; their Kafka timestamp was used instead.",
		}, []string{labelReason}),
		dlqMessages: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "dlq_messages_total",
			Help: "Messages written to the dead-letter topic and acknowledged by all in-sync replicas.",
		}),
		consumerLag: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "consumer_lag",
			Help: "Messages of an assigned partition not yet consumed: high watermark minus the next offset.",
		}, []string{labelTopic, labelPartition}),
		topicMissing: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "kafka_topic_missing",
			Help: "1 while a configured topic does not exist (it is checked again with backoff and consumed once it does), else 0.",
		}, []string{labelTopic}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "kafka_reconnects_total",
			Help: "Connections to Kafka re-established after an error: group re-joins and partition fetch reconnects.",
		}),
		redeliveriesSkipped: f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "redeliveries_skipped_total",
			Help: "Messages dropped because the partition's checkpoint already holds their effect.",
		}),
		checkpoints: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "checkpoints_total",
			Help: "Partition checkpoints taken, by result.",
		}, []string{labelResult}),
		offsetCommits: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "offset_commits_total",
			Help: "Offset commits to the consumer group, by result.",
		}, []string{labelResult}),
	}
	for _, r := range Reasons() {
		m.decodeErrors.WithLabelValues(string(r))
	}
	for _, r := range TimeFallbacks() {
		m.timeFallbacks.WithLabelValues(string(r))
	}
	for _, r := range []string{resultOK, resultError} {
		m.checkpoints.WithLabelValues(r)
		m.offsetCommits.WithLabelValues(r)
	}
	return m
}
