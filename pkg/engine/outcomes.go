package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Outcome curves: a window keeps, per configured outcome
// (Options.Outcomes, by position), the moments of the values its events
// carried; an evaluation compares the horizon's with the same windows of
// the model's previous version (the one first seen before it) and of its
// live one, when those differ: for a candidate the gate's live version
// (gate.go), else, of the versions first seen before it that are neither
// candidates nor stale, the one with the most events there.
//
// An event that carries outcomes and nothing else (the usual shape of a
// label that arrives after the request) does not count as an event of its
// window: the features it lacks are not missing values. It goes to the
// window of its own time like any event: stamped with the request's time
// it joins the request's window while that is open (window.allowed_lateness)
// and the cumulative view after; stamped with the time the outcome was
// measured, it joins the window open then.

// Reasons an outcome value is skipped (label reason of
// normwatch_outcome_values_skipped_total), stable.
const (
	OutcomeSkipUnconfigured = "unconfigured" // a name not under outcomes
	OutcomeSkipNotBinary    = "not_0_or_1"   // a rate outcome's value other than 0 and 1
)

func newOutcomeSkipped() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "outcome_values_skipped_total",
		Help: "Outcome values of events not tracked: a name not configured under outcomes, or a rate outcome's value other than 0 and 1.",
	}, []string{labelReason})
}

// outcomeIndex returns the position of the configured outcome name, or -1.
func (e *Engine) outcomeIndex(name string) int {
	for i := range e.opts.Outcomes {
		if e.opts.Outcomes[i].Name == name {
			return i
		}
	}
	return -1
}

// onlyOutcomes reports whether ev carries outcomes and nothing else.
func onlyOutcomes(ev *stream.Event) bool {
	return len(ev.Outcomes) > 0 && len(ev.Features) == 0 && len(ev.Raw) == 0 &&
		len(ev.Embeddings) == 0 && !ev.Retrieval.Present
}

// addOutcomes applies ev's outcomes to w.
func (p *partition) addOutcomes(w *window, ev *stream.Event) {
	for i := range ev.Outcomes {
		o := &ev.Outcomes[i]
		if o.Missing {
			continue
		}
		k := p.e.outcomeIndex(o.Name)
		if k < 0 {
			p.e.m.outcomeSkipped.WithLabelValues(OutcomeSkipUnconfigured).Inc()
			continue
		}
		if p.e.opts.Outcomes[k].Kind == drift.OutcomeRate && o.Value != 0 && o.Value != 1 {
			p.e.m.outcomeSkipped.WithLabelValues(OutcomeSkipNotBinary).Inc()
			continue
		}
		if len(w.out) < len(p.e.opts.Outcomes) {
			w.out = append(w.out, make([]sketch.Moments, len(p.e.opts.Outcomes)-len(w.out))...)
		}
		w.out[k].Merge(sketch.Moments{N: 1, Mean: o.Value})
	}
}

// mergeOutcomes merges w's outcome moments into out's.
func mergeOutcomes(out, w *window) {
	if len(out.out) < len(w.out) {
		out.out = append(out.out, make([]sketch.Moments, len(w.out)-len(out.out))...)
	}
	for i := range w.out {
		out.out[i].Merge(w.out[i])
	}
}

// validOutcomes checks Options.Outcomes.
func validOutcomes(specs []drift.OutcomeSpec) error {
	seen := map[string]bool{}
	for i, s := range specs {
		switch {
		case s.Name == "" || seen[s.Name]:
			return fmt.Errorf("engine: Outcomes[%d]: name %q empty or given twice", i, s.Name)
		case s.Kind != drift.OutcomeRate && s.Kind != drift.OutcomeMean:
			return fmt.Errorf("engine: Outcomes[%d] (%s): kind %q is neither %q nor %q", i, s.Name, s.Kind, drift.OutcomeRate, drift.OutcomeMean)
		case !(s.MaxDeltaPoints > 0) || math.IsInf(s.MaxDeltaPoints, 0):
			return fmt.Errorf("engine: Outcomes[%d] (%s): MaxDeltaPoints %v is not a positive number", i, s.Name, s.MaxDeltaPoints)
		case !(s.Alpha > 0 && s.Alpha < 0.5):
			return fmt.Errorf("engine: Outcomes[%d] (%s): Alpha %v out of range (0, 0.5)", i, s.Name, s.Alpha)
		case s.MinSamples < 2:
			return fmt.Errorf("engine: Outcomes[%d] (%s): MinSamples %d below 2", i, s.Name, s.MinSamples)
		}
		seen[s.Name] = true
	}
	for i, s := range specs {
		if s.FallsWith != "" && (s.FallsWith == s.Name || !seen[s.FallsWith]) {
			return fmt.Errorf("engine: Outcomes[%d] (%s): FallsWith %q is not another configured outcome", i, s.Name, s.FallsWith)
		}
	}
	return nil
}

