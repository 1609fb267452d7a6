package drift

import (
	"fmt"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// RetrievalRegression: the runs of a frozen query set retrieve fewer of
// the reference run's top-k than the reference itself (whose recall@k is
// 1 by definition): the level of recall@k over enough distinct frozen
// queries fell by Thresholds.FrozenRecallDrop.
const RetrievalRegression Diagnosis = "retrieval_regression"

func init() { Diagnoses = append(Diagnoses, RetrievalRegression) }

// FrozenReport is the frozen-query retrieval comparison of an embedding
// (the retrieval's query embedding): recall@k and the rank-biased overlap
// (sketch.OverlapP, truncated at k) of the runs against the reference
// top-k, each the mean over distinct frozen queries of the query's mean
// over its runs.
type FrozenReport struct {
	K          int     `json:"k"`
	RefQueries int     `json:"ref_queries"` // query ids in the reference
	Queries    int     `json:"queries"`     // distinct frozen query ids run
	Runs       uint64  `json:"runs"`
	Recall     float64 `json:"recall"`
	Overlap    float64 `json:"overlap"`
	// Unknown counts the runs of query ids not in the reference (left
	// out), OverCap those past limits.max_frozen_queries.
	Unknown uint64 `json:"unknown"`
	OverCap uint64 `json:"over_cap"`
}

// compareFrozen fills the report of cur against ref and returns the
// verdict when there are enough distinct frozen queries to judge, else
// nil.
func compareFrozen(ref *sketch.FrozenRef, cur *sketch.Frozen, th Thresholds) (*FrozenReport, *verdict) {
	if ref == nil && cur == nil {
		return nil, nil
	}
	r := &FrozenReport{}
	if ref != nil {
		r.K, r.RefQueries = ref.K(), ref.Queries()
	}
	if cur == nil {
		return r, nil
	}
	r.K, r.Queries, r.Runs, r.Unknown, r.OverCap = cur.K(), cur.Queries(), cur.Runs(), cur.Unknown(), cur.OverCap()
	r.Recall, r.Overlap = cur.Means()
	r.Recall, r.Overlap = sanitize(r.Recall), sanitize(r.Overlap)
	if uint64(r.Queries) < th.MinFrozenQueries {
		return r, nil
	}
	v := &verdict{Diagnosis: OK, Severity: SeverityOK, Confidence: 1}
	drop := 1 - r.Recall
	if s := th.FrozenRecallDrop.of(drop); s > SeverityOK {
		v.Diagnosis, v.Severity = RetrievalRegression, s
		v.Confidence = clamp01(drop / th.FrozenRecallDrop.Critical)
		v.Summary = fmt.Sprintf("recall@%d of the frozen queries fell to %.2f over %d of them (1.00 for their recorded run; rank-biased overlap %.2f)",
			r.K, r.Recall, r.Queries, r.Overlap)
		return r, v
	}
	v.Summary = fmt.Sprintf("recall@%d of the frozen queries %.2f over %d of them (rank-biased overlap %.2f).", r.K, r.Recall, r.Queries, r.Overlap)
	return r, v
}

// frozenCause names what the embedding's own norms and its retrievals'
// similarity say about a retrieval regression.
func frozenCause(r *EmbeddingReport, th Thresholds) string {
	if s := r.Similarity; s != nil && s.QueryNorms+s.DocNorms > 0 {
		if c, named := s.cause(th); named {
			return c
		}
	}
	switch r.Diagnosis {
	case EmbeddingUnnormalized, EmbeddingMixedNorms:
		return fmt.Sprintf("the query vectors are not unit-norm (unit-norm share %.2f, baseline %.2f): L2 normalization looks missing at query time.", r.UnitNormRatio, r.RefUnitNormRatio)
	case EmbeddingModelChange:
		return "the query embeddings moved as for another embedding model: check which model embeds the queries and the index."
	}
	if r.Samples > 0 && r.RefSamples > 0 && r.UnitNormRatio < th.UnitNormRatio && r.RefUnitNormRatio >= th.UnitNormRatio {
		return fmt.Sprintf("the query vectors are not unit-norm (unit-norm share %.2f, baseline %.2f): L2 normalization looks missing at query time.", r.UnitNormRatio, r.RefUnitNormRatio)
	}
	if r.Samples > 0 && r.UnitNormRatio >= th.UnitNormRatio {
		return "the query vectors are unit-norm: inspect the index (documents re-embedded or re-normalized, a rebuilt ANN index) and query preprocessing."
	}
	return "inspect query-side normalization and the index."
}
