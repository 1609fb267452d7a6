package baseline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

func vecJSON(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmtF(x)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// TestBuildSignals: events with retrievals and an activation field build
// a baseline that records the similarity scores (computed from the
// vectors, or given), the norms of both sides, and the activation
// profile with the layer it fits; it writes, reads back and serves them.
func TestBuildSignals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var lines []string
	var scores []float64
	for i := range 400 {
		q := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		n := math.Sqrt(q[0]*q[0] + q[1]*q[1] + q[2]*q[2])
		for j := range q {
			q[j] /= n
		}
		// An RMSNorm layer's output: RMS 1, mean free.
		h := []float64{r.NormFloat64() + 1, r.NormFloat64(), r.NormFloat64() - 0.5, r.NormFloat64()}
		var sq float64
		for _, x := range h {
			sq += x * x
		}
		for j := range h {
			h[j] /= math.Sqrt(sq / 4)
		}
		retr := fmt.Sprintf(`{"query":"q","docs":[%s,[1,0,0]],"metric":"dot"}`, vecJSON(q))
		if i%2 == 1 {
			retr = fmt.Sprintf(`{"query":"q","scores":[%s]}`, fmtF(float64(i)/400))
			scores = append(scores, float64(i)/400)
		} else {
			qf := []float32{float32(q[0]), float32(q[1]), float32(q[2])}
			scores = append(scores, sketch.Score(sketch.MetricDot, qf, qf), sketch.Score(sketch.MetricDot, qf, []float32{1, 0, 0}))
		}
		lines = append(lines, fmt.Sprintf(`{"model":"ranker","model_version":"v4","features":{"a":%d},"embeddings":{"q":%s,"hidden":%s},"retrieval":%s}`,
			i, vecJSON(q), vecJSON(h), retr))
	}
	path := filepath.Join(t.TempDir(), "train.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	opts := testOpts()
	opts.Activations = []string{"hid*"}
	b, _ := build(t, path, opts)

	q := b.Embeddings["q"]
	require.NotNil(t, q.Similarity)
	require.Equal(t, uint64(len(scores)), q.Similarity.Scores().Count())
	var sum float64
	for _, s := range scores {
		sum += s
	}
	require.InDelta(t, sum/float64(len(scores)), q.Similarity.Scores().Mean(), 1e-6)
	require.Equal(t, uint64(400), q.Similarity.QueryNorms().Count())
	require.Equal(t, uint64(400), q.Similarity.DocNorms().Count(), "two docs in every other event")
	require.Equal(t, 1.0, q.Similarity.DocUnitRatio())
	require.Nil(t, q.Activation)

	h := b.Embeddings["hidden"]
	require.NotNil(t, h.Activation)
	require.Equal(t, drift.ActRMSNorm, h.Activation.Fit)
	require.InDelta(t, 1, h.Activation.Sketch.RMS().Mean(), 1e-6)

	dir := t.TempDir()
	file, err := Write(dir, b)
	require.NoError(t, err)
	back, err := Load(file)
	require.NoError(t, err)
	require.Equal(t, b.ID(), back.ID())
	require.Equal(t, sketchesJSON(t, b), sketchesJSON(t, back))
	set := back.Set()
	require.NotNil(t, set.Embeddings["q"].Similarity)
	require.Equal(t, drift.ActRMSNorm, set.Embeddings["hidden"].ActivationNorm)

	// A bad fit is refused, naming the field.
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	bad := strings.Replace(string(raw), `"fit": "rmsnorm"`, `"fit": "batchnorm"`, 1)
	_, err = Decode([]byte(bad), "x.json")
	require.ErrorContains(t, err, "embeddings.hidden.activation.fit")
}

// TestBuildScoresOnly: an embedding known by its retrievals' scores alone
// is a baseline entry without vectors, which reads back.
func TestBuildScoresOnly(t *testing.T) {
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf(`{"model":"ranker","model_version":"v4","features":{"a":1},"retrieval":{"query":"q","scores":[%s,%s]}}`,
			fmtF(float64(i)/300), fmtF(float64(i)/600)))
	}
	path := filepath.Join(t.TempDir(), "train.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	b, _ := build(t, path, testOpts())
	q := b.Embeddings["q"]
	require.Equal(t, 0, q.Dim)
	require.Equal(t, uint64(600), q.Similarity.Scores().Count())
	file, err := Write(t.TempDir(), b)
	require.NoError(t, err)
	back, err := Load(file)
	require.NoError(t, err)
	require.Equal(t, uint64(600), back.Embeddings["q"].Similarity.Scores().Count())
}

// TestActivationsEveryFormat: an embedding column declared an activation
// field gets the same profile from CSV, JSONL and Parquet, its levels
// those of the exact per-vector statistics.
func TestActivationsEveryFormat(t *testing.T) {
	rows := genRows(1500, 3)
	dir := t.TempDir()
	var means []float64
	for _, r := range rows {
		m, _, _ := sketch.VectorStats(r.Q)
		means = append(means, m)
	}
	var sum float64
	for _, m := range means {
		sum += m
	}
	var profiles []string
	for _, tc := range []struct {
		name  string
		write func(testing.TB, string, []testRow)
	}{{"train.csv", writeCSV}, {"train.jsonl", writeJSONL}, {"train.parquet", writeParquet}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			tc.write(t, path, rows)
			opts := testOpts()
			opts.Activations = []string{"q"}
			b, _ := build(t, path, opts)
			a := b.Embeddings["q"].Activation
			require.NotNil(t, a)
			require.Equal(t, uint64(len(rows)), a.Sketch.Count())
			require.InDelta(t, sum/float64(len(means)), a.Sketch.Means().Mean(), 1e-12)
			require.Nil(t, b.Embeddings["q"].Similarity)
			js, err := a.Sketch.MarshalJSON()
			require.NoError(t, err)
			profiles = append(profiles, a.Fit+" "+string(js))
		})
	}
	require.Len(t, profiles, 3)
	require.Equal(t, profiles[0], profiles[1], "CSV and JSONL")
	require.Equal(t, profiles[0], profiles[2], "CSV and Parquet")
}
