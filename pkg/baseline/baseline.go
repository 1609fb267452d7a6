package baseline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

// FormatTag is the format member of every version-1 baseline file.
const FormatTag = "normwatch.baseline/v1"

// formatPrefix starts the format tag of every version.
const formatPrefix = "normwatch.baseline/"

// Source kinds.
const (
	SourceFile   = "file"   // built from a training file
	SourceKafka  = "kafka"  // built from a topic range
	SourcePinned = "pinned" // frozen from a production horizon
)

// MaxFileBytes bounds the size of a baseline file Load reads: a baseline
// of a thousand features with 4096-dimension embeddings stays far below.
const MaxFileBytes = 256 << 20

// maxNameBytes bounds feature and embedding names, as the event decoder does.
const maxNameBytes = 256

// ErrInvalid is wrapped by every error about a baseline's content.
var ErrInvalid = errors.New("invalid baseline")

// Baseline is a training (or pinned) reference of one model version. A
// Baseline that was loaded or written is immutable: its sketches are shared
// by every reader, so take copies with Set.
type Baseline struct {
	Model        string
	ModelVersion string
	CreatedAt    time.Time
	Source       Source
	Features     map[string]*Feature
	Embeddings   map[string]*Embedding

	id string // set by Load and Encode
}

// Source tells where a baseline's data came from.
type Source struct {
	Kind   string `json:"kind"`             // file, kafka or pinned
	Format string `json:"format,omitempty"` // csv, jsonl or parquet for a file
	Path   string `json:"path,omitempty"`   // the file or topic as given
	SHA256 string `json:"sha256,omitempty"` // of the file's bytes
	// Rows is the number of rows (events) summarized; SkippedRows those
	// left out because they could not be read.
	Rows        uint64 `json:"rows"`
	SkippedRows uint64 `json:"skipped_rows,omitempty"`

	// For a pinned baseline: where the production sketches came from (a
	// daemon URL, a topic, a file), the model version they were observed
	// on, and the window range they cover.
	From        string `json:"from,omitempty"`
	FromVersion string `json:"from_version,omitempty"`
	// For a baseline built from events selected by another model or
	// version (BuildOptions.SelectModel): the model selected, beside
	// FromVersion.
	FromModel   string     `json:"from_model,omitempty"`
	WindowStart *time.Time `json:"window_start,omitempty"`
	WindowEnd   *time.Time `json:"window_end,omitempty"`

	// For a baseline built from a topic range (kind kafka, Path the
	// topic): the offsets read per partition, and SHA256 that of the
	// messages' partitions, offsets and values.
	Offsets []PartitionOffsets `json:"offsets,omitempty"`
}

// Feature is one numeric feature of a baseline: the sketch of its values as
// the model saw them in training (normalized, when a scaler was applied),
// and the declared training normalization.
type Feature struct {
	Normalization drift.Normalization `json:"normalization"`
	Inferred      *Inferred           `json:"inferred,omitempty"`
	Sketch        *sketch.Numeric     `json:"sketch"`
}

// Embedding is one embedding field of a baseline: its dimension, declared
// normalization ("l2", "none", or "" for undeclared: then drift judges by
// the reference's own norms) and profile.
type Embedding struct {
	Dim           int            `json:"dim"`
	Normalization string         `json:"normalization,omitempty"`
	Inferred      *Inferred      `json:"inferred,omitempty"`
	Sketch        *sketch.Vector `json:"sketch"`
	// Similarity summarizes the retrievals whose query is this embedding
	// (signals.go); Activation is its profile as an activation field. nil
	// without.
	Similarity *sketch.Similarity `json:"similarity,omitempty"`
	Activation *Activation        `json:"activation,omitempty"`
	// Frozen is the frozen-query reference of the retrievals whose query
	// is this embedding (frozen.go); nil without.
	Frozen *Frozen `json:"frozen,omitempty"`
}

// What --infer-normalization finds the data looks like.
const (
	LooksStandardized = "standardized" // mean ≈ 0, std ≈ 1
	LooksUnitRange    = "unit_range"   // min ≈ 0, max ≈ 1
	LooksRaw          = "raw"          // neither
	LooksConstant     = "constant"     // a single value: nothing to tell
	LooksUnitNorm     = "unit_norm"    // embeddings: unit-norm share ≥ 0.99
	LooksNotUnitNorm  = "not_unit_norm"
)

// Inferred records what a feature's or embedding's values look like, with
// the numbers that say so. It is evidence, not a declaration: a
// standardized-looking feature has no scaler parameters to check against.
type Inferred struct {
	Looks    string             `json:"looks"`
	Evidence map[string]float64 `json:"evidence"`
}

