package export

import (
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// The metrics of the retrieval and activation signals, reported on their
// embedding (labels model, model_version, embedding).
var (
	descSimQuantile    = desc("similarity_quantile", "Quantiles of the query-document similarity scores of the retrievals whose query is the embedding, in the comparison horizon; _count and _sum are the horizon's scores.", embeddingLabels)
	descRefSimQuantile = desc("baseline_similarity_quantile", "Quantiles of the similarity scores in the baseline; _count and _sum are the baseline's.", embeddingLabels)
	descSimSpread      = desc("similarity_spread_ratio", "Width of the horizon's similarity band (p95 - p5) over the baseline's: below drift's compression threshold the scores are compressed.", embeddingLabels)
	descSimShift       = desc("similarity_median_shift", "Median similarity score of the horizon minus the baseline's.", embeddingLabels)
	descSimNorm        = desc("similarity_norm_median", "Median L2 norm of the retrievals' query or document vectors in the horizon.", embeddingLabels, "side")
	descSimUnit        = desc("similarity_unit_norm_ratio", "Share of the retrievals' query or document vectors that are unit-norm, in the horizon.", embeddingLabels, "side")
	descActStat        = desc("activation_statistic", "Per-vector statistics of an activation field in the horizon: the mean across vectors of their mean, std and rms, and how much they vary (mean_sd, std_cv, rms_cv).", embeddingLabels, "statistic")
	descActFit         = desc("activation_fit", "1 for the normalization layer (layernorm, rmsnorm, none) the activation field's horizon fits, 0 for the others.", embeddingLabels, "fit")
	descFrozenRecall   = desc("frozen_recall", "Recall@k of the frozen-query runs whose query is the embedding against the baseline's reference top-k, in the comparison horizon: the mean over distinct frozen queries of each query's mean (the reference's own is 1).", embeddingLabels)
	descFrozenOverlap  = desc("frozen_overlap", "Rank-biased overlap (p 0.9, truncated at k) of the frozen-query runs with the reference top-k, in the horizon, averaged as frozen_recall.", embeddingLabels)
	descFrozenQueries  = desc("frozen_queries", "Distinct frozen query ids run in the horizon: retrieval_regression is judged from drift's min_frozen_queries on.", embeddingLabels)
	descRefActFit      = desc("baseline_activation_fit", "1 for the normalization layer the baseline of the activation field fits (or declares), 0 for the others.", embeddingLabels, "fit")
)

// Sides of a retrieval (the side label).
var sides = []string{"query", "document"}

var activationFits = []string{drift.ActLayerNorm, drift.ActRMSNorm, drift.ActNone}

func (c *Collector) collectSignals(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), e drift.EmbeddingReport, l []string) {
	with := func(extra string) []string { return append(append([]string(nil), l...), extra) }
	if s := e.Similarity; s != nil && len(s.Quantiles) > 0 {
		gauge(descSimSpread, s.SpreadRatio, l...)
		gauge(descSimShift, s.MedianShift, l...)
		if !c.noQuantiles {
			cur, ref := map[float64]float64{}, map[float64]float64{}
			for _, q := range s.Quantiles {
				if c.exports(q.Q) {
					cur[q.Q], ref[q.Q] = q.Cur, q.Ref
				}
			}
			ch <- prometheus.MustNewConstSummary(descSimQuantile, s.Samples, s.Mean*float64(s.Samples), cur, l...)
			ch <- prometheus.MustNewConstSummary(descRefSimQuantile, s.RefSamples, s.RefMean*float64(s.RefSamples), ref, l...)
		}
		for i, side := range sides {
			n, med, unit := s.QueryNorms, s.QueryNormMedian, s.QueryUnitRatio
			if i == 1 {
				n, med, unit = s.DocNorms, s.DocNormMedian, s.DocUnitRatio
			}
			if n > 0 {
				gauge(descSimNorm, med, with(side)...)
				gauge(descSimUnit, unit, with(side)...)
			}
		}
	}
	if f := e.Frozen; f != nil && f.Queries > 0 {
		gauge(descFrozenRecall, f.Recall, l...)
		gauge(descFrozenOverlap, f.Overlap, l...)
		gauge(descFrozenQueries, float64(f.Queries), l...)
	}
	if a := e.Activation; a != nil && a.Current.Vectors > 0 {
		p := a.Current
		for _, st := range []struct {
			name string
			v    float64
		}{{"mean", p.Mean}, {"mean_sd", p.MeanSD}, {"std", p.Std}, {"std_cv", p.StdCV}, {"rms", p.RMS}, {"rms_cv", p.RMSCV}} {
			gauge(descActStat, st.v, with(st.name)...)
		}
		want := a.Reference.Fit
		if a.Declared != "" {
			want = a.Declared
		}
		for _, f := range activationFits {
			gauge(descActFit, b2f(p.Fit == f), with(f)...)
			if a.Declared != "" || a.Reference.Vectors > 0 {
				gauge(descRefActFit, b2f(want == f), with(f)...)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// exports reports whether metrics.quantiles selects the level q.
func (c *Collector) exports(q float64) bool {
	for _, i := range c.levels {
		if engine.StatQuantiles[i] == q {
			return true
		}
	}
	return false
}
