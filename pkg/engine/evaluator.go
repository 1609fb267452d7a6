package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

type updKind uint8

const (
	updTouch   updKind = iota // the partition holds a new model version
	updClose                  // windows closed (progress, partials, cumulative snapshots)
	updActive                 // an idle partition got an event again
	updRestore                // a partition restored from its checkpoint
	updForget                 // the partition was closed
	updBarrier                // nothing: done is closed once everything before it is evaluated
	updStates                 // a stage partition restored: its versions' StateSink states
)

// partial is a closed window (or a cumulative snapshot) of a series.
type partial struct {
	s *series
	w *window
}

// update is what a partition tells the evaluator. Partitions append
// updates to a queue under a short lock and never wait for the evaluator.
type update struct {
	part      partKey
	kind      updKind
	closedEnd int64
	idle      bool
	touch     []*series
	evaluated []int64 // with updRestore, per touch: end of the last window evaluated
	partials  []partial
	cums      []partial
	done      chan struct{}   // updBarrier
	states    []versionStates // updStates
}

// versionStates are the StateSinks' states of one version, by sink name,
// as a stage checkpoint holds them.
type versionStates struct {
	s      *series
	states map[string][]byte
}

type evaluator struct {
	e *Engine

	qmu   sync.Mutex
	queue []update
	wake  chan struct{}

	// mu guards the state below; the evaluator's goroutine holds it to
	// apply updates and pick evaluations, not while it merges and compares.
	mu     sync.Mutex
	parts  map[partKey]*partState
	vers   map[*series]*vstate
	latest map[*series]Evaluation
	// released are the versions whose every stage key left (their
	// partials partition was revoked), since when: dropped after
	// ClusterOptions.ReleaseWait unless it comes back.
	released map[*series]time.Time
	forced   ForcedWait // the last window judged without every source
	gates    map[*series]*gateState
}

// ForcedWait describes the last window the evaluation stage judged
// without every source partition's share, after ClusterOptions.MaxWait.
type ForcedWait struct {
	Model, Version string
	WindowStart    time.Time
	Missing        []string // the source partitions that had not closed it
	At             time.Time
	Count          uint64 // windows judged so, since start
}

type partState struct {
	closedEnd int64
	idle      bool
	touched   map[*series]bool
}

type vstate struct {
	s                *series
	partials         map[partKey][]*window // closed windows, sorted by start
	cum              map[partKey]*window   // cumulative snapshots
	evaluatedThrough int64                 // end of the last window evaluated
	published        int64                 // end of the last window evaluated whose evaluation reached the sinks
	pending          []int64               // starts of windows with data, not yet evaluated, sorted
	since            map[int64]time.Time   // stage: when each pending window first came, in wall time
	last             *job                  // the last evaluation's horizon, for Horizon
}

func newEvaluator(e *Engine) *evaluator {
	return &evaluator{
		e: e, wake: make(chan struct{}, 1),
		parts: map[partKey]*partState{}, vers: map[*series]*vstate{}, latest: map[*series]Evaluation{},
		released: map[*series]time.Time{}, gates: map[*series]*gateState{},
	}
}

func (ev *evaluator) push(u update) { ev.pushAll(u) }

// pushAll queues us at once: the evaluator applies all of them before it
// judges (a stage partition restored announces each of its sources so; a
// window must not look closed everywhere for want of the next one).
func (ev *evaluator) pushAll(us ...update) {
	ev.qmu.Lock()
	for _, u := range us {
		if len(u.cums) > 0 {
			// Of a partition's cumulative snapshots of a version the
			// evaluator keeps the newest: older ones still queued would
			// only hold memory (a whole copy of the version's sketches
			// each) until it catches up, as when a replay closes windows
			// faster than they evaluate.
			for i := range ev.queue {
				if q := &ev.queue[i]; q.part == u.part && len(q.cums) > 0 {
					q.cums = slices.DeleteFunc(q.cums, func(c partial) bool {
						return slices.ContainsFunc(u.cums, func(n partial) bool { return n.s == c.s })
					})
				}
			}
		}
		ev.queue = append(ev.queue, u)
	}
	ev.qmu.Unlock()
	select {
	case ev.wake <- struct{}{}:
	default:
	}
}

// job is one evaluation to make, with everything it reads: immutable
// windows gathered under mu.
type job struct {
	s        *series
	start    int64
	windows  []*window
	prev     *series
	prevCums []*window
	events   uint64
	// A candidate's: the live version and its windows of the horizon.
	live         *series
	liveSelected string
	liveWindows  []*window
	through      int64  // the version's published mark once it is published
	peers        []peer // the model's other versions, for the outcomes (outcomes.go)
}

