package baseline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

func TestParseScaler(t *testing.T) {
	cases := []struct {
		name     string
		data     string
		wantErr  string
		features map[string]drift.Normalization
		embs     map[string]string
	}{
		{
			name: "own yaml",
			data: "features:\n  income: {kind: zscore, mean: 52100, std: 18300}\n  age: {kind: minmax, min: 18, max: 90}\n" +
				"  clicks: {kind: robust, median: 3, iqr: 4}\n  flag: {kind: none}\nembeddings:\n  query: l2\n  doc: none\n",
			features: map[string]drift.Normalization{
				"income": {Kind: "zscore", Mean: 52100, Std: 18300}, "age": {Kind: "minmax", Min: 18, Max: 90},
				"clicks": {Kind: "robust", Median: 3, IQR: 4}, "flag": {Kind: "none"},
			},
			embs: map[string]string{"query": "l2", "doc": "none"},
		},
		{
			name:     "own json",
			data:     `{"features": {"income": {"kind": "zscore", "mean": 1, "std": 2}}}`,
			features: map[string]drift.Normalization{"income": {Kind: "zscore", Mean: 1, Std: 2}},
		},
		{name: "unknown top key", data: "features: {}\nscalers: {}\n", wantErr: "line 2: scalers: unknown key; a scaler file has features and embeddings"},
		{name: "unknown feature key", data: "features:\n  x: {kind: zscore, mean: 1, std: 2, sd: 3}\n", wantErr: "line 2: features.x.sd: not a parameter of a zscore scaler (it takes mean, std)"},
		{name: "param of another kind", data: "features:\n  x: {kind: zscore, mean: 1, std: 2, min: 0}\n", wantErr: "features.x.min: not a parameter of a zscore scaler"},
		{name: "missing param", data: "features:\n  x: {kind: minmax, min: 1}\n", wantErr: "features.x.max: missing for a minmax scaler (it takes min, max, range, clip)"},
		{name: "bad kind", data: "features:\n  x: {kind: log}\n", wantErr: `features.x.kind: "log": want none, zscore, minmax, robust, scale, center or maxabs`},
		{name: "zero std", data: "features:\n  x: {kind: zscore, mean: 1, std: 0}\n", wantErr: "do not define a scaler"},
		{name: "bad embedding", data: "embeddings:\n  q: cosine\n", wantErr: `embeddings.q: "cosine": want l2 or none, as query: l2 or query: {kind: l2}`},
		{name: "empty", data: "", wantErr: "empty scaler file"},
		{name: "declares nothing", data: "features: {}\n", wantErr: "declares no feature"},
		{
			name:     "sklearn standard",
			data:     `{"mean_": [52100, 40], "scale_": [18300, 12], "var_": [334890000, 144], "n_features_in_": 2, "n_samples_seen_": 1000, "with_mean": true, "with_std": true, "copy": true, "feature_names_in_": ["income", "age"]}`,
			features: map[string]drift.Normalization{"income": {Kind: "zscore", Mean: 52100, Std: 18300}, "age": {Kind: "zscore", Mean: 40, Std: 12}},
		},
		{
			name:     "sklearn minmax",
			data:     `{"data_min_": [18], "data_max_": [90], "data_range_": [72], "min_": [-0.25], "scale_": [0.0138], "feature_range": [0, 1], "feature_names_in_": ["age"]}`,
			features: map[string]drift.Normalization{"age": {Kind: "minmax", Min: 18, Max: 90}},
		},
		{
			name:     "sklearn robust",
			data:     `{"center_": [3], "scale_": [4], "quantile_range": [25, 75], "feature_names_in_": ["clicks"]}`,
			features: map[string]drift.Normalization{"clicks": {Kind: "robust", Median: 3, IQR: 4}},
		},
		{
			name:     "sklearn list",
			data:     `[{"center_": [3], "scale_": [4], "feature_names_in_": ["clicks"]}, {"mean_": [1], "scale_": [2], "feature_names_in_": ["x"]}]`,
			features: map[string]drift.Normalization{"clicks": {Kind: "robust", Median: 3, IQR: 4}, "x": {Kind: "zscore", Mean: 1, Std: 2}},
		},
		{name: "sklearn unknown key", data: `{"mean_": [1], "scale_": [2], "feature_names_in_": ["x"], "bogus_": 1}`, wantErr: "bogus_: unknown key for a StandardScaler"},
		{name: "sklearn no names", data: `{"mean_": [1], "scale_": [2]}`, wantErr: "feature_names_in_: missing"},
		{name: "sklearn length mismatch", data: `{"mean_": [1, 2], "scale_": [2], "feature_names_in_": ["x", "y"]}`, wantErr: "scale_: 1 values for 2 feature names"},
		{
			name:     "sklearn feature range and clip",
			data:     `{"data_min_": [0], "data_max_": [10], "feature_range": [-1, 1], "clip": true, "feature_names_in_": ["x"]}`,
			features: map[string]drift.Normalization{"x": {Kind: "minmax", Min: 0, Max: 10, Range: [2]float64{-1, 1}, Clip: true}},
		},
		{name: "sklearn other class", data: `{"type": "Normalizer", "norm": "l2", "feature_names_in_": ["x"]}`, wantErr: `type "Normalizer": want StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler`},
		{
			name:     "sklearn vars() with private state",
			data:     `{"with_mean": false, "with_std": true, "copy": true, "_sklearn_output_config": {"transform": "pandas"}, "feature_names_in_": ["x"], "n_features_in_": 1, "n_samples_seen_": 10, "mean_": null, "var_": [4], "scale_": [2]}`,
			features: map[string]drift.Normalization{"x": {Kind: "scale", Scale: 2}},
		},
		{
			name:     "sklearn standard without std",
			data:     `{"with_mean": true, "with_std": false, "mean_": [5], "scale_": null, "feature_names_in_": ["x"]}`,
			features: map[string]drift.Normalization{"x": {Kind: "center", Center: 5}},
		},
		{
			name:     "sklearn robust without centering",
			data:     `{"center_": null, "scale_": [4], "with_centering": false, "feature_names_in_": ["x"]}`,
			features: map[string]drift.Normalization{"x": {Kind: "scale", Scale: 4}},
		},
		{
			name:     "sklearn maxabs",
			data:     `{"type": "MaxAbsScaler", "max_abs_": [-7, 0], "scale_": [7, 1], "feature_names_in_": ["x", "zero"]}`,
			features: map[string]drift.Normalization{"x": {Kind: "maxabs", MaxAbs: 7}, "zero": {Kind: "maxabs", MaxAbs: 1}},
		},
		{
			name: "own kinds",
			data: "features:\n  a: {kind: scale, scale: 2}\n  b: {kind: center, center: -1}\n  c: {kind: maxabs, max_abs: 9}\n" +
				"  d: {kind: minmax, min: 0, max: 4, range: [-1, 1], clip: true}\n  e: {kind: minmax, min: 0, max: 4, range: [0, 1]}\n" +
				"  f: {kind: robust, median: 1, iqr: 2, quantile_range: [10, 90], unit_variance: true}\n  g: none\n",
			features: map[string]drift.Normalization{
				"a": {Kind: "scale", Scale: 2}, "b": {Kind: "center", Center: -1}, "c": {Kind: "maxabs", MaxAbs: 9},
				"d": {Kind: "minmax", Max: 4, Range: [2]float64{-1, 1}, Clip: true}, "e": {Kind: "minmax", Max: 4},
				"f": {Kind: "robust", Median: 1, IQR: 2, QuantileRange: [2]float64{10, 90}, UnitVariance: true}, "g": {Kind: "none"},
			},
		},
		{
			name: "embedding forms", data: "embeddings:\n  query: l2\n  doc: {kind: l2}\n  raw: {kind: none}\n",
			features: map[string]drift.Normalization{}, embs: map[string]string{"query": "l2", "doc": "l2", "raw": "none"},
		},
		{name: "embedding mapping without kind", data: "embeddings:\n  q: {norm: l2}\n", wantErr: "line 2: embeddings.q.norm: unknown key; an embedding takes only kind (l2 or none, as query: l2 or query: {kind: l2})"},
		{name: "embedding bad kind in mapping", data: "embeddings:\n  q: {kind: cosine}\n", wantErr: `embeddings.q.kind: "cosine": want l2 or none`},
		{name: "embedding list", data: "embeddings:\n  q: [l2]\n", wantErr: "embeddings.q: want l2 or none, as query: l2 or query: {kind: l2}, not a list"},
		{name: "feature as a string", data: "features:\n  x: zscore\n", wantErr: `line 2: features.x: want a mapping such as {kind: zscore, mean: 52100, std: 18300}; kinds: none, zscore, minmax, robust, scale, center or maxabs, not the string "zscore"`},
		{name: "features a list", data: "features: [x]\n", wantErr: "features: want a mapping of feature names to their scalers, not a list"},
		{name: "range not a pair", data: "features:\n  x: {kind: minmax, min: 0, max: 1, range: 2}\n", wantErr: "features.x.range: 2: want a list of two numbers, such as [-1, 1]"},
		{name: "clip not a bool", data: "features:\n  x: {kind: minmax, min: 0, max: 1, clip: yes please}\n", wantErr: `features.x.clip: the string "yes please": want true or false`},
		{name: "mean a string", data: "features:\n  x: {kind: zscore, mean: \"1\", std: 2}\n", wantErr: `features.x.mean: the string "1": want a number`},
		{name: "kind missing", data: "features:\n  x: {mean: 1, std: 2}\n", wantErr: "features.x.kind: missing: want none, zscore"},
		{name: "range upside down", data: "features:\n  x: {kind: minmax, min: 0, max: 1, range: [1, 0]}\n", wantErr: "features.x: range: [1, 0]: want a finite [lo, hi] with lo < hi"},
		{name: "pickle", data: "\x80\x04\x95\x10\x00\x00\x00", wantErr: "a Python pickle or joblib file, which normwatch does not load (unpickling runs code): export the fitted scaler or pipeline with normwatch.export_scalers(obj, \"scaler.json\")"},
		{name: "compressed joblib", data: "\x78\x9c\x6b\x60", wantErr: "a Python pickle or joblib file"},
		{name: "other binary", data: "\xff\xfe\x00\x01garbage", wantErr: "not a text file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseScaler([]byte(c.data), "scaler.yml")
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				require.ErrorContains(t, err, "scaler.yml: ")
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.features, s.Features)
			if c.embs == nil {
				c.embs = map[string]string{}
			}
			require.Equal(t, c.embs, s.Embeddings)
		})
	}
}

