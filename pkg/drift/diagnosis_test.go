package drift

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// income is raw income data: lognormal with a long right tail.
var income = affineGen(lognormal(0, 0.35), 50000, 0)

// moments of a generator, estimated on a large sample: what a training
// pipeline fits its scaler on.
func scalerOf(t *testing.T, kind string, g gen) Normalization {
	xs := sorted(draw(g, 200_000, 99))
	n := numericOf(t, xs)
	switch kind {
	case ScalerZScore:
		return Normalization{Kind: kind, Mean: n.Mean(), Std: n.StdDev()}
	case ScalerMinMax:
		return Normalization{Kind: kind, Min: xs[0], Max: xs[len(xs)-1]}
	case ScalerRobust:
		q1, q3 := exactQuantile(xs, 0.25), exactQuantile(xs, 0.75)
		return Normalization{Kind: kind, Median: exactQuantile(xs, 0.5), IQR: q3 - q1}
	}
	return Normalization{Kind: ScalerNone}
}

// scaled applies the declared scaler to raw values.
func scaled(g gen, n Normalization) gen {
	c, s := n.params()
	return affineGen(g, 1/s, -c/s)
}

type featureCase struct {
	name     string
	ref, cur gen
	nRef     int // default 20000
	nCur     int // default 5000
	norm     Normalization
	// pair, when set, is the transform applied at serving to raw values
	// drawn from pairRaw (normalized = slope·raw + intercept).
	pairRaw          gen
	slope, intercept float64
	noRef            bool
	curMissing       float64 // share of missing values added to the current sketch
	curNaN           float64
	refMissing       float64
	want             Diagnosis
	severity         Severity // checked when not zero
}

func (c featureCase) feature(t *testing.T) Feature {
	nRef, nCur := c.nRef, c.nCur
	if nRef == 0 {
		nRef = 20000
	}
	if nCur == 0 {
		nCur = 5000
	}
	f := Feature{Name: c.name, Norm: c.norm}
	if !c.noRef {
		f.Ref = numericOf(t, draw(c.ref, nRef, 1))
		f.Ref.AddMissing(uint64(c.refMissing * float64(nRef)))
	}
	f.Cur = numericOf(t, draw(c.cur, nCur, 2))
	f.Cur.AddMissing(uint64(c.curMissing * float64(nCur)))
	for range int(c.curNaN * float64(nCur)) {
		f.Cur.Add(math.NaN())
	}
	if c.pairRaw != nil {
		f.Pair = &sketch.Pair{}
		for _, x := range draw(c.pairRaw, nCur, 3) {
			f.Pair.Add(x, c.slope*x+c.intercept)
		}
	}
	return f
}

