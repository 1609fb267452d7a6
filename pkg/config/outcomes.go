package config

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// Outcome is one entry of outcomes: a named outcome of the events
// (their outcomes object) tracked per model version and compared with the
// previous and live versions'. A list, not a map by name, because keys of
// a map lose their case on the way through viper and outcome names are
// case-sensitive.
//
//	outcomes:
//	  - {name: eval_pass, kind: rate, max_delta_points: 2}
//	  - {name: context_relevance, kind: mean, max_delta_points: 3, falls_with: context_recall}
//	  - {name: context_recall, kind: mean, max_delta_points: 3}
type Outcome struct {
	// Name is the outcome's key in the events' outcomes object.
	Name string `mapstructure:"name"`
	// Kind is rate (values 0 and 1, a two-proportion z-test) or mean
	// (scores, Welch's t-test).
	Kind string `mapstructure:"kind"`
	// Better is higher (the default) or lower (an error rate): which way
	// a move is a regression.
	Better string `mapstructure:"better"`
	// MaxDeltaPoints is the largest move the worse way, in points
	// (percentage points of a rate, hundredths of a score), that is not
	// outcome_regression. Required.
	MaxDeltaPoints float64 `mapstructure:"max_delta_points"`
	// Alpha is the significance level (two-sided): a larger move that is
	// not significant at it does not page. Default DefaultOutcomeAlpha.
	Alpha float64 `mapstructure:"alpha"`
	// MinSamples is the fewest values each version needs in the horizon to
	// be compared. Default DefaultOutcomeMinSamples.
	MinSamples int `mapstructure:"min_samples"`
	// FallsWith names another outcome: both regressing against the same
	// version in the same windows is query_normalization_suspect.
	FallsWith string `mapstructure:"falls_with"`
}

// Defaults of an outcome's test.
const (
	DefaultOutcomeAlpha      = 0.01
	DefaultOutcomeMinSamples = 100
)

// OutcomeDefaults returns o with its defaults filled in.
func OutcomeDefaults(o Outcome) Outcome {
	if o.Better == "" {
		o.Better = "higher"
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultOutcomeAlpha
	}
	if o.MinSamples == 0 {
		o.MinSamples = DefaultOutcomeMinSamples
	}
	return o
}

func validateOutcomes(os []Outcome, maxNameBytes int, bad func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, o := range os {
		key := fmt.Sprintf("outcomes[%d]", i)
		switch {
		case o.Name == "":
			bad(key+".name", "is empty; want the outcome's key in the events' outcomes object")
		case len(o.Name) > maxNameBytes || !utf8.ValidString(o.Name):
			bad(key+".name", "%.40q is not a name the decoder accepts (UTF-8, at most decode.max_name_bytes %d bytes)", o.Name, maxNameBytes)
		case seen[o.Name]:
			bad(key+".name", "%q is configured twice", o.Name)
		}
		seen[o.Name] = true
		if o.Name != "" {
			key = fmt.Sprintf("outcomes[%d] (%s)", i, o.Name)
		}
		if o.Kind != "rate" && o.Kind != "mean" {
			bad(key+".kind", "%q is neither rate (values 0 and 1) nor mean (scores)", o.Kind)
		}
		if o.Better != "" && o.Better != "higher" && o.Better != "lower" {
			bad(key+".better", "%q is neither higher nor lower", o.Better)
		}
		if !(o.MaxDeltaPoints > 0) || math.IsInf(o.MaxDeltaPoints, 0) {
			bad(key+".max_delta_points", "%v is not a positive number of points (percentage points of a rate, hundredths of a score)", o.MaxDeltaPoints)
		} else if o.Kind == "rate" && o.MaxDeltaPoints >= 100 {
			bad(key+".max_delta_points", "%v is out of range (0, 100) for a rate", o.MaxDeltaPoints)
		}
		if o.Alpha != 0 && !(o.Alpha > 0 && o.Alpha < 0.5) {
			bad(key+".alpha", "%v is out of range (0, 0.5)", o.Alpha)
		}
		if o.MinSamples != 0 && (o.MinSamples < 2 || o.MinSamples > 1<<30) {
			bad(key+".min_samples", "%d is out of range [2, 1073741824]", o.MinSamples)
		}
	}
	for i, o := range os {
		if o.FallsWith == "" {
			continue
		}
		key := fmt.Sprintf("outcomes[%d] (%s).falls_with", i, o.Name)
		if o.FallsWith == o.Name || !seen[o.FallsWith] {
			bad(key, "%q is not another configured outcome", o.FallsWith)
		}
	}
}
