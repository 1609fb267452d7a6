package sketch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVectorHostile: vectors with float32 extremes, zero and empty
// vectors, NaN components and other dimensions, spread over partials with
// round trips and merges: every encoding decodes and every count is exact.
func TestVectorHostile(t *testing.T) {
	const dim = 8
	comps := []float32{0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-38, 0.1}
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		parts := make([]*Vector, 1+r.IntN(4))
		for i := range parts {
			parts[i], _ = NewVector(dim, 0)
		}
		var count, mismatch, nonfinite uint64
		for range 2000 {
			d := dim
			switch r.IntN(40) {
			case 0:
				d = 0
			case 1:
				d = dim + 1
			}
			x := make([]float32, d)
			for j := range x {
				x[j] = comps[r.IntN(len(comps))] * float32(r.NormFloat64())
			}
			if d > 0 && r.IntN(50) == 0 {
				x[r.IntN(d)] = float32(math.NaN())
			}
			switch {
			case d != dim:
				mismatch++
			case !finite32(x):
				nonfinite++
			default:
				count++
			}
			p := r.IntN(len(parts))
			parts[p].Add(x)
			if r.IntN(100) == 0 {
				parts[p] = roundTripVector(t, parts[p])
			}
		}
		for len(parts) > 1 {
			require.NoError(t, parts[0].Merge(parts[len(parts)-1]))
			parts = parts[:len(parts)-1]
			parts[0] = roundTripVector(t, parts[0])
		}
		v := parts[0]
		require.Equal(t, count, v.Count())
		require.Equal(t, mismatch, v.DimMismatches())
		require.Equal(t, nonfinite, v.NonFinite())
		require.Equal(t, count, v.Norms().Count())
		for _, m := range v.Mean() {
			require.False(t, math.IsNaN(m) || math.IsInf(m, 0))
		}
	}
}

func finite32(x []float32) bool {
	var ss float64
	for _, e := range x {
		ss += float64(e) * float64(e)
	}
	return ss-ss == 0
}

func roundTripVector(t *testing.T, v *Vector) *Vector {
	t.Helper()
	b, err := v.MarshalBinary()
	require.NoError(t, err)
	c := new(Vector)
	require.NoError(t, c.UnmarshalBinary(b), "a vector must decode its own encoding")
	j, err := v.MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, new(Vector).UnmarshalJSON(j))
	return c
}

func TestVectorMergeMismatched(t *testing.T) {
	a, _ := NewVector(0, 0)
	b, _ := NewVector(0, 0)
	a.Add([]float32{1, 0})
	b.Add([]float32{1, 0, 0})
	b.Add([]float32{0, 1, 0})
	b.Add([]float32{1, 0})
	require.Error(t, a.Merge(b))
	a.MergeMismatched(b)
	require.Equal(t, uint64(1), a.Count())
	require.Equal(t, uint64(3), a.DimMismatches(), "b's two vectors and its own mismatch")
}
