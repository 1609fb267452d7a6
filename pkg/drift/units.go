package drift

import (
	"math"
)

// unit is a change of unit: new = f·old + g, with an example.
type unit struct {
	f, g     float64
	from, to string
}

// inverse is the change back.
func (u unit) inverse() unit { return unit{f: 1 / u.f, g: -u.g / u.f, from: u.to, to: u.from} }

// units are the unit changes normwatch names: powers of ten (10 to 10⁹), time,
// length, mass and temperature. Each is also tried the other way round.
var units = []unit{
	{f: 10, from: "cm", to: "mm"}, {f: 100, from: "dollars", to: "cents"}, {f: 1000, from: "s", to: "ms"},
	{f: 1e4}, {f: 1e5}, {f: 1e6, from: "s", to: "µs"}, {f: 1e7}, {f: 1e8}, {f: 1e9, from: "s", to: "ns"},
	{f: 60, from: "min", to: "s"}, {f: 3600, from: "h", to: "s"}, {f: 86400, from: "days", to: "s"},
	{f: 2.54, from: "in", to: "cm"}, {f: 0.4536, from: "lb", to: "kg"}, {f: 1.609, from: "mi", to: "km"},
	{f: 1.8, g: 32, from: "°C", to: "°F"},
}

// allUnits holds every unit change and its inverse.
var allUnits = func() []unit {
	out := make([]unit, 0, 2*len(units))
	for _, u := range units {
		out = append(out, u, u.inverse())
	}
	return out
}()

// Where a unit change happened relative to the declared scaler.
const (
	unitUndeclared = iota // no scaler: the values themselves
	unitBefore            // upstream of the scaler: the raw values it gets
	unitAfter             // downstream: the normalized values
)

// unitMatch is a unit change that explains an affine map.
type unitMatch struct {
	u     unit
	where int
	dev   float64
}

// matchUnit returns the unit change the affine map y' = a·y + b between
// reference and current values matches, if any: with a declared scaler
// (center c, spread s) a change before it maps normalized values by
// a = f, b = ((f-1)·c + g)/s, one after it by a = f, b = g; without one,
// a = f, b = g. The slope must be within UnitTolerance of f (10% for the
// factors far from all others, see wideUnitTolerance) and the offset
// within ScalerTolerance of the current spread (|f|·σ_ref).
//
// The offset is compared at the reference mean m, as in affineDev.
func matchUnit(a, b float64, n Normalization, m, sigma float64, th Thresholds) (unitMatch, bool) {
	if !(a > 0) {
		return unitMatch{}, false
	}
	best := unitMatch{dev: math.Inf(1)}
	try := func(u unit, where int, eb float64) {
		if math.Abs(a/u.f-1) > unitTolerance(u, th) {
			return
		}
		spread := u.f * sigma
		d := math.Abs(a/u.f - 1)
		if spread > 0 {
			d = math.Max(d, math.Abs((a-u.f)*m+b-eb)/spread)
		}
		if d <= th.ScalerTolerance && d < best.dev {
			best = unitMatch{u: u, where: where, dev: d}
		}
	}
	for _, u := range allUnits {
		if n.declared() {
			c, s := n.params()
			try(u, unitBefore, ((u.f-1)*c+u.g)/s)
			if u.g == 0 {
				try(u, unitAfter, 0)
			}
		} else {
			try(u, unitUndeclared, u.g)
		}
	}
	return best, !math.IsInf(best.dev, 1)
}

// wideUnitTolerance is how close the quantile fit's slope must be to a
// factor at least 1.5 times as far from every other factor and from 1
// (powers of ten, 60, 3600; not 10⁵ and 86400, 1.16 apart): the slope of a heavy-tailed
// feature's quantiles strays by 4 to 6% on 400 to 1000 values (a lognormal
// of σ 0.7, measured over 100 seeds), and a tenth still tells 60 from 100.
// The close factors (2.54, 0.4536, 1.609, 1.8) keep UnitTolerance.
const wideUnitTolerance = 0.1

// unitTolerance is how close a slope must be to u's factor.
func unitTolerance(u unit, th Thresholds) float64 {
	if wideUnits[u.f] {
		return math.Max(th.UnitTolerance, wideUnitTolerance)
	}
	return th.UnitTolerance
}

// wideUnits are the factors of allUnits at least 1.5 times as far from
// every other one and from 1.
var wideUnits = func() map[float64]bool {
	out := map[float64]bool{}
	for _, u := range allUnits {
		wide := math.Abs(math.Log(u.f)) >= math.Log(1.5)
		for _, v := range allUnits {
			if v.f != u.f && math.Abs(math.Log(u.f/v.f)) < math.Log(1.5) {
				wide = false
			}
		}
		out[u.f] = wide
	}
	return out
}()

// factorText says what a unit change does to values: "100 times larger",
// "1000 times smaller", "×1.8 + 32".
func (u unit) factorText() string {
	switch {
	case u.g != 0:
		s := "×" + num(u.f)
		if u.g > 0 {
			return s + " + " + num(u.g)
		}
		return s + " − " + num(-u.g)
	case u.f >= 1:
		return num(u.f) + " times larger"
	}
	return num(1/u.f) + " times smaller"
}

// example is "(e.g. dollars → cents)" or "".
func (u unit) example() string {
	if u.from == "" {
		return ""
	}
	return " (e.g. " + u.from + " → " + u.to + ")"
}

// unitSentence explains a unit match on the whole distribution.
func (m unitMatch) sentence(n Normalization) string {
	switch m.where {
	case unitBefore:
		return "the raw values reach " + n.describe() + " " + m.u.factorText() + ": a unit change upstream of the scaler" + m.u.example() + "."
	case unitAfter:
		return "the normalized values are " + m.u.factorText() + " than " + n.describe() + " makes them: a unit change after the scaler" + m.u.example() + "."
	}
	return "the values are " + m.u.factorText() + ": a unit change" + m.u.example() + "."
}
