package engine

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// The evaluation stage consumes the partials topic in a consumer group of
// its own. Each of its partitions carries every record of some model
// versions, so the process that holds a partition is the one that judges
// those versions: it gathers each source partition's closed windows,
// waits until every source that holds the version has closed a window (or
// ClusterOptions.MaxWait), and hands the merge to the evaluator, which
// judges it as it judges a single process's partitions: the stage's keys
// are (source partition, model version), one evaluator partition each.
//
// A stage partition's state (each source's closed windows within the
// horizon, its cumulative view and watermark, the windows evaluated) is
// checkpointed through the CheckpointStore like an ingest partition's,
// keyed by the partials topic and partition, so it restores wherever the
// partition moves.

// Stage returns the evaluation stage: the processor of the partials
// topic's consumer group, whose checkpoints go to store (nil: the
// engine's own; a store fenced by consumer group, as KafkaCheckpoints is,
// must be the stage group's). It needs cluster mode (Options.Cluster).
func (e *Engine) Stage(store stream.CheckpointStore) stream.Processor {
	if store == nil {
		store = e.store
	}
	return stageProc{e, store}
}

type stageProc struct {
	e     *Engine
	store stream.CheckpointStore
}

// OpenPartition restores a partials partition from its checkpoint.
func (sp stageProc) OpenPartition(topic string, partition int) (stream.PartitionProcessor, error) {
	e := sp.e
	if e.pub == nil {
		return nil, errors.New("engine: the evaluation stage needs cluster mode (Options.Cluster.Partials)")
	}
	key := partKey{topic: topic, partition: partition}
	data, err := sp.store.Load(topic, partition)
	if err != nil {
		return nil, fmt.Errorf("engine: loading the checkpoint of %s: %w", key, err)
	}
	p := &stagePart{e: e, store: sp.store, key: key, offset: -1, sources: map[partKey]*sourceMark{}, vers: map[*series]map[partKey]*stageSrc{}}
	if data != nil {
		if err := p.restore(data); err != nil {
			return nil, fmt.Errorf("engine: restoring the checkpoint of %s: %w", key, err)
		}
	}
	e.stageMu.Lock()
	if _, ok := e.stageParts[key]; ok {
		e.stageMu.Unlock()
		return nil, fmt.Errorf("engine: partition %s is already open", key)
	}
	e.stageParts[key] = p
	e.stageMu.Unlock()
	p.announce()
	return p, nil
}

// stageSrc is one source partition's share of one model version.
type stageSrc struct {
	building map[int64]*window // windows (and cumulativeMark) read, not yet sealed by a watermark
	horizon  []*window         // sealed, sorted by start, those a horizon to come may need
	cum      *window
}

// sourceMark is a source partition's last watermark.
type sourceMark struct {
	closedEnd int64
	idle      bool
}

// stagePart is one partition of the partials topic. Its evaluator keys
// are (source partition, this partition): the watermark of a source comes
// to every partition of the topic, each in its own time, and holds for
// the versions of that partition.
type stagePart struct {
	e     *Engine
	store stream.CheckpointStore
	key   partKey

	mu      sync.Mutex
	offset  int64
	sources map[partKey]*sourceMark
	vers    map[*series]map[partKey]*stageSrc
	closed  bool
	// evaluated and states hold, from the checkpoint until announced,
	// the end of the last window evaluated per version and its state
	// sinks' states.
	evaluated map[*series]int64
	states    map[*series]map[string][]byte
}

var _ stream.RawPartitionProcessor = (*stagePart)(nil)

// evalKey is the evaluator's key of source src in p.
func (p *stagePart) evalKey(src partKey) partKey {
	return partKey{topic: src.topic, partition: src.partition, of: p.key.String()}
}

func (p *stagePart) Offset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offset
}

func (p *stagePart) Skip(offset int64) {
	p.mu.Lock()
	p.offset = offset
	p.mu.Unlock()
}

// Apply is never called: the consumer hands the stage raw records.
func (p *stagePart) Apply(offset int64, _ *stream.Event) error {
	p.Skip(offset)
	return errors.New("engine: the evaluation stage takes partial records, not events")
}

