package drift

import (
	"cmp"
	"math"
	"slices"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// Mixtures: a share of the traffic through another transform than the
// rest (one serving replica in ten skipping the scaler, a stale replica
// with old parameters, a unit change on one path).

// minMixShare is the smallest share named as a mixture: below it a
// second component cannot be told from the tails of the first.
const minMixShare = 0.02

// minMixValues is the fewest values the second component must hold.
const minMixValues = 10

// minBeyondValues is the fewest values beyond the training range a share
// is named from (beyondMixtures): there the untouched traffic has next to
// no mass, so five values where a transform puts them (a 5% share of the
// 200 values of the default min_samples holds ten, give or take three)
// tell the story the whole distribution cannot yet.
const minBeyondValues = 5

// pairLines splits the raw/normalized pairs into two lines: the declared
// transform y = a0·x + b0 and another, y = a1·x + b1, taken by a share w of
// the pairs independently of x. The pair sketch holds the means, variances
// and covariance of (x, y), and under that model they determine w, a1 and
// b1 exactly: with P = w·(a1-a0) = cov/var(x) - a0 and
// Q = w·δ = mean(y) - (a0·mean(x) + b0), δ being the gap between the lines
// at mean(x), the residual variance of the single least-squares line is
// R = (P²·var(x) + Q²)·(1-w)/w, so w = (P²·var(x) + Q²) / (P²·var(x) + Q² + R).
// One line through all pairs (R = 0) gives w = 1.
func pairLines(p *sketch.Pair, a0, b0 float64) (w, a1, b1 float64, ok bool) {
	t, err := p.Fit()
	if err != nil {
		return 0, 0, 0, false
	}
	mx, vx := p.MeanRaw(), p.StdRaw()*p.StdRaw()
	if !(vx > 0) {
		return 0, 0, 0, false
	}
	P := p.Covariance()/vx - a0
	Q := p.MeanNorm() - (a0*mx + b0)
	R := t.ResidualStd * t.ResidualStd
	num := P*P*vx + Q*Q
	if !(num > 0) {
		return 0, 0, 0, false
	}
	w = num / (num + R)
	da, delta := P/w, Q/w
	a1 = a0 + da
	b1 = b0 + delta - da*mx
	return w, a1, b1, true
}

// mixCandidate is a transform a share of the traffic may go through, in
// the space of the values the model gets: y' = A·y + B.
type mixCandidate struct {
	A, B      float64
	diagnosis Diagnosis
	what      string // "skips the z-score scaler (mean 90.5, std 121)"
}

// mixFit is a candidate's share and how well the mixture explains the
// current distribution.
type mixFit struct {
	c        mixCandidate
	order    int // the candidate's place in mixCandidates: simpler stories first
	w        float64
	residual float64 // sup |F_cur - F_mix|
}

// mixCandidates are the transforms tried on a feature's distribution.
func mixCandidates(n Normalization) []mixCandidate {
	var out []mixCandidate
	if n.declared() {
		c, s := n.params()
		out = append(out,
			mixCandidate{A: s, B: c, diagnosis: UnscaledInput, what: "skips " + n.describe()},
			mixCandidate{A: 1 / s, B: -c / s, diagnosis: DoubleScaled, what: "goes through " + n.describe() + " twice"})
		for _, u := range allUnits {
			out = append(out, mixCandidate{A: u.f, B: ((u.f-1)*c + u.g) / s, diagnosis: ScaleChange,
				what: "reaches " + n.describe() + " in another unit, " + u.factorText() + u.example()})
		}
		// After the scaler (factors alone, as matchUnit has them, and only
		// those far from all others: a share of the traffic 1.609 times
		// smaller is as much a stale scaler's), unless the scaler does not
		// move the center, where it is the same as before.
		for _, u := range allUnits {
			if u.g == 0 && wideUnits[u.f] && math.Abs((u.f-1)*c/s) > 1e-9 {
				out = append(out, mixCandidate{A: u.f, B: 0, diagnosis: ScaleChange,
					what: "leaves " + n.describe() + " in another unit, " + u.factorText() + u.example()})
			}
		}
		return out
	}
	for _, u := range allUnits {
		out = append(out, mixCandidate{A: u.f, B: u.g, diagnosis: ScaleChange,
			what: "arrives in another unit, " + u.factorText() + u.example()})
	}
	return out
}

// mixPoints are where the mixture CDFs are compared: the current and the
// reference quantiles.
func mixPoints(ref, cur sketch.Distribution) []float64 {
	pts := make([]float64, 0, 2*199)
	for i := 1; i < 200; i++ {
		q := float64(i) / 200
		pts = append(pts, cur.Quantile(q), ref.Quantile(q))
	}
	return pts
}

// fitMixture estimates the share w of cur that went through c, under
// F_cur(y) = (1-w)·F_ref(y) + w·F_ref((y-B)/A), by least squares over the
// points, and returns the largest distance left.
func fitMixture(ref, cur sketch.Distribution, c mixCandidate, pts []float64) mixFit {
	var sdg, sgg float64
	d := make([]float64, len(pts))
	g := make([]float64, len(pts))
	for i, y := range pts {
		fr := ref.CDF(y)
		d[i] = cur.CDF(y) - fr
		g[i] = ref.CDF((y-c.B)/c.A) - fr
		sdg += d[i] * g[i]
		sgg += g[i] * g[i]
	}
	if !(sgg > 0) {
		return mixFit{c: c, residual: math.Inf(1)}
	}
	w := clamp01(sdg / sgg)
	var res float64
	for i := range pts {
		res = math.Max(res, math.Abs(d[i]-w*g[i]))
	}
	return mixFit{c: c, w: w, residual: res}
}

// mixtures returns the candidate mixtures that explain the change, best
// first: a share between minMixShare and 1-minMixShare holding at least
// minMixValues values, and a distance left below the KS critical value
// (or half the KS effect floor, whichever is larger) and under half the
// distance before.
func mixtures(ref, cur sketch.Distribution, n Normalization, ks, ksCrit float64, m uint64, th Thresholds) []mixFit {
	pts := mixPoints(ref, cur)
	limit := math.Min(math.Max(ksCrit, th.KS.Warning/2), ks/2)
	var out []mixFit
	for i, c := range mixCandidates(n) {
		f := fitMixture(ref, cur, c, pts)
		f.order = i
		if f.w < minMixShare || f.w > 1-minMixShare || f.w*float64(m) < minMixValues || f.residual > limit {
			continue
		}
		out = append(out, f)
	}
	sortFits(out, 0)
	return out
}

// sortFits orders fits best first. Fits about as good as the best (within
// 5%, or margin more) are told apart by the simpler story: a skipped or
// doubled scaler before a unit change (a z-score spread near 60 makes a
// skip look like minutes to seconds), a unit change before the scaler
// before one after it.
func sortFits(out []mixFit, margin float64) {
	slices.SortStableFunc(out, func(a, b mixFit) int { return cmp.Compare(a.residual, b.residual) })
	k := 0
	for k < len(out) && out[k].residual <= 1.05*out[0].residual+0.001+margin {
		k++
	}
	slices.SortStableFunc(out[:k], func(a, b mixFit) int { return cmp.Compare(a.order, b.order) })
}

// mixResidual returns the largest distance between cur and the mixture of
// share w through c over pts.
func mixResidual(ref, cur sketch.Distribution, c mixCandidate, w float64, pts []float64) float64 {
	var res float64
	for _, y := range pts {
		fr := ref.CDF(y)
		res = math.Max(res, math.Abs(cur.CDF(y)-(1-w)*fr-w*ref.CDF((y-c.B)/c.A)))
	}
	return res
}

// beyondPoints are where a mixture through c is compared with cur beyond
// the training range [lo, hi]: the range's edges and the quantiles beyond
// it, of the current values and of c's component.
func beyondPoints(ref, cur sketch.Distribution, c mixCandidate, lo, hi float64) []float64 {
	pts := []float64{lo, hi}
	for k := 1; k < 200; k++ {
		q := float64(k) / 200
		for _, y := range []float64{cur.Quantile(q), c.A*ref.Quantile(q) + c.B} {
			if y < lo || y > hi {
				pts = append(pts, y)
			}
		}
	}
	return pts
}

// explainsBeyond reports whether the mixture m puts the values beyond the
// training range [lo, hi] where they are: at beyondPoints the CDFs differ
// by at most beyondTolerance of out, the share of the m current values
// beyond it. A transform whose values beyond the range spread where the
// current ones do not (a sentinel, values just past a min-max feature's
// max) is not what happened, however well a small share of it fits the
// whole.
func explainsBeyond(ref, cur sketch.Distribution, m mixFit, lo, hi, out float64, n uint64) bool {
	return mixResidual(ref, cur, m.c, m.w, beyondPoints(ref, cur, m.c, lo, hi)) <= beyondTolerance(out, n)
}

// beyondTolerance is how far the CDF of a mixture may stray from the
// current one beyond the training range, where a share out of m values
// lies: a quarter of out, or for a handful of values the one-sample KS
// critical value at 5% of their count (1.36/√k of out, the sampling noise
// of k values' own CDF), but never 0.4 of out, so that values all on one
// point (a sentinel: at least half of out from any continuous component)
// stay unexplained.
func beyondTolerance(out float64, m uint64) float64 {
	k := out * float64(m)
	if !(k > 0) {
		return out / 4
	}
	return out * math.Min(0.4, math.Max(0.25, 1.36/math.Sqrt(k)))
}

// beyondMixtures returns the candidate mixtures that explain the values
// beyond the training range [lo, hi] (a share out of the current values),
// best first, for a change too small to alert on the whole distribution.
// The share is fitted by least squares at beyondPoints, where the
// untouched traffic has next to no mass, so that its sampling noise does
// not pull the share as it does over the whole distribution; there the
// mixture must explain the values beyond the range (explainsBeyond), and
// over the whole distribution leave at most limit.
func beyondMixtures(ref, cur sketch.Distribution, n Normalization, lo, hi, out float64, m uint64, limit float64) []mixFit {
	all := mixPoints(ref, cur)
	var fits []mixFit
	for i, c := range mixCandidates(n) {
		f := fitMixture(ref, cur, c, beyondPoints(ref, cur, c, lo, hi))
		f.order = i
		if f.w < minMixShare || f.w > 1-minMixShare || f.w*float64(m) < minBeyondValues || f.residual > beyondTolerance(out, m) {
			continue
		}
		if mixResidual(ref, cur, c, f.w, all) > limit {
			continue
		}
		fits = append(fits, f)
	}
	// A handful of values beyond the range tells transforms that put them
	// in the same region apart only by more than their own CDF's noise.
	sortFits(fits, out*0.5/math.Sqrt(math.Max(1, out*float64(m))))
	return fits
}
