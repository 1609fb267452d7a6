package export

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// TestOutcomeMetrics: the outcome curves' metrics of a report,
// promtool-clean; one status per outcome, the worse comparison's.
func TestOutcomeMetrics(t *testing.T) {
	s := snapshot()
	s.Report.Outcomes = []drift.OutcomeReport{
		{Name: "eval_pass", Kind: drift.OutcomeRate, Against: drift.VersusPrevious, RefVersion: "v3", Samples: 3000, RefSamples: 2800,
			Mean: 0.84, RefMean: 0.9, DeltaPoints: -6, PValue: 1e-11, Diagnosis: drift.OutcomeRegression, Severity: drift.Critical},
		{Name: "eval_pass", Kind: drift.OutcomeRate, Against: drift.VersusLive, RefVersion: "v2", Samples: 3000, RefSamples: 9000,
			Mean: 0.84, RefMean: 0.85, DeltaPoints: -1, PValue: 0.2, Diagnosis: drift.OK},
		{Name: "context_recall", Kind: drift.OutcomeMean, Against: drift.VersusPrevious, RefVersion: "v3", Samples: 50, RefSamples: 2800,
			Mean: 0.7, RefMean: 0.8, DeltaPoints: -10, PValue: 1, Diagnosis: drift.InsufficientData},
	}
	c := NewCollector(SourceFunc(func() []Snapshot { return []Snapshot{s} }))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
	want := `
# HELP normwatch_outcome_delta_points Outcome of the horizon minus the reference version's, in points (100 × the difference: percentage points of a rate).
# TYPE normwatch_outcome_delta_points gauge
normwatch_outcome_delta_points{against="live",model="ranker",model_version="v4",outcome="eval_pass"} -1
normwatch_outcome_delta_points{against="previous",model="ranker",model_version="v4",outcome="context_recall"} -10
normwatch_outcome_delta_points{against="previous",model="ranker",model_version="v4",outcome="eval_pass"} -6
# HELP normwatch_outcome_mean Rate (of a 0/1 outcome) or mean (of a score) of the outcome's values in the comparison horizon.
# TYPE normwatch_outcome_mean gauge
normwatch_outcome_mean{model="ranker",model_version="v4",outcome="context_recall"} 0.7
normwatch_outcome_mean{model="ranker",model_version="v4",outcome="eval_pass"} 0.84
# HELP normwatch_outcome_p_value Two-sided p-value of the difference from the reference version (two-proportion z-test for a rate, Welch's t-test for a mean).
# TYPE normwatch_outcome_p_value gauge
normwatch_outcome_p_value{against="live",model="ranker",model_version="v4",outcome="eval_pass"} 0.2
normwatch_outcome_p_value{against="previous",model="ranker",model_version="v4",outcome="eval_pass"} 1e-11
# HELP normwatch_outcome_reference_mean Rate or mean of the outcome in the reference version (against: previous, live) the horizon is compared with; its version in ref_version.
# TYPE normwatch_outcome_reference_mean gauge
normwatch_outcome_reference_mean{against="live",model="ranker",model_version="v4",outcome="eval_pass",ref_version="v2"} 0.85
normwatch_outcome_reference_mean{against="previous",model="ranker",model_version="v4",outcome="context_recall",ref_version="v3"} 0.8
normwatch_outcome_reference_mean{against="previous",model="ranker",model_version="v4",outcome="eval_pass",ref_version="v3"} 0.9
# HELP normwatch_outcome_samples Values of the outcome in the comparison horizon.
# TYPE normwatch_outcome_samples gauge
normwatch_outcome_samples{model="ranker",model_version="v4",outcome="context_recall"} 50
normwatch_outcome_samples{model="ranker",model_version="v4",outcome="eval_pass"} 3000
# HELP normwatch_outcome_status Outcome status: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause (outcome_regression, query_normalization_suspect), of the worse comparison.
# TYPE normwatch_outcome_status gauge
normwatch_outcome_status{diagnosis="insufficient_data",model="ranker",model_version="v4",outcome="context_recall"} 0
normwatch_outcome_status{diagnosis="outcome_regression",model="ranker",model_version="v4",outcome="eval_pass"} 2
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"normwatch_outcome_delta_points", "normwatch_outcome_mean", "normwatch_outcome_p_value",
		"normwatch_outcome_reference_mean", "normwatch_outcome_samples", "normwatch_outcome_status"))
}

// TestOutcomeStatusRows: the status page shows one row per outcome, the
// worse comparison's, with its figures as data attributes.
func TestOutcomeStatusRows(t *testing.T) {
	s := snapshot()
	s.Report.Outcomes = []drift.OutcomeReport{
		{Name: "eval_pass", Against: drift.VersusPrevious, RefVersion: "v3", Samples: 3000, RefSamples: 2800, Mean: 0.84, RefMean: 0.9,
			DeltaPoints: -6, PValue: 1e-11, Diagnosis: drift.OutcomeRegression, Severity: drift.Critical, Summary: "the rate fell to 84% from 90%."},
		{Name: "eval_pass", Against: drift.VersusLive, RefVersion: "v2", Samples: 3000, RefSamples: 9000, Mean: 0.84, RefMean: 0.85,
			DeltaPoints: -1, PValue: 0.2, Diagnosis: drift.OK, Summary: "within bounds."},
	}
	var b strings.Builder
	require.NoError(t, statusPage.Execute(&b, newPage([]Snapshot{s}, s.EvaluatedAt, StatusOptions{})))
	body := b.String()
	require.Equal(t, 1, strings.Count(body, `data-signal="outcome"`), body)
	require.Contains(t, body, `data-name="eval_pass" data-signal="outcome" data-mean="0.84" data-samples="3000" data-against="previous" data-ref-version="v3" data-ref-mean="0.9" data-delta-points="-6" data-p-value="1e-11"`)
	require.Contains(t, body, "eval_pass on ranker v4: the rate fell to 84% from 90%.")
	require.Contains(t, body, "outcome_regression")
}
