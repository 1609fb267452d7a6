package drift

import (
	"fmt"
	"math"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// The outcome diagnoses, stable label values.
const (
	// OutcomeRegression: a named outcome of a model version (an eval pass
	// rate, a recall score) is worse than its reference version's by more
	// than the configured points, and the difference is significant.
	OutcomeRegression Diagnosis = "outcome_regression"
	// QueryNormalizationSuspect: two outcomes configured to fall together
	// (context relevance and context recall) both regressed in the same
	// windows: the signature of a query-side normalization bug.
	QueryNormalizationSuspect Diagnosis = "query_normalization_suspect"
)

func init() { Diagnoses = append(Diagnoses, OutcomeRegression, QueryNormalizationSuspect) }

// OutcomeKind is how an outcome is summarised and tested.
type OutcomeKind string

// Outcome kinds, stable config values.
const (
	// OutcomeRate: values are 0 or 1 (a pass or fail); the rate is tested
	// with a two-proportion z-test.
	OutcomeRate OutcomeKind = "rate"
	// OutcomeMean: values are scores; the mean is tested with Welch's
	// t-test.
	OutcomeMean OutcomeKind = "mean"
)

// Reference roles of an outcome comparison, stable label values.
const (
	VersusPrevious = "previous" // the version of the model first seen before this one
	VersusLive     = "live"     // the model's version with the most events in the horizon
)

// OutcomeSpec configures one tracked outcome.
type OutcomeSpec struct {
	Name string
	Kind OutcomeKind
	// LowerIsBetter turns the direction of a regression (an error rate).
	LowerIsBetter bool
	// MaxDeltaPoints is the largest move in the worse direction, in points
	// (hundredths of the outcome's unit: percentage points of a rate,
	// 0.01 of a score), that is not a regression.
	MaxDeltaPoints float64
	// Alpha is the significance level of the test (two-sided).
	Alpha float64
	// MinSamples is the fewest values each side needs to be judged.
	MinSamples int
	// FallsWith names another outcome: both regressing in the same
	// evaluation is QueryNormalizationSuspect.
	FallsWith string
}

// OutcomeReport is the comparison of one outcome of a model version with
// one reference version's, over the same windows.
type OutcomeReport struct {
	Name       string      `json:"name"`
	Kind       OutcomeKind `json:"kind"`
	Against    string      `json:"against"` // VersusPrevious or VersusLive
	RefVersion string      `json:"ref_version"`
	Samples    uint64      `json:"samples"`
	RefSamples uint64      `json:"ref_samples"`
	Mean       float64     `json:"mean"` // the rate of a rate outcome
	RefMean    float64     `json:"ref_mean"`
	StdDev     float64     `json:"stddev"`
	RefStdDev  float64     `json:"ref_stddev"`
	// DeltaPoints is 100 × (Mean − RefMean): negative is lower.
	DeltaPoints float64 `json:"delta_points"`
	// Statistic is the test's z or t, PValue its two-sided p-value and
	// DF the Welch degrees of freedom (0 for a z-test).
	Statistic float64   `json:"statistic"`
	PValue    float64   `json:"p_value"`
	DF        float64   `json:"df,omitempty"`
	Diagnosis Diagnosis `json:"diagnosis"`
	Severity  Severity  `json:"severity"`
	Summary   string    `json:"summary"`
}

// WorstOutcomes returns one report per outcome name, in the order the
// names first appear: of its comparisons (against the previous and the
// live version) the most severe, the first on a tie, so that an outcome
// pages and shows once.
func WorstOutcomes(reps []OutcomeReport) []OutcomeReport {
	var out []OutcomeReport
	at := map[string]int{}
	for _, o := range reps {
		i, ok := at[o.Name]
		switch {
		case !ok:
			at[o.Name] = len(out)
			out = append(out, o)
		case o.Severity > out[i].Severity:
			out[i] = o
		}
	}
	return out
}

// CompareOutcome compares cur with ref, the same outcome of the reference
// version over the same windows. It is a regression when the move in the
// worse direction is more than spec.MaxDeltaPoints and the test's p-value
// is below spec.Alpha; critical beyond twice the points. Fewer than
// spec.MinSamples values on either side is InsufficientData, and so is a
// move beyond the points that is not significant: neither a regression
// nor evidence that there is none (an alert stays as it is).
func CompareOutcome(spec OutcomeSpec, cur, ref sketch.Moments, against, refVersion string) OutcomeReport {
	r := OutcomeReport{
		Name: spec.Name, Kind: spec.Kind, Against: against, RefVersion: refVersion,
		Samples: uint64(cur.N), RefSamples: uint64(ref.N),
		Mean: cur.Mean, RefMean: ref.Mean, StdDev: cur.StdDev(), RefStdDev: ref.StdDev(),
		Diagnosis: OK, PValue: 1, DeltaPoints: 100 * (cur.Mean - ref.Mean),
	}
	ver := against + " version " + refVersion
	if cur.N < float64(spec.MinSamples) || ref.N < float64(spec.MinSamples) || cur.N < 2 || ref.N < 2 {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("%s values in the horizon and %s in the %s; at least %d each are needed to compare the outcome.",
			num(cur.N), num(ref.N), ver, spec.MinSamples)
		return r
	}
	if spec.Kind == OutcomeRate {
		r.Statistic, r.PValue = TwoProportionZ(cur.Mean*cur.N, cur.N, ref.Mean*ref.N, ref.N)
	} else {
		r.Statistic, r.DF, r.PValue = WelchT(cur.Mean, cur.SampleVariance(), cur.N, ref.Mean, ref.SampleVariance(), ref.N)
	}
	worse := -r.DeltaPoints
	if spec.LowerIsBetter {
		worse = r.DeltaPoints
	}
	level := func(m float64) string {
		if spec.Kind == OutcomeRate {
			return num(100*m) + "%"
		}
		return num(m)
	}
	what := "the rate"
	if spec.Kind == OutcomeMean {
		what = "the mean"
	}
	if worse > spec.MaxDeltaPoints && r.PValue < spec.Alpha {
		r.Diagnosis, r.Severity = OutcomeRegression, Warning
		if worse > 2*spec.MaxDeltaPoints {
			r.Severity = Critical
		}
		r.Summary = fmt.Sprintf("%s %s to %s from %s in the %s (%s points, more than the %s allowed; p=%s on %s and %s values): inspect normalization.",
			what, moved(r.DeltaPoints), level(cur.Mean), level(ref.Mean), ver,
			points(r.DeltaPoints), num(spec.MaxDeltaPoints), num(r.PValue), num(cur.N), num(ref.N))
		return r
	}
	why := "within the " + num(spec.MaxDeltaPoints) + " points allowed"
	if worse > spec.MaxDeltaPoints {
		r.Diagnosis = InsufficientData
		why = "beyond the " + num(spec.MaxDeltaPoints) + " points allowed but not significant at " + num(spec.Alpha) +
			" on " + num(cur.N) + " and " + num(ref.N) + " values: more values are needed to tell"
	}
	r.Summary = fmt.Sprintf("%s is %s against %s in the %s (%s points, p=%s): %s.", what, level(cur.Mean), level(ref.Mean),
		ver, points(r.DeltaPoints), num(r.PValue), why)
	return r
}

// points formats a delta in points with its sign: "+1.5", "-6".
func points(x float64) string {
	if x > 0 {
		return "+" + num(x)
	}
	return num(x)
}

func moved(delta float64) string {
	if delta < 0 {
		return "fell"
	}
	return "rose"
}

// FallTogether marks the pairs of spec.FallsWith whose outcomes both
// regressed against the same reference in reps: each becomes
// QueryNormalizationSuspect, critical, with a sentence naming both.
func FallTogether(specs []OutcomeSpec, reps []OutcomeReport) {
	find := func(name, against string) *OutcomeReport {
		for i := range reps {
			if reps[i].Name == name && reps[i].Against == against {
				return &reps[i]
			}
		}
		return nil
	}
	for _, s := range specs {
		if s.FallsWith == "" {
			continue
		}
		for _, against := range []string{VersusPrevious, VersusLive} {
			a, b := find(s.Name, against), find(s.FallsWith, against)
			if a == nil || b == nil || a.RefVersion != b.RefVersion ||
				(a.Diagnosis != OutcomeRegression && a.Diagnosis != QueryNormalizationSuspect) ||
				(b.Diagnosis != OutcomeRegression && b.Diagnosis != QueryNormalizationSuspect) {
				continue
			}
			for _, x := range []*OutcomeReport{a, b} {
				other := b
				if x == b {
					other = a
				}
				x.Diagnosis, x.Severity = QueryNormalizationSuspect, Critical
				x.Summary = fmt.Sprintf("%s and %s fell together against the %s version %s (%s and %s points, p=%s and %s), the signature of queries embedded unlike the index: inspect query-side normalization.",
					x.Name, other.Name, against, x.RefVersion, points(x.DeltaPoints), points(other.DeltaPoints), num(x.PValue), num(other.PValue))
			}
		}
	}
}

// TwoProportionZ is the two-proportion z-test with the pooled proportion
// of x1 successes in n1 trials against x2 in n2: z and its two-sided
// p-value. Both proportions 0 or both 1 give z 0 and p 1.
func TwoProportionZ(x1, n1, x2, n2 float64) (z, p float64) {
	p1, p2 := x1/n1, x2/n2
	pool := (x1 + x2) / (n1 + n2)
	se := math.Sqrt(pool * (1 - pool) * (1/n1 + 1/n2))
	if !(se > 0) {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

// WelchT is Welch's unequal-variances t-test of means m1 and m2 with
// sample variances v1 and v2 of n1 and n2 values: t, the
// Welch-Satterthwaite degrees of freedom and the two-sided p-value.
// Both variances 0 give t ±Inf (p 0) for different means, 0 (p 1) for
// equal ones.
func WelchT(m1, v1, n1, m2, v2, n2 float64) (t, df, p float64) {
	a, b := v1/n1, v2/n2
	se2 := a + b
	if !(se2 > 0) {
		if m1 == m2 {
			return 0, 0, 1
		}
		return math.Copysign(math.Inf(1), m1-m2), 0, 0
	}
	t = (m1 - m2) / math.Sqrt(se2)
	df = se2 * se2 / (a*a/(n1-1) + b*b/(n2-1))
	return t, df, StudentTSF2(t, df)
}

// StudentTSF2 is the two-sided tail probability P(|T| ≥ |t|) of Student's
// t distribution with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
func StudentTSF2(t, df float64) float64 {
	if math.IsInf(t, 0) {
		return 0
	}
	if math.IsNaN(t) || !(df > 0) {
		return math.NaN()
	}
	return RegIncBeta(df/2, 0.5, df/(df+t*t))
}

// RegIncBeta is the regularized incomplete beta function I_x(a, b), by
// the continued fraction of Numerical Recipes (Lentz's method), on the
// side where it converges fast.
func RegIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const (
		maxIter = 300
		eps     = 1e-16
		tiny    = 1e-300
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
