package drift

import (
	"fmt"
	"math"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// Embedding normalizations a baseline declares.
const (
	EmbeddingL2   = "l2"
	EmbeddingNone = "none"
)

// NormQuantiles are the quantiles of vector norms an EmbeddingReport shows.
var NormQuantiles = []float64{0.05, 0.25, 0.5, 0.75, 0.95}

// Embedding is one embedding field to compare.
type Embedding struct {
	Name string
	// Ref is the reference profile; nil means no baseline.
	Ref *sketch.Vector
	// Cur is the current horizon's profile.
	Cur *sketch.Vector
	// Norm is the declared normalization, "l2" or "none". With "" the
	// reference's own norms decide: unit-norm or not.
	Norm string
	// Events, when known, is how many events the current horizon holds:
	// the vectors fewer than events were absent or null (see Set.Events).
	Events uint64
	// RefSim and CurSim are the similarity of the retrievals whose query
	// is this embedding; RefAct and CurAct its activation profiles, with
	// ActNorm the fit a baseline recorded. nil without.
	RefSim, CurSim *sketch.Similarity
	RefAct, CurAct *sketch.Activation
	ActNorm        string
	// RefFrozen and CurFrozen are the frozen-query reference and the
	// current runs' aggregates; nil without.
	RefFrozen *sketch.FrozenRef
	CurFrozen *sketch.Frozen
}

// QuantilePair is a quantile of the reference and of the current values.
type QuantilePair struct {
	Q   float64 `json:"q"`
	Ref float64 `json:"ref"`
	Cur float64 `json:"cur"`
}

// EmbeddingReport is the comparison of one embedding field. Statistics
// that cannot be computed are 0.
type EmbeddingReport struct {
	Name       string `json:"name"`
	Samples    uint64 `json:"samples"`     // current vectors of the reference's dimension
	RefSamples uint64 `json:"ref_samples"` // reference vectors
	Dim        int    `json:"dim"`
	RefDim     int    `json:"ref_dim"`

	DimMismatchRatio float64 `json:"dim_mismatch_ratio"`
	NonFiniteRatio   float64 `json:"nonfinite_ratio"`

	NormQuantiles    []QuantilePair `json:"norm_quantiles"`
	NormKS           float64        `json:"norm_ks"`
	UnitNormRatio    float64        `json:"unit_norm_ratio"`
	RefUnitNormRatio float64        `json:"ref_unit_norm_ratio"`
	// FarNormRatio is the share of current norms more than 5% away from 1:
	// with UnitNormRatio, the two humps of a mixed index.
	FarNormRatio float64 `json:"far_norm_ratio"`
	// CentroidCosine is the cosine of the current and reference mean
	// vectors; 0 when either mean is too small to have a direction.
	CentroidCosine float64 `json:"centroid_cosine"`
	// DimsMovedRatio is the share of dimensions whose mean moved both
	// significantly and by at least Thresholds.DimShift reference σ.
	DimsMovedRatio float64 `json:"dims_moved_ratio"`

	// MissingRatio is the share of the horizon's events without a vector
	// (absent or null), when the number of events is known.
	MissingRatio float64 `json:"missing_ratio,omitempty"`

	Diagnosis  Diagnosis `json:"diagnosis"`
	Severity   Severity  `json:"severity"`
	Confidence float64   `json:"confidence"`
	Summary    string    `json:"summary"`
	// Share, Muted and Pending are as in FeatureReport.
	Share   float64   `json:"share,omitempty"`
	Muted   bool      `json:"muted,omitempty"`
	Pending Diagnosis `json:"pending,omitempty"`

	// Similarity and Activation are the comparisons of the retrieval and
	// activation signals of this embedding, when it has them.
	Similarity *SimilarityReport `json:"similarity,omitempty"`
	Activation *ActivationReport `json:"activation,omitempty"`
	// Frozen is the frozen-query retrieval comparison, when the
	// embedding is the query of frozen runs or of a reference.
	Frozen *FrozenReport `json:"frozen,omitempty"`
}

// farNorm is how far from 1 a norm must be to count as clearly not unit
// for the mixed-norm evidence: 50 times the unit-norm tolerance.
const farNorm = 0.05

// CompareEmbedding compares e's current profile with its reference. It
// flushes the norm sketches' buffers.
func CompareEmbedding(e Embedding, th Thresholds) EmbeddingReport {
	r := EmbeddingReport{Name: e.Name, Diagnosis: OK, Confidence: 1}
	compareEmbedding(e, th, &r)
	overlaySignals(e, th, &r)
	for _, p := range []*float64{
		&r.DimMismatchRatio, &r.NonFiniteRatio, &r.NormKS, &r.UnitNormRatio,
		&r.RefUnitNormRatio, &r.FarNormRatio, &r.CentroidCosine, &r.DimsMovedRatio, &r.MissingRatio, &r.Share,
	} {
		*p = sanitize(*p)
	}
	for i := range r.NormQuantiles {
		r.NormQuantiles[i].Ref = sanitize(r.NormQuantiles[i].Ref)
		r.NormQuantiles[i].Cur = sanitize(r.NormQuantiles[i].Cur)
	}
	r.Confidence = clamp01(r.Confidence)
	return r
}

func compareEmbedding(e Embedding, th Thresholds, r *EmbeddingReport) {
	if e.Ref == nil || e.Ref.Count() == 0 {
		r.Diagnosis = NoBaseline
		r.Summary = "no baseline to compare with."
		if e.Cur != nil {
			r.Samples, r.Dim = e.Cur.Count(), e.Cur.Dim()
		}
		return
	}
	ref, cur := e.Ref, e.Cur
	r.RefSamples, r.RefDim = ref.Count(), ref.Dim()
	r.RefUnitNormRatio = ref.UnitNormRatio()
	if (cur == nil || cur.Count()+cur.DimMismatches()+cur.NonFinite() < th.MinSamples) && absentVectors(e, th, r) {
		return
	}
	if cur == nil {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("no vectors in the horizon; at least %d are needed to judge drift.", th.MinSamples)
		return
	}
	r.Samples, r.Dim = cur.Count(), cur.Dim()
	total := cur.Count() + cur.DimMismatches() + cur.NonFinite()
	if total < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("only %d vectors in the horizon; at least %d are needed to judge drift.", total, th.MinSamples)
		return
	}
	r.DimMismatchRatio = ratio(cur.DimMismatches(), total)
	r.NonFiniteRatio = ratio(cur.NonFinite(), total)

	// The dimension first: nothing else is comparable across dimensions.
	if cur.Dim() != ref.Dim() && cur.Count() > 0 {
		r.Diagnosis, r.Severity = EmbeddingDimMismatch, Critical
		r.Summary = fmt.Sprintf("production vectors have %d dimensions where the reference has %d: the embedding model or its configuration changed.", cur.Dim(), ref.Dim())
		return
	}
	if cur.Dim() != ref.Dim() || r.DimMismatchRatio >= th.DimMismatch.Warning {
		r.Diagnosis, r.Severity = EmbeddingDimMismatch, th.DimMismatch.of(r.DimMismatchRatio)
		if cur.Count() == 0 {
			r.Severity = Critical
		}
		r.Summary = fmt.Sprintf("%s of production vectors (%d) do not have the reference's %d dimensions.",
			pct(r.DimMismatchRatio), cur.DimMismatches(), ref.Dim())
		return
	}
	if absentVectors(e, th, r) {
		return
	}
	refTotal := ref.Count() + ref.DimMismatches() + ref.NonFinite()
	if rise, sig := proportionRise(cur.NonFinite(), total, ref.NonFinite(), refTotal, th.Alpha); sig && rise >= th.NonFinite.Warning {
		r.Diagnosis, r.Severity = NonFiniteValues, th.NonFinite.of(rise)
		r.Summary = fmt.Sprintf("%s of production vectors (%d) have NaN or infinite components.", pct(r.NonFiniteRatio), cur.NonFinite())
		return
	}
	if cur.Count() < th.MinSamples {
		r.Diagnosis = InsufficientData
		r.Summary = fmt.Sprintf("only %d usable vectors in the horizon; at least %d are needed to judge drift.", cur.Count(), th.MinSamples)
		return
	}

	refNorms, err1 := ref.Norms().Distribution()
	curNorms, err2 := cur.Norms().Distribution()
	if err1 != nil || err2 != nil {
		r.Diagnosis = InsufficientData
		r.Summary = "cannot compare: no norms."
		return
	}
	for _, q := range NormQuantiles {
		r.NormQuantiles = append(r.NormQuantiles, QuantilePair{Q: q, Ref: refNorms.Quantile(q), Cur: curNorms.Quantile(q)})
	}
	r.NormKS, _ = KS(refNorms, curNorms)
	normCrit := KSCritical(ref.Count(), cur.Count(), th.Alpha)
	r.UnitNormRatio = cur.UnitNormRatio()
	r.FarNormRatio = clamp01(curNorms.CDFBelow(1-farNorm) + 1 - curNorms.CDF(1+farNorm))
	medRef, medCur := refNorms.Quantile(0.5), curNorms.Quantile(0.5)

	refUnit := e.Norm == EmbeddingL2 || (e.Norm == "" && r.RefUnitNormRatio >= th.UnitNormRatio)
	if refUnit {
		nonUnit := cur.Count() - cur.UnitNorm()
		refNonUnit := ref.Count() - ref.UnitNorm()
		rise, sig := proportionRise(nonUnit, cur.Count(), refNonUnit, ref.Count(), th.Alpha)
		if sig && rise >= th.NonUnit.Warning {
			unitShare, otherShare := shares(cur.UnitNorm(), cur.Count())
			r.FarNormRatio = math.Min(r.FarNormRatio, 1-r.UnitNormRatio)
			if r.UnitNormRatio <= th.MixedFloor {
				r.Diagnosis, r.Severity = EmbeddingUnnormalized, Critical
				r.Confidence = 1 - r.UnitNormRatio
				r.Share = 1 - r.UnitNormRatio
				which := "only " + unitShare + " of production vectors are unit-norm"
				if cur.UnitNorm() == 0 {
					which = "no production vector is unit-norm"
				}
				r.Summary = fmt.Sprintf("%s (median norm %s, p5–p95 %s–%s) against %s in the reference: L2 normalization looks skipped.",
					which, num(medCur), num(r.NormQuantiles[0].Cur), num(r.NormQuantiles[4].Cur), pct(r.RefUnitNormRatio))
				return
			}
			r.Diagnosis, r.Severity = EmbeddingMixedNorms, th.NonUnit.of(rise)
			r.Confidence = clamp01(r.UnitNormRatio + r.FarNormRatio)
			r.Share = 1 - r.UnitNormRatio
			farShare, _ := shares(uint64(math.Round(r.FarNormRatio*float64(cur.Count()))), cur.Count())
			r.Summary = fmt.Sprintf("%s of production vectors are not unit-norm and %s are (%s of all have norms more than %s away from 1; median norm %s): normalized and unnormalized vectors are mixed.",
				otherShare, unitShare, farShare, pct(farNorm), num(medCur))
			return
		}
	} else if r.RefUnitNormRatio <= th.MixedFloor && r.UnitNormRatio > th.MixedFloor && r.UnitNormRatio < 1-th.MixedFloor {
		// An unnormalized reference, and now a good part of unit vectors.
		r.Diagnosis, r.Severity = EmbeddingMixedNorms, Critical
		r.Confidence = clamp01(r.UnitNormRatio + r.FarNormRatio)
		r.Share = r.UnitNormRatio
		unitShare, _ := shares(cur.UnitNorm(), cur.Count())
		r.Summary = fmt.Sprintf("%s of production vectors are unit-norm against %s in the reference (median norm %s vs %s): normalized and unnormalized vectors are mixed.",
			unitShare, pct(r.RefUnitNormRatio), num(medCur), num(medRef))
		return
	}

	// Norms consistent: has the direction or the per-dimension mean moved?
	cos, cosOK := centroidCosine(ref, cur)
	r.CentroidCosine = cos
	moved := movedDims(ref, cur, th)
	r.DimsMovedRatio = moved
	sev := th.DimsMoved.of(moved)
	if cosOK {
		sev = max(sev, th.Cosine.of(1-cos))
	}
	normSev := SeverityOK
	if !refUnit && r.NormKS > normCrit {
		normSev = th.NormShift.of(r.NormKS)
	}
	if sev >= Warning || normSev >= Warning {
		r.Diagnosis, r.Severity = EmbeddingModelChange, max(sev, normSev)
		r.Confidence = clamp01(math.Max(moved/th.DimsMoved.Warning, (1-cos)/th.Cosine.Warning) / 2)
		if normSev >= Warning {
			r.Confidence = math.Max(r.Confidence, 1-KSPValue(r.NormKS, ref.Count(), cur.Count()))
		}
		r.Summary = fmt.Sprintf("the mean direction turned (cosine %s with the reference's) and %s of dimensions moved their mean by more than %sσ (median norm %s vs %s): the embedding model or its inputs changed.",
			num(cos), pct(moved), num(th.DimShift), num(medCur), num(medRef))
		return
	}
	r.Diagnosis, r.Severity = OK, SeverityOK
	r.Summary = fmt.Sprintf("no significant change (cosine %s, %s of dimensions moved, %s unit-norm, median norm %s vs %s).",
		num(cos), pct(moved), pct(r.UnitNormRatio), num(medCur), num(medRef))
}

