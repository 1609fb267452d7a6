package export

import (
	"slices"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "normwatch"

// Snapshot is the latest evaluation of one model version.
type Snapshot struct {
	Model, Version string
	BaselineID     string
	WindowEnd      time.Time
	EvaluatedAt    time.Time
	Report         drift.Report
	// Features and Embeddings are the distributions behind the report
	// (current horizon and reference), by name; optional.
	Features   []engine.FeatureDistribution
	Embeddings []engine.EmbeddingDistribution
	// Faults are the internal errors caught on the version, if any.
	Faults []engine.Fault
	// State is the version's lifecycle state ("" counts as active). A
	// stale version's figures are old evidence: they are shown on the
	// status page, marked, but not exported. A retired or evicted one has
	// no report; Reason says why it left and Left when.
	State     engine.VersionState
	Reason    string
	LastEvent time.Time
	Left      time.Time
}

// current reports whether s's figures are current evidence.
func (s Snapshot) current() bool { return s.State == "" || s.State == engine.StateActive }

// Source gives the latest snapshots; it must be safe for concurrent use.
type Source interface {
	Snapshots() []Snapshot
}

// SourceFunc adapts a function to Source.
type SourceFunc func() []Snapshot

// Snapshots calls f.
func (f SourceFunc) Snapshots() []Snapshot { return f() }

var (
	featureLabels   = []string{"model", "model_version", "feature"}
	embeddingLabels = []string{"model", "model_version", "embedding"}
)

func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append(append([]string(nil), labels...), extra...), nil)
}

var (
	descPSI         = desc("drift_psi", "Population stability index of the horizon against the baseline, 10 bins at the baseline's deciles.", featureLabels)
	descKS          = desc("drift_ks", "Kolmogorov-Smirnov distance of the horizon's and the baseline's CDFs.", featureLabels)
	descW1          = desc("drift_wasserstein", "Wasserstein-1 distance over the baseline's standard deviation.", featureLabels)
	descJS          = desc("drift_js", "Jensen-Shannon distance over the PSI bins.", featureLabels)
	descScale       = desc("normalization_scale", "Slope a of the fit Q_prod(q) = a*Q_base(q) + b over q in [0.05, 0.95].", featureLabels)
	descOffset      = desc("normalization_offset", "Intercept b of the fit Q_prod(q) = a*Q_base(q) + b.", featureLabels)
	descR2          = desc("normalization_fit_r2", "R squared of the normalization-delta fit.", featureLabels)
	descSamples     = desc("feature_samples", "Finite values of the feature in the comparison horizon.", featureLabels)
	descMissing     = desc("feature_missing_ratio", "Share of missing values of the feature in the horizon.", featureLabels)
	descStatusF     = desc("drift_status", "Drift status of the feature or embedding: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause.", []string{"model", "model_version", "feature", "embedding", "diagnosis"})
	descUnit        = desc("embedding_unit_norm_ratio", "Share of the horizon's vectors whose L2 norm is within tolerance of 1.", embeddingLabels)
	descCosine      = desc("embedding_centroid_cosine", "Cosine between the horizon's and the baseline's mean vectors.", embeddingLabels)
	descEvaluatedAt = desc("evaluation_timestamp_seconds", "When the model version was last evaluated.", []string{"model", "model_version"})

	descMean         = desc("feature_mean", "Mean of the feature's finite values in the comparison horizon.", featureLabels)
	descStdDev       = desc("feature_stddev", "Population standard deviation of the feature's finite values in the horizon.", featureLabels)
	descQuantile     = desc("feature_quantile", "Quantiles of the feature's finite values in the comparison horizon; _count and _sum are the horizon's count and sum.", featureLabels)
	descRefQuantile  = desc("baseline_feature_quantile", "Quantiles of the feature in the baseline (or fallback reference) the horizon is compared with; _count and _sum are the baseline's.", featureLabels)
	descNormQuantile = desc("embedding_norm_quantile", "Quantiles of the L2 norms of the embedding's vectors in the comparison horizon; _count and _sum are the horizon's vectors and sum of norms.", embeddingLabels)
	descRefNorm      = desc("baseline_embedding_norm_quantile", "Quantiles of the L2 norms of the embedding's vectors in the baseline; _count and _sum are the baseline's.", embeddingLabels)
	allDescs         = []*prometheus.Desc{descPSI, descKS, descW1, descJS, descScale, descOffset, descR2,
		descSamples, descMissing, descStatusF, descUnit, descCosine, descEvaluatedAt,
		descMean, descStdDev, descQuantile, descRefQuantile, descNormQuantile, descRefNorm,
		descSimQuantile, descRefSimQuantile, descSimSpread, descSimShift, descSimNorm, descSimUnit,
		descFrozenRecall, descFrozenOverlap, descFrozenQueries,
		descActStat, descActFit, descRefActFit}
	quantileDescs = []*prometheus.Desc{descQuantile, descRefQuantile, descNormQuantile, descRefNorm, descSimQuantile, descRefSimQuantile}
)

