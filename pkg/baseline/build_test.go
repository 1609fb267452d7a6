package baseline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "train.csv")
	writeCSV(t, in, genRows(5000, 1))
	b, rep := build(t, in, testOpts())
	require.EqualValues(t, 5000, rep.Rows)
	require.EqualValues(t, 5000, rep.Used)
	require.ElementsMatch(t, []string{"age", "income", "score"}, keys(b.Features))
	require.ElementsMatch(t, []string{"q"}, keys(b.Embeddings))

	path, err := Write(filepath.Join(dir, "baselines"), b)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "baselines", "ranker", "v4", b.ID()[:16]+".json"), path)

	got, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, b.ID(), got.ID())
	require.Equal(t, b.Source, got.Source)
	require.True(t, b.CreatedAt.Equal(got.CreatedAt))
	for name, f := range b.Features {
		g := got.Features[name]
		require.Equal(t, f.Sketch.Count(), g.Sketch.Count(), name)
		require.Equal(t, f.Sketch.Missing(), g.Sketch.Missing(), name)
		require.Equal(t, f.Sketch.NaN(), g.Sketch.NaN(), name)
		require.Equal(t, f.Sketch.Mean(), g.Sketch.Mean(), name)
		require.Equal(t, f.Sketch.StdDev(), g.Sketch.StdDev(), name)
		for _, q := range []float64{0.01, 0.5, 0.99} {
			a, _ := f.Sketch.Quantile(q)
			c, _ := g.Sketch.Quantile(q)
			require.Equal(t, a, c, "%s p%v", name, q)
		}
	}
	require.Equal(t, b.Embeddings["q"].Sketch.Mean(), got.Embeddings["q"].Sketch.Mean())
	require.Equal(t, b.Embeddings["q"].Sketch.UnitNormRatio(), got.Embeddings["q"].Sketch.UnitNormRatio())
	require.Equal(t, sketchesJSON(t, b), sketchesJSON(t, got))

	// The statistics are those of the data.
	age := b.Features["age"].Sketch
	require.EqualValues(t, 5000/13+1, age.Missing())
	require.EqualValues(t, 5000-5000/13-1, age.Count())
	require.EqualValues(t, 5000/97-5000/(97*11)+1-1, b.Features["score"].Sketch.NaN()) // i%97==0 and i%11!=0, i=0 excluded

	// Re-encoding the loaded baseline gives the same file.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	again, err := got.Encode()
	require.NoError(t, err)
	require.Equal(t, string(data), string(again))

	// Never overwritten, nor a second file for the version.
	_, err = Write(filepath.Join(dir, "baselines"), b)
	require.ErrorIs(t, err, ErrExists)
	b2, _ := build(t, in, BuildOptions{Model: "ranker", Version: "v4"})
	_, err = Write(filepath.Join(dir, "baselines"), b2)
	require.ErrorIs(t, err, ErrExists)
	require.Equal(t, []string{filepath.Join("ranker", "v4", b.ID()[:16]+".json")}, dirFiles(t, filepath.Join(dir, "baselines")))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFormatsAgree(t *testing.T) {
	dir := t.TempDir()
	rows := genRows(3000, 2)
	paths := map[string]string{
		FormatCSV:     filepath.Join(dir, "train.csv"),
		FormatJSONL:   filepath.Join(dir, "train.jsonl"),
		FormatParquet: filepath.Join(dir, "train.parquet"),
	}
	writeCSV(t, paths[FormatCSV], rows)
	writeJSONL(t, paths[FormatJSONL], rows)
	writeParquet(t, paths[FormatParquet], rows)

	ref, _ := build(t, paths[FormatCSV], testOpts())
	want := sketchesJSON(t, ref)
	require.NotZero(t, ref.Features["score"].Sketch.NaN())
	for _, format := range []string{FormatJSONL, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			b, rep := build(t, paths[format], testOpts())
			require.EqualValues(t, 3000, rep.Used)
			require.Equal(t, want, sketchesJSON(t, b))
			require.Equal(t, format, b.Source.Format)
			require.Len(t, b.Source.SHA256, 64)
			require.NotEqual(t, ref.ID(), b.ID(), "the source differs")
		})
	}
	// Explicit columns give the same sketches of those columns.
	opts := testOpts()
	opts.Features = []string{"income"}
	opts.Embeddings = []string{}
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		b, _ := build(t, paths[format], opts)
		require.Equal(t, []string{"income"}, keys(b.Features), format)
		require.Empty(t, b.Embeddings, format)
	}
}