// ApplyRaw applies one record. A record that does not decode is an error
// (the consumer dead-letters it); a panic (a bug of ours) is caught,
// counted and returned the same way.
func (p *stagePart) ApplyRaw(offset int64, _, value []byte) (err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			var stack []byte
			err, stack = recovered(r)
			p.e.internalError(ComponentApply, nil, "", err, stack)
			err = fmt.Errorf("engine: applying the partial at offset %d: %w", offset, err)
		}
	}()
	p.offset = offset
	if p.closed {
		return nil
	}
	rec, err := decodePartial(value)
	if err != nil {
		return err
	}
	if rec.typ == recWatermark {
		p.seal(rec.src, rec.closedEnd, rec.idle)
		return nil
	}
	s := p.version(rec.model, rec.version)
	if s == nil {
		return nil // refused at a cap, counted
	}
	if rec.typ == recCandidate {
		p.e.markCandidate(s)
		return nil
	}
	if rec.typ == recPairs {
		p.e.pairs.put(p.e, rec.src, s, rec.live, rec.start, rec.pairs)
		return nil
	}
	srcs := p.vers[s]
	src := srcs[rec.src]
	if src == nil {
		src = &stageSrc{building: map[int64]*window{}}
		srcs[rec.src] = src
	}
	w := src.building[rec.start]
	if w == nil {
		w = &window{start: rec.start}
		src.building[rec.start] = w
	}
	// The last record's: a newer cumulative view read before the
	// watermark of the older replaces it.
	w.events = rec.events
	if rec.typ == recOutcomes {
		// The window's outcomes as a whole: a republished window's
		// replace the first copy's.
		s.noteFirst(rec.first)
		w.out = w.out[:0]
		for k, name := range rec.outNames {
			i := p.e.outcomeIndex(name)
			if i < 0 {
				continue // no longer configured here
			}
			if len(w.out) <= i {
				w.out = append(w.out, make([]sketch.Moments, i+1-len(w.out))...)
			}
			w.out[i] = rec.out[k]
		}
		return nil
	}
	if rec.typ == recFeature {
		idx := p.e.reg.feature(s, rec.name)
		if idx < 0 {
			return nil
		}
		w.num = grow(w.num, idx)
		w.num[idx] = rec.num
		if rec.pair != nil {
			w.pairs = grow(w.pairs, idx)
			w.pairs[idx] = rec.pair
		}
		return nil
	}
	idx := p.e.reg.embedding(s, rec.name)
	if idx < 0 {
		return nil
	}
	if rec.vec != nil {
		w.vec = grow(w.vec, idx)
		w.vec[idx] = rec.vec
	}
	if rec.sim != nil {
		w.sim = grow(w.sim, idx)
		w.sim[idx] = rec.sim
	}
	if rec.act != nil {
		w.act = grow(w.act, idx)
		w.act[idx] = rec.act
	}
	if rec.frz != nil {
		w.frz = grow(w.frz, idx)
		w.frz[idx] = rec.frz
	}
	return nil
}

// version returns the series of model/version, admitting it (and telling
// the evaluator that every source of p holds it) when p sees it first.
// Called with p.mu held.
func (p *stagePart) version(model, version string) *series {
	s := p.e.reg.lookup(model, version)
	if s == nil {
		// Admitted with the wall time; later activity is the windows'
		// events (noteEvent at sealing), not their records.
		now := p.e.opts.Clock().UnixNano()
		var evicted []*series
		s, evicted = p.e.reg.version(admission{model: model, version: version, lastSeen: now})
		for _, x := range evicted {
			p.e.afterRetire(x, StateEvicted, "evicted at a cap for "+model+" "+version, time.Unix(0, now))
		}
		if s == nil {
			return nil
		}
	}
	if _, ok := p.vers[s]; !ok {
		for old := range p.vers {
			if old.retired.Load() {
				delete(p.vers, old)
			}
		}
		p.vers[s] = map[partKey]*stageSrc{}
		var us []update
		for _, k := range p.sourceKeys() {
			us = append(us, update{part: p.evalKey(k), kind: updTouch, touch: []*series{s}})
		}
		p.e.ev.pushAll(us...)
	}
	return s
}