// absentVectors reports missing_spike when the horizon's events carry
// fewer vectors than there are events (absent or null), significantly
// more often than the baseline, which has one in every row.
func absentVectors(e Embedding, th Thresholds, r *EmbeddingReport) bool {
	var have uint64
	if e.Cur != nil {
		have = e.Cur.Count() + e.Cur.DimMismatches() + e.Cur.NonFinite()
	}
	if e.Events < th.MinSamples || have >= e.Events {
		return false
	}
	absent := e.Events - have
	r.MissingRatio = ratio(absent, e.Events)
	refTotal := e.Ref.Count() + e.Ref.DimMismatches() + e.Ref.NonFinite()
	rise, sig := proportionRise(absent, e.Events, 0, refTotal, th.Alpha)
	if !sig || rise < th.Missing.Warning {
		return false
	}
	r.Diagnosis, r.Severity, r.Share = MissingSpike, th.Missing.of(rise), r.MissingRatio
	if e.Cur != nil {
		r.Samples, r.Dim = e.Cur.Count(), e.Cur.Dim()
	}
	if absent == e.Events {
		r.Summary = fmt.Sprintf("the embedding is absent (or null) in all %d events of the horizon: it stopped arriving, renamed or dropped upstream.", e.Events)
	} else {
		r.Summary = fmt.Sprintf("%s of the horizon's %d events carry no vector (absent or null), against none in the reference.", pct(r.MissingRatio), e.Events)
	}
	return true
}

