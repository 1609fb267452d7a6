package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// event is one production event before encoding.
type event struct {
	norm   map[string]float64 // the values the model gets
	raw    map[string]float64 // raw values of the paired features
	null   map[string]bool    // sent as null
	absent map[string]bool    // key left out
	vec    []float32
	noVec  bool // embedding key left out
	// retrieval and hidden are the signals' fields (signals.go).
	retrieval *retrievalEv
	hidden    []float32
}

// Scenario is one production stream of a model with at most one injected
// fault, and what normwatch should say about it.
type Scenario struct {
	ID     string // the model name of its events
	Fault  string // the fault's kind; "clean" for a control
	Target string // the feature or embedding the fault is on
	Kind   string // "feature" or "embedding"
	// Expect is the diagnosis the target should get; "" for a control.
	Expect string
	// Share, for a fault on part of the traffic, is the share the
	// summary should state.
	Share  float64
	Onset  int    // first window with the fault
	Params string // what was varied, for the table
	Pairs  bool   // events carry raw values of the paired features
	B64    bool   // embeddings as b64f32, else JSON arrays
	Digits int    // significant digits of numbers in events; -1 for shortest exact
	Events int    // events per window
	Seed   uint64
	// Signals is signalRetrieval or signalActivation for a scenario whose
	// events carry that signal (signals.go); ScoresOnly sends a
	// retrieval's scores instead of its documents.
	Signals    string
	ScoresOnly bool
	// Outcomes sends outcome events of v1 and of a second version, v2,
	// V2Events of them a window, with outcomeFault on v2's from the
	// onset (outcomes.go); Kind "outcome" targets are v2's. Also is a
	// second subject the fault names (an outcome that falls with the
	// target), not a false alarm.
	Outcomes     bool
	V2Events     int
	Also         string
	outcomeFault *outcomeLevels

	apply func(w *world, r *rand.Rand, ev *event)
}

// Size is a suite's size.
type Size struct {
	Name    string
	Windows int
	// Full takes every parameter of every fault; otherwise the first
	// few.
	Full bool
}

// Small is the suite CI runs; Full the one the README tells how to run.
var (
	Small = Size{Name: "small", Windows: 10}
	Full  = Size{Name: "full", Windows: 14, Full: true}
)

