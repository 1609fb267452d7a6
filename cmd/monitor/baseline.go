package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Exit codes of `monitor baseline`. diff exits 0, 1 or 2 by severity, so
// usage and runtime errors use 3 and 4 to stay apart from a finding.
const (
	exitOK       = 0
	exitUsage    = 3
	exitFailure  = 4
	baselineHelp = `Usage: monitor baseline COMMAND [flags]

Versioned, immutable training baselines.

Commands:
  build     summarize training data (CSV, JSONL events, Parquet) into a baseline
  inspect   print a baseline's per-feature and per-embedding statistics
  diff      compare two baselines with the drift engine (exit 0 ok, 1 warning, 2 critical)
  pin       freeze production sketches as a new baseline version

Run 'monitor baseline COMMAND --help' for a command's flags.
`
)

// runBaseline runs `monitor baseline ARGS...` and returns the exit code.
func runBaseline(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, baselineHelp)
		return exitUsage
	}
	switch args[0] {
	case "build":
		return baselineBuild(args[1:], stdout, stderr)
	case "inspect":
		return baselineInspect(args[1:], stdout, stderr)
	case "diff":
		return baselineDiff(args[1:], stdout, stderr)
	case "pin":
		return baselinePin(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, baselineHelp)
		return exitOK
	}
	fmt.Fprintf(stderr, "monitor baseline: unknown command %q\n\n%s", args[0], baselineHelp)
	return exitUsage
}

// newFlags returns the command of `monitor NAME`, whose --help prints
// usage, once, to stdout.
func newFlags(name, usage string, stdout, stderr io.Writer) *command {
	synopsis, help, _ := strings.Cut(usage, "\n\n")
	return newCommand("monitor "+name, synopsis, help, exitUsage, stdout, stderr)
}

func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "monitor baseline %s: %v\n", cmd, err)
	return exitFailure
}

const buildUsage = `Usage: monitor baseline build (--input PATH | --topic T --brokers B [range]) --model NAME --model-version V [flags]

Summarizes training data into a baseline file written atomically as
OUT/<model>/<model-version>/<id>.json. The input is streamed: its size does not
matter. An existing baseline of the version is never overwritten.

Inputs (format from the extension, or --format):
  csv      header row; numeric columns are features, columns of JSON arrays or
           b64f32: strings are embeddings; an empty cell is missing
  jsonl    one event a line, in the daemon's event format
  parquet  float, double and integer columns; list<float> columns as embeddings
  kafka    --topic T --brokers B: a range of a topic, read per partition with the
           daemon's decoder; --from-offset/--to-offset (the end exclusive) or
           --from-time/--to-time (RFC 3339), by default the whole topic as of the
           start of the read; --partitions to restrict it. Events of other models
           or versions are skipped; the baseline's source records the offsets read.

Events as training data (jsonl, kafka): --select-model and --select-version
take the events of that model and version and build them as --model and
--model-version (training rows logged as model_version "train" become the
baseline of v4); the source records the selection.

A pandas index in Parquet (named in the file's pandas metadata) is left out,
said once; a CSV whose first column has no name is refused (write it with
to_csv(index=False)). A feature or embedding with fewer than --min-samples
values is built with a warning: the daemon compares production with it all the
same, and 'inspect' marks it.

Declared normalization: --scaler FILE, normwatch's YAML/JSON format
  features:
    income: {kind: zscore, mean: 52100, std: 18300}
    age:    {kind: minmax, min: 18, max: 90, range: [-1, 1], clip: true}
    clicks: {kind: robust, median: 3, iqr: 4, quantile_range: [25, 75]}
    views:  {kind: scale, scale: 250}        # divides only (with_mean=False)
    temp:   {kind: center, center: 21.5}     # subtracts only (with_std=False)
    delta:  {kind: maxabs, max_abs: 12}      # MaxAbsScaler
  embeddings:
    query: l2                                # or query: {kind: l2}
written from fitted scikit-learn scalers, pipelines and column transformers by
normwatch.export_scalers (pip install ./clients/python); or the fitted
attributes of a StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler as
JSON (mean_, scale_, data_min_, data_max_, center_, max_abs_,
feature_names_in_). With --features (--embeddings) a subset, the scaler's
entries for other columns are left out and listed. Or --infer-normalization to
record what the data looks like, with the evidence.
`

