package baseline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// indexRow is a row as pandas writes a DataFrame with its index.
type indexRow struct {
	Index  int64   `parquet:"__index_level_0__"`
	Income float64 `parquet:"income"`
	UserID int64   `parquet:"user_id"`
}

// TestPandasIndexParquet: the column the pandas metadata names as the
// index is left out, said once in the notes; a file without the metadata
// keeps every column.
func TestPandasIndexParquet(t *testing.T) {
	for _, c := range []struct {
		name     string
		meta     string
		features []string
		want     []string
		note     string
	}{
		{name: "index column", meta: `{"index_columns": ["__index_level_0__"], "columns": []}`,
			want: []string{"income", "user_id"}, note: "left out the pandas index column __index_level_0__"},
		{name: "range index", meta: `{"index_columns": [{"kind": "range", "start": 0, "stop": 5, "step": 1}]}`,
			want: []string{"__index_level_0__", "income", "user_id"}},
		{name: "no pandas metadata", want: []string{"__index_level_0__", "income", "user_id"}},
		{name: "index asked for", meta: `{"index_columns": ["__index_level_0__"]}`, features: []string{"__index_level_0__", "income"},
			want: []string{"__index_level_0__", "income"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "train.parquet")
			f, err := os.Create(path)
			require.NoError(t, err)
			var opts []parquet.WriterOption
			if c.meta != "" {
				opts = append(opts, parquet.KeyValueMetadata("pandas", c.meta))
			}
			w := parquet.NewGenericWriter[indexRow](f, opts...)
			rows := make([]indexRow, 300)
			for i := range rows {
				rows[i] = indexRow{Index: int64(i * 7 % 300), Income: float64(40000 + 17*i), UserID: int64(1000 + i)}
			}
			_, err = w.Write(rows)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			require.NoError(t, f.Close())

			o := testOpts()
			o.Features = c.features
			b, rep := build(t, path, o)
			require.ElementsMatch(t, c.want, mapKeys(b.Features))
			if c.note == "" {
				require.Empty(t, rep.Notes)
				return
			}
			require.Len(t, rep.Notes, 1)
			require.Contains(t, rep.Notes[0], c.note)
			require.Contains(t, rep.Notes[0], "index=False")
			require.Equal(t, 1, strings.Count(rep.String(), "__index_level_0__"))
		})
	}
}

func mapKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCSVUnnamedIndex(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.csv")
	require.NoError(t, os.WriteFile(path, []byte(",income,age\n0,52000,40\n1,48000,31\n"), 0o644))
	_, _, err := Build(context.Background(), path, testOpts())
	require.ErrorContains(t, err, "train.csv:1: header: column 1 has no name: it looks like the index pandas writes with DataFrame.to_csv(); write the file with to_csv(path, index=False)")

	// Another unnamed column is still an error, without the pandas story.
	require.NoError(t, os.WriteFile(path, []byte("income,,age\n52000,1,40\n"), 0o644))
	_, _, err = Build(context.Background(), path, testOpts())
	require.ErrorContains(t, err, "column 2 has no name")
}

// TestScalerSubset: --features with a subset takes the scaler's entries
// for it and lists the others once; without --features an entry for a
// column that is not there stays an error.
func TestScalerSubset(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.csv")
	writeCSV(t, path, genRows(500, 3))
	sc, err := ParseScaler([]byte("features:\n  income: {kind: scale, scale: 18300}\n  age: {kind: minmax, min: 18, max: 90}\n"+
		"  tenure: {kind: zscore, mean: 3, std: 1}\n  clicks: {kind: robust, median: 3, iqr: 4}\nembeddings:\n  q: l2\n  doc: {kind: l2}\n"), "scaler.yml")
	require.NoError(t, err)

	o := testOpts()
	o.Features, o.Embeddings, o.Scaler = []string{"income", "age"}, []string{"q"}, sc
	b, rep := build(t, path, o)
	require.Equal(t, drift.Normalization{Kind: drift.ScalerScale, Scale: 18300}, b.Features["income"].Normalization)
	require.Equal(t, drift.EmbeddingL2, b.Embeddings["q"].Normalization)
	require.Len(t, rep.Notes, 1)
	require.Contains(t, rep.Notes[0], "scaler.yml: 3 scaler entries not among the columns built, left out: clicks, tenure, embedding doc")
	require.Equal(t, 1, strings.Count(rep.String(), "tenure"))

	o.Features, o.Embeddings = nil, nil
	_, _, err = Build(context.Background(), path, o)
	require.ErrorContains(t, err, `scaler.yml: feature "clicks" is not among the baseline's features (age, income, score); --features with a subset leaves the scaler's other entries out`)
}

// TestSelectVersion: training data logged as events of version "train"
// builds the baseline of v4 with SelectVersion; without it every event is
// skipped and the error says which flags select them.
func TestSelectVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.jsonl")
	var lines []string
	for i := range 400 {
		version := "train"
		if i%4 == 0 {
			version = "v3" // production of another version, in the same log
		}
		lines = append(lines, fmt.Sprintf(`{"model": "ranker", "model_version": %q, "features": {"income": %d}}`, version, 40000+i))
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	_, _, err := Build(context.Background(), path, testOpts())
	require.ErrorContains(t, err, "every event is of another model or version than ranker v4; build them as this one with --select-model and --select-version")

	o := testOpts()
	o.SelectVersion = "train"
	b, rep := build(t, path, o)
	require.Equal(t, "v4", b.ModelVersion)
	require.Equal(t, uint64(300), b.Source.Rows)
	require.Equal(t, uint64(100), rep.SkippedRows[SkipOtherModel])
	require.Equal(t, "train", b.Source.FromVersion)
	require.Equal(t, "ranker", b.Source.FromModel)
	require.Equal(t, uint64(300), b.Features["income"].Sketch.Count())
	// The selection is part of the file: it round-trips.
	data, err := b.Encode()
	require.NoError(t, err)
	back, err := Decode(data, "b.json")
	require.NoError(t, err)
	require.Equal(t, "train", back.Source.FromVersion)

	// Selecting needs events.
	csv := filepath.Join(dir, "train.csv")
	writeCSV(t, csv, genRows(10, 1))
	_, _, err = Build(context.Background(), csv, o)
	require.ErrorContains(t, err, "selecting events of a model or version takes events (JSONL or a topic), not csv")
}

func TestSmallBaselineWarns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.csv")
	writeCSV(t, path, genRows(150, 3))
	o := testOpts()
	_, rep := build(t, path, o)
	// age has missing values: fewer than 150 finite ones.
	require.NotEmpty(t, rep.Small)
	require.Contains(t, rep.String(), "warning: feature income: 150 values, below min_samples 200")
	require.Contains(t, rep.String(), "warning: embedding q: 150 vectors, below min_samples 200")

	o.MinSamples = 100
	_, rep = build(t, path, o)
	require.Empty(t, rep.Small)
}
