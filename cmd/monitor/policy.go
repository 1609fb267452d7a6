package main

import (
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/drift"
)

// driftOverrides turns drift.overrides of the configuration into the
// drift package's, in the same order (later ones win).
func driftOverrides(in []config.Override) []drift.Override {
	out := make([]drift.Override, 0, len(in))
	for _, o := range in {
		d := drift.Override{Model: o.Model, Version: o.ModelVersion, Feature: o.Feature, Embedding: o.Embedding, Mute: o.Mute}
		if !o.Thresholds.IsZero() {
			t := o.Thresholds
			d.Apply = func(th *drift.Thresholds) { applyThresholds(t, th) }
		}
		out = append(out, d)
	}
	return out
}

// applyThresholds sets the thresholds c gives on th and leaves the others.
func applyThresholds(c config.Thresholds, th *drift.Thresholds) {
	if c.MinSamples != nil {
		th.MinSamples = uint64(max(*c.MinSamples, 0)) // below 2 fails drift's Validate
	}
	if c.MinFrozenQueries != nil {
		th.MinFrozenQueries = uint64(max(*c.MinFrozenQueries, 0)) // below 2 fails drift's Validate
	}
	for _, f := range []struct {
		to   *float64
		from *float64
	}{
		{&th.Alpha, c.Alpha}, {&th.FitR2, c.FitR2}, {&th.ScalerTolerance, c.ScalerTolerance},
		{&th.ScaleTolerance, c.ScaleTolerance}, {&th.UnitTolerance, c.UnitTolerance},
		{&th.RangeTolerance, c.RangeTolerance}, {&th.Compression, c.Compression},
		{&th.UnitNormRatio, c.UnitNormRatio}, {&th.MixedFloor, c.MixedFloor}, {&th.DimShift, c.DimShift},
	} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	for _, l := range []struct {
		to   *drift.Level
		from *config.Level
	}{
		{&th.KS, c.KS}, {&th.PSI, c.PSI}, {&th.MeanShift, c.MeanShift}, {&th.OutOfRange, c.OutOfRange},
		{&th.Missing, c.Missing}, {&th.NonFinite, c.NonFinite}, {&th.Refit, c.Refit},
		{&th.NonUnit, c.NonUnit}, {&th.NormShift, c.NormShift}, {&th.Cosine, c.Cosine},
		{&th.DimsMoved, c.DimsMoved}, {&th.DimMismatch, c.DimMismatch}, {&th.FrozenRecallDrop, c.FrozenRecallDrop},
	} {
		if l.from == nil {
			continue
		}
		if l.from.Warning != nil {
			l.to.Warning = *l.from.Warning
		}
		if l.from.Critical != nil {
			l.to.Critical = *l.from.Critical
		}
	}
}

// outcomeSpecs turns outcomes of the configuration into the drift
// package's, defaults filled in.
func outcomeSpecs(in []config.Outcome) []drift.OutcomeSpec {
	out := make([]drift.OutcomeSpec, 0, len(in))
	for _, o := range in {
		o = config.OutcomeDefaults(o)
		out = append(out, drift.OutcomeSpec{
			Name: o.Name, Kind: drift.OutcomeKind(o.Kind), LowerIsBetter: o.Better == "lower",
			MaxDeltaPoints: o.MaxDeltaPoints, Alpha: o.Alpha, MinSamples: o.MinSamples, FallsWith: o.FallsWith,
		})
	}
	return out
}