func TestDiagnoseFeature(t *testing.T) {
	z := scalerOf(t, ScalerZScore, income)
	mm := scalerOf(t, ScalerMinMax, uniform(20, 80))
	rb := scalerOf(t, ScalerRobust, income)
	std := normal(0, 1)
	zs, zt := 1/z.Std, -z.Mean/z.Std // the declared z-score transform
	cases := []featureCase{
		{name: "ok/normal", ref: std, cur: std, want: OK},
		{name: "ok/income z-scored", ref: scaled(income, z), cur: scaled(income, z), norm: z, want: OK},
		{name: "no_baseline", noRef: true, cur: std, want: NoBaseline},
		{name: "insufficient_data/150", ref: std, cur: std, nCur: 150, want: InsufficientData},
		{name: "insufficient_data/near miss 250", ref: std, cur: std, nCur: 250, want: OK},
		{name: "insufficient_data/shifted but 150", ref: std, cur: normal(3, 1), nCur: 150, want: InsufficientData},

		{name: "nonfinite_values/5%", ref: std, cur: std, curNaN: 0.05, want: NonFiniteValues, severity: Critical},
		{name: "nonfinite_values/near miss 0.02%", ref: std, cur: std, curNaN: 0.0002, want: OK},
		{name: "missing_spike/30% vs 1%", ref: std, cur: std, curMissing: 0.3, refMissing: 0.01, want: MissingSpike, severity: Critical},
		{name: "missing_spike/near miss 3% vs 1%", ref: std, cur: std, curMissing: 0.03, refMissing: 0.01, want: OK},
		{name: "missing_spike/near miss 1% vs 1%", ref: std, cur: std, curMissing: 0.01, refMissing: 0.01, want: OK},

		{name: "unscaled_input/zscore", ref: scaled(income, z), cur: income, norm: z, want: UnscaledInput, severity: Critical},
		{name: "unscaled_input/minmax", ref: scaled(uniform(20, 80), mm), cur: uniform(20, 80), norm: mm, want: UnscaledInput},
		{name: "unscaled_input/robust", ref: scaled(income, rb), cur: income, norm: rb, want: UnscaledInput},
		{name: "unscaled_input/undeclared standardized", ref: std, cur: normal(40, 10), want: UnscaledInput},
		{name: "unscaled_input/undeclared unit range", ref: uniform(0, 1), cur: uniform(20, 80), want: UnscaledInput},
		{name: "unscaled_input/near miss 0.3σ shift declared", ref: scaled(income, z), cur: affineGen(scaled(income, z), 1, 0.3), norm: z, want: Shift},
		{name: "unscaled_input/near miss 0.3σ shift undeclared", ref: std, cur: normal(0.3, 1), want: Shift},
		{name: "unscaled_input/near miss raw drifted 40%", ref: scaled(income, z), cur: affineGen(income, 1.4, 0), norm: z, want: ScaleChange},

		{name: "double_scaled/zscore", ref: scaled(income, z), cur: scaled(scaled(income, z), z), norm: z, want: DoubleScaled, severity: Critical},
		{name: "double_scaled/minmax", ref: scaled(uniform(20, 80), mm), cur: scaled(scaled(uniform(20, 80), mm), mm), norm: mm, want: DoubleScaled},

		{name: "scale_change/s to ms", ref: lognormal(-2, 0.5), cur: affineGen(lognormal(-2, 0.5), 1000, 0), want: ScaleChange, severity: Critical},
		{name: "scale_change/cents to dollars", ref: lognormal(8, 0.5), cur: affineGen(lognormal(8, 0.5), 0.01, 0), want: ScaleChange, severity: Critical},
		{name: "scale_change/spread 1.6", ref: std, cur: normal(0, 1.6), want: ScaleChange},
		{name: "scale_change/near miss spread 1.03", ref: std, cur: normal(0, 1.03), want: OK},

		{name: "shift/0.3σ", ref: std, cur: normal(0.3, 1), want: Shift, severity: Warning},
		{name: "shift/0.8σ", ref: std, cur: normal(0.8, 1), want: Shift, severity: Critical},
		{name: "shift/near miss 0.05σ", ref: std, cur: normal(0.05, 1), want: OK},

		{name: "scaler_refit/mean moved", ref: scaled(income, z), cur: affineGen(income, zs, -58000/z.Std), norm: z,
			pairRaw: income, slope: zs, intercept: -58000 / z.Std, want: ScalerRefit},
		{name: "scaler_refit/std moved", ref: scaled(income, z), cur: affineGen(income, 1/(1.3*z.Std), -z.Mean/(1.3*z.Std)), norm: z,
			pairRaw: income, slope: 1 / (1.3 * z.Std), intercept: -z.Mean / (1.3 * z.Std), want: ScalerRefit},
		{name: "scaler_refit/near miss declared", ref: scaled(income, z), cur: scaled(income, z), norm: z,
			pairRaw: income, slope: zs, intercept: zt, want: OK},
		{name: "unscaled_input/pair identity", ref: scaled(income, z), cur: income, norm: z,
			pairRaw: income, slope: 1, want: UnscaledInput},
		{name: "double_scaled/pair", ref: scaled(income, z), cur: scaled(scaled(income, z), z), norm: z,
			pairRaw: income, slope: zs * zs, intercept: zs*zt + zt, want: DoubleScaled},

		{name: "range_violation/minmax beyond 1", ref: uniform(0, 1), cur: uniform(0, 1.1), norm: mm, want: RangeViolation, severity: Critical},
		{name: "range_violation/3% outliers", ref: std, cur: mixture(0.03, constant(50), std), want: RangeViolation, severity: Warning},
		{name: "range_violation/near miss 0.1% outliers", ref: std, cur: mixture(0.001, constant(50), std), want: OK},

		{name: "score_compression/0.4", ref: normal(0.5, 0.15), cur: normal(0.52, 0.06), want: ScoreCompression},
		{name: "score_compression/near miss 0.7", ref: normal(0.5, 0.15), cur: normal(0.5, 0.1), want: ScaleChange},
		{name: "score_compression/near miss out of range", ref: normal(0.5, 0.15), cur: normal(0.9, 0.05), want: ScaleChange},

		{name: "distribution_change/mixture weights", ref: bimodal(0.3), cur: bimodal(0.7), want: DistributionChange},
		{name: "distribution_change/normal to lognormal", ref: lognormal(0, 0.1), cur: lognormal(0, 0.8), want: DistributionChange},
		{name: "distribution_change/near miss same mixture", ref: bimodal(0.3), cur: bimodal(0.3), want: OK},
	}
	th := DefaultThresholds()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := CompareFeature(c.feature(t), th)
			js, err := json.Marshal(r)
			require.NoError(t, err)
			require.Equal(t, c.want, r.Diagnosis, "report: %s", js)
			if c.severity != SeverityOK {
				require.Equal(t, c.severity, r.Severity, "report: %s", js)
			}
			alerting := r.Diagnosis != OK && r.Diagnosis != InsufficientData && r.Diagnosis != NoBaseline
			require.Equal(t, alerting, r.Severity > SeverityOK, "report: %s", js)
			require.NotEmpty(t, r.Summary)
			requireConsistentShares(t, r.Summary)
			require.GreaterOrEqual(t, r.Confidence, 0.0)
			require.LessOrEqual(t, r.Confidence, 1.0)
			t.Logf("%s [%s, %.2f]: %s", r.Diagnosis, r.Severity, r.Confidence, r.Summary)
		})
	}
}

