package export

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func snapshot() Snapshot {
	return Snapshot{
		Model: "ranker", Version: "v4", BaselineID: "ab12",
		EvaluatedAt: time.Unix(1_800_000_000, 0),
		Report: drift.Report{
			Features: []drift.FeatureReport{{
				Name: "income", Samples: 1000, PSI: 5.5, KS: 0.9, Wasserstein: 3, JS: 0.8,
				Scale: 18300, Offset: 52100, FitR2: 0.999, Diagnosis: drift.UnscaledInput, Severity: drift.Critical,
				Summary: "the z-score scaler looks skipped at serving.",
			}, {Name: "age", Samples: 10, Diagnosis: drift.InsufficientData}},
			Embeddings: []drift.EmbeddingReport{{
				Name: "query", Samples: 500, UnitNormRatio: 0.69, CentroidCosine: 0.99,
				NormQuantiles: []drift.QuantilePair{{Q: 0.5, Ref: 1, Cur: 1}},
				Diagnosis:     drift.EmbeddingMixedNorms, Severity: drift.Warning,
			}},
		},
		Features: []engine.FeatureDistribution{{
			Name: "income",
			Cur:  engine.Moments{Count: 1000, Sum: 52.1e6, Mean: 52100, StdDev: 18300, Quantiles: []float64{9000, 22000, 40000, 52000, 64000, 82000, 95000}},
			Ref:  engine.Moments{Count: 5000, Sum: 0, Mean: 0, StdDev: 1, Quantiles: []float64{-2.3, -1.6, -0.7, 0, 0.7, 1.6, 2.3}},
		}, {Name: "age", Cur: engine.Moments{Count: 10, Sum: 400, Mean: 40, StdDev: 3, Quantiles: []float64{35, 36, 38, 40, 42, 44, 45}}}},
		Embeddings: []engine.EmbeddingDistribution{{
			Name:     "query",
			Cur:      engine.Moments{Count: 500, Sum: 1200, Mean: 2.4, StdDev: 3, Quantiles: []float64{1, 1, 1, 1, 3, 9, 10}},
			Ref:      engine.Moments{Count: 800, Sum: 800, Mean: 1, Quantiles: []float64{1, 1, 1, 1, 1, 1, 1}},
			Edges:    []float64{0.5, 4, 7.5, 11},
			CurShare: []float64{0.7, 0.1, 0.2},
			RefShare: []float64{1, 0, 0},
		}},
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector(SourceFunc(func() []Snapshot { return []Snapshot{snapshot()} }))
	want := `
# HELP normwatch_drift_status Drift status of the feature or embedding: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause.
# TYPE normwatch_drift_status gauge
normwatch_drift_status{diagnosis="embedding_mixed_norms",embedding="query",feature="",model="ranker",model_version="v4"} 1
normwatch_drift_status{diagnosis="insufficient_data",embedding="",feature="age",model="ranker",model_version="v4"} 0
normwatch_drift_status{diagnosis="unscaled_input",embedding="",feature="income",model="ranker",model_version="v4"} 2
# HELP normwatch_normalization_scale Slope a of the fit Q_prod(q) = a*Q_base(q) + b over q in [0.05, 0.95].
# TYPE normwatch_normalization_scale gauge
normwatch_normalization_scale{feature="income",model="ranker",model_version="v4"} 18300
# HELP normwatch_embedding_unit_norm_ratio Share of the horizon's vectors whose L2 norm is within tolerance of 1.
# TYPE normwatch_embedding_unit_norm_ratio gauge
normwatch_embedding_unit_norm_ratio{embedding="query",model="ranker",model_version="v4"} 0.69
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"normwatch_drift_status", "normwatch_normalization_scale", "normwatch_embedding_unit_norm_ratio"))
	quantiles := `
# HELP normwatch_feature_quantile Quantiles of the feature's finite values in the comparison horizon; _count and _sum are the horizon's count and sum.
# TYPE normwatch_feature_quantile summary
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.01"} 35
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.05"} 36
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.25"} 38
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.5"} 40
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.75"} 42
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.95"} 44
normwatch_feature_quantile{feature="age",model="ranker",model_version="v4",quantile="0.99"} 45
normwatch_feature_quantile_sum{feature="age",model="ranker",model_version="v4"} 400
normwatch_feature_quantile_count{feature="age",model="ranker",model_version="v4"} 10
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.01"} 9000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.05"} 22000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.25"} 40000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.5"} 52000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.75"} 64000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.95"} 82000
normwatch_feature_quantile{feature="income",model="ranker",model_version="v4",quantile="0.99"} 95000
normwatch_feature_quantile_sum{feature="income",model="ranker",model_version="v4"} 5.21e+07
normwatch_feature_quantile_count{feature="income",model="ranker",model_version="v4"} 1000
# HELP normwatch_embedding_norm_quantile Quantiles of the L2 norms of the embedding's vectors in the comparison horizon; _count and _sum are the horizon's vectors and sum of norms.
# TYPE normwatch_embedding_norm_quantile summary
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.01"} 1
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.05"} 1
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.25"} 1
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.5"} 1
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.75"} 3
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.95"} 9
normwatch_embedding_norm_quantile{embedding="query",model="ranker",model_version="v4",quantile="0.99"} 10
normwatch_embedding_norm_quantile_sum{embedding="query",model="ranker",model_version="v4"} 1200
normwatch_embedding_norm_quantile_count{embedding="query",model="ranker",model_version="v4"} 500
# HELP normwatch_feature_mean Mean of the feature's finite values in the comparison horizon.
# TYPE normwatch_feature_mean gauge
normwatch_feature_mean{feature="age",model="ranker",model_version="v4"} 40
normwatch_feature_mean{feature="income",model="ranker",model_version="v4"} 52100
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(quantiles),
		"normwatch_feature_quantile", "normwatch_embedding_norm_quantile", "normwatch_feature_mean"))
	// The reference's quantiles: income's baseline and query's; age has none.
	require.Equal(t, 1, testutil.CollectAndCount(c, "normwatch_baseline_feature_quantile"))
	require.Equal(t, 1, testutil.CollectAndCount(c, "normwatch_baseline_embedding_norm_quantile"))
	require.Equal(t, 2, testutil.CollectAndCount(c, "normwatch_feature_stddev"))
	// A feature with too little data has a status but no drift figures.
	require.Equal(t, 1, testutil.CollectAndCount(c, "normwatch_drift_psi"))
	lint, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, lint)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	src := SourceFunc(func() []Snapshot { return []Snapshot{snapshot()} })
	reg.MustRegister(NewCollector(src))
	ready := false
	s, err := NewServer(ServerOptions{
		Listen: "127.0.0.1:0", Gatherer: reg, Source: src, Logger: slog.New(slog.DiscardHandler),
		Notices: func() []Notice {
			return []Notice{{Title: "baseline refused", Detail: "baselines/ranker/v5/x.json: <truncated JSON>"}}
		},
		Ready: map[string]Check{"consumer": func() error {
			if !ready {
				return io.ErrUnexpectedEOF
			}
			return nil
		}},
	})
	require.NoError(t, err)
	go func() { _ = s.Run() }()
	defer s.Stop()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	require.Equal(t, 200, code)
	code, body := get("/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "consumer: unexpected EOF")
	ready = true
	code, _ = get("/readyz")
	require.Equal(t, 200, code)
	code, body = get("/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `normwatch_drift_ks{feature="income",model="ranker",model_version="v4"} 0.9`)
	code, body = get("/")
	require.Equal(t, 200, code)
	require.Contains(t, body, "income on ranker v4: the z-score scaler looks skipped at serving.")
	require.Contains(t, body, `<polyline class="ref" points="`)
	require.Contains(t, body, `<polyline class="cur s2" points="`)
	require.Contains(t, body, `<li class="notice"><b>baseline refused</b>: baselines/ranker/v5/x.json: &lt;truncated JSON&gt;</li>`, "notices shown, escaped")
	code, _ = get("/nope")
	require.Equal(t, 404, code)
}

// The metrics of real evaluations of the demo's traffic pass promtool's
// lint, quantile summaries included.
func TestDemoMetricsLint(t *testing.T) {
	snaps := demoSnapshots(t)
	c := NewCollector(SourceFunc(func() []Snapshot { return snaps }))
	lint, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, lint)
	// 2 versions × 5 features, current and baseline; 2 × 1 embedding.
	require.Equal(t, 10, testutil.CollectAndCount(c, "normwatch_feature_quantile"))
	require.Equal(t, 10, testutil.CollectAndCount(c, "normwatch_baseline_feature_quantile"))
	require.Equal(t, 2, testutil.CollectAndCount(c, "normwatch_embedding_norm_quantile"))
}

