package drift

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// frozenRuns makes a reference of queries frozen queries at depth k and
// runs of each (runs per query) that keep each reference document with
// probability keep (the rest replaced by documents outside it).
func frozenRuns(t *testing.T, seed uint64, queries, runs, k int, keep float64) (*sketch.FrozenRef, *sketch.Frozen) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	refs := map[string][]string{}
	for q := range queries {
		var docs []string
		for d := range k {
			docs = append(docs, fmt.Sprintf("q%d-d%d", q, d))
		}
		refs[fmt.Sprintf("fq-%04d", q)] = docs
	}
	ref, err := sketch.NewFrozenRef(k, refs)
	require.NoError(t, err)
	cur := sketch.NewFrozen(k)
	for q := range queries {
		id := fmt.Sprintf("fq-%04d", q)
		for range runs {
			var run []uint64
			for d, doc := range refs[id] {
				if rng.Float64() >= keep {
					doc = fmt.Sprintf("other-%d-%d", q, d)
				}
				run = append(run, sketch.DocID([]byte(doc)))
			}
			r, o, ok := ref.Score(id, run)
			require.True(t, ok)
			cur.Add(id, r, o, 1<<20)
		}
	}
	return ref, cur
}

func TestCompareFrozen(t *testing.T) {
	th := DefaultThresholds()
	for _, c := range []struct {
		name     string
		queries  int
		keep     float64
		want     Diagnosis
		severity Severity
	}{
		{"as the reference", 140, 1, OK, SeverityOK},
		{"a little lower", 140, 0.97, OK, SeverityOK},
		{"warning", 140, 0.82, RetrievalRegression, Warning},
		{"critical", 140, 0.6, RetrievalRegression, Critical},
		// Fewer distinct frozen queries than min_frozen_queries: no
		// verdict of its own, so never a page.
		{"too few queries", 19, 0.2, InsufficientData, SeverityOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref, cur := frozenRuns(t, 1, c.queries, 3, 10, c.keep)
			r := CompareEmbedding(Embedding{Name: "query", RefFrozen: ref, CurFrozen: cur}, th)
			require.NotNil(t, r.Frozen)
			require.Equal(t, c.queries, r.Frozen.Queries)
			require.Equal(t, uint64(3*c.queries), r.Frozen.Runs)
			want, _ := cur.Means()
			require.InDelta(t, want, r.Frozen.Recall, 1e-12)
			if c.want == InsufficientData {
				require.Equal(t, SeverityOK, r.Severity)
				require.NotEqual(t, RetrievalRegression, r.Diagnosis)
				return
			}
			require.Equal(t, c.want, r.Diagnosis, r.Summary)
			require.Equal(t, c.severity, r.Severity)
		})
	}
}

// TestFrozenWithNorms: the regression's sentence carries the query
// vectors' norm evidence, and wins over the vectors' own diagnosis.
func TestFrozenWithNorms(t *testing.T) {
	th := DefaultThresholds()
	const dim = 32
	mu := direction(dim, 1)
	unit := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: always(true)}
	raw := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0), scale: 1}
	ref, cur := frozenRuns(t, 2, 140, 2, 10, 0.62)
	r := CompareEmbedding(Embedding{Name: "query", Ref: unit.vector(t, 5000, 1), Cur: raw.vector(t, 400, 2), RefFrozen: ref, CurFrozen: cur}, th)
	require.Equal(t, RetrievalRegression, r.Diagnosis)
	require.Equal(t, Critical, r.Severity)
	require.Contains(t, r.Summary, "over 140 of them (1.00 for their recorded run")
	require.Contains(t, r.Summary, "L2 normalization looks missing at query time")
	r = CompareEmbedding(Embedding{Name: "query", Ref: unit.vector(t, 5000, 1), Cur: unit.vector(t, 400, 2), RefFrozen: ref, CurFrozen: cur}, th)
	require.Equal(t, RetrievalRegression, r.Diagnosis)
	require.Contains(t, r.Summary, "inspect the index")
}
