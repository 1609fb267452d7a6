package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Cluster mode: N processes in one consumer group share the partitions of
// the event topics; none of them can judge a model version alone, since
// each holds only its partitions' share. Each process publishes what its
// partitions close to the partials topic instead of evaluating it, and the
// evaluation stage (stage.go, a consumer group on that topic in the same
// binary) merges every source partition's share and judges once.
//
// A record of the partials topic is one of:
//
//	window     one series (feature or embedding) of one closed window of
//	           one source partition: its sketch, and the window's events
//	cumulative the same for the source partition's cumulative view
//	watermark  a source partition's progress for one model version: the
//	           end of its closed windows, and whether it is idle
//
// Keys (for compaction) name what a record is about: a window record's
// key is (type, source topic, source partition, model, version, name,
// window start); a watermark's is (type, source topic, source partition),
// so that the topic keeps each source's last watermark. Every window
// record of a model has the same route and so reaches one partition of
// the topic, in the order written; a watermark goes to every
// partition, so that each stage partition knows every source and waits
// for it, whether or not the source has events of its versions. A source
// writes a close's window records first and its watermark after they are
// acknowledged: whoever reads a watermark has read every window it covers. The stage replaces a (source, window) it
// already holds rather than adding it again, so a window republished
// (after its partition moved, or a crash before the checkpoint) counts
// once, and compaction keeping the last copy of a key loses nothing.
//
// Values: "NWP" format(1) type, source topic, source partition; a
// watermark then: closed-through, idle; a window or cumulative record:
// model, version, name, window start (math.MinInt64 for cumulative),
// events, then for a feature its Numeric sketch and its raw-normalized
// pair, for an embedding its Vector sketch, its similarity and its
// activation sketches and its frozen-query aggregates (signals.go; format
// 2, format 1 is read too), each in its binary form, empty when absent.
// An outcome record (format 3, with Options.Outcomes configured: one per
// window and cumulative view of a version, whether or not its events
// carried outcomes) holds model, version, window start, events, the
// version's first event time (what orders versions for the outcomes'
// previous version), then the count of outcomes with values and each's
// name and moments (N, mean, M2, M3, M4 as float64 bits); its key ends
// at the window start. A candidate record (format 3) says that a
// version's events are routed as a candidate's (the route: shadow
// header, gate.go), so that the stage's gate knows it too: model and
// version, its key; one with each close of such a version's windows. A
// pairs record (format 3) holds a candidate's values joined with a live
// version's by request id in one window of the source partition
// (pairs.go): model, candidate version, live version, window start (the
// key's end), requests, then per feature its name and sketch.Pair, per
// embedding its name, pairs, cosine sum, least cosine, norm ratio sum,
// off pairs and their ratio sum.
// Integers are varints, strings and sketches length-prefixed.
const (
	partialMagic   = "NWP"
	partialFormat  = 3
	recWatermark   = 'W'
	recFeature     = 'F'
	recEmbedding   = 'E'
	recOutcomes    = 'O'
	recCandidate   = 'C'
	recPairs       = 'P'
	cumulativeMark = math.MinInt64
)

// PartialWriter writes records to the partials topic, returning once the
// brokers have them all; stream.PartialsWriter implements it.
type PartialWriter interface {
	WritePartials(ctx context.Context, recs []stream.Record) error
}

// Defaults of ClusterOptions.
const (
	DefaultStageMaxWait     = 2 * time.Minute
	DefaultFlushTimeout     = 10 * time.Second
	DefaultPartialsQueue    = 1024
	DefaultStageReleaseWait = time.Minute
)

// ClusterOptions configure cluster mode. The zero value is one process
// judging its own partitions.
type ClusterOptions struct {
	// Partials, when set, turns cluster mode on: partitions publish their
	// closed windows to it instead of evaluating them, and evaluations
	// come only from the evaluation stage (Stage).
	Partials PartialWriter
	// MaxWait bounds how long the stage waits for a source partition
	// that has not closed a window the others have (its process is gone,
	// or lags): past it the window is judged without it, which is counted
	// in normwatch_stage_forced_evaluations_total and logged.
	MaxWait time.Duration
	// FlushTimeout bounds how long a checkpoint waits for the partials it
	// covers to be written; past it the checkpoint fails (its offsets stay
	// uncommitted) and is tried again.
	FlushTimeout time.Duration
	// Queue bounds the closes waiting to be written; past it partitions
	// wait (their consumption stalls, their lag shows it).
	Queue int
	// ReleaseWait is how long the stage keeps a model version whose
	// partials partition it lost before it forgets its evaluations and
	// alerts: a rebalance that gives the partition back keeps them.
	ReleaseWait time.Duration
}