// fileWire is the document of a baseline file. Sketches stay raw so that
// each is decoded apart and an error can name its field.
type fileWire struct {
	Format       string                   `json:"format"`
	ID           string                   `json:"id"`
	Model        string                   `json:"model"`
	ModelVersion string                   `json:"model_version"`
	CreatedAt    time.Time                `json:"created_at"`
	Source       Source                   `json:"source"`
	Features     map[string]featureWire   `json:"features"`
	Embeddings   map[string]embeddingWire `json:"embeddings"`
}

type featureWire struct {
	Normalization drift.Normalization `json:"normalization"`
	Inferred      *Inferred           `json:"inferred,omitempty"`
	Sketch        json.RawMessage     `json:"sketch"`
}

type embeddingWire struct {
	Dim           int             `json:"dim"`
	Normalization string          `json:"normalization,omitempty"`
	Inferred      *Inferred       `json:"inferred,omitempty"`
	Sketch        json.RawMessage `json:"sketch"`
	Similarity    json.RawMessage `json:"similarity,omitempty"`
	Activation    *activationWire `json:"activation,omitempty"`
	Frozen        *Frozen         `json:"frozen,omitempty"`
}

// FieldError is an error about one field of a baseline file.
type FieldError struct {
	File  string // the file's path, or "" for a baseline not read from a file
	Field string // dotted path: "features.income.sketch"
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Is makes every FieldError an ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(file, field string, format string, args ...any) error {
	return &FieldError{File: file, Field: field, Err: fmt.Errorf(format, args...)}
}

// ID returns the baseline's id: the hex sha256 of its canonical content.
// For a baseline that was loaded or written it is the id in its file.
func (b *Baseline) ID() string {
	if b.id != "" {
		return b.id
	}
	id, _, err := b.identify()
	if err != nil {
		return ""
	}
	return id
}

// wire returns the document of b with the given id.
func (b *Baseline) wire(id string) (fileWire, error) {
	w := fileWire{
		Format: FormatTag, ID: id, Model: b.Model, ModelVersion: b.ModelVersion,
		CreatedAt: b.CreatedAt.UTC(), Source: b.Source,
		Features:   make(map[string]featureWire, len(b.Features)),
		Embeddings: make(map[string]embeddingWire, len(b.Embeddings)),
	}
	for name, f := range b.Features {
		if f == nil || f.Sketch == nil {
			return w, fieldErr("", "features."+name, "no sketch")
		}
		raw, err := f.Sketch.MarshalJSON()
		if err != nil {
			return w, &FieldError{Field: "features." + name + ".sketch", Err: err}
		}
		w.Features[name] = featureWire{Normalization: f.Normalization, Inferred: f.Inferred, Sketch: raw}
	}
	for name, e := range b.Embeddings {
		if e == nil || e.Sketch == nil {
			return w, fieldErr("", "embeddings."+name, "no sketch")
		}
		raw, err := e.Sketch.MarshalJSON()
		if err != nil {
			return w, &FieldError{Field: "embeddings." + name + ".sketch", Err: err}
		}
		ew := embeddingWire{Dim: e.Dim, Normalization: e.Normalization, Inferred: e.Inferred, Sketch: raw}
		if err := e.signalsWire(name, &ew); err != nil {
			return w, err
		}
		w.Embeddings[name] = ew
	}
	return w, nil
}

// identify validates b and returns its id and its document without an id.
func (b *Baseline) identify() (string, []byte, error) {
	if err := b.Validate(); err != nil {
		return "", nil, err
	}
	w, err := b.wire("")
	if err != nil {
		return "", nil, err
	}
	doc, err := json.Marshal(w)
	if err != nil {
		return "", nil, fmt.Errorf("encoding baseline: %w", err)
	}
	id, err := contentID(doc)
	return id, doc, err
}

// Encode validates b, computes its id and returns the file's bytes:
// indented JSON, so that people can read and diff baselines.
func (b *Baseline) Encode() ([]byte, error) {
	id, _, err := b.identify()
	if err != nil {
		return nil, err
	}
	w, err := b.wire(id)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encoding baseline: %w", err)
	}
	b.id = id
	return buf.Bytes(), nil
}

