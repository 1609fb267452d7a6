package baseline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Input formats.
const (
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// Defaults of BuildOptions.
const (
	DefaultProgressRows     = 1_000_000
	DefaultProgressInterval = 10 * time.Second
	DefaultMaxExamples      = 5
	// DefaultBuildBuffer is the sketches' buffer in a build: folding
	// 64Ki values into the digest at once instead of 2Ki makes sketching
	// about 3 times cheaper per value (BenchmarkBuildCSV), for 512 KiB per
	// feature while the build runs. The daemon's small windows keep the
	// sketch default.
	DefaultBuildBuffer = 1 << 16
)

// Reasons a row or a value is skipped.
const (
	SkipMalformedRow = "malformed_row" // a CSV row that cannot be parsed or has the wrong number of fields
	SkipNonNumeric   = "non_numeric"   // a cell of a numeric column that is not a number
	SkipBadEmbedding = "bad_embedding" // an embedding cell that is neither a JSON array of numbers nor b64f32
	SkipOtherModel   = "other_model"   // a JSONL event of another model or version
	SkipTypeError    = "type_error"    // a JSONL feature value that is not a number
	// JSONL events that cannot be decoded are skipped with the decoder's
	// reason (stream.Reason: malformed_json, bad_embedding, ...).
)

// ErrEmptyInput is returned when an input holds no usable row.
var ErrEmptyInput = errors.New("no rows to build a baseline from")

// BuildOptions configures Build. Model and Version are required.
type BuildOptions struct {
	Model   string
	Version string
	// Format is csv, jsonl or parquet; "" detects it from the extension
	// (.csv, .jsonl, .ndjson, .json, .parquet, .pq).
	Format string
	// Features lists the feature columns to summarize; nil takes every
	// numeric column (CSV: decided on the first rows; Parquet: every
	// float, double and integer column; JSONL: every feature seen).
	Features []string
	// Embeddings lists the embedding columns; nil takes every column that
	// looks like one (CSV: JSON arrays or b64f32 strings; Parquet: lists
	// of floats; JSONL: every embedding seen).
	Embeddings []string
	// Activations names the embedding fields that are activations
	// (path.Match globs): their per-vector profiles and the normalization
	// layer they fit are recorded, from any input format.
	Activations []string
	// Scaler declares the training normalization of features and embeddings.
	// With Features (or Embeddings) given, its entries for other names are
	// left out and listed in the report's notes; without, such an entry
	// is an error (a typo, or the scaler of another model).
	Scaler *Scaler
	// InferNormalization records what each feature and embedding looks
	// like (standardized, unit range, unit-norm) with the evidence.
	InferNormalization bool

	// Progress, if set, receives a progress line every ProgressRows rows
	// or ProgressInterval, whichever comes first.
	Progress         io.Writer
	ProgressRows     int
	ProgressInterval time.Duration
	// ProgressBar redraws one line in place (for a terminal) a few times a
	// second instead of writing a line per step.
	ProgressBar bool
	// MaxExamples is how many skipped rows or values of each reason are
	// kept with their file and line.
	MaxExamples int

	// SelectModel and SelectVersion choose the JSONL or topic events the
	// baseline is built from, by their model and version, when these are
	// not Model and Version: training data logged as events of model
	// "ranker" version "train" becomes the baseline of ranker v4. Empty
	// means Model (Version). The source records the selection.
	SelectModel   string
	SelectVersion string
	// MinSamples is the fewest values a feature (vectors an embedding)
	// should have: a baseline below it is built, with a warning in the
	// report, since the daemon compares production with it all the same
	// (0: drift's default min_samples).
	MinSamples uint64

	// Decoder configures the JSONL event decoder (the daemon's).
	Decoder stream.DecoderOptions
	// FrozenK is the depth of the frozen-query references built from
	// runs with query_id and doc_ids (0: DefaultFrozenK).
	FrozenK int
	// Numeric configures the feature sketches; UnitTolerance the
	// embedding sketches (0: sketch.DefaultUnitTolerance).
	Numeric       sketch.NumericOptions
	UnitTolerance float64

	// Now returns the creation time; nil means time.Now.
	Now func() time.Time
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.ProgressRows <= 0 {
		o.ProgressRows = DefaultProgressRows
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.ProgressBar {
		o.ProgressInterval = min(o.ProgressInterval, progressBarInterval)
	}
	if o.MaxExamples <= 0 {
		o.MaxExamples = DefaultMaxExamples
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Numeric.BufferSize == 0 {
		o.Numeric.BufferSize = DefaultBuildBuffer
	}
	if o.SelectModel == "" {
		o.SelectModel = o.Model
	}
	if o.SelectVersion == "" {
		o.SelectVersion = o.Version
	}
	if o.MinSamples == 0 {
		o.MinSamples = drift.DefaultThresholds().MinSamples
	}
	return o
}

// Validate reports the first bad option.
func (o BuildOptions) Validate() error {
	if err := ValidName(o.Model); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := ValidName(o.Version); err != nil {
		return fmt.Errorf("model version: %w", err)
	}
	for _, sel := range []struct{ what, v string }{{"selected model", o.SelectModel}, {"selected model version", o.SelectVersion}} {
		if sel.v == "" {
			continue
		}
		if err := ValidName(sel.v); err != nil {
			return fmt.Errorf("%s: %w", sel.what, err)
		}
	}
	if (o.SelectModel != "" && o.SelectModel != o.Model || o.SelectVersion != "" && o.SelectVersion != o.Version) && o.Format != "" && o.Format != FormatJSONL {
		return fmt.Errorf("selecting events of a model or version takes events: JSONL or a topic, not %s", o.Format)
	}
	switch o.Format {
	case "", FormatCSV, FormatJSONL, FormatParquet:
	default:
		return fmt.Errorf("format %q: want csv, jsonl or parquet", o.Format)
	}
	seen := map[string]string{}
	for _, l := range []struct {
		what  string
		names []string
	}{{"features", o.Features}, {"embeddings", o.Embeddings}} {
		for _, n := range l.names {
			if err := validFeatureName(n); err != nil {
				return fmt.Errorf("%s: %q: %w", l.what, n, err)
			}
			if prev, ok := seen[n]; ok {
				return fmt.Errorf("%s: %q is already listed in %s", l.what, n, prev)
			}
			seen[n] = l.what
		}
	}
	if _, err := sketch.NewNumericWith(o.Numeric); err != nil {
		return err
	}
	if _, err := sketch.NewVector(0, o.UnitTolerance); err != nil {
		return err
	}
	if err := validActivationGlobs(o.Activations); err != nil {
		return err
	}
	if o.Scaler != nil && o.InferNormalization {
		return errors.New("a scaler and inferred normalization exclude each other: the scaler declares, inference only describes")
	}
	return nil
}

// selecting reports whether the build takes events of another model or
// version than it builds (after withDefaults).
func (o BuildOptions) selecting() bool {
	return o.SelectModel != o.Model || o.SelectVersion != o.Version
}

// DetectFormat returns the input format of path from its extension.
func DetectFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		return FormatParquet, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the extension: give it (csv, jsonl or parquet)", path)
}

// Skip is one skipped row or value, kept as an example of its reason.
type Skip struct {
	Reason string
	File   string
	Line   int64  // 1-based line (CSV, JSONL) or row (Parquet)
	Column string // the column or feature, for a skipped value
	Detail string
}

func (s Skip) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", s.File, s.Line)
	if s.Column != "" {
		fmt.Fprintf(&b, ": %s", s.Column)
	}
	fmt.Fprintf(&b, ": %s", s.Reason)
	if s.Detail != "" {
		fmt.Fprintf(&b, ": %s", s.Detail)
	}
	return b.String()
}

// Report tells what a build read and left out.
type Report struct {
	Input  string
	Format string
	// Rows is the number of data rows (events) read; Used those that went
	// into the baseline.
	Rows uint64
	Used uint64
	// SkippedRows counts rows left out, by reason; SkippedValues single
	// values left out of a row that was used.
	SkippedRows   map[string]uint64
	SkippedValues map[string]uint64
	// Examples holds the first few skips of each reason, in input order.
	Examples []Skip
	// Notes are things the build did that the user should know, each said
	// once: a pandas index column left out, scaler entries not used.
	Notes []string
	// Small lists the features and embeddings with fewer values than
	// MinSamples, as warnings: "feature x: 2 values, below min_samples 200".
	Small    []string
	Bytes    int64 // input bytes read
	Duration time.Duration
}

// String renders the report as the lines `baseline build` ends with.
func (r *Report) String() string {
	var b strings.Builder
	rate := 0.0
	if r.Duration > 0 {
		rate = float64(r.Rows) / r.Duration.Seconds()
	}
	fmt.Fprintf(&b, "read %d rows from %s (%s) in %s (%.0f rows/s); %d used\n",
		r.Rows, r.Input, r.Format, r.Duration.Round(time.Millisecond), rate, r.Used)
	for _, k := range slices.Sorted(maps.Keys(r.SkippedRows)) {
		fmt.Fprintf(&b, "skipped %d rows: %s\n", r.SkippedRows[k], k)
	}
	for _, k := range slices.Sorted(maps.Keys(r.SkippedValues)) {
		fmt.Fprintf(&b, "skipped %d values: %s\n", r.SkippedValues[k], k)
	}
	for _, s := range r.Examples {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, w := range r.Small {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// Build reads the training data at path and returns its baseline, not yet
// written (see Write), with a report of what was read and skipped.
func Build(ctx context.Context, path string, opts BuildOptions) (*Baseline, *Report, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	format := opts.Format
	if format == "" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, nil, err
		}
	}
	if format != FormatJSONL && opts.selecting() {
		return nil, nil, fmt.Errorf("%s: selecting events of a model or version takes events (JSONL or a topic), not %s", path, format)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		return nil, nil, fmt.Errorf("%s is a directory", path)
	}
	a := newAccumulator(path, format, st.Size(), opts)
	var digest string
	switch format {
	case FormatCSV, FormatJSONL:
		h := sha256.New()
		cr := &countingReader{r: io.TeeReader(f, h), ctx: ctx}
		a.bytesRead = &cr.n
		if format == FormatCSV {
			err = buildCSV(cr, a)
		} else {
			err = buildJSONL(cr, a)
		}
		digest = hex.EncodeToString(h.Sum(nil))
	case FormatParquet:
		err = buildParquet(ctx, f, st.Size(), a)
		if err == nil {
			digest, err = hashFile(ctx, f)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := a.finish(digest)
	if err != nil {
		return nil, nil, err
	}
	return b, a.report, nil
}

func hashFile(ctx context.Context, f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, &countingReader{r: f, ctx: ctx}); err != nil {
		return "", fmt.Errorf("hashing %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// countingReader counts bytes for progress and stops when ctx is done.
type countingReader struct {
	r   io.Reader
	n   int64
	ctx context.Context
	k   int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.k++; c.k%64 == 0 {
		if err := c.ctx.Err(); err != nil {
			return 0, err
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// featureAcc is one feature being built. seen counts the rows that gave
// it a value (or a missing cell): rows that did not mention it at all are
// counted missing at the end.
type featureAcc struct {
	sk   *sketch.Numeric
	seen uint64
}

// accumulator holds the sketches of a build and its report; the format
// readers feed it.
type accumulator struct {
	opts   BuildOptions
	path   string
	size   int64
	report *Report

	features   map[string]*featureAcc
	embeddings map[string]*sketch.Vector
	sims       map[string]*sketch.Similarity // retrievals, by query embedding
	acts       map[string]*sketch.Activation // activation fields' profiles
	// frozen holds the reference runs by query embedding and query id
	// (frozen.go), with the runs left out.
	frozen                     map[string]map[string][]string
	frozenRepeats, frozenEmpty uint64
	examples                   map[string]int

	bytesRead    *int64
	first, last  time.Time // event times seen (JSONL and Kafka)
	start        time.Time
	lastProgress time.Time
	barDrawn     bool // a progress bar line is open
	nextRows     uint64
}

func newAccumulator(path, format string, size int64, opts BuildOptions) *accumulator {
	now := time.Now()
	return &accumulator{
		opts: opts, path: path, size: size,
		report: &Report{
			Input: path, Format: format,
			SkippedRows: map[string]uint64{}, SkippedValues: map[string]uint64{},
		},
		features: map[string]*featureAcc{}, embeddings: map[string]*sketch.Vector{},
		sims: map[string]*sketch.Similarity{}, acts: map[string]*sketch.Activation{},
		examples: map[string]int{},
		start:    now, lastProgress: now, nextRows: uint64(opts.ProgressRows),
	}
}

func (a *accumulator) feature(name string) *featureAcc {
	f := a.features[name]
	if f == nil {
		sk, _ := sketch.NewNumericWith(a.opts.Numeric) // validated in Build
		f = &featureAcc{sk: sk}
		a.features[name] = f
	}
	return f
}

func (a *accumulator) embedding(name string) *sketch.Vector {
	v := a.embeddings[name]
	if v == nil {
		v, _ = sketch.NewVector(0, a.opts.UnitTolerance)
		a.embeddings[name] = v
	}
	return v
}

// skipRow counts a row left out.
func (a *accumulator) skipRow(reason string, line int64, detail string) {
	a.report.SkippedRows[reason]++
	a.example(Skip{Reason: reason, File: a.path, Line: line, Detail: detail})
}

// skipValue counts a value left out of a used row.
func (a *accumulator) skipValue(reason string, line int64, column, detail string) {
	a.report.SkippedValues[reason]++
	a.example(Skip{Reason: reason, File: a.path, Line: line, Column: column, Detail: detail})
}

func (a *accumulator) example(s Skip) {
	if a.examples[s.Reason] >= a.opts.MaxExamples {
		return
	}
	a.examples[s.Reason]++
	if len(s.Detail) > 120 {
		s.Detail = s.Detail[:120] + "…"
	}
	a.report.Examples = append(a.report.Examples, s)
}

// row counts one data row read; used tells whether it went in. It prints
// progress when due.
func (a *accumulator) row(used bool) {
	a.report.Rows++
	if used {
		a.report.Used++
	}
	if a.opts.Progress == nil {
		return
	}
	if a.report.Rows >= a.nextRows || a.report.Rows%4096 == 0 && time.Since(a.lastProgress) >= a.opts.ProgressInterval {
		a.progress()
	}
}

func (a *accumulator) progress() {
	now := time.Now()
	a.lastProgress = now
	a.nextRows = a.report.Rows + uint64(a.opts.ProgressRows)
	el := now.Sub(a.start).Seconds()
	line := fmt.Sprintf("%s: %d rows", a.path, a.report.Rows)
	if a.bytesRead != nil && a.size > 0 {
		line += fmt.Sprintf(", %.1f%% of %s", 100*float64(*a.bytesRead)/float64(a.size), humanBytes(a.size))
	}
	if el > 0 {
		line += fmt.Sprintf(", %.0f rows/s", float64(a.report.Rows)/el)
	}
	skipped := uint64(0)
	for _, n := range a.report.SkippedRows {
		skipped += n
	}
	if skipped > 0 {
		line += fmt.Sprintf(", %d skipped", skipped)
	}
	if !a.opts.ProgressBar {
		fmt.Fprintln(a.opts.Progress, line)
		return
	}
	bar := ""
	if a.bytesRead != nil && a.size > 0 {
		bar = progressBar(float64(*a.bytesRead) / float64(a.size))
	}
	// Carriage return, the line, then erase what a longer line left.
	fmt.Fprint(a.opts.Progress, "\r"+bar+line+"\x1b[K")
	a.barDrawn = true
}

// progressBarInterval is how often a progress bar is redrawn.
const progressBarInterval = 200 * time.Millisecond

// progressBar draws a 30-cell bar for share done in [0, 1].
func progressBar(done float64) string {
	const cells = 30
	n := int(math.Round(math.Min(math.Max(done, 0), 1) * cells))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", cells-n) + "] "
}

// endProgress ends a progress bar's line, so what follows starts on its own.
func (a *accumulator) endProgress() {
	if a.barDrawn {
		fmt.Fprintln(a.opts.Progress)
		a.barDrawn = false
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// finish turns the sketches into a baseline: missing counts for rows that
// did not mention a feature, declared or inferred normalizations.
func (a *accumulator) finish(digest string) (*Baseline, error) {
	a.endProgress()
	r := a.report
	r.Duration = time.Since(a.start)
	if a.bytesRead != nil {
		r.Bytes = *a.bytesRead
	} else {
		r.Bytes = a.size
	}
	if r.Used == 0 {
		if r.Rows == 0 {
			return nil, fmt.Errorf("%s: %w: the input has no data rows", a.path, ErrEmptyInput)
		}
		hint := ""
		// Said when some rows were undecodable too: a topic's range often
		// holds a stray message beside the events of another version.
		if n := r.SkippedRows[SkipOtherModel]; n > 0 {
			what := "every event is"
			if n < r.Rows {
				what = fmt.Sprintf("%d of the %d rows are events", n, r.Rows)
			}
			hint = fmt.Sprintf("%s of another model or version than %s %s; build them as this one with --select-model and --select-version\n",
				what, a.opts.SelectModel, a.opts.SelectVersion)
		}
		return nil, fmt.Errorf("%s: %w: all %d rows were skipped\n%s%s", a.path, ErrEmptyInput, r.Rows, hint, r.String())
	}
	b := &Baseline{
		Model: a.opts.Model, ModelVersion: a.opts.Version, CreatedAt: a.opts.Now().UTC().Truncate(time.Millisecond),
		Source: Source{
			Kind: SourceFile, Format: r.Format, Path: a.path, SHA256: digest,
			Rows: r.Used, SkippedRows: r.Rows - r.Used,
		},
		Features:   map[string]*Feature{},
		Embeddings: map[string]*Embedding{},
	}
	for name, f := range a.features {
		if f.seen < r.Used {
			f.sk.AddMissing(r.Used - f.seen)
		}
		f.sk.Compact()
		b.Features[name] = &Feature{Normalization: drift.Normalization{Kind: drift.ScalerNone}, Sketch: f.sk}
	}
	for name, v := range a.embeddings {
		v.Compact()
		if v.Dim() == 0 {
			return nil, fmt.Errorf("%s: embedding %q: no vector of a usable dimension", a.path, name)
		}
		b.Embeddings[name] = &Embedding{Dim: v.Dim(), Sketch: v}
	}
	a.finishSignals(b)
	a.finishFrozen(b)
	if len(b.Features)+len(b.Embeddings) == 0 {
		return nil, fmt.Errorf("%s: %w: no numeric feature or embedding column found", a.path, ErrEmptyInput)
	}
	if sel := a.opts; sel.selecting() {
		b.Source.FromModel, b.Source.FromVersion = sel.SelectModel, sel.SelectVersion
	}
	if a.opts.Scaler != nil {
		unused, err := a.opts.Scaler.apply(b, a.opts.Features != nil, a.opts.Embeddings != nil)
		if err != nil {
			return nil, err
		}
		if len(unused) > 0 {
			a.report.Notes = append(a.report.Notes, fmt.Sprintf("%s: %d scaler entries not among the columns built, left out: %s",
				a.opts.Scaler.File, len(unused), strings.Join(unused, ", ")))
		}
	}
	if a.opts.InferNormalization {
		Infer(b)
	}
	a.report.Small = SmallSeries(b, a.opts.MinSamples)
	return b, nil
}

// SmallSeries lists b's features and embeddings with fewer than
// minSamples values (vectors), in name order, each as "feature x: 2
// values, below min_samples 200". The daemon judges production against
// such a baseline all the same, so a build warns and inspect marks them.
func SmallSeries(b *Baseline, minSamples uint64) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(b.Features)) {
		if n := b.Features[name].Sketch.Count(); n < minSamples {
			out = append(out, fmt.Sprintf("feature %s: %d values, below min_samples %d: a reference this small makes comparisons weak", name, n, minSamples))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.Embeddings)) {
		e := b.Embeddings[name]
		if e.scoresOnly() {
			if e.Similarity == nil {
				continue // known by its frozen reference alone
			}
			if n := e.Similarity.Scores().Count(); n < minSamples {
				out = append(out, fmt.Sprintf("embedding %s: %d similarity scores, below min_samples %d: a reference this small makes comparisons weak", name, n, minSamples))
			}
			continue
		}
		if n := e.Sketch.Count(); n < minSamples {
			out = append(out, fmt.Sprintf("embedding %s: %d vectors, below min_samples %d: a reference this small makes comparisons weak", name, n, minSamples))
		}
	}
	return out
}

// Thresholds of Infer.
const (
	inferMeanTol  = 0.05 // |mean| below this (in std units) looks centered
	inferStdTol   = 0.05 // |std - 1| below this looks unit-variance
	inferRangeTol = 0.01 // min and max within this of 0 and 1 look unit-range
	inferUnitNorm = 0.99 // share of unit-norm vectors that looks normalized
)

// Infer records in b what each feature and embedding looks like, with the
// evidence. An embedding without a declared normalization gets "l2" when
// at least 99% of its vectors are unit-norm and "none" otherwise; features
// keep their declaration, since a standardized-looking feature carries no
// scaler parameters to declare.
func Infer(b *Baseline) {
	for _, f := range b.Features {
		f.Inferred = inferFeature(f.Sketch)
	}
	for _, e := range b.Embeddings {
		ratio := e.Sketch.UnitNormRatio()
		in := &Inferred{Looks: LooksNotUnitNorm, Evidence: map[string]float64{
			"unit_norm_ratio": finite(ratio), "vectors": float64(e.Sketch.Count()),
		}}
		for _, q := range []float64{0.01, 0.5, 0.99} {
			if v, err := e.Sketch.Norms().Quantile(q); err == nil {
				in.Evidence[fmt.Sprintf("norm_p%g", 100*q)] = v
			}
		}
		if ratio >= inferUnitNorm {
			in.Looks = LooksUnitNorm
		}
		e.Inferred = in
		if e.Normalization == "" {
			e.Normalization = drift.EmbeddingNone
			if in.Looks == LooksUnitNorm {
				e.Normalization = drift.EmbeddingL2
			}
		}
	}
}

func inferFeature(n *sketch.Numeric) *Inferred {
	if n.Count() == 0 {
		return &Inferred{Looks: LooksRaw, Evidence: map[string]float64{"count": 0}}
	}
	mean, std, lo, hi := n.Mean(), n.StdDev(), n.Min(), n.Max()
	in := &Inferred{Evidence: map[string]float64{"mean": mean, "std": std, "min": lo, "max": hi}}
	switch {
	case lo == hi:
		in.Looks = LooksConstant
	case math.Abs(mean) < inferMeanTol*math.Max(std, 1) && math.Abs(std-1) < inferStdTol:
		in.Looks = LooksStandardized
	case math.Abs(lo) <= inferRangeTol && math.Abs(hi-1) <= inferRangeTol:
		in.Looks = LooksUnitRange
	default:
		in.Looks = LooksRaw
	}
	return in
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
