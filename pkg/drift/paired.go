package drift

import (
	"fmt"
	"math"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// PairedFeature is a feature's values on requests both a candidate and
// the live version scored (joined by request id): the fit candidate ≈
// Slope × live + Intercept over Pairs requests.
type PairedFeature struct {
	Name      string    `json:"feature"`
	Pairs     uint64    `json:"pairs"`
	Slope     float64   `json:"slope"`
	Intercept float64   `json:"intercept"`
	R2        float64   `json:"r2"`
	Diagnosis Diagnosis `json:"diagnosis"`
	Severity  Severity  `json:"severity"`
	Summary   string    `json:"summary"`
}

// PairedEmbedding is an embedding's vectors on requests both versions
// scored: the mean and least cosine of the two vectors, and the mean
// ratio of their norms (candidate's over live's).
type PairedEmbedding struct {
	Name       string  `json:"embedding"`
	Pairs      uint64  `json:"pairs"`
	MeanCosine float64 `json:"mean_cosine"`
	MinCosine  float64 `json:"min_cosine"`
	NormRatio  float64 `json:"mean_norm_ratio"`
	// OffNormShare is the share of the pairs whose norm ratio is off 1
	// by more than sketch.DefaultUnitTolerance, OffNormRatio their mean
	// ratio (0 without any).
	OffNormShare float64   `json:"off_norm_share"`
	OffNormRatio float64   `json:"off_norm_ratio"`
	Diagnosis    Diagnosis `json:"diagnosis"`
	Severity     Severity  `json:"severity"`
	Summary      string    `json:"summary"`
}

// JudgePairedFeature judges p, pairs (live value, candidate value) of
// feature name on the same requests. Identical versions put every pair
// on candidate = live; a line away from it by more than
// th.ScalerTolerance (of live's spread, as diagnosePair measures) with r²
// at least th.FitR2 is critical, named after norm, the candidate's
// declared scaler, when it is that scaler applied once more (doubled) or
// undone (skipped). No line at all is a warning: the versions differ per
// request in a way no transform explains. Fewer than th.MinSamples pairs
// judge nothing (OK, InsufficientData).
func JudgePairedFeature(name string, p *sketch.Pair, norm Normalization, th Thresholds) PairedFeature {
	r := PairedFeature{Name: name, Pairs: p.Count(), Slope: math.NaN(), Intercept: math.NaN(), R2: math.NaN(), Diagnosis: OK}
	if p.Count() < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("%d requests seen by both versions, of the %d it takes to compare them one by one", p.Count(), th.MinSamples)
		return r
	}
	sx, mx := p.StdRaw(), p.MeanRaw()
	t, err := p.Fit()
	if err != nil {
		// Live does not vary: the candidate should be the same constant.
		d := math.Abs(p.MeanNorm() - mx)
		if d <= 1e-9*math.Max(1, math.Abs(mx)) && p.StdNorm() <= 1e-9*math.Max(1, math.Abs(mx)) {
			r.Summary = fmt.Sprintf("on %d requests seen by both, candidate = live", p.Count())
			return r
		}
		r.Diagnosis, r.Severity = DistributionChange, Critical
		r.Summary = fmt.Sprintf("on %d requests seen by both, live is always %s but the candidate averages %s.", p.Count(), num(mx), num(p.MeanNorm()))
		return r
	}
	r.Slope, r.Intercept, r.R2 = t.Slope, t.Intercept, t.R2
	dev := func(es, et float64) float64 {
		d := math.Abs(t.Slope/es - 1)
		if spread := math.Abs(es) * sx; spread > 0 {
			d = math.Max(d, math.Abs((t.Slope-es)*mx+t.Intercept-et)/spread)
		}
		return d
	}
	line := fmt.Sprintf("candidate %s = %s (r² %s)", name, pairedLine(t.Slope, t.Intercept, name), pairedR2(t.R2))
	if t.R2 < th.FitR2 {
		r.Diagnosis, r.Severity = DistributionChange, Warning
		r.Summary = fmt.Sprintf("on %d requests seen by both, the candidate's %s differs from live's request by request and no line fits (best: %s).", p.Count(), name, line)
		return r
	}
	if dev(1, 0) <= th.ScalerTolerance {
		r.Summary = fmt.Sprintf("on %d requests seen by both, %s", p.Count(), line)
		return r
	}
	r.Diagnosis, r.Severity = DistributionChange, Critical
	cause := "the candidate transforms it otherwise than live"
	if norm.declared() {
		c, sp := norm.params()
		s0, t0 := 1/sp, -c/sp
		switch {
		case dev(s0, t0) <= th.ScalerTolerance:
			r.Diagnosis, cause = DoubleScaled, "the candidate applies "+norm.describe()+" twice"
		case dev(sp, c) <= th.ScalerTolerance:
			r.Diagnosis, cause = UnscaledInput, "the candidate skips "+norm.describe()
		}
	}
	r.Summary = fmt.Sprintf("on %d requests seen by both, %s: %s.", p.Count(), line, cause)
	return r
}

