package sketch

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// ErrEmpty is returned by queries on a sketch that holds no finite value.
var ErrEmpty = errors.New("sketch: no finite values")

// Distribution is the cumulative distribution function a sketch stands for,
// as knots X (ascending, possibly repeated) with F(X[i]) = P[i]. Between
// knots the function is constant when Step is true (exact counts of
// discrete values: F is the empirical CDF) and linear otherwise (a t-digest:
// F interpolates between centroid ranks, from the exact minimum to the exact
// maximum). Distances between two sketches (KS, Wasserstein, PSI) are
// computed exactly over these pieces.
type Distribution struct {
	X    []float64
	P    []float64
	Step bool
}

// N returns the number of knots.
func (d Distribution) N() int { return len(d.X) }

// Min returns the smallest value, or NaN when d is empty.
func (d Distribution) Min() float64 {
	if len(d.X) == 0 {
		return math.NaN()
	}
	return d.X[0]
}

// Max returns the largest value, or NaN when d is empty.
func (d Distribution) Max() float64 {
	if len(d.X) == 0 {
		return math.NaN()
	}
	return d.X[len(d.X)-1]
}

// CDF returns P(X <= x).
func (d Distribution) CDF(x float64) float64 {
	n := len(d.X)
	if n == 0 || x < d.X[0] {
		return 0
	}
	if x >= d.X[n-1] {
		return 1
	}
	// i is the first knot strictly above x; i >= 1 here.
	return d.cdfAt(sort.Search(n, func(k int) bool { return d.X[k] > x }), x)
}

// cdfAt returns CDF(x) given i, the first knot strictly above x, where
// X[0] <= x < X[n-1].
func (d Distribution) cdfAt(i int, x float64) float64 {
	if d.Step {
		return d.P[i-1]
	}
	x0, x1 := d.X[i-1], d.X[i]
	p0, p1 := d.P[i-1], d.P[i]
	return p0 + (p1-p0)*fraction(x, x0, x1)
}

// fraction returns where x lies between x0 < x1, in [0, 1], also where
// the differences overflow (knots near ±MaxFloat64).
func fraction(x, x0, x1 float64) float64 {
	f := (x - x0) / (x1 - x0)
	if f-f != 0 {
		f = (x/2 - x0/2) / (x1/2 - x0/2)
	}
	return min(max(f, 0), 1)
}

// lerp returns the point a fraction t of the way from a to b, within
// [a, b], also where b-a overflows.
func lerp(a, b, t float64) float64 {
	x := a + (b-a)*t
	if x-x != 0 {
		x = a*(1-t) + b*t
	}
	return min(max(x, a), b)
}

// CDFBelow returns P(X < x), the left limit of the CDF at x. It differs
// from CDF(x) where the CDF jumps: at a step, or at a repeated knot of a
// linear distribution (a point mass).
func (d Distribution) CDFBelow(x float64) float64 {
	return d.belowAt(sort.Search(len(d.X), func(k int) bool { return d.X[k] >= x }), x)
}

// belowAt returns CDFBelow(x) given i, the first knot at or above x.
func (d Distribution) belowAt(i int, x float64) float64 {
	n := len(d.X)
	switch {
	case i == 0:
		return 0
	case i == n:
		return 1
	case d.Step:
		return d.P[i-1]
	case d.X[i] == x:
		return d.P[i]
	}
	x0, x1 := d.X[i-1], d.X[i]
	p0, p1 := d.P[i-1], d.P[i]
	return p0 + (p1-p0)*fraction(x, x0, x1)
}

// Sweep evaluates a Distribution's CDF and its left limit at ascending
// points in one pass over the knots: a distance between two sketches
// evaluates both at every knot of either, and a binary search per point
// costs most of it. The values are those of CDF and CDFBelow, bit for bit.
type Sweep struct {
	d Distribution
	// above and atOrAbove are the first knots > x and >= x for the last x.
	above, atOrAbove int
}

// Sweep returns a Sweep over d from its first knot.
func (d Distribution) Sweep() Sweep { return Sweep{d: d} }

// At returns CDF(x) and CDFBelow(x). x must not be NaN nor smaller than
// the x of the previous call.
func (s *Sweep) At(x float64) (cdf, below float64) {
	d := s.d
	n := len(d.X)
	for s.atOrAbove < n && d.X[s.atOrAbove] < x {
		s.atOrAbove++
	}
	s.above = max(s.above, s.atOrAbove)
	for s.above < n && d.X[s.above] <= x {
		s.above++
	}
	below = d.belowAt(s.atOrAbove, x)
	switch {
	case n == 0 || x < d.X[0]:
		cdf = 0
	case x >= d.X[n-1]:
		cdf = 1
	default:
		cdf = d.cdfAt(s.above, x)
	}
	return cdf, below
}