func (p *stagePart) sourceKeys() []partKey {
	keys := make([]partKey, 0, len(p.sources))
	for k := range p.sources {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePartKeys)
	return keys
}

func (p *stagePart) versionList() []*series {
	out := make([]*series, 0, len(p.vers))
	for s := range p.vers {
		if !s.retired.Load() {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *series) int { return cmp.Compare(a.id, b.id) })
	return out
}

// seal hands the evaluator a source's watermark and the windows of every
// version it covers. Called with p.mu held.
func (p *stagePart) seal(srcKey partKey, closedEnd int64, idle bool) {
	W := p.e.window
	m := p.sources[srcKey]
	if m == nil {
		m = &sourceMark{closedEnd: math.MinInt64}
		p.sources[srcKey] = m
	}
	m.closedEnd, m.idle = max(m.closedEnd, closedEnd), idle
	vers := p.versionList()
	u := update{part: p.evalKey(srcKey), kind: updClose, closedEnd: m.closedEnd, idle: idle, touch: vers}
	for _, s := range vers {
		src := p.vers[s][srcKey]
		if src == nil {
			continue
		}
		var starts []int64
		for start := range src.building {
			if start == cumulativeMark || start+W <= m.closedEnd {
				starts = append(starts, start)
			}
		}
		slices.Sort(starts)
		for _, start := range starts {
			w := src.building[start]
			delete(src.building, start)
			if start == cumulativeMark {
				src.cum = w
				u.cums = append(u.cums, partial{s: s, w: w})
				continue
			}
			if w.events > 0 {
				s.noteEvent(start + W - 1)
			}
			i, found := slices.BinarySearchFunc(src.horizon, start, func(x *window, t int64) int { return cmp.Compare(x.start, t) })
			if found {
				src.horizon[i] = w
			} else {
				src.horizon = slices.Insert(src.horizon, i, w)
			}
			u.partials = append(u.partials, partial{s: s, w: w})
		}
		// Kept while a horizon to come may need them: as the evaluator
		// prunes, from the last window it evaluated (which may lag).
		if et := p.e.ev.publishedThrough(s); et != math.MinInt64 {
			H := int64(p.e.opts.HorizonWindows)
			drop := 0
			for drop < len(src.horizon) && src.horizon[drop].start <= et-H*W {
				drop++
			}
			src.horizon = slices.Delete(src.horizon, 0, drop)
		}
	}
	p.e.ev.push(u)
}

// announce hands the evaluator what a restored partition holds.
func (p *stagePart) announce() {
	p.mu.Lock()
	defer p.mu.Unlock()
	vers := p.versionList()
	evaluated := make([]int64, len(vers))
	for i, s := range vers {
		evaluated[i] = math.MinInt64
		if e, ok := p.evaluated[s]; ok {
			evaluated[i] = e
		}
	}
	p.evaluated = nil
	var us []update
	if len(p.states) > 0 {
		// First: the evaluations this announce allows come after.
		u := update{part: p.key, kind: updStates}
		for _, s := range vers {
			if st, ok := p.states[s]; ok {
				u.states = append(u.states, versionStates{s: s, states: st})
			}
		}
		us = append(us, u)
	}
	p.states = nil
	for _, k := range p.sourceKeys() {
		m := p.sources[k]
		u := update{part: p.evalKey(k), kind: updRestore, closedEnd: m.closedEnd, idle: m.idle, touch: vers, evaluated: evaluated}
		for _, s := range vers {
			src := p.vers[s][k]
			if src == nil {
				continue
			}
			for _, w := range src.horizon {
				u.partials = append(u.partials, partial{s: s, w: w})
			}
			if src.cum != nil {
				u.cums = append(u.cums, partial{s: s, w: src.cum})
			}
		}
		us = append(us, u)
	}
	p.e.ev.pushAll(us...)
}

