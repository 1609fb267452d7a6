package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// window holds the sketches of one model version over one window of one
// partition, indexed by the series' feature and embedding indexes. An open
// window belongs to its partition's goroutine; once closed it is compacted
// and never changed again, so the evaluator and checkpoints read it freely.
type window struct {
	start  int64 // unix nanoseconds; the window is [start, start+size)
	events uint64
	num    []*sketch.Numeric
	pairs  []*sketch.Pair
	vec    []*sketch.Vector
	// sim and act are the embeddings' signals (signals.go).
	sim []*sketch.Similarity
	act []*sketch.Activation
	// frz are the frozen-query runs' aggregates, by query embedding.
	frz []*sketch.Frozen
	// out holds the outcomes' moments by Options.Outcomes position
	// (outcomes.go); shorter when the last ones have none.
	out []sketch.Moments
}

func (w *window) numeric(i int32) *sketch.Numeric {
	if int(i) >= len(w.num) {
		w.num = slices.Grow(w.num, int(i)+1-len(w.num))[:i+1]
	}
	n := w.num[i]
	if n == nil {
		n = sketch.NewNumeric()
		w.num[i] = n
	}
	return n
}

func (w *window) pair(i int32) *sketch.Pair {
	if int(i) >= len(w.pairs) {
		w.pairs = slices.Grow(w.pairs, int(i)+1-len(w.pairs))[:i+1]
	}
	p := w.pairs[i]
	if p == nil {
		p = new(sketch.Pair)
		w.pairs[i] = p
	}
	return p
}

func (w *window) vector(i int32) *sketch.Vector {
	if int(i) >= len(w.vec) {
		w.vec = slices.Grow(w.vec, int(i)+1-len(w.vec))[:i+1]
	}
	v := w.vec[i]
	if v == nil {
		v, _ = sketch.NewVector(0, 0)
		w.vec[i] = v
	}
	return v
}

// vectorOf returns w's vector i, made with dimension dim if new.
func (w *window) vectorOf(i int32, dim int) *sketch.Vector {
	if int(i) >= len(w.vec) {
		w.vec = slices.Grow(w.vec, int(i)+1-len(w.vec))[:i+1]
	}
	v := w.vec[i]
	if v == nil {
		var err error
		if v, err = sketch.NewVector(dim, 0); err != nil {
			v, _ = sketch.NewVector(0, 0)
		}
		w.vec[i] = v
	}
	return v
}

// compact releases the buffers of every sketch of w.
func (w *window) compact() {
	sketch.CompactAll(w.num)
	for _, v := range w.vec {
		if v != nil {
			v.Compact()
		}
	}
	w.compactSignals()
}

// topUpMissing counts, for each feature the partition knows, the events of
// w that did not carry it as missing.
func (w *window) topUpMissing(known []int32) {
	if w.events == 0 {
		return
	}
	for _, i := range known {
		n := w.numeric(i)
		if t := n.Total(); t < w.events {
			n.AddMissing(w.events - t)
		}
	}
}

// cachedIdx remembers the index of the name last seen at a position of an
// event's features: producers list names in the same order and the decoder
// interns them, so the comparison is usually a pointer check.
type cachedIdx struct {
	name string
	idx  int32
}

// pver is a partition's state of one model version.
type pver struct {
	s *series

	open    []*window // sorted by start
	late    *window   // late events since the last close, for the cumulative view
	cum     *window   // immutable cumulative snapshot (closed windows and late events)
	horizon []*window // the last closed windows, immutable

	// Local caches of admitted names; every entry is within the limits.
	feats    map[string]int32
	embs     map[string]int32
	known    []int32 // feature indexes seen by this partition, for missing top-up
	embKnown []int32
	fcache   []cachedIdx
	rcache   []cachedIdx
	ecache   []cachedIdx

	// dims holds, per embedding index, the dimension of the first vector
	// the partition saw, so that every window of the partition expects the
	// same one and a stray vector of another dimension first in a window
	// does not make the window's real ones mismatches.
	dims []int

	// frozenRefs caches the frozen references of the query embeddings,
	// looked up again for the window starting at another frozenAt.
	frozenRefs map[int32]*sketch.FrozenRef
	frozenAt   int64

	// Per feature index, the value of the event being applied, valid when
	// stamp equals the partition's event sequence: pairs raw with normalized.
	stamp []uint32
	vals  []float64

	evaluatedThrough int64 // restored: end of the last window evaluated before the checkpoint
}