func baselineBuild(args []string, stdout, stderr io.Writer) int {
	cmd := newFlags("baseline build", buildUsage, stdout, stderr)
	fs := cmd.fs
	input := fs.String("input", "", "training data file (or --topic)")
	model := fs.String("model", "", "model name (required)")
	version := fs.String("model-version", "", "model version (required)")
	out := fs.String("out", baseline.DefaultDir, "baseline store directory")
	format := fs.String("format", "", "input format: csv, jsonl or parquet (default: from the extension)")
	features := fs.StringSlice("features", nil, "feature columns, comma-separated (default: every numeric column)")
	embeddings := fs.StringSlice("embeddings", nil, "embedding columns, comma-separated (default: every column that looks like one)")
	scalerFile := fs.String("scaler", "", "scaler file declaring the training normalization")
	activations := fs.StringSlice("activations", nil, "embedding fields that are activations (globs, comma-separated): their profile and the normalization layer it fits are recorded")
	frozenK := fs.Int("frozen-k", baseline.DefaultFrozenK, "depth of the frozen-query reference built from runs with retrieval.query_id and doc_ids (jsonl, --topic)")
	infer := fs.Bool("infer-normalization", false, "record whether features look standardized or unit-range and embeddings unit-norm")
	quiet := fs.Bool("quiet", false, "no progress lines")
	every := fs.Int("progress-rows", baseline.DefaultProgressRows, "a progress line every this many rows")
	selModel := fs.String("select-model", "", "build from the events of this model (jsonl, --topic; default --model)")
	selVersion := fs.String("select-version", "", "build from the events of this model version (jsonl, --topic; default --model-version)")
	minSamples := fs.Uint64("min-samples", drift.DefaultThresholds().MinSamples, "warn about a feature or embedding with fewer values (the daemon's window.min_samples)")
	tf := addTopicFlags(fs)
	df := addDaemonFlags(fs)
	if code, done := cmd.parse(args); done {
		return code
	}
	cfg, err := config.Load(*df.file, fs)
	if err != nil {
		return cmd.usageError(err)
	}
	if (*input != "") == (*tf.topic != "") {
		fmt.Fprintln(stderr, "monitor baseline build: give one of --input and --topic\nRun 'monitor baseline build --help' for usage.")
		return exitUsage
	}
	if *input != "" && tf.set(fs) {
		fmt.Fprintln(stderr, "monitor baseline build: --brokers and the range flags go with --topic\nRun 'monitor baseline build --help' for usage.")
		return exitUsage
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--model", *model}, {"--model-version", *version}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 || fs.NArg() > 0 {
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "monitor baseline build: unexpected argument %q\n", fs.Arg(0))
		} else {
			fmt.Fprintf(stderr, "monitor baseline build: %s required\n", strings.Join(missing, ", "))
		}
		fmt.Fprintln(stderr, "Run 'monitor baseline build --help' for usage.")
		return exitUsage
	}
	if *scalerFile != "" && *infer {
		fmt.Fprintln(stderr, "monitor baseline build: --scaler and --infer-normalization exclude each other")
		return exitUsage
	}
	if *frozenK < 1 || *frozenK > sketch.MaxFrozenK {
		fmt.Fprintf(stderr, "monitor baseline build: --frozen-k: %d: want 1 to %d\n", *frozenK, sketch.MaxFrozenK)
		return exitUsage
	}
	if *minSamples == 0 {
		fmt.Fprintln(stderr, "monitor baseline build: --min-samples: 0: want at least 1\nRun 'monitor baseline build --help' for usage.")
		return exitUsage
	}
	opts := baseline.BuildOptions{
		Model: *model, Version: *version, Format: *format,
		InferNormalization: *infer, ProgressRows: *every,
		SelectModel: *selModel, SelectVersion: *selVersion, MinSamples: *minSamples,
		Activations: nonEmpty(*activations), FrozenK: *frozenK,
		Decoder: decoderOptions(cfg.Decode),
	}
	if fs.Changed("features") {
		opts.Features = nonEmpty(*features)
	}
	if fs.Changed("embeddings") {
		opts.Embeddings = nonEmpty(*embeddings)
	}
	if !*quiet {
		opts.Progress = stderr
		opts.ProgressBar = isTerminal(stderr)
	}
	if *scalerFile != "" {
		sc, err := baseline.LoadScaler(*scalerFile)
		if err != nil {
			return fail(stderr, "build", err)
		}
		opts.Scaler = sc
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var b *baseline.Baseline
	var rep *baseline.Report
	if *tf.topic != "" {
		r, oerr := tf.options(cfg)
		if oerr != nil {
			fmt.Fprintf(stderr, "monitor baseline build: %v\nRun 'monitor baseline build --help' for usage.\n", oerr)
			return exitUsage
		}
		b, rep, _, err = baseline.BuildTopic(ctx, r, opts)
	} else {
		b, rep, err = baseline.Build(ctx, *input, opts)
	}
	if err != nil {
		return fail(stderr, "build", err)
	}
	fmt.Fprint(stderr, rep.String())
	path, err := baseline.Write(*out, b)
	if err != nil {
		return fail(stderr, "build", err)
	}
	fmt.Fprintf(stdout, "wrote %s (id %s): %d features, %d embeddings, %d rows\n",
		path, b.ID(), len(b.Features), len(b.Embeddings), b.Source.Rows)
	return exitOK
}

