package drift

import (
	"math"
	"strconv"
	"strings"
)

// Diagnosis names the most likely cause of what a comparison found. Its
// values are stable: dashboards, alert rules and users depend on them.
type Diagnosis string

// The diagnoses, in the words of DESIGN.md.
const (
	OK                    Diagnosis = "ok"
	UnscaledInput         Diagnosis = "unscaled_input"
	DoubleScaled          Diagnosis = "double_scaled"
	ScaleChange           Diagnosis = "scale_change"
	Shift                 Diagnosis = "shift"
	ScalerRefit           Diagnosis = "scaler_refit"
	RangeViolation        Diagnosis = "range_violation"
	DistributionChange    Diagnosis = "distribution_change"
	ScoreCompression      Diagnosis = "score_compression"
	EmbeddingUnnormalized Diagnosis = "embedding_unnormalized"
	EmbeddingMixedNorms   Diagnosis = "embedding_mixed_norms"
	EmbeddingModelChange  Diagnosis = "embedding_model_change"
	EmbeddingDimMismatch  Diagnosis = "embedding_dim_mismatch"
	MissingSpike          Diagnosis = "missing_spike"
	NonFiniteValues       Diagnosis = "nonfinite_values"
	InsufficientData      Diagnosis = "insufficient_data"
	NoBaseline            Diagnosis = "no_baseline"
)

// Diagnoses lists every diagnosis, for metrics that create their series up
// front.
var Diagnoses = []Diagnosis{
	OK, UnscaledInput, DoubleScaled, ScaleChange, Shift, ScalerRefit,
	RangeViolation, DistributionChange, ScoreCompression,
	EmbeddingUnnormalized, EmbeddingMixedNorms, EmbeddingModelChange,
	EmbeddingDimMismatch, MissingSpike, NonFiniteValues, InsufficientData,
	NoBaseline,
}

// Severity grades a report: the value of the drift_status metric.
type Severity int

// Severities, ordered.
const (
	SeverityOK Severity = 0
	Warning    Severity = 1
	Critical   Severity = 2
)

