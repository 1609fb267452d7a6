// Package sketchtest generates hostile but valid numeric streams for the
// property and fuzz tests of the sketches and of the pipeline that drives
// them: the shapes real features take that stress floating-point rounding
// (ties at clip bounds, constants, a few distinct values, long runs, narrow
// clipped bands) and the extremes of float64 (values near ±MaxFloat64 and
// ±SmallestNonzeroFloat64, subnormals, huge and tiny alternating).
//
// It does no I/O and is imported only by tests.
package sketchtest

import (
	"math"
	"math/rand/v2"
)

// Stream is one family of hostile streams.
type Stream struct {
	Name string
	// Gen returns n values drawn with r. Values may include NaN and ±Inf
	// where the family says so; Missing reports which positions stand for
	// an absent value instead.
	Gen func(r *rand.Rand, n int) []float64
}

// Missing is the value Gen puts where a stream has a missing value: a NaN
// with a payload, told apart from an ordinary NaN by IsMissing.
var Missing = math.Float64frombits(0x7ff8_dead_beef_0001)

// IsMissing reports whether x is the Missing marker.
func IsMissing(x float64) bool { return math.Float64bits(x) == math.Float64bits(Missing) }

// Streams returns every family.
func Streams() []Stream {
	return []Stream{
		{"clipped_at_max", func(r *rand.Rand, n int) []float64 {
			// A score clipped at a constant maximum: many ties at 1.0 and
			// at 0.7, a value no float64 holds exactly.
			return fill(n, func() float64 {
				x := r.NormFloat64()*0.3 + 0.8
				return math.Min(math.Max(x, 0.1), 0.7)
			})
		}},
		{"rare_ties_at_clip", func(r *rand.Rand, n int) []float64 {
			// A few values per batch tie at each clip bound: too few to be
			// a point mass, so they form the outermost centroids, where the
			// mean of three copies of 0.1 rounds above 0.1.
			return fill(n, func() float64 { return math.Min(math.Max(r.NormFloat64()*0.0337, -0.1), 0.1) })
		}},
		{"clipped_both_ends", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 { return math.Min(math.Max(r.NormFloat64()*3, -1.1), 2.3) })
		}},
		{"constant", func(r *rand.Rand, n int) []float64 { return fill(n, func() float64 { return 0.1 }) }},
		{"constant_huge", func(r *rand.Rand, n int) []float64 { return fill(n, func() float64 { return 1.7e308 }) }},
		{"few_distinct", func(r *rand.Rand, n int) []float64 {
			vals := []float64{0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3}
			return fill(n, func() float64 { return vals[r.IntN(len(vals))] })
		}},
		{"many_distinct_ties", func(r *rand.Rand, n int) []float64 {
			// Past the exact limit, with heavy ties: point masses and a digest.
			return fill(n, func() float64 {
				if r.IntN(4) == 0 {
					return 0.7
				}
				return float64(r.IntN(500)) / 7
			})
		}},
		{"long_runs", func(r *rand.Rand, n int) []float64 {
			out := make([]float64, n)
			v := 0.1
			for i := range out {
				if i%5000 == 0 {
					v = float64(r.IntN(1000))*0.1 + 0.3
				}
				out[i] = v
			}
			return out
		}},
		{"narrow_band_clipped", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 { return math.Min(0.8+r.NormFloat64()*1e-9, 0.8+2e-9) })
		}},
		{"near_max_float", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				x := math.MaxFloat64 * (1 - r.Float64()*1e-3)
				if r.IntN(2) == 0 {
					return -x
				}
				return x
			})
		}},
		{"near_min_float", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				x := 1e-308 * (1 + r.Float64())
				if r.IntN(2) == 0 {
					return -x
				}
				return x
			})
		}},
		{"subnormals", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				return math.Float64frombits(uint64(r.IntN(1<<20))) * float64(1-2*r.IntN(2))
			})
		}},
		{"huge_and_tiny", func(r *rand.Rand, n int) []float64 {
			i := 0
			return fill(n, func() float64 {
				i++
				switch i % 4 {
				case 0:
					return 1e308 * r.Float64()
				case 1:
					return -1e308 * r.Float64()
				case 2:
					return 5e-324
				}
				return r.NormFloat64() * 1e-300
			})
		}},
		{"with_nonfinite_and_missing", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				switch r.IntN(20) {
				case 0:
					return math.NaN()
				case 1:
					return math.Inf(1)
				case 2:
					return math.Inf(-1)
				case 3:
					return Missing
				}
				return math.Min(r.ExpFloat64(), 3)
			})
		}},
		{"integers_and_zero", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				if r.IntN(3) == 0 {
					return 0
				}
				return math.Copysign(float64(r.IntN(1<<20)), r.NormFloat64())
			})
		}},
		// Both zeros: numpy writes -0.0 for small negatives rounded away,
		// and -0 == 0, so a sketch must count them as one value.
		{"signed_zeros", func(r *rand.Rand, n int) []float64 {
			return fill(n, func() float64 {
				switch r.IntN(3) {
				case 0:
					return math.Copysign(0, -1)
				case 1:
					return 0
				}
				return float64(r.IntN(5))
			})
		}},
	}
}

func fill(n int, f func() float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = f()
	}
	return out
}