// mixture draws from a with probability w, else from b.
func mixture(w float64, a, b gen) gen {
	return func(r *rand.Rand) float64 {
		if r.Float64() < w {
			return a(r)
		}
		return b(r)
	}
}

// embeddingGen draws vectors around a mean direction, then scales each to
// unit norm when normalize(r) says so.
type embeddingGen struct {
	dim       int
	mean      []float64
	spread    float64
	normalize func(r *rand.Rand) bool
	scale     float64 // norm multiplier of unnormalized vectors
}

func direction(dim int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	m := make([]float64, dim)
	for j := range m {
		m[j] = r.NormFloat64()
	}
	return m
}

func always(bool) func(*rand.Rand) bool { return func(*rand.Rand) bool { return true } }

func share(p float64) func(*rand.Rand) bool {
	return func(r *rand.Rand) bool { return r.Float64() < p }
}

func (g embeddingGen) vector(t testing.TB, n int, seed uint64) *sketch.Vector {
	v, err := sketch.NewVector(0, 0)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, g.dim)
	for range n {
		var ss float64
		f := make([]float64, g.dim)
		for j := range f {
			f[j] = g.mean[j%len(g.mean)] + g.spread*r.NormFloat64()
			ss += f[j] * f[j]
		}
		k := g.scale
		if k == 0 {
			k = 1
		}
		if g.normalize(r) {
			k = 1 / math.Sqrt(ss)
		}
		for j := range x {
			x[j] = float32(k * f[j])
		}
		v.Add(x)
	}
	return v
}

func TestDiagnoseEmbedding(t *testing.T) {
	const dim = 64
	mu := direction(dim, 1)
	unit := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: always(true)}
	raw := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0), scale: 1}
	mixed := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0.5), scale: 1}
	fewRaw := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0.995), scale: 1}
	otherModel := embeddingGen{dim: dim, mean: direction(dim, 2), spread: 1, normalize: always(true)}
	turned := embeddingGen{dim: dim, mean: append(mu[:dim/2:dim/2], direction(dim/2, 3)...), spread: 1, normalize: always(true)}
	slightly := embeddingGen{dim: dim, mean: scaleVec(mu, 1.02), spread: 1, normalize: always(true)}
	shorter := embeddingGen{dim: dim / 2, mean: mu, spread: 1, normalize: always(true)}
	cases := []struct {
		name     string
		ref, cur *embeddingGen
		nCur     int
		norm     string
		want     Diagnosis
	}{
		{name: "ok/unit", ref: &unit, cur: &unit, want: OK},
		{name: "ok/unnormalized", ref: &raw, cur: &raw, want: OK},
		{name: "no_baseline", cur: &unit, want: NoBaseline},
		{name: "insufficient_data", ref: &unit, cur: &unit, nCur: 100, want: InsufficientData},
		{name: "embedding_unnormalized", ref: &unit, cur: &raw, want: EmbeddingUnnormalized},
		{name: "embedding_unnormalized/declared l2", ref: &unit, cur: &raw, norm: EmbeddingL2, want: EmbeddingUnnormalized},
		{name: "embedding_mixed_norms/half", ref: &unit, cur: &mixed, want: EmbeddingMixedNorms},
		{name: "embedding_mixed_norms/unnormalized reference", ref: &raw, cur: &mixed, want: EmbeddingMixedNorms},
		{name: "embedding_mixed_norms/near miss 0.5% raw", ref: &unit, cur: &fewRaw, want: OK},
		{name: "embedding_model_change/new direction", ref: &unit, cur: &otherModel, want: EmbeddingModelChange},
		{name: "embedding_model_change/half the dims", ref: &unit, cur: &turned, want: EmbeddingModelChange},
		{name: "embedding_model_change/near miss 2% longer mean", ref: &unit, cur: &slightly, want: OK},
		{name: "embedding_dim_mismatch", ref: &unit, cur: &shorter, want: EmbeddingDimMismatch},
	}
	th := DefaultThresholds()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Embedding{Name: c.name, Norm: c.norm}
			if c.ref != nil {
				e.Ref = c.ref.vector(t, 20000, 1)
			}
			n := c.nCur
			if n == 0 {
				n = 3000
			}
			e.Cur = c.cur.vector(t, n, 2)
			r := CompareEmbedding(e, th)
			js, err := json.Marshal(r)
			require.NoError(t, err)
			require.Equal(t, c.want, r.Diagnosis, "report: %s", js)
			alerting := r.Diagnosis != OK && r.Diagnosis != InsufficientData && r.Diagnosis != NoBaseline
			require.Equal(t, alerting, r.Severity > SeverityOK, "report: %s", js)
			requireConsistentShares(t, r.Summary)
			t.Logf("%s [%s, %.2f]: %s", r.Diagnosis, r.Severity, r.Confidence, r.Summary)
		})
	}
}

func scaleVec(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		out[i] = k * v[i]
	}
	return out
}
