package engine

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Defaults of the join of a candidate's events with the live version's
// by request id (GateOptions.JoinBuffer, JoinWait).
const (
	DefaultJoinBuffer = 10_000
	DefaultJoinWait   = 2 * time.Minute
)

// Results of a request id in the join buffer (*stable*, the result label
// of normwatch_candidate_pairs_total).
const (
	PairMatched   = "matched"   // a candidate's and a live event of one request paired
	PairExpired   = "expired"   // waited JoinWait (event time) unmatched
	PairEvicted   = "evicted"   // pushed out unmatched by a full buffer
	PairDuplicate = "duplicate" // a second event of one side: it replaces the first
	PairInvalid   = "invalid"   // a request id the decoder refused (stream.MaxRequestIDBytes)
)

// PairResults lists the results of a request id, for the metric.
func PairResults() []string {
	return []string{PairMatched, PairExpired, PairEvicted, PairDuplicate, PairInvalid}
}

// maxPairedSeries bounds the candidates whose paired values are kept, and
// maxPairedLive the live versions per candidate: beyond, the oldest go.
const (
	maxPairedSeries = 256
	maxPairedLive   = 4
)

// joinEntry is an event waiting in a join buffer for the other side of
// its request: its values, copied. A live event waits out JoinWait even
// once paired, for the request's other candidates; paired lists the
// candidates it was paired with.
type joinEntry struct {
	id        string
	candidate bool
	s         *series
	ts        int64
	feats     []stream.FeatureValue
	embs      []stream.EmbeddingValue
	paired    []*series
	done      bool // gone from byID: skipped by the queue
}

// joinBuffer holds one model's waiting events of one partition, by
// request id (one entry per version), oldest first in queue. Memory is
// bounded by construction: at most JoinBuffer entries wait, and the
// queue, which also holds entries already gone until they reach its head,
// is compacted at twice that.
type joinBuffer struct {
	byID  map[string][]*joinEntry
	n     int
	queue []*joinEntry
}

// remove takes x out of b.byID, counting it under result when it was
// never paired.
func (b *joinBuffer) remove(e *Engine, x *joinEntry, result string) {
	if x.done {
		return
	}
	x.done = true
	b.n--
	l := slices.DeleteFunc(b.byID[x.id], func(y *joinEntry) bool { return y == x })
	if len(l) == 0 {
		delete(b.byID, x.id)
	} else {
		b.byID[x.id] = l
	}
	if result != "" && len(x.paired) == 0 {
		e.m.pairsBy[result].Inc()
	}
}

