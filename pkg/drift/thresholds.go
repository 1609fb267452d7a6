package drift

import (
	"fmt"
	"math"
)

// Level is a pair of warning and critical thresholds for one statistic.
// A statistic at or above Warning is a warning, at or above Critical
// critical.
type Level struct {
	Warning  float64 `json:"warning"`
	Critical float64 `json:"critical"`
}

// of returns the severity of v against l.
func (l Level) of(v float64) Severity {
	switch {
	case v >= l.Critical:
		return Critical
	case v >= l.Warning:
		return Warning
	}
	return SeverityOK
}

func (l Level) validate(name string, max float64) error {
	if !(l.Warning > 0 && l.Warning <= max) {
		return fmt.Errorf("%s.warning: %v out of range (0, %v]", name, l.Warning, max)
	}
	if !(l.Critical >= l.Warning && l.Critical <= max) {
		return fmt.Errorf("%s.critical: %v out of range [%v (warning), %v]", name, l.Critical, l.Warning, max)
	}
	return nil
}

// Thresholds decides severity and diagnosis. Every statistic alerts only
// when it is both statistically significant for the two sample sizes (at
// level Alpha) and at least as large as its effect floor (the Level's
// Warning), so large samples do not page on negligible differences and
// small ones do not page on noise.
type Thresholds struct {
	// MinSamples is the fewest current values (vectors for an embedding)
	// a horizon needs to be judged at all; fewer is insufficient_data.
	MinSamples uint64 `json:"min_samples"`
	// Alpha is the significance level of every test (KS, counts, means),
	// per test; the effect floors and the alert engine's hysteresis keep
	// the rate of alarms far below it.
	Alpha float64 `json:"alpha"`

	KS        Level `json:"ks"`         // KS distance
	PSI       Level `json:"psi"`        // population stability index
	MeanShift Level `json:"mean_shift"` // |mean shift| in reference standard deviations

	// FitR2 is the smallest r² of the quantile fit Q_cur ≈ a·Q_ref + b for
	// an affine explanation (unscaled_input, double_scaled, scale_change,
	// shift); below it a significant drift is distribution_change.
	FitR2 float64 `json:"fit_r2"`
	// ScalerTolerance is how close (a, b) must be to the declared scaler's
	// signature: |a/a₀ - 1| and |b - b₀| / (|a₀|·σ_ref) at most this.
	ScalerTolerance float64 `json:"scaler_tolerance"`
	// ScaleTolerance is how far a may be from 1 (|ln a| > ln(1+tol)) to
	// count as a scale change rather than a shift.
	ScaleTolerance float64 `json:"scale_tolerance"`
	// UnitTolerance is how close a must be to a unit factor (10^k, 60,
	// 3600, 2.54 and inverses) to be named as one: |a/f - 1| at most this.
	UnitTolerance float64 `json:"unit_tolerance"`

	// OutOfRange is the share of current values outside the training range
	// (widened by RangeTolerance of its width) that makes range_violation.
	OutOfRange     Level   `json:"out_of_range"`
	RangeTolerance float64 `json:"range_tolerance"`

	// FrozenRecallDrop is how far recall@k of frozen-query runs against
	// their reference top-k may fall below the reference's own 1 before
	// it is retrieval_regression, judged once MinFrozenQueries distinct
	// frozen queries were run in the horizon (fewer never page).
	FrozenRecallDrop Level  `json:"frozen_recall_drop"`
	MinFrozenQueries uint64 `json:"min_frozen_queries"`

	// Compression is the largest ratio of current to reference spread
	// (both IQR and p95 - p5) that makes score_compression.
	Compression float64 `json:"compression"`

	// Missing is the rise of the missing ratio over the reference's.
	Missing Level `json:"missing"`
	// NonFinite is the rise of the NaN and ±Inf ratio over the reference's.
	NonFinite Level `json:"nonfinite"`

	// Refit is how far the serving transform (from a Pair) is from the
	// declared scaler: the larger of |slope/slope₀ - 1| and the move of
	// the raw mean, in normalized standard deviations.
	Refit Level `json:"refit"`

	// UnitNormRatio is the smallest share of unit-norm vectors for an
	// embedding to count as normalized.
	UnitNormRatio float64 `json:"unit_norm_ratio"`
	// NonUnit is the rise of the share of non-unit vectors of a normalized
	// reference: at Critical or more with some unit vectors left, the
	// norms are mixed; with almost none left (share <= MixedFloor), the
	// embedding is unnormalized.
	NonUnit    Level   `json:"non_unit"`
	MixedFloor float64 `json:"mixed_floor"`
	// NormShift is the KS distance of the norm distributions that counts as
	// a change of norms for an unnormalized embedding.
	NormShift Level `json:"norm_shift"`
	// Cosine is 1 - the cosine of the current and reference mean
	// directions.
	Cosine Level `json:"cosine"`
	// DimsMoved is the share of dimensions whose mean moved significantly
	// and by at least DimShift reference standard deviations.
	DimsMoved Level   `json:"dims_moved"`
	DimShift  float64 `json:"dim_shift"`
	// DimMismatch is the share of vectors of another dimension.
	DimMismatch Level `json:"dim_mismatch"`
}

