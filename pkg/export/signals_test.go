package export

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

func signalsSnapshot() Snapshot {
	s := snapshot()
	s.Report.Embeddings = append(s.Report.Embeddings, drift.EmbeddingReport{
		Name: "search_query", Diagnosis: drift.SimilarityCompressed, Severity: drift.Critical,
		Summary: "similarity scores compressed",
		Similarity: &drift.SimilarityReport{
			Samples: 1000, RefSamples: 5000, Mean: 0.12, RefMean: 0.55,
			Quantiles: []drift.QuantilePair{{Q: 0.05, Ref: 0.3, Cur: 0.11}, {Q: 0.25, Ref: 0.45, Cur: 0.115},
				{Q: 0.5, Ref: 0.55, Cur: 0.12}, {Q: 0.75, Ref: 0.65, Cur: 0.125}, {Q: 0.95, Ref: 0.8, Cur: 0.13}},
			SpreadRatio: 0.04, MedianShift: -0.43, Band: 0.02, RefBand: 0.5,
			QueryNorms: 200, QueryNormMedian: 7.3, QueryUnitRatio: 0, DocNorms: 1000, DocNormMedian: 1, DocUnitRatio: 1,
		},
	}, drift.EmbeddingReport{
		Name: "hidden", Samples: 300, Diagnosis: drift.ActivationNormChange, Severity: drift.Critical,
		Activation: &drift.ActivationReport{
			Current:   drift.ActivationProfile{Vectors: 300, Fit: drift.ActRMSNorm, Mean: 0.02, MeanSD: 0.5, Std: 0.8, StdCV: 0.3, RMS: 1, RMSCV: 0},
			Reference: drift.ActivationProfile{Vectors: 900, Fit: drift.ActLayerNorm, RMS: 1, Std: 1},
		},
	})
	return s
}

