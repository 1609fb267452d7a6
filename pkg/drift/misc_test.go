package drift

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

func TestThresholdsValidate(t *testing.T) {
	require.NoError(t, DefaultThresholds().Validate())
	cases := []struct {
		name   string
		modify func(*Thresholds)
		want   string
	}{
		{name: "min samples", modify: func(t *Thresholds) { t.MinSamples = 1 }, want: "min_samples"},
		{name: "alpha zero", modify: func(t *Thresholds) { t.Alpha = 0 }, want: "alpha"},
		{name: "fit r2 one", modify: func(t *Thresholds) { t.FitR2 = 1 }, want: "fit_r2"},
		{name: "ks critical below warning", modify: func(t *Thresholds) { t.KS.Critical = 0.05 }, want: "ks.critical"},
		{name: "ks warning above 1", modify: func(t *Thresholds) { t.KS = Level{2, 3} }, want: "ks.warning"},
		{name: "psi warning zero", modify: func(t *Thresholds) { t.PSI.Warning = 0 }, want: "psi.warning"},
		{name: "dim shift", modify: func(t *Thresholds) { t.DimShift = -1 }, want: "dim_shift"},
		{name: "compression", modify: func(t *Thresholds) { t.Compression = 1.5 }, want: "compression"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			th := DefaultThresholds()
			c.modify(&th)
			err := th.Validate()
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), c.want+":"), "error %q should name %s", err, c.want)
		})
	}
}

func TestNormalizationValidate(t *testing.T) {
	cases := []struct {
		name string
		norm Normalization
		ok   bool
	}{
		{name: "none", norm: Normalization{Kind: ScalerNone}, ok: true},
		{name: "empty", ok: true},
		{name: "zscore", norm: Normalization{Kind: ScalerZScore, Mean: 3, Std: 2}, ok: true},
		{name: "zscore zero std", norm: Normalization{Kind: ScalerZScore, Mean: 3}},
		{name: "minmax inverted", norm: Normalization{Kind: ScalerMinMax, Min: 3, Max: 1}},
		{name: "robust", norm: Normalization{Kind: ScalerRobust, Median: 1, IQR: 0.5}, ok: true},
		{name: "unknown", norm: Normalization{Kind: "log"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ok {
				require.NoError(t, c.norm.Validate())
			} else {
				require.Error(t, c.norm.Validate())
			}
		})
	}
}

func TestNum(t *testing.T) {
	cases := []struct {
		name string
		x    float64
		want string
	}{
		{name: "zero", x: 0, want: "0"},
		{name: "thousands", x: 18312.4, want: "18300"},
		{name: "tens of thousands", x: 52149, want: "52100"},
		{name: "fraction", x: 0.99912, want: "0.999"},
		{name: "small", x: 0.0012345, want: "0.00123"},
		{name: "tiny", x: 5.46e-5, want: "5.46e-5"},
		{name: "huge", x: 3.2e12, want: "3.2e12"},
		{name: "negative", x: -2.8469, want: "-2.85"},
		{name: "integer", x: 1000, want: "1000"},
		{name: "rounds to zero", x: -0.0000001, want: "-1e-7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, num(c.x))
		})
	}
	require.Equal(t, "0.999", r2s(0.99996))
	require.Equal(t, "income on ranker v4", Subject("income", "ranker", "v4"))
	require.Equal(t, "income: x.", Sentence(Subject("income", "", ""), "x."))
}

func TestDistancesOfEmpty(t *testing.T) {
	var empty sketch.Distribution
	full := distOf(t, numericOf(t, []float64{1, 2, 3}))
	for name, f := range map[string]func(a, b sketch.Distribution) (float64, error){
		"ks": KS, "w1": W1, "psi": PSI, "js": JS,
	} {
		_, err := f(empty, full)
		require.ErrorIs(t, err, ErrEmptyDistribution, name)
		require.Contains(t, err.Error(), "reference", name)
		_, err = f(full, empty)
		require.ErrorIs(t, err, ErrEmptyDistribution, name)
	}
}

func TestDistancesOfIdentical(t *testing.T) {
	d := distOf(t, numericOf(t, draw(normal(0, 1), 10_000, 1)))
	for name, f := range map[string]func(a, b sketch.Distribution) (float64, error){
		"ks": KS, "w1": W1, "psi": PSI, "js": JS,
	} {
		v, err := f(d, d)
		require.NoError(t, err)
		require.InDelta(t, 0, v, 1e-12, name)
	}
	// Disjoint supports: KS and JS at their maximum of 1.
	a := distOf(t, numericOf(t, []float64{1, 2, 3}))
	b := distOf(t, numericOf(t, []float64{10, 11, 12}))
	ks, _ := KS(a, b)
	require.Equal(t, 1.0, ks)
	w, _ := W1(a, b)
	require.InDelta(t, 9, w, 1e-12)
}

func TestCompareSet(t *testing.T) {
	ref := Set{
		Features: map[string]FeatureSketch{
			"b":        {Sketch: numericOf(t, draw(normal(0, 1), 5000, 1))},
			"a":        {Sketch: numericOf(t, draw(normal(0, 1), 5000, 2))},
			"only-ref": {Sketch: numericOf(t, draw(normal(0, 1), 5000, 3))},
		},
	}
	cur := Set{
		Features: map[string]FeatureSketch{
			"a":        {Sketch: numericOf(t, draw(normal(0, 1), 5000, 4))},
			"b":        {Sketch: numericOf(t, draw(normal(2, 1), 5000, 5))},
			"only-cur": {Sketch: numericOf(t, draw(normal(0, 1), 5000, 6))},
		},
	}
	rep := Compare(ref, cur, DefaultThresholds())
	var names []string
	got := map[string]Diagnosis{}
	for _, f := range rep.Features {
		names = append(names, f.Name)
		got[f.Name] = f.Diagnosis
	}
	require.Equal(t, []string{"a", "b", "only-cur", "only-ref"}, names)
	require.Equal(t, map[string]Diagnosis{"a": OK, "b": Shift, "only-cur": NoBaseline, "only-ref": InsufficientData}, got)
	require.Equal(t, Critical, rep.Severity())
	_, err := json.Marshal(rep)
	require.NoError(t, err)
}