// process applies the queued updates and makes the evaluations they allow.
func (ev *evaluator) process() {
	ev.qmu.Lock()
	q := ev.queue
	ev.queue = nil
	ev.qmu.Unlock()
	if len(q) == 0 {
		return
	}
	ev.mu.Lock()
	var barriers []chan struct{}
	for i := range q {
		if q[i].kind == updBarrier {
			barriers = append(barriers, q[i].done)
			continue
		}
		ev.apply(&q[i])
	}
	jobs := ev.ready()
	ev.mu.Unlock()
	for _, j := range jobs {
		ev.run(j)
	}
	for _, b := range barriers {
		close(b)
	}
}

// recheck makes the evaluations the stage's bounded wait allows now, and
// drops the versions released long enough. Run calls it on a ticker in
// cluster mode.
func (ev *evaluator) recheck() {
	ev.process()
	now := ev.e.opts.Clock()
	ev.mu.Lock()
	jobs := ev.ready()
	var drop []*series
	for s, at := range ev.released {
		if now.Sub(at) >= ev.e.opts.Cluster.ReleaseWait {
			drop = append(drop, s)
		}
	}
	ev.mu.Unlock()
	for _, j := range jobs {
		ev.run(j)
	}
	for _, s := range drop {
		ev.release(s, now)
	}
}

// sync waits until everything pushed before it is applied and evaluated,
// or timeout (Run not running): the stage checkpoints what it evaluated.
func (ev *evaluator) sync(timeout time.Duration) bool {
	if !ev.e.running.Load() {
		ev.process() // Run is not there to do it
		return true
	}
	done := make(chan struct{})
	ev.push(update{kind: updBarrier, done: done})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// release forgets s's evaluations here, its evaluation having moved to
// another process, and tells the sinks that it is stale here. Its alerts
// left when its partition was revoked (releaseStates), without a notice:
// the process that restores the partition holds them, firing or pending,
// so nothing resolves here.
func (ev *evaluator) release(s *series, now time.Time) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if _, ok := ev.released[s]; !ok {
		return
	}
	delete(ev.released, s)
	delete(ev.vers, s)
	delete(ev.latest, s)
	delete(ev.gates, s)
	ev.e.m.stageReleased.Inc()
	ev.e.log.Info("model version evaluated by another process now: its partials partition moved; its evaluations leave this one (its alerts went with the partition's checkpoint)",
		"model", s.model, "model_version", s.version)
	l := Lifecycle{Model: s.model, Version: s.version, State: StateStale,
		Reason: "evaluated by another process (its partials partition moved)", LastEvent: s.lastEventTime(), At: now.UTC()}
	for _, q := range ev.e.sinks {
		q.lifecycle(l)
	}
}

func (ev *evaluator) part(k partKey) *partState {
	ps, ok := ev.parts[k]
	if !ok {
		ps = &partState{closedEnd: math.MinInt64, touched: map[*series]bool{}}
		ev.parts[k] = ps
	}
	return ps
}

func (ev *evaluator) version(s *series) *vstate {
	vs, ok := ev.vers[s]
	if !ok && !s.retired.Load() {
		vs = &vstate{s: s, partials: map[partKey][]*window{}, cum: map[partKey]*window{},
			evaluatedThrough: math.MinInt64, published: math.MinInt64}
		ev.vers[s] = vs
	}
	return vs
}

