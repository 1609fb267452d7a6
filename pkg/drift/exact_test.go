package drift

import (
	"math"
	"slices"
	"sort"
)

// The exact statistics of raw samples, the yardstick of the sketches.

func sorted(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}

// exactKS is the two-sample KS statistic of sorted samples a and b.
func exactKS(a, b []float64) float64 {
	na, nb := float64(len(a)), float64(len(b))
	i, j := 0, 0
	var d float64
	for i < len(a) && j < len(b) {
		x := math.Min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/na-float64(j)/nb))
	}
	return d
}

// exactW1 is the integral of |F_a - F_b| for sorted samples a and b.
func exactW1(a, b []float64) float64 {
	na, nb := float64(len(a)), float64(len(b))
	i, j := 0, 0
	var w float64
	prev := math.Min(a[0], b[0])
	for i < len(a) || j < len(b) {
		var x float64
		switch {
		case i == len(a):
			x = b[j]
		case j == len(b):
			x = a[i]
		default:
			x = math.Min(a[i], b[j])
		}
		w += math.Abs(float64(i)/na-float64(j)/nb) * (x - prev)
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		prev = x
	}
	return w
}

// exactQuantile is the smallest x with F(x) >= q.
func exactQuantile(s []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(k, 0)]
}

// countLE is the number of values <= x.
func countLE(s []float64, x float64) int {
	return sort.Search(len(s), func(i int) bool { return s[i] > x })
}

// countLT is the number of values < x.
func countLT(s []float64, x float64) int {
	return sort.SearchFloat64s(s, x)
}

// exactPSI is PSI over bins at the exact deciles of a, with the same floor
// and renormalization as PSI.
func exactPSI(a, b []float64) float64 {
	var edges []float64
	for i := 1; i < Bins; i++ {
		edges = append(edges, exactQuantile(a, float64(i)/Bins))
	}
	edges = slices.Compact(edges)
	probs := func(s []float64) []float64 {
		p := make([]float64, len(edges)+1)
		prev := 0
		for i, e := range edges {
			c := countLE(s, e)
			p[i] = float64(c-prev) / float64(len(s))
			prev = c
		}
		p[len(edges)] = float64(len(s)-prev) / float64(len(s))
		var sum float64
		for i := range p {
			p[i] = math.Max(p[i], ProbFloor)
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	pa, pb := probs(a), probs(b)
	var s float64
	for i := range pa {
		s += (pb[i] - pa[i]) * math.Log(pb[i]/pa[i])
	}
	return s
}

// rankError is how far q is from the ranks the value x holds in sorted s:
// 0 when q lies within [F(x-), F(x)].
func rankError(s []float64, x, q float64) float64 {
	n := float64(len(s))
	lo, hi := float64(countLT(s, x))/n, float64(countLE(s, x))/n
	switch {
	case q < lo:
		return lo - q
	case q > hi:
		return q - hi
	}
	return 0
}
