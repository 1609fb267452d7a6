package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// unitVec returns a random unit vector of dim components.
func unitVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for j := range v {
		x := r.NormFloat64()
		v[j] = float32(x)
		n += x * x
	}
	n = math.Sqrt(n)
	for j := range v {
		v[j] = float32(float64(v[j]) / n)
	}
	return v
}

func scaledVec(v []float32, s float64) []float32 {
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(float64(x) * s)
	}
	return out
}

// retrievals builds a Similarity of n retrievals of k documents each, a
// query near its documents, scored under metric, with the query and
// document vectors scaled by qs and ds; it returns the exact scores too.
func retrievals(seed uint64, n, k, dim int, qs, ds float64, metric string) (*sketch.Similarity, []float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	s := sketch.NewSimilarity()
	var exact []float64
	for range n {
		q := unitVec(r, dim)
		docs := make([]float32, 0, k*dim)
		for range k {
			// A document of the query's topic: the query plus noise,
			// normalized.
			d := make([]float32, dim)
			noise := unitVec(r, dim)
			w := r.Float64()
			for j := range d {
				d[j] = float32(w*float64(q[j]) + (1-w)*float64(noise[j]))
			}
			d = scaledVec(d, 1/math.Sqrt(float64(sumSq(d))))
			docs = append(docs, scaledVec(d, ds)...)
		}
		qv := scaledVec(q, qs)
		s.AddRetrieval(qv, docs, dim, nil, metric)
		for i := 0; i < len(docs); i += dim {
			exact = append(exact, exactScore(metric, qv, docs[i:i+dim]))
		}
	}
	return s, exact
}

func sumSq(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x * x
	}
	return s
}

// exactScore computes a score independently of sketch.Score, in the
// textbook form of each metric.
func exactScore(metric string, q, d []float32) float64 {
	var dot, qq, dd, dist float64
	for j := range q {
		dot += float64(q[j]) * float64(d[j])
		qq += float64(q[j]) * float64(q[j])
		dd += float64(d[j]) * float64(d[j])
		diff := float64(q[j]) - float64(d[j])
		dist += diff * diff
	}
	switch metric {
	case sketch.MetricCosine:
		return dot / math.Sqrt(qq) / math.Sqrt(dd)
	case sketch.MetricL2:
		return 1 / (1 + math.Sqrt(dist))
	}
	return dot
}

func TestCompareSimilarity(t *testing.T) {
	th := DefaultThresholds()
	tests := []struct {
		name     string
		metric   string
		qs, ds   float64 // the current side's query and document scale
		want     Diagnosis
		sentence string // a part of the summary
	}{
		{name: "healthy", metric: sketch.MetricL2, qs: 1, ds: 1, want: OK, sentence: "as in the baseline"},
		{name: "query side unnormalized", metric: sketch.MetricL2, qs: 7.3, ds: 1, want: SimilarityCompressed,
			sentence: "query vectors are not unit-norm (median norm 7.3) while documents are: L2 normalization is missing on the query side."},
		{name: "document side unnormalized", metric: sketch.MetricL2, qs: 1, ds: 5, want: SimilarityCompressed,
			sentence: "L2 normalization is missing on the document (index) side."},
		{name: "both sides", metric: sketch.MetricL2, qs: 6, ds: 4, want: SimilarityCompressed, sentence: "missing on both sides"},
		{name: "cosine does not see norms", metric: sketch.MetricCosine, qs: 7.3, ds: 1, want: OK},
		{name: "dot widens, not compresses", metric: sketch.MetricDot, qs: 7.3, ds: 1, want: OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, refExact := retrievals(1, 300, 5, 32, 1, 1, tt.metric)
			cur, curExact := retrievals(2, 200, 5, 32, tt.qs, tt.ds, tt.metric)
			rep, v := compareSimilarity(ref, cur, th)
			require.NotNil(t, v)
			require.Equal(t, tt.want, v.Diagnosis, v.Summary)
			require.Contains(t, v.Summary, tt.sentence)
			// The statistics against the exact scores: quantiles within
			// the sketch's rank error, the band and ratio from them.
			slices.Sort(refExact)
			slices.Sort(curExact)
			require.Equal(t, uint64(len(curExact)), rep.Samples)
			for _, qp := range rep.Quantiles {
				lo, hi := exactQuantile(curExact, max(0, qp.Q-0.005)), exactQuantile(curExact, min(1, qp.Q+0.005))
				require.True(t, qp.Cur >= lo-1e-9 && qp.Cur <= hi+1e-9, "q%v: %v not in [%v, %v]", qp.Q, qp.Cur, lo, hi)
				lo, hi = exactQuantile(refExact, max(0, qp.Q-0.005)), exactQuantile(refExact, min(1, qp.Q+0.005))
				require.True(t, qp.Ref >= lo-1e-9 && qp.Ref <= hi+1e-9, "ref q%v: %v not in [%v, %v]", qp.Q, qp.Ref, lo, hi)
			}
			band := exactQuantile(curExact, 0.95) - exactQuantile(curExact, 0.05)
			refBand := exactQuantile(refExact, 0.95) - exactQuantile(refExact, 0.05)
			require.InDelta(t, band/refBand, rep.SpreadRatio, 0.05*band/refBand+0.01)
			require.InDelta(t, tt.qs, rep.QueryNormMedian, 1e-5*tt.qs)
			require.InDelta(t, tt.ds, rep.DocNormMedian, 1e-5*tt.ds)
		})
	}
}