// TestPyarrowParquet reads a file written by pyarrow (testdata/gen_pyarrow.py:
// two row groups, snappy, dictionary pages, a float32 column, nulls, a
// list<float> column) and checks it against the same rows in CSV.
func TestPyarrowParquet(t *testing.T) {
	fromCSV, _ := build(t, "testdata/pyarrow.csv", testOpts())
	fromPQ, rep := build(t, "testdata/pyarrow.parquet", testOpts())
	require.EqualValues(t, 300, rep.Rows)
	require.ElementsMatch(t, []string{"age", "income", "score"}, keys(fromPQ.Features))
	require.Equal(t, 4, fromPQ.Embeddings["q"].Dim)
	require.EqualValues(t, 300/17+1, fromPQ.Features["age"].Sketch.Missing())
	require.Equal(t, sketchesJSON(t, fromCSV), sketchesJSON(t, fromPQ))
}

func TestHostileInputs(t *testing.T) {
	type tc struct {
		name     string
		file     string // name, its extension gives the format
		content  string
		opts     func(*BuildOptions)
		wantErr  string // substring; "" means the build succeeds
		wantSkip []string
		check    func(t *testing.T, b *Baseline, rep *Report)
	}
	header := "a,b,emb\n"
	cases := []tc{
		{name: "empty csv", file: "x.csv", content: "", wantErr: "the file is empty"},
		{name: "header only", file: "x.csv", content: header, wantErr: "the input has no data rows"},
		{name: "blank lines only", file: "x.csv", content: header + "\n\n", wantErr: "no data rows"},
		{name: "empty jsonl", file: "x.jsonl", content: "\n", wantErr: "holds no events"},
		{name: "empty parquet", file: "x.parquet", content: "", wantErr: "the file is empty"},
		{name: "truncated parquet", file: "x.parquet", content: "PAR1\x00\x00garbage", wantErr: "not a readable Parquet file"},
		{name: "missing requested column", file: "x.csv", content: header + "1,2,[1]\n",
			opts: func(o *BuildOptions) { o.Features = []string{"a", "zz"} }, wantErr: `requested feature column "zz" is not in the header`},
		{name: "missing requested jsonl feature", file: "x.jsonl", content: `{"features": {"a": 1}}` + "\n",
			opts: func(o *BuildOptions) { o.Features = []string{"zz"} }, wantErr: `requested feature "zz" is in no event`},
		{name: "no numeric column", file: "x.csv", content: "a,b\nx,y\n", wantErr: "no numeric or embedding column"},
		{name: "duplicate header", file: "x.csv", content: "a,a\n1,2\n", wantErr: `column "a" appears twice`},
		{name: "all rows malformed", file: "x.csv", content: header + "1\n2\n",
			opts: func(o *BuildOptions) { o.Features = []string{"a"} }, wantErr: "all 2 rows were skipped"},
		{
			name: "malformed rows skipped", file: "x.csv",
			content:  header + "1,2,\"[1,0]\"\n1,2\n3,4,\"[0,1]\"\n5,\"6\"x,\"[1,0]\"\n7,8,\"[1,0]",
			wantSkip: []string{"x.csv:3: malformed_row: 2 fields, the header has 3", "x.csv:5: malformed_row", "x.csv:6: malformed_row"},
			check: func(t *testing.T, b *Baseline, rep *Report) {
				require.EqualValues(t, 5, rep.Rows)
				require.EqualValues(t, 2, rep.Used)
				require.EqualValues(t, 3, rep.SkippedRows[SkipMalformedRow])
				require.EqualValues(t, 3, b.Source.SkippedRows)
				require.EqualValues(t, 2, b.Embeddings["emb"].Sketch.Count())
			},
		},
		{
			name: "non-numeric cells counted", file: "x.csv",
			content: header + "1,2,b64f32:AACAPwAAAEA=\n1,abc,b64f32:AACAPwAAAEA=\n,3,oops\n4,5,[1,\"x\"]\n",
			opts:    func(o *BuildOptions) { o.Features, o.Embeddings = []string{"a", "b"}, []string{"emb"} },
			wantSkip: []string{`x.csv:3: b: non_numeric: "abc"`, `x.csv:4: emb: bad_embedding: neither a JSON array nor a b64f32 string`,
				`x.csv:5: malformed_row`},
			check: func(t *testing.T, b *Baseline, rep *Report) {
				require.EqualValues(t, 1, rep.SkippedValues[SkipNonNumeric])
				require.EqualValues(t, 2, b.Features["a"].Sketch.Count())
				require.EqualValues(t, 1, b.Features["a"].Sketch.Missing())
				require.EqualValues(t, 2, b.Features["b"].Sketch.Count())
				require.EqualValues(t, 2, b.Embeddings["emb"].Sketch.Count())
			},
		},
		{
			name: "NaN and infinities are counted, not summarized", file: "x.csv",
			content: "a\n1\nNaN\n+Inf\n-inf\n2\n1e999\n",
			check: func(t *testing.T, b *Baseline, rep *Report) {
				a := b.Features["a"].Sketch
				require.EqualValues(t, 2, a.Count())
				require.EqualValues(t, 1, a.NaN())
				require.EqualValues(t, 2, a.PosInf())
				require.EqualValues(t, 1, a.NegInf())
				require.Equal(t, 1.5, a.Mean())
			},
		},
		{
			name: "jsonl bad lines skipped with line", file: "x.jsonl",
			content: `{"features": {"a": 1}}` + "\n" + `{"features": {"a": ` + "\n" + `{"model": "other", "features": {"a": 2}}` + "\n" +
				`{"features": {"a": "x"}}` + "\n\n" + `{"features": {"a": 3}, "embeddings": {"e": "b64f32:AACAPwAAAEA="}}` + "\n",
			wantSkip: []string{"x.jsonl:2: malformed_json", "x.jsonl:3: other_model: event of other v4", "x.jsonl:4: a: type_error"},
			check: func(t *testing.T, b *Baseline, rep *Report) {
				require.EqualValues(t, 5, rep.Rows)
				require.EqualValues(t, 3, rep.Used)
				require.EqualValues(t, 2, b.Features["a"].Sketch.Count())
				require.Equal(t, 2, b.Embeddings["e"].Dim)
				require.EqualValues(t, 1, b.Embeddings["e"].Sketch.Count())
			},
		},
		{
			name: "quoted fields with commas and newlines", file: "x.csv",
			content: "a,\"note, long\",emb\n1,\"x,\ny\",\"[1, 0]\"\n2,\"he said \"\"hi\"\"\",b64f32:AACAPwAAAEA=\n",
			opts:    func(o *BuildOptions) { o.Embeddings = []string{"emb"} },
			check: func(t *testing.T, b *Baseline, rep *Report) {
				require.EqualValues(t, 2, rep.Used)
				require.Equal(t, []string{"a"}, keys(b.Features))
				require.EqualValues(t, 2, b.Embeddings["emb"].Sketch.Count())
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, c.file)
			require.NoError(t, os.WriteFile(in, []byte(c.content), 0o644))
			opts := testOpts()
			if c.opts != nil {
				c.opts(&opts)
			}
			out := filepath.Join(dir, "out")
			b, rep, err := Build(context.Background(), in, opts)
			if err == nil {
				_, err = Write(out, b)
			}
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				require.Contains(t, err.Error(), in, "the error names the file")
				require.NoDirExists(t, out, "nothing written")
				return
			}
			require.NoError(t, err)
			text := rep.String()
			for _, s := range c.wantSkip {
				require.Contains(t, text, strings.Replace(s, c.file, in, 1))
			}
			if c.check != nil {
				c.check(t, b, rep)
			}
		})
	}
}

