package export

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/normwatch/normwatch/pkg/drift"
)

// The metrics of the outcome curves (labels model, model_version,
// outcome; against is previous or live).
var (
	outcomeLabels      = []string{"model", "model_version", "outcome"}
	descOutcomeMean    = desc("outcome_mean", "Rate (of a 0/1 outcome) or mean (of a score) of the outcome's values in the comparison horizon.", outcomeLabels)
	descOutcomeSamples = desc("outcome_samples", "Values of the outcome in the comparison horizon.", outcomeLabels)
	descOutcomeRef     = desc("outcome_reference_mean", "Rate or mean of the outcome in the reference version (against: previous, live) the horizon is compared with; its version in ref_version.", outcomeLabels, "against", "ref_version")
	descOutcomeDelta   = desc("outcome_delta_points", "Outcome of the horizon minus the reference version's, in points (100 × the difference: percentage points of a rate).", outcomeLabels, "against")
	descOutcomeP       = desc("outcome_p_value", "Two-sided p-value of the difference from the reference version (two-proportion z-test for a rate, Welch's t-test for a mean).", outcomeLabels, "against")
	descOutcomeStatus  = desc("outcome_status", "Outcome status: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause (outcome_regression, query_normalization_suspect), of the worse comparison.", outcomeLabels, "diagnosis")
	outcomeDescs       = []*prometheus.Desc{descOutcomeMean, descOutcomeSamples, descOutcomeRef, descOutcomeDelta, descOutcomeP, descOutcomeStatus}
)

func collectOutcomes(gauge func(*prometheus.Desc, float64, ...string), s Snapshot) {
	for _, o := range s.Report.Outcomes {
		if o.Against == "" || o.RefSamples == 0 {
			continue
		}
		gauge(descOutcomeRef, o.RefMean, s.Model, s.Version, o.Name, o.Against, o.RefVersion)
		gauge(descOutcomeDelta, o.DeltaPoints, s.Model, s.Version, o.Name, o.Against)
		if o.Diagnosis != drift.InsufficientData {
			gauge(descOutcomeP, o.PValue, s.Model, s.Version, o.Name, o.Against)
		}
	}
	// The version's own figures are the same in each comparison.
	for _, o := range drift.WorstOutcomes(s.Report.Outcomes) {
		gauge(descOutcomeMean, o.Mean, s.Model, s.Version, o.Name)
		gauge(descOutcomeSamples, float64(o.Samples), s.Model, s.Version, o.Name)
		gauge(descOutcomeStatus, float64(o.Severity), s.Model, s.Version, o.Name, string(o.Diagnosis))
	}
}

// outcomeRows are the status page rows of a version's outcomes, one per
// outcome: its worse comparison (the previous version's on a tie), with
// its figures as data-* attributes (data-signal="outcome").
func outcomeRows(reps []drift.OutcomeReport, subject func(string) string) []rowView {
	var out []rowView
	for _, o := range drift.WorstOutcomes(reps) {
		data := []string{"mean", fig(o.Mean), "samples", strconv.FormatUint(o.Samples, 10)}
		if o.Against != "" {
			data = append(data, "against", o.Against, "ref-version", o.RefVersion, "ref-mean", fig(o.RefMean),
				"delta-points", fig(o.DeltaPoints), "p-value", fig(o.PValue))
		}
		r := rowView{Name: o.Name, Outcome: true, Signal: "outcome", Severity: o.Severity, Diagnosis: o.Diagnosis,
			Samples: o.Samples, Sentence: drift.Sentence(subject(o.Name), o.Summary), Data: attrs(data...)}
		out = append(out, r)
	}
	return out
}
