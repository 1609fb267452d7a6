package drift

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// ProbFloor is the smallest bin probability PSI and Jensen-Shannon use: an
// empty bin counts as 1e-4 (then the bins are renormalized), so PSI stays
// finite, and a bin that drops from 10% to nothing adds about 0.9 to PSI
// instead of infinity. It is far below the 1/n noise of any horizon judged
// (n >= MinSamples), so it never decides an alert on its own.
const ProbFloor = 1e-4

// Bins is the number of PSI and Jensen-Shannon bins: the reference's deciles.
const Bins = 10

// ErrEmptyDistribution is returned when a distance is asked of a
// distribution without knots.
var ErrEmptyDistribution = errors.New("drift: empty distribution")

func checkDists(ref, cur sketch.Distribution) error {
	if ref.N() == 0 {
		return fmt.Errorf("reference: %w", ErrEmptyDistribution)
	}
	if cur.N() == 0 {
		return fmt.Errorf("current: %w", ErrEmptyDistribution)
	}
	if len(ref.P) != ref.N() || len(cur.P) != cur.N() {
		return errors.New("drift: distribution with mismatched knots and probabilities")
	}
	return nil
}

// unionSweep calls at with each distinct knot x of a and b in ascending
// order and the CDFs of both there and just below it, in one merge of
// the two sorted knot lists: no union is built and nothing is searched.
func unionSweep(a, b sketch.Distribution, at func(x, aCDF, aBelow, bCDF, bBelow float64)) {
	sa, sb := a.Sweep(), b.Sweep()
	i, j := 0, 0
	for i < len(a.X) || j < len(b.X) {
		var x float64
		switch {
		case j == len(b.X) || (i < len(a.X) && a.X[i] <= b.X[j]):
			x = a.X[i]
		default:
			x = b.X[j]
		}
		for i < len(a.X) && a.X[i] == x {
			i++
		}
		for j < len(b.X) && b.X[j] == x {
			j++
		}
		af, ab := sa.At(x)
		bf, bb := sb.At(x)
		at(x, af, ab, bf, bb)
	}
}

// ksW1 returns KS and W1 of two checked distributions from one sweep.
func ksW1(ref, cur sketch.Distribution) (ks, w1 float64) {
	var d float64
	var sum, c float64 // Kahan: many small pieces
	var prevX, prevD float64
	first := true
	unionSweep(ref, cur, func(x, rf, rb, cf, cb float64) {
		d = math.Max(d, math.Abs(rf-cf))
		d = math.Max(d, math.Abs(rb-cb))
		if !first {
			// Between adjacent knots the difference of the CDFs is linear
			// from its value at the left knot to its left limit at the right.
			piece := absLinearIntegral(prevD, rb-cb, x-prevX)
			y := piece - c
			t := sum + y
			c = (t - sum) - y
			sum = t
		}
		first = false
		prevX, prevD = x, rf-cf
	})
	return math.Min(d, 1), sum
}

// KS returns the Kolmogorov-Smirnov distance sup |F_ref - F_cur|. Between
// knots both CDFs are constant or linear, so the supremum is reached at a
// knot, either at its value or at its left limit; both are evaluated. For
// two step distributions (exact counts) it is the exact two-sample KS
// statistic of the data.
func KS(ref, cur sketch.Distribution) (float64, error) {
	if err := checkDists(ref, cur); err != nil {
		return math.NaN(), fmt.Errorf("computing ks: %w", err)
	}
	ks, _ := ksW1(ref, cur)
	return ks, nil
}

// W1 returns the first Wasserstein distance, the integral of |F_ref - F_cur|
// over the real line, in the unit of the values. It is integrated exactly:
// between adjacent knots of the union the difference of the two CDFs is
// linear (or constant), and the integral of |linear| has a closed form,
// split at its zero.
func W1(ref, cur sketch.Distribution) (float64, error) {
	if err := checkDists(ref, cur); err != nil {
		return math.NaN(), fmt.Errorf("computing wasserstein: %w", err)
	}
	_, w1 := ksW1(ref, cur)
	return w1, nil
}

// absLinearIntegral integrates |d(t)| over an interval of length l where d
// goes linearly from d0 to d1.
func absLinearIntegral(d0, d1, l float64) float64 {
	a0, a1 := math.Abs(d0), math.Abs(d1)
	if (d0 >= 0) == (d1 >= 0) || a0+a1 == 0 {
		return l * (a0 + a1) / 2
	}
	// Crosses zero: two triangles.
	return l * (d0*d0 + d1*d1) / (2 * (a0 + a1))
}

// BinEdges returns the PSI edges: the reference's quantiles at 0.1, ...,
// 0.9, with ties removed (a feature that is 0 for 70% of its values has
// fewer, wider bins rather than empty duplicates).
func BinEdges(ref sketch.Distribution) []float64 {
	edges := make([]float64, 0, Bins-1)
	for i := 1; i < Bins; i++ {
		edges = append(edges, ref.Quantile(float64(i)/Bins))
	}
	return slices.Compact(edges)
}

