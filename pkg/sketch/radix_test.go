package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRadixSortOrdersFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 63, 64, 2048, 1 << 13, 70_000} {
		xs := make([]float64, n)
		for i := range xs {
			switch i % 5 {
			case 0:
				xs[i] = r.NormFloat64()
			case 1:
				xs[i] = -r.ExpFloat64() * 1e300
			case 2:
				xs[i] = math.Copysign(0, -1)
			case 3:
				xs[i] = float64(r.IntN(10))
			default:
				xs[i] = r.Float64() * 1e-300
			}
		}
		keys := make([]uint64, n)
		for i, x := range xs {
			keys[i] = floatKey(x)
		}
		radixSort(keys)
		got := make([]float64, n)
		for i, k := range keys {
			got[i] = keyFloat(k)
		}
		want := slices.Clone(xs)
		slices.Sort(want)
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.True(t, want[i] == got[i], "n=%d i=%d: %v != %v", n, i, want[i], got[i])
		}
	}
}
