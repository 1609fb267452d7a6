package drift

import (
	"fmt"
	"math"
)

// Scaler kinds of a Normalization, as the baseline file declares them.
const (
	ScalerNone   = "none"
	ScalerZScore = "zscore" // (raw − mean) / std
	ScalerMinMax = "minmax" // (raw − min) / (max − min), onto Range, maybe clipped
	ScalerRobust = "robust" // (raw − median) / IQR (or another quantile range)
	ScalerScale  = "scale"  // raw / scale: no centering (StandardScaler(with_mean=False), ...)
	ScalerCenter = "center" // raw − center: no scaling (StandardScaler(with_std=False), ...)
	ScalerMaxAbs = "maxabs" // raw / max|raw| (MaxAbsScaler)
)

// ScalerKinds lists the kinds a Normalization may have, for messages.
const ScalerKinds = "none, zscore, minmax, robust, scale, center or maxabs"

// Normalization is the scaler a feature was declared to go through in
// training. Every kind is an affine map, normalized = (raw − center) /
// spread, which is what the diagnosis tests serving against (see params);
// a clipped min-max scaler clips to its range besides. The reference
// sketch holds the normalized values.
//
// Fields a kind does not use stay zero, so that the baseline file of a
// zscore, an unclipped [0, 1] minmax or a 25–75 robust scaler reads as it
// always did.
type Normalization struct {
	Kind   string  `json:"kind"`
	Mean   float64 `json:"mean,omitempty"`   // zscore
	Std    float64 `json:"std,omitempty"`    // zscore
	Min    float64 `json:"min,omitempty"`    // minmax: the training data's minimum
	Max    float64 `json:"max,omitempty"`    // minmax: the training data's maximum
	Median float64 `json:"median,omitempty"` // robust
	IQR    float64 `json:"iqr,omitempty"`    // robust: the width of QuantileRange in raw units

	// Range is a minmax scaler's target range (scikit-learn's
	// feature_range); zero means [0, 1].
	Range [2]float64 `json:"range,omitzero"`
	// Clip tells that a minmax scaler clips to Range: values beyond the
	// training range pile up on its bounds instead of leaving it.
	Clip bool `json:"clip,omitempty"`
	// QuantileRange is the percentiles whose distance a robust scaler's
	// IQR is; zero means [25, 75].
	QuantileRange [2]float64 `json:"quantile_range,omitzero"`
	// UnitVariance tells that a robust scaler also divides by the width
	// of QuantileRange in a standard normal, so that normal data gets
	// variance 1 (scikit-learn's unit_variance).
	UnitVariance bool `json:"unit_variance,omitempty"`

	Scale  float64 `json:"scale,omitempty"`   // scale: the divisor
	Center float64 `json:"center,omitempty"`  // center: what is subtracted
	MaxAbs float64 `json:"max_abs,omitempty"` // maxabs: the training data's largest |raw|
}

// Validate reports a kind normwatch does not know, parameters that do not
// define a scaler, or parameters of another kind.
func (n Normalization) Validate() error {
	if n.Kind == "" || n.Kind == ScalerNone {
		if name := n.setParam(); name != "" {
			return fmt.Errorf("%s: not a parameter of a %s normalization", name, kindText(n.Kind))
		}
		return nil
	}
	allowed, ok := kindParams[n.Kind]
	if !ok {
		return fmt.Errorf("normalization kind %q: want %s", n.Kind, ScalerKinds)
	}
	for _, p := range n.paramList() {
		if p.set && !contains(allowed, p.name) {
			return fmt.Errorf("%s: not a parameter of a %s normalization (it takes %s)", p.name, n.Kind, joinNames(allowed))
		}
	}
	if n.Kind == ScalerMinMax && n.Range != [2]float64{} {
		a, b := n.Range[0], n.Range[1]
		if !(a < b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			return fmt.Errorf("range: [%v, %v]: want a finite [lo, hi] with lo < hi", a, b)
		}
	}
	if n.Kind == ScalerRobust && n.QuantileRange != [2]float64{} {
		q1, q3 := n.QuantileRange[0], n.QuantileRange[1]
		if !(0 <= q1 && q1 < q3 && q3 <= 100) {
			return fmt.Errorf("quantile_range: [%v, %v]: want percentiles 0 ≤ q1 < q3 ≤ 100", q1, q3)
		}
		if n.UnitVariance && (q1 == 0 || q3 == 100) {
			return fmt.Errorf("quantile_range: [%v, %v]: unit_variance needs percentiles strictly inside (0, 100)", q1, q3)
		}
	}
	c, s := n.params()
	if math.IsNaN(c) || math.IsInf(c, 0) || !(s > 0) || math.IsInf(s, 0) {
		return fmt.Errorf("%s normalization: center %v and spread %v do not define a scaler", n.Kind, c, s)
	}
	return nil
}

// kindParams are the parameters each kind takes.
var kindParams = map[string][]string{
	ScalerZScore: {"mean", "std"},
	ScalerMinMax: {"min", "max", "range", "clip"},
	ScalerRobust: {"median", "iqr", "quantile_range", "unit_variance"},
	ScalerScale:  {"scale"},
	ScalerCenter: {"center"},
	ScalerMaxAbs: {"max_abs"},
}

// KindParams returns the parameters a kind takes, in the order a scaler
// file writes them, or nil for none and an unknown kind.
func KindParams(kind string) []string {
	return append([]string(nil), kindParams[kind]...)
}

type param struct {
	name string
	set  bool
}

