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
		{name: "unknown top key", data: "features: {}\nscalers: {}\n", wantErr: "field scalers not found"},
		{name: "unknown feature key", data: "features:\n  x: {kind: zscore, mean: 1, std: 2, sd: 3}\n", wantErr: "line 2: field sd not found"},
		{name: "param of another kind", data: "features:\n  x: {kind: zscore, mean: 1, std: 2, min: 0}\n", wantErr: "features.x: min: not a parameter of a zscore scaler"},
		{name: "missing param", data: "features:\n  x: {kind: minmax, min: 1}\n", wantErr: "features.x: max: missing"},
		{name: "bad kind", data: "features:\n  x: {kind: log}\n", wantErr: `kind: "log"`},
		{name: "zero std", data: "features:\n  x: {kind: zscore, mean: 1, std: 0}\n", wantErr: "do not define a scaler"},
		{name: "bad embedding", data: "embeddings:\n  q: cosine\n", wantErr: `embeddings.q: "cosine": want l2 or none`},
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
		{name: "sklearn feature range", data: `{"data_min_": [0], "data_max_": [1], "feature_range": [-1, 1], "feature_names_in_": ["x"]}`, wantErr: "only (0, 1) is supported"},
		{name: "sklearn other class", data: `{"type": "MaxAbsScaler", "max_abs_": [1], "feature_names_in_": ["x"]}`, wantErr: `type "MaxAbsScaler"`},
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

func TestScalerApplyUnknownFeature(t *testing.T) {
	b := smallBaseline(t, "ranker", "v4", 0, 1)
	s, err := ParseScaler([]byte("features:\n  incme: {kind: zscore, mean: 1, std: 2}\n"), "scaler.yml")
	require.NoError(t, err)
	require.ErrorContains(t, s.Apply(b), `scaler.yml: feature "incme" is not among the baseline's features (x)`)
}