// TestStatusPageFaults: the internal errors caught on a version show on
// its section of the status page.
func TestStatusPageFaults(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	snaps := []Snapshot{
		{Model: "m", Version: "v1", Faults: []engine.Fault{{Component: engine.ComponentClose, Subject: "score", Error: "sketch: merge of a Numeric with itself", Count: 3, First: now, Last: now}}},
		{Model: "m", Version: "v2"},
	}
	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, newPage(snaps, now, StatusOptions{})))
	html := b.String()
	require.Equal(t, 1, strings.Count(html, `class="faults"`), "only the version with faults")
	require.Contains(t, html, `window_close of score: 3×`)
	require.Contains(t, html, "merge of a Numeric with itself")
}

// TestStaleAndLeftVersions: a stale version's figures stay on the status
// page, marked, but leave /metrics; versions that left are listed with
// why.
func TestStaleAndLeftVersions(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rep := drift.Report{Features: []drift.FeatureReport{{Name: "x", Diagnosis: drift.OK, Samples: 500}}}
	snaps := []Snapshot{
		{Model: "m", Version: "v1", Report: rep, State: engine.StateStale, LastEvent: now.Add(-5 * time.Minute)},
		{Model: "m", Version: "v2", Report: rep, State: engine.StateActive},
		{Model: "m", Version: "v0", State: engine.StateRetired, Reason: "no events for 1h0m0s (limits.version_idle_timeout 1h0m0s)", Left: now},
		{Model: "m", Version: "old", State: engine.StateEvicted, Reason: "evicted at a cap for m v2", Left: now},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(SourceFunc(func() []Snapshot { return snaps })))
	n, err := testutil.GatherAndCount(reg, "normwatch_drift_status")
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the active version's status is exported")

	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, newPage(snaps, now, StatusOptions{})))
	html := b.String()
	require.Equal(t, 2, strings.Count(html, `<section class="version"`))
	require.Equal(t, 1, strings.Count(html, `<span class="stale">stale</span>`))
	require.Contains(t, html, "No events since 2026-12-01 09:55:00Z")
	require.Equal(t, 2, strings.Count(html, `class="left-row"`))
	require.Contains(t, html, "limits.version_idle_timeout")
	require.Contains(t, html, "evicted at a cap for m v2")
}

