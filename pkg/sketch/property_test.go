package sketch

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
	"github.com/stretchr/testify/require"
)

// The property tests drive hostile but valid streams through everything a
// sketch goes through in the daemon: partials with their own buffer sizes,
// adds one by one and in batches, compaction, clones, binary and JSON round
// trips at random points, queries between adds, merges in random order.
// Whatever happens, every encoding decodes, counts are exact and quantiles
// stay within the accuracy bound.

// numericOp applies one random operation to a partial and returns it, or
// its replacement (a clone or a decoded copy).
func numericOp(t *testing.T, r *rand.Rand, n *Numeric) *Numeric {
	t.Helper()
	switch r.IntN(8) {
	case 0:
		n.Compact()
	case 1:
		return n.Clone()
	case 2:
		return roundTripBinary(t, n)
	case 3:
		return roundTripJSON(t, n)
	case 4:
		_, _ = n.Quantile(r.Float64())
	}
	return n
}

func roundTripBinary(t *testing.T, n *Numeric) *Numeric {
	t.Helper()
	b, err := n.MarshalBinary()
	require.NoError(t, err)
	c := new(Numeric)
	require.NoError(t, c.UnmarshalBinary(b), "a sketch must decode its own binary encoding")
	return c
}

func roundTripJSON(t *testing.T, n *Numeric) *Numeric {
	t.Helper()
	b, err := json.Marshal(n)
	require.NoError(t, err)
	c := new(Numeric)
	require.NoError(t, json.Unmarshal(b, c), "a sketch must decode its own JSON encoding")
	return c
}

// tally is what a stream holds, counted exactly.
type tally struct {
	finite                       []float64
	missing, nan, posInf, negInf uint64
}

func (tl *tally) add(x float64) {
	switch {
	case sketchtest.IsMissing(x):
		tl.missing++
	case math.IsNaN(x):
		tl.nan++
	case math.IsInf(x, 1):
		tl.posInf++
	case math.IsInf(x, -1):
		tl.negInf++
	default:
		tl.finite = append(tl.finite, x)
	}
}

func addValue(n *Numeric, x float64) {
	if sketchtest.IsMissing(x) {
		n.AddMissing(1)
		return
	}
	n.Add(x)
}

// Property bounds on rank errors. The mean error is held to the 0.001 the
// sketch is specified for, except across a void (below), where it is
// twice that. The worst single q is held to the
// bound of TestQuantileRankError (with room for several merges) where the
// sketches have the daemon's buffer size and the data no void: between two
// clusters separated by a void (values near -MaxFloat64 and +MaxFloat64),
// a t-digest interpolates linearly across the void over half a middle
// centroid, up to about 1.5% of the values at compression 100; and with
// buffers far smaller than the daemon's, point masses of a few percent
// (ties at a clip bound) are not seen as masses in any one batch and are
// smeared over their centroid the same way.
const (
	propMeanRankErr  = meanRankErr
	propMeanRankVoid = 2 * meanRankErr
	propMaxRankErr   = 2 * maxRankErr
	propMaxRankVoid  = 0.04
	propMaxRankSmall = 0.04
)

// voided are the families with a void in the middle of their values.
var voided = map[string]bool{"near_max_float": true, "near_min_float": true, "huge_and_tiny": true}

func checkNumeric(t *testing.T, n *Numeric, tl *tally, maxRank, meanRank float64) {
	t.Helper()
	require.Equal(t, uint64(len(tl.finite)), n.Count(), "finite count")
	require.Equal(t, tl.missing, n.Missing(), "missing")
	require.Equal(t, tl.nan, n.NaN(), "NaN")
	require.Equal(t, tl.posInf, n.PosInf(), "+Inf")
	require.Equal(t, tl.negInf, n.NegInf(), "-Inf")
	requireInvariants(t, n)
	if len(tl.finite) == 0 {
		_, err := n.Quantile(0.5)
		require.ErrorIs(t, err, ErrEmpty)
		return
	}
	sorted := slices.Sorted(slices.Values(tl.finite))
	require.Equal(t, sorted[0], n.Min())
	require.Equal(t, sorted[len(sorted)-1], n.Max())
	mean := n.Mean()
	require.True(t, mean >= sorted[0] && mean <= sorted[len(sorted)-1], "mean %v outside [%v, %v]", mean, sorted[0], sorted[len(sorted)-1])
	worst, avg := 0.0, 0.0
	k := 0
	for q := 0.001; q <= 0.999+1e-9; q += 0.001 {
		x, err := n.Quantile(q)
		require.NoError(t, err)
		require.False(t, math.IsNaN(x), "quantile %v is NaN", q)
		require.True(t, x >= sorted[0] && x <= sorted[len(sorted)-1], "quantile %v = %v outside the data", q, x)
		e := rankError(sorted, x, q)
		worst = math.Max(worst, e)
		avg += e
		k++
	}
	avg /= float64(k)
	if n.Exact() {
		require.Less(t, worst, 1e-12, "an exact sketch's quantiles are exact (up to the rounding of the q grid)")
	}
	require.LessOrEqual(t, worst, maxRank, "worst rank error")
	require.LessOrEqual(t, avg, meanRank, "mean rank error")
}

