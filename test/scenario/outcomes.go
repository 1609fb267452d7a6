package scenario

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// The outcome curves. A scenario with Outcomes set has a second version
// of its model, v2 (oV2), first seen with v1: every request of v1 is
// followed by an event carrying its outcomes alone (as a label that comes
// after the request), and v2 sends V2Events such events a window, with
// the fault on its outcomes from the onset. The daemon tracks oPass
// (rate), oRelevance and oRecall (means, tied by falls_with).
const (
	oV2        = "v2"
	oPass      = "eval_pass"
	oRelevance = "context_relevance"
	oRecall    = "context_recall"
)

// outcomesConfig is the daemon's outcomes section.
const outcomesConfig = `outcomes:
  - {name: eval_pass, kind: rate, max_delta_points: 2}
  - {name: context_relevance, kind: mean, max_delta_points: 3, falls_with: context_recall}
  - {name: context_recall, kind: mean, max_delta_points: 3}
`

// outcomeLevels are a request's expected outcomes: pass rate, relevance
// and recall.
type outcomeLevels struct{ pass, rel, rec float64 }

var healthyOutcomes = outcomeLevels{0.9, 0.8, 0.82}

// outcomeTraffic draws outcome events, from its own generator so that a
// scenario's other draws stay as they were.
type outcomeTraffic struct {
	s *Scenario
	r *rand.Rand
}

func newOutcomeTraffic(s *Scenario) *outcomeTraffic {
	return &outcomeTraffic{s: s, r: rand.New(rand.NewPCG(s.Seed, 0x6f7574))}
}

// encode appends an outcome-only event of version at t, drawn around lv.
func (ot *outcomeTraffic) encode(b []byte, version string, lv outcomeLevels, t time.Time) []byte {
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"model":"`...)
	b = append(b, ot.s.ID...)
	b = append(b, `","model_version":"`...)
	b = append(b, version...)
	b = append(b, `","outcomes":{"`+oPass+`":`...)
	if ot.r.Float64() < lv.pass {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	clip := func(x float64) float64 { return min(1, max(0, x)) }
	b = append(b, `,"`+oRelevance+`":`...)
	b = strconv.AppendFloat(b, clip(lv.rel+0.15*ot.r.NormFloat64()), 'f', 4, 64)
	b = append(b, `,"`+oRecall+`":`...)
	b = strconv.AppendFloat(b, clip(lv.rec+0.15*ot.r.NormFloat64()), 'f', 4, 64)
	return append(b, "}}"...)
}

// v2Levels are v2's outcome levels in window k.
func (s *Scenario) v2Levels(k int) outcomeLevels {
	if s.outcomeFault != nil && k >= s.Onset {
		return *s.outcomeFault
	}
	return healthyOutcomes
}

// versions is how many versions of the scenario's model are evaluated
// each window.
func (s *Scenario) versions() int {
	if s.Outcomes {
		return 2
	}
	return 1
}

// outcomeScenarios are the faults of the outcome curves with their
// counter-cases, appended after the others so that those keep their ids
// and seeds.
func outcomeScenarios(size Size, pick func(int) int) []Scenario {
	mid := size.Windows / 2
	var out []Scenario
	outcome := func(fault, target, expect string, lv outcomeLevels) Scenario {
		return Scenario{Fault: fault, Target: target, Kind: "outcome", Expect: expect, Outcomes: true, V2Events: 500, outcomeFault: &lv}
	}
	// v2's pass rate falls 10 points.
	for i := range pick(2) {
		s := outcome("outcome_regression", oPass, "outcome_regression", outcomeLevels{0.8, 0.8, 0.82})
		s.Onset, s.Params = []int{0, mid}[i], "pass rate 90% → 80%"
		out = append(out, s)
	}
	// v2's relevance and recall fall together: query-side normalization.
	for i := range pick(2) {
		s := outcome("query_normalization_suspect", oRecall, "query_normalization_suspect", outcomeLevels{0.9, 0.68, 0.7})
		s.Also, s.Onset, s.Params = oRelevance, []int{mid, 0}[i], "relevance 0.80 → 0.68, recall 0.82 → 0.70"
		out = append(out, s)
	}
	// Counter-cases: v2 as good as v1; and v2 as good on 25 requests a
	// window, whose rate and means stray by more than the points allowed
	// from window to window (a standard error of 3 points for the rate):
	// without the significance test it would page.
	clean := Scenario{Fault: "clean", Params: "healthy outcomes, two versions", Outcomes: true, V2Events: 500}
	small := Scenario{Fault: "clean", Params: "healthy outcomes, v2 on 25 requests a window", Outcomes: true, V2Events: 25}
	return append(out, clean, small)
}
