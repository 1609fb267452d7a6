package baseline

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// DefaultFrozenK is the depth of a frozen reference built without
// BuildOptions.FrozenK.
const DefaultFrozenK = 10

// Frozen is a frozen-query reference in a baseline, on the retrieval's
// query embedding: the reference run's top-K document ids per query id,
// in rank order.
//
//	"frozen": {"k": 10, "queries": {"fq-0017": ["d12", "d7", ...], ...}}
//
// It is built from reference runs in JSONL (events whose retrieval has
// query_id and doc_ids; a query id's first run is its reference).
type Frozen struct {
	K       int                 `json:"k"`
	Queries map[string][]string `json:"queries"`

	ref *sketch.FrozenRef // made by validate
}

// Ref returns the reference to score runs against; nil before the
// baseline was validated (Load, Encode and Build validate).
func (f *Frozen) Ref() *sketch.FrozenRef { return f.ref }

func (f *Frozen) validate(file, field string) error {
	if f.K < 1 || f.K > sketch.MaxFrozenK {
		return fieldErr(file, field+".k", "%d out of range [1, %d]", f.K, sketch.MaxFrozenK)
	}
	if len(f.Queries) == 0 {
		return fieldErr(file, field+".queries", "empty")
	}
	id := func(s string) error {
		switch {
		case s == "":
			return fmt.Errorf("an empty id")
		case len(s) > stream.MaxRetrievalIDBytes:
			return fmt.Errorf("an id of %d bytes, over %d", len(s), stream.MaxRetrievalIDBytes)
		case !utf8.ValidString(s):
			return fmt.Errorf("an id not UTF-8")
		}
		return nil
	}
	for _, q := range slices.Sorted(maps.Keys(f.Queries)) {
		docs := f.Queries[q]
		if err := id(q); err != nil {
			return fieldErr(file, field+".queries", "%v", err)
		}
		if len(docs) == 0 || len(docs) > f.K {
			return fieldErr(file, field+".queries."+q, "%d documents: want 1 to k (%d)", len(docs), f.K)
		}
		seen := make(map[string]bool, len(docs))
		for i, d := range docs {
			if err := id(d); err != nil {
				return fieldErr(file, fmt.Sprintf("%s.queries.%s[%d]", field, q, i), "%v", err)
			}
			if seen[d] {
				return fieldErr(file, fmt.Sprintf("%s.queries.%s[%d]", field, q, i), "%q twice", d)
			}
			seen[d] = true
		}
	}
	if f.ref == nil {
		ref, err := sketch.NewFrozenRef(f.K, f.Queries)
		if err != nil {
			return fieldErr(file, field, "%v", err)
		}
		f.ref = ref
	}
	return nil
}

// frozenRun adds an event's frozen run to the build: the first run of a
// query id is its reference, its first FrozenK distinct ids kept.
func (a *accumulator) frozenRun(r *stream.Retrieval) {
	if r.QueryID == "" {
		return
	}
	if a.frozen == nil {
		a.frozen = map[string]map[string][]string{}
	}
	qs := a.frozen[r.Query]
	if qs == nil {
		qs = map[string][]string{}
		a.frozen[r.Query] = qs
	}
	if _, ok := qs[r.QueryID]; ok {
		a.frozenRepeats++
		return
	}
	k := a.opts.FrozenK
	if k <= 0 {
		k = DefaultFrozenK
	}
	var docs []string
	seen := map[string]bool{}
	for _, d := range r.DocIDText {
		if len(docs) == k {
			break
		}
		if !seen[d] {
			seen[d] = true
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		a.frozenEmpty++
		return
	}
	qs[r.QueryID] = docs
}

// finishFrozen adds the frozen references to b's embeddings, making an
// embedding known only by its frozen runs.
func (a *accumulator) finishFrozen(b *Baseline) {
	k := a.opts.FrozenK
	if k <= 0 {
		k = DefaultFrozenK
	}
	for name, qs := range a.frozen {
		if len(qs) == 0 {
			continue
		}
		e := b.Embeddings[name]
		if e == nil {
			v, _ := sketch.NewVector(0, a.opts.UnitTolerance)
			e = &Embedding{Sketch: v}
			b.Embeddings[name] = e
		}
		e.Frozen = &Frozen{K: k, Queries: qs}
	}
	if a.frozenRepeats+a.frozenEmpty > 0 {
		a.report.Notes = append(a.report.Notes, fmt.Sprintf(
			"frozen reference: %d repeated runs of a query id left out (its first run is the reference), %d runs without documents left out",
			a.frozenRepeats, a.frozenEmpty))
	}
}
