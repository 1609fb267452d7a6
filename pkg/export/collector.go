package export

import (
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
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
}

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
)

// Collector computes the drift metrics at scrape time from a Source.
type Collector struct {
	src Source
}

// NewCollector returns a Collector over src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPSI, descKS, descW1, descJS, descScale, descOffset, descR2,
		descSamples, descMissing, descStatusF, descUnit, descCosine, descEvaluatedAt} {
		ch <- d
	}
}

// Collect sends the metrics of the latest snapshots.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range c.src.Snapshots() {
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
	}
}