// join pairs ev, of s, with the waiting events of the other side of its
// request, and makes it wait for those to come. Called with p.mu held,
// for an event with a request id of a model with a candidate; ts is its
// event time.
func (p *partition) join(s *series, ev *stream.Event, ts int64) {
	e := p.e
	if p.joins == nil {
		p.joins = map[string]*joinBuffer{}
	}
	b := p.joins[s.model]
	if b == nil {
		b = &joinBuffer{byID: map[string][]*joinEntry{}}
		p.joins[s.model] = b
	}
	// Expire from the head, in event time.
	wait := int64(e.opts.Gate.JoinWait)
	for len(b.queue) > 0 && (b.queue[0].done || b.queue[0].ts < ts-wait) {
		b.remove(e, b.queue[0], PairExpired)
		b.queue[0] = nil
		b.queue = b.queue[1:]
	}
	cand := e.isCandidate(s)
	var live *joinEntry
	for _, o := range slices.Clone(b.byID[ev.RequestID]) {
		switch {
		case o.s == s:
			// A second event of one version and request: it replaces
			// the first (a live one keeps whom it was paired with).
			e.m.pairsBy[PairDuplicate].Inc()
			if !cand {
				live = o
				continue
			}
			b.remove(e, o, "")
		case cand && !o.candidate:
			if slices.Contains(o.paired, s) {
				e.m.pairsBy[PairDuplicate].Inc()
				return
			}
			o.paired = append(o.paired, s)
			e.m.pairsBy[PairMatched].Inc()
			e.pairs.add(e, p.key, s, o.s.version, ts, ev.Features, ev.Embeddings, o.feats, o.embs)
			return
		case !cand && o.candidate:
			e.m.pairsBy[PairMatched].Inc()
			e.pairs.add(e, p.key, o.s, s.version, o.ts, o.feats, o.embs, ev.Features, ev.Embeddings)
			o.paired = append(o.paired, s)
			b.remove(e, o, "")
			if live == nil {
				live = &joinEntry{paired: []*series{o.s}}
			} else {
				live.paired = append(live.paired, o.s)
			}
		}
	}
	var paired []*series
	if live != nil {
		paired = live.paired
		if live.s != nil {
			b.remove(e, live, "")
		}
	}
	for b.n >= e.opts.Gate.JoinBuffer {
		b.remove(e, b.queue[0], PairEvicted)
		b.queue[0] = nil
		b.queue = b.queue[1:]
	}
	x := &joinEntry{id: ev.RequestID, candidate: cand, s: s, ts: ts, paired: paired,
		feats: slices.Clone(ev.Features), embs: make([]stream.EmbeddingValue, len(ev.Embeddings))}
	for i, v := range ev.Embeddings {
		x.embs[i] = stream.EmbeddingValue{Name: v.Name, Values: slices.Clone(v.Values), Missing: v.Missing}
	}
	b.byID[x.id] = append(b.byID[x.id], x)
	b.n++
	b.queue = append(b.queue, x)
	if len(b.queue) > 2*e.opts.Gate.JoinBuffer {
		b.queue = slices.DeleteFunc(b.queue, func(x *joinEntry) bool { return x.done })
	}
}

// pairStore holds the paired values of every candidate, by live version,
// window start (the candidate event's) and the source partition that
// joined them, kept for the horizon. It is not checkpointed: a restart
// starts the paired evidence afresh (and loses the unmatched ids of the
// join buffers). In cluster mode the ingesting partitions publish their
// pair windows with their closes, and the stage keeps them here by the
// source that published them.
type pairStore struct {
	mu sync.Mutex
	m  map[*series]map[string]map[pairKey]*pairWindow
}

// pairKey is a pair window's: its start and the source partition.
type pairKey struct {
	start int64
	src   partKey
}

// pairWindow is the paired values of one candidate, live version and
// window.
type pairWindow struct {
	n     uint64
	feats map[string]*sketch.Pair // x: live, y: candidate
	embs  map[string]*embPairs
}

type embPairs struct {
	n              uint64
	sumCos, minCos float64
	sumRatio       float64
	// off counts the pairs whose norm ratio is off 1 by more than the
	// unit tolerance, sumOff their ratios.
	off    uint64
	sumOff float64
}

func (w *pairWindow) merge(o *pairWindow) {
	w.n += o.n
	for n, p := range o.feats {
		q := w.feats[n]
		if q == nil {
			q = &sketch.Pair{}
			w.feats[n] = q
		}
		q.Merge(p)
	}
	for n, p := range o.embs {
		q := w.embs[n]
		if q == nil {
			q = &embPairs{minCos: math.Inf(1)}
			w.embs[n] = q
		}
		q.n += p.n
		q.sumCos += p.sumCos
		q.sumRatio += p.sumRatio
		q.minCos = math.Min(q.minCos, p.minCos)
		q.off += p.off
		q.sumOff += p.sumOff
	}
}

// windows returns the pair windows of cand against live, made when
// missing (within the bounds), those past the horizon of start dropped.
// Called with ps.mu held.
func (ps *pairStore) windows(e *Engine, cand *series, live string, start int64) map[pairKey]*pairWindow {
	W, H := e.window, int64(e.opts.HorizonWindows)
	if ps.m == nil {
		ps.m = map[*series]map[string]map[pairKey]*pairWindow{}
	}
	byLive := ps.m[cand]
	if byLive == nil {
		if len(ps.m) >= maxPairedSeries {
			for s := range ps.m { // any other: a bound, not a policy
				delete(ps.m, s)
				break
			}
		}
		byLive = map[string]map[pairKey]*pairWindow{}
		ps.m[cand] = byLive
	}
	wins := byLive[live]
	if wins == nil {
		if len(byLive) >= maxPairedLive {
			for v := range byLive {
				delete(byLive, v)
				break
			}
		}
		wins = map[pairKey]*pairWindow{}
		byLive[live] = wins
	}
	for k := range wins {
		if k.start <= start-H*W-W { // one window of slack for the evaluator
			delete(wins, k)
		}
	}
	return wins
}

