package config

import (
	"fmt"
	"math"
	"path"
)

// Drift is how features and embeddings are judged, beyond the thresholds
// normwatch ships with.
type Drift struct {
	// Overrides change the thresholds of the subjects they match, or mute
	// them, in order: every override that matches a subject applies, a
	// later one over an earlier one, and any matching override that mutes
	// mutes it. A list of objects, so it is set in the file only.
	Overrides []Override `mapstructure:"overrides"`
}

// Override changes the thresholds of the features or embeddings it
// matches, or mutes them. Model, ModelVersion, Feature and Embedding are
// globs in the syntax of Go's path.Match (*, ?, [a-z], \ to escape; * does
// not cross a /); an empty one matches anything. With Feature set the
// override applies to features only, with Embedding to embeddings only,
// with neither to both.
type Override struct {
	Model        string `mapstructure:"model"`
	ModelVersion string `mapstructure:"model_version"`
	Feature      string `mapstructure:"feature"`
	Embedding    string `mapstructure:"embedding"`
	// Mute keeps the subjects judged, named and in the metrics, with
	// status ok, so they never alert.
	Mute       bool       `mapstructure:"mute"`
	Thresholds Thresholds `mapstructure:"thresholds"`
}

// Thresholds are the drift thresholds an override sets; nil leaves the
// one it would otherwise have. The names are those of the drift
// package's Thresholds, whose comments say what each one does.
type Thresholds struct {
	MinSamples      *int     `mapstructure:"min_samples"`
	Alpha           *float64 `mapstructure:"alpha"`
	KS              *Level   `mapstructure:"ks"`
	PSI             *Level   `mapstructure:"psi"`
	MeanShift       *Level   `mapstructure:"mean_shift"`
	FitR2           *float64 `mapstructure:"fit_r2"`
	ScalerTolerance *float64 `mapstructure:"scaler_tolerance"`
	ScaleTolerance  *float64 `mapstructure:"scale_tolerance"`
	UnitTolerance   *float64 `mapstructure:"unit_tolerance"`
	OutOfRange      *Level   `mapstructure:"out_of_range"`
	RangeTolerance  *float64 `mapstructure:"range_tolerance"`
	Compression     *float64 `mapstructure:"compression"`
	Missing         *Level   `mapstructure:"missing"`
	NonFinite       *Level   `mapstructure:"nonfinite"`
	Refit           *Level   `mapstructure:"refit"`
	UnitNormRatio   *float64 `mapstructure:"unit_norm_ratio"`
	NonUnit         *Level   `mapstructure:"non_unit"`
	MixedFloor      *float64 `mapstructure:"mixed_floor"`
	NormShift       *Level   `mapstructure:"norm_shift"`
	Cosine          *Level   `mapstructure:"cosine"`
	DimsMoved       *Level   `mapstructure:"dims_moved"`
	DimShift        *float64 `mapstructure:"dim_shift"`
	DimMismatch     *Level   `mapstructure:"dim_mismatch"`
	// FrozenRecallDrop and MinFrozenQueries judge retrieval_regression.
	FrozenRecallDrop *Level `mapstructure:"frozen_recall_drop"`
	MinFrozenQueries *int   `mapstructure:"min_frozen_queries"`
}

// Level is a warning and a critical threshold of one statistic. An
// override gives both: one alone against the other's default is too easy
// to get out of order.
type Level struct {
	Warning  *float64 `mapstructure:"warning"`
	Critical *float64 `mapstructure:"critical"`
}

// What a threshold applies to.
const (
	forBoth = iota
	forFeatures
	forEmbeddings
)

// thresholdField is one threshold of an override with its range, for
// validation: exactly one of i, f and l is set when the field is.
type thresholdField struct {
	name    string
	applies int
	i       *int
	f       *float64
	l       *Level
	set     bool
	// A float f is in (0, 1), or, with positive, in (0, ∞); a level is
	// in (0, max] (max 0: (0, ∞)).
	positive bool
	max      float64
}

