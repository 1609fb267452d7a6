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
