package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/drift"
)

// The README's example of drift.overrides, as the daemon applies it.
func TestOverridesFromConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	require.NoError(t, os.WriteFile(path, []byte(`
window:
  min_samples: 300
drift:
  overrides:
    - feature: "debug_*"
      mute: true
    - model: ranker
      model_version: "v4*"
      feature: session_seconds
      thresholds:
        ks: {warning: 0.2, critical: 0.35}
        missing: {warning: 0.1, critical: 0.3}
    - model: ranker
      feature: "session_*"
      thresholds:
        ks: {warning: 0.25, critical: 0.4}
    - embedding: query
      thresholds:
        non_unit: {warning: 0.05, critical: 0.2}
        min_samples: 500
`), 0o600))
	cfg, err := config.Load(path, nil)
	require.NoError(t, err)
	def := drift.DefaultThresholds()
	def.MinSamples = uint64(cfg.Window.MinSamples)
	p := drift.Policy{Default: def, Overrides: driftOverrides(cfg.Drift.Overrides)}
	require.NoError(t, p.Validate())

	tests := []struct {
		name                 string
		model, version, kind string
		subject              string
		muted                bool
		edit                 func(*drift.Thresholds)
	}{
		{name: "no override", model: "ranker", version: "v3", kind: drift.KindFeature, subject: "income"},
		{name: "muted by glob", model: "search", version: "v1", kind: drift.KindFeature, subject: "debug_latency", muted: true},
		{name: "a glob for features leaves embeddings", model: "search", version: "v1", kind: drift.KindEmbedding, subject: "debug_vec"},
		{name: "version glob, then a later override wins", model: "ranker", version: "v4.1", kind: drift.KindFeature, subject: "session_seconds",
			edit: func(th *drift.Thresholds) {
				th.KS = drift.Level{Warning: 0.25, Critical: 0.4}
				th.Missing = drift.Level{Warning: 0.1, Critical: 0.3}
			}},
		{name: "version glob misses", model: "ranker", version: "v3", kind: drift.KindFeature, subject: "session_seconds",
			edit: func(th *drift.Thresholds) { th.KS = drift.Level{Warning: 0.25, Critical: 0.4} }},
		{name: "model glob misses", model: "ranker-shadow", version: "v4", kind: drift.KindFeature, subject: "session_seconds"},
		{name: "embedding", model: "any", version: "v9", kind: drift.KindEmbedding, subject: "query",
			edit: func(th *drift.Thresholds) {
				th.NonUnit = drift.Level{Warning: 0.05, Critical: 0.2}
				th.MinSamples = 500
			}},
		{name: "a feature named like the embedding", model: "any", version: "v9", kind: drift.KindFeature, subject: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := def
			if tt.edit != nil {
				tt.edit(&want)
			}
			th, muted := p.For(tt.model, tt.version, tt.kind, tt.subject)
			require.Equal(t, tt.muted, muted)
			require.Equal(t, want, th)
		})
	}
}

// thresholdField returns the field of drift.Thresholds (by its JSON name)
// and of config.Thresholds (by its key) that name the same threshold.
func thresholdFields(t *testing.T) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	dt, ct := reflect.TypeOf(drift.Thresholds{}), reflect.TypeOf(config.Thresholds{})
	for i := range ct.NumField() {
		name := ct.Field(i).Tag.Get("mapstructure")
		found := false
		for j := range dt.NumField() {
			if dt.Field(j).Tag.Get("json") == name {
				out[name] = [2]int{i, j}
				found = true
			}
		}
		require.True(t, found, "config threshold %s is not a drift threshold", name)
	}
	require.Equal(t, dt.NumField(), len(out), "every drift threshold can be set in the configuration")
	return out
}

// setThreshold sets the config threshold field i: a number to v, a level
// to (w, c).
func setThreshold(th *config.Thresholds, i int, v, w, c float64) {
	f := reflect.ValueOf(th).Elem().Field(i)
	switch f.Type().Elem().Kind() {
	case reflect.Int:
		n := int(v)
		f.Set(reflect.ValueOf(&n))
	case reflect.Float64:
		f.Set(reflect.ValueOf(&v))
	case reflect.Struct:
		f.Set(reflect.ValueOf(&config.Level{Warning: &w, Critical: &c}))
	}
}

