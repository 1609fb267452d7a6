package sketch

import (
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