func (c ClusterOptions) withDefaults() ClusterOptions {
	if c.MaxWait == 0 {
		c.MaxWait = DefaultStageMaxWait
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Queue == 0 {
		c.Queue = DefaultPartialsQueue
	}
	if c.ReleaseWait == 0 {
		c.ReleaseWait = DefaultStageReleaseWait
	}
	return c
}

// Route is the route of a model version's records on the partials topic:
// its model's, so that every version of a model meets in one stage
// partition, where a version without a baseline is compared with the
// previous version's cumulative view (Fallback).
func Route(model, _ string) string { return model }

func appendHeader(w *ckWriter, typ byte, src partKey) {
	w.b = append(w.b, partialMagic...)
	w.b = append(w.b, partialFormat, typ)
	w.s(src.topic)
	w.u(uint64(src.partition))
}

// record makes a record of w's bytes; the key is the value's head up to
// keyEnd, past the magic and format.
func record(w *ckWriter, keyEnd int, route string) stream.Record {
	return stream.Record{Key: w.b[len(partialMagic)+1 : keyEnd], Value: w.b, Route: route}
}

// candidateRecord says that s's events on src are routed as a
// candidate's.
func candidateRecord(src partKey, s *series) stream.Record {
	w := &ckWriter{}
	appendHeader(w, recCandidate, src)
	w.s(s.model)
	w.s(s.version)
	return record(w, len(w.b), Route(s.model, s.version))
}

// pairsRecord appends the record of pw, cand's values paired with live's
// in the window at start of src.
func (e *Engine) pairsRecord(recs []stream.Record, src partKey, cand *series, live string, start int64, pw *pairWindow) []stream.Record {
	w := &ckWriter{}
	appendHeader(w, recPairs, src)
	w.s(cand.model)
	w.s(cand.version)
	w.s(live)
	w.i(start)
	end := len(w.b)
	w.u(pw.n)
	w.u(uint64(len(pw.feats)))
	for _, n := range sortedKeys(pw.feats) {
		w.s(n)
		b, err := pw.feats[n].MarshalBinary()
		if err != nil {
			e.internalError(ComponentCheckpoint, cand, n, err, nil)
			return recs
		}
		w.s(string(b))
	}
	w.u(uint64(len(pw.embs)))
	for _, n := range sortedKeys(pw.embs) {
		p := pw.embs[n]
		w.s(n)
		w.u(p.n)
		w.u(p.off)
		for _, x := range []float64{p.sumCos, p.minCos, p.sumRatio, p.sumOff} {
			w.b = binaryAppendFloat(w.b, x)
		}
	}
	return append(recs, record(w, end, Route(cand.model, cand.version)))
}

// watermarkRecord is src's watermark, for every partition of the topic:
// each stage partition waits for every source it knows, whether or not
// the source has events of its versions.
func watermarkRecord(src partKey, closedEnd int64, idle bool) stream.Record {
	w := &ckWriter{}
	appendHeader(w, recWatermark, src)
	end := len(w.b)
	w.i(closedEnd)
	if idle {
		w.u(1)
	} else {
		w.u(0)
	}
	r := record(w, end, "")
	r.Broadcast = true
	return r
}

// windowRecords appends the records of w (a closed window, or with start
// cumulativeMark a cumulative view) of s from src. A sketch that does not
// encode (a bug of ours) is reported and left out.
func (e *Engine) windowRecords(recs []stream.Record, s *series, src partKey, win *window) []stream.Record {
	feats, embs := e.reg.names(s)
	route := Route(s.model, s.version)
	start := win.start
	for i, n := range win.num {
		if n == nil || i >= len(feats) {
			continue
		}
		w := &ckWriter{b: make([]byte, 0, 4096)}
		appendHeader(w, recFeature, src)
		w.s(s.model)
		w.s(s.version)
		w.s(feats[i])
		w.i(start)
		end := len(w.b)
		w.u(win.events)
		err := w.bytes(n.AppendBinary)
		if err == nil {
			var pb []byte
			if i < len(win.pairs) && win.pairs[i] != nil {
				pb, err = win.pairs[i].MarshalBinary()
			}
			w.s(string(pb))
		}
		if err != nil {
			e.internalError(ComponentCheckpoint, s, feats[i], err, nil)
			continue
		}
		recs = append(recs, record(w, end, route))
	}
	for i := range min(len(embs), max(len(win.vec), len(win.sim), len(win.act), len(win.frz))) {
		v, sim, act, frz := at(win.vec, i), at(win.sim, i), at(win.act, i), at(win.frz, i)
		if v == nil && sim == nil && act == nil && frz == nil {
			continue
		}
		w := &ckWriter{}
		appendHeader(w, recEmbedding, src)
		w.s(s.model)
		w.s(s.version)
		w.s(embs[i])
		w.i(start)
		end := len(w.b)
		w.u(win.events)
		// The vector sketch, then the signals (similarity, activation,
		// frozen runs), each empty when absent.
		var err error
		for _, m := range []interface{ MarshalBinary() ([]byte, error) }{v, sim, act, frz} {
			var b []byte
			if m != nil && !isNil(m) {
				if b, err = m.MarshalBinary(); err != nil {
					break
				}
			}
			w.s(string(b))
		}
		if err != nil {
			e.internalError(ComponentCheckpoint, s, embs[i], err, nil)
			continue
		}
		recs = append(recs, record(w, end, route))
	}
	if specs := e.opts.Outcomes; len(specs) > 0 {
		w := &ckWriter{}
		appendHeader(w, recOutcomes, src)
		w.s(s.model)
		w.s(s.version)
		w.i(start)
		end := len(w.b)
		w.u(win.events)
		w.i(s.firstEvent.Load())
		w.u(uint64(valued(win.out)))
		for k, m := range win.out {
			if m.N > 0 && k < len(specs) {
				w.s(specs[k].Name)
				w.b = appendMoments(w.b, m)
			}
		}
		recs = append(recs, record(w, end, route))
	}
	return recs
}

// at is s[i], or nil past its end.
func at[T any](s []*T, i int) *T {
	if i < len(s) {
		return s[i]
	}
	return nil
}

// isNil reports whether m holds a nil pointer.
func isNil(m interface{ MarshalBinary() ([]byte, error) }) bool {
	switch x := m.(type) {
	case *sketch.Vector:
		return x == nil
	case *sketch.Similarity:
		return x == nil
	case *sketch.Activation:
		return x == nil
	case *sketch.Frozen:
		return x == nil
	}
	return false
}

// partialRec is a decoded record.
type partialRec struct {
	typ            byte
	model, version string
	src            partKey
	closedEnd      int64 // watermark
	idle           bool  // watermark
	name           string
	start          int64
	events         uint64
	num            *sketch.Numeric
	pair           *sketch.Pair
	vec            *sketch.Vector
	sim            *sketch.Similarity
	act            *sketch.Activation
	frz            *sketch.Frozen
	// an outcome record's: the version's first event time, and the
	// outcomes' names and moments
	first    int64
	outNames []string
	out      []sketch.Moments
	// a pairs record's: the live version and the pair window
	live  string
	pairs *pairWindow
}

// errBadPartial is wrapped by the errors of a record that does not decode.
var errBadPartial = errors.New("engine: bad partial record")

func decodePartial(b []byte) (*partialRec, error) {
	if len(b) < len(partialMagic)+2 || string(b[:len(partialMagic)]) != partialMagic {
		return nil, fmt.Errorf("%w: not a normwatch partial", errBadPartial)
	}
	f := b[len(partialMagic)]
	if f < 1 || f > partialFormat {
		return nil, fmt.Errorf("%w: format %d, this build reads 1 to %d", errBadPartial, f, partialFormat)
	}
	r := &ckReader{b: b[len(partialMagic)+2:]}
	p := &partialRec{typ: b[len(partialMagic)+1]}
	p.src.topic = r.s("source topic")
	part := r.u("source partition")
	if part > math.MaxInt32 {
		r.fail("source partition %d", part)
	}
	p.src.partition = int(part)
	switch p.typ {
	case recWatermark:
		p.closedEnd = r.i("closed through")
		p.idle = r.u("idle") == 1
	case recFeature, recEmbedding:
		p.model, p.version = r.s("model"), r.s("version")
		p.name, p.start, p.events = r.s("name"), r.i("window start"), r.u("events")
		sk := r.bytes("sketch")
		var extra, act, frz []byte
		extra = r.bytes("pair or similarity")
		if p.typ == recEmbedding {
			act = r.bytes("activation")
			if f >= 2 {
				frz = r.bytes("frozen runs")
			}
		}
		if r.err != nil {
			break
		}
		var err error
		if p.typ == recFeature {
			p.num = new(sketch.Numeric)
			err = p.num.UnmarshalBinary(sk)
			if err == nil && len(extra) > 0 {
				p.pair = new(sketch.Pair)
				err = p.pair.UnmarshalBinary(extra)
			}
		} else {
			if len(sk) > 0 {
				p.vec = new(sketch.Vector)
				err = p.vec.UnmarshalBinary(sk)
			}
			if err == nil && len(extra) > 0 {
				p.sim = new(sketch.Similarity)
				err = p.sim.UnmarshalBinary(extra)
			}
			if err == nil && len(act) > 0 {
				p.act = new(sketch.Activation)
				err = p.act.UnmarshalBinary(act)
			}
			if err == nil && len(frz) > 0 {
				p.frz = new(sketch.Frozen)
				err = p.frz.UnmarshalBinary(frz)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q of %s %s: %w", errBadPartial, string(p.typ), p.name, p.model, p.version, err)
		}
	case recPairs:
		if f < 3 {
			return nil, fmt.Errorf("%w: a pairs record in format %d", errBadPartial, f)
		}
		p.model, p.version, p.live = r.s("model"), r.s("version"), r.s("live version")
		p.start = r.i("window start")
		pw := newPairWindow()
		pw.n = r.u("requests")
		nf := r.count("paired features", 2)
		for range nf {
			name, b := r.s("paired feature"), r.bytes("pair")
			if r.err != nil {
				break
			}
			pr := new(sketch.Pair)
			if err := pr.UnmarshalBinary(b); err != nil || name == "" {
				return nil, fmt.Errorf("%w: paired feature %q of %s %s: %v", errBadPartial, name, p.model, p.version, err)
			}
			pw.feats[name] = pr
		}
		ne := r.count("paired embeddings", 35)
		for range ne {
			name := r.s("paired embedding")
			ep := &embPairs{n: r.u("pairs"), off: r.u("off pairs")}
			ep.sumCos, ep.minCos, ep.sumRatio, ep.sumOff = r.f64("cosine sum"), r.f64("least cosine"), r.f64("ratio sum"), r.f64("off ratio sum")
			if r.err != nil {
				break
			}
			if name == "" || ep.off > ep.n || !finite(ep.sumCos, ep.sumRatio, ep.sumOff) || math.IsNaN(ep.minCos) {
				return nil, fmt.Errorf("%w: paired embedding %q of %s %s", errBadPartial, name, p.model, p.version)
			}
			pw.embs[name] = ep
		}
		if p.live == "" {
			return nil, fmt.Errorf("%w: a pairs record without its live version", errBadPartial)
		}
		p.pairs = pw
	case recCandidate:
		if f < 3 {
			return nil, fmt.Errorf("%w: a candidate record in format %d", errBadPartial, f)
		}
		p.model, p.version = r.s("model"), r.s("version")
	case recOutcomes:
		if f < 3 {
			return nil, fmt.Errorf("%w: an outcome record in format %d", errBadPartial, f)
		}
		p.model, p.version = r.s("model"), r.s("version")
		p.start, p.events, p.first = r.i("window start"), r.u("events"), r.i("first event")
		n := r.count("outcomes", 41)
		for range n {
			name := r.s("outcome")
			m := readMoments(r)
			if r.err != nil {
				break
			}
			if name == "" || !(m.N > 0) || math.IsNaN(m.Mean) || math.IsInf(m.Mean, 0) || !(m.M2 >= 0) {
				return nil, fmt.Errorf("%w: outcome %q of %s %s: moments n %v mean %v m2 %v", errBadPartial, name, p.model, p.version, m.N, m.Mean, m.M2)
			}
			p.outNames, p.out = append(p.outNames, name), append(p.out, m)
		}
	default:
		return nil, fmt.Errorf("%w: record type %q", errBadPartial, p.typ)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPartial, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errBadPartial, len(r.b))
	}
	if p.src.topic == "" || (p.typ != recWatermark && (p.model == "" || p.version == "" || (p.name == "" && p.typ != recOutcomes && p.typ != recCandidate && p.typ != recPairs))) {
		return nil, fmt.Errorf("%w: empty model, version, topic or name", errBadPartial)
	}
	return p, nil
}

// Types of records, the label values of normwatch_partials_written_total
// and normwatch_partials_written_bytes_total.
const (
	PartialWindow     = "window"
	PartialCumulative = "cumulative"
	PartialWatermark  = "watermark"
)

// pubBatch is one close's records: windows first, then watermarks.
type pubBatch struct {
	windows, marks []stream.Record
	seq            uint64
	// records and bytes by type (partialTypes' order), counted once
	// written
	n, bytes [3]int
}

var partialTypes = [3]string{PartialWindow, PartialCumulative, PartialWatermark}

func (b *pubBatch) count(typ int, recs []stream.Record) {
	for _, r := range recs {
		b.n[typ]++
		b.bytes[typ] += len(r.Key) + len(r.Value)
	}
}

// Publisher writes what the partitions close to the partials topic, in
// order, retrying with backoff: a broker that is down stalls the
// partitions once the queue is full, and no checkpoint covers a close
// before its records are written. Run it beside the consumer (RunPublisher).
type publisher struct {
	e *Engine
	w PartialWriter

	mu       sync.Mutex
	cond     *sync.Cond // partitions waiting for room
	queue    []pubBatch
	enq      uint64
	acked    uint64
	changed  chan struct{} // closed at every acknowledgement
	stopping bool
	stopped  bool
	lastErr  error
	stop     chan struct{}
	stopOnce sync.Once
}

func newPublisher(e *Engine, w PartialWriter) *publisher {
	p := &publisher{e: e, w: w, changed: make(chan struct{}), stop: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// publish queues b, waiting for room. It returns b's sequence number, or
// 0 when the publisher has stopped (b is dropped and counted).
func (p *publisher) publish(b pubBatch) uint64 {
	if len(b.windows) == 0 && len(b.marks) == 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) >= p.e.opts.Cluster.Queue && !p.stopped {
		p.cond.Wait()
	}
	if p.stopped {
		p.e.m.partialsDropped.Add(float64(len(b.windows) + len(b.marks)))
		return 0
	}
	p.enq++
	b.seq = p.enq
	p.queue = append(p.queue, b)
	p.e.m.partialsQueue.Set(float64(len(p.queue)))
	p.cond.Broadcast()
	return b.seq
}

// seq is the sequence number of the last batch queued.
func (p *publisher) seq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enq
}

// flush waits until every batch up to seq is written, or timeout.
func (p *publisher) flush(seq uint64, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		p.mu.Lock()
		acked, ch, stopped, last := p.acked, p.changed, p.stopped, p.lastErr
		p.mu.Unlock()
		if acked >= seq {
			return nil
		}
		if stopped {
			return errors.New("engine: the partials publisher stopped before the closes this checkpoint covers were written")
		}
		select {
		case <-ch:
		case <-t.C:
			p.mu.Lock()
			last = p.lastErr
			p.mu.Unlock()
			if last != nil {
				return fmt.Errorf("engine: partials not written within %v: %w", timeout, last)
			}
			return fmt.Errorf("engine: partials not written within %v", timeout)
		}
	}
}