// fields lists t's thresholds in the order of the drift package's
// Thresholds.
func (t *Thresholds) fields() []thresholdField {
	unit := func(name string, applies int, p *float64) thresholdField {
		return thresholdField{name: name, applies: applies, f: p, set: p != nil}
	}
	level := func(name string, applies int, p *Level, max float64) thresholdField {
		return thresholdField{name: name, applies: applies, l: p, set: p != nil, max: max}
	}
	return []thresholdField{
		{name: "min_samples", applies: forBoth, i: t.MinSamples, set: t.MinSamples != nil},
		unit("alpha", forBoth, t.Alpha),
		level("ks", forFeatures, t.KS, 1),
		level("psi", forFeatures, t.PSI, 0),
		level("mean_shift", forFeatures, t.MeanShift, 0),
		unit("fit_r2", forFeatures, t.FitR2),
		unit("scaler_tolerance", forFeatures, t.ScalerTolerance),
		unit("scale_tolerance", forFeatures, t.ScaleTolerance),
		unit("unit_tolerance", forFeatures, t.UnitTolerance),
		level("out_of_range", forFeatures, t.OutOfRange, 1),
		unit("range_tolerance", forFeatures, t.RangeTolerance),
		unit("compression", forBoth, t.Compression),
		level("missing", forBoth, t.Missing, 1),
		level("nonfinite", forBoth, t.NonFinite, 1),
		level("refit", forFeatures, t.Refit, 0),
		unit("unit_norm_ratio", forEmbeddings, t.UnitNormRatio),
		level("non_unit", forEmbeddings, t.NonUnit, 1),
		unit("mixed_floor", forEmbeddings, t.MixedFloor),
		level("norm_shift", forEmbeddings, t.NormShift, 1),
		level("cosine", forEmbeddings, t.Cosine, 2),
		level("dims_moved", forEmbeddings, t.DimsMoved, 1),
		{name: "dim_shift", applies: forEmbeddings, f: t.DimShift, set: t.DimShift != nil, positive: true},
		level("dim_mismatch", forEmbeddings, t.DimMismatch, 1),
		level("frozen_recall_drop", forEmbeddings, t.FrozenRecallDrop, 1),
		{name: "min_frozen_queries", applies: forEmbeddings, i: t.MinFrozenQueries, set: t.MinFrozenQueries != nil},
	}
}

// IsZero reports whether t sets no threshold.
func (t Thresholds) IsZero() bool {
	for _, f := range t.fields() {
		if f.set {
			return false
		}
	}
	return true
}

// validateDrift reports every bad override through bad, each naming its
// key: drift.overrides[2].thresholds.ks.critical.
func validateDrift(d Drift, bad func(key, format string, args ...any)) {
	for i, o := range d.Overrides {
		key := fmt.Sprintf("drift.overrides[%d]", i)
		for _, p := range []struct{ name, glob string }{
			{"model", o.Model}, {"model_version", o.ModelVersion}, {"feature", o.Feature}, {"embedding", o.Embedding},
		} {
			if _, err := path.Match(p.glob, ""); err != nil {
				bad(key+"."+p.name, "%q is not a glob (%v); want path.Match syntax: * ? [a-z], \\ to escape", p.glob, err)
			}
		}
		if o.Feature != "" && o.Embedding != "" {
			bad(key, "sets both feature (%q) and embedding (%q); an override applies to features or to embeddings: split it in two", o.Feature, o.Embedding)
		}
		th := o.Thresholds
		if !o.Mute && th.IsZero() {
			bad(key, "neither mutes nor sets a threshold, so it changes nothing; want mute: true or thresholds")
		}
		for _, f := range th.fields() {
			if !f.set {
				continue
			}
			fkey := key + ".thresholds." + f.name
			switch {
			case f.applies == forEmbeddings && o.Feature != "":
				bad(fkey, "is an embedding threshold, but the override matches features only (feature %q)", o.Feature)
				continue
			case f.applies == forFeatures && o.Embedding != "":
				bad(fkey, "is a feature threshold, but the override matches embeddings only (embedding %q)", o.Embedding)
				continue
			}
			switch {
			case f.i != nil:
				if *f.i < 2 || *f.i > 1<<30 {
					bad(fkey, "%d is out of range [2, %d]", *f.i, 1<<30)
				}
			case f.f != nil && f.positive:
				if v := *f.f; !(v > 0) || math.IsInf(v, 0) {
					bad(fkey, "%v is not a positive number", v)
				}
			case f.f != nil:
				if v := *f.f; !(v > 0 && v < 1) {
					bad(fkey, "%v is out of range (0, 1)", v)
				}
			case f.l != nil:
				validateLevel(fkey, *f.l, f.max, bad)
			}
		}
	}
}

// validateLevel checks 0 < warning <= critical <= max (max 0: finite).
func validateLevel(key string, l Level, max float64, bad func(key, format string, args ...any)) {
	if l.Warning == nil || l.Critical == nil {
		missing := "warning"
		if l.Warning != nil {
			missing = "critical"
		}
		if l.Warning == nil && l.Critical == nil {
			missing = "warning and critical"
		}
		bad(key, "lacks %s; give both warning and critical", missing)
		return
	}
	w, c := *l.Warning, *l.Critical
	top, topText := max, fmt.Sprint(max)
	if max == 0 {
		top, topText = math.MaxFloat64, "∞)"
	} else {
		topText += "]"
	}
	if !(w > 0 && w <= top) {
		bad(key+".warning", "%v is out of range (0, %s", w, topText)
		return
	}
	if !(c >= w && c <= top) {
		bad(key+".critical", "%v is out of range [%v (the warning), %s", c, w, topText)
	}
}