func newPver(s *series) *pver {
	return &pver{s: s, feats: map[string]int32{}, embs: map[string]int32{}, evaluatedThrough: math.MinInt64}
}

// partition is the state of one topic partition. Its methods are called
// from the consumer's goroutine; mu lets the idle-flush ticker close windows
// from the evaluator's.
type partition struct {
	e   *Engine
	key partKey

	mu        sync.Mutex
	offset    int64
	maxTime   int64 // largest event time applied
	haveTime  bool
	closedEnd int64 // windows ending at or before it are closed
	wallBound int64 // wall clock plus the future skew, as last read
	jump      int64 // an unconfirmed jump of the event time, or 0
	versions  map[vkey]*pver
	order     []*pver // by series id, for deterministic closes
	last      *pver
	seq       uint32
	closed    bool
	joins     map[string]*joinBuffer // by model (pairs.go); not checkpointed

	// Idle detection, in wall time.
	applied, seenApplied uint64
	wall                 time.Time
	idle                 bool
}

type vkey struct{ model, version string }

func newPartition(e *Engine, key partKey) *partition {
	return &partition{e: e, key: key, offset: -1, closedEnd: math.MinInt64, versions: map[vkey]*pver{}}
}

var _ stream.PartitionProcessor = (*partition)(nil)

// Offset returns the offset of the last message applied or skipped.
func (p *partition) Offset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offset
}

// Skip advances past a dead-lettered message.
func (p *partition) Skip(offset int64) {
	p.mu.Lock()
	p.offset = offset
	p.applied++
	p.mu.Unlock()
}

// Time bounds: time.Time values whose UnixNano is defined.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Apply adds the event at offset to its window of its model version.
//
// An event without a usable time (none in payload or message, or outside
// the years 1678-2262) takes the partition's largest event time so far,
// or, before any, counts in the cumulative view only. A feature value
// that is not a number counts as missing and as a type error; a feature
// the partition knows for the version but the event does not carry counts
// as missing when its window closes.
//
// A panic while the event is applied (a bug of ours) is recovered: it is
// logged with its stack, counted, and returned as an error so that the
// consumer dead-letters the message and goes on. What the event had
// already added stays; nothing else is touched.
func (p *partition) Apply(offset int64, ev *stream.Event) (err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			var stack []byte
			err, stack = recovered(r)
			var s *series
			if pv := p.last; pv != nil && pv.s.model == ev.Model && pv.s.version == ev.Version {
				s = pv.s
			}
			p.e.internalError(ComponentApply, s, "", err, stack)
			err = fmt.Errorf("engine: applying the event at offset %d: %w", offset, err)
		}
	}()
	p.apply(offset, ev)
	return nil
}

