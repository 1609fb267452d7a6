package drift

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// Feature is one numeric feature to compare.
type Feature struct {
	Name string
	// Ref is the reference sketch of the normalized values; nil means no
	// baseline.
	Ref *sketch.Numeric
	// Cur is the current horizon's sketch of the values the model gets.
	Cur *sketch.Numeric
	// Norm is the declared training normalization.
	Norm Normalization
	// Pair, optional, pairs the current raw and normalized values: the
	// transform actually applied at serving.
	Pair *sketch.Pair
	// Events, when known, is how many events the current horizon holds
	// (see Set.Events).
	Events uint64
}

// FeatureReport is the comparison of one numeric feature. Statistics that
// cannot be computed (too little data, a constant reference) are 0, so the
// report always encodes as JSON.
type FeatureReport struct {
	Name       string `json:"name"`
	Samples    uint64 `json:"samples"`     // current finite values
	RefSamples uint64 `json:"ref_samples"` // reference finite values

	PSI            float64 `json:"psi"`
	KS             float64 `json:"ks"`
	KSCritical     float64 `json:"ks_critical"` // at Thresholds.Alpha for the two sample sizes
	KSPValue       float64 `json:"ks_p_value"`
	Wasserstein    float64 `json:"wasserstein"` // W1 / σ_ref
	JS             float64 `json:"js"`
	MeanShiftSigma float64 `json:"mean_shift_sigma"`
	ScaleRatio     float64 `json:"scale_ratio"`
	OutOfRange     float64 `json:"out_of_range_ratio"`
	MissingRatio   float64 `json:"missing_ratio"`
	NonFiniteRatio float64 `json:"nonfinite_ratio"`

	// The normalization delta: Q_cur(q) ≈ Scale·Q_ref(q) + Offset.
	Scale  float64 `json:"scale"`
	Offset float64 `json:"offset"`
	FitR2  float64 `json:"fit_r2"`

	// The transform seen at serving (normalized ≈ slope·raw + intercept),
	// when a Pair was given.
	ServingSlope     float64 `json:"serving_slope,omitempty"`
	ServingIntercept float64 `json:"serving_intercept,omitempty"`

	// Share is the share of values the diagnosis is about, when it is not
	// all of them: the part of the traffic through another transform, or
	// beyond the training range.
	Share float64 `json:"share,omitempty"`
	// Muted tells that configuration mutes this feature: it is judged and
	// named, but its severity stays ok, so it never alerts.
	Muted bool `json:"muted,omitempty"`
	// Pending is a diagnosis seen in this evaluation that differs from the
	// one reported: names change only when the new one is seen twice in a
	// row (see Judge).
	Pending Diagnosis `json:"pending,omitempty"`

	Diagnosis  Diagnosis `json:"diagnosis"`
	Severity   Severity  `json:"severity"`
	Confidence float64   `json:"confidence"`
	// Summary is one sentence naming the cause with its numbers, without
	// its subject: see Sentence and Subject.
	Summary string `json:"summary"`
}

// fitQuantiles are the q of the normalization-delta fit: 0.05 to 0.95 by 0.01.
var fitQuantiles = func() []float64 {
	qs := make([]float64, 0, 91)
	for i := 5; i <= 95; i++ {
		qs = append(qs, float64(i)/100)
	}
	return qs
}()

// AffineFit is the least-squares fit Q_cur(q) ≈ Scale·Q_ref(q) + Offset
// over q in [0.05, 0.95].
type AffineFit struct {
	Scale, Offset, R2 float64
}

// FitAffine fits the current quantiles on the reference quantiles at 91
// evenly spaced q in [0.05, 0.95]. It returns an error when the reference
// quantiles do not vary (no slope is defined).
func FitAffine(ref, cur sketch.Distribution) (AffineFit, error) {
	if err := checkDists(ref, cur); err != nil {
		return AffineFit{}, fmt.Errorf("fitting quantiles: %w", err)
	}
	n := float64(len(fitQuantiles))
	var mx, my float64
	xs := make([]float64, len(fitQuantiles))
	ys := make([]float64, len(fitQuantiles))
	for i, q := range fitQuantiles {
		xs[i], ys[i] = ref.Quantile(q), cur.Quantile(q)
		mx += xs[i] / n
		my += ys[i] / n
	}
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if !(sxx > 0) || sxx < 1e-24*mx*mx {
		return AffineFit{}, errors.New("fitting quantiles: reference quantiles do not vary")
	}
	a := sxy / sxx
	f := AffineFit{Scale: a, Offset: my - a*mx, R2: 1}
	if syy > 0 {
		f.R2 = clamp01(sxy * sxy / (sxx * syy))
	}
	return f, nil
}

// featureStats are the figures a diagnosis is made from.
type featureStats struct {
	ref, cur             sketch.Distribution
	refMom, curMom       sketch.Moments
	sigma                float64 // reference standard deviation
	fit                  AffineFit
	fitOK                bool
	ksSignificant        bool
	meanSignificant      bool
	effect               Severity // largest effect level among the significant
	refMin, refMax       float64
	outWide              float64 // share outside the widened training range
	outWideSignificant   bool
	lo, hi               float64 // the widened training range
	refIQR, curIQR       float64
	refSpread, curSpread float64 // p95 - p5
}

// CompareFeature compares f's current sketch with its reference. It
// flushes the sketches' buffers, so the sketches must not be in use by
// another goroutine.
func CompareFeature(f Feature, th Thresholds) FeatureReport {
	return compareFeatureWith(f, th, &refDistribution{})
}

