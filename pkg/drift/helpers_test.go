package drift

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// gen draws one value from a seeded generator.
type gen func(r *rand.Rand) float64

func normal(mu, sigma float64) gen {
	return func(r *rand.Rand) float64 { return mu + sigma*r.NormFloat64() }
}

func lognormal(mu, sigma float64) gen {
	return func(r *rand.Rand) float64 { return math.Exp(mu + sigma*r.NormFloat64()) }
}

func uniform(lo, hi float64) gen {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

// bimodal mixes N(-2, 0.5) with weight w and N(3, 1).
func bimodal(w float64) gen {
	return func(r *rand.Rand) float64 {
		if r.Float64() < w {
			return -2 + 0.5*r.NormFloat64()
		}
		return 3 + r.NormFloat64()
	}
}

func bernoulli(p float64) gen {
	return func(r *rand.Rand) float64 {
		if r.Float64() < p {
			return 1
		}
		return 0
	}
}

func poisson(lambda float64) gen {
	return func(r *rand.Rand) float64 {
		l, k, p := math.Exp(-lambda), 0.0, 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
}

// studentT draws from Student's t with df degrees of freedom.
func studentT(df int) gen {
	return func(r *rand.Rand) float64 {
		var chi float64
		for range df {
			z := r.NormFloat64()
			chi += z * z
		}
		return r.NormFloat64() / math.Sqrt(chi/float64(df))
	}
}

// pareto draws from a Pareto distribution with minimum 1 and tail index alpha.
func pareto(alpha float64) gen {
	return func(r *rand.Rand) float64 { return math.Pow(1-r.Float64(), -1/alpha) }
}

func cauchy() gen {
	return func(r *rand.Rand) float64 { return math.Tan(math.Pi * (r.Float64() - 0.5)) }
}

func constant(c float64) gen { return func(*rand.Rand) float64 { return c } }

// affineGen maps g's values through a·x + b.
func affineGen(g gen, a, b float64) gen {
	return func(r *rand.Rand) float64 { return a*g(r) + b }
}

func draw(g gen, n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = g(r)
	}
	return xs
}

func numericOf(t testing.TB, xs []float64) *sketch.Numeric {
	t.Helper()
	n := sketch.NewNumeric()
	n.AddBatch(xs)
	return n
}

// mergedOf sketches xs in parts partial sketches and merges them.
func mergedOf(t testing.TB, xs []float64, parts int) *sketch.Numeric {
	t.Helper()
	total := sketch.NewNumeric()
	for i := range parts {
		lo, hi := i*len(xs)/parts, (i+1)*len(xs)/parts
		p := sketch.NewNumeric()
		p.AddBatch(xs[lo:hi])
		require.NoError(t, total.Merge(p))
	}
	return total
}

func distOf(t testing.TB, n *sketch.Numeric) sketch.Distribution {
	t.Helper()
	d, err := n.Distribution()
	require.NoError(t, err)
	return d
}
