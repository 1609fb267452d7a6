package engine

import "github.com/prometheus/client_golang/prometheus"

const (
	namespace = "normwatch"

	labelModel   = "model"
	labelVersion = "model_version"
	labelKind    = "kind"
	labelSink    = "sink"
)

// Kinds of series, the label values of series_dropped_total and
// tracked_series.
const (
	KindModel     = "model"
	KindVersion   = "version"
	KindFeature   = "feature"
	KindEmbedding = "embedding"
)

var kinds = []string{KindModel, KindVersion, KindFeature, KindEmbedding}

type metrics struct {
	events        *prometheus.CounterVec
	late          prometheus.Counter
	future        prometheus.Counter
	typeErrors    prometheus.Counter
	seriesDropped *prometheus.CounterVec
	tracked       *prometheus.GaugeVec
	windowClosed  *prometheus.GaugeVec
	evaluations   prometheus.Counter
	sinkDropped   *prometheus.CounterVec
	droppedByKind map[string]prometheus.Counter
	trackedByKind map[string]prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_total",
			Help: "Events applied, per tracked model version.",
		}, []string{labelModel, labelVersion}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "late_events_total",
			Help: "Events whose window had already closed; they count in the cumulative view only.",
		}),
		future: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "future_timestamps_total",
			Help: "Events whose payload time was further ahead of their Kafka timestamp than the allowed skew; their Kafka timestamp was used.",
		}),
		typeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "feature_type_errors_total",
			Help: "Feature or raw values that were not numbers (counted as missing).",
		}),
		seriesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "series_dropped_total",
			Help: "Values dropped because their series was over a limit, by kind.",
		}, []string{labelKind}),
		tracked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "tracked_series",
			Help: "Series tracked, by kind.",
		}, []string{labelKind}),
		windowClosed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "window_closed_timestamp_seconds",
			Help: "End, in event time, of the last window closed per model version.",
		}, []string{labelModel, labelVersion}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "evaluations_total",
			Help: "Evaluations of a closed window published to the sinks.",
		}),
		sinkDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sink_dropped_total",
			Help: "Evaluations dropped, oldest first, because a sink's queue was full.",
		}, []string{labelSink}),
		droppedByKind: map[string]prometheus.Counter{},
		trackedByKind: map[string]prometheus.Gauge{},
	}
	for _, k := range kinds {
		m.droppedByKind[k] = m.seriesDropped.WithLabelValues(k)
		m.trackedByKind[k] = m.tracked.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.late, m.future, m.typeErrors, m.seriesDropped, m.tracked,
			m.windowClosed, m.evaluations, m.sinkDropped)
	}
	return m
}