// nonEmpty drops empty names ("--features a,,b"); an empty list stays
// non-nil: no column of that kind.
func nonEmpty(names []string) []string {
	out := []string{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

const inspectUsage = `Usage: monitor baseline inspect FILE [--json] [--min-samples N]

Prints a baseline's metadata and a table per feature (count, missing, mean,
std, p1, p50, p99, min, max, declared normalization) and per embedding (dim,
norm p1/p50/p99, unit-norm share). The file is validated as the daemon does.
A feature or embedding with fewer values than --min-samples is marked "small"
(in JSON, "small": true) and listed with a warning after the tables.
`

// featureSummary is one row of inspect's feature table.
type featureSummary struct {
	Name          string              `json:"name"`
	Count         uint64              `json:"count"`
	Missing       uint64              `json:"missing"`
	NonFinite     uint64              `json:"nonfinite"`
	Mean          *float64            `json:"mean"`
	Std           *float64            `json:"std"`
	P1            *float64            `json:"p1"`
	P50           *float64            `json:"p50"`
	P99           *float64            `json:"p99"`
	Min           *float64            `json:"min"`
	Max           *float64            `json:"max"`
	Normalization drift.Normalization `json:"normalization"`
	Inferred      *baseline.Inferred  `json:"inferred,omitempty"`
	// Small marks fewer values than --min-samples.
	Small bool `json:"small,omitempty"`
}

type embeddingSummary struct {
	Name          string             `json:"name"`
	Dim           int                `json:"dim"`
	Count         uint64             `json:"count"`
	NormP1        *float64           `json:"norm_p1"`
	NormP50       *float64           `json:"norm_p50"`
	NormP99       *float64           `json:"norm_p99"`
	UnitNormRatio *float64           `json:"unit_norm_ratio"`
	Normalization string             `json:"normalization"`
	Inferred      *baseline.Inferred `json:"inferred,omitempty"`
	Small         bool               `json:"small,omitempty"`
	// Signals is what the baseline holds of the embedding's retrieval and
	// activation signals, in words; empty without.
	Signals []string `json:"signals,omitempty"`
}

type inspectOutput struct {
	File         string             `json:"file"`
	ID           string             `json:"id"`
	Model        string             `json:"model"`
	ModelVersion string             `json:"model_version"`
	CreatedAt    time.Time          `json:"created_at"`
	Source       baseline.Source    `json:"source"`
	Features     []featureSummary   `json:"features"`
	Embeddings   []embeddingSummary `json:"embeddings"`
	MinSamples   uint64             `json:"min_samples"`
	// Warnings are the small features and embeddings, in words.
	Warnings []string `json:"warnings"`
}

func ptr(x float64, err error) *float64 {
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func summarize(path string, b *baseline.Baseline, minSamples uint64) inspectOutput {
	out := inspectOutput{
		File: path, ID: b.ID(), Model: b.Model, ModelVersion: b.ModelVersion,
		CreatedAt: b.CreatedAt, Source: b.Source,
		Features: []featureSummary{}, Embeddings: []embeddingSummary{},
		MinSamples: minSamples, Warnings: baseline.SmallSeries(b, minSamples),
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	// Copies: quantile queries cache inside a sketch, and b stays unchanged.
	set := b.Set()
	for _, name := range slices.Sorted(maps.Keys(b.Features)) {
		f := b.Features[name]
		n := set.Features[name].Sketch
		s := featureSummary{
			Name: name, Count: n.Count(), Missing: n.Missing(), NonFinite: n.NonFinite(),
			Normalization: f.Normalization, Inferred: f.Inferred, Small: n.Count() < minSamples,
		}
		if n.Count() > 0 {
			s.Mean, s.Std = ptr(n.Mean(), nil), ptr(n.StdDev(), nil)
			s.Min, s.Max = ptr(n.Min(), nil), ptr(n.Max(), nil)
			s.P1, s.P50, s.P99 = ptr(n.Quantile(0.01)), ptr(n.Quantile(0.5)), ptr(n.Quantile(0.99))
		}
		out.Features = append(out.Features, s)
	}
	for _, name := range slices.Sorted(maps.Keys(b.Embeddings)) {
		e := b.Embeddings[name]
		v := set.Embeddings[name].Sketch
		norms := v.Norms()
		out.Embeddings = append(out.Embeddings, embeddingSummary{
			Name: name, Dim: e.Dim, Count: v.Count(),
			NormP1: ptr(norms.Quantile(0.01)), NormP50: ptr(norms.Quantile(0.5)), NormP99: ptr(norms.Quantile(0.99)),
			UnitNormRatio: ptr(v.UnitNormRatio(), nil), Normalization: e.Normalization, Inferred: e.Inferred,
			Small: v.Count() < minSamples && e.Dim > 0, Signals: signalsText(e),
		})
	}
	return out
}

func baselineInspect(args []string, stdout, stderr io.Writer) int {
	cmd := newFlags("baseline inspect", inspectUsage, stdout, stderr)
	fs := cmd.fs
	asJSON := fs.Bool("json", false, "print JSON for machines")
	minSamples := fs.Uint64("min-samples", drift.DefaultThresholds().MinSamples, "mark a feature or embedding with fewer values (the daemon's window.min_samples)")
	if code, done := cmd.parse(args); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "monitor baseline inspect: want exactly one FILE\nRun 'monitor baseline inspect --help' for usage.")
		return exitUsage
	}
	path := fs.Arg(0)
	b, err := baseline.Load(path)
	if err != nil {
		return fail(stderr, "inspect", err)
	}
	out := summarize(path, b, *minSamples)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(stderr, "inspect", err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "%s\n  id       %s\n  model    %s %s\n  created  %s\n  source   %s\n\n",
		path, out.ID, b.Model, b.ModelVersion, b.CreatedAt.Format(time.RFC3339), sourceText(b.Source))
	if len(out.Features) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "feature\tcount\tmissing\tmean\tstd\tp1\tp50\tp99\tmin\tmax\t normalization\t")
		for _, f := range out.Features {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t %s\t\n", f.Name, countText(f.Count, f.Small), f.Missing,
				g(f.Mean), g(f.Std), g(f.P1), g(f.P50), g(f.P99), g(f.Min), g(f.Max), normText(f.Normalization, f.Inferred))
		}
		tw.Flush()
	}
	if len(out.Embeddings) > 0 {
		fmt.Fprintln(stdout)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "embedding\tdim\tcount\tnorm p1\tnorm p50\tnorm p99\tunit-norm\t normalization\t")
		for _, e := range out.Embeddings {
			norm := e.Normalization
			if norm == "" {
				norm = "undeclared"
			}
			if e.Inferred != nil {
				norm += " (looks " + e.Inferred.Looks + ")"
			}
			share := "-"
			if e.UnitNormRatio != nil {
				share = strconv.FormatFloat(100**e.UnitNormRatio, 'f', 1, 64) + "%"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t %s\t\n", e.Name, e.Dim, countText(e.Count, e.Small), g(e.NormP1), g(e.NormP50), g(e.NormP99), share, norm)
		}
		tw.Flush()
	}
	for _, e := range out.Embeddings {
		for _, s := range e.Signals {
			fmt.Fprintf(stdout, "%s: %s\n", e.Name, s)
		}
	}
	if len(out.Warnings) > 0 {
		fmt.Fprintln(stdout)
		for _, w := range out.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	return exitOK
}