func TestEmptyInputIsErrEmpty(t *testing.T) {
	in := filepath.Join(t.TempDir(), "x.csv")
	require.NoError(t, os.WriteFile(in, nil, 0o644))
	_, _, err := Build(context.Background(), in, testOpts())
	require.ErrorIs(t, err, ErrEmptyInput)
}

func TestTruncatedParquet(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.parquet")
	writeParquet(t, full, genRows(2000, 3))
	data, err := os.ReadFile(full)
	require.NoError(t, err)
	for _, cut := range []int{len(data) / 2, len(data) - 10, 100} {
		in := filepath.Join(dir, "cut"+strconv.Itoa(cut)+".parquet")
		require.NoError(t, os.WriteFile(in, data[:cut], 0o644))
		_, _, err := Build(context.Background(), in, testOpts())
		require.ErrorContains(t, err, in)
		require.ErrorContains(t, err, "not a readable Parquet file")
	}
}

func TestProgress(t *testing.T) {
	in := filepath.Join(t.TempDir(), "x.csv")
	writeCSV(t, in, genRows(2500, 4))
	var out bytes.Buffer
	opts := testOpts()
	opts.Progress, opts.ProgressRows = &out, 1000
	build(t, in, opts)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "1000 rows")
	require.Contains(t, lines[1], "2000 rows")
}