// centroidCosine returns the cosine of the two mean vectors, and whether
// both means stand out of their sampling noise (a squared norm at least
// ten times the sum of per-dimension variances over n), so their
// directions mean something.
func centroidCosine(ref, cur *sketch.Vector) (float64, bool) {
	mr, mc := ref.Mean(), cur.Mean()
	vr, vc := ref.Variance(), cur.Variance()
	if len(mr) != len(mc) || len(mr) == 0 {
		return 0, false
	}
	var dot, nr, nc, noiseR, noiseC float64
	for j := range mr {
		dot += mr[j] * mc[j]
		nr += mr[j] * mr[j]
		nc += mc[j] * mc[j]
		noiseR += vr[j]
		noiseC += vc[j]
	}
	if nr == 0 || nc == 0 {
		return 0, false
	}
	cos := dot / math.Sqrt(nr*nc)
	ok := nr >= 10*noiseR/float64(ref.Count()) && nc >= 10*noiseC/float64(cur.Count())
	return math.Max(-1, math.Min(1, cos)), ok
}

// movedDims returns the share of dimensions whose current mean differs from
// the reference's both significantly (a two-sample z-test at Alpha divided
// among the dimensions) and by at least DimShift reference σ.
func movedDims(ref, cur *sketch.Vector, th Thresholds) float64 {
	mr, mc := ref.Mean(), cur.Mean()
	vr, vc := ref.Variance(), cur.Variance()
	if len(mr) != len(mc) || len(mr) == 0 {
		return 0
	}
	nr, nc := float64(ref.Count()), float64(cur.Count())
	z := zTwoSided(th.Alpha / float64(len(mr)))
	moved := 0
	for j := range mr {
		d := math.Abs(mc[j] - mr[j])
		se := math.Sqrt(vr[j]/nr + vc[j]/nc)
		sd := math.Sqrt(vr[j])
		if d > 0 && (se == 0 || d/se >= z) && d >= th.DimShift*sd {
			moved++
		}
	}
	return float64(moved) / float64(len(mr))
}