// requireInvariants checks what the decoder checks, on the sketch itself,
// and that both encodings decode.
func requireInvariants(t *testing.T, n *Numeric) {
	t.Helper()
	_, err := numericFromWire(n.wire())
	require.NoError(t, err, "invariants")
	roundTripBinary(t, n)
	roundTripJSON(t, n)
	m := n.Moments()
	for _, f := range []float64{m.Mean, m.M2, m.M3, m.M4} {
		require.False(t, math.IsNaN(f) || math.IsInf(f, 0), "moments %+v", m)
	}
}

func TestNumericHostileStreams(t *testing.T) {
	sizes := []int{50, 3000, 40_000}
	modes := []struct {
		name string
		bufs []int
	}{
		{"daemon_buffers", []int{DefaultBufferSize}},
		{"small_buffers", []int{16, 64, DefaultBufferSize}},
	}
	for _, st := range sketchtest.Streams() {
		for _, mode := range modes {
			for si, size := range sizes {
				for seed := uint64(1); seed <= 3; seed++ {
					t.Run(fmt.Sprintf("%s/%s/%d/%d", st.Name, mode.name, size, seed), func(t *testing.T) {
						maxRank, meanRank := propMaxRankErr, propMeanRankErr
						switch {
						case voided[st.Name]:
							maxRank, meanRank = propMaxRankVoid, propMeanRankVoid
						case len(mode.bufs) > 1:
							maxRank = propMaxRankSmall
						}
						r := rand.New(rand.NewPCG(seed, uint64(si)))
						runHostile(t, r, st.Gen(r, size), mode.bufs, maxRank, meanRank)
					})
				}
			}
		}
	}
}

// runHostile spreads xs over random partials, applies random operations
// between adds, merges the partials in random order and checks the result.
func runHostile(t *testing.T, r *rand.Rand, xs []float64, bufs []int, maxRank, meanRank float64) {
	parts := make([]*Numeric, 1+r.IntN(6))
	for i := range parts {
		parts[i], _ = NewNumericWith(NumericOptions{BufferSize: bufs[r.IntN(len(bufs))]})
	}
	var tl tally
	for i := 0; i < len(xs); {
		p := r.IntN(len(parts))
		k := min(1+r.IntN(700), len(xs)-i)
		if r.IntN(2) == 0 && !slices.ContainsFunc(xs[i:i+k], sketchtest.IsMissing) {
			parts[p].AddBatch(xs[i : i+k])
		} else {
			for _, x := range xs[i : i+k] {
				addValue(parts[p], x)
			}
		}
		for _, x := range xs[i : i+k] {
			tl.add(x)
		}
		i += k
		if r.IntN(3) == 0 {
			parts[p] = numericOp(t, r, parts[p])
			requireInvariants(t, parts[p])
		}
	}
	// Merge in random order, with round trips in between.
	for len(parts) > 1 {
		i, j := r.IntN(len(parts)), r.IntN(len(parts)-1)
		if j >= i {
			j++
		}
		require.NoError(t, parts[i].Merge(parts[j]))
		parts[i] = numericOp(t, r, parts[i])
		requireInvariants(t, parts[i])
		parts = slices.Delete(parts, j, j+1)
	}
	checkNumeric(t, parts[0], &tl, maxRank, meanRank)
}