func TestInferNormalization(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 5))
	var b strings.Builder
	b.WriteString("z,u,raw,e\n")
	for range 5000 {
		e := "[" + fmtF(r.NormFloat64()) + "," + fmtF(r.NormFloat64()) + "]"
		b.WriteString(fmtF(r.NormFloat64()) + "," + fmtF(r.Float64()) + "," + fmtF(100+10*r.NormFloat64()) + ",\"" + e + "\"\n")
	}
	in := filepath.Join(dir, "x.csv")
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	opts := testOpts()
	opts.InferNormalization = true
	bl, _ := build(t, in, opts)
	require.Equal(t, LooksStandardized, bl.Features["z"].Inferred.Looks)
	require.Equal(t, LooksUnitRange, bl.Features["u"].Inferred.Looks)
	require.Equal(t, LooksRaw, bl.Features["raw"].Inferred.Looks)
	require.InDelta(t, 100, bl.Features["raw"].Inferred.Evidence["mean"], 1)
	require.Equal(t, drift.ScalerNone, bl.Features["z"].Normalization.Kind)
	require.Equal(t, LooksNotUnitNorm, bl.Embeddings["e"].Inferred.Looks)
	require.Equal(t, drift.EmbeddingNone, bl.Embeddings["e"].Normalization)

	unit, _ := build(t, "testdata/pyarrow.csv", opts)
	require.Equal(t, LooksUnitNorm, unit.Embeddings["q"].Inferred.Looks)
	require.Equal(t, drift.EmbeddingL2, unit.Embeddings["q"].Normalization)
	require.Equal(t, 1.0, unit.Embeddings["q"].Inferred.Evidence["unit_norm_ratio"])

	// Scaler and inference exclude each other.
	opts.Scaler = &Scaler{}
	_, _, err := Build(context.Background(), in, opts)
	require.ErrorContains(t, err, "exclude each other")
}

func TestParseFloatMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	inputs := []string{"0", "-0", "1", "+1", ".5", "5.", "1e5", "1E-5", "1e", "1e+", "-", "", ".", "1.2.3", "0x1p3", "1_0",
		"123456789012345", "1234567890123456", "9007199254740993", "1e22", "1e23", "1e-22", "1e-23", "0.000001234",
		"NaN", "inf", "-Infinity", "1e400", "-1e400", "1e-400", "00012", "4.9e-324", "abc", " 1", "1 "}
	for range 20000 {
		x := r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		for _, f := range []byte{'g', 'e', 'f'} {
			inputs = append(inputs, strconv.FormatFloat(x, f, r.IntN(18)-1, 64))
		}
		inputs = append(inputs, strconv.FormatFloat(float64(float32(x)), 'g', -1, 32))
	}
	for _, s := range inputs {
		want, err := strconv.ParseFloat(s, 64)
		got, ok := parseFloat([]byte(s))
		var ne *strconv.NumError
		if err != nil && !(errors.As(err, &ne) && ne.Err == strconv.ErrRange) {
			require.False(t, ok, "%q", s)
			continue
		}
		require.True(t, ok, "%q", s)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%q", s)
	}
}

func TestCSVReaderMatchesEncodingCSV(t *testing.T) {
	inputs := []string{
		"a,b,c\n1,2,3\n",
		"a,b\r\n1,2\r\n",
		"a,\"b,c\",d\n\"x\"\"y\",,\"\"\n",
		"a,\"multi\nline\",c\n1,2,3",
		"a,b,\n,,\n",
		"\"a\"\n\"\"\n",
		"x,\"[1, 2]\",\"b64f32:AAA=\"\n",
		"a,\"q\r\nr\",b\r\n",
		"a long line of more than sixteen bytes,\"and a quoted field that is longer too\"\n",
	}
	for _, in := range inputs {
		want, err := csv.NewReader(strings.NewReader(in)).ReadAll()
		require.NoError(t, err, in)
		// The smallest buffer, so lines overflow it.
		r := &csvReader{br: bufio.NewReaderSize(strings.NewReader(in), 16)}
		var got [][]string
		for {
			rec, err := r.read()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, in)
			row := make([]string, len(rec))
			for i, f := range rec {
				row[i] = string(f)
			}
			got = append(got, row)
		}
		// encoding/csv turns a lone "" line into one empty field; so do we.
		require.Equal(t, want, got, "%q", in)
	}
}

func TestProgressBar(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.csv")
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%d,%d\n", i, i%7)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	var progress bytes.Buffer
	_, _, err := Build(context.Background(), path, BuildOptions{
		Model: "m", Version: "v", Progress: &progress, ProgressRows: 1000, ProgressBar: true,
	})
	require.NoError(t, err)
	out := progress.String()
	require.Contains(t, out, "\r[")
	require.Contains(t, out, "rows")
	require.Equal(t, 1, strings.Count(out, "\n"), "one line, redrawn in place, ended once")
	require.True(t, strings.HasSuffix(out, "\n"))
}
