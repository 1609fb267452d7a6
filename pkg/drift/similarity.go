package drift

import (
	"fmt"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// The diagnoses of the retrieval and activation signals (stable names, as
// the others).
const (
	// SimilarityCompressed: the query-document similarity scores of a
	// retrieval bunched into a band much narrower than the reference's.
	SimilarityCompressed Diagnosis = "similarity_compressed"
	// ActivationNormChange: an activation field's per-vector statistics fit
	// another normalization layer (LayerNorm, RMSNorm, none) than the
	// reference's.
	ActivationNormChange Diagnosis = "activation_norm_change"
)

func init() { Diagnoses = append(Diagnoses, SimilarityCompressed, ActivationNormChange) }

// SimilarityQuantiles are the quantiles of the scores a SimilarityReport
// shows.
var SimilarityQuantiles = []float64{0.05, 0.25, 0.5, 0.75, 0.95}

// SimilarityReport is the comparison of a retrieval's similarity scores,
// reported on its query embedding. Spreads are p95 − p5 (the band) and the
// IQR; a statistic that cannot be computed is 0.
type SimilarityReport struct {
	Samples    uint64         `json:"samples"`
	RefSamples uint64         `json:"ref_samples"`
	Quantiles  []QuantilePair `json:"quantiles"`
	Band       float64        `json:"band"`
	RefBand    float64        `json:"ref_band"`
	IQR        float64        `json:"iqr"`
	RefIQR     float64        `json:"ref_iqr"`
	// SpreadRatio is Band / RefBand: below Thresholds.Compression (with
	// the IQR ratio) the scores are compressed.
	SpreadRatio float64 `json:"spread_ratio"`
	IQRRatio    float64 `json:"iqr_ratio"`
	// MedianShift is the current median minus the reference's: where the
	// band moved.
	MedianShift float64 `json:"median_shift"`
	KS          float64 `json:"ks"`
	// Mean and RefMean are the scores' means (with Samples, the sums of a
	// Prometheus summary).
	Mean    float64 `json:"mean"`
	RefMean float64 `json:"ref_mean"`

	// The norm evidence of either side: median L2 norm and unit-norm
	// share of the query and document vectors (0 and counts 0 when the
	// events carry none).
	QueryNorms         uint64  `json:"query_norms"`
	QueryNormMedian    float64 `json:"query_norm_median"`
	RefQueryNormMedian float64 `json:"ref_query_norm_median"`
	QueryUnitRatio     float64 `json:"query_unit_norm_ratio"`
	RefQueryUnitRatio  float64 `json:"ref_query_unit_norm_ratio"`
	DocNorms           uint64  `json:"doc_norms"`
	DocNormMedian      float64 `json:"doc_norm_median"`
	RefDocNormMedian   float64 `json:"ref_doc_norm_median"`
	DocUnitRatio       float64 `json:"doc_unit_norm_ratio"`
	RefDocUnitRatio    float64 `json:"ref_doc_unit_norm_ratio"`
}

// embeddingOf returns the Embedding to compare for name from the two
// sides' sketches.
func embeddingOf(name string, r, c EmbeddingSketch, events uint64) Embedding {
	return Embedding{Name: name, Ref: r.Sketch, Cur: c.Sketch, Norm: r.Norm, Events: events,
		RefSim: r.Similarity, CurSim: c.Similarity, RefAct: r.Activation, CurAct: c.Activation, ActNorm: r.ActivationNorm,
		RefFrozen: r.FrozenRef, CurFrozen: c.Frozen}
}

func median(n *sketch.Numeric) float64 {
	if n == nil || n.Count() == 0 {
		return 0
	}
	q, err := n.Quantile(0.5)
	if err != nil {
		return 0
	}
	return q
}

// compareSimilarity fills the report of cur against ref and returns the
// verdict when both have enough scores to judge (ok or
// similarity_compressed), else nil.
func compareSimilarity(ref, cur *sketch.Similarity, th Thresholds) (*SimilarityReport, *verdict) {
	if cur == nil && ref == nil {
		return nil, nil
	}
	r := &SimilarityReport{}
	if cur != nil {
		r.Samples = cur.Scores().Count()
		r.QueryNorms, r.DocNorms = cur.QueryNorms().Count(), cur.DocNorms().Count()
		r.QueryNormMedian, r.DocNormMedian = median(cur.QueryNorms()), median(cur.DocNorms())
		r.QueryUnitRatio, r.DocUnitRatio = cur.QueryUnitRatio(), cur.DocUnitRatio()
	}
	if ref != nil {
		r.RefSamples = ref.Scores().Count()
		r.RefQueryNormMedian, r.RefDocNormMedian = median(ref.QueryNorms()), median(ref.DocNorms())
		r.RefQueryUnitRatio, r.RefDocUnitRatio = ref.QueryUnitRatio(), ref.DocUnitRatio()
	}
	defer sanitizeSimilarity(r)
	if ref == nil || cur == nil || r.RefSamples < 2 || r.Samples < th.MinSamples {
		return r, nil
	}
	rd, err1 := ref.Scores().Distribution()
	cd, err2 := cur.Scores().Distribution()
	if err1 != nil || err2 != nil {
		return r, nil
	}
	for _, q := range SimilarityQuantiles {
		r.Quantiles = append(r.Quantiles, QuantilePair{Q: q, Ref: rd.Quantile(q), Cur: cd.Quantile(q)})
	}
	qs := r.Quantiles
	r.Band, r.RefBand = qs[4].Cur-qs[0].Cur, qs[4].Ref-qs[0].Ref
	r.IQR, r.RefIQR = qs[3].Cur-qs[1].Cur, qs[3].Ref-qs[1].Ref
	r.SpreadRatio, r.IQRRatio = spreadRatio(r.Band, r.RefBand), spreadRatio(r.IQR, r.RefIQR)
	r.MedianShift = qs[2].Cur - qs[2].Ref
	r.KS, _ = KS(rd, cd)
	r.Mean, r.RefMean = cur.Scores().Mean(), ref.Scores().Mean()

	v := &verdict{Diagnosis: OK, Severity: SeverityOK, Confidence: 1}
	crit := KSCritical(r.RefSamples, r.Samples, th.Alpha)
	if r.RefBand > 0 && r.SpreadRatio <= th.Compression && r.IQRRatio <= th.Compression && r.KS > crit {
		cause, named := r.cause(th)
		v.Diagnosis, v.Severity = SimilarityCompressed, Warning
		if named || r.SpreadRatio <= th.Compression/2 {
			v.Severity = Critical
		}
		v.Confidence = clamp01(1 - r.SpreadRatio)
		v.Summary = fmt.Sprintf("similarity scores compressed to a band %s wide (baseline %s; p5–p95), median %s (baseline %s): %s",
			num(r.Band), num(r.RefBand), num(qs[2].Cur), num(qs[2].Ref), cause)
		return r, v
	}
	v.Summary = fmt.Sprintf("similarity scores as in the baseline (band %s against %s, median %s against %s).",
		num(r.Band), num(r.RefBand), num(qs[2].Cur), num(qs[2].Ref))
	return r, v
}

func spreadRatio(cur, ref float64) float64 {
	if ref <= 0 {
		return 0
	}
	return cur / ref
}

// cause names which side's normalization the norms point at, and whether
// they point at one.
func (r *SimilarityReport) cause(th Thresholds) (string, bool) {
	// A side lost its normalization when its vectors are mostly not
	// unit-norm now while the reference's were (or the reference has no
	// vectors of that side to say otherwise).
	lost := func(n uint64, unit, refUnit float64, refN float64) bool {
		return n > 0 && unit < th.UnitNormRatio && (refN == 0 || refUnit >= th.UnitNormRatio)
	}
	unitNow := func(n uint64, unit float64) bool { return n > 0 && unit >= th.UnitNormRatio }
	qLost := lost(r.QueryNorms, r.QueryUnitRatio, r.RefQueryUnitRatio, r.RefQueryNormMedian)
	dLost := lost(r.DocNorms, r.DocUnitRatio, r.RefDocUnitRatio, r.RefDocNormMedian)
	qUnit, dUnit := unitNow(r.QueryNorms, r.QueryUnitRatio), unitNow(r.DocNorms, r.DocUnitRatio)
	qn, dn := num(r.QueryNormMedian), num(r.DocNormMedian)
	switch {
	case qLost && dUnit:
		return fmt.Sprintf("query vectors are not unit-norm (median norm %s) while documents are: L2 normalization is missing on the query side.", qn), true
	case dLost && qUnit:
		return fmt.Sprintf("document vectors are not unit-norm (median norm %s) while queries are: L2 normalization is missing on the document (index) side.", dn), true
	case qLost && dLost:
		return fmt.Sprintf("neither query vectors (median norm %s) nor document vectors (median norm %s) are unit-norm: L2 normalization is missing on both sides.", qn, dn), true
	case qLost:
		return fmt.Sprintf("query vectors are not unit-norm (median norm %s; the events carry no document vectors): L2 normalization looks missing on the query side.", qn), true
	case dLost:
		return fmt.Sprintf("document vectors are not unit-norm (median norm %s; the events carry no query vectors): L2 normalization looks missing on the document side.", dn), true
	case qUnit && dUnit:
		return "query and document vectors are unit-norm as in the baseline: the scoring changed, not the normalization of either side.", false
	case r.QueryNorms == 0 && r.DocNorms == 0:
		return "the events carry no query or document vectors to tell which side changed.", false
	}
	return fmt.Sprintf("the norms point at neither side alone (median query norm %s, document norm %s).", qn, dn), false
}

func sanitizeSimilarity(r *SimilarityReport) {
	for _, p := range []*float64{&r.Band, &r.RefBand, &r.IQR, &r.RefIQR, &r.SpreadRatio, &r.IQRRatio, &r.MedianShift, &r.KS, &r.Mean, &r.RefMean,
		&r.QueryNormMedian, &r.RefQueryNormMedian, &r.QueryUnitRatio, &r.RefQueryUnitRatio,
		&r.DocNormMedian, &r.RefDocNormMedian, &r.DocUnitRatio, &r.RefDocUnitRatio} {
		*p = sanitize(*p)
	}
	for i := range r.Quantiles {
		r.Quantiles[i].Ref, r.Quantiles[i].Cur = sanitize(r.Quantiles[i].Ref), sanitize(r.Quantiles[i].Cur)
	}
}

// overlaySignals adds the similarity and activation comparisons of e to
// its embedding report r and lets them name the diagnosis: an activation
// field whose normalization layer changed, or compressed similarity
// scores, say more than the norms alone (their sentences carry the norm
// evidence), but a data fault of the vectors (another dimension,
// non-finite values, vectors gone missing) comes first. An embedding
// known only through its retrieval scores is judged on them.
func overlaySignals(e Embedding, th Thresholds, r *EmbeddingReport) {
	var sv, av, fv *verdict
	if e.RefFrozen != nil || e.CurFrozen != nil {
		r.Frozen, fv = compareFrozen(e.RefFrozen, e.CurFrozen, th)
	}
	if fv != nil && fv.Severity > SeverityOK {
		// Named with the evidence of the vectors and the similarity,
		// judged first; it then takes the embedding's verdict over what
		// the vectors say (the regression is what users see, and its
		// sentence carries their evidence), but not over a data fault of
		// the vectors or the other signals' named causes.
		defer func() {
			switch r.Diagnosis {
			case EmbeddingDimMismatch, NonFiniteValues, MissingSpike:
				return
			case SimilarityCompressed, ActivationNormChange:
				// The named cause keeps the subject's alert; the
				// regression it explains joins its sentence.
				r.Summary += " With it, a retrieval regression: " + fv.Summary + "."
				return
			}
			fv.Summary += ": " + frozenCause(r, th)
			r.setVerdict(*fv)
			r.Share = 0
		}()
	}
	if e.RefSim != nil || e.CurSim != nil {
		r.Similarity, sv = compareSimilarity(e.RefSim, e.CurSim, th)
	}
	if e.RefAct != nil || e.CurAct != nil {
		r.Activation, av = compareActivation(e.RefAct, e.CurAct, e.ActNorm, th)
	}
	switch r.Diagnosis {
	case EmbeddingDimMismatch, NonFiniteValues, MissingSpike:
		return
	}
	// The vectors say nothing: no baseline of them, or none in the
	// horizon; the signals judged stand for the subject.
	vectorless := r.Diagnosis == NoBaseline || (r.Diagnosis == InsufficientData && (e.Cur == nil || e.Cur.Count() == 0))
	for _, v := range []*verdict{av, sv} {
		if v != nil && v.Severity > SeverityOK {
			r.setVerdict(*v)
			r.Share = 0
			return
		}
	}
	if vectorless {
		for _, v := range []*verdict{av, sv, fv} {
			if v != nil {
				r.setVerdict(*v)
				return
			}
		}
	}
}