func (n Normalization) paramList() []param {
	return []param{
		{"mean", n.Mean != 0}, {"std", n.Std != 0}, {"min", n.Min != 0}, {"max", n.Max != 0},
		{"median", n.Median != 0}, {"iqr", n.IQR != 0}, {"range", n.Range != [2]float64{}},
		{"clip", n.Clip}, {"quantile_range", n.QuantileRange != [2]float64{}},
		{"unit_variance", n.UnitVariance}, {"scale", n.Scale != 0}, {"center", n.Center != 0},
		{"max_abs", n.MaxAbs != 0},
	}
}

func (n Normalization) setParam() string {
	for _, p := range n.paramList() {
		if p.set {
			return p.name
		}
	}
	return ""
}

func kindText(k string) string {
	if k == "" {
		return "missing"
	}
	return k
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			s += " and "
		default:
			s += ", "
		}
		s += n
	}
	return s
}

// targetRange returns a minmax scaler's target range.
func (n Normalization) targetRange() (lo, hi float64) {
	if n.Range == [2]float64{} {
		return 0, 1
	}
	return n.Range[0], n.Range[1]
}

// bounds returns the range a bounded scaler maps its training data onto:
// a min-max scaler's target range, [−1, 1] for max-abs.
func (n Normalization) bounds() (lo, hi float64, ok bool) {
	if !n.declared() {
		return 0, 0, false
	}
	switch n.Kind {
	case ScalerMinMax:
		lo, hi = n.targetRange()
		return lo, hi, true
	case ScalerMaxAbs:
		return -1, 1, true
	}
	return 0, 0, false
}

// quantileRange returns a robust scaler's percentiles.
func (n Normalization) quantileRange() (q1, q3 float64) {
	if n.QuantileRange == [2]float64{} {
		return 25, 75
	}
	return n.QuantileRange[0], n.QuantileRange[1]
}

// normalWidth is the distance between the percentiles q1 and q3 of a
// standard normal: what scikit-learn's unit_variance divides by.
func normalWidth(q1, q3 float64) float64 {
	z := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p/100-1) }
	return z(q3) - z(q1)
}

// params returns the scaler's center and spread: normalized = (raw −
// center) / spread, the transform serving is expected to apply.
func (n Normalization) params() (center, spread float64) {
	switch n.Kind {
	case ScalerZScore:
		return n.Mean, n.Std
	case ScalerMinMax:
		// (raw − min)/(max − min)·(b − a) + a = (raw − center)/spread.
		a, b := n.targetRange()
		spread = (n.Max - n.Min) / (b - a)
		return n.Min - a*spread, spread
	case ScalerRobust:
		if n.UnitVariance {
			return n.Median, n.IQR / normalWidth(n.quantileRange())
		}
		return n.Median, n.IQR
	case ScalerScale:
		return 0, n.Scale
	case ScalerCenter:
		return n.Center, 1
	case ScalerMaxAbs:
		return 0, n.MaxAbs
	}
	return 0, 1
}

// Apply returns what the declared scaler makes of a raw value: the
// serving transform the diagnosis expects. Without a declared scaler it
// returns raw.
func (n Normalization) Apply(raw float64) float64 {
	if !n.declared() {
		return raw
	}
	c, s := n.params()
	y := (raw - c) / s
	if n.Kind == ScalerMinMax && n.Clip {
		lo, hi := n.targetRange()
		y = math.Min(math.Max(y, lo), hi)
	}
	return y
}

// declared reports whether n is a usable scaler.
func (n Normalization) declared() bool {
	return n.Kind != "" && n.Kind != ScalerNone && n.Validate() == nil
}

// describe names the scaler with its parameters: "the z-score scaler
// (mean 52100, std 18300)".
func (n Normalization) describe() string {
	c, s := n.params()
	return "the " + n.name() + " scaler (" + n.paramText(c, s) + ")"
}

func (n Normalization) name() string {
	switch n.Kind {
	case ScalerZScore:
		return "z-score"
	case ScalerMinMax:
		return "min-max"
	case ScalerRobust:
		return "robust"
	case ScalerScale:
		return "scale-only"
	case ScalerCenter:
		return "centering"
	case ScalerMaxAbs:
		return "max-abs"
	}
	return n.Kind
}

// paramText states the parameters that would give center and spread:
// the declared ones, or those of a re-fitted scaler of the same kind.
func (n Normalization) paramText(center, spread float64) string {
	switch n.Kind {
	case ScalerZScore:
		return "mean " + num(center) + ", std " + num(spread)
	case ScalerMinMax:
		a, b := n.targetRange()
		s := "min " + num(center+a*spread) + ", max " + num(center+b*spread)
		if n.Range != [2]float64{} {
			s += ", onto [" + num(a) + ", " + num(b) + "]"
		}
		if n.Clip {
			s += ", clipped"
		}
		return s
	case ScalerRobust:
		q1, q3 := n.quantileRange()
		width := spread
		if n.UnitVariance {
			width = spread * normalWidth(q1, q3)
		}
		s := "median " + num(center) + ", IQR " + num(width)
		if n.QuantileRange != [2]float64{} {
			s = "median " + num(center) + ", p" + num(q1) + "–p" + num(q3) + " range " + num(width)
		}
		if n.UnitVariance {
			s += ", unit variance"
		}
		return s
	case ScalerScale, ScalerMaxAbs:
		s := "scale " + num(spread)
		if n.Kind == ScalerMaxAbs {
			s = "max |x| " + num(spread)
		}
		if center != 0 {
			s += ", center " + num(center)
		}
		return s
	case ScalerCenter:
		s := "center " + num(center)
		if spread != 1 {
			s += ", scale " + num(spread)
		}
		return s
	}
	return ""
}
