package sketch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScore(t *testing.T) {
	q, d := []float32{3, 4}, []float32{1, 0}
	tests := []struct {
		name   string
		metric string
		want   float64
	}{
		{name: "dot", metric: MetricDot, want: 3},
		{name: "default is dot", metric: "", want: 3},
		{name: "cosine", metric: MetricCosine, want: 0.6},
		{name: "l2", metric: MetricL2, want: 1 / (1 + math.Sqrt(4+16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, Score(tt.metric, q, d), 1e-12)
		})
	}
	require.Equal(t, 0.0, Score(MetricCosine, []float32{0, 0}, d), "a zero vector has no direction")
}

// TestSimilarityMergeAndEncode: a similarity of two halves merged equals
// the one of the whole in counts and moments, and both encodings give it
// back exactly.
func TestSimilarityMergeAndEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all, a, b := NewSimilarity(), NewSimilarity(), NewSimilarity()
	var sum float64
	n, unitQ := 0, 0
	for i := range 500 {
		q := []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())}
		if i%3 == 0 {
			q = []float32{0.6, 0.8, 0}
		}
		docs := []float32{1, 0, 0, 0, 1, 0}
		half := a
		if i%2 == 1 {
			half = b
		}
		for _, s := range []*Similarity{all, half} {
			s.AddRetrieval(q, docs, 3, nil, MetricDot)
		}
		sum += float64(q[0]) + float64(q[1])
		var ss float64
		for _, x := range q {
			ss += float64(x) * float64(x)
		}
		if math.Abs(math.Sqrt(ss)-1) <= DefaultUnitTolerance {
			unitQ++
		}
		n += 2
	}
	require.NoError(t, a.Merge(b))
	require.Equal(t, uint64(n), a.Scores().Count())
	require.InDelta(t, sum/float64(n), a.Scores().Mean(), 1e-9)
	require.Equal(t, all.Scores().Count(), a.Scores().Count())
	require.InDelta(t, all.Scores().Mean(), a.Scores().Mean(), 1e-12)
	require.GreaterOrEqual(t, unitQ, 167, "every third query is unit-norm")
	require.InDelta(t, float64(unitQ)/500, a.QueryUnitRatio(), 1e-12)
	require.Equal(t, 1.0, a.DocUnitRatio())

	bin := roundTrip(t, a, new(Similarity))

	for _, bad := range [][]byte{nil, []byte("NWS"), bin[:len(bin)-1], append(append([]byte{}, bin...), 0)} {
		require.ErrorIs(t, new(Similarity).UnmarshalBinary(bad), ErrCorrupt)
	}
}

func TestVectorStats(t *testing.T) {
	x := []float32{1e6 + 1, 1e6 - 1, 1e6 + 1, 1e6 - 1}
	m, s, r := VectorStats(x)
	require.InDelta(t, 1e6, m, 1e-9)
	require.InDelta(t, 1, s, 1e-9, "two passes do not cancel at a large mean")
	require.InDelta(t, math.Sqrt(1e12+1), r, 1e-6)
}

func TestActivationMergeAndEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	all, a, b := NewActivation(), NewActivation(), NewActivation()
	for i := range 400 {
		v := make([]float32, 8)
		for j := range v {
			v[j] = float32(r.NormFloat64()*2 + 1)
		}
		all.Add(v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Add(nil) // nothing
	require.NoError(t, a.Merge(b))
	require.Equal(t, uint64(400), a.Count())
	for _, p := range [][2]*Numeric{{all.Means(), a.Means()}, {all.StdDevs(), a.StdDevs()}, {all.RMS(), a.RMS()}} {
		require.InDelta(t, p[0].Mean(), p[1].Mean(), 1e-12)
		require.InDelta(t, p[0].StdDev(), p[1].StdDev(), 1e-9)
	}
	bin := roundTrip(t, a, new(Activation))
	require.ErrorIs(t, new(Activation).UnmarshalBinary(bin[:5]), ErrCorrupt)
}

// codec is a sketch with both encodings.
type codec interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
	MarshalJSON() ([]byte, error)
	UnmarshalJSON([]byte) error
}

// roundTrip holds that x's binary and JSON forms decode into empty (a new
// sketch of x's kind) as what encodes to x's binary form again, and
// returns that form.
func roundTrip(t *testing.T, x, empty codec) []byte {
	t.Helper()
	bin, err := x.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, empty.UnmarshalBinary(bin))
	again, err := empty.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, bin, again)
	js, err := x.MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, empty.UnmarshalJSON(js))
	again, err = empty.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, bin, again)
	return bin
}

// BenchmarkSimilarityAddRetrieval: one retrieval of five 64-dimension
// documents scored under l2 (the norms of six vectors and five scores).
func BenchmarkSimilarityAddRetrieval(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q := make([]float32, 64)
	docs := make([]float32, 5*64)
	for j := range q {
		q[j] = float32(r.NormFloat64())
	}
	for j := range docs {
		docs[j] = float32(r.NormFloat64())
	}
	s := NewSimilarity()
	for b.Loop() {
		s.AddRetrieval(q, docs, 64, nil, MetricL2)
	}
}

// BenchmarkActivationAdd: the per-vector mean, std and RMS of one
// 768-dimension activation vector into their sketches.
func BenchmarkActivationAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 768)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	a := NewActivation()
	for b.Loop() {
		a.Add(v)
	}
}
