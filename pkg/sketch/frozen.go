package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// The frozen-query retrieval signal: a frozen set of queries is rerun
// against the index, and each run's retrieved document ids are scored
// against a reference run's top-k of the same query id. A FrozenRef is the
// reference (immutable, from a baseline); a Frozen the per-query
// aggregates of the production runs of one window, or of a horizon.

// DocID is the 64-bit FNV-1a hash of a document id: the decoder keeps
// retrieved ids as hashes, and a FrozenRef its reference ids, so no id
// string is held per event. Two ids of one query colliding has a chance
// of about k²/2⁶⁵.
func DocID(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// OverlapP is the persistence of the rank-biased overlap Frozen reports:
// with 0.9 the first 10 ranks carry about 86% of the weight of a top-10.
const OverlapP = 0.9

// MaxFrozenK bounds a reference's depth.
const MaxFrozenK = 1000

// FrozenRef is a reference run's top-k per query id. It is immutable once
// made and shared by every reader.
type FrozenRef struct {
	k       int
	queries map[string]frozenQuery
}

type frozenQuery struct {
	rank map[uint64]int32 // document id hash → its rank, 0 first
	n    int              // the reference list's length, at most k
}

// NewFrozenRef makes a reference of depth k from each query id's ranked
// document ids (the first k are kept; a repeated id keeps its first rank).
func NewFrozenRef(k int, runs map[string][]string) (*FrozenRef, error) {
	if k < 1 || k > MaxFrozenK {
		return nil, fmt.Errorf("sketch: frozen reference depth %d out of [1, %d]", k, MaxFrozenK)
	}
	r := &FrozenRef{k: k, queries: make(map[string]frozenQuery, len(runs))}
	for q, ids := range runs {
		if len(ids) == 0 {
			return nil, fmt.Errorf("sketch: frozen query %q has no reference documents", q)
		}
		fq := frozenQuery{rank: make(map[uint64]int32, min(k, len(ids)))}
		for _, id := range ids {
			if fq.n == k {
				break
			}
			h := DocID([]byte(id))
			if _, dup := fq.rank[h]; dup {
				continue
			}
			fq.rank[h] = int32(fq.n)
			fq.n++
		}
		r.queries[q] = fq
	}
	return r, nil
}

// K returns the reference's depth.
func (r *FrozenRef) K() int { return r.k }

// Queries returns how many query ids the reference holds.
func (r *FrozenRef) Queries() int { return len(r.queries) }

// Has reports whether the reference holds query id q.
func (r *FrozenRef) Has(q string) bool { _, ok := r.queries[q]; return ok }

// Score returns recall@k and the rank-biased overlap of a production
// run's ranked document id hashes against query q's reference, and false
// when q is not in the reference. Recall@k is the share of the reference's
// top-k found in the run's first k; the overlap is rank-biased overlap
// truncated at depth k, (1−p)/(1−p^k) · Σ_{d=1..k} p^(d−1)·|P[:d] ∩ R[:d]|/d,
// so that a run equal to the reference scores 1 and a disjoint one 0. A
// repeated id in the run counts once, at its first rank. Score does not
// allocate for k ≤ 64.
func (r *FrozenRef) Score(q string, docs []uint64) (recall, overlap float64, ok bool) {
	fq, ok := r.queries[q]
	if !ok {
		return 0, 0, false
	}
	k := r.k
	var stackEnter [64]int32
	var stackUsed [64]bool
	var enter []int32
	var used []bool
	if k <= 64 {
		enter, used = stackEnter[:k], stackUsed[:fq.n]
	} else {
		enter, used = make([]int32, k), make([]bool, fq.n)
	}
	hits := 0
	for i, h := range docs[:min(len(docs), k)] {
		rk, in := fq.rank[h]
		if !in || used[rk] {
			continue
		}
		used[rk] = true
		hits++
		// The shared id is in both prefixes from depth max(i, rk)+1 on.
		enter[max(int32(i), rk)]++
	}
	recall = float64(hits) / float64(fq.n)
	var sum, w float64
	common := 0
	pd := 1.0
	for d := 1; d <= k; d++ {
		common += int(enter[d-1])
		sum += pd * float64(common) / float64(d)
		w += pd
		pd *= OverlapP
	}
	if fq.n < k {
		// A reference shorter than k: the best a run can reach is the
		// overlap of the reference with itself.
		best, pd, c := 0.0, 1.0, 0
		for d := 1; d <= k; d++ {
			if d <= fq.n {
				c = d
			}
			best += pd * float64(c) / float64(d)
			pd *= OverlapP
		}
		w = best
	}
	return recall, sum / w, true
}

// FrozenAgg is one query id's aggregate: how many runs were scored and
// the sums of their recall@k and overlap.
type FrozenAgg struct {
	Runs    uint64
	Recall  float64
	Overlap float64
}

// Frozen holds the per-query aggregates of production runs scored against
// a FrozenRef, at most a bound of distinct query ids (the rest counted),
// with the runs of query ids not in the reference counted too. It keeps
// no document ids.
type Frozen struct {
	k       int
	queries map[string]FrozenAgg
	// Unknown counts runs whose query id is not in the reference, OverCap
	// those of a query id past the bound of distinct ids.
	unknown, overCap uint64
}

// NewFrozen returns an empty aggregate of reference depth k.
func NewFrozen(k int) *Frozen { return &Frozen{k: k, queries: map[string]FrozenAgg{}} }

// K returns the reference depth the runs were scored at.
func (f *Frozen) K() int { return f.k }

// Add adds one run of query q with its scores. With maxQueries distinct
// query ids held already, a new one is counted as over the cap and false
// returned.
func (f *Frozen) Add(q string, recall, overlap float64, maxQueries int) bool {
	a, ok := f.queries[q]
	if !ok && len(f.queries) >= maxQueries {
		f.overCap++
		return false
	}
	a.Runs++
	a.Recall += recall
	a.Overlap += overlap
	f.queries[q] = a
	return true
}

// AddUnknown counts a run of a query id the reference does not hold.
func (f *Frozen) AddUnknown() { f.unknown++ }

// Unknown returns the runs of query ids not in the reference.
func (f *Frozen) Unknown() uint64 { return f.unknown }

// OverCap returns the runs of query ids past the bound of distinct ids.
func (f *Frozen) OverCap() uint64 { return f.overCap }

// Queries returns how many distinct query ids were scored.
func (f *Frozen) Queries() int { return len(f.queries) }

// Runs returns how many runs were scored.
func (f *Frozen) Runs() uint64 {
	var n uint64
	for _, a := range f.queries {
		n += a.Runs
	}
	return n
}

// Means returns the mean over distinct query ids of each query's mean
// recall@k and overlap: each frozen query weighs the same however often
// it was rerun. 0, 0 without queries.
func (f *Frozen) Means() (recall, overlap float64) {
	if len(f.queries) == 0 {
		return 0, 0
	}
	// Summed in the order of the ids, so that the figure does not depend
	// on map order or on how partial aggregates were merged.
	for _, q := range f.ids() {
		a := f.queries[q]
		recall += a.Recall / float64(a.Runs)
		overlap += a.Overlap / float64(a.Runs)
	}
	n := float64(len(f.queries))
	return recall / n, overlap / n
}

func (f *Frozen) ids() []string {
	ids := make([]string, 0, len(f.queries))
	for q := range f.queries {
		ids = append(ids, q)
	}
	slices.Sort(ids)
	return ids
}

// Merge adds o's aggregates to f's, within maxQueries distinct ids (o's
// runs of ids past it are counted as over the cap). Aggregates of another
// depth do not merge.
func (f *Frozen) Merge(o *Frozen, maxQueries int) error {
	if o.k != f.k {
		return fmt.Errorf("sketch: merging frozen aggregates of depth %d into %d", o.k, f.k)
	}
	for _, q := range o.ids() {
		b := o.queries[q]
		a, ok := f.queries[q]
		if !ok && len(f.queries) >= maxQueries {
			f.overCap += b.Runs
			continue
		}
		a.Runs += b.Runs
		a.Recall += b.Recall
		a.Overlap += b.Overlap
		f.queries[q] = a
	}
	f.unknown += o.unknown
	f.overCap += o.overCap
	return nil
}

// Clone returns a deep copy of f.
func (f *Frozen) Clone() *Frozen {
	c := *f
	c.queries = make(map[string]FrozenAgg, len(f.queries))
	for q, a := range f.queries {
		c.queries[q] = a
	}
	return &c
}

// frozenMagic starts a Frozen's binary form: magic, version 1, k, unknown,
// overCap, the number of queries, then per query (sorted by id) its id,
// runs and the two sums as IEEE 754 bits. Integers are uvarints, the id
// length-prefixed.
const frozenMagic = "NWF\x01"

// MarshalBinary encodes f.
func (f *Frozen) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), frozenMagic...)
	b = binary.AppendUvarint(b, uint64(f.k))
	b = binary.AppendUvarint(b, f.unknown)
	b = binary.AppendUvarint(b, f.overCap)
	b = binary.AppendUvarint(b, uint64(len(f.queries)))
	for _, q := range f.ids() {
		a := f.queries[q]
		b = binary.AppendUvarint(b, uint64(len(q)))
		b = append(b, q...)
		b = binary.AppendUvarint(b, a.Runs)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Recall))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Overlap))
	}
	return b, nil
}