// Checkpoint saves the partition's state once the evaluator has judged
// what the records applied so far made due, so that a restore neither
// judges a window twice nor skips one. With each version go its state
// sinks' states (the alerts' lifecycle) after exactly the evaluations the
// checkpoint records as made.
func (p *stagePart) Checkpoint() (int64, error) {
	p.e.ev.sync(p.e.opts.Cluster.FlushTimeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.offset, errors.New("engine: checkpoint of a closed partition")
	}
	vers := p.versionList()
	snap, err := p.e.ev.snapshot(p.key.String(), vers, p.e.opts.Cluster.FlushTimeout)
	if err != nil {
		return p.offset, err
	}
	data, err := p.encode(vers, snap)
	if err != nil {
		snap.keep()
		return p.offset, err
	}
	if err := p.store.Save(p.key.topic, p.key.partition, data); err != nil {
		if errors.Is(err, stream.ErrFenced) {
			p.withhold(snap, err)
		} else {
			snap.keep()
		}
		return p.offset, err
	}
	// The fence of the alerts: the notices of the judgements this
	// checkpoint records go out only once it is saved and the group
	// coordinator still takes this process's generation for the
	// partition. A zombie (paused past its session timeout, then resumed)
	// learns here that a newer owner restored the partition, and sends
	// nothing of what it judged since.
	if oc, ok := p.store.(stream.OwnershipChecker); ok {
		if err := oc.Owned(p.key.topic, p.key.partition); err != nil {
			if errors.Is(err, stream.ErrFenced) {
				p.withhold(snap, err)
				return p.offset, err
			}
			snap.keep()
			p.e.log.Warn("evaluation stage: the partition's ownership could not be confirmed after its checkpoint; its alert changes wait for the next one",
				"partition", p.key.String(), "err", err)
			return p.offset, nil
		}
	}
	for _, h := range snap.held {
		h.Deliver()
	}
	return p.offset, nil
}

// withhold discards the notices a fenced checkpoint took, counted and
// logged. Called with p.mu held.
func (p *stagePart) withhold(snap stageSnapshot, err error) {
	n := 0
	for _, h := range snap.held {
		n += h.Len()
		h.Discard()
	}
	p.e.m.stageWithheld.Add(float64(n))
	p.e.log.Warn("evaluation stage partition fenced: a newer owner restored it; the alert changes of what this process judged since its last checkpoint are not sent (the owner judges those windows again)",
		"partition", p.key.String(), "withheld", n, "err", err)
}

// Close forgets the partition; its versions' evaluations stay for
// ClusterOptions.ReleaseWait, in case a rebalance gives it back.
func (p *stagePart) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.e.stageMu.Lock()
	if p.e.stageParts[p.key] == p {
		delete(p.e.stageParts, p.key)
	}
	p.e.stageMu.Unlock()
	var us []update
	for _, k := range p.sourceKeys() {
		us = append(us, update{part: p.evalKey(k), kind: updForget})
	}
	p.e.ev.pushAll(us...)
	p.sources, p.vers = nil, nil
	return nil
}

// A stage checkpoint:
//
//	"NWES" version(3)
//	offset
//	per source partition: topic, partition, closed-through, idle
//	per model version: model, version, end of the last window evaluated
//	  (whose evaluation reached the sinks), feature names, embedding
//	  names, and per source partition holding it: topic, partition,
//	  horizon windows, cumulative view, windows not yet sealed; then
//	  (version 2) per state sink: its name and the version's state;
//	  then (version 3) the version's first event time, the outcome
//	  names, and per window above, in order, its outcomes' moments
//	  (outcomes.go)
//	CRC-32C of everything before it, little-endian
//
// Windows are encoded as in an ingest checkpoint (format 4, with the
// embeddings' signals), numbered by the names listed. Versions 1 and 2
// are read too: version 1's alerts start over, and both restore windows
// without outcomes.
const (
	stageMagic   = "NWES"
	stageVersion = 3
)