func (p *partition) apply(offset int64, ev *stream.Event) {
	p.offset = offset
	p.applied++
	if p.closed {
		return
	}
	if p.idle {
		p.idle = false
		p.tell(update{part: p.key, kind: updActive})
	}
	var ts int64
	timed := true
	t := ev.Time
	skew := p.e.opts.MaxFutureSkew
	aheadOfKafka := skew > 0 && ev.TimeSource == stream.TimePayload &&
		!ev.KafkaTime.IsZero() && t.Sub(ev.KafkaTime) > skew
	if aheadOfKafka {
		t = ev.KafkaTime
	}
	switch {
	case !t.IsZero() && t.After(minTime) && t.Before(maxTime):
		ts = t.UnixNano()
	case p.haveTime:
		ts = p.maxTime
	default:
		timed = false
	}
	pv := p.version(ev.Model, ev.Version, ts)
	if pv == nil {
		return
	}
	pv.s.events.Inc()
	if ev.Candidate && !pv.s.candidate.Load() {
		p.e.markCandidate(pv.s)
	}
	if ev.RequestIDInvalid {
		p.e.m.pairsBy[PairInvalid].Inc()
	} else if ev.RequestID != "" && timed && p.e.hasCandidate(ev.Model) {
		p.join(pv.s, ev, ts)
	}
	if p.e.testHook != nil {
		p.e.testHook("apply", pv.s)
	}
	if aheadOfKafka {
		p.e.m.futureBy[FutureAheadOfKafka].Inc()
	}
	if timed && skew > 0 && (!p.haveTime || ts > p.maxTime) {
		ts, timed = p.guardWatermark(ts, int64(skew))
	}
	if timed {
		pv.s.noteEvent(ts)
		pv.s.noteFirst(ts)
	} else {
		pv.s.noteEvent(0)
	}
	if timed && (!p.haveTime || ts > p.maxTime) {
		p.maxTime, p.haveTime = ts, true
		if ce := floorDiv(ts-p.e.lateness, p.e.window) * p.e.window; ce > p.closedEnd {
			p.closeThrough(ce, false)
		}
	}

	var w *window
	if timed {
		start := floorDiv(ts, p.e.window) * p.e.window
		if start >= p.closedEnd {
			w = pv.windowAt(start)
		}
	}
	if w == nil {
		p.e.m.late.Inc()
		if pv.late == nil {
			pv.late = &window{start: math.MinInt64}
		}
		w = pv.late
	}
	p.add(pv, w, ev)
}

// guardWatermark vets an event time ts that would move the partition's
// watermark, so that no single message can blind the partition (every
// later event late, never in a window, no alert possible):
//
//   - a time further ahead of the wall clock than the skew is not believed;
//   - a time further ahead of the partition's largest time than the skew (a
//     jump: a clock or unit bug on one producer, or a gap in the stream) is
//     believed only when the next event that moves the watermark confirms
//     it, landing within the skew of it.
//
// An event whose time is not believed counts by reason and goes to the
// window of the partition's largest time, as an event without a time does.
// It returns the time to use, and false when there is none yet.
func (p *partition) guardWatermark(ts, skew int64) (int64, bool) {
	if ts > p.wallBound {
		p.wallBound = p.e.opts.Clock().UnixNano() + skew
		if ts > p.wallBound {
			p.e.m.futureBy[FutureAheadOfWallClock].Inc()
			return p.maxTime, p.haveTime
		}
	}
	if !p.haveTime || ts-p.maxTime <= skew {
		p.jump = 0
		return ts, true
	}
	if p.jump != 0 && ts >= p.jump-skew && ts <= p.jump+skew {
		p.jump = 0
		return ts, true // confirmed
	}
	p.jump = ts
	p.e.m.futureBy[FutureAheadOfStream].Inc()
	return p.maxTime, true
}

// windowAt returns the open window starting at start, opening it if needed.
func (pv *pver) windowAt(start int64) *window {
	for i := len(pv.open) - 1; i >= 0; i-- {
		w := pv.open[i]
		if w.start == start {
			return w
		}
		if w.start < start {
			w := &window{start: start}
			pv.open = slices.Insert(pv.open, i+1, w)
			return w
		}
	}
	w := &window{start: start}
	pv.open = slices.Insert(pv.open, 0, w)
	return w
}

// version returns the partition's state of model/version, or nil when the
// registry refuses it. ts is the event's time, for the registry's choice of
// whom to evict at a cap.
func (p *partition) version(model, version string, ts int64) *pver {
	if pv := p.last; pv != nil && pv.s.model == model && pv.s.version == version && !pv.s.retired.Load() {
		return pv
	}
	k := vkey{model, version}
	pv, ok := p.versions[k]
	if ok && pv.s.retired.Load() {
		p.dropVersion(k, pv)
		ok = false
	}
	if !ok {
		now := p.e.opts.Clock().UnixNano()
		s, evicted := p.e.reg.version(admission{model: model, version: version, lastEvent: min(ts, now), lastSeen: now, event: true})
		for _, x := range evicted {
			p.e.afterRetire(x, StateEvicted, "evicted at a cap for "+model+" "+version, time.Unix(0, now))
		}
		if s == nil {
			return nil
		}
		pv = newPver(s)
		p.versions[k] = pv
		p.order = append(p.order, pv)
		slices.SortFunc(p.order, func(a, b *pver) int { return cmp.Compare(a.s.id, b.s.id) })
		p.tell(update{part: p.key, kind: updTouch, touch: []*series{s}, closedEnd: p.closedEnd})
	}
	p.last = pv
	return pv
}

