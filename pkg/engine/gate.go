package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
)

// DefaultGateMinWindows is how many windows a candidate is compared with
// the live version before the gate answers clear or warning.
const DefaultGateMinWindows = 3

// Candidate declares a model version a candidate: held behind a shadow
// route, compared with the live version of its model on the same
// traffic. Live names that version; empty takes the version of the model
// with the most events in the candidate's horizon that is not a
// candidate itself.
type Candidate struct {
	Model, Version, Live string
}

// GateOptions configures candidates and the gate's answer. A version is
// a candidate when Candidates names it, or when its events are marked
// (stream.Event.Candidate, from a route header).
type GateOptions struct {
	Candidates []Candidate
	// MinWindows is how many windows of the candidate compared with live
	// it takes to answer clear or warning; before, the answer is pending.
	// A window that blocks blocks at once.
	MinWindows int
	// JoinBuffer is how many events of one model, per partition, wait
	// for the other side of their request id (pairs.go); JoinWait how
	// long, in event time. Zero takes DefaultJoinBuffer, DefaultJoinWait.
	JoinBuffer int
	JoinWait   time.Duration
}

func (o GateOptions) validate() error {
	if o.MinWindows < 1 || o.MinWindows > 10_000 {
		return fmt.Errorf("engine: Gate.MinWindows %d out of range [1, 10000]", o.MinWindows)
	}
	seen := map[[2]string]bool{}
	for i, c := range o.Candidates {
		switch {
		case c.Model == "" || c.Version == "":
			return fmt.Errorf("engine: Gate.Candidates[%d]: model and version are required", i)
		case c.Live == c.Version:
			return fmt.Errorf("engine: Gate.Candidates[%d]: live %q is the candidate itself", i, c.Live)
		case seen[[2]string{c.Model, c.Version}]:
			return fmt.Errorf("engine: Gate.Candidates[%d]: %s %s is declared twice", i, c.Model, c.Version)
		}
		seen[[2]string{c.Model, c.Version}] = true
	}
	return o.validateJoin()
}

// Gate states (*stable*, the answer of `monitor gate` and /api/v1/gate).
const (
	GateClear   = "clear"
	GateWarning = "warning"
	GateBlocked = "blocked"
	// GatePending: not enough evidence yet (too few windows compared, no
	// live traffic in them, too few values of a subject, or the
	// candidate stale). Never read as clear.
	GatePending = "pending"
)

// GateCode is the exit status of `monitor gate` and the value of the
// normwatch_candidate_gate metric for a state.
func GateCode(state string) int {
	switch state {
	case GateClear:
		return 0
	case GateWarning:
		return 1
	case GateBlocked:
		return 2
	}
	return 3
}

// ErrNotCandidate is returned by Gate for a model version that is not a
// candidate (neither declared nor marked by its events).
var ErrNotCandidate = errors.New("not a candidate")

// LiveComparison is a candidate's horizon judged against the live
// version's windows of the same starts: the reference is the live
// version's sketches, the declared normalizations the candidate's
// baseline's (else the live version's), and the sentences name the two
// sides ("candidate ≈ 0.5 × live").
type LiveComparison struct {
	Version string `json:"live_version"`
	// Selected tells how the live version was chosen: "configured", or
	// "most_traffic" (the version of the model with the most events in
	// the horizon that is not a candidate).
	Selected string `json:"selected"`
	// WindowsInHorizon is how many of the horizon's windows both versions
	// had events in: the windows compared.
	WindowsInHorizon int          `json:"windows_in_horizon"`
	Events           uint64       `json:"events"`      // the candidate's, in those windows
	LiveEvents       uint64       `json:"live_events"` // the live version's, in those windows
	Report           drift.Report `json:"report"`
}

// GateReason is one reason of a gate's answer: a subject that warns or
// blocks, with its sentence, or why the evidence is not enough yet.
type GateReason struct {
	// Against is "live" (the comparison with the live version),
	// "baseline" (with the candidate's own baseline, or its fallback) or
	// "evidence" (why the answer is pending).
	Against   string          `json:"against"`
	Feature   string          `json:"feature,omitempty"`
	Embedding string          `json:"embedding,omitempty"`
	Diagnosis drift.Diagnosis `json:"diagnosis,omitempty"`
	Severity  drift.Severity  `json:"severity"`
	Sentence  string          `json:"sentence"`
}