// countText is a count, marked when it is below min_samples.
func countText(n uint64, small bool) string {
	if small {
		return strconv.FormatUint(n, 10) + " (small)"
	}
	return strconv.FormatUint(n, 10)
}

func sourceText(s baseline.Source) string {
	t := s.Kind
	if s.Format != "" {
		t += " " + s.Format
	}
	if s.Path != "" {
		t += " " + s.Path
	}
	if s.FromModel != "" {
		t += " (events of " + s.FromModel + " " + s.FromVersion + ")"
	}
	if s.From != "" {
		t += " from " + s.From
		if s.FromVersion != "" {
			t += " (" + s.FromVersion + ")"
		}
	}
	if s.WindowStart != nil && s.WindowEnd != nil {
		t += fmt.Sprintf(", window %s to %s", s.WindowStart.Format(time.RFC3339), s.WindowEnd.Format(time.RFC3339))
	}
	t += fmt.Sprintf(", %d rows", s.Rows)
	if s.SkippedRows > 0 {
		t += fmt.Sprintf(" (%d skipped)", s.SkippedRows)
	}
	if s.SHA256 != "" {
		t += ", sha256 " + s.SHA256[:16] + "…"
	}
	return t
}

// g formats a statistic with 4 significant digits.
func g(x *float64) string {
	if x == nil {
		return "-"
	}
	return strconv.FormatFloat(*x, 'g', 4, 64)
}