// String returns "ok", "warning" or "critical", the alert label values.
func (s Severity) String() string {
	switch s {
	case SeverityOK:
		return "ok"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// Subject returns how a sentence names a feature or embedding of a model
// version: "income on ranker v4".
func Subject(name, model, version string) string {
	s := name
	if model != "" {
		s += " on " + model
		if version != "" {
			s += " " + version
		}
	}
	return s
}

// Sentence prefixes a report's summary with its subject: the one sentence
// an alert carries.
func Sentence(subject, summary string) string {
	if subject == "" {
		return summary
	}
	return subject + ": " + summary
}

// num formats x for people: three significant digits, no exponent between
// 1e-4 and 1e9, "-" never in front of a zero.
func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case math.IsInf(x, 1):
		return "∞"
	case math.IsInf(x, -1):
		return "-∞"
	case x == 0:
		return "0"
	}
	ax := math.Abs(x)
	if ax >= 1e9 || ax < 1e-4 {
		s := strconv.FormatFloat(x, 'e', 2, 64)
		mant, exp, _ := strings.Cut(s, "e")
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
		e, _ := strconv.Atoi(exp)
		return mant + "e" + strconv.Itoa(e)
	}
	mag := int(math.Floor(math.Log10(ax)))
	dec := 2 - mag // three significant digits
	if dec <= 0 {
		p := math.Pow(10, float64(-dec))
		r := math.Round(x/p) * p
		if r == 0 {
			return "0"
		}
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	s := strconv.FormatFloat(x, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// shares formats k of n and the rest as percentages with one decimal that
// add up to exactly 100%: "69.1%" and "30.9%". A share that rounds to 0 or
// 100 but is not is "<0.1%" or ">99.9%".
func shares(k, n uint64) (part, rest string) {
	if n == 0 {
		return "0%", "0%"
	}
	return split(float64(k) / float64(n))
}

// split formats the share w of a whole and the rest of it as shares does.
func split(w float64) (part, rest string) {
	w = clamp01(w)
	t := math.Round(1000 * w)
	switch {
	case w > 0 && t == 0:
		return "<0.1%", ">99.9%"
	case w < 1 && t == 1000:
		return ">99.9%", "<0.1%"
	}
	return tenths(t), tenths(1000 - t)
}

// partition formats shares that are the parts of one share (below the
// range and above it), each to a tenth of a percent, and that share as the
// sum of what is shown, so that the parts add up to it.
func partition(parts ...float64) (shown []string, total string) {
	var sum, all float64
	for _, p := range parts {
		t := math.Round(1000 * clamp01(p))
		sum += t
		all += p
		if p > 0 && t == 0 {
			shown = append(shown, "<0.1%")
			continue
		}
		shown = append(shown, tenths(t))
	}
	total = tenths(sum)
	if sum == 0 && all > 0 {
		total = "<0.1%"
	}
	return shown, total
}

// tenths formats t tenths of a percent: "69.1%".
func tenths(t float64) string { return strconv.FormatFloat(t/10, 'f', -1, 64) + "%" }

// pct formats a share as a percentage with up to three significant
// digits; a share short of 1 that would read 100% is ">99.9%".
func pct(x float64) string {
	s := num(100 * x)
	if x < 1 && s == "100" {
		return ">99.9%"
	}
	return s + "%"
}

// r2s formats a fit's r², rounded down so 0.9996 never reads as a perfect 1.
func r2s(r2 float64) string {
	if math.IsNaN(r2) {
		return "n/a"
	}
	return strconv.FormatFloat(math.Floor(r2*1000)/1000, 'f', 3, 64)
}

// zTwoSided returns the standard normal z with P(|Z| > z) = alpha.
func zTwoSided(alpha float64) float64 {
	return math.Sqrt2 * math.Erfinv(1-alpha)
}

// proportionRise tests whether the share k/n of the current sample exceeds
// the reference share kr/nr: it returns the rise and whether it is
// significant at alpha, one-sided. Under the null both samples share the
// pooled rate, and the current count is Poisson with mean n·pooled: the
// exact Poisson tail, not a normal approximation, because the counts that
// matter (NaN, missing) are often a handful, where a z-test fires on noise.
func proportionRise(k, n, kr, nr uint64, alpha float64) (rise float64, significant bool) {
	if n == 0 {
		return 0, false
	}
	p := float64(k) / float64(n)
	pr := 0.0
	if nr > 0 {
		pr = float64(kr) / float64(nr)
	}
	rise = p - pr
	if rise <= 0 {
		return rise, false
	}
	pool := float64(k+kr) / float64(n+nr)
	return rise, poissonSF(k, float64(n)*pool) < alpha
}

// poissonSF returns P(X >= k) for X Poisson with mean lambda.
func poissonSF(k uint64, lambda float64) float64 {
	if k == 0 {
		return 1
	}
	if lambda <= 0 {
		return 0
	}
	fk := float64(k)
	sd := math.Sqrt(lambda)
	if fk > lambda+40*sd+50 {
		return 0 // far beyond any alpha
	}
	if lambda > 1000 {
		// Normal approximation with continuity correction.
		return 0.5 * math.Erfc((fk-0.5-lambda)/(sd*math.Sqrt2))
	}
	// P(X < k) summed from the terms in log space.
	var cdf float64
	logTerm := -lambda
	for i := uint64(0); i < k; i++ {
		if i > 0 {
			logTerm += math.Log(lambda) - math.Log(float64(i))
		}
		cdf += math.Exp(logTerm)
	}
	return math.Max(0, 1-cdf)
}

func sanitize(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return math.Min(math.Max(x, 0), 1)
}

// affine formats "production ≈ a × training + b".
func affine(a, b float64) string {
	s := "production ≈ " + num(a) + " × training"
	switch {
	case b > 0:
		s += " + " + num(b)
	case b < 0:
		s += " − " + num(-b)
	}
	return s
}