func (p *stagePart) encode(vers []*series, snap stageSnapshot) ([]byte, error) {
	w := &ckWriter{b: make([]byte, 0, 4096)}
	w.b = append(w.b, stageMagic...)
	w.b = append(w.b, stageVersion)
	w.i(p.offset)
	keys := p.sourceKeys()
	w.u(uint64(len(keys)))
	for _, k := range keys {
		w.s(k.topic)
		w.u(uint64(k.partition))
		w.i(p.sources[k].closedEnd)
		w.u(boolU(p.sources[k].idle))
	}
	w.u(uint64(len(vers)))
	for vi, s := range vers {
		w.s(s.model)
		w.s(s.version)
		w.i(snap.published[vi])
		feats, embs := p.e.reg.names(s)
		fl := make(map[int32]uint64, len(feats))
		w.u(uint64(len(feats)))
		for i, n := range feats {
			fl[int32(i)] = uint64(i)
			w.s(n)
		}
		el := make(map[int32]uint64, len(embs))
		w.u(uint64(len(embs)))
		for i, n := range embs {
			el[int32(i)] = uint64(i)
			w.s(n)
		}
		srcKeys := make([]partKey, 0, len(p.vers[s]))
		for k := range p.vers[s] {
			srcKeys = append(srcKeys, k)
		}
		slices.SortFunc(srcKeys, comparePartKeys)
		w.u(uint64(len(srcKeys)))
		for _, k := range srcKeys {
			src := p.vers[s][k]
			w.s(k.topic)
			w.u(uint64(k.partition))
			wins := p.stageWindows(src)
			w.u(uint64(len(src.horizon)))
			for _, win := range wins[:len(src.horizon)] {
				if err := encodeWindow(w, win, fl, el); err != nil {
					return nil, err
				}
			}
			wins = wins[len(src.horizon):]
			if src.cum == nil {
				w.u(0)
			} else {
				w.u(1)
				if err := encodeWindow(w, src.cum, fl, el); err != nil {
					return nil, err
				}
				wins = wins[1:]
			}
			w.u(uint64(len(wins)))
			for _, win := range wins {
				if err := encodeWindow(w, win, fl, el); err != nil {
					return nil, err
				}
			}
		}
		names := make([]string, 0, len(snap.states[vi]))
		for n := range snap.states[vi] {
			names = append(names, n)
		}
		slices.Sort(names)
		w.u(uint64(len(names)))
		for _, n := range names {
			w.s(n)
			w.s(string(snap.states[vi][n]))
		}
		// Version 3: the outcomes, of the windows above in their order.
		p.e.encodeOutcomeNames(w, s)
		for _, k := range srcKeys {
			for _, win := range p.stageWindows(p.vers[s][k]) {
				encodeWindowOutcomes(w, win)
			}
		}
	}
	w.b = binary.LittleEndian.AppendUint32(w.b, crc32.Checksum(w.b, castagnoli))
	return w.b, nil
}

