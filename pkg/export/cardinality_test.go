package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// seriesOf counts the series c exports per feature and per embedding
// name, as Prometheus stores them: one per gauge, one per quantile of a
// summary plus its _sum and _count.
func seriesOf(t *testing.T, c prometheus.Collector) map[string]int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			n := 1
			if mf.GetType() == dto.MetricType_SUMMARY {
				n = len(m.GetSummary().GetQuantile()) + 2
			}
			for _, l := range m.GetLabel() {
				if (l.GetName() == "feature" || l.GetName() == "embedding") && l.GetValue() != "" {
					out[l.GetName()+"/"+l.GetValue()] += n
				}
			}
		}
	}
	return out
}

// TestSeriesPerFeature counts, from the collector, the series a feature
// with a baseline and an embedding make, with every quantile, none, and a
// few, and holds the README's statement of them.
func TestSeriesPerFeature(t *testing.T) {
	src := SourceFunc(func() []Snapshot { return []Snapshot{snapshot()} })
	all := len(engine.StatQuantiles)
	for _, tc := range []struct {
		name      string
		quantiles []float64
		levels    int // quantile levels each of the four summaries exports
	}{
		{name: "all", quantiles: nil, levels: all},
		{name: "none", quantiles: []float64{}, levels: -1},
		{name: "the dashboards' three", quantiles: []float64{0.05, 0.5, 0.95}, levels: 3},
		{name: "one", quantiles: []float64{0.5}, levels: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := seriesOf(t, NewCollectorWithOptions(src, CollectorOptions{Quantiles: tc.quantiles}))
			// Per summary: the levels, _sum and _count; none when left out.
			perSummary := tc.levels + 2
			if tc.levels < 0 {
				perSummary = 0
			}
			// A feature: drift_status, samples, missing ratio, the 7 drift
			// and fit figures, mean, stddev, and 2 summaries (horizon,
			// baseline). An embedding: drift_status, unit-norm ratio,
			// centroid cosine and 2 summaries.
			require.Equal(t, 1+2+7+2+2*perSummary, got["feature/income"])
			require.Equal(t, 1+2+2*perSummary, got["embedding/query"])
		})
	}
	feature := seriesOf(t, NewCollector(src))["feature/income"]
	embedding := seriesOf(t, NewCollector(src))["embedding/query"]
	none := seriesOf(t, NewCollectorWithOptions(src, CollectorOptions{Quantiles: []float64{}}))
	three := seriesOf(t, NewCollectorWithOptions(src, CollectorOptions{Quantiles: []float64{0.05, 0.5, 0.95}}))
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	text := strings.Join(strings.Fields(string(readme)), " ")
	for _, want := range []string{
		fmt.Sprintf("a feature with a baseline makes %d series and an embedding %d", feature, embedding),
		fmt.Sprintf("`metrics.quantiles: [none]` leaves %d and %d", none["feature/income"], none["embedding/query"]),
		fmt.Sprintf("(`[0.05, 0.5, 0.95]`, the levels the dashboards draw, gives %d and %d)", three["feature/income"], three["embedding/query"]),
	} {
		require.True(t, strings.Contains(text, want), "README.md states the collector's counts: %q", want)
	}
}
