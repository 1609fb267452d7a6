package sketch

import (
	"encoding/json"
	"fmt"
	"math"
)

// Similarity metrics: how a score is computed from a query vector q and a
// retrieved document vector d when an event carries the vectors but not
// the scores.
const (
	MetricDot    = "dot"    // q·d, inner product (the default)
	MetricCosine = "cosine" // q·d / (‖q‖‖d‖)
	// MetricL2 is 1 / (1 + ‖q − d‖), the similarity of an L2-distance
	// index: it is where a missing normalization compresses the scores,
	// as the distance is then dominated by the larger norm.
	MetricL2 = "l2"
)

// Metrics lists the similarity metrics, for messages.
const Metrics = "dot, cosine or l2"

// ValidMetric reports whether m names a metric ("" is MetricDot).
func ValidMetric(m string) bool {
	switch m {
	case "", MetricDot, MetricCosine, MetricL2:
		return true
	}
	return false
}

// Score returns the similarity of q and d under metric. Both must have the
// same length.
func Score(metric string, q, d []float32) float64 {
	var dot, qq, dd, l2 float64
	for j := range q {
		a, b := float64(q[j]), float64(d[j])
		dot += a * b
		qq += a * a
		dd += b * b
		l2 += (a - b) * (a - b)
	}
	switch metric {
	case MetricCosine:
		if qq == 0 || dd == 0 {
			return 0
		}
		return dot / math.Sqrt(qq*dd)
	case MetricL2:
		return 1 / (1 + math.Sqrt(l2))
	}
	return dot
}

// Similarity summarizes the query-document similarity of a retrieval: the
// scores, and the L2 norms of the query vectors and of the retrieved
// document vectors, with how many of each are unit-norm. The norms are the
// evidence of which side lost its normalization when the scores change.
type Similarity struct {
	scores    *Numeric
	queryNorm *Numeric
	docNorm   *Numeric
	queryUnit uint64
	docUnit   uint64
}

// NewSimilarity returns an empty Similarity.
func NewSimilarity() *Similarity {
	return &Similarity{scores: NewNumeric(), queryNorm: NewNumeric(), docNorm: NewNumeric()}
}

// Scores returns the sketch of the similarity scores.
func (s *Similarity) Scores() *Numeric { return s.scores }

// QueryNorms returns the sketch of the query vectors' L2 norms.
func (s *Similarity) QueryNorms() *Numeric { return s.queryNorm }

// DocNorms returns the sketch of the document vectors' L2 norms.
func (s *Similarity) DocNorms() *Numeric { return s.docNorm }

// QueryUnitRatio returns the share of query norms within
// DefaultUnitTolerance of 1, or 0 with none.
func (s *Similarity) QueryUnitRatio() float64 { return unitRatio(s.queryUnit, s.queryNorm) }

// DocUnitRatio returns the share of document norms within
// DefaultUnitTolerance of 1, or 0 with none.
func (s *Similarity) DocUnitRatio() float64 { return unitRatio(s.docUnit, s.docNorm) }

func unitRatio(unit uint64, n *Numeric) float64 {
	if c := n.Count(); c > 0 {
		return float64(unit) / float64(c)
	}
	return 0
}

// AddScore adds one similarity score.
func (s *Similarity) AddScore(x float64) { s.scores.Add(x) }

// AddQuery adds the norm of one query vector.
func (s *Similarity) AddQuery(q []float32) {
	n := math.Sqrt(sumSquares32(q))
	s.queryNorm.Add(n)
	if math.Abs(n-1) <= DefaultUnitTolerance {
		s.queryUnit++
	}
}

// AddDoc adds the norm of one document vector.
func (s *Similarity) AddDoc(d []float32) {
	n := math.Sqrt(sumSquares32(d))
	s.docNorm.Add(n)
	if math.Abs(n-1) <= DefaultUnitTolerance {
		s.docUnit++
	}
}

// AddRetrieval adds one retrieval: the query vector q (nil when the event
// carries none), the documents (dim values each, one after the other) and
// the scores. Without scores and with a query, the score of each document
// is computed under metric; docs of another length than q's are left out
// (the decoder refuses them before).
func (s *Similarity) AddRetrieval(q []float32, docs []float32, dim int, scores []float64, metric string) {
	if q != nil {
		s.AddQuery(q)
	}
	for _, x := range scores {
		s.AddScore(x)
	}
	if dim <= 0 {
		return
	}
	for i := 0; i+dim <= len(docs); i += dim {
		d := docs[i : i+dim]
		s.AddDoc(d)
		if len(scores) == 0 && len(q) == dim {
			s.AddScore(Score(metric, q, d))
		}
	}
}

