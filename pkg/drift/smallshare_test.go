package drift

import (
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// TestSmallSharesNamed: 5% of the traffic through a known transform
// (skipped, doubled, in cents before the scaler, a min-max feature
// skipped) is named in at least 90 of 100 seeded horizons from 200 values
// (the default min_samples: ten values of the share, give or take three)
// to 1000, with and without pairs, and named as another transform in at
// most 3 (before, with the share's values beyond the range judged by a
// normal bound, 1 in 100 horizons of 200 values was named, and the pairs'
// two lines called 63 of them a re-fit).
func TestSmallSharesNamed(t *testing.T) {
	z := scalerOf(t, ScalerZScore, income)
	zs := viaScaler(z)
	secs := uniform(20, 80)
	mm := scalerOf(t, ScalerMinMax, secs)
	th := DefaultThresholds()
	tests := []struct {
		name  string
		ref   gen
		norm  Normalization
		serve serving
		pairs bool
		want  Diagnosis
	}{
		{"skip", scaled(income, z), z, faulty(income, z, 0.05, identity), false, UnscaledInput},
		{"skip with pairs", scaled(income, z), z, faulty(income, z, 0.05, identity), true, UnscaledInput},
		{"doubled", scaled(income, z), z, faulty(income, z, 0.05, func(x float64) float64 { return zs(zs(x)) }), false, DoubleScaled},
		{"cents", scaled(income, z), z, faulty(income, z, 0.05, unitThen(100, 0, zs)), false, ScaleChange},
		{"min-max skip", scaled(secs, mm), mm, faulty(secs, mm, 0.05, identity), false, UnscaledInput},
	}
	for _, tt := range tests {
		ref := numericOf(t, draw(tt.ref, 20000, 1))
		for _, n := range []int{200, 500, 1000} {
			named, other := 0, map[Diagnosis]int{}
			for seed := range 100 {
				r := rand.New(rand.NewPCG(uint64(seed), 7))
				f := Feature{Ref: ref, Cur: sketch.NewNumeric(), Norm: tt.norm}
				if tt.pairs {
					f.Pair = &sketch.Pair{}
				}
				for range n {
					x, y, _ := tt.serve(r)
					f.Cur.Add(y)
					if f.Pair != nil {
						f.Pair.Add(x, y)
					}
				}
				rep := CompareFeature(f, th)
				switch rep.Diagnosis {
				case tt.want:
					named++
					requireConsistentShares(t, rep.Summary)
				case OK, RangeViolation:
				default:
					other[rep.Diagnosis]++
				}
			}
			wrong := 0
			for _, k := range other {
				wrong += k
			}
			t.Logf("%s, %d values: named %d of 100, otherwise named %v", tt.name, n, named, other)
			require.GreaterOrEqual(t, named, 90, "%s, %d values", tt.name, n)
			require.LessOrEqual(t, wrong, 3, "%s, %d values: %v", tt.name, n, other)
		}
	}
}

// TestNoRangeAlarmOnClean: the count beyond the training range is judged
// by its exact tail, which pages on a handful of values far beyond it;
// stationary horizons of 200 to 5000 values against references of 500 to
// 20000, of light and heavy tails, with and without a scaler, never
// alert (50 seeds each).
func TestNoRangeAlarmOnClean(t *testing.T) {
	z := scalerOf(t, ScalerZScore, income)
	secs := uniform(20, 80)
	mm := scalerOf(t, ScalerMinMax, secs)
	th := DefaultThresholds()
	tests := []struct {
		name string
		g    gen
		norm Normalization
	}{
		{"income, z-score", scaled(income, z), z},
		{"seconds, min-max", scaled(secs, mm), mm},
		{"lognormal", lognormal(5, 1), Normalization{}},
		{"normal", normal(0, 1), Normalization{}},
		{"1/u, heavy tail", func(r *rand.Rand) float64 { return 1 / (r.Float64() + 1e-3) }, Normalization{}},
	}
	for _, tt := range tests {
		for _, nRef := range []int{500, 2000, 20000} {
			for _, n := range []int{200, 1000, 5000} {
				for seed := range 50 {
					ref := numericOf(t, draw(tt.g, nRef, uint64(seed)+100))
					r := rand.New(rand.NewPCG(uint64(seed), 9))
					cur := sketch.NewNumeric()
					for range n {
						cur.Add(tt.g(r))
					}
					rep := CompareFeature(Feature{Ref: ref, Cur: cur, Norm: tt.norm}, th)
					require.Equal(t, SeverityOK, rep.Severity, "%s, %d against %d, seed %d: %s", tt.name, n, nRef, seed, rep.Summary)
				}
			}
		}
	}
}