// stageWindows returns src's windows in the order a checkpoint writes
// them: horizon, cumulative, unsealed by start.
func (p *stagePart) stageWindows(src *stageSrc) []*window {
	out := slices.Clone(src.horizon)
	if src.cum != nil {
		out = append(out, src.cum)
	}
	starts := make([]int64, 0, len(src.building))
	for st := range src.building {
		starts = append(starts, st)
	}
	slices.Sort(starts)
	for _, st := range starts {
		out = append(out, src.building[st])
	}
	return out
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (p *stagePart) restore(data []byte) error {
	if len(data) < len(stageMagic)+1+4 || string(data[:len(stageMagic)]) != stageMagic {
		return fmt.Errorf("%w: not a normwatch evaluation-stage checkpoint", ErrCorrupt)
	}
	ver := data[len(stageMagic)]
	if ver < 1 || ver > stageVersion {
		return fmt.Errorf("%w: stage checkpoint version %d, this build reads 1 to %d", ErrCorrupt, ver, stageVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	// Windows are in the current ingest checkpoint's form, signals too.
	r := &ckReader{b: body[len(stageMagic)+1:], ver: checkpointVersion}
	offset := r.i("offset")
	sources := map[partKey]*sourceMark{}
	ns := r.count("sources", 4)
	for range ns {
		k := partKey{topic: r.s("source topic"), partition: int(r.u("source partition"))}
		sources[k] = &sourceMark{closedEnd: r.i("closed through"), idle: r.u("idle") == 1}
	}
	type srcEntry struct {
		key      partKey
		horizon  []*ckWindow
		cum      *ckWindow
		building []*ckWindow
	}
	type verEntry struct {
		cv     *ckVersion
		srcs   []srcEntry
		states map[string][]byte
	}
	var entries []verEntry
	nv := r.count("versions", 4)
	for range nv {
		ve := verEntry{cv: &ckVersion{model: r.s("model"), version: r.s("version"), evaluated: r.i("evaluated")}}
		nf := r.count("features", 1)
		for range nf {
			ve.cv.feats = append(ve.cv.feats, r.s("feature"))
		}
		ne := r.count("embeddings", 1)
		for range ne {
			ve.cv.embs = append(ve.cv.embs, r.s("embedding"))
		}
		nsrc := r.count("version sources", 3)
		for range nsrc {
			se := srcEntry{key: partKey{topic: r.s("source topic"), partition: int(r.u("source partition"))}}
			nh := r.count("horizon windows", 5)
			for range nh {
				se.horizon = append(se.horizon, decodeWindow(r, ve.cv))
			}
			if r.u("cumulative") == 1 {
				se.cum = decodeWindow(r, ve.cv)
			}
			nb := r.count("unsealed windows", 5)
			for range nb {
				se.building = append(se.building, decodeWindow(r, ve.cv))
			}
			ve.srcs = append(ve.srcs, se)
		}
		if ver >= 2 {
			nst := r.count("state sinks", 2)
			for range nst {
				name := r.s("state sink")
				state := r.s("sink state")
				if ve.states == nil {
					ve.states = map[string][]byte{}
				}
				ve.states[name] = []byte(state)
			}
		}
		if ver >= 3 {
			decodeOutcomeNames(r, ve.cv)
			for _, se := range ve.srcs {
				wins := append(slices.Clone(se.horizon), se.cum)
				for _, cw := range append(wins, se.building...) {
					if cw != nil {
						decodeWindowOutcomes(r, ve.cv, cw)
					}
				}
			}
		}
		entries = append(entries, ve)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes left over", len(r.b))
	}
	if r.err != nil {
		return r.err
	}
	p.offset, p.sources = offset, sources
	p.evaluated = map[*series]int64{}
	p.states = map[*series]map[string][]byte{}
	now := p.e.opts.Clock()
	for _, ve := range entries {
		s, evicted := p.e.reg.version(admission{model: ve.cv.model, version: ve.cv.version, lastSeen: now.UnixNano()})
		for _, x := range evicted {
			p.e.afterRetire(x, StateEvicted, "evicted at a cap for "+ve.cv.model+" "+ve.cv.version+" (restored)", now)
		}
		if s == nil {
			continue
		}
		for _, b := range ve.cv.broken {
			p.e.internalError(ComponentRestore, s, b.name, b.err, nil)
		}
		fmap := make([]int32, len(ve.cv.feats))
		for i, name := range ve.cv.feats {
			fmap[i] = p.e.reg.feature(s, name)
		}
		emap := make([]int32, len(ve.cv.embs))
		for i, name := range ve.cv.embs {
			emap[i] = p.e.reg.embedding(s, name)
		}
		s.noteFirst(ve.cv.firstEvent)
		conv := func(cw *ckWindow) *window {
			w := convWindow(cw, fmap, emap)
			if w != nil {
				p.e.restoreOutcomes(cw, w, ve.cv.outcomes)
			}
			return w
		}
		srcs := map[partKey]*stageSrc{}
		for _, se := range ve.srcs {
			src := &stageSrc{building: map[int64]*window{}, cum: conv(se.cum)}
			for _, cw := range se.horizon {
				src.horizon = append(src.horizon, conv(cw))
			}
			for _, cw := range se.building {
				w := conv(cw)
				src.building[w.start] = w
			}
			srcs[se.key] = src
		}
		p.vers[s] = srcs
		p.evaluated[s] = ve.cv.evaluated
		if ve.states != nil {
			p.states[s] = ve.states
		}
	}
	return nil
}