func (ev *evaluator) apply(u *update) {
	W := ev.e.window
	switch u.kind {
	case updForget:
		var touched map[*series]bool
		if ps, ok := ev.parts[u.part]; ok {
			touched = ps.touched
		}
		delete(ev.parts, u.part)
		for _, vs := range ev.vers {
			delete(vs.partials, u.part)
			delete(vs.cum, u.part)
		}
		if u.part.of != "" {
			ev.discardHeld(u.part.of)
			for s := range touched {
				if _, ok := ev.vers[s]; ok && !ev.staged(s) {
					ev.released[s] = ev.e.opts.Clock()
					// Its alerts go with the partition's checkpoint, to
					// the process that restores it: dropped here without
					// a notice, at once, so that nothing here re-sends
					// them while the new owner holds them.
					ev.releaseStates(s)
				}
			}
		}
		return
	case updStates:
		for _, vs := range u.states {
			ev.restoreStates(vs)
		}
		return
	case updActive:
		ev.part(u.part).idle = false
		return
	}
	ps := ev.part(u.part)
	if u.part.of != "" {
		for _, s := range u.touch {
			delete(ev.released, s)
		}
	}
	if u.kind == updClose || u.kind == updRestore {
		ps.closedEnd = max(ps.closedEnd, u.closedEnd)
		ps.idle = u.idle
	}
	for i, s := range u.touch {
		vs := ev.version(s)
		if vs == nil {
			continue
		}
		ps.touched[s] = true
		if u.kind == updRestore {
			vs.evaluatedThrough = max(vs.evaluatedThrough, u.evaluated[i])
			vs.published = max(vs.published, u.evaluated[i])
		}
	}
	for _, p := range u.partials {
		vs := ev.version(p.s)
		if vs == nil {
			continue
		}
		ws := vs.partials[u.part]
		i, found := slices.BinarySearchFunc(ws, p.w.start, func(w *window, t int64) int { return cmp.Compare(w.start, t) })
		if found {
			// The stage's: a window republished replaces the first copy.
			ws[i] = p.w
		} else {
			vs.partials[u.part] = slices.Insert(ws, i, p.w)
		}
		if p.w.start >= vs.evaluatedThrough {
			if j, found := slices.BinarySearch(vs.pending, p.w.start); !found {
				vs.pending = slices.Insert(vs.pending, j, p.w.start)
				if u.part.of != "" {
					if vs.since == nil {
						vs.since = map[int64]time.Time{}
					}
					vs.since[p.w.start] = ev.e.opts.Clock()
				}
			}
		}
		ev.e.m.windowClosed.WithLabelValues(p.s.model, p.s.version).Set(float64(p.w.start+W) / 1e9)
	}
	for _, c := range u.cums {
		if vs := ev.version(c.s); vs != nil {
			vs.cum[u.part] = c.w
		}
	}
}

// ready returns the evaluations due, in window order per version, and
// prunes the partials no horizon needs any more. Called with mu held.
func (ev *evaluator) ready() []job {
	W := ev.e.window
	H := int64(ev.e.opts.HorizonWindows)
	vss := make([]*vstate, 0, len(ev.vers))
	for _, vs := range ev.vers {
		vss = append(vss, vs)
	}
	slices.SortFunc(vss, func(a, b *vstate) int { return cmp.Compare(a.s.id, b.s.id) })
	var jobs []job
	for _, vs := range vss {
		if _, ok := ev.released[vs.s]; ok {
			// Its stage partition was revoked: its sources are gone from
			// here, so every pending window would look due, with nothing
			// to judge. It waits for the partition to come back (restored,
			// with its windows) or to be dropped.
			continue
		}
		for len(vs.pending) > 0 {
			start := vs.pending[0]
			missing := ev.notClosed(vs.s, start+W)
			var live *vstate
			var selected string
			if ev.e.isCandidate(vs.s) {
				// Compared on the same windows: the live version's must
				// be closed too.
				if live, selected = ev.liveFor(vs.s, start); live != nil {
					for _, k := range ev.notClosed(live.s, start+W) {
						if !slices.Contains(missing, k) {
							missing = append(missing, k)
						}
					}
				}
			}
			if len(missing) > 0 {
				since, ok := vs.since[start]
				if !ok || ev.e.pub == nil || ev.e.opts.Clock().Sub(since) < ev.e.opts.Cluster.MaxWait {
					break
				}
				ev.forceWait(vs.s, start, missing)
			}
			delete(vs.since, start)
			vs.pending = vs.pending[1:]
			vs.evaluatedThrough = start + W
			j := job{s: vs.s, start: start, through: start + W}
			for _, ws := range sortedParts(vs.partials) {
				for _, w := range ws {
					if w.start <= start && w.start > start-H*W {
						j.windows = append(j.windows, w)
						j.events += w.events
					}
				}
			}
			if len(j.windows) == 0 {
				// Nothing to judge: published as soon as what is before it.
				if n := len(jobs); n > 0 && jobs[n-1].s == vs.s {
					jobs[n-1].through = j.through
				} else {
					vs.published = j.through
				}
				continue
			}
			j.peers = ev.peersOf(vs.s, start)
			if ev.e.opts.Fallback == FallbackPreviousVersion {
				if prev := ev.previous(vs.s); prev != nil {
					j.prev = prev.s
					j.prevCums = sortedParts(prev.cum)
				}
			}
			if live != nil {
				ev.addLive(&j, live, selected)
			}
			jobs = append(jobs, j)
		}
	}
	// Pruned after every job is made: a candidate's job reads the live
	// version's windows of its horizon, the oldest of which the live
	// version's own job of the same window leaves behind.
	for _, vs := range vss {
		if _, ok := ev.released[vs.s]; ok {
			continue
		}
		// The next window evaluated starts at evaluatedThrough or later:
		// older partials are out of every horizon to come. With outcomes,
		// the model's other versions read these windows as their
		// reference in the same horizon: kept a horizon longer for those
		// evaluated after this one (outcomes.go).
		if vs.evaluatedThrough == math.MinInt64 {
			continue
		}
		keep := H
		if len(ev.e.opts.Outcomes) > 0 {
			keep = 2 * H
		}
		for k, ws := range vs.partials {
			n := 0
			for n < len(ws) && ws[n].start <= vs.evaluatedThrough-keep*W {
				n++
			}
			if n == len(ws) {
				delete(vs.partials, k)
			} else if n > 0 {
				vs.partials[k] = slices.Delete(ws, 0, n)
			}
		}
	}
	return jobs
}