// CollectorOptions configures a Collector.
type CollectorOptions struct {
	// Quantiles are the levels the quantile families export, some of
	// engine.StatQuantiles: nil exports all of them; an empty (non-nil)
	// slice leaves the four families out altogether, _sum and _count
	// too (feature_samples and feature_mean say as much). A level
	// engine.StatQuantiles does not hold is ignored.
	Quantiles []float64
}

// Collector computes the drift metrics at scrape time from a Source.
type Collector struct {
	src Source
	// levels are the indexes into engine.StatQuantiles exported; nil for
	// none (noQuantiles).
	levels      []int
	noQuantiles bool
}

// NewCollector returns a Collector over src that exports every quantile.
func NewCollector(src Source) *Collector { return NewCollectorWithOptions(src, CollectorOptions{}) }

// NewCollectorWithOptions returns a Collector over src configured by o.
func NewCollectorWithOptions(src Source, o CollectorOptions) *Collector {
	c := &Collector{src: src}
	for i, q := range engine.StatQuantiles {
		if o.Quantiles == nil || slices.Contains(o.Quantiles, q) {
			c.levels = append(c.levels, i)
		}
	}
	c.noQuantiles = len(c.levels) == 0
	return c
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append(allDescs, outcomeDescs...) {
		if c.noQuantiles && slices.Contains(quantileDescs, d) {
			continue
		}
		ch <- d
	}
}

// Collect sends the metrics of the latest snapshots.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.src.Snapshots() {
		if !s.current() {
			continue
		}
		gauge(descEvaluatedAt, float64(s.EvaluatedAt.UnixNano())/1e9, s.Model, s.Version)
		for _, f := range s.Report.Features {
			l := []string{s.Model, s.Version, f.Name}
			gauge(descStatusF, float64(f.Severity), s.Model, s.Version, f.Name, "", string(f.Diagnosis))
			gauge(descSamples, float64(f.Samples), l...)
			gauge(descMissing, f.MissingRatio, l...)
			if f.Diagnosis == drift.InsufficientData || f.Diagnosis == drift.NoBaseline {
				continue
			}
			gauge(descPSI, f.PSI, l...)
			gauge(descKS, f.KS, l...)
			gauge(descW1, f.Wasserstein, l...)
			gauge(descJS, f.JS, l...)
			gauge(descScale, f.Scale, l...)
			gauge(descOffset, f.Offset, l...)
			gauge(descR2, f.FitR2, l...)
		}
		for _, e := range s.Report.Embeddings {
			l := []string{s.Model, s.Version, e.Name}
			gauge(descStatusF, float64(e.Severity), s.Model, s.Version, "", e.Name, string(e.Diagnosis))
			if e.Samples == 0 {
				continue
			}
			gauge(descUnit, e.UnitNormRatio, l...)
			gauge(descCosine, e.CentroidCosine, l...)
		}
		for _, e := range s.Report.Embeddings {
			c.collectSignals(ch, gauge, e, []string{s.Model, s.Version, e.Name})
		}
		collectOutcomes(gauge, s)
		for _, f := range s.Features {
			l := []string{s.Model, s.Version, f.Name}
			if f.Cur.Count > 0 {
				gauge(descMean, f.Cur.Mean, l...)
				gauge(descStdDev, f.Cur.StdDev, l...)
			}
			c.summary(ch, descQuantile, f.Cur, l)
			c.summary(ch, descRefQuantile, f.Ref, l)
		}
		for _, e := range s.Embeddings {
			l := []string{s.Model, s.Version, e.Name}
			c.summary(ch, descNormQuantile, e.Cur, l)
			c.summary(ch, descRefNorm, e.Ref, l)
		}
	}
}

// summary sends m as a constant summary of the chosen levels, when it has
// values: a gauge with a quantile label fails promtool's lint, a summary
// carries the honest count and sum beside its quantiles.
func (c *Collector) summary(ch chan<- prometheus.Metric, d *prometheus.Desc, m engine.Moments, labels []string) {
	if c.noQuantiles || m.Count == 0 || len(m.Quantiles) != len(engine.StatQuantiles) {
		return
	}
	qs := make(map[float64]float64, len(c.levels))
	for _, i := range c.levels {
		qs[engine.StatQuantiles[i]] = m.Quantiles[i]
	}
	ch <- prometheus.MustNewConstSummary(d, m.Count, m.Sum, qs, labels...)
}
