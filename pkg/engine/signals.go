package engine

import (
	"fmt"
	"math"
	"path"
	"slices"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// The retrieval and activation signals of an embedding: a window keeps,
// beside each embedding's Vector, the Similarity of the retrievals whose
// query it is and, for an activation field (Options.Activations), its
// per-vector Activation profile, both indexed like the vectors.

// similarity returns w's similarity sketch of embedding i, made if new.
func (w *window) similarity(i int32) *sketch.Similarity {
	if int(i) >= len(w.sim) {
		w.sim = slices.Grow(w.sim, int(i)+1-len(w.sim))[:i+1]
	}
	if w.sim[i] == nil {
		w.sim[i] = sketch.NewSimilarity()
	}
	return w.sim[i]
}

// activation returns w's activation profile of embedding i, made if new.
func (w *window) activation(i int32) *sketch.Activation {
	if int(i) >= len(w.act) {
		w.act = slices.Grow(w.act, int(i)+1-len(w.act))[:i+1]
	}
	if w.act[i] == nil {
		w.act[i] = sketch.NewActivation()
	}
	return w.act[i]
}

// frozen returns w's frozen-run aggregates of embedding i, made if new at
// depth k.
func (w *window) frozen(i int32, k int) *sketch.Frozen {
	w.frz = grow(w.frz, i)
	if w.frz[i] == nil {
		w.frz[i] = sketch.NewFrozen(k)
	}
	return w.frz[i]
}

func (w *window) compactSignals() {
	for _, s := range w.sim {
		if s != nil {
			s.Compact()
		}
	}
	for _, a := range w.act {
		if a != nil {
			a.Compact()
		}
	}
}

// cloneSignals copies from's signal sketches into w.
func (w *window) cloneSignals(from *window) {
	w.sim = make([]*sketch.Similarity, len(from.sim))
	for i, s := range from.sim {
		if s != nil {
			w.sim[i] = s.Clone()
		}
	}
	w.act = make([]*sketch.Activation, len(from.act))
	for i, a := range from.act {
		if a != nil {
			w.act[i] = a.Clone()
		}
	}
	w.frz = make([]*sketch.Frozen, len(from.frz))
	for i, f := range from.frz {
		if f != nil {
			w.frz[i] = f.Clone()
		}
	}
}

// mergeSignals merges w's signal sketches into out's. A sketch that does
// not merge resets out's to what w had (a bug of ours: they are all made
// with the same options, so it cannot happen from input).
func mergeSignals(out, w *window) {
	for i, s := range w.sim {
		if s == nil {
			continue
		}
		if err := out.similarity(int32(i)).Merge(s); err != nil {
			out.sim[i] = s.Clone()
		}
	}
	for i, a := range w.act {
		if a == nil {
			continue
		}
		if err := out.activation(int32(i)).Merge(a); err != nil {
			out.act[i] = a.Clone()
		}
	}
	// Merged without a bound: each window is bounded, and a merge of
	// them holds frozen ids of the reference only.
	for i, f := range w.frz {
		if f == nil {
			continue
		}
		if err := out.frozen(int32(i), f.K()).Merge(f, math.MaxInt); err != nil {
			out.frz[i] = f.Clone() // the reference's depth changed: the newer wins
		}
	}
}

// addSignals applies ev's retrieval and its activation fields to w.
func (p *partition) addSignals(pv *pver, w *window, ev *stream.Event) {
	if len(p.e.opts.Activations) > 0 {
		for i := range ev.Embeddings {
			e := &ev.Embeddings[i]
			if e.Missing || !p.e.isActivation(e.Name) {
				continue
			}
			if idx, ok := pv.embs[e.Name]; ok {
				w.activation(idx).Add(e.Values)
			}
		}
	}
	r := &ev.Retrieval
	if !r.Present {
		return
	}
	idx, ok := pv.embs[r.Query]
	if !ok {
		// A query known by its scores alone: admitted as an embedding
		// name, within the same limits.
		if idx = p.e.reg.embedding(pv.s, r.Query); idx < 0 {
			p.e.m.refusedEvents[KindEmbedding].Inc()
			return
		}
		pv.learnEmbedding(r.Query, idx)
	}
	if len(r.Scores) > 0 || r.NDocs > 0 {
		w.similarity(idx).AddRetrieval(ev.QueryVector(), r.Docs, r.Dim, r.Scores, r.Metric)
	}
	if r.QueryID != "" {
		p.addFrozenRun(pv, w, idx, r)
	}
}

// Outcomes of a frozen run, the label values of frozen_runs_total.
const (
	FrozenScored      = "scored"        // scored against the reference top-k
	FrozenUnknown     = "unknown_query" // a query id not in the reference: left out
	FrozenOverCap     = "over_cap"      // a query id past limits.max_frozen_queries in its window
	FrozenNoReference = "no_reference"  // the version's baseline has no frozen reference for the query embedding
)

var frozenOutcomes = []string{FrozenScored, FrozenUnknown, FrozenOverCap, FrozenNoReference}

// addFrozenRun scores a frozen query's run against the version's reference
// and adds it to w's aggregates of the query embedding idx.
func (p *partition) addFrozenRun(pv *pver, w *window, idx int32, r *stream.Retrieval) {
	ref := p.frozenRef(pv, w, idx, r.Query)
	if ref == nil {
		p.e.m.frozenRuns[FrozenNoReference].Inc()
		return
	}
	f := w.frozen(idx, ref.K())
	recall, overlap, ok := ref.Score(r.QueryID, r.DocIDs)
	switch {
	case !ok:
		f.AddUnknown()
		p.e.m.frozenRuns[FrozenUnknown].Inc()
	case !f.Add(r.QueryID, recall, overlap, p.e.opts.Limits.MaxFrozenQueries):
		p.e.m.frozenRuns[FrozenOverCap].Inc()
	default:
		p.e.m.frozenRuns[FrozenScored].Inc()
	}
}

// frozenRef returns the frozen reference of the version's query embedding
// idx, looked up once per window (so a reloaded baseline counts from the
// next window on).
func (p *partition) frozenRef(pv *pver, w *window, idx int32, name string) *sketch.FrozenRef {
	fr, ok := p.e.baselines.(FrozenReferences)
	if !ok {
		return nil
	}
	if pv.frozenAt != w.start || pv.frozenRefs == nil {
		pv.frozenAt, pv.frozenRefs = w.start, map[int32]*sketch.FrozenRef{}
	}
	ref, seen := pv.frozenRefs[idx]
	if !seen {
		ref = fr.FrozenRef(pv.s.model, pv.s.version, name)
		pv.frozenRefs[idx] = ref
	}
	return ref
}

// isActivation reports whether the embedding name is an activation field:
// it matches one of Options.Activations (path.Match globs).
func (e *Engine) isActivation(name string) bool {
	for _, g := range e.opts.Activations {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// validActivations checks Options.Activations' globs.
func validActivations(globs []string) error {
	for i, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return fmt.Errorf("engine: Activations[%d] %q is not a glob", i, g)
		}
	}
	return nil
}

// Checkpoint form of the signals (checkpoint version 4), after a window's
// vectors: a count, then per sketch its kind, its embedding's local index
// and its binary form.
const (
	ckSimilarity = 1
	ckActivation = 2
	ckFrozen     = 3 // from checkpoint version 5
)

func encodeSignals(w *ckWriter, win *window, el map[int32]uint64) error {
	n := 0
	for _, s := range win.sim {
		if s != nil {
			n++
		}
	}
	for _, a := range win.act {
		if a != nil {
			n++
		}
	}
	for _, f := range win.frz {
		if f != nil {
			n++
		}
	}
	w.u(uint64(n))
	put := func(kind uint64, i int, m func() ([]byte, error)) error {
		w.u(kind)
		w.u(el[int32(i)])
		return w.bytes(func(b []byte) ([]byte, error) {
			x, err := m()
			return append(b, x...), err
		})
	}
	for i, s := range win.sim {
		if s != nil {
			if err := put(ckSimilarity, i, s.MarshalBinary); err != nil {
				return err
			}
		}
	}
	for i, a := range win.act {
		if a != nil {
			if err := put(ckActivation, i, a.MarshalBinary); err != nil {
				return err
			}
		}
	}
	for i, f := range win.frz {
		if f != nil {
			if err := put(ckFrozen, i, f.MarshalBinary); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeSignals(r *ckReader, cv *ckVersion, w *ckWindow) {
	n := r.count("signals", 3)
	for range n {
		kind := r.u("signal kind")
		i := r.u("signal embedding")
		if r.err == nil && i >= uint64(len(cv.embs)) {
			r.fail("signal embedding index %d out of %d", i, len(cv.embs))
		}
		b := r.bytes("signal")
		if r.err != nil {
			return
		}
		switch kind {
		case ckSimilarity:
			x := new(sketch.Similarity)
			if err := x.UnmarshalBinary(b); err != nil {
				cv.broken = append(cv.broken, ckBroken{cv.embs[i], fmt.Errorf("similarity sketch: %w", err)})
				continue
			}
			if w.sim == nil {
				w.sim = map[uint64]*sketch.Similarity{}
			}
			w.sim[i] = x
		case ckActivation:
			x := new(sketch.Activation)
			if err := x.UnmarshalBinary(b); err != nil {
				cv.broken = append(cv.broken, ckBroken{cv.embs[i], fmt.Errorf("activation sketch: %w", err)})
				continue
			}
			if w.act == nil {
				w.act = map[uint64]*sketch.Activation{}
			}
			w.act[i] = x
		case ckFrozen:
			x := new(sketch.Frozen)
			if err := x.UnmarshalBinary(b); err != nil {
				cv.broken = append(cv.broken, ckBroken{cv.embs[i], fmt.Errorf("frozen aggregates: %w", err)})
				continue
			}
			if w.frz == nil {
				w.frz = map[uint64]*sketch.Frozen{}
			}
			w.frz[i] = x
		default:
			r.fail("signal kind %d", kind)
			return
		}
	}
}

// restoreSignals moves cw's signal sketches into w by the embeddings'
// process indexes.
func restoreSignals(cw *ckWindow, w *window, emap []int32) {
	w.sim = remap(w.sim, cw.sim, emap)
	w.act = remap(w.act, cw.act, emap)
	w.frz = remap(w.frz, cw.frz, emap)
}

// remap puts the sketches of src, numbered locally, at their process
// indexes in dst; a name dropped at a limit (-1) leaves its sketch out.
func remap[T any](dst []*T, src map[uint64]*T, emap []int32) []*T {
	for k, x := range src {
		if i := emap[k]; i >= 0 {
			dst = grow(dst, i)
			dst[i] = x
		}
	}
	return dst
}

// addSignalSketches adds acc's merged signal sketches to the set's
// embeddings: an embedding known by its retrieval scores alone enters the
// set without vectors.
func addSignalSketches(set *drift.Set, acc *window, embs []string) {
	for i, s := range acc.sim {
		if s != nil {
			es := set.Embeddings[embs[i]]
			es.Similarity = s
			set.Embeddings[embs[i]] = es
		}
	}
	for i, a := range acc.act {
		if a != nil {
			es := set.Embeddings[embs[i]]
			es.Activation = a
			set.Embeddings[embs[i]] = es
		}
	}
	for i, f := range acc.frz {
		if f != nil && i < len(embs) {
			es := set.Embeddings[embs[i]]
			es.Frozen = f
			set.Embeddings[embs[i]] = es
		}
	}
}