func normText(n drift.Normalization, in *baseline.Inferred) string {
	var s string
	switch n.Kind {
	case drift.ScalerZScore:
		s = fmt.Sprintf("zscore mean %s std %s", gf(n.Mean), gf(n.Std))
	case drift.ScalerMinMax:
		s = fmt.Sprintf("minmax min %s max %s", gf(n.Min), gf(n.Max))
		if n.Range != [2]float64{} {
			s += fmt.Sprintf(" onto [%s, %s]", gf(n.Range[0]), gf(n.Range[1]))
		}
		if n.Clip {
			s += " clipped"
		}
	case drift.ScalerRobust:
		s = fmt.Sprintf("robust median %s iqr %s", gf(n.Median), gf(n.IQR))
		if n.QuantileRange != [2]float64{} {
			s += fmt.Sprintf(" (p%s-p%s)", gf(n.QuantileRange[0]), gf(n.QuantileRange[1]))
		}
		if n.UnitVariance {
			s += " unit variance"
		}
	case drift.ScalerScale:
		s = "scale " + gf(n.Scale)
	case drift.ScalerCenter:
		s = "center " + gf(n.Center)
	case drift.ScalerMaxAbs:
		s = "maxabs " + gf(n.MaxAbs)
	default:
		s = n.Kind
	}
	if in != nil {
		s += " (looks " + in.Looks + ")"
	}
	return s
}

