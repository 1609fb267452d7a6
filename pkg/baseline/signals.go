package baseline

import (
	"encoding/json"
	"fmt"
	"path"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Activation is an activation field's profile in a baseline: the
// normalization layer it fits (drift.ActLayerNorm, ActRMSNorm or ActNone,
// recorded at build time from the profile, or declared) and the per-vector
// mean, std and RMS sketches.
type Activation struct {
	Fit    string             `json:"fit"`
	Sketch *sketch.Activation `json:"sketch"`
}

type activationWire struct {
	Fit    string          `json:"fit"`
	Sketch json.RawMessage `json:"sketch"`
}

// scoresOnly tells an embedding known by its retrievals' scores (or its
// frozen reference) alone: no vector of its own, so no dimension.
func (e *Embedding) scoresOnly() bool {
	return (e.Similarity != nil || e.Frozen != nil) && e.Dim == 0 && e.Sketch != nil && e.Sketch.Count() == 0 && e.Sketch.Dim() == 0
}

func (e *Embedding) validateSignals(file, field string) error {
	if e.Frozen != nil {
		if err := e.Frozen.validate(file, field+".frozen"); err != nil {
			return err
		}
	}
	if a := e.Activation; a != nil {
		if a.Sketch == nil {
			return fieldErr(file, field+".activation.sketch", "missing")
		}
		if !drift.ValidActivationFit(a.Fit) {
			return fieldErr(file, field+".activation.fit", "%q: want %s", a.Fit, drift.ActivationFits)
		}
	}
	return nil
}

func (e *Embedding) signalsWire(name string, w *embeddingWire) error {
	w.Frozen = e.Frozen
	if e.Similarity != nil {
		raw, err := e.Similarity.MarshalJSON()
		if err != nil {
			return &FieldError{Field: "embeddings." + name + ".similarity", Err: err}
		}
		w.Similarity = raw
	}
	if a := e.Activation; a != nil {
		if a.Sketch == nil {
			return fieldErr("", "embeddings."+name+".activation.sketch", "missing")
		}
		raw, err := a.Sketch.MarshalJSON()
		if err != nil {
			return &FieldError{Field: "embeddings." + name + ".activation.sketch", Err: err}
		}
		w.Activation = &activationWire{Fit: a.Fit, Sketch: raw}
	}
	return nil
}

func (e *Embedding) readSignals(file, field string, w embeddingWire) error {
	e.Frozen = w.Frozen
	if len(w.Similarity) > 0 && string(w.Similarity) != "null" {
		s := new(sketch.Similarity)
		if err := s.UnmarshalJSON(w.Similarity); err != nil {
			return &FieldError{File: file, Field: field + ".similarity", Err: err}
		}
		e.Similarity = s
	}
	if a := w.Activation; a != nil {
		if len(a.Sketch) == 0 || string(a.Sketch) == "null" {
			return fieldErr(file, field+".activation.sketch", "missing")
		}
		s := new(sketch.Activation)
		if err := s.UnmarshalJSON(a.Sketch); err != nil {
			return &FieldError{File: file, Field: field + ".activation.sketch", Err: err}
		}
		e.Activation = &Activation{Fit: a.Fit, Sketch: s}
	}
	return nil
}

// driftSketch returns e as the reference side of a comparison, copied.
func (e *Embedding) driftSketch() drift.EmbeddingSketch {
	es := drift.EmbeddingSketch{Sketch: e.Sketch.Clone(), Norm: e.Normalization}
	if e.Similarity != nil {
		es.Similarity = e.Similarity.Clone()
	}
	if e.Activation != nil {
		es.Activation, es.ActivationNorm = e.Activation.Sketch.Clone(), e.Activation.Fit
	}
	if e.Frozen != nil {
		es.FrozenRef = e.Frozen.ref // immutable: shared
	}
	return es
}

// isActivation reports whether the build declares name an activation
// field (BuildOptions.Activations).
func (o BuildOptions) isActivation(name string) bool {
	for _, g := range o.Activations {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// activationFor returns the build's activation profile of the embedding
// name, made if new, or nil when name is not an activation field.
func (a *accumulator) activationFor(name string) *sketch.Activation {
	if !a.opts.isActivation(name) {
		return nil
	}
	act := a.acts[name]
	if act == nil {
		act = sketch.NewActivation()
		a.acts[name] = act
	}
	return act
}

// signals adds an event's retrieval and activation fields to the build.
func (a *accumulator) signals(ev *stream.Event, wantE map[string]bool) {
	for i := range ev.Embeddings {
		e := &ev.Embeddings[i]
		if e.Missing || (wantE != nil && !wantE[e.Name]) {
			continue
		}
		if act := a.activationFor(e.Name); act != nil {
			act.Add(e.Values)
		}
	}
	r := &ev.Retrieval
	if !r.Present || (wantE != nil && !wantE[r.Query]) {
		return
	}
	a.frozenRun(r)
	if len(r.Scores) == 0 && r.NDocs == 0 {
		return
	}
	s := a.sims[r.Query]
	if s == nil {
		s = sketch.NewSimilarity()
		a.sims[r.Query] = s
	}
	s.AddRetrieval(ev.QueryVector(), r.Docs, r.Dim, r.Scores, r.Metric)
}

// finishSignals adds the signal sketches to b's embeddings, making an
// embedding known only by its scores.
func (a *accumulator) finishSignals(b *Baseline) {
	for name, s := range a.sims {
		s.Compact()
		e := b.Embeddings[name]
		if e == nil {
			v, _ := sketch.NewVector(0, a.opts.UnitTolerance)
			e = &Embedding{Sketch: v}
			b.Embeddings[name] = e
		}
		e.Similarity = s
	}
	for name, act := range a.acts {
		act.Compact()
		if e := b.Embeddings[name]; e != nil {
			e.Activation = &Activation{Fit: drift.FitActivation(act).Fit, Sketch: act}
		}
	}
}

// validActivationGlobs checks BuildOptions.Activations.
func validActivationGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return fmt.Errorf("baseline: activations: %q is not a glob", g)
		}
	}
	return nil
}
