package drift

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// searchKSW1 is KS and W1 the plain way: the union of the knots sorted,
// each CDF evaluated by its own binary search.
func searchKSW1(ref, cur sketch.Distribution) (ks, w1 float64) {
	u := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(ref.X), cur.X...))))
	for _, x := range u {
		ks = math.Max(ks, math.Abs(ref.CDF(x)-cur.CDF(x)))
		ks = math.Max(ks, math.Abs(ref.CDFBelow(x)-cur.CDFBelow(x)))
	}
	var c float64
	for k := 0; k+1 < len(u); k++ {
		piece := absLinearIntegral(ref.CDF(u[k])-cur.CDF(u[k]), ref.CDFBelow(u[k+1])-cur.CDFBelow(u[k+1]), u[k+1]-u[k])
		y := piece - c
		t := w1 + y
		c = (t - w1) - y
		w1 = t
	}
	return math.Min(ks, 1), w1
}

// TestSweptDistancesMatchSearch holds the one-sweep KS and W1 to the
// search-per-knot computation bit for bit.
func TestSweptDistancesMatchSearch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ref, cur []float64
	}{
		{"shifted normal", draw(normal(0, 1), 50_000, 1), draw(normal(0.3, 1.2), 1000, 2)},
		{"lognormal horizon", draw(lognormal(0, 1), 50_000, 3), draw(lognormal(0.1, 1), 200, 4)},
		{"counts", draw(poisson(3), 10_000, 5), draw(poisson(3.5), 500, 6)},
		{"counts against centroids", draw(poisson(3), 100, 7), draw(normal(3, 2), 20_000, 8)},
		{"disjoint", draw(uniform(0, 1), 5000, 9), draw(uniform(2, 3), 5000, 10)},
		{"constant", draw(constant(1), 1000, 11), draw(bernoulli(0.3), 1000, 12)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, cd := distOf(t, numericOf(t, tc.ref)), distOf(t, numericOf(t, tc.cur))
			wantKS, wantW1 := searchKSW1(rd, cd)
			ks, err := KS(rd, cd)
			require.NoError(t, err)
			w1, err := W1(rd, cd)
			require.NoError(t, err)
			require.Equal(t, wantKS, ks)
			require.Equal(t, wantW1, w1)
		})
	}
}