// Suite returns the scenarios of a size: each fault with varied
// parameters (shares, factors, magnitudes, encodings, onset times), and
// clean controls.
func Suite(size Size) []Scenario {
	var out []Scenario
	mid := size.Windows / 2
	pick := func(n int) int {
		if size.Full {
			return n
		}
		return min(n, 2)
	}
	add := func(s Scenario) {
		s.ID = fmt.Sprintf("s%03d-%s", len(out), s.Fault)
		s.Seed = uint64(1000 + 17*len(out))
		if s.Events == 0 {
			s.Events = []int{500, 800, 400, 1000}[len(out)%4]
		}
		if s.Digits == 0 {
			s.Digits = []int{-1, 7}[len(out)%2]
		}
		s.B64 = s.B64 || len(out)%3 != 0
		out = append(out, s)
	}
	onset := func(i int) int { // alternate: from the start, mid-stream
		if i%2 == 0 {
			return 0
		}
		return mid
	}
	feature := func(fault, target, expect string) Scenario {
		return Scenario{Fault: fault, Target: target, Kind: "feature", Expect: expect}
	}
	embedding := func(fault, expect string) Scenario {
		return Scenario{Fault: fault, Target: eQuery, Kind: "embedding", Expect: expect}
	}

	// The declared scaler skipped at serving, whole traffic.
	for i, t := range []struct {
		f     string
		pairs bool
	}{{fAmount, true}, {fAge, false}, {fSession, false}, {fClicks, false}, {fAmount, false}, {fAge, true}}[:pick(6)] {
		s := feature("skip_scaler", t.f, "unscaled_input")
		s.Pairs, s.Onset, s.Params = t.pairs, onset(i), fmt.Sprintf("%s pairs=%v", t.f, t.pairs)
		f := t.f
		s.apply = func(w *world, _ *rand.Rand, ev *event) { ev.norm[f] = rawOf(w, f, ev.norm[f]) }
		add(s)
	}
	// Applied twice.
	for i, f := range []string{fAge, fSession, fAmount}[:pick(3)] {
		s := feature("double_scaled", f, "double_scaled")
		s.Onset, s.Params, s.Pairs = onset(i+1), f, i == 2
		s.apply = func(w *world, _ *rand.Rand, ev *event) { ev.norm[f] = w.scalers[f].apply(ev.norm[f]) }
		add(s)
	}
	// Re-fitted on other data (pairs show it).
	for i, t := range []struct{ dMean, kStd float64 }{{0.5, 1}, {0, 1.4}, {0.3, 1.25}, {-0.8, 0.8}}[:pick(4)] {
		s := feature("scaler_refit", fAmount, "scaler_refit")
		s.Pairs, s.Onset, s.Params = true, onset(i), fmt.Sprintf("mean%+gσ std×%g", t.dMean, t.kStd)
		d := t
		s.apply = func(w *world, _ *rand.Rand, ev *event) {
			sc := w.scalers[fAmount]
			raw := rawOf(w, fAmount, ev.norm[fAmount])
			ev.norm[fAmount] = (raw - (sc.center + d.dMean*sc.spread)) / (d.kStd * sc.spread)
		}
		add(s)
	}
	// A unit change upstream of a declared scaler.
	for i, t := range []struct {
		f, unit    string
		k          float64
		pairs, log bool // log: the raw value in the event is the one fed to the scaler
	}{{fAmount, "cents", 100, false, false}, {fAmount, "cents", 100, true, false},
		{fAmount, "thousands", 0.001, true, true}, {fAmount, "mills", 1000, false, false}}[:pick(4)] {
		s := feature("unit_before_scaler", t.f, "scale_change")
		s.Pairs, s.Onset, s.Params = t.pairs, onset(i), fmt.Sprintf("%s ×%g pairs=%v", t.f, t.k, t.pairs)
		u := t
		s.apply = func(w *world, _ *rand.Rand, ev *event) {
			raw := rawOf(w, u.f, ev.norm[u.f])
			ev.norm[u.f] = w.scalers[u.f].apply(raw * u.k)
			if u.log {
				ev.raw[u.f] = raw * u.k
			}
		}
		add(s)
	}
	// A unit change of a feature without a scaler.
	for i, t := range []struct {
		f    string
		a, b float64
	}{{fLatency, 0.001, 0}, {fTemp, 1.8, 32}, {fLatency, 1000, 0}, {fLatency, 1.0 / 60000, 0}}[:pick(4)] {
		s := feature("unit_change", t.f, "scale_change")
		s.Onset, s.Params = onset(i+1), fmt.Sprintf("%s ×%.3g %+g", t.f, t.a, t.b)
		u := t
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.norm[u.f] = u.a*ev.norm[u.f] + u.b }
		add(s)
	}
	// Shifts and rescalings of the input population.
	for i, t := range []struct {
		f     string
		delta float64
	}{{fAge, 0.6}, {fTemp, -1.0}, {fAge, 1.5}, {fLatency, 0.5}}[:pick(4)] {
		s := feature("shift", t.f, "shift")
		s.Onset, s.Params = onset(i), fmt.Sprintf("%s %+gσ", t.f, t.delta)
		u := t
		s.apply = func(w *world, _ *rand.Rand, ev *event) { ev.norm[u.f] += u.delta * stdOf(w, u.f) }
		add(s)
	}
	for i, t := range []struct {
		f string
		k float64
	}{{fTemp, 1.7}, {fAge, 0.6}, {fTemp, 2.2}}[:pick(3)] {
		s := feature("scale", t.f, "scale_change")
		s.Onset, s.Params = onset(i+1), fmt.Sprintf("%s spread×%g", t.f, t.k)
		u := t
		s.apply = func(w *world, _ *rand.Rand, ev *event) {
			m := meanOf(w, u.f)
			ev.norm[u.f] = m + u.k*(ev.norm[u.f]-m)
		}
		add(s)
	}
	// A bounded score squeezed into a narrow band.
	for i, k := range []float64{0.3, 0.2, 0.4}[:pick(3)] {
		s := feature("score_compression", fScore, "score_compression")
		s.Onset, s.Params = onset(i), fmt.Sprintf("spread×%g", k)
		kk := k
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.norm[fScore] = 0.62 + kk*(ev.norm[fScore]-0.62) }
		add(s)
	}
	// A min-max feature beyond the range its scaler saw.
	for i, p := range []float64{0.6, 0.2, 0.9}[:pick(3)] {
		s := feature("beyond_training_range", fSession, "range_violation")
		s.Onset, s.Params = onset(i+1), fmt.Sprintf("%g above max, < 1.01", p)
		pp := p
		s.apply = func(_ *world, r *rand.Rand, ev *event) {
			if r.Float64() < pp {
				ev.norm[fSession] = 1 + 0.009*r.Float64()
			}
		}
		add(s)
	}
	// Sentinel values for "unknown".
	for i, t := range []struct {
		f        string
		sentinel float64
		p        float64
	}{{fAge, -1, 0.04}, {fLatency, -999, 0.03}, {fTemp, 9999, 0.08}}[:pick(3)] {
		s := feature("sentinel", t.f, "range_violation")
		s.Onset, s.Params = onset(i), fmt.Sprintf("%s=%g for %g", t.f, t.sentinel, t.p)
		u := t
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < u.p {
				v := u.sentinel
				if sc, ok := w.scalers[u.f]; ok {
					v = sc.apply(v)
				}
				ev.norm[u.f] = v
			}
		}
		add(s)
	}
	// A new shape nothing affine explains.
	for i, w8 := range []float64{0.5, 0.3}[:pick(2)] {
		s := feature("distribution_change", fScore, "distribution_change")
		s.Onset, s.Params = onset(i+1), fmt.Sprintf("bimodal %g", w8)
		ww := w8
		s.apply = func(_ *world, r *rand.Rand, ev *event) {
			if r.Float64() < ww {
				ev.norm[fScore] = math.Min(1, math.Max(0, 0.25+0.05*r.NormFloat64()))
			} else {
				ev.norm[fScore] = math.Min(1, math.Max(0, 0.85+0.05*r.NormFloat64()))
			}
		}
		add(s)
	}
	// Missing values: null, and the key gone (a rename upstream).
	for i, p := range []float64{0.3, 1, 0.12}[:pick(3)] {
		s := feature("missing_null", fClicks, "missing_spike")
		s.Onset, s.Params = onset(i), fmt.Sprintf("null %g", p)
		pp := p
		s.apply = func(_ *world, r *rand.Rand, ev *event) {
			if r.Float64() < pp {
				ev.null[fClicks] = true
			}
		}
		add(s)
	}
	for i, f := range []string{fAmount, fTemp}[:pick(2)] {
		s := feature("missing_absent", f, "missing_spike")
		s.Onset, s.Params, s.Pairs = onset(i), f+" key absent", f == fAmount
		ff := f
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.absent[ff] = true }
		add(s)
	}
	{
		s := embedding("missing_absent", "missing_spike")
		s.Onset, s.Params = mid, "embedding key absent"
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.noVec = true }
		add(s)
	}
	// Part of the traffic through another transform.
	for i, t := range []struct {
		p     float64
		pairs bool
	}{{0.1, true}, {0.2, false}, {0.05, true}, {0.4, false}, {0.1, false}, {0.3, true}}[:pick(6)] {
		s := feature("partial_skip", fAmount, "unscaled_input")
		s.Pairs, s.Share, s.Onset, s.Params = t.pairs, t.p, onset(i), fmt.Sprintf("share %g pairs=%v", t.p, t.pairs)
		pp := t.p
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < pp {
				ev.norm[fAmount] = rawOf(w, fAmount, ev.norm[fAmount])
			}
		}
		add(s)
	}
	for i, t := range []struct {
		f     string
		p     float64
		pairs bool
	}{{fAge, 0.25, false}, {fAmount, 0.15, true}, {fAge, 0.5, true}}[:pick(3)] {
		s := feature("partial_double", t.f, "double_scaled")
		s.Pairs, s.Share, s.Onset, s.Params = t.pairs, t.p, onset(i+1), fmt.Sprintf("%s share %g pairs=%v", t.f, t.p, t.pairs)
		u := t
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < u.p {
				ev.norm[u.f] = w.scalers[u.f].apply(ev.norm[u.f])
			}
		}
		add(s)
	}
	for i, t := range []struct {
		p, k  float64
		pairs bool
	}{{0.2, 100, true}, {0.3, 100, false}, {0.1, 1000, true}}[:pick(3)] {
		s := feature("partial_unit", fAmount, "scale_change")
		s.Pairs, s.Share, s.Onset, s.Params = t.pairs, t.p, onset(i), fmt.Sprintf("share %g ×%g pairs=%v", t.p, t.k, t.pairs)
		u := t
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < u.p {
				raw := rawOf(w, fAmount, ev.norm[fAmount])
				ev.norm[fAmount] = w.scalers[fAmount].apply(raw * u.k)
			}
		}
		add(s)
	}
	for i, p := range []float64{0.3, 0.15}[:pick(2)] {
		s := feature("partial_refit", fAmount, "scaler_refit")
		s.Pairs, s.Share, s.Onset, s.Params = true, p, onset(i+1), fmt.Sprintf("share %g stale scaler", p)
		pp := p
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < pp {
				sc := w.scalers[fAmount]
				raw := rawOf(w, fAmount, ev.norm[fAmount])
				ev.norm[fAmount] = (raw - 0.6*sc.center) / (1.5 * sc.spread)
			}
		}
		add(s)
	}
	// Embeddings.
	{
		s := embedding("embedding_unnormalized", "embedding_unnormalized")
		s.Onset, s.Params = 0, "all raw"
		s.apply = func(w *world, r *rand.Rand, ev *event) { ev.vec = w.vector(r, 1, false, nil) }
		add(s)
	}
	for i, p := range []float64{0.3, 0.1, 0.6}[:pick(3)] {
		s := embedding("embedding_mixed_norms", "embedding_mixed_norms")
		s.Share, s.Onset, s.Params = p, onset(i+1), fmt.Sprintf("share %g raw", p)
		pp := p
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() < pp {
				ev.vec = w.vector(r, 1, false, nil)
			}
		}
		add(s)
	}
	for i, seed := range []uint64{99, 98}[:pick(2)] {
		s := embedding("embedding_model_change", "embedding_model_change")
		s.Onset, s.Params = onset(i), "new direction"
		other := direction(seed)
		s.apply = func(w *world, r *rand.Rand, ev *event) { ev.vec = w.vector(r, 1, true, other) }
		add(s)
	}
	{
		s := embedding("embedding_dim_mismatch", "embedding_dim_mismatch")
		s.Onset, s.Params = mid, "32 → 24 dimensions"
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.vec = ev.vec[:24] }
		add(s)
	}
	{
		s := embedding("embedding_nonfinite", "nonfinite_values")
		s.Onset, s.Params, s.B64 = 0, "2% NaN components", true
		s.apply = func(_ *world, r *rand.Rand, ev *event) {
			if r.Float64() < 0.02 {
				ev.vec[3] = float32(math.NaN())
			}
		}
		add(s)
	}
	// Clean controls, with every encoding.
	for i := range pick(8) + 2 {
		s := Scenario{Fault: "clean", Params: "seed " + strconv.Itoa(i), Pairs: i%2 == 0}
		add(s)
	}
	for _, s := range signalScenarios(size, pick) {
		add(s)
	}
	for _, s := range outcomeScenarios(size, pick) {
		add(s)
	}
	// Added after the rest, so that the scenarios above keep their IDs and
	// seeds. A unit change after the scaler: the normalized values
	// rescaled (with pairs the line through them is the scaler's times
	// the factor, not a re-fit).
	for i, t := range []struct {
		f     string
		k     float64
		pairs bool
	}{{fAmount, 10, true}, {fSession, 100, false}, {fAmount, 0.001, false}, {fAge, 1.609, true}}[:pick(4)] {
		s := feature("unit_after_scaler", t.f, "scale_change")
		s.Pairs, s.Onset, s.Params = t.pairs, onset(i+1), fmt.Sprintf("%s ×%g pairs=%v", t.f, t.k, t.pairs)
		u := t
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.norm[u.f] *= u.k }
		add(s)
	}
	// The other unit factors: time, length, mass, before a declared
	// scaler and on features without one. (Seconds into a min-max scaler
	// fitted on up to an hour as hours is the scaler applied twice: the
	// same transform, so not among them.)
	for i, t := range []struct {
		f      string
		k      float64
		before bool
	}{{fSession, 1.0 / 60, true}, {fLatency, 1.609, false}, {fAge, 1 / 2.54, true}, {fTemp, 2.54, false},
		{fAmount, 0.4536, true}, {fLatency, 1.0 / 86400, false}}[:pick(6)] {
		s := feature("unit_factor", t.f, "scale_change")
		s.Onset, s.Params = onset(i), fmt.Sprintf("%s ×%.4g before=%v", t.f, t.k, t.before)
		u := t
		s.apply = func(w *world, _ *rand.Rand, ev *event) {
			if u.before {
				ev.norm[u.f] = w.scalers[u.f].apply(rawOf(w, u.f, ev.norm[u.f]) * u.k)
				return
			}
			ev.norm[u.f] *= u.k
		}
		add(s)
	}
	// Small shares, down to 5% of the smallest windows: skipped, doubled,
	// in another unit before and after the scaler.
	for i, t := range []struct {
		f, how string
		p      float64
		pairs  bool
	}{{fAmount, "skip", 0.05, false}, {fAge, "double", 0.05, true}, {fAmount, "cents", 0.05, true},
		{fAmount, "after×10", 0.08, false}, {fSession, "skip", 0.05, false}, {fAmount, "skip", 0.07, true}}[:pick(6)] {
		expect := map[string]string{"skip": "unscaled_input", "double": "double_scaled", "cents": "scale_change", "after×10": "scale_change"}[t.how]
		s := feature("small_share", t.f, expect)
		s.Pairs, s.Share, s.Onset, s.Events = t.pairs, t.p, onset(i+1), 400
		s.Params = fmt.Sprintf("%s %s share %g pairs=%v", t.f, t.how, t.p, t.pairs)
		u := t
		s.apply = func(w *world, r *rand.Rand, ev *event) {
			if r.Float64() >= u.p {
				return
			}
			sc := w.scalers[u.f]
			switch u.how {
			case "skip":
				ev.norm[u.f] = rawOf(w, u.f, ev.norm[u.f])
			case "double":
				ev.norm[u.f] = sc.apply(ev.norm[u.f])
			case "cents":
				ev.norm[u.f] = sc.apply(rawOf(w, u.f, ev.norm[u.f]) * 100)
			case "after×10":
				ev.norm[u.f] *= 10
			}
		}
		add(s)
	}
	return out
}

// rawOf recovers the raw value of a declared feature from its normalized one.
func rawOf(w *world, f string, norm float64) float64 {
	s := w.scalers[f]
	return norm*s.spread + s.center
}

// meanOf and stdOf are the training moments of a feature in the unit its
// events carry (normalized when it has a scaler).
func meanOf(w *world, f string) float64 {
	if _, ok := w.scalers[f]; ok {
		return 0
	}
	return map[string]float64{fScore: 0.62, fLatency: math.Exp(5 + 0.45*0.45/2), fTemp: 20}[f]
}

func stdOf(w *world, f string) float64 {
	if s, ok := w.scalers[f]; ok {
		if s.kind == "zscore" {
			return 1
		}
		return 1 / s.spread
	}
	switch f {
	case fScore:
		return 0.13
	case fLatency:
		m := math.Exp(5 + 0.45*0.45/2)
		return m * math.Sqrt(math.Exp(0.45*0.45)-1)
	case fTemp:
		return 6
	}
	return 1
}