func (p *partition) dropVersion(k vkey, pv *pver) {
	delete(p.versions, k)
	p.order = slices.DeleteFunc(p.order, func(x *pver) bool { return x == pv })
	if p.last == pv {
		p.last = nil
	}
}

// add applies ev to w.
func (p *partition) add(pv *pver, w *window, ev *stream.Event) {
	if len(ev.Outcomes) > 0 {
		p.addOutcomes(w, ev)
		if onlyOutcomes(ev) {
			return
		}
	}
	w.events++
	p.seq++
	seq := p.seq
	m := p.e.m
	for i := range ev.Features {
		f := &ev.Features[i]
		idx := pv.featIndex(p, i, f.Name)
		if idx < 0 {
			continue
		}
		n := w.numeric(idx)
		switch {
		case f.TypeError:
			m.typeErrors.Inc()
			n.AddMissing(1)
		case f.Missing:
			n.AddMissing(1)
		default:
			n.Add(f.Value)
			pv.stamp[idx] = seq
			pv.vals[idx] = f.Value
		}
	}
	for i := range ev.Raw {
		r := &ev.Raw[i]
		if r.TypeError {
			m.typeErrors.Inc()
			continue
		}
		if r.Missing {
			continue
		}
		idx := pv.rawIndex(i, r.Name)
		if idx < 0 || pv.stamp[idx] != seq {
			continue
		}
		w.pair(idx).Add(r.Value, pv.vals[idx])
	}
	for i := range ev.Embeddings {
		e := &ev.Embeddings[i]
		idx := pv.embIndex(p, i, e.Name)
		if idx < 0 || e.Missing {
			continue
		}
		v := w.vectorOf(idx, pv.embDim(idx, len(e.Values)))
		v.Add(e.Values)
	}
	p.addSignals(pv, w, ev)
}

func (pv *pver) featIndex(p *partition, i int, name string) int32 {
	if i < len(pv.fcache) && pv.fcache[i].name == name {
		idx := pv.fcache[i].idx
		if idx < 0 {
			p.e.m.refusedEvents[KindFeature].Inc()
		}
		return idx
	}
	idx, ok := pv.feats[name]
	if !ok {
		idx = p.e.reg.feature(pv.s, name)
		if idx >= 0 {
			pv.learnFeature(name, idx)
		}
	}
	pv.fcache = setCache(pv.fcache, i, name, idx)
	return idx
}

func (pv *pver) learnFeature(name string, idx int32) {
	pv.feats[name] = idx
	pv.known = append(pv.known, idx)
	if int(idx) >= len(pv.stamp) {
		pv.stamp = slices.Grow(pv.stamp, int(idx)+1-len(pv.stamp))[:idx+1]
		pv.vals = slices.Grow(pv.vals, int(idx)+1-len(pv.vals))[:idx+1]
	}
}

// embDim returns the dimension embedding idx's vectors are expected to
// have, taking d when there is none yet.
func (pv *pver) embDim(idx int32, d int) int {
	if int(idx) >= len(pv.dims) {
		pv.dims = slices.Grow(pv.dims, int(idx)+1-len(pv.dims))[:idx+1]
	}
	if pv.dims[idx] == 0 && d > 0 && d <= sketch.MaxDim {
		pv.dims[idx] = d
	}
	return pv.dims[idx]
}

func (pv *pver) learnEmbedding(name string, idx int32) {
	pv.embs[name] = idx
	pv.embKnown = append(pv.embKnown, idx)
}

// rawIndex returns the index of a raw value's feature, if the partition
// knows it; raw names are never admitted on their own.
func (pv *pver) rawIndex(i int, name string) int32 {
	if i < len(pv.rcache) && pv.rcache[i].name == name {
		return pv.rcache[i].idx
	}
	idx, ok := pv.feats[name]
	if !ok {
		idx = -1
	}
	pv.rcache = setCache(pv.rcache, i, name, idx)
	return idx
}