// noteFirst lowers s's first event time to ts (unix ns; 0 is none).
func (s *series) noteFirst(ts int64) {
	if ts == 0 {
		return
	}
	for {
		f := s.firstEvent.Load()
		if (f != 0 && f <= ts) || s.firstEvent.CompareAndSwap(f, ts) {
			return
		}
	}
}

// peer is another version of a job's model, with what the evaluator held
// of it when the job was made: its closed windows in the job's horizon
// and its cumulative snapshots.
type peer struct {
	s       *series
	windows []*window
	cums    []*window
}

// peersOf returns the versions of s's model other than s, with their
// windows in the horizon (start-H·W, start]. Called with ev.mu held.
func (ev *evaluator) peersOf(s *series, start int64) []peer {
	if len(ev.e.opts.Outcomes) == 0 {
		return nil
	}
	W, H := ev.e.window, int64(ev.e.opts.HorizonWindows)
	var out []peer
	for o, vs := range ev.vers {
		if o == s || o.model != s.model {
			continue
		}
		p := peer{s: o, cums: sortedParts(vs.cum)}
		for _, ws := range sortedParts(vs.partials) {
			for _, w := range ws {
				if w.start <= start && w.start > start-H*W {
					p.windows = append(p.windows, w)
				}
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b peer) int { return cmp.Compare(a.s.id, b.s.id) })
	return out
}

// seenBefore orders versions by first event time, then by version order,
// so that the previous version is well defined on replays.
func seenBefore(a, b *series) bool {
	fa, fb := a.firstEvent.Load(), b.firstEvent.Load()
	if fa == 0 || fb == 0 {
		return fa != 0 // a version with no timed event yet comes last
	}
	if fa != fb {
		return fa < fb
	}
	return compareVersions(a.version, b.version) < 0
}

func sumOutcomes(ws []*window, n int) ([]sketch.Moments, uint64) {
	acc := &window{out: make([]sketch.Moments, n)}
	var events uint64
	for _, w := range ws {
		mergeOutcomes(acc, w)
		events += w.events
	}
	return acc.out[:n], events
}

// judgeOutcomes compares the job's outcomes with its previous and live
// versions'. The reference is the peer's same windows when they hold
// enough values, else its cumulative view (it had stopped: a rollout
// that moved all traffic compares with what the old version did).
func (e *Engine) judgeOutcomes(j job) []drift.OutcomeReport {
	specs := e.opts.Outcomes
	if len(specs) == 0 {
		return nil
	}
	cur, _ := sumOutcomes(j.windows, len(specs))
	var prev, live *peer
	var liveEvents uint64
	for i := range j.peers {
		p := &j.peers[i]
		if !seenBefore(p.s, j.s) {
			continue
		}
		if prev == nil || seenBefore(prev.s, p.s) {
			prev = p
		}
		if p.s.stale.Load() || e.isCandidate(p.s) {
			continue
		}
		if _, n := sumOutcomes(p.windows, 0); live == nil || n > liveEvents {
			live, liveEvents = p, n
		}
	}
	if j.live != nil {
		// A candidate's live version is the gate's (gate.go).
		for i := range j.peers {
			if j.peers[i].s == j.live {
				live = &j.peers[i]
			}
		}
	}
	var reps []drift.OutcomeReport
	for _, ref := range []struct {
		p       *peer
		against string
	}{{prev, drift.VersusPrevious}, {live, drift.VersusLive}} {
		if ref.p == nil || (ref.against == drift.VersusLive && ref.p == prev) {
			continue
		}
		inHorizon, _ := sumOutcomes(ref.p.windows, len(specs))
		cum, _ := sumOutcomes(ref.p.cums, len(specs))
		for k, spec := range specs {
			if cur[k].N == 0 {
				continue
			}
			r := inHorizon[k]
			if r.N < float64(spec.MinSamples) {
				r = cum[k]
			}
			reps = append(reps, drift.CompareOutcome(spec, cur[k], r, ref.against, ref.p.s.version))
		}
	}
	if prev == nil {
		// The first version of its model: its curves alone, for the
		// dashboards; nothing to compare with.
		for k, spec := range specs {
			if cur[k].N > 0 {
				reps = append(reps, drift.OutcomeReport{Name: spec.Name, Kind: spec.Kind, Samples: uint64(cur[k].N),
					Mean: cur[k].Mean, StdDev: cur[k].StdDev(), Diagnosis: drift.InsufficientData, PValue: 1,
					Summary: "no earlier version of the model to compare with"})
			}
		}
	}
	drift.FallTogether(specs, reps)
	return reps
}

// Checkpoint form of the outcomes (checkpoint version 6), after a
// version's horizon windows: the version's first event time, the outcome
// names (their order numbers the moments), then for each of the
// version's windows in the order they were written (open, late,
// cumulative, horizon) a count and per outcome its local index and
// moments (N, mean, M2, M3, M4 as float64 bits).

func (p *partition) encodeOutcomes(w *ckWriter, pv *pver) {
	p.e.encodeOutcomeNames(w, pv.s)
	put := func(win *window) { encodeWindowOutcomes(w, win) }
	for _, win := range pv.open {
		put(win)
	}
	for _, win := range []*window{pv.late, pv.cum} {
		if win != nil {
			put(win)
		}
	}
	for _, win := range pv.horizon {
		put(win)
	}
}

// encodeOutcomeNames writes s's first event time and the configured
// outcomes' names, which number the windows' moments.
func (e *Engine) encodeOutcomeNames(w *ckWriter, s *series) {
	w.i(s.firstEvent.Load())
	w.u(uint64(len(e.opts.Outcomes)))
	for _, spec := range e.opts.Outcomes {
		w.s(spec.Name)
	}
}

// encodeWindowOutcomes writes win's outcomes with values: a count, then
// each's index and moments.
func encodeWindowOutcomes(w *ckWriter, win *window) {
	w.u(uint64(valued(win.out)))
	for k, m := range win.out {
		if m.N == 0 {
			continue
		}
		w.u(uint64(k))
		w.b = appendMoments(w.b, m)
	}
}

// valued counts the moments of out that hold values.
func valued(out []sketch.Moments) int {
	n := 0
	for _, m := range out {
		if m.N > 0 {
			n++
		}
	}
	return n
}

// appendMoments appends m's N, mean, M2, M3 and M4 as float64 bits.
func appendMoments(b []byte, m sketch.Moments) []byte {
	for _, x := range []float64{m.N, m.Mean, m.M2, m.M3, m.M4} {
		b = binaryAppendFloat(b, x)
	}
	return b
}

// readMoments reads what appendMoments wrote.
func readMoments(r *ckReader) sketch.Moments {
	return sketch.Moments{N: r.f64("n"), Mean: r.f64("mean"), M2: r.f64("m2"), M3: r.f64("m3"), M4: r.f64("m4")}
}

func binaryAppendFloat(b []byte, x float64) []byte {
	u := math.Float64bits(x)
	return append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24), byte(u>>32), byte(u>>40), byte(u>>48), byte(u>>56))
}