func TestCompareSimilarityNeedsSamples(t *testing.T) {
	ref, _ := retrievals(1, 300, 5, 16, 1, 1, sketch.MetricL2)
	cur, _ := retrievals(2, 10, 5, 16, 7, 1, sketch.MetricL2) // 50 scores
	rep, v := compareSimilarity(ref, cur, DefaultThresholds())
	require.Nil(t, v, "50 scores are below min_samples")
	require.Equal(t, uint64(50), rep.Samples)
}

// TestSimilarityOverlay: compressed scores name the query embedding's
// diagnosis over its own embedding_unnormalized, with the norm evidence;
// scores alone (no vectors) are judged on their own.
func TestSimilarityOverlay(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	refV, _ := sketch.NewVector(0, 0)
	curV, _ := sketch.NewVector(0, 0)
	for range 1500 {
		refV.Add(unitVec(r, 32))
		curV.Add(scaledVec(unitVec(r, 32), 7.3))
	}
	ref, _ := retrievals(1, 300, 5, 32, 1, 1, sketch.MetricL2)
	cur, _ := retrievals(2, 300, 5, 32, 7.3, 1, sketch.MetricL2)
	rep := CompareEmbedding(Embedding{Name: "query", Ref: refV, Cur: curV, Norm: EmbeddingL2, RefSim: ref, CurSim: cur}, DefaultThresholds())
	require.Equal(t, SimilarityCompressed, rep.Diagnosis, rep.Summary)
	require.Equal(t, Critical, rep.Severity)
	require.NotNil(t, rep.Similarity)
	require.NotContains(t, rep.Summary, "retrieval regression")

	// Frozen queries that regressed with it: the compression keeps the
	// subject's name (it is the cause), and the regression joins its
	// sentence; frozen runs as the reference add nothing.
	fref, fcur := frozenRuns(t, 3, 140, 2, 10, 0.6)
	withFrozen := CompareEmbedding(Embedding{Name: "query", Ref: refV, Cur: curV, Norm: EmbeddingL2, RefSim: ref, CurSim: cur, RefFrozen: fref, CurFrozen: fcur}, DefaultThresholds())
	require.Equal(t, SimilarityCompressed, withFrozen.Diagnosis, withFrozen.Summary)
	require.Equal(t, rep.Summary+" With it, a retrieval regression: "+
		fmt.Sprintf("recall@10 of the frozen queries fell to %.2f over 140 of them (1.00 for their recorded run; rank-biased overlap %.2f).", withFrozen.Frozen.Recall, withFrozen.Frozen.Overlap),
		withFrozen.Summary)
	fref, fcur = frozenRuns(t, 3, 140, 2, 10, 1)
	asRef := CompareEmbedding(Embedding{Name: "query", Ref: refV, Cur: curV, Norm: EmbeddingL2, RefSim: ref, CurSim: cur, RefFrozen: fref, CurFrozen: fcur}, DefaultThresholds())
	require.Equal(t, rep.Summary, asRef.Summary)

	onlyScores := func(s *sketch.Similarity, scale float64) *sketch.Similarity {
		o := sketch.NewSimilarity()
		d, _ := s.Scores().Distribution()
		for i := range 1000 {
			o.AddScore(d.Quantile((float64(i)+0.5)/1000) * scale)
		}
		return o
	}
	rep = CompareEmbedding(Embedding{Name: "query", RefSim: onlyScores(ref, 1), CurSim: onlyScores(ref, 0.2)}, DefaultThresholds())
	require.Equal(t, SimilarityCompressed, rep.Diagnosis, rep.Summary)
	require.True(t, strings.HasSuffix(rep.Summary, "the events carry no query or document vectors to tell which side changed."), rep.Summary)
	rep = CompareEmbedding(Embedding{Name: "query", RefSim: onlyScores(ref, 1), CurSim: onlyScores(ref, 1)}, DefaultThresholds())
	require.Equal(t, OK, rep.Diagnosis, rep.Summary)
}