// BinProbs returns the probabilities of the bins (-inf, e_1], (e_1, e_2],
// ..., (e_k, +inf) under d, using P(X <= x), floored at ProbFloor and
// renormalized.
func BinProbs(d sketch.Distribution, edges []float64) []float64 {
	p := make([]float64, len(edges)+1)
	prev := 0.0
	for i, e := range edges {
		c := d.CDF(e)
		p[i] = c - prev
		prev = c
	}
	p[len(edges)] = 1 - prev
	return floorProbs(p)
}

func floorProbs(p []float64) []float64 {
	var s float64
	for i := range p {
		p[i] = math.Max(p[i], ProbFloor)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// PSI returns the population stability index over the reference's decile
// bins: sum (c - r)·ln(c / r).
func PSI(ref, cur sketch.Distribution) (float64, error) {
	if err := checkDists(ref, cur); err != nil {
		return math.NaN(), fmt.Errorf("computing psi: %w", err)
	}
	e := BinEdges(ref)
	return PSIOf(BinProbs(ref, e), BinProbs(cur, e)), nil
}

// PSIOf returns the PSI of two binned distributions of equal length with
// no zero bin.
func PSIOf(r, c []float64) float64 {
	var s float64
	for i := range r {
		s += (c[i] - r[i]) * math.Log(c[i]/r[i])
	}
	return s
}

// JS returns the Jensen-Shannon distance (base 2: the square root of the
// divergence, in [0, 1]) over the same bins as PSI.
func JS(ref, cur sketch.Distribution) (float64, error) {
	if err := checkDists(ref, cur); err != nil {
		return math.NaN(), fmt.Errorf("computing js: %w", err)
	}
	e := BinEdges(ref)
	return JSOf(BinProbs(ref, e), BinProbs(cur, e)), nil
}

// JSOf returns the Jensen-Shannon distance of two binned distributions.
func JSOf(r, c []float64) float64 {
	var s float64
	for i := range r {
		m := (r[i] + c[i]) / 2
		if r[i] > 0 {
			s += r[i] * math.Log2(r[i]/m) / 2
		}
		if c[i] > 0 {
			s += c[i] * math.Log2(c[i]/m) / 2
		}
	}
	return math.Sqrt(math.Min(math.Max(s, 0), 1))
}

// KolmogorovSF returns P(K > x) for the Kolmogorov distribution K, the limit
// of sqrt(n)·D_n (scipy's kstwobign.sf).
func KolmogorovSF(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return math.NaN()
	case x <= 0:
		return 1
	case x < 1:
		// The theta-function form converges fast for small x.
		var s float64
		f := -math.Pi * math.Pi / (8 * x * x)
		for k := 1; k <= 20; k++ {
			j := float64(2*k - 1)
			s += math.Exp(j * j * f)
		}
		return math.Min(math.Max(1-math.Sqrt(2*math.Pi)/x*s, 0), 1)
	}
	var s float64
	sign := 1.0
	for k := 1; k <= 100; k++ {
		t := math.Exp(-2 * float64(k*k) * x * x)
		s += sign * t
		if t < 1e-17 {
			break
		}
		sign = -sign
	}
	return math.Min(math.Max(2*s, 0), 1)
}

// KolmogorovISF returns c with P(K > c) = alpha (scipy's kstwobign.isf),
// for alpha in (0, 1).
func KolmogorovISF(alpha float64) float64 {
	if !(alpha > 0 && alpha < 1) {
		return math.NaN()
	}
	lo, hi := 0.0, 10.0
	for range 200 {
		mid := (lo + hi) / 2
		if KolmogorovSF(mid) > alpha {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-15 {
			break
		}
	}
	return (lo + hi) / 2
}

// KSCritical returns the KS distance above which two samples of sizes n
// and m differ at level alpha: c(alpha)·sqrt((n+m)/(n·m)), with c from the
// Kolmogorov distribution. It returns +Inf when either sample is empty.
func KSCritical(n, m uint64, alpha float64) float64 {
	if n == 0 || m == 0 {
		return math.Inf(1)
	}
	fn, fm := float64(n), float64(m)
	return kolmogorovCritical(alpha) * math.Sqrt((fn+fm)/(fn*fm))
}

// lastCritical holds the last alpha KSCritical was asked for and its
// KolmogorovISF: the bisection costs as much as a KS distance, and every
// comparison of a policy asks for the same alpha.
var lastCritical atomic.Pointer[[2]float64]

func kolmogorovCritical(alpha float64) float64 {
	if last := lastCritical.Load(); last != nil && last[0] == alpha {
		return last[1]
	}
	c := KolmogorovISF(alpha)
	lastCritical.Store(&[2]float64{alpha, c})
	return c
}

// KSPValue returns the asymptotic two-sided p-value of a KS distance d
// between samples of sizes n and m: P(K > d·sqrt(n·m/(n+m))). It is 1 when
// either sample is empty.
func KSPValue(d float64, n, m uint64) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	fn, fm := float64(n), float64(m)
	return KolmogorovSF(d * math.Sqrt(fn*fm/(fn+fm)))
}