func (r *ckReader) f64(what string) float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("bad %s", what)
		return 0
	}
	b := r.b
	u := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	r.b = r.b[8:]
	return math.Float64frombits(u)
}

func decodeOutcomes(r *ckReader, cv *ckVersion) {
	decodeOutcomeNames(r, cv)
	wins := append(append([]*ckWindow{}, cv.open...), cv.late, cv.cum)
	wins = append(wins, cv.horizon...)
	for _, w := range wins {
		if w != nil {
			decodeWindowOutcomes(r, cv, w)
		}
	}
}

// decodeOutcomeNames reads what encodeOutcomeNames wrote into cv.
func decodeOutcomeNames(r *ckReader, cv *ckVersion) {
	cv.firstEvent = r.i("first event")
	n := r.count("outcomes", 1)
	for range n {
		cv.outcomes = append(cv.outcomes, r.s("outcome"))
	}
}

// decodeWindowOutcomes reads what encodeWindowOutcomes wrote into w, by
// cv's outcome names; moments that no code of ours writes are reported
// in cv.broken and left out.
func decodeWindowOutcomes(r *ckReader, cv *ckVersion, w *ckWindow) {
	m := r.count("window outcomes", 41)
	for range m {
		k := r.u("outcome index")
		if r.err == nil && k >= uint64(len(cv.outcomes)) {
			r.fail("outcome index %d out of %d", k, len(cv.outcomes))
		}
		x := readMoments(r)
		if r.err != nil {
			return
		}
		if !(x.N > 0) || math.IsNaN(x.Mean) || math.IsInf(x.Mean, 0) || x.M2 < 0 {
			cv.broken = append(cv.broken, ckBroken{cv.outcomes[k], fmt.Errorf("outcome moments n %v mean %v m2 %v", x.N, x.Mean, x.M2)})
			continue
		}
		if w.out == nil {
			w.out = map[uint64]sketch.Moments{}
		}
		w.out[k] = x
	}
}

// restoreOutcomes moves cw's outcome moments into w by this process's
// configured outcomes; an outcome no longer configured is left out.
func (e *Engine) restoreOutcomes(cw *ckWindow, w *window, names []string) {
	for k, m := range cw.out {
		i := e.outcomeIndex(names[k])
		if i < 0 {
			continue
		}
		if len(w.out) < len(e.opts.Outcomes) {
			w.out = append(w.out, make([]sketch.Moments, len(e.opts.Outcomes)-len(w.out))...)
		}
		w.out[i] = m
	}
}