// put sets the pair window of cand against live at start from src, as
// the stage reads it: a republished window replaces the first copy.
func (ps *pairStore) put(e *Engine, src partKey, cand *series, live string, start int64, w *pairWindow) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.windows(e, cand, live, start)[pairKey{start, src}] = w
}

// closed returns, by live version, copies of cand's pair windows at start
// joined in src: what a partition publishes when it closes the window.
func (ps *pairStore) closed(cand *series, src partKey, start int64) map[string]*pairWindow {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out map[string]*pairWindow
	for live, wins := range ps.m[cand] {
		if w := wins[pairKey{start, src}]; w != nil {
			if out == nil {
				out = map[string]*pairWindow{}
			}
			c := newPairWindow()
			c.merge(w)
			out[live] = c
		}
	}
	return out
}

func newPairWindow() *pairWindow {
	return &pairWindow{feats: map[string]*sketch.Pair{}, embs: map[string]*embPairs{}}
}

// add pairs a candidate's values (cf, ce, of cand, at ts) with live's (lf,
// le) of the same request.
func (ps *pairStore) add(e *Engine, src partKey, cand *series, live string, ts int64, cf []stream.FeatureValue, ce []stream.EmbeddingValue, lf []stream.FeatureValue, le []stream.EmbeddingValue) {
	start := floorDiv(ts, e.window) * e.window
	ps.mu.Lock()
	defer ps.mu.Unlock()
	wins := ps.windows(e, cand, live, start)
	k := pairKey{start, src}
	w := wins[k]
	if w == nil {
		w = newPairWindow()
		wins[k] = w
	}
	w.n++
	lim := e.reg.lim
	for i := range cf {
		c := &cf[i]
		if c.Missing || c.TypeError {
			continue
		}
		for j := range lf {
			if l := &lf[j]; l.Name == c.Name && !l.Missing && !l.TypeError {
				p := w.feats[c.Name]
				if p == nil {
					if len(w.feats) >= lim.MaxFeatures {
						break
					}
					p = &sketch.Pair{}
					w.feats[c.Name] = p
				}
				p.Add(l.Value, c.Value)
				break
			}
		}
	}
	for i := range ce {
		c := &ce[i]
		if c.Missing {
			continue
		}
		for j := range le {
			if l := &le[j]; l.Name == c.Name && !l.Missing && len(l.Values) == len(c.Values) {
				cos, ratio, ok := cosineRatio(l.Values, c.Values)
				if !ok {
					break
				}
				p := w.embs[c.Name]
				if p == nil {
					if len(w.embs) >= lim.MaxEmbeddings {
						break
					}
					p = &embPairs{minCos: math.Inf(1)}
					w.embs[c.Name] = p
				}
				p.n++
				p.sumCos += cos
				p.sumRatio += ratio
				p.minCos = math.Min(p.minCos, cos)
				if math.Abs(ratio-1) > sketch.DefaultUnitTolerance {
					p.off++
					p.sumOff += ratio
				}
				break
			}
		}
	}
}

// cosineRatio returns the cosine of live and cand and the ratio of their
// norms (cand's over live's); false when either is zero or not finite.
func cosineRatio(live, cand []float32) (cos, ratio float64, ok bool) {
	var ll, cc, lc float64
	for i := range live {
		l, c := float64(live[i]), float64(cand[i])
		ll += l * l
		cc += c * c
		lc += l * c
	}
	if !(ll > 0 && cc > 0) || math.IsInf(ll+cc, 0) || math.IsNaN(lc) {
		return 0, 0, false
	}
	return lc / math.Sqrt(ll*cc), math.Sqrt(cc / ll), true
}

