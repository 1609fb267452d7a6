package drift

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

func BenchmarkCompareFeature(b *testing.B) {
	ref := numericOf(b, draw(lognormal(0, 1), 100_000, 1))
	cur := numericOf(b, draw(lognormal(0.1, 1), 10_000, 2))
	ref.Compact()
	cur.Compact()
	th := DefaultThresholds()
	f := Feature{Name: "x", Ref: ref, Cur: cur}
	b.ReportAllocs()
	for b.Loop() {
		CompareFeature(f, th)
	}
}

func BenchmarkCompareEmbedding(b *testing.B) {
	const dim = 384
	mu := direction(dim, 1)
	g := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: always(true)}
	ref, cur := g.vector(b, 5000, 1), g.vector(b, 2000, 2)
	th := DefaultThresholds()
	e := Embedding{Name: "query", Ref: ref, Cur: cur}
	b.ReportAllocs()
	for b.Loop() {
		CompareEmbedding(e, th)
	}
}

// digests100 returns two distributions of about 100 centroids each.
func digests100(b *testing.B) (sketch.Distribution, sketch.Distribution) {
	r := numericOf(b, draw(normal(0, 1), 100_000, 1))
	c := numericOf(b, draw(normal(0.2, 1.1), 100_000, 2))
	rd, cd := distOf(b, r), distOf(b, c)
	b.ReportMetric(float64(rd.N()), "knots")
	return rd, cd
}

func BenchmarkKS(b *testing.B) {
	rd, cd := digests100(b)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = KS(rd, cd)
	}
}

func BenchmarkW1(b *testing.B) {
	rd, cd := digests100(b)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = W1(rd, cd)
	}
}

func BenchmarkPSI(b *testing.B) {
	rd, cd := digests100(b)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = PSI(rd, cd)
	}
}

// BenchmarkJudgeFeature judges one feature as the evaluator does each
// window: a horizon of 5 windows of 200 values merged, its newest window
// beside it, against a 50,000-value baseline.
func BenchmarkJudgeFeature(b *testing.B) {
	ref := numericOf(b, draw(lognormal(0, 1), 50_000, 1))
	ref.Compact()
	xs := draw(lognormal(0.05, 1), 1000, 2)
	cur := sketch.NewNumeric()
	var newest *sketch.Numeric
	for w := range 5 {
		newest = numericOf(b, xs[w*200:(w+1)*200])
		require.NoError(b, cur.Merge(newest))
	}
	in := Input{
		Model: "m", Version: "v1",
		Ref:    Set{Features: map[string]FeatureSketch{"x": {Sketch: ref}}},
		Cur:    Set{Features: map[string]FeatureSketch{"x": {Sketch: cur}}, Events: 1000},
		Recent: Set{Features: map[string]FeatureSketch{"x": {Sketch: newest}}, Events: 200},
	}
	p := DefaultPolicy()
	b.ReportAllocs()
	for b.Loop() {
		Judge(in, p)
	}
}