func gf(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

const diffUsage = `Usage: monitor baseline diff A B [--json]

Compares baseline B with reference A using the drift engine, as the daemon
compares production with training: for example v3's training data (A) against
v4's (B). Declared normalizations come from A. Prints the per-feature and
per-embedding report with the diagnosis sentences.

Exit code: 0 when all is ok, 1 on a warning, 2 on a critical finding, so it can
gate a deploy; 3 on a usage error, 4 when a file cannot be read.
`

func baselineDiff(args []string, stdout, stderr io.Writer) int {
	cmd := newFlags("baseline diff", diffUsage, stdout, stderr)
	fs := cmd.fs
	asJSON := fs.Bool("json", false, "print the drift report as JSON")
	if code, done := cmd.parse(args); done {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "monitor baseline diff: want two files, A and B\nRun 'monitor baseline diff --help' for usage.")
		return exitUsage
	}
	a, err := baseline.Load(fs.Arg(0))
	if err != nil {
		return fail(stderr, "diff", err)
	}
	b, err := baseline.Load(fs.Arg(1))
	if err != nil {
		return fail(stderr, "diff", err)
	}
	rep, code := baseline.Diff(a, b, drift.DefaultThresholds())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			A        string       `json:"a"`
			B        string       `json:"b"`
			Severity string       `json:"severity"`
			Report   drift.Report `json:"report"`
		}{fs.Arg(0), fs.Arg(1), drift.Severity(code).String(), rep}); err != nil {
			return fail(stderr, "diff", err)
		}
		return code
	}
	fmt.Fprintf(stdout, "A: %s %s (%s)\nB: %s %s (%s)\n\n", a.Model, a.ModelVersion, fs.Arg(0), b.Model, b.ModelVersion, fs.Arg(1))
	subject := func(name string) string { return drift.Subject(name, b.Model, b.ModelVersion) }
	if len(rep.Features) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "feature\tseverity\tdiagnosis\tpsi\tks\tmean shift σ\tscale\toffset\tfit r²")
		for _, f := range rep.Features {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.3f\t%.2f\t%.4g\t%.4g\t%.3f\n", f.Name, f.Severity, f.Diagnosis,
				f.PSI, f.KS, f.MeanShiftSigma, f.Scale, f.Offset, f.FitR2)
		}
		tw.Flush()
	}
	if len(rep.Embeddings) > 0 {
		fmt.Fprintln(stdout)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "embedding\tseverity\tdiagnosis\tunit-norm A\tunit-norm B\tcentroid cos\tdims moved")
		for _, e := range rep.Embeddings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\n", e.Name, e.Severity, e.Diagnosis,
				e.RefUnitNormRatio, e.UnitNormRatio, e.CentroidCosine, e.DimsMovedRatio)
		}
		tw.Flush()
	}
	var sentences []string
	for _, f := range rep.Features {
		if f.Diagnosis != drift.OK && f.Summary != "" {
			sentences = append(sentences, "["+f.Severity.String()+"] "+drift.Sentence(subject(f.Name), f.Summary))
		}
	}
	for _, e := range rep.Embeddings {
		if e.Diagnosis != drift.OK && e.Summary != "" {
			sentences = append(sentences, "["+e.Severity.String()+"] "+drift.Sentence(subject(e.Name), e.Summary))
		}
	}
	if len(sentences) > 0 {
		fmt.Fprintln(stdout)
		for _, s := range sentences {
			fmt.Fprintln(stdout, s)
		}
	}
	fmt.Fprintf(stdout, "\n%s\n", strings.ToUpper(drift.Severity(code).String()))
	return code
}

const pinUsage = `Usage: monitor baseline pin (--from-daemon URL | --replay --topic T --brokers B | --from-file SKETCHES)
                           [--model M --model-version V] [--as NAME] [--out DIR]

Freezes a production horizon as a new baseline version, never overwriting one:
the new version is NAME, or <observed version>-pinned-<UTC time> (-2, -3, ...
when taken), and its source says it was pinned and from where.

  --from-daemon URL   the horizon of the last evaluation of a running daemon
                      (GET URL/api/v1/horizon?model=M&model_version=V); its
                      declared normalizations are those the daemon serves
  --replay            replays a topic range (--topic, --brokers, offsets or
                      times as for 'baseline build') through the daemon's decoder
  --from-file FILE    a file in the baseline format holding the sketches (for
                      example a baseline built from production logs)

The declared normalizations come from --declared-from (the serving version's
training baseline) when given; else, for --replay, from the store's baseline
of the observed version, if any; else from the source.
`

