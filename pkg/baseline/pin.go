package baseline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
)

// PinRequest is a production horizon to freeze as a baseline.
type PinRequest struct {
	Model string
	// Version is the model version the horizon was observed on.
	Version string
	// As is the new baseline's model version; "" means
	// <Version>-pinned-<UTC time>, with -2, -3, ... added if taken.
	As string
	// Current holds the horizon's sketches. Declared normalizations are
	// taken from its FeatureSketch.Norm and EmbeddingSketch.Norm.
	Current drift.Set
	// From says where the sketches came from (a daemon URL, a topic
	// range, a file); required.
	From                   string
	WindowStart, WindowEnd time.Time
	// Rows is the number of events the horizon summarizes, if known.
	Rows uint64
	// Now is the creation time; zero means time.Now.
	Now time.Time
}

// Pin writes the horizon in req as a new baseline version under dir and
// returns it with its path. It never overwrites: an explicit As that
// already has a baseline is ErrExists, and a generated name moves on to
// the next free one.
func Pin(dir string, req PinRequest) (*Baseline, string, error) {
	if req.From == "" {
		return nil, "", errors.New("pin: say where the sketches come from")
	}
	b := pinned(req)
	now := b.CreatedAt
	if req.As != "" {
		b.ModelVersion = req.As
		path, err := Write(dir, b)
		if err != nil {
			return nil, "", err
		}
		return b, path, nil
	}
	base := req.Version + "-pinned-" + now.Format("20060102T150405Z")
	for i := 1; i < 1000; i++ {
		b.ModelVersion = base
		if i > 1 {
			b.ModelVersion = base + "-" + strconv.Itoa(i)
		}
		b.id = ""
		if _, err := os.Stat(filepath.Join(dir, b.Model, b.ModelVersion)); err == nil {
			continue
		}
		path, err := Write(dir, b)
		if errors.Is(err, ErrExists) {
			continue // taken since the check
		}
		if err != nil {
			return nil, "", err
		}
		return b, path, nil
	}
	return nil, "", fmt.Errorf("pin: no free version name after %s", base)
}

// pinned makes the baseline of req, without a model version yet.
func pinned(req PinRequest) *Baseline {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Millisecond)
	b := &Baseline{
		Model: req.Model, CreatedAt: now,
		Source: Source{
			Kind: SourcePinned, From: req.From, FromVersion: req.Version, Rows: req.Rows,
		},
		Features:   map[string]*Feature{},
		Embeddings: map[string]*Embedding{},
	}
	if !req.WindowStart.IsZero() {
		t := req.WindowStart.UTC()
		b.Source.WindowStart = &t
	}
	if !req.WindowEnd.IsZero() {
		t := req.WindowEnd.UTC()
		b.Source.WindowEnd = &t
	}
	for name, f := range req.Current.Features {
		if f.Sketch == nil {
			continue
		}
		norm := f.Norm
		if norm.Kind == "" {
			norm.Kind = drift.ScalerNone
		}
		b.Features[name] = &Feature{Normalization: norm, Sketch: f.Sketch.Clone()}
	}
	for name, e := range req.Current.Embeddings {
		if e.Sketch == nil || e.Sketch.Dim() == 0 {
			continue
		}
		b.Embeddings[name] = &Embedding{Dim: e.Sketch.Dim(), Normalization: e.Norm, Sketch: e.Sketch.Clone()}
	}
	return b
}

// HorizonBaseline returns the horizon in req as a document in the
// baseline format, with the observed model version as its version,
// validated but not written: what a daemon serves for `baseline pin
// --from-daemon` to freeze with PinBaseline.
func HorizonBaseline(req PinRequest) (*Baseline, error) {
	if req.From == "" {
		return nil, errors.New("horizon: say where the sketches come from")
	}
	b := pinned(req)
	b.ModelVersion = req.Version
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if _, err := b.Encode(); err != nil {
		return nil, err
	}
	return b, nil
}

// Declare sets, on the features and embeddings of set that b also has,
// the normalization b declares for them: what a pinned production horizon
// keeps of the training baseline it is pinned beside.
func (b *Baseline) Declare(set drift.Set) {
	for name, f := range set.Features {
		if d, ok := b.Features[name]; ok {
			f.Norm = d.Normalization
			set.Features[name] = f
		}
	}
	for name, e := range set.Embeddings {
		if d, ok := b.Embeddings[name]; ok {
			e.Norm = d.Normalization
			set.Embeddings[name] = e
		}
	}
}

// PinBaseline pins the sketches of a baseline-format file (a horizon dump,
// or a baseline built from production logs): see Pin. The declared
// normalizations are those of declared, when given (the serving version's
// training baseline), else the file's own.
func PinBaseline(dir string, cur, declared *Baseline, req PinRequest) (*Baseline, string, error) {
	set := cur.Set()
	if declared != nil {
		declared.Declare(set)
	}
	req.Current = set
	if req.Model == "" {
		req.Model = cur.Model
	}
	if req.Version == "" {
		req.Version = cur.ModelVersion
	}
	if req.Rows == 0 {
		req.Rows = cur.Source.Rows
	}
	return Pin(dir, req)
}
