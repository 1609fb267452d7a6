package engine

import "github.com/prometheus/client_golang/prometheus"

const (
	namespace = "normwatch"

	labelModel     = "model"
	labelVersion   = "model_version"
	labelKind      = "kind"
	labelSink      = "sink"
	labelReason    = "reason"
	labelResult    = "result"
	labelComponent = "component"
	labelState     = "state"
)

// Kinds of series, the label values of refused_events_total,
// refused_series_total and tracked_series.
const (
	KindModel     = "model"
	KindVersion   = "version"
	KindFeature   = "feature"
	KindEmbedding = "embedding"
)

var kinds = []string{KindModel, KindVersion, KindFeature, KindEmbedding}

// Reasons of future_timestamps_total.
const (
	FutureAheadOfKafka     = "ahead_of_kafka_time" // payload time ahead of the message's Kafka timestamp
	FutureAheadOfWallClock = "ahead_of_wall_clock" // event time ahead of this process's clock
	FutureAheadOfStream    = "ahead_of_stream"     // an unconfirmed jump ahead of the partition's events
	FutureRepaired         = "checkpoint_repaired" // a restored watermark ahead of the wall clock, repaired
)

type metrics struct {
	events         *prometheus.CounterVec
	late           prometheus.Counter
	future         *prometheus.CounterVec
	futureBy       map[string]prometheus.Counter
	typeErrors     prometheus.Counter
	outcomeSkipped *prometheus.CounterVec
	refused        *prometheus.CounterVec
	refusedNames   *prometheus.CounterVec
	retired        *prometheus.CounterVec
	lastEvent      *prometheus.GaugeVec
	stale          *prometheus.GaugeVec
	refusedEvents  map[string]prometheus.Counter
	refusedSeries  map[string]prometheus.Counter
	retirements    map[VersionState]prometheus.Counter
	tracked        *prometheus.GaugeVec
	windowClosed   *prometheus.GaugeVec
	evaluations    prometheus.Counter
	sinkDropped    *prometheus.CounterVec
	internalErrors *prometheus.CounterVec
	trackedByKind  map[string]prometheus.Gauge
	frozenRunsVec  *prometheus.CounterVec
	frozenRuns     map[string]prometheus.Counter
	pairs          *prometheus.CounterVec
	pairsBy        map[string]prometheus.Counter

	// Cluster mode's, registered only in it.
	partialsWritten *prometheus.CounterVec
	partialsBytes   *prometheus.CounterVec
	partialsErrors  prometheus.Counter
	partialsDropped prometheus.Counter
	partialsQueue   prometheus.Gauge
	stageForced     prometheus.Counter
	stageReleased   prometheus.Counter
	stageWithheld   prometheus.Counter
}

const labelType = "type"