var errFrozen = errors.New("sketch: bad frozen aggregate")

// UnmarshalBinary decodes what MarshalBinary encoded, checking every
// figure: a run's recall and overlap are in [0, 1], so their sums are in
// [0, runs].
func (f *Frozen) UnmarshalBinary(data []byte) error {
	if len(data) < len(frozenMagic) || string(data[:len(frozenMagic)]) != frozenMagic {
		return fmt.Errorf("%w: not a frozen aggregate", errFrozen)
	}
	b := data[len(frozenMagic):]
	var err error
	u := func(what string) uint64 {
		if err != nil {
			return 0
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = fmt.Errorf("%w: %s", errFrozen, what)
			return 0
		}
		b = b[n:]
		return v
	}
	k := u("depth")
	unknown, overCap, n := u("unknown"), u("over cap"), u("queries")
	if err != nil {
		return err
	}
	if k < 1 || k > MaxFrozenK {
		return fmt.Errorf("%w: depth %d", errFrozen, k)
	}
	if n > uint64(len(b)) {
		return fmt.Errorf("%w: %d queries in %d bytes", errFrozen, n, len(b))
	}
	out := Frozen{k: int(k), unknown: unknown, overCap: overCap, queries: make(map[string]FrozenAgg, n)}
	for range n {
		l := u("id length")
		if err == nil && (l == 0 || l > uint64(len(b))) {
			err = fmt.Errorf("%w: id length %d", errFrozen, l)
		}
		if err != nil {
			return err
		}
		q := string(b[:l])
		b = b[l:]
		runs := u("runs")
		if err == nil && (runs == 0 || len(b) < 16) {
			err = fmt.Errorf("%w: query %q", errFrozen, q)
		}
		if err != nil {
			return err
		}
		a := FrozenAgg{Runs: runs,
			Recall:  math.Float64frombits(binary.LittleEndian.Uint64(b)),
			Overlap: math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))}
		b = b[16:]
		top := float64(runs) * (1 + 1e-9)
		if !(a.Recall >= 0 && a.Recall <= top && a.Overlap >= 0 && a.Overlap <= top) {
			return fmt.Errorf("%w: query %q sums %v, %v over %d runs", errFrozen, q, a.Recall, a.Overlap, runs)
		}
		if _, dup := out.queries[q]; dup {
			return fmt.Errorf("%w: query %q twice", errFrozen, q)
		}
		out.queries[q] = a
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes left over", errFrozen, len(b))
	}
	*f = out
	return nil
}
