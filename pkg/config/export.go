package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metrics is what /metrics exports beyond the drift figures.
type Metrics struct {
	// Quantiles chooses the quantile series of each feature and embedding
	// (normwatch_feature_quantile, normwatch_embedding_norm_quantile and
	// their baseline_ twins, summaries): ["all"], the seven levels of
	// QuantileLevels; ["none"], none of the four families; or a list of
	// some of those levels. They are most of a feature's series: 18 of 30.
	Quantiles []string `mapstructure:"quantiles"`
}

// Status is the status page at /.
type Status struct {
	// HistoryWindows is how many evaluations (windows) of each version's
	// features and embeddings the page's history strips and charts keep.
	HistoryWindows int `mapstructure:"history_windows"`
	// RefreshInterval is how often an open page fetches itself again,
	// keeping its scroll position; 0 turns it off.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
}

// QuantileLevels are the quantile levels an evaluation computes (the
// engine's StatQuantiles, which cmd/monitor's tests hold this list to):
// metrics.quantiles chooses among them.
var QuantileLevels = []float64{0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99}

// Words of metrics.quantiles.
const (
	QuantilesAll  = "all"
	QuantilesNone = "none"
)

func defaultMetrics() Metrics { return Metrics{Quantiles: []string{QuantilesAll}} }

func defaultStatus() Status { return Status{HistoryWindows: 60, RefreshInterval: 10 * time.Second} }

// QuantileSelection returns the levels metrics.quantiles keeps: nil with
// "all", an empty slice with "none". It assumes a validated Config.
func (m Metrics) QuantileSelection() []float64 {
	if len(m.Quantiles) == 1 {
		switch m.Quantiles[0] {
		case QuantilesAll:
			return nil
		case QuantilesNone:
			return []float64{}
		}
	}
	out := make([]float64, 0, len(m.Quantiles))
	for _, s := range m.Quantiles {
		q, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

func validateExport(m Metrics, s Status, bad func(key, format string, args ...any)) {
	levels := make([]string, len(QuantileLevels))
	for i, q := range QuantileLevels {
		levels[i] = strconv.FormatFloat(q, 'g', -1, 64)
	}
	want := fmt.Sprintf(`want "all", "none", or some of %s`, strings.Join(levels, " "))
	switch {
	case len(m.Quantiles) == 0:
		bad("metrics.quantiles", "is empty; %s", want)
	case len(m.Quantiles) == 1 && (m.Quantiles[0] == QuantilesAll || m.Quantiles[0] == QuantilesNone):
	default:
		seen := map[float64]bool{}
		for i, v := range m.Quantiles {
			key := fmt.Sprintf("metrics.quantiles[%d]", i)
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			switch {
			case v == QuantilesAll || v == QuantilesNone:
				bad(key, "%q must stand alone", v)
			case err != nil || !slices.Contains(QuantileLevels, q):
				bad(key, "%q is not a quantile level normwatch computes; %s", v, want)
			case seen[q]:
				bad(key, "%q is listed twice", v)
			}
			seen[q] = true
		}
	}
	if s.HistoryWindows < 1 || s.HistoryWindows > 10_000 {
		bad("status.history_windows", "%d is out of range [1, 10000]", s.HistoryWindows)
	}
	if r := s.RefreshInterval; r != 0 && (r < time.Second || r > time.Hour) {
		bad("status.refresh_interval", "%s is out of range [1s, 1h] (or 0 for no refresh)", r)
	}
}