// activations generates n activation vectors of dim components of the
// given normalization: "layernorm" with a learned gain and bias,
// "rmsnorm" with a free mean, "none" with a scale that varies per vector.
func activations(seed uint64, n, dim int, kind string) (*sketch.Activation, [][]float32) {
	r := rand.New(rand.NewPCG(seed, 3))
	gain, bias := make([]float64, dim), make([]float64, dim)
	for j := range gain {
		gain[j] = 1 + 0.2*r.NormFloat64()
		bias[j] = 0.1 * r.NormFloat64()
	}
	a := sketch.NewActivation()
	var all [][]float32
	for range n {
		scale, shift := math.Exp(0.5*r.NormFloat64()), 0.8*r.NormFloat64()
		x := make([]float64, dim)
		var sum float64
		for j := range x {
			x[j] = scale*r.NormFloat64() + shift
			sum += x[j]
		}
		mean := sum / float64(dim)
		var dev, sq float64
		for _, v := range x {
			dev += (v - mean) * (v - mean)
			sq += v * v
		}
		std, rms := math.Sqrt(dev/float64(dim)), math.Sqrt(sq/float64(dim))
		v := make([]float32, dim)
		for j := range x {
			switch kind {
			case ActLayerNorm:
				v[j] = float32(gain[j]*(x[j]-mean)/std + bias[j])
			case ActRMSNorm:
				v[j] = float32(x[j] / rms)
			default:
				v[j] = float32(x[j])
			}
		}
		a.Add(v)
		all = append(all, v)
	}
	return a, all
}

func TestFitActivation(t *testing.T) {
	for _, kind := range []string{ActLayerNorm, ActRMSNorm, ActNone} {
		t.Run(kind, func(t *testing.T) {
			a, vs := activations(4, 800, 64, kind)
			p := FitActivation(a)
			require.Equal(t, kind, p.Fit, "%+v", p)
			// The levels against exact per-vector statistics.
			var means, stds, rmss []float64
			for _, v := range vs {
				var s, sq float64
				for _, x := range v {
					s += float64(x)
					sq += float64(x) * float64(x)
				}
				m := s / float64(len(v))
				var dev float64
				for _, x := range v {
					dev += (float64(x) - m) * (float64(x) - m)
				}
				means = append(means, m)
				stds = append(stds, math.Sqrt(dev/float64(len(v))))
				rmss = append(rmss, math.Sqrt(sq/float64(len(v))))
			}
			mean := func(xs []float64) float64 {
				var s float64
				for _, x := range xs {
					s += x
				}
				return s / float64(len(xs))
			}
			sd := func(xs []float64) float64 {
				m := mean(xs)
				var s float64
				for _, x := range xs {
					s += (x - m) * (x - m)
				}
				return math.Sqrt(s / float64(len(xs)))
			}
			require.InDelta(t, mean(means), p.Mean, 1e-9)
			require.InDelta(t, sd(means), p.MeanSD, 1e-9)
			require.InDelta(t, mean(stds), p.Std, 1e-9)
			require.InDelta(t, sd(stds)/mean(stds), p.StdCV, 1e-9)
			require.InDelta(t, mean(rmss), p.RMS, 1e-9)
			require.InDelta(t, sd(rmss)/mean(rmss), p.RMSCV, 1e-9)
		})
	}
}

func TestCompareActivation(t *testing.T) {
	th := DefaultThresholds()
	tests := []struct {
		name      string
		ref, cur  string
		declared  string
		want      Diagnosis
		sentence  string
		noVerdict bool
	}{
		{name: "layernorm as in the baseline", ref: ActLayerNorm, cur: ActLayerNorm, want: OK},
		{name: "rmsnorm as in the baseline", ref: ActRMSNorm, cur: ActRMSNorm, want: OK},
		{name: "layernorm to rmsnorm", ref: ActLayerNorm, cur: ActRMSNorm, want: ActivationNormChange,
			sentence: "activations fit RMSNorm (RMS 1.00, mean free:"},
		{name: "rmsnorm to layernorm", ref: ActRMSNorm, cur: ActLayerNorm, want: ActivationNormChange, sentence: "baseline RMSNorm (RMS 1.00"},
		{name: "normalization dropped", ref: ActLayerNorm, cur: ActNone, want: ActivationNormChange, sentence: "activations fit no normalization layer"},
		{name: "declared wins", ref: ActNone, cur: ActRMSNorm, declared: ActRMSNorm, want: OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, _ := activations(1, 600, 64, tt.ref)
			cur, _ := activations(2, 300, 64, tt.cur)
			_, v := compareActivation(ref, cur, tt.declared, th)
			require.NotNil(t, v)
			require.Equal(t, tt.want, v.Diagnosis, v.Summary)
			require.Contains(t, v.Summary, tt.sentence)
		})
	}
	ref, _ := activations(1, 600, 64, ActLayerNorm)
	few, _ := activations(2, 100, 64, ActRMSNorm)
	_, v := compareActivation(ref, few, "", th)
	require.Nil(t, v, "100 vectors are below min_samples")
}