func (pv *pver) embIndex(p *partition, i int, name string) int32 {
	if i < len(pv.ecache) && pv.ecache[i].name == name {
		idx := pv.ecache[i].idx
		if idx < 0 {
			p.e.m.refusedEvents[KindEmbedding].Inc()
		}
		return idx
	}
	idx, ok := pv.embs[name]
	if !ok {
		idx = p.e.reg.embedding(pv.s, name)
		if idx >= 0 {
			pv.learnEmbedding(name, idx)
		}
	}
	pv.ecache = setCache(pv.ecache, i, name, idx)
	return idx
}

func setCache(c []cachedIdx, i int, name string, idx int32) []cachedIdx {
	if i >= len(c) {
		c = slices.Grow(c, i+1-len(c))[:i+1]
	}
	c[i] = cachedIdx{name, idx}
	return c
}

// closeThrough closes every open window ending at or before end, folds
// them and the late events into the cumulative views and hands them to the
// evaluator. Called with p.mu held.
func (p *partition) closeThrough(end int64, idle bool) {
	p.closedEnd = end
	u := update{part: p.key, kind: updClose, closedEnd: end, idle: idle}
	H := int64(p.e.opts.HorizonWindows)
	for _, pv := range p.order {
		if pv.s.retired.Load() {
			continue
		}
		p.closeVersion(pv, end, H, &u)
	}
	p.tell(u)
}

// closeVersion closes pv's windows ending at or before end into u. A panic
// on the way (a bug of ours) resets pv's state in this partition, which
// is logged and counted; the other versions close as usual.
func (p *partition) closeVersion(pv *pver, end, H int64, u *update) {
	nPartials, nCums := len(u.partials), len(u.cums)
	defer func() {
		if r := recover(); r != nil {
			err, stack := recovered(r)
			p.e.internalError(ComponentClose, pv.s, "", err, stack)
			u.partials, u.cums = u.partials[:nPartials], u.cums[:nCums]
			pv.open, pv.late, pv.cum, pv.horizon = nil, nil, nil, nil
		}
	}()
	n := 0
	for n < len(pv.open) && pv.open[n].start+p.e.window <= end {
		n++
	}
	closing := pv.open[:n]
	if len(closing) == 0 && pv.late == nil {
		return
	}
	if p.e.testHook != nil {
		p.e.testHook("close", pv.s)
	}
	for _, w := range closing {
		w.topUpMissing(pv.known)
		w.compact()
		pv.horizon = append(pv.horizon, w)
		u.partials = append(u.partials, partial{s: pv.s, w: w})
	}
	if pv.late != nil {
		pv.late.topUpMissing(pv.known)
		pv.late.compact()
	}
	pv.cum = p.foldCumulative(pv, closing)
	pv.late = nil
	u.cums = append(u.cums, partial{s: pv.s, w: pv.cum})
	pv.open = slices.Delete(pv.open, 0, n)
	if len(pv.horizon) > 0 {
		newest := pv.horizon[len(pv.horizon)-1].start
		keep := 0
		for keep < len(pv.horizon) && pv.horizon[keep].start <= newest-H*p.e.window {
			keep++
		}
		pv.horizon = slices.Delete(pv.horizon, 0, keep)
	}
}

// foldCumulative returns a new cumulative snapshot of pv: its current one
// with the closing windows and the late events merged in. The current one
// is left unchanged, as the evaluator may be reading it. A sketch that
// will not merge (a bug of ours) resets that feature's cumulative view,
// logged and counted, and the rest goes on.
func (p *partition) foldCumulative(pv *pver, closing []*window) *window {
	cum := pv.cum
	out := &window{start: math.MinInt64}
	if cum != nil {
		// A copy of cum's sketches, then the new windows.
		out.events = cum.events
		out.num = make([]*sketch.Numeric, len(cum.num))
		for i, n := range cum.num {
			if n != nil {
				out.num[i] = n.Clone()
			}
		}
		out.pairs = make([]*sketch.Pair, len(cum.pairs))
		for i, pr := range cum.pairs {
			if pr != nil {
				c := *pr
				out.pairs[i] = &c
			}
		}
		out.vec = make([]*sketch.Vector, len(cum.vec))
		for i, v := range cum.vec {
			if v != nil {
				out.vec[i] = v.Clone()
			}
		}
		out.cloneSignals(cum)
		out.out = slices.Clone(cum.out)
	}
	feats, _ := p.e.reg.names(pv.s)
	broken := func(i int32, err error) { p.e.internalError(ComponentClose, pv.s, nameAt(feats, i), err, nil) }
	for _, w := range closing {
		mergeWindow(out, w, true, broken)
	}
	mergeWindow(out, pv.late, true, broken)
	out.compact()
	return out
}

