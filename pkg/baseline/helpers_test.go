package baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
)

// testRow is one row of the generated training data.
type testRow struct {
	Age    *int64    `parquet:"age,optional"`
	Income float64   `parquet:"income"`
	Score  *float64  `parquet:"score,optional"`
	Q      []float32 `parquet:"q,list"`
	Name   string    `parquet:"name"`
}

// genRows makes n rows: an integer feature with missing values, a normal
// feature, a feature with missing values and NaN, and a unit-norm
// 8-dimension embedding.
func genRows(n int, seed uint64) []testRow {
	r := rand.New(rand.NewPCG(seed, 99))
	rows := make([]testRow, n)
	for i := range rows {
		row := testRow{Income: 52100 + 18300*r.NormFloat64(), Name: "u" + strconv.Itoa(i)}
		if i%13 != 0 {
			a := int64(18 + r.IntN(70))
			row.Age = &a
		}
		if i%11 != 0 {
			s := r.Float64()
			if i%97 == 0 {
				s = math.NaN()
			}
			row.Score = &s
		}
		q := make([]float32, 8)
		var ss float64
		for j := range q {
			q[j] = float32(r.NormFloat64())
			ss += float64(q[j]) * float64(q[j])
		}
		for j := range q {
			q[j] = float32(float64(q[j]) / math.Sqrt(ss))
		}
		row.Q = q
		rows[i] = row
	}
	return rows
}

func fmtF(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func writeCSV(t testing.TB, path string, rows []testRow) {
	var b bytes.Buffer
	b.WriteString("age,income,score,q,name\n")
	for _, r := range rows {
		if r.Age != nil {
			b.WriteString(strconv.FormatInt(*r.Age, 10))
		}
		b.WriteString("," + fmtF(r.Income) + ",")
		if r.Score != nil {
			b.WriteString(fmtF(*r.Score))
		}
		q, _ := json.Marshal(r.Q)
		b.WriteString(`,"` + string(bytes.ReplaceAll(q, []byte(`"`), []byte(`""`))) + `",` + r.Name + "\n")
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

func writeJSONL(t testing.TB, path string, rows []testRow) {
	var b bytes.Buffer
	for _, r := range rows {
		age, score := "null", "null"
		if r.Age != nil {
			age = strconv.FormatInt(*r.Age, 10)
		}
		if r.Score != nil {
			score = fmtF(*r.Score)
		}
		q, _ := json.Marshal(r.Q)
		fmt.Fprintf(&b, `{"ts": "2026-11-25T10:00:00Z", "features": {"age": %s, "income": %s, "score": %s}, "embeddings": {"q": %s}}`+"\n",
			age, fmtF(r.Income), score, q)
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

func writeParquet(t testing.TB, path string, rows []testRow) {
	f, err := os.Create(path)
	require.NoError(t, err)
	w := parquet.NewGenericWriter[testRow](f, parquet.MaxRowsPerRowGroup(700))
	_, err = w.Write(rows)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
}

var testNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func testOpts() BuildOptions {
	return BuildOptions{Model: "ranker", Version: "v4", Now: func() time.Time { return testNow }}
}

func build(t testing.TB, path string, opts BuildOptions) (*Baseline, *Report) {
	t.Helper()
	b, rep, err := Build(context.Background(), path, opts)
	require.NoError(t, err)
	return b, rep
}

// sketchesJSON returns the features and embeddings of b as JSON, the part
// that must not depend on the input format.
func sketchesJSON(t testing.TB, b *Baseline) string {
	t.Helper()
	out, err := json.MarshalIndent(struct {
		F map[string]*Feature
		E map[string]*Embedding
	}{b.Features, b.Embeddings}, "", " ")
	require.NoError(t, err)
	return string(out)
}

// dirFiles lists every file under dir, relative.
func dirFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	}))
	return out
}