func comparePartKeys(a, b partKey) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	if a.partition != b.partition {
		return a.partition - b.partition
	}
	return strings.Compare(a.of, b.of)
}

// sortedParts returns the values of m in the order of their partition
// keys, so merges happen in the same order every run.
func sortedParts[V any](m map[partKey]V) []V {
	keys := make([]partKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePartKeys)
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// notClosed returns the open, non-idle partitions holding s that have not
// closed the windows ending at or before end: none when s's window is due.
func (ev *evaluator) notClosed(s *series, end int64) []partKey {
	var out []partKey
	for k, ps := range ev.parts {
		if ps.touched[s] && !ps.idle && ps.closedEnd < end {
			out = append(out, k)
		}
	}
	return out
}

// forceWait counts and logs a window judged without the shares of missing.
// Called with mu held.
func (ev *evaluator) forceWait(s *series, start int64, missing []partKey) {
	names := make([]string, len(missing))
	for i, k := range missing {
		names[i] = k.String()
	}
	slices.Sort(names)
	ev.e.m.stageForced.Inc()
	ev.forced = ForcedWait{Model: s.model, Version: s.version, WindowStart: time.Unix(0, start).UTC(),
		Missing: names, At: ev.e.opts.Clock().UTC(), Count: ev.forced.Count + 1}
	ev.e.log.Warn("window judged without every source partition: they had not closed it within evaluation.max_wait (a process gone or lagging); their shares join the later windows' horizons when they come",
		"model", s.model, "model_version", s.version, "window_start", ev.forced.WindowStart,
		"missing", strings.Join(names, ","), "max_wait", ev.e.opts.Cluster.MaxWait)
}

// stageOf names the stage partition that judges s here, "" if none does
// (local mode, or its partition left). Called with mu held.
func (ev *evaluator) stageOf(s *series) string {
	for k, ps := range ev.parts {
		if k.of != "" && ps.touched[s] {
			return k.of
		}
	}
	return ""
}

// staged reports whether s still has a stage key. Called with mu held.
func (ev *evaluator) staged(s *series) bool {
	for k, ps := range ev.parts {
		if k.of != "" && ps.touched[s] {
			return true
		}
	}
	return false
}

// LastForcedWait returns the last window the evaluation stage judged
// without every source partition, and whether there was one.
func (e *Engine) LastForcedWait() (ForcedWait, bool) {
	e.ev.mu.Lock()
	defer e.ev.mu.Unlock()
	f := e.ev.forced
	return f, f.Count > 0
}

// previous returns the state of the version of s's model just before it
// in natural order that has cumulative data.
func (ev *evaluator) previous(s *series) *vstate {
	var best *vstate
	for o, vs := range ev.vers {
		if o == s || o.model != s.model || len(vs.cum) == 0 || compareVersions(o.version, s.version) >= 0 {
			continue
		}
		if best == nil || compareVersions(o.version, best.s.version) > 0 {
			best = vs
		}
	}
	return best
}

// run makes one evaluation and publishes it.
func (ev *evaluator) run(j job) {
	e := ev.e
	defer func() {
		if r := recover(); r != nil {
			err, stack := recovered(r)
			e.internalError(ComponentEvaluate, j.s, "", err, stack)
			ev.mu.Lock()
			if vs, ok := ev.vers[j.s]; ok {
				vs.published = max(vs.published, j.through)
			}
			ev.mu.Unlock()
		}
	}()
	broken := func(s *series) func(string, error) {
		return func(name string, err error) { e.internalError(ComponentEvaluate, s, name, err, nil) }
	}
	if e.testHook != nil {
		e.testHook("evaluate", j.s)
	}
	feats, embs := e.reg.names(j.s)
	cur := mergeSet(j.windows, feats, embs, true, broken(j.s))
	ref, id, ok := e.baselines.Lookup(j.s.model, j.s.version)
	if ok {
		ref = e.capReference(j.s, id, ref, cur)
	}
	fallback := ""
	if !ok {
		ref, id = drift.Set{}, ""
		fallback = FallbackReportOnly
		if j.prev != nil {
			pf, pe := e.reg.names(j.prev)
			ref = mergeSet(j.prevCums, pf, pe, false, broken(j.prev))
			fallback = FallbackPreviousVersion + ":" + j.prev.version
		}
	}
	// The newest window beside the horizon, to name a change soon after
	// its onset; the previous report, for the hysteresis of names.
	var newest []*window
	for _, w := range j.windows {
		if w.start == j.start {
			newest = append(newest, w)
		}
	}
	in := drift.Input{Model: j.s.model, Version: j.s.version, Ref: ref, Cur: cur}
	if len(newest) < len(j.windows) {
		in.Recent = mergeSet(newest, feats, embs, true, broken(j.s))
		for _, w := range newest {
			in.Recent.Events += w.events
		}
	}
	if lim := e.reg.lim; len(feats) < lim.MaxFeatures && len(embs) < lim.MaxEmbeddings {
		// Every name of the events is tracked, so a baseline's name
		// missing from the horizon was absent, not dropped at a limit.
		in.Cur.Events = j.events
	}
	ev.mu.Lock()
	if prev, ok := ev.latest[j.s]; ok {
		in.Previous = &prev.Report
	}
	ev.mu.Unlock()
	out := Evaluation{
		Model: j.s.model, Version: j.s.version,
		WindowStart: time.Unix(0, j.start).UTC(), WindowEnd: time.Unix(0, j.start+e.window).UTC(),
		BaselineID: id, Fallback: fallback,
		Report:      drift.Judge(in, drift.Policy{Default: e.opts.Thresholds, Overrides: e.opts.Overrides}),
		Events:      j.events,
		EvaluatedAt: e.opts.Clock(),
	}
	out.Report.Outcomes = e.judgeOutcomes(j)
	out.Features, out.Embeddings = distributions(ref, cur, out.Report)
	if j.live != nil {
		out.Live = ev.compareLive(j, feats, embs, ref, ok, cur, broken)
	}
	ev.mu.Lock()
	out.Stage = ev.stageOf(j.s)
	vs, tracked := ev.vers[j.s]
	if !tracked {
		ev.mu.Unlock()
		return // retired meanwhile
	}
	ev.latest[j.s] = out
	ev.noteGate(j.s, &out)
	vs.last = &j
	vs.published = max(vs.published, j.through)
	e.m.evaluations.Inc()
	if e.pub != nil {
		// In a cluster, which process judged what: one line per version
		// and window, the trail of "judged once".
		e.log.Info("window judged", "model", j.s.model, "model_version", j.s.version,
			"window_start", out.WindowStart, "events", j.events, "partials", len(j.windows))
	}
	// Published under mu, in order with the lifecycle notices; a stale
	// version's evaluation (a window closed late) would page on old
	// evidence.
	if !j.s.stale.Load() {
		for _, s := range e.sinks {
			s.publish(out)
		}
	}
	ev.mu.Unlock()
}

// mergeSet merges windows into fresh sketches, by name. A feature whose
// sketches do not merge (a bug of ours) is reported to broken and left
// out of the set.
func mergeSet(ws []*window, feats, embs []string, pairs bool, broken func(feature string, err error)) drift.Set {
	acc := &window{}
	failed := map[int32]bool{}
	for _, w := range ws {
		mergeWindow(acc, w, pairs, func(i int32, err error) {
			if !failed[i] {
				failed[i] = true
				broken(nameAt(feats, i), err)
			}
		})
	}
	for i := range failed {
		acc.num[i] = nil
	}
	acc.num = acc.num[:min(len(acc.num), len(feats))]
	acc.pairs = acc.pairs[:min(len(acc.pairs), len(feats))]
	acc.vec = acc.vec[:min(len(acc.vec), len(embs))]
	acc.sim = acc.sim[:min(len(acc.sim), len(embs))]
	acc.act = acc.act[:min(len(acc.act), len(embs))]
	acc.frz = acc.frz[:min(len(acc.frz), len(embs))]
	set := drift.Set{Features: map[string]drift.FeatureSketch{}, Embeddings: map[string]drift.EmbeddingSketch{}}
	for i, n := range acc.num {
		if n == nil {
			continue
		}
		fs := drift.FeatureSketch{Sketch: n}
		if i < len(acc.pairs) && acc.pairs[i] != nil {
			fs.Pair = acc.pairs[i]
		}
		set.Features[feats[i]] = fs
	}
	for i, v := range acc.vec {
		if v != nil {
			set.Embeddings[embs[i]] = drift.EmbeddingSketch{Sketch: v}
		}
	}
	addSignalSketches(&set, acc, embs)
	return set
}

// retire forgets s and tells the sinks, under mu so that no evaluation
// of s can reach a sink after the notice.
func (ev *evaluator) retire(s *series, l Lifecycle) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	l.Stage = ev.stageOf(s)
	delete(ev.vers, s)
	delete(ev.latest, s)
	delete(ev.gates, s)
	for _, ps := range ev.parts {
		delete(ps.touched, s)
	}
	for _, q := range ev.e.sinks {
		q.lifecycle(l)
	}
}