// Every threshold of the configuration reaches the same threshold of the
// drift package, and no other.
func TestEveryThresholdReachesDrift(t *testing.T) {
	for name, ij := range thresholdFields(t) {
		t.Run(name, func(t *testing.T) {
			var c config.Thresholds
			setThreshold(&c, ij[0], 7, 0.011, 0.013)
			th := drift.DefaultThresholds()
			applyThresholds(c, &th)
			got, def := reflect.ValueOf(th), reflect.ValueOf(drift.DefaultThresholds())
			for j := range got.NumField() {
				if j == ij[1] {
					continue
				}
				require.Equal(t, def.Field(j).Interface(), got.Field(j).Interface(), "%s changed %s", name, got.Type().Field(j).Name)
			}
			switch f := got.Field(ij[1]).Interface().(type) {
			case uint64:
				require.Equal(t, uint64(7), f)
			case float64:
				require.Equal(t, 7.0, f)
			case drift.Level:
				require.Equal(t, drift.Level{Warning: 0.011, Critical: 0.013}, f)
			default:
				t.Fatalf("%s: a %T", name, f)
			}
		})
	}
}

// The configuration accepts an override's threshold exactly when the
// drift package does (its Policy.Validate, as engine.New runs it), so a
// file that loads starts the daemon, and a file that would not is refused
// with the key's name. (min_samples is tried up to the configuration's cap,
// 2³⁰ as for window.min_samples; drift has none.)
func TestOverrideValidationAgrees(t *testing.T) {
	values := []float64{math.Inf(-1), -1, 0, 1e-9, 0.05, 0.5, 0.999, 1, 1.5, 2, 2.5, 1e300, math.MaxFloat64, math.Inf(1), math.NaN()}
	counts := []float64{-5, 0, 1, 2, 3, 200, 1 << 30}
	kinds := reflect.TypeOf(config.Thresholds{})
	for name, ij := range thresholdFields(t) {
		t.Run(name, func(t *testing.T) {
			o := config.Override{}
			switch name {
			case "unit_norm_ratio", "non_unit", "mixed_floor", "norm_shift", "cosine", "dims_moved", "dim_shift", "dim_mismatch",
				"frozen_recall_drop", "min_frozen_queries":
				o.Embedding = "query"
			case "min_samples", "alpha", "missing", "nonfinite":
			default:
				o.Feature = "income"
			}
			check := func(v, w, c float64) {
				t.Helper()
				o.Thresholds = config.Thresholds{}
				setThreshold(&o.Thresholds, ij[0], v, w, c)
				cfg := config.Default()
				cfg.Drift.Overrides = []config.Override{o}
				cerr := cfg.Validate()
				derr := drift.Policy{Default: drift.DefaultThresholds(), Overrides: driftOverrides(cfg.Drift.Overrides)}.Validate()
				require.Equal(t, derr == nil, cerr == nil, "value %v, level (%v, %v): config says %v, drift says %v", v, w, c, cerr, derr)
			}
			switch kinds.Field(ij[0]).Type.Elem().Kind() {
			case reflect.Int:
				for _, v := range counts {
					check(v, 0, 0)
				}
			case reflect.Float64:
				for _, v := range values {
					check(v, 0, 0)
				}
			default:
				for _, w := range values {
					for _, c := range values {
						check(0, w, c)
					}
				}
			}
		})
	}
}

// The README's table of thresholds names every one with its default and
// what it applies to, as the drift package and the configuration have them.
func TestReadmeThresholds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(b), "| threshold | default | applies to | what it is |")
	require.True(t, ok, "the README has the table of thresholds")
	rows := map[string][]string{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(line, " | ")
		rows[strings.Trim(cells[0], "| `")] = cells[1:]
	}
	def := reflect.ValueOf(drift.DefaultThresholds())
	fields := thresholdFields(t)
	require.Len(t, rows, len(fields))
	for name, ij := range fields {
		row, ok := rows[name]
		require.True(t, ok, "the README lacks %s", name)
		var want string
		switch v := def.Field(ij[1]).Interface().(type) {
		case drift.Level:
			want = fmt.Sprint(v.Warning) + ", " + fmt.Sprint(v.Critical)
		default:
			want = fmt.Sprint(v)
		}
		require.Equal(t, want, row[0], "default of %s", name)

		// What it applies to: the configuration refuses it on an override
		// of the other kind of subject.
		accepts := func(o config.Override) bool {
			v := 0.5
			if name == "min_samples" || name == "min_frozen_queries" {
				v = 300
			}
			setThreshold(&o.Thresholds, ij[0], v, 0.2, 0.3)
			c := config.Default()
			c.Drift.Overrides = []config.Override{o}
			return c.Validate() == nil
		}
		onFeatures, onEmbeddings := accepts(config.Override{Feature: "f"}), accepts(config.Override{Embedding: "e"})
		applies := map[[2]bool]string{{true, true}: "both", {true, false}: "features", {false, true}: "embeddings"}[[2]bool{onFeatures, onEmbeddings}]
		require.Equal(t, applies, row[1], "what %s applies to", name)
	}
}