// contentID returns the hex sha256 of the canonical form of doc.
func contentID(doc []byte) (string, error) {
	c, err := Canonical(doc)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// Canonical returns the canonical form of a baseline document: its top-level
// "id" member removed, object keys sorted at every level, no white space,
// strings escaped as encoding/json does without HTML escaping, numbers as
// written. The sha256 of it is the baseline's id.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON document")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the document is not a JSON object")
	}
	delete(obj, "id")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// encoding/json writes map keys sorted and json.Number as written.
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Validate checks what a baseline must hold: names, format fields, valid
// normalizations, sketches, and at least one feature or embedding.
func (b *Baseline) Validate() error { return b.validate("") }

func (b *Baseline) validate(file string) error {
	if err := ValidName(b.Model); err != nil {
		return fieldErr(file, "model", "%v", err)
	}
	if err := ValidName(b.ModelVersion); err != nil {
		return fieldErr(file, "model_version", "%v", err)
	}
	if b.CreatedAt.IsZero() {
		return fieldErr(file, "created_at", "missing")
	}
	if err := b.Source.validate(); err != nil {
		return &FieldError{File: file, Field: "source", Err: err}
	}
	if len(b.Features)+len(b.Embeddings) == 0 {
		return fieldErr(file, "features", "a baseline needs at least one feature or embedding")
	}
	for _, name := range slices.Sorted(maps.Keys(b.Features)) {
		f := b.Features[name]
		field := "features." + name
		if err := validFeatureName(name); err != nil {
			return fieldErr(file, field, "%v", err)
		}
		if f == nil || f.Sketch == nil {
			return fieldErr(file, field+".sketch", "missing")
		}
		if err := f.Normalization.Validate(); err != nil {
			return fieldErr(file, field+".normalization", "%v", err)
		}
		if f.Normalization.Kind == "" {
			return fieldErr(file, field+".normalization.kind", "missing: want %s", drift.ScalerKinds)
		}
		if err := f.Inferred.validate(); err != nil {
			return fieldErr(file, field+".inferred", "%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.Embeddings)) {
		e := b.Embeddings[name]
		field := "embeddings." + name
		if err := validFeatureName(name); err != nil {
			return fieldErr(file, field, "%v", err)
		}
		if e == nil || e.Sketch == nil {
			return fieldErr(file, field+".sketch", "missing")
		}
		if err := e.validateSignals(file, field); err != nil {
			return err
		}
		if e.scoresOnly() {
			continue
		}
		if e.Dim < 1 || e.Dim > sketch.MaxDim {
			return fieldErr(file, field+".dim", "%d out of range [1, %d]", e.Dim, sketch.MaxDim)
		}
		if e.Sketch.Dim() != e.Dim {
			return fieldErr(file, field+".dim", "%d, but the sketch holds %d-dimension vectors", e.Dim, e.Sketch.Dim())
		}
		switch e.Normalization {
		case "", drift.EmbeddingL2, drift.EmbeddingNone:
		default:
			return fieldErr(file, field+".normalization", "%q: want l2 or none", e.Normalization)
		}
		if err := e.Inferred.validate(); err != nil {
			return fieldErr(file, field+".inferred", "%v", err)
		}
	}
	return nil
}

func (s Source) validate() error {
	switch s.Kind {
	case SourceFile, SourceKafka:
	case SourcePinned:
		if s.From == "" {
			return errors.New("from: a pinned baseline must say where it was pinned from")
		}
	default:
		return fmt.Errorf("kind: %q: want file, kafka or pinned", s.Kind)
	}
	if s.SHA256 != "" {
		if _, err := hex.DecodeString(s.SHA256); err != nil || len(s.SHA256) != 64 {
			return fmt.Errorf("sha256: %q is not 64 hex digits", s.SHA256)
		}
	}
	if s.WindowStart != nil && s.WindowEnd != nil && s.WindowEnd.Before(*s.WindowStart) {
		return errors.New("window_end: before window_start")
	}
	return nil
}

func (in *Inferred) validate() error {
	if in == nil {
		return nil
	}
	switch in.Looks {
	case LooksStandardized, LooksUnitRange, LooksRaw, LooksConstant, LooksUnitNorm, LooksNotUnitNorm:
	default:
		return fmt.Errorf("looks: unknown %q", in.Looks)
	}
	for k, v := range in.Evidence {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("evidence.%s: %v is not finite", k, v)
		}
	}
	return nil
}

// ValidName reports whether s can name a model or a model version: any
// name an event can carry, 1 to 256 bytes of UTF-8. The store writes it
// escaped in its layout (PathName), so "team/ranker" or "v4 (canary)"
// are baselines too.
func ValidName(s string) error {
	return validFeatureName(s)
}

func validFeatureName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case len(s) > maxNameBytes:
		return fmt.Errorf("name longer than %d bytes", maxNameBytes)
	case !utf8.ValidString(s):
		return errors.New("name is not UTF-8")
	}
	return nil
}

