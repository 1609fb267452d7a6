package drift

import (
	"slices"
	"strings"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// FeatureSketch is one feature of a Set: its sketch, the normalization a
// baseline declares for it, and, in a current Set, the optional pairs of
// raw and normalized values.
type FeatureSketch struct {
	Sketch *sketch.Numeric
	Norm   Normalization
	Pair   *sketch.Pair
}

// EmbeddingSketch is one embedding field of a Set with its declared
// normalization ("l2", "none" or "" to let the reference's norms decide).
type EmbeddingSketch struct {
	Sketch *sketch.Vector
	Norm   string
	// Similarity holds the retrievals whose query is this embedding, and
	// Activation its per-vector profile when it is an activation field;
	// nil without. ActivationNorm is a baseline's recorded fit.
	Similarity     *sketch.Similarity
	Activation     *sketch.Activation
	ActivationNorm string
	// FrozenRef is a baseline's frozen-query reference, Frozen the
	// current runs' aggregates (frozen.go); nil without.
	FrozenRef *sketch.FrozenRef
	Frozen    *sketch.Frozen
}

// Set is what one side of a comparison holds for a model version: sketches
// by feature and embedding name.
type Set struct {
	Features   map[string]FeatureSketch
	Embeddings map[string]EmbeddingSketch
	// Events, when known, is how many events a current Set summarizes: a
	// feature or embedding of the reference with fewer values than
	// events was absent (or null) in the others, and one absent from
	// every event is missing_spike, not insufficient_data. 0: unknown.
	Events uint64
}

// Report is the comparison of two Sets, features and embeddings each
// sorted by name.
type Report struct {
	Features   []FeatureReport   `json:"features"`
	Embeddings []EmbeddingReport `json:"embeddings"`
	// Outcomes compare the version's outcomes with its previous and live
	// versions' (outcome.go), when outcomes are configured.
	Outcomes []OutcomeReport `json:"outcomes,omitempty"`
}

// Severity returns the highest severity of the report.
func (r Report) Severity() Severity {
	s := SeverityOK
	for _, f := range r.Features {
		s = max(s, f.Severity)
	}
	for _, e := range r.Embeddings {
		s = max(s, e.Severity)
	}
	for _, o := range r.Outcomes {
		s = max(s, o.Severity)
	}
	return s
}

// Compare compares every feature and embedding named in either set. The
// declared normalizations come from the reference; a Pair from the current
// set. A name only in the current set is no_baseline; a name only in the
// reference is insufficient_data.
func Compare(ref, cur Set, th Thresholds) Report {
	var rep Report
	for _, name := range unionKeys(ref.Features, cur.Features) {
		r, c := ref.Features[name], cur.Features[name]
		rep.Features = append(rep.Features, CompareFeature(Feature{
			Name: name, Ref: r.Sketch, Cur: c.Sketch, Norm: r.Norm, Pair: c.Pair, Events: cur.Events,
		}, th))
	}
	for _, name := range unionKeys(ref.Embeddings, cur.Embeddings) {
		r, c := ref.Embeddings[name], cur.Embeddings[name]
		rep.Embeddings = append(rep.Embeddings, CompareEmbedding(embeddingOf(name, r, c, cur.Events), th))
	}
	return rep
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