// A version whose events carry nothing the decoder reads is a sentence
// that says so and where the decoder looks, not an empty table.
func TestStatusPageVersionWithoutRows(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	snaps := []Snapshot{
		{Model: "flat", Version: "v1", WindowEnd: now, EvaluatedAt: now},
		{Model: "m", Version: "v2", Report: drift.Report{Features: []drift.FeatureReport{{Name: "x", Diagnosis: drift.OK, Samples: 500}}}},
	}
	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, newPage(snaps, now, StatusOptions{})))
	html := b.String()
	require.Equal(t, 2, strings.Count(html, `<section class="version"`))
	require.Equal(t, 1, strings.Count(html, "<table>"), "a table for m v2 only")
	require.Equal(t, 1, strings.Count(html, `class="meta no-rows"`))
	require.Contains(t, html, "decode.features_path, decode.embeddings_path")
}

// TestPprofSwitch: the profiles are served only when asked for.
func TestPprofSwitch(t *testing.T) {
	for _, on := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, Source: SourceFunc(func() []Snapshot { return nil }),
			Logger: slog.New(slog.DiscardHandler), Pprof: on})
		require.NoError(t, err)
		go func() { _ = s.Run() }()
		resp, err := http.Get("http://" + s.Addr() + "/debug/pprof/heap?debug=1")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.Stop()
		if on {
			require.Equal(t, 200, resp.StatusCode)
			require.Contains(t, string(b), "heap profile")
		} else {
			require.Equal(t, 404, resp.StatusCode)
		}
	}
}