func baselinePin(args []string, stdout, stderr io.Writer) int {
	cmd := newFlags("baseline pin", pinUsage, stdout, stderr)
	fs := cmd.fs
	daemonURL := fs.String("from-daemon", "", "base URL of a running daemon (http://host:10308)")
	replay := fs.Bool("replay", false, "replay a topic range (see --topic)")
	from := fs.String("from-file", "", "baseline-format file of the production sketches")
	out := fs.String("out", baseline.DefaultDir, "baseline store directory")
	as := fs.String("as", "", "model version of the pinned baseline (default <version>-pinned-<time>)")
	declared := fs.String("declared-from", "", "baseline whose declared normalizations the pinned one keeps")
	model := fs.String("model", "", "model (required with --from-daemon and --replay; default: the file's)")
	version := fs.String("model-version", "", "model version the sketches were observed on (required with --from-daemon and --replay; default: the file's)")
	tf := addTopicFlags(fs)
	df := addDaemonFlags(fs)
	if code, done := cmd.parse(args); done {
		return code
	}
	cfg, err := config.Load(*df.file, fs)
	if err != nil {
		return cmd.usageError(err)
	}
	sources := 0
	for _, on := range []bool{*daemonURL != "", *replay, *from != ""} {
		if on {
			sources++
		}
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "monitor baseline pin: %s\nRun 'monitor baseline pin --help' for usage.\n", msg)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case sources != 1:
		return usage("give exactly one of --from-daemon, --replay and --from-file")
	case (*daemonURL != "" || *replay) && (*model == "" || *version == ""):
		return usage("--model and --model-version required")
	case !*replay && tf.set(fs):
		return usage("--topic, --brokers and the range flags go with --replay")
	}
	var decl *baseline.Baseline
	if *declared != "" {
		if decl, err = baseline.Load(*declared); err != nil {
			return fail(stderr, "pin", err)
		}
	}
	var cur *baseline.Baseline
	req := baseline.PinRequest{Model: *model, Version: *version, As: *as}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch {
	case *daemonURL != "":
		var err error
		if cur, err = fetchHorizon(ctx, *daemonURL, *model, *version); err != nil {
			return fail(stderr, "pin", err)
		}
		req.From = strings.TrimRight(*daemonURL, "/")
	case *replay:
		r, err := tf.options(cfg)
		if err != nil {
			return usage(err.Error())
		}
		b, rep, tr, err := baseline.BuildTopic(ctx, r, baseline.BuildOptions{Model: *model, Version: *version, Decoder: decoderOptions(cfg.Decode)})
		if err != nil {
			return fail(stderr, "pin", err)
		}
		fmt.Fprint(stderr, rep.String())
		cur = b
		req.From = baseline.TopicSource(r.Brokers, r.Topic, tr.Offsets)
		req.WindowStart, req.WindowEnd = tr.First, tr.Last
		if decl == nil {
			if st, err := baseline.OpenStore(*out); err == nil {
				decl, _ = st.Lookup(*model, *version)
			}
		}
	default:
		var err error
		if cur, err = baseline.Load(*from); err != nil {
			return fail(stderr, "pin", err)
		}
		req.From = *from
	}
	if req.WindowStart.IsZero() && cur.Source.WindowStart != nil {
		req.WindowStart = *cur.Source.WindowStart
	}
	if req.WindowEnd.IsZero() && cur.Source.WindowEnd != nil {
		req.WindowEnd = *cur.Source.WindowEnd
	}
	b, path, err := baseline.PinBaseline(*out, cur, decl, req)
	if err != nil {
		return fail(stderr, "pin", err)
	}
	fmt.Fprintf(stdout, "pinned %s %s as %s: wrote %s (id %s)\n", b.Model, b.Source.FromVersion, b.ModelVersion, path, b.ID())
	return exitOK
}

// fetchHorizon gets a daemon's horizon of model/version in the baseline
// format and validates it as a baseline file.
func fetchHorizon(ctx context.Context, base, model, version string) (*baseline.Baseline, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/horizon")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--from-daemon %q: want http(s)://host:port", base)
	}
	u.RawQuery = url.Values{"model": {model}, "model_version": {version}}.Encode()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("asking the daemon: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, baseline.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("the daemon at %s: %s (HTTP %d)", base, e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("the daemon at %s answered HTTP %d", base, resp.StatusCode)
	}
	return baseline.Decode(data, u.String())
}