// setStale marks s stale or active again and tells the sinks, under mu:
// the evaluations of a stale version are kept for the API and the status
// page but not published, so its alerts stay resolved.
func (ev *evaluator) setStale(s *series, stale bool, l Lifecycle) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if s.retired.Load() || s.stale.Swap(stale) == stale {
		return
	}
	if stale {
		s.staleGauge.Set(1)
	} else {
		s.staleGauge.Set(0)
	}
	l.Stage = ev.stageOf(s)
	for _, q := range ev.e.sinks {
		q.lifecycle(l)
	}
}

func (ev *evaluator) latestAll() []Evaluation {
	ev.mu.Lock()
	out := make([]Evaluation, 0, len(ev.latest))
	for s, l := range ev.latest {
		l.Stale = s.stale.Load()
		out = append(out, l)
	}
	ev.mu.Unlock()
	sortEvaluations(out)
	return out
}

// evaluatedThrough returns the end of the last window evaluated for s.
func (ev *evaluator) evaluatedThrough(s *series) int64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if vs, ok := ev.vers[s]; ok {
		return vs.evaluatedThrough
	}
	return math.MinInt64
}

// FeatureStats are the cumulative statistics of one feature.
type FeatureStats struct {
	Name      string  `json:"name"`
	Count     uint64  `json:"count"`     // finite values
	Missing   uint64  `json:"missing"`   // null, absent or not a number
	NonFinite uint64  `json:"nonfinite"` // NaN and ±Inf
	Mean      float64 `json:"mean"`
	StdDev    float64 `json:"stddev"`
}