// mergeWindow merges w's sketches into out's, pairs too when withPairs. A
// numeric sketch that does not merge is reported to broken and out's
// sketch of that feature is reset, so one broken feature never stops the
// others. A vector sketch of another dimension than out's counts all its
// vectors as dimension mismatches of out's.
func mergeWindow(out, w *window, withPairs bool, broken func(feature int32, err error)) {
	if w == nil {
		return
	}
	out.events += w.events
	for i, n := range w.num {
		if n == nil {
			continue
		}
		if err := out.numeric(int32(i)).Merge(n); err != nil {
			out.num[i] = nil
			broken(int32(i), err)
		}
	}
	if withPairs {
		for i, pr := range w.pairs {
			if pr != nil {
				out.pair(int32(i)).Merge(pr)
			}
		}
	}
	for i, v := range w.vec {
		if v == nil {
			continue
		}
		if acc := out.vector(int32(i)); acc.Merge(v) != nil {
			acc.MergeMismatched(v)
		}
	}
	mergeSignals(out, w)
	mergeOutcomes(out, w)
}

func nameAt(names []string, i int32) string {
	if int(i) < len(names) {
		return names[i]
	}
	return ""
}

// idleCheck closes every open window of a partition idle for after.
func (p *partition) idleCheck(now time.Time, after time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.applied != p.seenApplied || p.wall.IsZero() {
		p.seenApplied, p.wall = p.applied, now
		return
	}
	if p.idle || now.Sub(p.wall) < after {
		return
	}
	end := p.closedEnd
	for _, pv := range p.order {
		if n := len(pv.open); n > 0 {
			end = max(end, pv.open[n-1].start+p.e.window)
		}
	}
	p.idle = true
	p.closeThrough(end, true)
}

// Checkpoint encodes the partition's state and saves it.
func (p *partition) Checkpoint() (int64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.offset, errors.New("engine: checkpoint of a closed partition")
	}
	off := p.offset
	data, err := p.encode()
	var seq uint64
	if p.e.pub != nil {
		seq = p.e.pub.seq()
	}
	p.mu.Unlock()
	if err != nil {
		return off, err
	}
	// In cluster mode the windows this checkpoint holds as closed must be
	// on the partials topic first: after a crash they are not closed again.
	if p.e.pub != nil {
		if err := p.e.pub.flush(seq, p.e.opts.Cluster.FlushTimeout); err != nil {
			return off, fmt.Errorf("engine: checkpoint of %s: %w", p.key, err)
		}
	}
	if err := p.e.store.Save(p.key.topic, p.key.partition, data); err != nil {
		return off, err
	}
	return off, nil
}

// Close forgets the partition; its partials leave the evaluator.
func (p *partition) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.e.forget(p.key, p)
	p.tell(update{part: p.key, kind: updForget})
	p.versions, p.order, p.last = nil, nil, nil
	return nil
}

// announceRestore hands the evaluator what a restored partition holds.
func (p *partition) announceRestore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := update{part: p.key, kind: updRestore, closedEnd: p.closedEnd}
	for _, pv := range p.order {
		u.touch = append(u.touch, pv.s)
		for _, w := range pv.horizon {
			u.partials = append(u.partials, partial{s: pv.s, w: w})
		}
		if pv.cum != nil {
			u.cums = append(u.cums, partial{s: pv.s, w: pv.cum})
		}
		u.evaluated = append(u.evaluated, pv.evaluatedThrough)
	}
	p.tell(u)
}
