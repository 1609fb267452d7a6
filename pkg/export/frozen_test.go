package export

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// TestFrozenMetricsAndRow: a report's frozen-query figures are three
// promtool-clean gauges on the query embedding and a status page row
// named by retrieval_regression.
func TestFrozenMetricsAndRow(t *testing.T) {
	snap := snapshot()
	snap.Report.Embeddings = append(snap.Report.Embeddings, drift.EmbeddingReport{
		Name: "fq", Diagnosis: drift.RetrievalRegression, Severity: drift.Critical,
		Summary: "recall@10 of the frozen queries fell to 0.62 over 140 of them",
		Frozen:  &drift.FrozenReport{K: 10, RefQueries: 150, Queries: 140, Runs: 420, Recall: 0.62, Overlap: 0.55, Unknown: 3},
	})
	c := NewCollector(SourceFunc(func() []Snapshot { return []Snapshot{snap} }))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
	want := `
# HELP normwatch_frozen_queries Distinct frozen query ids run in the horizon: retrieval_regression is judged from drift's min_frozen_queries on.
# TYPE normwatch_frozen_queries gauge
normwatch_frozen_queries{embedding="fq",model="ranker",model_version="v4"} 140
# HELP normwatch_frozen_recall Recall@k of the frozen-query runs whose query is the embedding against the baseline's reference top-k, in the comparison horizon: the mean over distinct frozen queries of each query's mean (the reference's own is 1).
# TYPE normwatch_frozen_recall gauge
normwatch_frozen_recall{embedding="fq",model="ranker",model_version="v4"} 0.62
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "normwatch_frozen_queries", "normwatch_frozen_recall"))
	require.Equal(t, 1+3, seriesOf(t, c)["embedding/fq"]) // drift_status and the three

	p := newPage([]Snapshot{snap}, snap.EvaluatedAt, StatusOptions{})
	var rows []rowView
	for _, r := range p.Versions[0].Rows {
		if r.Signal != "" {
			rows = append(rows, r)
		}
	}
	require.Len(t, rows, 1)
	require.Equal(t, "frozen", rows[0].Signal)
	require.Equal(t, drift.RetrievalRegression, rows[0].Diagnosis)
	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, p))
	require.Contains(t, b.String(), `data-name="fq" data-signal="frozen" data-recall="0.62" data-overlap="0.55" data-queries="140">`)
}