// EmbeddingStats are the cumulative statistics of one embedding field.
type EmbeddingStats struct {
	Name          string `json:"name"`
	Count         uint64 `json:"count"` // vectors of the expected dimension with finite values
	DimMismatches uint64 `json:"dim_mismatches"`
	NonFinite     uint64 `json:"nonfinite"`
	UnitNorm      uint64 `json:"unit_norm"`
}

// CumulativeStats is the cumulative view of a model version: every closed
// window and late event of the open partitions.
type CumulativeStats struct {
	Model      string           `json:"model"`
	Version    string           `json:"model_version"`
	Events     uint64           `json:"events"`
	Features   []FeatureStats   `json:"features"`   // by name
	Embeddings []EmbeddingStats `json:"embeddings"` // by name
}

// Cumulative returns the cumulative view of model/version, as of the last
// window closed in each partition. It is safe for concurrent use.
func (e *Engine) Cumulative(model, version string) (CumulativeStats, bool) {
	s := e.reg.lookup(model, version)
	if s == nil {
		return CumulativeStats{}, false
	}
	feats, embs := e.reg.names(s)
	ev := e.ev
	ev.mu.Lock()
	vs, ok := ev.vers[s]
	var cums []*window
	if ok {
		cums = sortedParts(vs.cum)
	}
	ev.mu.Unlock()
	if !ok {
		return CumulativeStats{}, false
	}
	out := CumulativeStats{Model: model, Version: version}
	moms := make([]sketch.Moments, len(feats))
	fs := make([]FeatureStats, len(feats))
	es := make([]EmbeddingStats, len(embs))
	seenF := make([]bool, len(feats))
	seenE := make([]bool, len(embs))
	for _, w := range cums {
		out.Events += w.events
		for i, n := range w.num {
			if n == nil || i >= len(feats) {
				continue
			}
			seenF[i] = true
			moms[i].Merge(n.Moments())
			fs[i].Missing += n.Missing()
			fs[i].NonFinite += n.NonFinite()
		}
		for i, v := range w.vec {
			if v == nil || i >= len(embs) {
				continue
			}
			seenE[i] = true
			es[i].Count += v.Count()
			es[i].DimMismatches += v.DimMismatches()
			es[i].NonFinite += v.NonFinite()
			es[i].UnitNorm += v.UnitNorm()
		}
	}
	for i := range fs {
		if !seenF[i] {
			continue
		}
		f := fs[i]
		f.Name, f.Count, f.Mean, f.StdDev = feats[i], uint64(moms[i].N), moms[i].Mean, moms[i].StdDev()
		out.Features = append(out.Features, f)
	}
	for i := range es {
		if seenE[i] {
			es[i].Name = embs[i]
			out.Embeddings = append(out.Embeddings, es[i])
		}
	}
	slices.SortFunc(out.Features, func(a, b FeatureStats) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Embeddings, func(a, b EmbeddingStats) int { return cmp.Compare(a.Name, b.Name) })
	return out, true
}