// compareFeatureWith is CompareFeature with the reference's Distribution
// from refDist, which comparisons with the same reference share.
func compareFeatureWith(f Feature, th Thresholds, refDist *refDistribution) FeatureReport {
	r := FeatureReport{Name: f.Name, Diagnosis: OK, Confidence: 1}
	r = compareFeature(f, th, r, refDist)
	return r.sanitized()
}

// refDistribution is the reference's Distribution, built on first use: Judge
// compares the horizon and its newest windows with the same reference, and
// the reference's (many) centroids are the larger part of building both.
// It lives for one Judge call, so a sketch changed between calls is seen.
type refDistribution struct {
	n    *sketch.Numeric
	d    sketch.Distribution
	err  error
	done bool
}

func (m *refDistribution) of(n *sketch.Numeric) (sketch.Distribution, error) {
	if !m.done || m.n != n {
		m.d, m.err = n.Distribution()
		m.n, m.done = n, true
	}
	return m.d, m.err
}

func (r FeatureReport) sanitized() FeatureReport {
	for _, p := range []*float64{
		&r.PSI, &r.KS, &r.KSCritical, &r.KSPValue, &r.Wasserstein, &r.JS,
		&r.MeanShiftSigma, &r.ScaleRatio, &r.OutOfRange, &r.MissingRatio,
		&r.NonFiniteRatio, &r.Scale, &r.Offset, &r.FitR2, &r.ServingSlope,
		&r.ServingIntercept, &r.Share,
	} {
		*p = sanitize(*p)
	}
	r.Confidence = clamp01(r.Confidence)
	return r
}

func compareFeature(f Feature, th Thresholds, r FeatureReport, refDist *refDistribution) FeatureReport {
	if f.Ref == nil || f.Ref.Count() == 0 {
		r.Diagnosis = NoBaseline
		r.Summary = "no baseline to compare with."
		if f.Cur != nil {
			r.Samples = f.Cur.Count()
		}
		return r
	}
	r.RefSamples = f.Ref.Count()
	if f.Cur == nil && f.Events >= th.MinSamples {
		// Not one event carried the key.
		r.MissingRatio = 1
		if rise, sig := proportionRise(f.Events, f.Events, f.Ref.Missing(), f.Ref.Total(), th.Alpha); sig && rise >= th.Missing.Warning {
			r.Diagnosis, r.Severity = MissingSpike, th.Missing.of(rise)
			r.Share = 1
			r.Summary = fmt.Sprintf("the key is absent from all %d events of the horizon (%s missing in the reference): the feature stopped arriving, renamed or dropped upstream.",
				f.Events, pct(ratio(f.Ref.Missing(), f.Ref.Total())))
			return r
		}
	}
	if f.Cur == nil {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("no values in the horizon; at least %d are needed to judge drift.", th.MinSamples)
		return r
	}
	cur, ref := f.Cur, f.Ref
	r.Samples = cur.Count()
	total := cur.Total()
	if total > 0 {
		r.MissingRatio = float64(cur.Missing()) / float64(total)
		r.NonFiniteRatio = float64(cur.NonFinite()) / float64(total)
	}
	if total < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("only %d values in the horizon; at least %d are needed to judge drift.", total, th.MinSamples)
		return r
	}

	// Data quality first: what the model gets instead of values.
	if rise, sig := proportionRise(cur.NonFinite(), total, ref.NonFinite(), ref.Total(), th.Alpha); sig && rise >= th.NonFinite.Warning {
		r.Diagnosis, r.Severity = NonFiniteValues, th.NonFinite.of(rise)
		r.Summary = fmt.Sprintf("%s of values are NaN or infinite (%d NaN, %d +Inf, %d -Inf) against %s in the reference.",
			pct(r.NonFiniteRatio), cur.NaN(), cur.PosInf(), cur.NegInf(), pct(ratio(ref.NonFinite(), ref.Total())))
		return r
	}
	if rise, sig := proportionRise(cur.Missing(), total, ref.Missing(), ref.Total(), th.Alpha); sig && rise >= th.Missing.Warning {
		r.Diagnosis, r.Severity = MissingSpike, th.Missing.of(rise)
		r.Share = r.MissingRatio
		if cur.Missing() == total {
			r.Summary = fmt.Sprintf("all %d events of the horizon lack a value, the key absent or null (%s missing in the reference): the feature stopped arriving.",
				total, pct(ratio(ref.Missing(), ref.Total())))
			return r
		}
		r.Summary = fmt.Sprintf("missing values (null or absent) rose to %s from %s in the reference.",
			pct(r.MissingRatio), pct(ratio(ref.Missing(), ref.Total())))
		return r
	}
	if r.Samples < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("only %d finite values in the horizon; at least %d are needed to judge drift.", r.Samples, th.MinSamples)
		return r
	}

	s, err := featureStatistics(ref, cur, th, &r, refDist)
	if err != nil {
		// Unreachable with non-empty sketches; report rather than guess.
		r.Diagnosis = InsufficientData
		r.Summary = "cannot compare: " + err.Error() + "."
		return r
	}
	diagnoseFeature(f, th, s, &r)
	return r
}