// registerCluster registers the metrics of cluster mode.
func (m *metrics) registerCluster(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, t := range partialTypes {
		m.partialsWritten.WithLabelValues(t)
		m.partialsBytes.WithLabelValues(t)
	}
	reg.MustRegister(m.partialsWritten, m.partialsBytes, m.partialsErrors, m.partialsDropped, m.partialsQueue, m.stageForced, m.stageReleased, m.stageWithheld)
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
		future: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "future_timestamps_total",
			Help: "Event times not believed, by reason: a payload time ahead of its Kafka timestamp (the Kafka timestamp was used), a time ahead of the wall clock, or a jump ahead of the partition's events that no next event confirmed (the partition's latest time was used); each by more than window.max_future_skew.",
		}, []string{labelReason}),
		futureBy: map[string]prometheus.Counter{},
		typeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "feature_type_errors_total",
			Help: "Feature or raw values that were not numbers (counted as missing).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refused_events_total",
			Help: "Events refused because their model or version was over a limit (kind model, version), or values of one event refused because their feature or embedding was (kind feature, embedding).",
		}, []string{labelKind}),
		refusedNames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refused_series_total",
			Help: "Distinct feature or embedding names refused over limits.max_features, limits.max_embeddings or limits.max_series, per model version (up to 1024 each).",
		}, []string{labelKind}),
		retired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "version_retirements_total",
			Help: "Model versions that stopped being tracked: retired after limits.version_idle_timeout without events, or evicted at a cap for a newer version or model.",
		}, []string{labelState}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "version_last_event_timestamp_seconds",
			Help: "Event time of the newest event of a tracked model version.",
		}, []string{labelModel, labelVersion}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "version_stale",
			Help: "1 while a tracked model version has had no events for limits.version_stale_after (its alerts are resolved and its drift figures not exported), else 0.",
		}, []string{labelModel, labelVersion}),
		refusedEvents:  map[string]prometheus.Counter{},
		outcomeSkipped: newOutcomeSkipped(),
		refusedSeries:  map[string]prometheus.Counter{},
		retirements:    map[VersionState]prometheus.Counter{},
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
		internalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "internal_errors_total",
			Help: "Internal errors (bugs of ours, never bad input) caught by component; the broken series state was reset and everything else went on.",
		}, []string{labelComponent}),
		trackedByKind: map[string]prometheus.Gauge{},
		frozenRunsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frozen_runs_total",
			Help: "Frozen-query runs (a retrieval with query_id and doc_ids), by outcome: scored against the baseline's reference top-k, unknown_query (an id not in the reference, left out), over_cap (an id past limits.max_frozen_queries in its window), no_reference (no frozen reference for the version's query embedding).",
		}, []string{"outcome"}),
		frozenRuns: map[string]prometheus.Counter{},
		pairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "candidate_pairs_total",
			Help: "Request ids of a model with a candidate in the join of candidate and live events, by result: matched (a candidate's and a live event of one request paired), expired (unmatched after gate.join_wait), evicted (unmatched, out of a full gate.join_buffer), duplicate (a second event of one side replaced the first), invalid (a request id not used: too long, empty, not printable ASCII, not a string).",
		}, []string{labelResult}),
		pairsBy: map[string]prometheus.Counter{},
		partialsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "partials_written_total",
			Help: "Records written to the partials topic (cluster mode), by type: a series of a closed window, of a cumulative view, or a source partition's watermark.",
		}, []string{labelType}),
		partialsBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "partials_written_bytes_total",
			Help: "Bytes (key and value, before compression) of the records written to the partials topic, by type.",
		}, []string{labelType}),
		partialsErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "partials_write_errors_total",
			Help: "Failed writes to the partials topic; each is retried, and no checkpoint covers its windows until it succeeds.",
		}),
		partialsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "partials_dropped_total",
			Help: "Partial records not written because the publisher stopped first (at shutdown); no checkpoint covers them, so they are re-read and published at the next start.",
		}),
		partialsQueue: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "partials_queue_length",
			Help: "Closes waiting to be written to the partials topic.",
		}),
		stageForced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "stage_forced_evaluations_total",
			Help: "Windows the evaluation stage judged after evaluation.max_wait without every source partition's share (a process gone or lagging).",
		}),
		stageReleased: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "stage_released_versions_total",
			Help: "Model versions whose evaluation moved to another process (their partials partition was not given back within evaluation.release_wait): their evaluations left this process (their alerts left with the partition).",
		}),
		stageWithheld: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "stage_withheld_alert_changes_total",
			Help: "Alert changes of the evaluation stage never sent: their judgements were not in a checkpoint saved while this process still owned the partition (a zombie's, or made after the partition's last checkpoint); whoever restores the partition judges those windows again.",
		}),
	}
	for _, r := range []string{FutureAheadOfKafka, FutureAheadOfWallClock, FutureAheadOfStream, FutureRepaired} {
		m.futureBy[r] = m.future.WithLabelValues(r)
	}
	for _, k := range []string{KindFeature, KindEmbedding} {
		m.refusedSeries[k] = m.refusedNames.WithLabelValues(k)
	}
	for _, st := range []VersionState{StateRetired, StateEvicted} {
		m.retirements[st] = m.retired.WithLabelValues(string(st))
	}
	for _, o := range frozenOutcomes {
		m.frozenRuns[o] = m.frozenRunsVec.WithLabelValues(o)
	}
	for _, r := range PairResults() {
		m.pairsBy[r] = m.pairs.WithLabelValues(r)
	}
	for _, c := range Components() {
		m.internalErrors.WithLabelValues(c)
	}
	for _, k := range kinds {
		m.refusedEvents[k] = m.refused.WithLabelValues(k)
		m.trackedByKind[k] = m.tracked.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.late, m.future, m.typeErrors, m.refused, m.refusedNames, m.retired, m.lastEvent, m.stale, m.tracked,
			m.windowClosed, m.evaluations, m.sinkDropped, m.internalErrors, m.frozenRunsVec, m.outcomeSkipped, m.pairs)
	}
	return m
}