// capReference bounds what a baseline brings into an evaluation (rows of
// the report, series of /metrics) by the version's limits: the features
// and embeddings the limits refused for the version are left out (absent
// from the horizon because of the limits, they would otherwise read as
// missing_spike, the key dropped upstream), then at most MaxFeatures
// features and MaxEmbeddings embeddings, those the horizon tracks first,
// then by name. What the caps leave out is logged once per baseline and
// version.
func (e *Engine) capReference(s *series, id string, ref, cur drift.Set) drift.Set {
	ref = e.reg.withoutRefused(s, ref)
	lim := e.opts.Limits
	if len(ref.Features) <= lim.MaxFeatures && len(ref.Embeddings) <= lim.MaxEmbeddings {
		return ref
	}
	keep := func(names map[string]bool, all []string, limit int) map[string]bool {
		slices.SortFunc(all, func(a, b string) int {
			if ca, cb := names[a], names[b]; ca != cb {
				if ca {
					return -1
				}
				return 1
			}
			return cmp.Compare(a, b)
		})
		out := map[string]bool{}
		for _, n := range all[:min(len(all), limit)] {
			out[n] = true
		}
		return out
	}
	inCur := map[string]bool{}
	var fs, es []string
	for n := range cur.Features {
		inCur[n] = true
	}
	for n := range cur.Embeddings {
		inCur[n] = true
	}
	for n := range ref.Features {
		fs = append(fs, n)
	}
	for n := range ref.Embeddings {
		es = append(es, n)
	}
	kf, ke := keep(inCur, fs, lim.MaxFeatures), keep(inCur, es, lim.MaxEmbeddings)
	out := drift.Set{Features: map[string]drift.FeatureSketch{}, Embeddings: map[string]drift.EmbeddingSketch{}, Events: ref.Events}
	for n, f := range ref.Features {
		if kf[n] {
			out.Features[n] = f
		}
	}
	for n, v := range ref.Embeddings {
		if ke[n] {
			out.Embeddings[n] = v
		}
	}
	if old := s.cappedRef.Swap(&id); old == nil || *old != id {
		e.reg.log.warn("a baseline brings more features or embeddings than limits.max_features or limits.max_embeddings: the rest are left out of its evaluations",
			"model", s.model, "model_version", s.version, "baseline", id,
			"features", len(ref.Features), "kept_features", len(out.Features),
			"embeddings", len(ref.Embeddings), "kept_embeddings", len(out.Embeddings))
	}
	return out
}

// publishedThrough returns the end of the last window evaluated for s whose
// evaluation reached the sinks: what a stage checkpoint records as
// evaluated, with the state sinks' state after it.
func (ev *evaluator) publishedThrough(s *series) int64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if vs, ok := ev.vers[s]; ok {
		return vs.published
	}
	return math.MinInt64
}