func ratio(k, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// featureStatistics fills r's statistics and returns what the diagnosis
// needs besides.
func featureStatistics(ref, cur *sketch.Numeric, th Thresholds, r *FeatureReport, refDist *refDistribution) (featureStats, error) {
	var s featureStats
	var err error
	if s.ref, err = refDist.of(ref); err != nil {
		return s, fmt.Errorf("reference: %w", err)
	}
	if s.cur, err = cur.Distribution(); err != nil {
		return s, fmt.Errorf("current: %w", err)
	}
	s.cur = snapKnots(s.cur, s.ref)
	s.refMom, s.curMom = ref.Moments(), cur.Moments()
	s.sigma = s.refMom.StdDev()
	n, m := r.RefSamples, r.Samples

	// Both are non-empty here (the Distributions did not fail): one sweep.
	var w1 float64
	r.KS, w1 = ksW1(s.ref, s.cur)
	r.KSCritical = KSCritical(n, m, th.Alpha)
	r.KSPValue = KSPValue(r.KS, n, m)
	r.PSI, _ = PSI(s.ref, s.cur)
	r.JS, _ = JS(s.ref, s.cur)
	r.Wasserstein = w1 / s.sigma
	r.MeanShiftSigma = (s.curMom.Mean - s.refMom.Mean) / s.sigma
	r.ScaleRatio = s.curMom.StdDev() / s.sigma
	if s.sigma == 0 {
		r.Wasserstein, r.MeanShiftSigma, r.ScaleRatio = 0, 0, 0
	}

	s.refMin, s.refMax = s.ref.Min(), s.ref.Max()
	r.OutOfRange = clamp01(s.cur.CDFBelow(s.refMin) + 1 - s.cur.CDF(s.refMax))
	width := s.refMax - s.refMin
	s.lo, s.hi = s.refMin-th.RangeTolerance*width, s.refMax+th.RangeTolerance*width
	s.outWide = clamp01(s.cur.CDFBelow(s.lo) + 1 - s.cur.CDF(s.hi))

	if fit, err := FitAffine(s.ref, s.cur); err == nil {
		s.fit, s.fitOK = fit, true
		r.Scale, r.Offset, r.FitR2 = fit.Scale, fit.Offset, fit.R2
	}
	s.refIQR = s.ref.Quantile(0.75) - s.ref.Quantile(0.25)
	s.curIQR = s.cur.Quantile(0.75) - s.cur.Quantile(0.25)
	s.refSpread = s.ref.Quantile(0.95) - s.ref.Quantile(0.05)
	s.curSpread = s.cur.Quantile(0.95) - s.cur.Quantile(0.05)

	// Significance for the two sample sizes, then the effect floors.
	s.ksSignificant = r.KS > r.KSCritical
	se := math.Sqrt(s.refMom.Variance()/float64(n) + s.curMom.Variance()/float64(m))
	diff := math.Abs(s.curMom.Mean - s.refMom.Mean)
	s.meanSignificant = diff > 0 && (se == 0 || diff/se >= zTwoSided(th.Alpha))
	if s.ksSignificant {
		s.effect = max(th.KS.of(r.KS), th.PSI.of(r.PSI))
		if s.meanSignificant && s.sigma > 0 {
			s.effect = max(s.effect, th.MeanShift.of(math.Abs(r.MeanShiftSigma)))
		}
	}
	s.outWideSignificant = rangeSignificant(s.outWide, m, n, th.Alpha)
	return s, nil
}

// snapTolerance is how close, relatively, a current value must be to a
// reference value to be taken for it: float32 and seven significant
// digits of text round values by less. Without it a discrete feature
// (0.3333333 sent for the training pipeline's 0.3333333333333333) would
// put its whole mass beside the reference's, and KS and PSI would page
// on the encoding.
const snapTolerance = 1e-6

// snapKnots returns cur with each knot within snapTolerance of a reference
// knot moved onto it.
func snapKnots(cur, ref sketch.Distribution) sketch.Distribution {
	if len(ref.X) == 0 {
		return cur
	}
	out := sketch.Distribution{X: slices.Clone(cur.X), P: cur.P, Step: cur.Step}
	j := 0 // the first reference knot >= x; the knots ascend, so does j
	for i, x := range cur.X {
		for j < len(ref.X) && ref.X[j] < x {
			j++
		}
		for _, k := range [2]int{j - 1, j} {
			if k < 0 || k >= len(ref.X) {
				continue
			}
			r := ref.X[k]
			if r != x && math.Abs(r-x) <= snapTolerance*math.Max(math.Abs(r), math.Abs(x)) {
				out.X[i] = r
				break
			}
		}
	}
	// Moves within the tolerance cannot reorder knots further apart than
	// it; restore order for those closer.
	for i := 1; i < len(out.X); i++ {
		if out.X[i] < out.X[i-1] {
			out.X[i] = out.X[i-1]
		}
	}
	return out
}

// rangeSignificant reports whether a share out of the training range among
// m current values exceeds what a stationary reference of n values leaves
// by chance: a new sample falls beyond the reference's extremes with
// probability about 2/(n+1), and the share beyond them exceeds t with
// probability about 2·exp(-n·t), so at most p0 = ln(2/alpha)/n but with
// probability alpha. The count beyond, k = share·m, must then be
// significant against a Poisson count of mean m·p0: the exact tail, as a
// handful of values far beyond the range (ten of 200, a 5% share skipping
// a scaler) is already proof, where a normal bound on the share is not.
func rangeSignificant(share float64, m, n uint64, alpha float64) bool {
	if share <= 0 || m == 0 || n == 0 {
		return false
	}
	k := uint64(math.Round(share * float64(m)))
	if k == 0 {
		return false
	}
	return poissonSF(k, float64(m)*math.Log(2/alpha)/float64(n)) < alpha
}

// diagnoseFeature names the cause. The order of precedence (docs/design.md,
// "Order of diagnoses") is: the serving transform when pairs show it (one
// line, or the declared line and another); then, for a significant change
// of the distribution, the declared scaler skipped or applied twice, a
// unit change (before or after the scaler, or of a feature without one),
// the compression of a score, a scaler skipped on a feature that declares
// none, part of the traffic through another transform, the training range
// of a min-max feature, a shift or rescaling, values beyond the training
// range, and last distribution_change. Without a significant change, only
// values beyond the training range can alert: named as a share through a
// known transform when they are that, else range_violation.
func diagnoseFeature(f Feature, th Thresholds, s featureStats, r *FeatureReport) {
	alerting := s.effect >= Warning
	if f.Pair != nil && diagnosePair(f, th, s, r) {
		return
	}
	if !alerting {
		// A small share through another transform moves the distribution
		// too little to alert, but puts values beyond the training range:
		// named with its share when a mixture explains it.
		if _, _, breached := rangeShares(f, th, s, r); breached && diagnoseBeyond(f, th, s, r) {
			return
		}
		if diagnoseRange(f, th, s, r) {
			return
		}
		r.Diagnosis, r.Severity = OK, SeverityOK
		r.Confidence = 1 - 0.5*math.Max(r.KS/th.KS.Warning, r.PSI/th.PSI.Warning)
		r.Confidence = math.Max(r.Confidence, 0.5)
		r.Summary = fmt.Sprintf("no significant drift (ks %s, critical %s; psi %s).", num(r.KS), num(r.KSCritical), num(r.PSI))
		return
	}
	conf := 1 - r.KSPValue
	affineOK := s.fitOK && s.fit.R2 >= th.FitR2
	a, b := s.fit.Scale, s.fit.Offset
	fitText := affine(a, b) + " (fit r² " + r2s(s.fit.R2) + ")"

	if affineOK && f.Norm.declared() {
		c, sp := f.Norm.params()
		if dev := affineDev(a, b, sp, c, s.refMom.Mean, s.sigma); dev <= th.ScalerTolerance {
			r.Diagnosis, r.Severity = UnscaledInput, Critical
			r.Confidence = s.fit.R2 * (1 - 0.5*dev/th.ScalerTolerance)
			r.Summary = fitText + ": " + f.Norm.describe() + " looks skipped at serving."
			return
		}
		if dev := affineDev(a, b, 1/sp, -c/sp, s.refMom.Mean, s.sigma); dev <= th.ScalerTolerance {
			r.Diagnosis, r.Severity = DoubleScaled, Critical
			r.Confidence = s.fit.R2 * (1 - 0.5*dev/th.ScalerTolerance)
			r.Summary = fitText + ": " + f.Norm.describe() + " looks applied twice."
			return
		}
	}
	if affineOK && math.Abs(math.Log(a)) > math.Log1p(th.ScaleTolerance) {
		if m, ok := matchUnit(a, b, f.Norm, s.refMom.Mean, s.sigma, th); ok {
			r.Diagnosis, r.Severity = ScaleChange, Critical
			r.Confidence = s.fit.R2 * conf * (1 - 0.5*m.dev/th.ScalerTolerance)
			r.Summary = fitText + ": " + m.sentence(f.Norm)
			return
		}
	}
	if diagnoseCompression(s, th, conf, r) {
		return
	}
	if affineOK && !f.Norm.declared() {
		if looks := undeclaredScaler(s); looks != "" {
			r.Diagnosis, r.Severity = UnscaledInput, Critical
			r.Confidence = s.fit.R2 * conf
			r.Summary = fmt.Sprintf("%s: the reference looks %s but production has mean %s, std %s; a scaler looks skipped at serving.",
				fitText, looks, num(s.curMom.Mean), num(s.curMom.StdDev()))
			return
		}
	}
	if !affineOK && (diagnoseWhole(f, th, s, r) || diagnoseMixture(f, th, s, r)) {
		return
	}
	if _, _, bounded := f.Norm.bounds(); bounded && diagnoseRange(f, th, s, r) {
		return
	}
	if affineOK && math.Abs(math.Log(math.Abs(a))) > math.Log1p(th.ScaleTolerance) {
		r.Diagnosis, r.Severity = ScaleChange, s.effect
		r.Confidence = s.fit.R2 * conf
		r.Summary = fmt.Sprintf("%s: "+spreadChanged+"%s (σ ratio %s, mean shift %s).",
			fitText, num(a), num(r.ScaleRatio), sigmas(r.MeanShiftSigma))
		return
	}
	if affineOK {
		r.Diagnosis, r.Severity = Shift, s.effect
		r.Confidence = s.fit.R2 * conf
		r.Summary = fmt.Sprintf("%s: the values shifted by %s (mean %s vs %s; ks %s, psi %s).",
			fitText, sigmas(r.MeanShiftSigma), num(s.curMom.Mean), num(s.refMom.Mean), num(r.KS), num(r.PSI))
		return
	}
	if insideMatches(s, r, th) && diagnoseRange(f, th, s, r) {
		return
	}
	r.Diagnosis, r.Severity = DistributionChange, s.effect
	r.Confidence = conf
	r.Summary = fmt.Sprintf("the distribution changed in a way no affine map explains (fit r² %s; ks %s, psi %s, mean shift %s, σ ratio %s).",
		r2s(s.fit.R2), num(r.KS), num(r.PSI), sigmas(r.MeanShiftSigma), num(r.ScaleRatio))
}

// diagnoseCompression reports score_compression when both the IQR and the
// p5–p95 spread shrank to Compression of the reference's or less while the
// median stayed within the reference's p5–p95. It comes before the guess
// of an undeclared scaler: a bounded score squeezed into a band is far
// more common than a skipped scaler that makes values smaller.
func diagnoseCompression(s featureStats, th Thresholds, conf float64, r *FeatureReport) bool {
	if !(s.refIQR > 0 && s.refSpread > 0 && s.curIQR <= th.Compression*s.refIQR && s.curSpread <= th.Compression*s.refSpread) {
		return false
	}
	med := s.cur.Quantile(0.5)
	if med < s.ref.Quantile(0.05) || med > s.ref.Quantile(0.95) {
		return false
	}
	r.Diagnosis, r.Severity = ScoreCompression, s.effect
	r.Confidence = conf
	r.Summary = fmt.Sprintf("the spread shrank to %s (IQR %s vs %s, p5–p95 %s vs %s) while the median stayed in range (%s vs %s): scores are compressed.",
		pct(s.curSpread/s.refSpread), num(s.curIQR), num(s.refIQR), num(s.curSpread), num(s.refSpread), num(med), num(s.ref.Quantile(0.5)))
	return true
}

// sigmas formats a shift in standard deviations with its sign: "+0.3σ".
func sigmas(x float64) string {
	s := num(x) + "σ"
	if x > 0 {
		s = "+" + s
	}
	return s
}

// affineDev returns how far the fit (a, b) is from the signature (ea, eb):
// the larger of the relative slope error and the gap between the two
// lines at the reference mean m, in units of the spread the signature
// gives the current values (|ea|·σ_ref). At the mean, not at zero: zero
// is the mean of a z-score but the minimum of a [0, 1] min-max scaler and
// the middle of a [−1, 1] one, where a slope error of a few percent would
// open a gap of its own.
func affineDev(a, b, ea, eb, m, sigma float64) float64 {
	if ea == 0 || math.IsNaN(ea) || math.IsNaN(eb) {
		return math.Inf(1)
	}
	dev := math.Abs(a/ea - 1)
	gap := (a-ea)*m + b - eb
	spread := math.Abs(ea) * sigma
	if spread > 0 {
		dev = math.Max(dev, math.Abs(gap)/spread)
	} else if gap != 0 {
		return math.Inf(1)
	}
	return dev
}

// undeclaredScaler returns what scaled form the reference looks to be in
// ("standardized (mean 0.01, std 1)" or "unit-range ([0, 1])") when the
// current values are far from it, or "" when no such story fits. Far means
// more than a drift would move them: a mean beyond 3 reference σ or a
// spread more than 3 times larger or smaller.
func undeclaredScaler(s featureStats) string {
	mr, sr := s.refMom.Mean, s.sigma
	mc, sc := s.curMom.Mean, s.curMom.StdDev()
	spreadFar := sc > 3*sr || sc < sr/3
	if math.Abs(mr) <= 0.1 && math.Abs(sr-1) <= 0.1 {
		if math.Abs(mc) > 3 || spreadFar {
			return "standardized (mean " + num(mr) + ", std " + num(sr) + ")"
		}
		return ""
	}
	if s.refMin >= -0.01 && s.refMax <= 1.01 && s.refMax-s.refMin >= 0.5 {
		p5, p95 := s.cur.Quantile(0.05), s.cur.Quantile(0.95)
		if p5 < -1 || p95 > 2 || spreadFar {
			return "unit-range ([" + num(s.refMin) + ", " + num(s.refMax) + "])"
		}
	}
	return ""
}

// diagnoseWhole names a known transform (see mixCandidates) that all of
// the traffic went through although no affine map fits the quantiles
// closely: the quantiles of discrete values (counts) or of values on a
// bound step where a sketch's interpolate, so a skipped robust scaler of
// Poisson counts fits r² 0.98. The reference through the transform must
// match production as a stationary sample would: within the KS critical
// value, or half the KS effect floor, and half the distance before.
func diagnoseWhole(f Feature, th Thresholds, s featureStats, r *FeatureReport) bool {
	pts := mixPoints(s.ref, s.cur)
	limit := math.Min(math.Max(r.KSCritical, th.KS.Warning/2), r.KS/2)
	best, bestRes := -1, math.Inf(1)
	cands := mixCandidates(f.Norm)
	for i, c := range cands {
		if res := mixResidual(s.ref, s.cur, c, 1, pts); res <= limit && res < 0.95*bestRes {
			best, bestRes = i, res
		}
	}
	if best < 0 {
		return false
	}
	c := cands[best]
	r.Diagnosis, r.Severity = c.diagnosis, Critical
	r.Confidence = (1 - r.KSPValue) * (1 - bestRes/math.Max(r.KS, 1e-9))
	r.Summary = fmt.Sprintf("all of the serving traffic %s: the reference through it matches production (ks %s left, from %s), though the quantiles of these values fit no line closely (r² %s).",
		c.what, num(bestRes), num(r.KS), r2s(s.fit.R2))
	return true
}

// diagnoseMixture names a share of the traffic through a known transform
// (see mixtures), measured on the distribution alone.
func diagnoseMixture(f Feature, th Thresholds, s featureStats, r *FeatureReport) bool {
	fits := explainingBeyond(f, th, s, r, mixtures(s.ref, s.cur, f.Norm, r.KS, r.KSCritical, r.Samples, th))
	if len(fits) == 0 {
		// A share small enough that the untouched traffic's noise is as
		// large as what the mixture leaves, but that moves the bins
		// enough to alert: named by its values beyond the training
		// range, as for a change too small to alert.
		if _, _, breached := rangeShares(f, th, s, r); breached {
			return diagnoseBeyond(f, th, s, r)
		}
		return false
	}
	mix := fits[0]
	r.Diagnosis, r.Severity = mix.c.diagnosis, max(s.effect, Warning)
	if mix.c.diagnosis != ScaleChange || mix.w >= 0.1 {
		r.Severity = Critical
	}
	r.Share = mix.w
	r.Confidence = (1 - r.KSPValue) * (1 - mix.residual/math.Max(r.KS, 1e-9))
	part, _ := split(mix.w)
	r.Summary = fmt.Sprintf("%s of the serving traffic %s, by the distribution alone; the rest matches the reference (a two-component mixture leaves ks %s, from %s).",
		part, mix.c.what, num(mix.residual), num(r.KS))
	return true
}

// explainingBeyond keeps the fits that put the values beyond the training
// range where they are, when enough are beyond it to breach it: values
// just past a min-max feature's max, or a sentinel, are not a share
// through a unit change, however well a small share of one fits the whole
// distribution of a small sample.
func explainingBeyond(f Feature, th Thresholds, s featureStats, r *FeatureReport, fits []mixFit) []mixFit {
	below, above, breached := rangeShares(f, th, s, r)
	if !breached {
		return fits
	}
	lo, hi := trainingRange(f, s)
	return slices.DeleteFunc(fits, func(m mixFit) bool { return !explainsBeyond(s.ref, s.cur, m, lo, hi, below+above, r.Samples) })
}

// diagnoseBeyond names a share of the traffic through a known transform
// from the values it puts beyond the training range, when the change is
// too small to alert otherwise (see beyondMixtures).
func diagnoseBeyond(f Feature, th Thresholds, s featureStats, r *FeatureReport) bool {
	lo, hi := trainingRange(f, s)
	below, above, _ := rangeShares(f, th, s, r)
	fits := beyondMixtures(s.ref, s.cur, f.Norm, lo, hi, below+above, r.Samples, math.Max(r.KSCritical, th.KS.Warning/2))
	if len(fits) == 0 {
		return false
	}
	mix := fits[0]
	r.Diagnosis, r.Severity = mix.c.diagnosis, Warning
	if mix.c.diagnosis != ScaleChange || mix.w >= 0.1 {
		r.Severity = Critical
	}
	r.Share = mix.w
	r.Confidence = 1 - math.Exp(-float64(r.RefSamples)*mix.w)
	part, _ := split(mix.w)
	r.Summary = fmt.Sprintf("%s of the serving traffic %s, by the values it puts beyond the training range [%s, %s]; the rest matches the reference (ks %s).",
		part, mix.c.what, num(s.refMin), num(s.refMax), num(r.KS))
	return true
}

// trainingRange returns the range a feature's values are judged against:
// the reference's, widened by RangeTolerance of its width; for a bounded
// scaler (min-max onto its target range, max-abs onto [−1, 1]), the range
// it mapped the training data onto, or the reference's own if wider, not
// widened.
func trainingRange(f Feature, s featureStats) (lo, hi float64) {
	if ra, rb, bounded := f.Norm.bounds(); bounded {
		eps := 1e-9 * math.Max(1, s.refMax-s.refMin)
		return math.Min(ra, s.refMin) - eps, math.Max(rb, s.refMax) + eps
	}
	return s.lo, s.hi
}

// rangeShares returns the shares of current values below and above the
// training range (see diagnoseRange), and whether they breach it: at least
// OutOfRange.Warning, more than a stationary reference leaves by chance.
// A clipping min-max scaler puts what lies beyond its training range on
// its bounds: there the shares are the mass on each bound beyond the
// reference's.
func rangeShares(f Feature, th Thresholds, s featureStats, r *FeatureReport) (below, above float64, breached bool) {
	lo, hi := trainingRange(f, s)
	below, above = s.cur.CDFBelow(lo), 1-s.cur.CDF(hi)
	if ra, rb, bounded := f.Norm.bounds(); bounded && f.Norm.Clip {
		eps := 1e-9 * math.Max(1, s.refMax-s.refMin)
		at := func(d sketch.Distribution) (float64, float64) {
			return d.CDF(ra + eps), 1 - d.CDFBelow(rb-eps)
		}
		cb, ca := at(s.cur)
		fb, fa := at(s.ref)
		below, above = math.Max(0, cb-fb), math.Max(0, ca-fa)
	}
	out := clamp01(below + above)
	return below, above, out >= th.OutOfRange.Warning && rangeSignificant(out, r.Samples, r.RefSamples, th.Alpha)
}

// diagnoseRange reports range_violation when enough current values fall
// beyond the training range: the reference's, widened by RangeTolerance of
// its width; for a min-max feature, the range its scaler saw in training
// ([0, 1] once normalized, or the reference's own if wider), not widened,
// so values just past the training max count.
func diagnoseRange(f Feature, th Thresholds, s featureStats, r *FeatureReport) bool {
	below, above, breached := rangeShares(f, th, s, r)
	if !breached {
		return false
	}
	out := clamp01(below + above)
	r.Diagnosis, r.Severity = RangeViolation, th.OutOfRange.of(out)
	r.Confidence = 1 - math.Exp(-float64(r.RefSamples)*out)
	r.Share = out
	parts, whole := partition(below, above)
	_, _, bounded := f.Norm.bounds()
	switch {
	case bounded && f.Norm.Clip:
		r.Summary = fmt.Sprintf("%s of production values sit on the bounds of %s beyond the training share there (%s more at its min, %s more at its max): raw values past the range it saw in training, clipped.",
			whole, f.Norm.describe(), parts[0], parts[1])
		return true
	case bounded:
		c, sp := f.Norm.params()
		r.Summary = fmt.Sprintf("%s of production values lie beyond the range %s saw in training (%s below its min, %s above its max; production min %s, max %s, or %s to %s raw).",
			whole, f.Norm.describe(), parts[0], parts[1], num(s.cur.Min()), num(s.cur.Max()),
			num(c+sp*s.cur.Min()), num(c+sp*s.cur.Max()))
		return true
	}
	r.Summary = fmt.Sprintf("%s of production values fall outside the training range [%s, %s] (%s below, %s above; production min %s, max %s).",
		whole, num(s.refMin), num(s.refMax), parts[0], parts[1], num(s.cur.Min()), num(s.cur.Max()))
	return true
}

// insideMatches reports whether the current values within the widened
// training range, renormalized, match the reference (a KS distance within
// the critical value or the KS effect floor): then what changed is only
// the values beyond it, sentinels or outliers, not the distribution.
func insideMatches(s featureStats, r *FeatureReport, th Thresholds) bool {
	below, above := s.cur.CDFBelow(s.lo), 1-s.cur.CDF(s.hi)
	in := 1 - below - above
	if !(in > 0) {
		return false
	}
	var d float64
	for _, x := range mixPoints(s.ref, s.cur) {
		if x < s.lo || x > s.hi {
			continue
		}
		d = math.Max(d, math.Abs((s.cur.CDF(x)-below)/in-s.ref.CDF(x)))
	}
	return d <= math.Max(r.KSCritical, th.KS.Warning)
}

// diagnosePair judges the serving transform the pairs measured against
// the declared scaler. One line through the pairs: skipped, applied twice,
// a unit change before the scaler, or re-fitted. No single line: the
// declared line and another, each taken by a share of the traffic (see
// pairLines), named the same way with its share. It reports false when the
// pairs are too few or match the declared scaler.
func diagnosePair(f Feature, th Thresholds, s featureStats, r *FeatureReport) bool {
	p := f.Pair
	if !f.Norm.declared() || p.Count() < th.MinSamples {
		return false
	}
	t, err := p.Fit()
	if err != nil {
		return false
	}
	c, sp := f.Norm.params()
	s0, t0 := 1/sp, -c/sp // the declared transform
	mx, sx := p.MeanRaw(), p.StdRaw()
	dev := func(slope, intercept, es, et float64) float64 {
		// How far apart the two transforms put the raw values, in units of
		// the spread the expected transform gives them.
		spread := math.Abs(es) * sx
		d := math.Abs(slope/es - 1)
		if spread > 0 {
			d = math.Max(d, math.Abs((slope-es)*mx+intercept-et)/spread)
		}
		return d
	}
	// name classifies a line: the diagnosis, what it does, how far off.
	type line struct {
		diagnosis Diagnosis
		what      string
		dev       float64
	}
	name := func(slope, intercept float64) line {
		if d := dev(slope, intercept, 1, 0); d <= th.ScalerTolerance {
			return line{UnscaledInput, "skips " + f.Norm.describe(), d}
		}
		if d := dev(slope, intercept, s0*s0, s0*t0+t0); d <= th.ScalerTolerance {
			return line{DoubleScaled, "goes through " + f.Norm.describe() + " twice", d}
		}
		for _, u := range allUnits {
			if math.Abs(slope/(u.f*s0)-1) > th.UnitTolerance {
				continue
			}
			if d := dev(slope, intercept, u.f*s0, t0+u.g*s0); d <= th.ScalerTolerance {
				return line{ScaleChange, "reaches " + f.Norm.describe() + " in another unit, " + u.factorText() + u.example(), d}
			}
			// After the scaler: normalized = f·(s0·raw + t0), as matchUnit
			// and mixCandidates have it (factors alone).
			if u.g != 0 {
				continue
			}
			if d := dev(slope, intercept, u.f*s0, u.f*t0); d <= th.ScalerTolerance {
				return line{ScaleChange, "leaves " + f.Norm.describe() + " in another unit, " + u.factorText() + u.example(), d}
			}
		}
		d := dev(slope, intercept, s0, t0)
		if d < th.Refit.Warning {
			return line{OK, "", d}
		}
		if !(slope > 0) {
			return line{ScalerRefit, "goes through a transform no scaler makes (it does not keep the order of values)", d}
		}
		return line{ScalerRefit, "goes through another scaler, as if fitted with " + f.Norm.paramText(-intercept/slope, 1/slope), d}
	}

	if t.R2 >= th.FitR2 {
		r.ServingSlope, r.ServingIntercept = t.Slope, t.Intercept
		seen := servingText(t)
		l := name(t.Slope, t.Intercept)
		switch l.diagnosis {
		case OK:
			return false
		case UnscaledInput:
			r.Summary = seen + ": " + f.Norm.describe() + " looks skipped at serving."
		case DoubleScaled:
			r.Summary = seen + ": " + f.Norm.describe() + " looks applied twice."
		case ScaleChange:
			if strings.HasPrefix(l.what, "leaves ") {
				r.Summary = seen + ", " + num(t.Slope/s0) + " times what " + f.Norm.describe() + " gives: the normalized values leave the scaler " + unitPhrase(l.what, f.Norm) + "."
				break
			}
			r.Summary = seen + ", " + num(t.Slope/s0) + " times the slope of " + f.Norm.describe() + ": the raw values reach the scaler " + unitPhrase(l.what, f.Norm) + "."
		case ScalerRefit:
			r.Diagnosis, r.Severity = ScalerRefit, th.Refit.of(l.dev)
			r.Confidence = t.R2 * clamp01(l.dev/th.Refit.Warning-0.5)
			asIf := ", as if re-fitted with " + f.Norm.paramText(-t.Intercept/t.Slope, 1/t.Slope)
			if !(t.Slope > 0) {
				asIf = ", which no scaler makes (it does not keep the order of values)"
			}
			r.Summary = fmt.Sprintf("%s%s, where %s gives %s × raw %s: values move by %s of their spread.",
				seen, asIf, f.Norm.describe(), num(s0), signed(t0), num(l.dev))
			return true
		}
		r.Diagnosis, r.Severity = l.diagnosis, Critical
		r.Confidence = t.R2 * (1 - 0.5*l.dev/th.ScalerTolerance)
		r.Share = 1
		return true
	}

	// No single line. A known transform on part of the traffic (skipped,
	// doubled, another unit) is measured on the distribution, whose
	// quantiles give its share far more precisely than the pair moments,
	// which a heavy tail makes noisy; the pairs only confirm.
	w, a1, b1, ok := pairLines(p, s0, t0)
	var fits []mixFit
	how := func(m mixFit) string {
		return "a two-component mixture leaves ks " + num(m.residual) + ", from " + num(r.KS)
	}
	below, above, breached := rangeShares(f, th, s, r)
	if s.effect >= Warning {
		fits = explainingBeyond(f, th, s, r, mixtures(s.ref, s.cur, f.Norm, r.KS, r.KSCritical, r.Samples, th))
	}
	if len(fits) == 0 && breached {
		// Too small a change to alert, or a share too small for its
		// mixture to stand out of the whole distribution's noise, but
		// for the values beyond the training range, as in
		// diagnoseBeyond.
		lo, hi := trainingRange(f, s)
		fits = beyondMixtures(s.ref, s.cur, f.Norm, lo, hi, below+above, r.Samples, math.Max(r.KSCritical, th.KS.Warning/2))
		how = func(mixFit) string {
			return "the share is that of the values beyond the training range, ks " + num(r.KS)
		}
	}
	if len(fits) > 0 {
		// Where several transforms fit the distribution, the pairs'
		// second line, rough as it is, tells them apart by its slope,
		// where it is a fifth (in log) closer to one than to the other.
		mix := fits[0]
		gap := func(m mixFit) float64 { return math.Abs(math.Log(math.Abs(m.c.A*s0) / math.Abs(a1))) }
		if ok {
			for _, m := range fits[1:] {
				if gap(m) < gap(mix)-0.2 {
					mix = m
				}
			}
		}
		// A unit change, unless the pairs' second line is far from it (a
		// slope more than twice or half the transform's) and is no known
		// transform itself: a stale scaler's share fits a distribution as
		// a unit change of 1.609 may. (The pair moments of a share
		// squeezed by a doubled scaler are too rough to refute it.)
		refuted := ok && mix.c.diagnosis == ScaleChange && w >= minMixShare && w <= 1-minMixShare && w*float64(p.Count()) >= minMixValues &&
			gap(mix) > math.Ln2 && name(a1, b1).diagnosis == ScalerRefit
		if !refuted {
			r.ServingSlope, r.ServingIntercept = t.Slope, t.Intercept
			r.Diagnosis, r.Severity, r.Share = mix.c.diagnosis, Critical, mix.w
			r.Confidence = (1 - r.KSPValue) * (1 - mix.residual/math.Max(r.KS, 1e-9))
			part, _ := split(mix.w)
			r.Summary = fmt.Sprintf("%s of the serving traffic %s; the rest matches the reference (no single line fits the %d raw/normalized pairs, r² %s; %s).",
				part, mix.c.what, p.Count(), r2s(t.R2), how(mix))
			return true
		}
	}
	// Otherwise the declared line and another, from the pair moments.
	if !ok || w < minMixShare || w > 1-minMixShare || w*float64(p.Count()) < minMixValues {
		return false
	}
	l := name(a1, b1)
	if l.diagnosis == OK {
		return false
	}
	r.ServingSlope, r.ServingIntercept = t.Slope, t.Intercept
	r.Diagnosis, r.Severity, r.Share = l.diagnosis, Critical, w
	if l.diagnosis == ScalerRefit {
		r.Severity = th.Refit.of(l.dev * w)
		r.Severity = max(r.Severity, Warning)
	}
	r.Confidence = clamp01(1 - t.R2) // the more the single line fails, the clearer the split
	r.Confidence = math.Max(r.Confidence, 0.5)
	part, rest := split(w)
	r.Summary = fmt.Sprintf("%s of the serving traffic %s: the raw/normalized pairs lie on two lines, %s on the scaler's (%s × raw %s) and %s on normalized ≈ %s (over %d pairs).",
		part, l.what, rest, num(s0), signed(t0), part, lineText(a1, b1), p.Count())
	return true
}

// unitPhrase turns a line's "reaches (or leaves) the ... scaler in another
// unit, 100 times larger (e.g. dollars → cents)" into "in another unit, 100 times
// larger (e.g. dollars → cents)".
func unitPhrase(what string, n Normalization) string {
	what = strings.TrimPrefix(what, "reaches "+n.describe()+" ")
	return strings.TrimPrefix(what, "leaves "+n.describe()+" ")
}

// servingText says what the single line through the pairs is.
func servingText(t sketch.Transform) string {
	if math.Abs(t.Slope-1) <= 1e-3 && math.Abs(t.Intercept) <= 1e-3*math.Max(1, t.ResidualStd) {
		return fmt.Sprintf("serving passes raw values through unchanged (normalized = raw over %d pairs)", t.N)
	}
	return fmt.Sprintf("serving maps raw to normalized ≈ %s over %d pairs", lineText(t.Slope, t.Intercept), t.N)
}

// lineText formats "0.0143 × raw − 1.24", or "raw" for the identity.
func lineText(slope, intercept float64) string {
	if math.Abs(slope-1) <= 1e-3 && math.Abs(intercept) <= 1e-3 {
		return "raw"
	}
	s := num(slope) + " × raw"
	if intercept != 0 && num(intercept) != "0" {
		s += " " + signed(intercept)
	}
	return s
}

// signed formats "+ 2.5" or "− 2.5".
func signed(x float64) string {
	if x < 0 {
		return "− " + num(-x)
	}
	return "+ " + num(x)
}