// PairedComparison is a candidate's values joined with the live version's
// by request id over the horizon ending at the last window compared:
// per feature the fit candidate ≈ a × live + b, per embedding the cosine
// and norm ratio of the two vectors.
type PairedComparison struct {
	Version    string                  `json:"live_version"`
	Requests   uint64                  `json:"requests"`
	Features   []drift.PairedFeature   `json:"features"`
	Embeddings []drift.PairedEmbedding `json:"embeddings"`
}

// paired judges s's paired values against live over the horizon of the
// window at start; nil when there are none.
func (e *Engine) paired(s *series, live string, start int64) *PairedComparison {
	W, H := e.window, int64(e.opts.HorizonWindows)
	sum := newPairWindow()
	e.pairs.mu.Lock()
	for k, w := range e.pairs.m[s][live] {
		if k.start <= start && k.start > start-H*W {
			sum.merge(w)
		}
	}
	e.pairs.mu.Unlock()
	if sum.n == 0 {
		return nil
	}
	// The candidate's declared scalers name the cause, else live's.
	decl, _, ok := e.baselines.Lookup(s.model, s.version)
	if !ok {
		decl, _, _ = e.baselines.Lookup(s.model, live)
	}
	th := e.opts.Thresholds
	out := &PairedComparison{Version: live, Requests: sum.n, Features: []drift.PairedFeature{}, Embeddings: []drift.PairedEmbedding{}}
	for _, n := range sortedKeys(sum.feats) {
		out.Features = append(out.Features, drift.JudgePairedFeature(n, sum.feats[n], decl.Features[n].Norm, th))
	}
	for _, n := range sortedKeys(sum.embs) {
		p := sum.embs[n]
		out.Embeddings = append(out.Embeddings, drift.JudgePairedEmbedding(n, p.n, p.sumCos/float64(p.n), p.minCos, p.sumRatio/float64(p.n), p.off, offMean(p), th))
	}
	return out
}

// offMean is the mean norm ratio of p's off pairs, 0 without any.
func offMean(p *embPairs) float64 {
	if p.off == 0 {
		return 0
	}
	return p.sumOff / float64(p.off)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// pairedReasons adds pc's warnings and criticals to a as reasons against
// "paired", returning the worst severity.
func pairedReasons(a *GateAnswer, pc *PairedComparison, model, version string) drift.Severity {
	worst := drift.SeverityOK
	subject := version + " paired with live " + pc.Version
	for _, f := range pc.Features {
		if f.Severity > drift.SeverityOK {
			a.Reasons = append(a.Reasons, GateReason{Against: "paired", Feature: f.Name, Diagnosis: f.Diagnosis, Severity: f.Severity,
				Sentence: drift.Sentence(drift.Subject(f.Name, model, subject), f.Summary)})
			worst = max(worst, f.Severity)
		}
	}
	for _, v := range pc.Embeddings {
		if v.Severity > drift.SeverityOK {
			a.Reasons = append(a.Reasons, GateReason{Against: "paired", Embedding: v.Name, Diagnosis: v.Diagnosis, Severity: v.Severity,
				Sentence: drift.Sentence(drift.Subject(v.Name, model, subject), v.Summary)})
			worst = max(worst, v.Severity)
		}
	}
	return worst
}

// validateJoin checks the join options.
func (o GateOptions) validateJoin() error {
	switch {
	case o.JoinBuffer < 1 || o.JoinBuffer > 10_000_000:
		return fmt.Errorf("engine: Gate.JoinBuffer %d out of range [1, 10000000]", o.JoinBuffer)
	case o.JoinWait < time.Millisecond || o.JoinWait > 24*time.Hour:
		return fmt.Errorf("engine: Gate.JoinWait %s out of range [1ms, 24h]", o.JoinWait)
	}
	return nil
}

// hasCandidate tells whether model has a candidate version, declared or
// marked: only then are its events' request ids joined.
func (e *Engine) hasCandidate(model string) bool {
	if _, ok := e.candModels.Load(model); ok {
		return true
	}
	for _, c := range e.opts.Gate.Candidates {
		if c.Model == model {
			return true
		}
	}
	return false
}