// topicFlags are the flags of a topic range, for build and pin --replay.
type topicFlags struct {
	topic                *string
	brokers              *[]string
	partitions           *[]int
	fromOffset, toOffset *int64
	fromTime, toTime     *string
}

var topicFlagNames = []string{"topic", "brokers", "partitions", "from-offset", "to-offset", "from-time", "to-time"}

func addTopicFlags(fs *pflag.FlagSet) *topicFlags {
	return &topicFlags{
		topic:      fs.String("topic", "", "Kafka topic to read a range of, with the daemon's decoder"),
		brokers:    fs.StringSlice("brokers", nil, "Kafka brokers, host:port, comma-separated (with --topic)"),
		partitions: fs.IntSlice("partitions", nil, "partitions to read (default: all)"),
		fromOffset: fs.Int64("from-offset", -1, "first offset read in every partition (default: the first)"),
		toOffset:   fs.Int64("to-offset", -1, "offset the range ends before, exclusive (default: the end when the read starts)"),
		fromTime:   fs.String("from-time", "", "start at the first message at or after this RFC 3339 time"),
		toTime:     fs.String("to-time", "", "end before the first message at or after this RFC 3339 time"),
	}
}

// daemonFlags are the daemon's settings that `baseline build` and
// `baseline pin --replay` read events with, as monitor run reads them:
// --config.file, NORMWATCH_* variables and the --decode.* flags, for
// config.Load.
type daemonFlags struct {
	file *string
}

func addDaemonFlags(fs *pflag.FlagSet) daemonFlags {
	d := daemonFlags{file: fs.String("config.file", "", "the daemon's configuration file: events (jsonl, --topic) are read with its decode section, a topic with its kafka.tls and kafka.sasl (and kafka.brokers without --brokers); NORMWATCH_* variables and the --decode.* flags below apply as to monitor run")}
	config.AddFlagsUnder(fs, "decode.")
	return d
}

// set reports whether any topic flag was given.
func (tf *topicFlags) set(fs *pflag.FlagSet) bool {
	for _, n := range topicFlagNames {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// options is the range to read; cfg, the daemon's settings, gives the
// brokers when --brokers does not, and the TLS and SASL to reach them.
func (tf *topicFlags) options(cfg config.Config) (stream.RangeOptions, error) {
	r := stream.RangeOptions{Topic: *tf.topic, Brokers: nonEmpty(*tf.brokers), FromOffset: *tf.fromOffset, ToOffset: *tf.toOffset}
	if len(r.Brokers) == 0 {
		r.Brokers = cfg.Kafka.Brokers
	}
	if r.Topic == "" || len(r.Brokers) == 0 {
		return r, errors.New("--topic and --brokers (or kafka.brokers of --config.file) required")
	}
	t, err := kafkaTLS(cfg.Kafka.TLS)
	if err != nil {
		return r, err
	}
	r.TLS = t
	r.SASL = stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password}
	if len(*tf.partitions) > 0 {
		r.Partitions = *tf.partitions
	}
	if *tf.fromTime != "" && *tf.fromOffset >= 0 || *tf.toTime != "" && *tf.toOffset >= 0 {
		return r, errors.New("give a range end as an offset or as a time, not both")
	}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--from-time", *tf.fromTime, &r.FromTime}, {"--to-time", *tf.toTime, &r.ToTime}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return r, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-11-25T10:00:00Z", t.flag, t.v)
		}
		*t.dst = v
	}
	if !r.FromTime.IsZero() && !r.ToTime.IsZero() && !r.ToTime.After(r.FromTime) {
		return r, errors.New("--to-time must be after --from-time")
	}
	if r.FromOffset >= 0 && r.ToOffset >= 0 && r.ToOffset < r.FromOffset {
		return r, errors.New("--to-offset must not be below --from-offset")
	}
	return r, nil
}

// isTerminal reports whether w is a character device: a person watching,
// who gets a progress bar rather than a log of lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
