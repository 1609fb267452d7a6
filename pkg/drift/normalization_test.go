package drift

import (
	"math"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// The scalers of scikit-learn that are not a z-score around a mean, each
// written as the affine map it is, so that the tests below check params
// against an independent statement of every kind's transform.
var kindCases = []struct {
	name string
	norm Normalization
	// want maps a raw value as the scaler does, written out apart from
	// params: scikit-learn's formulas.
	want func(x float64) float64
}{
	{"zscore", Normalization{Kind: ScalerZScore, Mean: 52000, Std: 18000},
		func(x float64) float64 { return (x - 52000) / 18000 }},
	{"scale only (with_mean=False)", Normalization{Kind: ScalerScale, Scale: 18000},
		func(x float64) float64 { return x / 18000 }},
	{"center only (with_std=False)", Normalization{Kind: ScalerCenter, Center: 52000},
		func(x float64) float64 { return x - 52000 }},
	{"maxabs", Normalization{Kind: ScalerMaxAbs, MaxAbs: 150000},
		func(x float64) float64 { return x / 150000 }},
	{"minmax [0, 1]", Normalization{Kind: ScalerMinMax, Min: 10000, Max: 150000},
		func(x float64) float64 { return (x - 10000) / 140000 }},
	{"minmax onto [-1, 1]", Normalization{Kind: ScalerMinMax, Min: 10000, Max: 150000, Range: [2]float64{-1, 1}},
		func(x float64) float64 { return (x-10000)/140000*2 - 1 }},
	{"minmax onto [5, 7]", Normalization{Kind: ScalerMinMax, Min: 10000, Max: 150000, Range: [2]float64{5, 7}},
		func(x float64) float64 { return (x-10000)/140000*2 + 5 }},
	{"robust", Normalization{Kind: ScalerRobust, Median: 50000, IQR: 17000},
		func(x float64) float64 { return (x - 50000) / 17000 }},
	{"robust p10-p90 with unit variance", Normalization{Kind: ScalerRobust, Median: 50000, IQR: 40000, QuantileRange: [2]float64{10, 90}, UnitVariance: true},
		// 2·Φ⁻¹(0.9) = 2.5631031310892007.
		func(x float64) float64 { return (x - 50000) / (40000 / 2.5631031310892007) }},
}

func TestNormalizationApply(t *testing.T) {
	for _, c := range kindCases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.norm.Validate())
			for _, x := range []float64{-3e4, 0, 10000, 52000, 150000, 2e5} {
				require.InDelta(t, c.want(x), c.norm.Apply(x), 1e-12*math.Max(1, math.Abs(c.want(x))), "raw %v", x)
			}
		})
	}
	clip := Normalization{Kind: ScalerMinMax, Min: 10, Max: 20, Range: [2]float64{-1, 1}, Clip: true}
	require.Equal(t, -1.0, clip.Apply(0))
	require.Equal(t, 1.0, clip.Apply(100))
	require.Equal(t, 0.0, clip.Apply(15))
}

func TestNormalizationKindErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		n    Normalization
		err  string
	}{
		{"unknown kind", Normalization{Kind: "l2"}, `normalization kind "l2": want none, zscore, minmax, robust, scale, center or maxabs`},
		{"a mean for scale", Normalization{Kind: ScalerScale, Scale: 2, Mean: 1}, "mean: not a parameter of a scale normalization (it takes scale)"},
		{"no scale", Normalization{Kind: ScalerScale}, "do not define a scaler"},
		{"range upside down", Normalization{Kind: ScalerMinMax, Min: 1, Max: 2, Range: [2]float64{1, -1}}, "range: [1, -1]: want a finite [lo, hi] with lo < hi"},
		{"quantiles", Normalization{Kind: ScalerRobust, Median: 1, IQR: 2, QuantileRange: [2]float64{80, 20}}, "quantile_range: [80, 20]"},
		{"unit variance at 0", Normalization{Kind: ScalerRobust, Median: 1, IQR: 2, QuantileRange: [2]float64{0, 100}, UnitVariance: true}, "unit_variance needs percentiles strictly inside"},
		{"parameters on none", Normalization{Kind: ScalerNone, Std: 3}, "std: not a parameter of a none normalization"},
		{"clip on zscore", Normalization{Kind: ScalerZScore, Mean: 1, Std: 2, Clip: true}, "clip: not a parameter of a zscore normalization (it takes mean and std)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.n.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), c.err)
		})
	}
}

