package sketch

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDistributionStepAndMass(t *testing.T) {
	// 0 ×3, 1 ×1: an exact step function.
	n := NewNumeric()
	n.AddBatch([]float64{0, 0, 1, 0})
	d, err := n.Distribution()
	require.NoError(t, err)
	for _, tc := range []struct {
		name           string
		x, cdf, before float64
	}{
		{"below", -1, 0, 0},
		{"at 0", 0, 0.75, 0},
		{"between", 0.5, 0.75, 0.75},
		{"at 1", 1, 1, 0.75},
		{"above", 2, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.cdf, d.CDF(tc.x))
			require.Equal(t, tc.before, d.CDFBelow(tc.x))
		})
	}
	require.Equal(t, 0.0, d.Quantile(0.75))
	require.Equal(t, 1.0, d.Quantile(0.76))

	// A point mass inside continuous data: the CDF jumps by its share.
	m := NewNumeric()
	xs := normalValues(20_000, 4) // mean 10, sd 3
	for i := range xs {
		if i%4 == 0 {
			xs[i] = 10
		}
	}
	m.AddBatch(xs)
	require.False(t, m.Exact())
	d, err = m.Distribution()
	require.NoError(t, err)
	jump := d.CDF(10) - d.CDFBelow(10)
	require.InDelta(t, 0.25, jump, 0.01)
	require.InDelta(t, 0.5, d.CDF(10)-jump/2, 0.01)
}

// TestSweepMatchesSearch holds Sweep to CDF and CDFBelow bit for bit at
// every knot, between knots and beyond them, for step, interpolated and
// point-mass distributions: the distances of pkg/drift rely on it.
func TestSweepMatchesSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	heavy := NewNumeric()
	for range 20_000 {
		x := r.NormFloat64()
		if r.IntN(4) == 0 {
			x = 0 // a point mass among centroids
		}
		heavy.Add(x)
	}
	spread := NewNumeric()
	for range 50_000 {
		spread.Add(r.ExpFloat64() * 10)
	}
	exact := NewNumeric()
	exact.AddBatch([]float64{3, 1, 1, 2, 3, 3, 5})
	for _, tc := range []struct {
		name string
		n    *Numeric
	}{
		{"exact counts", exact},
		{"centroids with a mass", heavy},
		{"centroids", spread},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.n.Distribution()
			require.NoError(t, err)
			var xs []float64
			for i, x := range d.X {
				xs = append(xs, x)
				if i+1 < len(d.X) {
					xs = append(xs, x+(d.X[i+1]-x)/3)
				}
			}
			xs = append([]float64{d.X[0] - 1}, xs...)
			xs = append(xs, d.X[len(d.X)-1]+1)
			s := d.Sweep()
			for _, x := range xs {
				cdf, below := s.At(x)
				require.Equal(t, d.CDF(x), cdf, "CDF at %v", x)
				require.Equal(t, d.CDFBelow(x), below, "CDFBelow at %v", x)
			}
		})
	}
}
