package export

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
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
	code, _ = get("/nope")
	require.Equal(t, 404, code)
}