// GateAnswer is the gate's answer for a candidate.
type GateAnswer struct {
	Model   string `json:"model"`
	Version string `json:"model_version"`
	State   string `json:"state"`
	Code    int    `json:"code"` // GateCode(State)
	// Live is the live version the last window was compared with, and
	// how it was chosen; empty while none had events.
	Live         string `json:"live_version"`
	LiveSelected string `json:"live_selected,omitempty"`
	// WindowsCompared counts the candidate's windows judged against Live
	// since the candidate's first (or since Live last changed, or the
	// daemon started); MinWindows is what clear and warning take.
	WindowsCompared int          `json:"windows_compared"`
	MinWindows      int          `json:"min_windows"`
	Reasons         []GateReason `json:"reasons"`
	// The last window compared (zero before any, and then left out of
	// the JSON rather than shown as 0001-01-01T00:00:00Z).
	FirstWindow time.Time `json:"first_window,omitzero"`
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	EvaluatedAt time.Time `json:"evaluated_at,omitzero"`
	Stale       bool      `json:"stale"`
	// BaselineID is the candidate's own baseline; Fallback what it was
	// compared with without one (see Evaluation).
	BaselineID string `json:"baseline_id"`
	Fallback   string `json:"fallback,omitempty"`
	// Against is the full comparison with live, OwnReport with the
	// baseline: every figure behind the reasons.
	AgainstLive *LiveComparison `json:"against_live,omitempty"`
	// Paired is the candidate's values joined with live's by request id,
	// when events carry one and both sides of a request met (pairs.go).
	Paired    *PairedComparison `json:"paired,omitempty"`
	OwnReport *drift.Report     `json:"against_baseline,omitempty"`
}

// gateState is what the evaluator keeps of a candidate's comparisons.
type gateState struct {
	live    string
	windows int
	first   int64 // start of the first window compared with live
	state   string
}

// markCandidate marks s a candidate, its events being routed as one.
func (e *Engine) markCandidate(s *series) {
	e.candModels.Store(s.model, true)
	if !s.candidate.Swap(true) {
		e.log.Info("model version marked a candidate by its events' route: it is compared with the live version of its model on the same windows",
			"model", s.model, "model_version", s.version)
	}
}

// declared returns the configured candidate of model/version, if any.
func (e *Engine) declared(model, version string) (Candidate, bool) {
	for _, c := range e.opts.Gate.Candidates {
		if c.Model == model && c.Version == version {
			return c, true
		}
	}
	return Candidate{}, false
}

func (e *Engine) isCandidate(s *series) bool {
	if s.candidate.Load() {
		return true
	}
	_, ok := e.declared(s.model, s.version)
	return ok
}