// DefaultThresholds returns the thresholds normwatch ships with.
func DefaultThresholds() Thresholds {
	return Thresholds{
		// 200 values put the KS critical value near 0.17 at Alpha: below
		// that, only gross changes could be told from noise, and a
		// one-minute window of a low-traffic model should wait for more.
		MinSamples: 200,
		// 1e-5 per test: a thousand features evaluated every minute make
		// over a million tests a day, and the counts of rare events
		// (NaN, missing) have no effect floor wide enough to absorb
		// chance at 1e-3 (a window of 1000 values with 7 NaN against a
		// base rate of 0.1% has p = 6e-4). It costs little power: for
		// windows of 800+ values against a large baseline the KS effect
		// floor, not the critical value, is the binding limit.
		Alpha: 1e-5,
		// KS 0.1 is about a 0.25σ shift of a normal; 0.2 about 0.5σ.
		KS: Level{Warning: 0.1, Critical: 0.2},
		// The industry's PSI convention: < 0.1 stable, 0.1-0.25 moderate,
		// > 0.25 major shift.
		PSI: Level{Warning: 0.1, Critical: 0.25},
		// A quarter of a standard deviation moves most models' scores
		// visibly; half is a different population.
		MeanShift: Level{Warning: 0.25, Critical: 0.5},
		// Quantile-quantile fits between samples of one shape reach 0.999
		// and more; a 0.99 fit is still visibly straight, while mixture
		// changes and reshaped tails fall below it.
		FitR2: 0.99,
		// A skipped scaler matches its parameters to sampling error (a few
		// percent for horizons of hundreds of values); 10% leaves room for
		// the raw data's own slow drift without matching chance maps.
		ScalerTolerance: 0.1,
		// Spreads that change by less than 10% are shifts, not rescalings.
		ScaleTolerance: 0.1,
		// Unit factors are exact; 2% allows for the sample noise of a.
		UnitTolerance: 0.02,
		// 1% of values beyond the training range is already more than a
		// stationary reference of 200+ values leaves by chance; 5% is a
		// population the model never saw.
		OutOfRange:     Level{Warning: 0.01, Critical: 0.05},
		RangeTolerance: 0.01,
		// A tenth of the reference's top-k gone is visible in answers; a
		// quarter is a broken retriever. Twenty queries make one lost
		// document of ten in half of them (recall 0.95) tell from 0.9.
		FrozenRecallDrop: Level{Warning: 0.1, Critical: 0.25},
		MinFrozenQueries: 20,
		// Half the spread: scores that used to separate now bunch.
		Compression: 0.5,
		// Five more points of missing values changes what imputation feeds
		// the model; twenty is a broken upstream.
		Missing: Level{Warning: 0.05, Critical: 0.2},
		// Non-finite values are always a bug somewhere; 0.1% is enough to
		// see it, 1% corrupts a model's inputs.
		NonFinite: Level{Warning: 0.001, Critical: 0.01},
		// A refitted scaler that moves values by 0.1σ or rescales them by
		// 10% silently changes the inputs; 0.5σ or 50% is critical.
		Refit: Level{Warning: 0.1, Critical: 0.5},
		// 99% of a normalized reference is unit-norm; a few zero vectors
		// are allowed for.
		UnitNormRatio: 0.99,
		// 2% more non-unit vectors is a partial pipeline; 10% a mixed index.
		NonUnit:    Level{Warning: 0.02, Critical: 0.1},
		MixedFloor: 0.1,
		NormShift:  Level{Warning: 0.1, Critical: 0.2},
		// Means that turn by 0.1 (cos 0.9, about 25°) or 0.3 (cos 0.7)
		// are different embeddings of the same inputs.
		Cosine: Level{Warning: 0.1, Critical: 0.3},
		// A tenth of the dimensions moved by a quarter σ is a new model or
		// a new input population; a quarter of them is certain.
		DimsMoved: Level{Warning: 0.1, Critical: 0.25},
		DimShift:  0.25,
		// Any vector of another dimension is a bug: 0.1% shows it.
		DimMismatch: Level{Warning: 0.001, Critical: 0.01},
	}
}

// Validate reports the first threshold out of its range, by its JSON name.
func (t Thresholds) Validate() error {
	inUnit := func(name string, v float64) error {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("%s: %v out of range (0, 1)", name, v)
		}
		return nil
	}
	if t.MinFrozenQueries < 2 {
		return fmt.Errorf("min_frozen_queries: %d below 2", t.MinFrozenQueries)
	}
	if t.MinSamples < 2 {
		return fmt.Errorf("min_samples: %d below 2", t.MinSamples)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"alpha", t.Alpha}, {"fit_r2", t.FitR2}, {"scaler_tolerance", t.ScalerTolerance},
		{"scale_tolerance", t.ScaleTolerance}, {"unit_tolerance", t.UnitTolerance},
		{"range_tolerance", t.RangeTolerance}, {"compression", t.Compression},
		{"unit_norm_ratio", t.UnitNormRatio}, {"mixed_floor", t.MixedFloor},
	} {
		if err := inUnit(c.name, c.v); err != nil {
			return err
		}
	}
	if !(t.DimShift > 0 && !math.IsInf(t.DimShift, 0)) {
		return fmt.Errorf("dim_shift: %v not positive and finite", t.DimShift)
	}
	for _, c := range []struct {
		name string
		l    Level
		max  float64
	}{
		{"ks", t.KS, 1}, {"psi", t.PSI, math.MaxFloat64}, {"mean_shift", t.MeanShift, math.MaxFloat64},
		{"out_of_range", t.OutOfRange, 1}, {"missing", t.Missing, 1}, {"nonfinite", t.NonFinite, 1},
		{"refit", t.Refit, math.MaxFloat64}, {"non_unit", t.NonUnit, 1}, {"norm_shift", t.NormShift, 1},
		{"cosine", t.Cosine, 2}, {"dims_moved", t.DimsMoved, 1}, {"dim_mismatch", t.DimMismatch, 1},
		{"frozen_recall_drop", t.FrozenRecallDrop, 1},
	} {
		if err := c.l.validate(c.name, c.max); err != nil {
			return err
		}
	}
	return nil
}