// run writes the queue until stopped and drained (or drain ends).
func (p *publisher) run(ctx context.Context, drain time.Duration) {
	backoff := 100 * time.Millisecond
	var drainEnd <-chan time.Time
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.stopping {
			p.cond.Wait()
		}
		if len(p.queue) == 0 {
			p.stopped = true
			p.cond.Broadcast()
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			return
		}
		batch := append([]pubBatch(nil), p.queue...)
		stopping := p.stopping
		p.mu.Unlock()
		if stopping && drainEnd == nil {
			drainEnd = time.After(drain)
		}
		// Coalesced: every window record of the batches, then every
		// watermark, so a watermark never goes before a window it covers.
		var windows, marks []stream.Record
		for _, b := range batch {
			windows = append(windows, b.windows...)
			marks = append(marks, b.marks...)
		}
		err := p.w.WritePartials(ctx, windows)
		if err == nil {
			err = p.w.WritePartials(ctx, marks)
		}
		if err == nil {
			for _, b := range batch {
				for t, name := range partialTypes {
					p.e.m.partialsWritten.WithLabelValues(name).Add(float64(b.n[t]))
					p.e.m.partialsBytes.WithLabelValues(name).Add(float64(b.bytes[t]))
				}
			}
			backoff = 100 * time.Millisecond
			p.mu.Lock()
			p.queue = p.queue[len(batch):]
			p.acked = batch[len(batch)-1].seq
			p.lastErr = nil
			close(p.changed)
			p.changed = make(chan struct{})
			p.e.m.partialsQueue.Set(float64(len(p.queue)))
			p.cond.Broadcast()
			p.mu.Unlock()
			continue
		}
		p.e.m.partialsErrors.Inc()
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		p.e.log.Warn("writing partials failed; retrying (checkpoints wait for them)", "records", len(windows)+len(marks), "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-drainEnd:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || (drainEnd != nil && isDone(drainEnd)) {
			p.mu.Lock()
			n := 0
			for _, b := range p.queue {
				n += len(b.windows) + len(b.marks)
			}
			p.queue = nil
			p.stopped = true
			p.e.m.partialsDropped.Add(float64(n))
			p.cond.Broadcast()
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			p.e.log.Error("partials publisher stopped with records unwritten; the checkpoints do not cover them, so they are re-read and published at the next start", "records", n)
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func isDone(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// RunPublisher writes the partitions' closes to the partials topic until
// StopPublisher is called (then for up to drain more, to write what is
// queued) or ctx ends. In cluster mode run it beside the consumer and stop
// it after the consumer: the consumer's last checkpoints wait for it. It
// returns at once outside cluster mode.
func (e *Engine) RunPublisher(ctx context.Context, drain time.Duration) error {
	if e.pub == nil {
		return nil
	}
	stopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.pub.stop:
		case <-stopCtx.Done():
		}
		e.pub.mu.Lock()
		e.pub.stopping = true
		e.pub.cond.Broadcast()
		e.pub.mu.Unlock()
	}()
	e.pub.run(ctx, drain)
	return nil
}

// StopPublisher makes RunPublisher write what is queued and return. It is
// safe to call more than once.
func (e *Engine) StopPublisher() {
	if e.pub != nil {
		e.pub.stopOnce.Do(func() { close(e.pub.stop) })
	}
}

// publishUpdate turns what a partition tells the evaluator into records:
// its closed windows and cumulative views, then the watermarks of every
// version it holds. Called with p.mu held.
func (p *partition) publishUpdate(u update) {
	var b pubBatch
	var marked []*series
	for _, x := range u.partials {
		b.windows = p.e.windowRecords(b.windows, x.s, p.key, x.w)
		if x.s.candidate.Load() && !slices.Contains(marked, x.s) {
			marked = append(marked, x.s)
			b.windows = append(b.windows, candidateRecord(p.key, x.s))
		}
		if byLive := p.e.pairs.closed(x.s, p.key, x.w.start); byLive != nil {
			for _, live := range sortedKeys(byLive) {
				b.windows = p.e.pairsRecord(b.windows, p.key, x.s, live, x.w.start, byLive[live])
			}
		}
	}
	b.count(0, b.windows)
	n := len(b.windows)
	for _, x := range u.cums {
		c := *x.w
		c.start = cumulativeMark
		b.windows = p.e.windowRecords(b.windows, x.s, p.key, &c)
	}
	b.count(1, b.windows[n:])
	b.marks = append(b.marks, watermarkRecord(p.key, p.closedEnd, p.idle))
	b.count(2, b.marks)
	p.e.pub.publish(b)
}

// tell hands u to the evaluator, or in cluster mode to the publisher (a
// partition leaving says nothing there: its next owner goes on). Called
// with p.mu held.
func (p *partition) tell(u update) {
	if p.e.pub == nil {
		p.e.ev.push(u)
		return
	}
	if u.kind != updForget {
		p.publishUpdate(u)
	}
}

// finite reports whether every x is a finite number.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