// Quantile returns the smallest x with F(x) >= q for a step distribution,
// and the inverse of the interpolated CDF otherwise. q is clamped to [0, 1].
func (d Distribution) Quantile(q float64) float64 {
	n := len(d.X)
	if n == 0 {
		return math.NaN()
	}
	if q <= 0 || math.IsNaN(q) {
		return d.X[0]
	}
	if q >= 1 {
		return d.X[n-1]
	}
	if d.Step {
		// Tolerate rounding in the cumulative sums.
		i := sort.Search(n, func(k int) bool { return d.P[k] >= q-1e-12 })
		if i >= n {
			i = n - 1
		}
		return d.X[i]
	}
	i := sort.Search(n, func(k int) bool { return d.P[k] >= q })
	if i == 0 {
		return d.X[0]
	}
	if i >= n {
		return d.X[n-1]
	}
	p0, p1 := d.P[i-1], d.P[i]
	if p1 <= p0 {
		return d.X[i]
	}
	return lerp(d.X[i-1], d.X[i], (q-p0)/(p1-p0))
}

// stepDistribution builds the empirical CDF of exact value counts.
func stepDistribution(vc []ValueCount, total float64) Distribution {
	d := Distribution{X: make([]float64, len(vc)), P: make([]float64, len(vc)), Step: true}
	var cum float64
	for i, v := range vc {
		cum += float64(v.Count)
		d.X[i] = v.Value
		d.P[i] = cum / total
	}
	if len(vc) > 0 {
		d.P[len(vc)-1] = 1
	}
	return d
}

// centroidDistribution builds the CDF of t-digest centroids with exact
// tails: lo and hi are the smallest and largest values (up to tailSize
// each), drawn as the empirical CDF's steps; between them the i-th
// centroid's mean sits at the rank of its middle and the CDF interpolates
// linearly. P is scaled to the centroids' total weight.
func centroidDistribution(means, weights []float64, lo, hi []float64) Distribution {
	k := len(means)
	d := Distribution{X: make([]float64, 0, k+4*tailSize), P: make([]float64, 0, k+4*tailSize)}
	if k == 0 || len(lo) == 0 || len(hi) == 0 {
		return d
	}
	var total float64
	for _, w := range weights {
		total += w
	}
	step := func(x, below float64) {
		d.X = append(d.X, x, x)
		d.P = append(d.P, below/total, (below+1)/total)
	}
	if total <= float64(len(lo)+len(hi)) {
		// The tails hold every value: the CDF is exact.
		all := lo
		if over := len(lo) + len(hi) - int(total); over < len(hi) {
			all = append(slices.Clone(lo), hi[over:]...)
		}
		for i, x := range all {
			step(x, float64(i))
		}
		d.P[len(d.P)-1] = 1
		return d
	}
	for i, x := range lo {
		step(x, float64(i))
	}
	loX, loP := lo[len(lo)-1], float64(len(lo))/total
	hiX, hiP := hi[0], 1-float64(len(hi))/total
	var cum float64
	for i, m := range means {
		p := (cum + weights[i]/2) / total
		cum += weights[i]
		if m <= loX || p <= loP || m >= hiX || p >= hiP {
			continue // inside an exact tail
		}
		d.X = append(d.X, m)
		d.P = append(d.P, p)
	}
	for i, x := range hi {
		step(x, total-float64(len(hi)-i))
	}
	d.P[len(d.P)-1] = 1
	return d
}

// withMasses mixes a continuous distribution d of wd values with exact
// point masses: the CDF rises as d's between knots and jumps by each mass
// at its value (two knots at one x).
func withMasses(d Distribution, wd float64, masses []ValueCount) Distribution {
	if len(masses) == 0 {
		return d
	}
	w := wd
	for _, m := range masses {
		w += float64(m.Count)
	}
	out := Distribution{X: make([]float64, 0, len(d.X)+2*len(masses)), P: make([]float64, 0, len(d.X)+2*len(masses))}
	add := func(x, p float64) {
		out.X = append(out.X, x)
		out.P = append(out.P, math.Min(p/w, 1))
	}
	var below float64 // weight of the masses left of the current knot
	i := 0
	for _, m := range masses {
		for i < len(d.X) && d.X[i] < m.Value {
			add(d.X[i], wd*d.P[i]+below)
			i++
		}
		f := 0.0
		if wd > 0 {
			f = d.CDF(m.Value)
		}
		for i < len(d.X) && d.X[i] == m.Value {
			add(d.X[i], wd*d.P[i]+below)
			i++
		}
		add(m.Value, wd*f+below)
		below += float64(m.Count)
		add(m.Value, wd*f+below)
	}
	for ; i < len(d.X); i++ {
		add(d.X[i], wd*d.P[i]+below)
	}
	out.P[len(out.P)-1] = 1
	return out
}