// TestKindsDiagnosis trains each kind on raw income data, then serves it
// right, skipped, applied twice and (with pairs) skipped: the diagnosis
// must use the kind's own transform, so a scale-only scaler skipped is
// unscaled_input, not a shift by a mean it never subtracted.
func TestKindsDiagnosis(t *testing.T) {
	raw := affineGen(lognormal(0, 0.35), 50000, 10000)
	for _, c := range kindCases {
		for _, serve := range []struct {
			name string
			f    func(x float64) float64
			pair bool
			want Diagnosis
		}{
			{"as trained", c.norm.Apply, false, OK},
			{"as trained, pairs", c.norm.Apply, true, OK},
			{"skipped", func(x float64) float64 { return x }, false, UnscaledInput},
			{"skipped, pairs", func(x float64) float64 { return x }, true, UnscaledInput},
			{"twice", func(x float64) float64 { return c.norm.Apply(c.norm.Apply(x)) }, false, DoubleScaled},
		} {
			t.Run(c.name+"/"+serve.name, func(t *testing.T) {
				ref := sketch.NewNumeric()
				for _, x := range draw(raw, 20000, 1) {
					ref.Add(c.norm.Apply(x))
				}
				cur := sketch.NewNumeric()
				var pair *sketch.Pair
				if serve.pair {
					pair = new(sketch.Pair)
				}
				for _, x := range draw(raw, 5000, 2) {
					y := serve.f(x)
					cur.Add(y)
					if pair != nil {
						pair.Add(x, y)
					}
				}
				r := CompareFeature(Feature{Name: "income", Ref: ref, Cur: cur, Norm: c.norm, Pair: pair}, DefaultThresholds())
				require.Equal(t, serve.want, r.Diagnosis, r.Summary)
				if serve.want != OK {
					require.Contains(t, r.Summary, c.norm.describe())
				}
			})
		}
	}
}

// TestBoundedRange: values past the training range of a min-max scaler
// onto another range, or of a max-abs scaler, are a range_violation; a
// clipping min-max scaler piles them on its bounds, which counts the same.
func TestBoundedRange(t *testing.T) {
	raw := uniform(10, 20)
	for _, c := range []struct {
		name string
		norm Normalization
	}{
		{"minmax onto [-1, 1]", Normalization{Kind: ScalerMinMax, Min: 10, Max: 20, Range: [2]float64{-1, 1}}},
		{"minmax clipped", Normalization{Kind: ScalerMinMax, Min: 10, Max: 20, Range: [2]float64{-1, 1}, Clip: true}},
		{"minmax [0, 1] clipped", Normalization{Kind: ScalerMinMax, Min: 10, Max: 20, Clip: true}},
		{"maxabs", Normalization{Kind: ScalerMaxAbs, MaxAbs: 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := sketch.NewNumeric()
			for _, x := range draw(raw, 20000, 1) {
				ref.Add(c.norm.Apply(x))
			}
			// 15% of production lies above the training max.
			cur := sketch.NewNumeric()
			past := 0
			for i, x := range draw(raw, 5000, 2) {
				if i%20 < 3 {
					x = 20 + (x-10)/2
					past++
				}
				cur.Add(c.norm.Apply(x))
			}
			r := CompareFeature(Feature{Name: "age", Ref: ref, Cur: cur, Norm: c.norm}, DefaultThresholds())
			require.Equal(t, RangeViolation, r.Diagnosis, r.Summary)
			require.InDelta(t, float64(past)/5000, r.Share, 0.01, r.Summary)
			require.Contains(t, r.Summary, c.norm.describe())
		})
	}
}

// TestSkippedJudgedAtTheMean: a skipped scaler whose raw values also
// spread 4% wider is still a skipped scaler, whatever the kind puts at
// zero: the fit is compared with the signature at the reference mean. At
// zero, the middle of a [−1, 1] min-max scaler, the 4% would open a gap
// of half the range and the skip would go unnamed.
func TestSkippedJudgedAtTheMean(t *testing.T) {
	raw := affineGen(lognormal(0, 0.5), 3, 0.03) // skewed, min near 0, max far
	xs := draw(raw, 20000, 1)
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	for _, n := range []Normalization{
		{Kind: ScalerMinMax, Min: lo, Max: hi},
		{Kind: ScalerMinMax, Min: lo, Max: hi, Range: [2]float64{-1, 1}},
		{Kind: ScalerMinMax, Min: lo, Max: hi, Range: [2]float64{5, 6}},
	} {
		t.Run(n.describe(), func(t *testing.T) {
			ref, cur := sketch.NewNumeric(), sketch.NewNumeric()
			for _, x := range xs {
				ref.Add(n.Apply(x))
			}
			for _, x := range draw(raw, 5000, 2) {
				cur.Add(1.04 * x)
			}
			r := CompareFeature(Feature{Name: "tenure", Ref: ref, Cur: cur, Norm: n}, DefaultThresholds())
			require.Equal(t, UnscaledInput, r.Diagnosis, r.Summary)
		})
	}
}