// TestSignalMetrics: the retrieval and activation metrics of a report,
// promtool-clean, with every quantile or the selected ones.
func TestSignalMetrics(t *testing.T) {
	src := SourceFunc(func() []Snapshot { return []Snapshot{signalsSnapshot()} })
	c := NewCollector(src)
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
	want := `
# HELP normwatch_activation_fit 1 for the normalization layer (layernorm, rmsnorm, none) the activation field's horizon fits, 0 for the others.
# TYPE normwatch_activation_fit gauge
normwatch_activation_fit{embedding="hidden",fit="layernorm",model="ranker",model_version="v4"} 0
normwatch_activation_fit{embedding="hidden",fit="none",model="ranker",model_version="v4"} 0
normwatch_activation_fit{embedding="hidden",fit="rmsnorm",model="ranker",model_version="v4"} 1
# HELP normwatch_baseline_activation_fit 1 for the normalization layer the baseline of the activation field fits (or declares), 0 for the others.
# TYPE normwatch_baseline_activation_fit gauge
normwatch_baseline_activation_fit{embedding="hidden",fit="layernorm",model="ranker",model_version="v4"} 1
normwatch_baseline_activation_fit{embedding="hidden",fit="none",model="ranker",model_version="v4"} 0
normwatch_baseline_activation_fit{embedding="hidden",fit="rmsnorm",model="ranker",model_version="v4"} 0
# HELP normwatch_similarity_norm_median Median L2 norm of the retrievals' query or document vectors in the horizon.
# TYPE normwatch_similarity_norm_median gauge
normwatch_similarity_norm_median{embedding="search_query",model="ranker",model_version="v4",side="document"} 1
normwatch_similarity_norm_median{embedding="search_query",model="ranker",model_version="v4",side="query"} 7.3
# HELP normwatch_similarity_spread_ratio Width of the horizon's similarity band (p95 - p5) over the baseline's: below drift's compression threshold the scores are compressed.
# TYPE normwatch_similarity_spread_ratio gauge
normwatch_similarity_spread_ratio{embedding="search_query",model="ranker",model_version="v4"} 0.04
# HELP normwatch_similarity_quantile Quantiles of the query-document similarity scores of the retrievals whose query is the embedding, in the comparison horizon; _count and _sum are the horizon's scores.
# TYPE normwatch_similarity_quantile summary
normwatch_similarity_quantile{embedding="search_query",model="ranker",model_version="v4",quantile="0.05"} 0.11
normwatch_similarity_quantile{embedding="search_query",model="ranker",model_version="v4",quantile="0.25"} 0.115
normwatch_similarity_quantile{embedding="search_query",model="ranker",model_version="v4",quantile="0.5"} 0.12
normwatch_similarity_quantile{embedding="search_query",model="ranker",model_version="v4",quantile="0.75"} 0.125
normwatch_similarity_quantile{embedding="search_query",model="ranker",model_version="v4",quantile="0.95"} 0.13
normwatch_similarity_quantile_sum{embedding="search_query",model="ranker",model_version="v4"} 120
normwatch_similarity_quantile_count{embedding="search_query",model="ranker",model_version="v4"} 1000
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"normwatch_activation_fit", "normwatch_baseline_activation_fit", "normwatch_similarity_norm_median",
		"normwatch_similarity_spread_ratio", "normwatch_similarity_quantile"))

	// The dashboards' levels: only 0.05, 0.5 and 0.95 of the similarity.
	few := NewCollectorWithOptions(src, CollectorOptions{Quantiles: []float64{0.05, 0.5, 0.95}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(few)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "normwatch_similarity_quantile" {
			require.Len(t, mf.GetMetric()[0].GetSummary().GetQuantile(), 3)
		}
	}
	// None: the similarity summaries go with the others.
	none := seriesOf(t, NewCollectorWithOptions(src, CollectorOptions{Quantiles: []float64{}}))
	all := seriesOf(t, c)
	require.Equal(t, 2*(5+2), all["embedding/search_query"]-none["embedding/search_query"])
	// What the README says the signals add: a retrieval 20 series to its
	// query embedding (spread ratio, median shift, two summaries of 5
	// levels with _sum and _count, norm and unit-norm share of 2 sides),
	// an activation field 12 (6 statistics, 3 fits now and 3 in the
	// baseline). search_query has no vectors (drift_status alone), hidden
	// has them (drift_status, unit-norm ratio, centroid cosine).
	require.Equal(t, 1+20, all["embedding/search_query"])
	require.Equal(t, 3+12, all["embedding/hidden"])
}

// TestStatusSignalRows: the status page shows a row for each signal of an
// embedding, after its own, with the figures as data attributes, named by
// the diagnosis when the signal is its cause.
func TestStatusSignalRows(t *testing.T) {
	snap := signalsSnapshot()
	p := newPage([]Snapshot{snap}, snap.EvaluatedAt, StatusOptions{})
	var rows []rowView
	for _, r := range p.Versions[0].Rows {
		if r.Signal != "" {
			rows = append(rows, r)
		}
	}
	require.Len(t, rows, 2)
	require.Equal(t, "search_query", rows[0].Name)
	require.Equal(t, "similarity", rows[0].Signal)
	require.Equal(t, drift.SimilarityCompressed, rows[0].Diagnosis)
	require.Equal(t, "hidden", rows[1].Name)
	require.Equal(t, drift.ActivationNormChange, rows[1].Diagnosis)
	// A signal that causes its embedding's diagnosis says its own
	// figures, not the embedding row's sentence again.
	embedding := map[string]string{}
	for _, r := range p.Versions[0].Rows {
		if r.Embedding && r.Signal == "" {
			embedding[r.Name] = r.Sentence
		}
	}
	require.True(t, strings.HasPrefix(rows[0].Sentence, "search_query on ranker v4: similarity band 0.02 wide against 0.5 in the baseline"), rows[0].Sentence)
	require.True(t, strings.HasPrefix(rows[1].Sentence, "hidden on ranker v4: activations of "), rows[1].Sentence)
	for _, r := range rows {
		require.NotEqual(t, embedding[r.Name], r.Sentence, "%s's %s row", r.Name, r.Signal)
	}

	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, p))
	page := b.String()
	require.NotContains(t, page, "ZgotmplZ", "every attribute survives the template's filters")
	require.Contains(t, page, `data-name="search_query" data-signal="similarity" data-samples="1000" data-spread-ratio="0.04" data-band="0.02" data-ref-band="0.5" data-query-norm="7.3" data-doc-norm="1">`)
	require.Contains(t, page, `data-name="hidden" data-signal="activation" data-fit="rmsnorm" data-baseline-fit="layernorm" data-std-cv="0.3" data-rms-cv="0">`)
	require.Contains(t, page, `<small>(similarity)</small>`)
}