// liveFor returns the live version to compare s's window at start with:
// the configured one, else the version of s's model that is neither a
// candidate nor stale with the most events in the horizon ending at
// start (ties to the later version). Called with mu held.
func (ev *evaluator) liveFor(s *series, start int64) (*vstate, string) {
	if c, ok := ev.e.declared(s.model, s.version); ok && c.Live != "" {
		for o, vs := range ev.vers {
			if o.model == s.model && o.version == c.Live {
				return vs, "configured"
			}
		}
		return nil, ""
	}
	W, H := ev.e.window, int64(ev.e.opts.HorizonWindows)
	var best *vstate
	var bestN uint64
	for o, vs := range ev.vers {
		if o == s || o.model != s.model || o.stale.Load() || ev.e.isCandidate(o) {
			continue
		}
		var n uint64
		for _, ws := range vs.partials {
			for _, w := range ws {
				if w.start <= start && w.start > start-H*W {
					n += w.events
				}
			}
		}
		if n > 0 && (best == nil || n > bestN || (n == bestN && compareVersions(o.version, best.s.version) > 0)) {
			best, bestN = vs, n
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, "most_traffic"
}

// addLive adds to j the live version's windows of j's horizon. Called
// with mu held.
func (ev *evaluator) addLive(j *job, live *vstate, selected string) {
	W, H := ev.e.window, int64(ev.e.opts.HorizonWindows)
	j.live, j.liveSelected = live.s, selected
	for _, ws := range sortedParts(live.partials) {
		for _, w := range ws {
			if w.start <= j.start && w.start > j.start-H*W {
				j.liveWindows = append(j.liveWindows, w)
			}
		}
	}
}

// compareLive judges the candidate's windows of j against the live
// version's of the same starts; nil when they share none. own is the
// candidate's baseline (hasOwn) and cur its whole horizon, merged.
func (ev *evaluator) compareLive(j job, feats, embs []string, own drift.Set, hasOwn bool, cur drift.Set, broken func(*series) func(string, error)) *LiveComparison {
	e := ev.e
	starts := map[int64]bool{}
	var liveEvents uint64
	for _, w := range j.liveWindows {
		starts[w.start] = true
		liveEvents += w.events
	}
	var candW []*window
	var events uint64
	shared := map[int64]bool{}
	for _, w := range j.windows {
		if starts[w.start] {
			candW = append(candW, w)
			events += w.events
			shared[w.start] = true
		}
	}
	if len(candW) == 0 {
		return nil
	}
	var liveW []*window
	liveEvents = 0
	for _, w := range j.liveWindows {
		if shared[w.start] {
			liveW = append(liveW, w)
			liveEvents += w.events
		}
	}
	if len(candW) < len(j.windows) {
		cur = mergeSet(candW, feats, embs, true, broken(j.s))
	}
	lf, le := e.reg.names(j.live)
	ref := mergeSet(liveW, lf, le, false, broken(j.live))
	// The scaler the candidate declares is the one whose skipping (or
	// doubling) the comparison names; else the live version's.
	decl := own
	if !hasOwn {
		decl, _, _ = e.baselines.Lookup(j.live.model, j.live.version)
	}
	for n, f := range ref.Features {
		if d, ok := decl.Features[n]; ok {
			f.Norm = d.Norm
			ref.Features[n] = f
		}
	}
	for n, v := range ref.Embeddings {
		if d, ok := decl.Embeddings[n]; ok {
			v.Norm = d.Norm
			ref.Embeddings[n] = v
		}
	}
	in := drift.Input{Model: j.s.model, Version: j.s.version, Ref: ref, Cur: cur}
	if lim := e.reg.lim; len(feats) < lim.MaxFeatures && len(embs) < lim.MaxEmbeddings {
		in.Cur.Events = events
	}
	ev.mu.Lock()
	if prev, ok := ev.latest[j.s]; ok && prev.Live != nil && prev.Live.Version == j.live.version {
		rep := prev.Live.Report
		in.Previous = &rep
	}
	ev.mu.Unlock()
	rep := drift.Judge(in, drift.Policy{Default: e.opts.Thresholds, Overrides: e.opts.Overrides})
	return &LiveComparison{
		Version: j.live.version, Selected: j.liveSelected, WindowsInHorizon: len(shared),
		Events: events, LiveEvents: liveEvents, Report: drift.AgainstLive(rep),
	}
}

// noteGate counts out's comparison with live and logs a change of the
// gate's state. Called with mu held, out being s's latest evaluation.
func (ev *evaluator) noteGate(s *series, out *Evaluation) {
	if !ev.e.isCandidate(s) {
		return
	}
	g := ev.gates[s]
	if g == nil {
		g = &gateState{first: math.MinInt64}
		ev.gates[s] = g
	}
	if out.Live != nil {
		if g.live != out.Live.Version {
			g.live, g.windows, g.first = out.Live.Version, 0, out.WindowStart.UnixNano()
		}
		g.windows++
	}
	a := ev.answerLocked(s, g)
	if a.State != g.state {
		reason := ""
		if len(a.Reasons) > 0 {
			reason = a.Reasons[0].Sentence
		}
		ev.e.log.Info("candidate gate", "model", s.model, "model_version", s.version, "live_version", a.Live,
			"state", a.State, "was", cmp.Or(g.state, "none"), "windows_compared", a.WindowsCompared, "reason", reason)
		g.state = a.State
	}
}

// Gate answers for the candidate model/version: clear, warning, blocked
// or pending, with the reasons. It returns an error wrapping
// ErrNotCandidate for a version that is not a candidate, naming the
// candidates there are.
func (e *Engine) Gate(model, version string) (GateAnswer, error) {
	s := e.reg.lookup(model, version)
	_, declared := e.declared(model, version)
	if s == nil || !e.isCandidate(s) {
		if declared {
			return GateAnswer{Model: model, Version: version, State: GatePending, Code: GateCode(GatePending),
				MinWindows: e.opts.Gate.MinWindows, Reasons: []GateReason{{Against: "evidence",
					Sentence: fmt.Sprintf("%s %s is a declared candidate with no events yet", model, version)}}}, nil
		}
		var names []string
		for _, c := range e.candidates() {
			names = append(names, c[0]+" "+c[1])
		}
		known := "there are none"
		if len(names) > 0 {
			known = "the candidates are " + strings.Join(names, ", ")
		}
		what := "no events, and not declared under gate.candidates"
		if s != nil {
			what = "tracked, but neither declared under gate.candidates nor marked by its events' route header (gate.route_header)"
		}
		return GateAnswer{}, fmt.Errorf("model %q version %q is %w: %s; %s", model, version, ErrNotCandidate, what, known)
	}
	e.ev.mu.Lock()
	defer e.ev.mu.Unlock()
	g := e.ev.gates[s]
	if g == nil {
		g = &gateState{first: math.MinInt64}
	}
	return e.ev.answerLocked(s, g), nil
}

// Gates returns the answers for every candidate, declared or marked,
// sorted by model and version.
func (e *Engine) Gates() []GateAnswer {
	var out []GateAnswer
	for _, c := range e.candidates() {
		if a, err := e.Gate(c[0], c[1]); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// candidates returns the model and version of every candidate, declared
// or tracked and marked, sorted.
func (e *Engine) candidates() [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	add := func(model, version string) {
		if k := [2]string{model, version}; !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, c := range e.opts.Gate.Candidates {
		add(c.Model, c.Version)
	}
	for _, s := range e.reg.list(false) {
		if x := e.reg.lookup(s.Model, s.Version); x != nil && x.candidate.Load() {
			add(s.Model, s.Version)
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return compareVersions(a[1], b[1])
	})
	return out
}

// answerLocked decides s's answer from its latest evaluation: blocked
// when either comparison (with live, with its own baseline) has a
// critical subject, at once; otherwise pending until MinWindows windows
// were compared with live and every subject had the values to judge;
// then warning or clear. A stale candidate is pending unless blocked.
// Called with mu held.
func (ev *evaluator) answerLocked(s *series, g *gateState) GateAnswer {
	need := ev.e.opts.Gate.MinWindows
	a := GateAnswer{Model: s.model, Version: s.version, MinWindows: need, Live: g.live, WindowsCompared: g.windows, Stale: s.stale.Load()}
	if g.first != math.MinInt64 {
		a.FirstWindow = time.Unix(0, g.first).UTC()
	}
	evidence := func(format string, args ...any) {
		a.Reasons = append(a.Reasons, GateReason{Against: "evidence", Sentence: fmt.Sprintf(format, args...)})
	}
	out, ok := ev.latest[s]
	if !ok {
		a.State, a.Code = GatePending, GateCode(GatePending)
		evidence("%s %s has no window judged yet", s.model, s.version)
		return a
	}
	a.WindowStart, a.WindowEnd, a.EvaluatedAt = out.WindowStart, out.WindowEnd, out.EvaluatedAt
	a.BaselineID, a.Fallback = out.BaselineID, out.Fallback
	own := out.Report
	a.OwnReport = &own
	worst := drift.SeverityOK
	var insufficient []string
	collect := func(against, model, version string, r drift.Report) {
		for _, f := range r.Features {
			if f.Severity > drift.SeverityOK {
				a.Reasons = append(a.Reasons, GateReason{Against: against, Feature: f.Name, Diagnosis: f.Diagnosis, Severity: f.Severity,
					Sentence: drift.Sentence(drift.Subject(f.Name, model, version), f.Summary)})
				worst = max(worst, f.Severity)
			} else if against == "live" && !f.Muted && f.Diagnosis == drift.InsufficientData {
				insufficient = append(insufficient, drift.Sentence(drift.Subject(f.Name, model, version), f.Summary))
			}
		}
		for _, e := range r.Embeddings {
			if e.Severity > drift.SeverityOK {
				a.Reasons = append(a.Reasons, GateReason{Against: against, Embedding: e.Name, Diagnosis: e.Diagnosis, Severity: e.Severity,
					Sentence: drift.Sentence(drift.Subject(e.Name, model, version), e.Summary)})
				worst = max(worst, e.Severity)
			} else if against == "live" && !e.Muted && e.Diagnosis == drift.InsufficientData {
				insufficient = append(insufficient, drift.Sentence(drift.Subject(e.Name, model, version), e.Summary))
			}
		}
	}
	if out.Live != nil {
		a.AgainstLive = out.Live
		a.LiveSelected = out.Live.Selected
		collect("live", s.model, s.version+" against live "+out.Live.Version, out.Live.Report)
		if pc := ev.e.paired(s, out.Live.Version, out.WindowStart.UnixNano()); pc != nil {
			a.Paired = pc
			worst = max(worst, pairedReasons(&a, pc, s.model, s.version))
		}
	}
	collect("baseline", s.model, s.version, own)
	// The most severe first, comparisons with live before the baseline's.
	slices.SortStableFunc(a.Reasons, func(x, y GateReason) int { return cmp.Compare(y.Severity, x.Severity) })
	switch {
	case worst == drift.Critical:
		a.State = GateBlocked
	case a.Stale:
		a.State = GatePending
		evidence("%s %s has had no events since %s: its last answer is old evidence", s.model, s.version, s.lastEventTime().Format(time.RFC3339))
	case out.Live == nil:
		a.State = GatePending
		if g.live == "" {
			evidence("no live version of %s (one that is not a candidate) had events in the windows of %s %s", s.model, s.model, s.version)
		} else {
			evidence("live %s had no events in the newest windows of %s %s", g.live, s.model, s.version)
		}
	case g.windows < need:
		a.State = GatePending
		evidence("%d of %d windows compared with live %s so far", g.windows, need, g.live)
	case len(insufficient) > 0:
		a.State = GatePending
		for _, s := range insufficient {
			evidence("%s", s)
		}
	case worst == drift.Warning:
		a.State = GateWarning
	default:
		a.State = GateClear
	}
	a.Code = GateCode(a.State)
	if a.Reasons == nil {
		a.Reasons = []GateReason{}
	}
	return a
}
