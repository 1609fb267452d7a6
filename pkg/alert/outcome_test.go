package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// TestOutcomeAlert: an outcome regressed against both its previous and
// its live version pages once, as OutcomeRegression with the label
// outcome and the worse comparison's diagnosis and sentence.
func TestOutcomeAlert(t *testing.T) {
	rec := &recorder{}
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, rec)
	require.NoError(t, err)
	rep := drift.Report{Outcomes: []drift.OutcomeReport{
		{Name: "eval_pass", Against: drift.VersusPrevious, RefVersion: "v1", Diagnosis: drift.OutcomeRegression, Severity: drift.Warning, Summary: "the rate fell."},
		{Name: "eval_pass", Against: drift.VersusLive, RefVersion: "v0", Diagnosis: drift.QueryNormalizationSuspect, Severity: drift.Critical, Summary: "inspect query-side normalization."},
		{Name: "context_recall", Against: drift.VersusPrevious, RefVersion: "v1", Diagnosis: drift.OK},
	}}
	at := time.Unix(1_800_000_000, 0)
	m.Observe("rag", "v2", rep, at)
	active := m.Active()
	require.Len(t, active, 1)
	a := active[0]
	require.Equal(t, OutcomeRegression, a.Labels.Get("alertname"))
	require.Equal(t, "eval_pass", a.Labels.Get("outcome"))
	require.Equal(t, "critical", a.Labels.Get("severity"))
	require.Equal(t, string(drift.QueryNormalizationSuspect), a.Labels.Get("diagnosis"))
	require.Equal(t, "eval_pass on rag v2: inspect query-side normalization.", a.Annotations["summary"])

	m.Observe("rag", "v2", drift.Report{Outcomes: []drift.OutcomeReport{{Name: "eval_pass", Diagnosis: drift.OK}}}, at.Add(time.Minute))
	require.Empty(t, m.Active())
}

// TestOutcomeAlertHeldOnThinEvidence: a firing outcome alert neither
// resolves nor changes while its outcome has too little evidence either
// way (insufficient_data: too few values, or a move beyond the points that
// is not significant), and resolves after resolve_after clean ones; a
// feature's alert, beside it, is not held by the outcome.
func TestOutcomeAlertHeldOnThinEvidence(t *testing.T) {
	rec := &recorder{}
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 2}, rec)
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	regressed := drift.Report{
		Outcomes: []drift.OutcomeReport{{Name: "eval_pass", Against: drift.VersusPrevious, RefVersion: "v1", Diagnosis: drift.OutcomeRegression, Severity: drift.Critical, Summary: "the rate fell."}},
		Features: []drift.FeatureReport{{Name: "income", Diagnosis: drift.UnscaledInput, Severity: drift.Critical, Summary: "skipped."}},
	}
	m.Observe("rag", "v2", regressed, at)
	require.Len(t, m.Active(), 2)
	thin := drift.Report{Outcomes: []drift.OutcomeReport{{Name: "eval_pass", Against: drift.VersusPrevious, RefVersion: "v1", Diagnosis: drift.InsufficientData, Summary: "not significant."}}}
	for i := 1; i <= 5; i++ {
		changes := m.Observe("rag", "v2", thin, at.Add(time.Duration(i)*time.Minute))
		active := m.Active()
		if i < 2 {
			require.Len(t, active, 2, "evaluation %d", i)
			continue
		}
		// The feature's alert resolved after two clean evaluations; the
		// outcome's is held, unchanged.
		require.Len(t, active, 1, "evaluation %d", i)
		require.Equal(t, "eval_pass", active[0].Labels.Get("outcome"))
		require.Equal(t, "eval_pass on rag v2: the rate fell.", active[0].Annotations["summary"])
		for _, c := range changes {
			require.NotEqual(t, "eval_pass", c.Alert.Labels.Get("outcome"), "no change to the held alert")
		}
	}
	ok := drift.Report{Outcomes: []drift.OutcomeReport{{Name: "eval_pass", Against: drift.VersusPrevious, RefVersion: "v1", Diagnosis: drift.OK}}}
	m.Observe("rag", "v2", ok, at.Add(10*time.Minute))
	require.Len(t, m.Active(), 1)
	m.Observe("rag", "v2", ok, at.Add(11*time.Minute))
	require.Empty(t, m.Active())
}

// TestAlertHeldOnInsufficientData: an embedding's firing alert stays as
// it is while its horizon holds too few vectors to judge (a thinning
// stream), and resolves after resolve_after clean evaluations once there
// are enough again.
func TestAlertHeldOnInsufficientData(t *testing.T) {
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 2}, &recorder{})
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	emb := func(d drift.Diagnosis, s drift.Severity) drift.Report {
		return drift.Report{Embeddings: []drift.EmbeddingReport{{Name: "hidden", Diagnosis: d, Severity: s, Summary: "activations fit RMSNorm."}}}
	}
	m.Observe("search", "v2", emb(drift.ActivationNormChange, drift.Critical), at)
	require.Len(t, m.Active(), 1)
	for i := 1; i <= 4; i++ {
		require.Empty(t, m.Observe("search", "v2", emb(drift.InsufficientData, drift.SeverityOK), at.Add(time.Duration(i)*time.Minute)))
		require.Len(t, m.Active(), 1, "held at evaluation %d", i)
	}
	m.Observe("search", "v2", emb(drift.OK, drift.SeverityOK), at.Add(10*time.Minute))
	require.Len(t, m.Active(), 1)
	m.Observe("search", "v2", emb(drift.OK, drift.SeverityOK), at.Add(11*time.Minute))
	require.Empty(t, m.Active())
}