// discardHeld drops the notices the state sinks keep back for a stage
// partition that closed: what it judged after its last checkpoint is in
// none, so whoever restores the partition judges it again and sends its
// notices. Called with mu held, after the partition's last evaluation.
func (ev *evaluator) discardHeld(stage string) {
	discard := func(ss StateSink) {
		h := ss.TakeHeld(stage)
		ev.e.m.stageWithheld.Add(float64(h.Len()))
		h.Discard()
	}
	for _, q := range ev.e.sinks {
		if ss, ok := q.sink.(StateSink); ok && !q.callState(discard) {
			discard(ss)
		}
	}
}

// releaseStates has the state sinks drop s's state without a notice.
// Called with mu held, in order with the evaluations.
func (ev *evaluator) releaseStates(s *series) {
	for _, q := range ev.e.sinks {
		q.callState(func(ss StateSink) { ss.ReleaseState(s.model, s.version) })
	}
}

// restoreStates hands the state sinks what a stage checkpoint held of a
// version. Called with mu held, in order with the evaluations.
func (ev *evaluator) restoreStates(vs versionStates) {
	for _, q := range ev.e.sinks {
		ss, ok := q.sink.(StateSink)
		if !ok {
			continue
		}
		data, ok := vs.states[ss.Name()]
		if !ok {
			continue
		}
		s := vs.s
		q.callState(func(ss StateSink) {
			if err := ss.RestoreState(s.model, s.version, data); err != nil {
				ev.e.internalError(ComponentRestore, s, "", fmt.Errorf("restoring the state of sink %s: %w", ss.Name(), err), nil)
			}
		})
	}
}

// stageSnapshot is what a stage checkpoint records of its versions at one
// point of the evaluations: per version, the end of the last window whose
// evaluation reached the sinks and the state sinks' states after it.
type stageSnapshot struct {
	published []int64
	states    []map[string][]byte
	held      []Held // the state sinks' notices kept back for the partition
}

// snapshot takes the stage snapshot of vers: under mu, where evaluations
// are published, it reads their published marks and queues an export on
// every state sink's queue, behind exactly those evaluations; then waits
// up to timeout for the exports.
func (ev *evaluator) snapshot(stage string, vers []*series, timeout time.Duration) (stageSnapshot, error) {
	snap := stageSnapshot{published: make([]int64, len(vers)), states: make([]map[string][]byte, len(vers))}
	for i := range vers {
		snap.states[i] = map[string][]byte{}
	}
	type result struct {
		name  string
		datas [][]byte
		held  Held
		err   error
	}
	export := func(ss StateSink) result {
		r := result{name: ss.Name(), datas: make([][]byte, len(vers)), held: ss.TakeHeld(stage)}
		for i, s := range vers {
			if r.datas[i], r.err = ss.ExportState(s.model, s.version); r.err != nil {
				r.err = fmt.Errorf("engine: exporting the state of %s %s from sink %s: %w", s.model, s.version, ss.Name(), r.err)
				return r
			}
		}
		return r
	}
	results := make(chan result, len(ev.e.sinks))
	var direct []StateSink
	waiting := 0
	ev.mu.Lock()
	for i, s := range vers {
		snap.published[i] = math.MinInt64
		if vs, ok := ev.vers[s]; ok {
			snap.published[i] = vs.published
		}
	}
	for _, q := range ev.e.sinks {
		ss, ok := q.sink.(StateSink)
		if !ok {
			continue
		}
		if ev.e.running.Load() && q.callState(func(ss StateSink) { results <- export(ss) }) {
			waiting++
		} else {
			direct = append(direct, ss) // no sink goroutine to run it
		}
	}
	for _, ss := range direct {
		results <- export(ss)
		waiting++
	}
	ev.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for got := 0; got < waiting; got++ {
		select {
		case r := <-results:
			if r.held != nil {
				snap.held = append(snap.held, r.held)
			}
			if r.err != nil {
				snap.keep()
				return snap, r.err
			}
			for i, d := range r.datas {
				snap.states[i][r.name] = d
			}
		case <-t.C:
			snap.keep()
			go func(n int) { // exports still to come: their notices wait for the next checkpoint
				for range n {
					if r := <-results; r.held != nil {
						r.held.Keep()
					}
				}
			}(waiting - got)
			return snap, fmt.Errorf("engine: the state sinks did not export their state within %v", timeout)
		}
	}
	return snap, nil
}

// keep puts the snapshot's held notices back for the next checkpoint.
func (snap stageSnapshot) keep() {
	for _, h := range snap.held {
		h.Keep()
	}
}