// pairedR2 formats r² as r2s does, but for a fit exact up to rounding
// (the same values through the same arithmetic), which reads 1.000.
func pairedR2(r2 float64) string {
	if r2 > 1-1e-9 {
		return "1.000"
	}
	return r2s(r2)
}

// pairedLine formats "0.5 × live income + 0", exactly as fitted.
func pairedLine(slope, intercept float64, name string) string {
	return num(slope) + " × live " + name + " " + signed(intercept)
}

// JudgePairedEmbedding judges an embedding's paired vectors: n requests,
// their mean and least cosine, the mean ratio of their norms, and the off
// pairs whose ratio is off 1 by more than the unit tolerance with their
// mean ratio. A mean cosine below 1 − th.ScalerTolerance is critical (the
// candidate's vectors point elsewhere: another embedding model or input).
// Off pairs on a share of the requests short of 95%, at least 5% of them
// or enough to move the mean ratio off 1 by more than th.ScalerTolerance,
// are a normalization skipped or added on part of the candidate's traffic
// (embedding_mixed_norms); on nearly all, or a mean ratio off 1 without
// off pairs, on all of it (embedding_unnormalized). Both are critical.
func JudgePairedEmbedding(name string, n uint64, meanCos, minCos, meanRatio float64, off uint64, offRatio float64, th Thresholds) PairedEmbedding {
	r := PairedEmbedding{Name: name, Pairs: n, MeanCosine: meanCos, MinCosine: minCos, NormRatio: meanRatio, Diagnosis: OK}
	if n > 0 && off > 0 {
		r.OffNormShare, r.OffNormRatio = float64(off)/float64(n), offRatio
	}
	if n < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("%d requests seen by both versions, of the %d it takes to compare them one by one", n, th.MinSamples)
		return r
	}
	what := fmt.Sprintf("on %d requests seen by both, the candidate's %s vector has cosine %s with live's (least %s) and %s times its norm", n, name, cos3(meanCos), cos3(minCos), num(meanRatio))
	switch {
	case meanCos < 1-th.ScalerTolerance:
		r.Diagnosis, r.Severity = EmbeddingModelChange, Critical
		r.Summary = what + ": the candidate embeds the requests otherwise."
	case r.OffNormShare > 0 && r.OffNormShare < 1-pairedMixedShare &&
		(r.OffNormShare >= pairedMixedShare || math.Abs(meanRatio-1) > th.ScalerTolerance):
		r.Diagnosis, r.Severity = EmbeddingMixedNorms, Critical
		r.Summary = fmt.Sprintf("on %d requests seen by both, the candidate's %s vector points as live's (cosine %s, least %s), but on %s of them it has %s times live's norm: a normalization is skipped or added on part of the candidate's traffic.",
			n, name, cos3(meanCos), cos3(minCos), pct(r.OffNormShare), num(offRatio))
	case r.OffNormShare >= 1-pairedMixedShare || math.Abs(meanRatio-1) > th.ScalerTolerance:
		r.Diagnosis, r.Severity = EmbeddingUnnormalized, Critical
		r.Summary = what + ": the candidate's vectors are scaled otherwise (a normalization skipped or added)."
	default:
		r.Summary = what
	}
	return r
}

// pairedMixedShare bounds the share of off pairs named a partial fault:
// below it a few odd requests, above 1 − it all of them.
const pairedMixedShare = 0.05

// cos3 formats a cosine with three decimals, rounded down so 0.9996 does
// not read as 1.
func cos3(c float64) string {
	if math.IsNaN(c) {
		return "n/a"
	}
	if c > 1-1e-6 { // float32 vectors: equal ones up to rounding
		return "1.000"
	}
	return fmt.Sprintf("%.3f", math.Floor(c*1000)/1000)
}
