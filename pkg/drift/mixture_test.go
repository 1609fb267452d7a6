package drift

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// lognormalGrid returns n quantiles of the lognormal (mu, sigma) at
// (i+0.5)/n: a sample without sampling noise.
func lognormalGrid(n int, mu, sigma float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		p := (float64(i) + 0.5) / float64(n)
		xs[i] = math.Exp(mu + sigma*math.Sqrt2*math.Erfinv(2*p-1))
	}
	return xs
}

// TestMixtureShareExact builds mixtures without sampling noise, the
// untouched part and the transformed part each a quantile grid of the
// reference's distribution, so that the share is known exactly (k of n)
// and all that is left is the sketches' own rank error (0.0003 on
// average, 0.0025 at worst, see the README): the share recovered from the
// distribution is within 0.002 of k/n, the mixture leaves less than 0.02
// of KS distance, and the transform named is the one applied. The share
// read from the values beyond the training range is as close.
func TestMixtureShareExact(t *testing.T) {
	mu, sigma := math.Log(50000), 0.35
	train := numericOf(t, lognormalGrid(200000, mu, sigma))
	z := Normalization{Kind: ScalerZScore, Mean: train.Mean(), Std: train.StdDev()}
	norm := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = (x - z.Mean) / z.Std
		}
		return out
	}
	ref := distOf(t, numericOf(t, norm(lognormalGrid(20000, mu, sigma))))
	th := DefaultThresholds()
	var cands []mixCandidate
	for _, c := range mixCandidates(z) {
		// The skip, the double, a unit of each kind before the scaler and
		// one after it.
		switch {
		case c.what == mixCandidates(z)[0].what, c.what == mixCandidates(z)[1].what:
		case strings.HasPrefix(c.what, "reaches "):
			if !(c.A == 100 || c.A == 1e-3 || c.A == 3600 || c.A == 1.8) {
				continue
			}
		case c.A != 100:
			continue
		}
		cands = append(cands, c)
	}
	require.Len(t, cands, 7)
	for _, c := range cands {
		for _, n := range []int{1000, 5000} {
			for _, w := range []float64{0.05, 0.12, 0.3, 0.6} {
				k := int(math.Round(w * float64(n)))
				cur := numericOf(t, norm(lognormalGrid(n-k, mu, sigma)))
				for _, y := range norm(lognormalGrid(k, mu, sigma)) {
					cur.Add(c.A*y + c.B)
				}
				cd := distOf(t, cur)
				drawn := float64(k) / float64(n)
				ks, _ := KS(ref, cd)
				fits := mixtures(ref, cd, z, ks, KSCritical(20000, uint64(n), th.Alpha), uint64(n), th)
				require.NotEmpty(t, fits, "%s, %d of %d", c.what, k, n)
				require.Equal(t, c.what, fits[0].c.what, "%d of %d", k, n)
				require.InDelta(t, drawn, fits[0].w, 0.002, "%s, %d of %d", c.what, k, n)
				require.Less(t, fits[0].residual, 0.02)

				if w > 0.12 || c.A == 1.8 {
					continue // beyond the range: small shares, of the transforms that take values out of it
				}
				lo, hi := ref.Min()-0.01*(ref.Max()-ref.Min()), ref.Max()+0.01*(ref.Max()-ref.Min())
				beyond := beyondMixtures(ref, cd, z, lo, hi, cd.CDFBelow(lo)+1-cd.CDF(hi), uint64(n), 1)
				require.NotEmpty(t, beyond, "%s, %d of %d", c.what, k, n)
				require.Equal(t, c.what, beyond[0].c.what)
				require.InDelta(t, drawn, beyond[0].w, 0.002, "%s beyond the range, %d of %d", c.what, k, n)
			}
		}
	}
}

// TestPairLinesExact: with raw values of the same distribution on both
// lines (each raw value repeated, a share k of its copies on the second
// line), the pair moments determine the two lines exactly, and pairLines
// returns the share and the second line to rounding error. With the share
// drawn at random the raw values of the two lines differ by chance, and
// the share is within 4 standard deviations of the drawn one: its sd was
// measured at 0.2 to 0.8 over √n for shares of 5 to 30% (40 seeds each,
// n of 1000 to 20000, skipped, doubled, ×100 and stale-scaler lines).
func TestPairLinesExact(t *testing.T) {
	a0, b0 := 1/18300.0, -52100/18300.0
	tests := []struct {
		name   string
		a1, b1 float64
	}{
		{"skipped", 1, 0},
		{"doubled", a0 * a0, a0*b0 + b0},
		{"cents", 100 * a0, b0},
		{"stale scaler", a0 / 1.3, -58000 / (1.3 * 18300)},
	}
	raw := lognormalGrid(400, math.Log(50000), 0.35)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, copies := range []struct{ k, of int }{{1, 20}, {3, 20}, {6, 20}, {3, 50}} {
				p := &sketch.Pair{}
				for _, x := range raw {
					for j := range copies.of {
						if j < copies.k {
							p.Add(x, tt.a1*x+tt.b1)
						} else {
							p.Add(x, a0*x+b0)
						}
					}
				}
				w, a1, b1, ok := pairLines(p, a0, b0)
				require.True(t, ok)
				require.InDelta(t, float64(copies.k)/float64(copies.of), w, 1e-9)
				require.InEpsilon(t, tt.a1, a1, 1e-6)
				require.InDelta(t, tt.b1, b1, 1e-9*math.Max(1, math.Abs(tt.b1)))
			}
			for _, n := range []int{1000, 5000, 20000} {
				for _, share := range []float64{0.05, 0.12, 0.3} {
					r := rand.New(rand.NewPCG(uint64(n), 9))
					p := &sketch.Pair{}
					k := 0
					for range n {
						x := 50000 * math.Exp(0.35*r.NormFloat64())
						if r.Float64() < share {
							k++
							p.Add(x, tt.a1*x+tt.b1)
						} else {
							p.Add(x, a0*x+b0)
						}
					}
					w, _, _, ok := pairLines(p, a0, b0)
					require.True(t, ok)
					require.InDelta(t, float64(k)/float64(n), w, 4*0.8/math.Sqrt(float64(n)), "%d of %d", k, n)
				}
			}
		})
	}
}