// Load reads and validates the baseline file at path.
func Load(path string) (*Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrInvalid, MaxFileBytes)
	}
	return Decode(data, path)
}

// Decode parses and validates a baseline document; file names it in errors.
// Every number must be finite, every sketch must decode, and the id must be
// the sha256 of the canonical content.
func Decode(data []byte, file string) (*Baseline, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w fileWire
	if err := dec.Decode(&w); err != nil {
		return nil, jsonError(data, file, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr(file, "", "data after the JSON document")
	}
	switch {
	case w.Format == "":
		return nil, fieldErr(file, "format", "missing: not a normwatch baseline")
	case w.Format != FormatTag && strings.HasPrefix(w.Format, formatPrefix):
		return nil, fieldErr(file, "format", "%q is a version this release cannot read (it reads %q)", w.Format, FormatTag)
	case w.Format != FormatTag:
		return nil, fieldErr(file, "format", "%q: not a normwatch baseline (want %q)", w.Format, FormatTag)
	}
	b := &Baseline{
		Model: w.Model, ModelVersion: w.ModelVersion, CreatedAt: w.CreatedAt, Source: w.Source,
		Features:   make(map[string]*Feature, len(w.Features)),
		Embeddings: make(map[string]*Embedding, len(w.Embeddings)),
	}
	for _, name := range slices.Sorted(maps.Keys(w.Features)) {
		fw := w.Features[name]
		field := "features." + name + ".sketch"
		if len(fw.Sketch) == 0 || string(fw.Sketch) == "null" {
			return nil, fieldErr(file, field, "missing")
		}
		n := new(sketch.Numeric)
		if err := n.UnmarshalJSON(fw.Sketch); err != nil {
			return nil, &FieldError{File: file, Field: field, Err: err}
		}
		b.Features[name] = &Feature{Normalization: fw.Normalization, Inferred: fw.Inferred, Sketch: n}
	}
	for _, name := range slices.Sorted(maps.Keys(w.Embeddings)) {
		ew := w.Embeddings[name]
		field := "embeddings." + name + ".sketch"
		if len(ew.Sketch) == 0 || string(ew.Sketch) == "null" {
			return nil, fieldErr(file, field, "missing")
		}
		v := new(sketch.Vector)
		if err := v.UnmarshalJSON(ew.Sketch); err != nil {
			return nil, &FieldError{File: file, Field: field, Err: err}
		}
		e := &Embedding{Dim: ew.Dim, Normalization: ew.Normalization, Inferred: ew.Inferred, Sketch: v}
		if err := e.readSignals(file, "embeddings."+name, ew); err != nil {
			return nil, err
		}
		b.Embeddings[name] = e
	}
	if err := b.validate(file); err != nil {
		return nil, err
	}
	if w.ID == "" {
		return nil, fieldErr(file, "id", "missing")
	}
	id, err := contentID(data)
	if err != nil {
		return nil, fieldErr(file, "", "%v", err)
	}
	if w.ID != id {
		return nil, fieldErr(file, "id", "%s does not match the content (sha256 %s): the file was changed after it was written", short(w.ID), short(id))
	}
	b.id = id
	return b, nil
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}

// jsonError turns a decoding error into one naming the file, the field
// where known, and the line and column.
func jsonError(data []byte, file string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fieldErr(file, "", "line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		return fieldErr(file, typ.Field, "line %d, column %d: %s where %s was expected", line, col, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return fieldErr(file, "", "empty file")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr(file, "", "truncated JSON")
	}
	return fieldErr(file, "", "%v", err)
}

func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	prefix := data[:off]
	line = bytes.Count(prefix, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(prefix, '\n') + 1)
	return line, max(col, 1)
}

// Set returns the baseline as the reference side of a drift comparison.
// The sketches are copies: a Set belongs to its caller, while the baseline
// stays shared and unchanged.
func (b *Baseline) Set() drift.Set {
	s := drift.Set{
		Features:   make(map[string]drift.FeatureSketch, len(b.Features)),
		Embeddings: make(map[string]drift.EmbeddingSketch, len(b.Embeddings)),
	}
	for name, f := range b.Features {
		s.Features[name] = drift.FeatureSketch{Sketch: f.Sketch.Clone(), Norm: f.Normalization}
	}
	for name, e := range b.Embeddings {
		s.Embeddings[name] = e.driftSketch()
	}
	return s
}