// TestSklearnUnitVariance: scikit-learn's RobustScaler(unit_variance=True)
// divides by scale_, the quantile range's width over its width in a
// standard normal (2·Φ⁻¹(0.9) for 10–90); the file keeps the width, and
// the declared transform divides by scale_ again.
func TestSklearnUnitVariance(t *testing.T) {
	s, err := ParseScaler([]byte(`{"center_": [3], "scale_": [1.5], "quantile_range": [10, 90], "unit_variance": true, "feature_names_in_": ["x"]}`), "s.json")
	require.NoError(t, err)
	n := s.Features["x"]
	require.Equal(t, [2]float64{10, 90}, n.QuantileRange)
	require.True(t, n.UnitVariance)
	require.InDelta(t, 1.5*2.5631031310892007, n.IQR, 1e-12)
	require.InDelta(t, (7-3)/1.5, n.Apply(7), 1e-12)
}

func TestScalerApplyUnknownFeature(t *testing.T) {
	b := smallBaseline(t, "ranker", "v4", 0, 1)
	s, err := ParseScaler([]byte("features:\n  incme: {kind: zscore, mean: 1, std: 2}\n"), "scaler.yml")
	require.NoError(t, err)
	require.ErrorContains(t, s.Apply(b), `scaler.yml: feature "incme" is not among the baseline's features (x)`)
}