// Merge adds o's content to s.
func (s *Similarity) Merge(o *Similarity) error {
	if err := s.scores.Merge(o.scores); err != nil {
		return fmt.Errorf("merging similarity scores: %w", err)
	}
	if err := s.queryNorm.Merge(o.queryNorm); err != nil {
		return fmt.Errorf("merging query norms: %w", err)
	}
	if err := s.docNorm.Merge(o.docNorm); err != nil {
		return fmt.Errorf("merging document norms: %w", err)
	}
	s.queryUnit += o.queryUnit
	s.docUnit += o.docUnit
	return nil
}

// Clone returns an independent copy of s.
func (s *Similarity) Clone() *Similarity {
	return &Similarity{scores: s.scores.Clone(), queryNorm: s.queryNorm.Clone(), docNorm: s.docNorm.Clone(),
		queryUnit: s.queryUnit, docUnit: s.docUnit}
}

// Compact releases the buffers of s's sketches.
func (s *Similarity) Compact() {
	s.scores.Compact()
	s.queryNorm.Compact()
	s.docNorm.Compact()
}

// similarityWire is the content of a Similarity, shared by both encodings.
type similarityWire struct {
	Version   int      `json:"version"`
	Scores    *Numeric `json:"scores"`
	QueryNorm *Numeric `json:"query_norms"`
	DocNorm   *Numeric `json:"doc_norms"`
	QueryUnit uint64   `json:"query_unit_norm"`
	DocUnit   uint64   `json:"doc_unit_norm"`
}

func (w similarityWire) similarity() (*Similarity, error) {
	if w.Version != EncodingVersion {
		return nil, corrupt("similarity version %d, want %d", w.Version, EncodingVersion)
	}
	if w.Scores == nil || w.QueryNorm == nil || w.DocNorm == nil {
		return nil, corrupt("similarity: a sketch is missing")
	}
	if w.QueryUnit > w.QueryNorm.Count() || w.DocUnit > w.DocNorm.Count() {
		return nil, corrupt("similarity: more unit norms than norms")
	}
	return &Similarity{scores: w.Scores, queryNorm: w.QueryNorm, docNorm: w.DocNorm, queryUnit: w.QueryUnit, docUnit: w.DocUnit}, nil
}

const similarityMagic = "NWS"

// MarshalBinary encodes s.
func (s *Similarity) MarshalBinary() ([]byte, error) {
	w := writer{b: append([]byte(similarityMagic), EncodingVersion)}
	w.u(s.queryUnit)
	w.u(s.docUnit)
	return appendNumerics(w, s.scores, s.queryNorm, s.docNorm)
}

// UnmarshalBinary replaces s with the Similarity in data.
func (s *Similarity) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	r.header(similarityMagic)
	w := similarityWire{Version: EncodingVersion}
	w.QueryUnit, w.DocUnit = r.u("query unit norms"), r.u("document unit norms")
	if err := readNumerics(&r, &w.Scores, &w.QueryNorm, &w.DocNorm); err != nil {
		return err
	}
	d, err := w.similarity()
	if err != nil {
		return err
	}
	*s = *d
	return nil
}

// appendNumerics appends each of ns, length-prefixed, to w: the binary
// form of the sketches made of Numerics.
func appendNumerics(w writer, ns ...*Numeric) ([]byte, error) {
	for _, n := range ns {
		b, err := n.MarshalBinary()
		if err != nil {
			return nil, err
		}
		w.u(uint64(len(b)))
		w.b = append(w.b, b...)
	}
	return w.b, nil
}

// readNumerics reads what appendNumerics wrote into dsts, and checks that
// nothing is left.
func readNumerics(r *reader, dsts ...**Numeric) error {
	for _, dst := range dsts {
		n := r.length("numeric bytes", 1)
		if r.err != nil {
			return r.err
		}
		x := new(Numeric)
		if err := x.UnmarshalBinary(r.b[:n]); err != nil {
			return err
		}
		r.b = r.b[n:]
		*dst = x
	}
	return r.done()
}

// MarshalJSON encodes s as JSON, for baselines.
func (s *Similarity) MarshalJSON() ([]byte, error) {
	return json.Marshal(similarityWire{Version: EncodingVersion, Scores: s.scores, QueryNorm: s.queryNorm,
		DocNorm: s.docNorm, QueryUnit: s.queryUnit, DocUnit: s.docUnit})
}

// UnmarshalJSON replaces s with the Similarity in data.
func (s *Similarity) UnmarshalJSON(data []byte) error {
	var w similarityWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d, err := w.similarity()
	if err != nil {
		return err
	}
	*s = *d
	return nil
}
