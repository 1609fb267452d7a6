package drift

import (
	"fmt"
	"math"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// The normalization layers an activation profile can fit (stable names,
// as in a baseline's activation.fit).
const (
	// ActLayerNorm: every vector has the same mean and standard deviation
	// (0 and 1 before LayerNorm's gain and bias; with them, the same
	// constants in every vector, as the gain and bias are the layer's,
	// not the vector's).
	ActLayerNorm = "layernorm"
	// ActRMSNorm: every vector has the same root mean square (1 before a
	// gain), its mean free.
	ActRMSNorm = "rmsnorm"
	// ActNone: neither.
	ActNone = "none"
)

// ActivationFits lists the fits, for messages.
const ActivationFits = "layernorm, rmsnorm or none"

// ValidActivationFit reports whether f is a fit's name.
func ValidActivationFit(f string) bool {
	return f == ActLayerNorm || f == ActRMSNorm || f == ActNone
}

// activationTolerance is how constant a per-vector statistic must be
// across vectors to be the layer's fingerprint: its standard deviation at
// most this share of its mean (the RMS level for the mean, which may be
// 0). A LayerNorm with a learned gain of spread 0.2 on 64 dimensions
// keeps the per-vector std within 2.5%; vectors of no normalization
// vary their scale by far more than 5%.
const activationTolerance = 0.05

// ActivationProfile is what an activation field's per-vector statistics
// say: their levels (means across vectors), how much they vary, and the
// normalization they fit.
type ActivationProfile struct {
	Vectors uint64  `json:"vectors"`
	Fit     string  `json:"fit"`
	Mean    float64 `json:"mean"`    // mean of the per-vector means
	MeanSD  float64 `json:"mean_sd"` // their standard deviation
	Std     float64 `json:"std"`     // mean of the per-vector standard deviations
	StdCV   float64 `json:"std_cv"`  // their coefficient of variation
	RMS     float64 `json:"rms"`     // mean of the per-vector RMS
	RMSCV   float64 `json:"rms_cv"`  // their coefficient of variation
}

// FitActivation returns the profile of a, with the normalization it fits.
func FitActivation(a *sketch.Activation) ActivationProfile {
	p := ActivationProfile{Fit: ActNone}
	if a == nil || a.Count() == 0 {
		return p
	}
	p.Vectors = a.Count()
	m, s, r := a.Means().Moments(), a.StdDevs().Moments(), a.RMS().Moments()
	p.Mean, p.MeanSD = m.Mean, m.StdDev()
	p.Std, p.RMS = s.Mean, r.Mean
	p.StdCV, p.RMSCV = cv(s.Mean, s.StdDev()), cv(r.Mean, r.StdDev())
	switch {
	case p.RMS > 0 && p.StdCV <= activationTolerance && p.MeanSD <= activationTolerance*p.RMS:
		p.Fit = ActLayerNorm
	case p.RMSCV <= activationTolerance:
		p.Fit = ActRMSNorm
	}
	for _, x := range []*float64{&p.Mean, &p.MeanSD, &p.Std, &p.StdCV, &p.RMS, &p.RMSCV} {
		*x = sanitize(*x)
	}
	return p
}

func cv(mean, sd float64) float64 {
	if mean <= 0 {
		return math.Inf(1)
	}
	return sd / mean
}

// ActivationReport is the comparison of an activation field's profile
// with the reference's.
type ActivationReport struct {
	Current   ActivationProfile `json:"current"`
	Reference ActivationProfile `json:"reference"`
	// Declared is the baseline's recorded fit, when it has one: it wins
	// over the reference profile's own.
	Declared string `json:"declared,omitempty"`
}

// describe names a fit with the numbers that show it.
func (p ActivationProfile) describe() string {
	switch p.Fit {
	case ActLayerNorm:
		return fmt.Sprintf("LayerNorm (per-vector mean %s, std %s, constant across vectors)", fixed2(p.Mean), fixed2(p.Std))
	case ActRMSNorm:
		return fmt.Sprintf("RMSNorm (RMS %s, mean free: %s ± %s)", fixed2(p.RMS), fixed2(p.Mean), fixed2(p.MeanSD))
	}
	return fmt.Sprintf("no normalization layer (per-vector RMS %s varies by %s across vectors)", num(p.RMS), pct(p.RMSCV))
}

func fixed2(x float64) string {
	s := fmt.Sprintf("%.2f", x)
	if s == "-0.00" {
		return "0.00"
	}
	return s
}

// compareActivation fills the report and returns the verdict when both
// sides have enough vectors: ok, or activation_norm_change.
func compareActivation(ref, cur *sketch.Activation, declared string, th Thresholds) (*ActivationReport, *verdict) {
	r := &ActivationReport{Current: FitActivation(cur), Reference: FitActivation(ref), Declared: declared}
	want := r.Reference.Fit
	if declared != "" {
		want = declared
	} else if r.Reference.Vectors < th.MinSamples {
		return r, nil
	}
	if r.Current.Vectors < th.MinSamples {
		return r, nil
	}
	v := &verdict{Diagnosis: OK, Severity: SeverityOK, Confidence: 1}
	if r.Current.Fit != want {
		base := r.Reference
		base.Fit = want
		v.Diagnosis, v.Severity = ActivationNormChange, Critical
		v.Summary = fmt.Sprintf("activations fit %s, baseline %s: the normalization layer changed.", r.Current.describe(), base.describe())
		return r, v
	}
	v.Summary = fmt.Sprintf("activations fit %s, as in the baseline.", r.Current.describe())
	return r, v
}
