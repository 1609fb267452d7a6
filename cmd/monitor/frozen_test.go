package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/drift"
)

// frozenRun is one run of frozen query q as an event: each of its 10
// reference documents kept with probability keep.
func frozenRun(r *rand.Rand, ts time.Time, version string, q int, keep float64) []byte {
	var docs []string
	for d := range 10 {
		id := fmt.Sprintf("doc-%d-%d", q, d)
		if r.Float64() >= keep {
			id = fmt.Sprintf("stray-%d", r.IntN(10000))
		}
		docs = append(docs, `"`+id+`"`)
	}
	return fmt.Appendf(nil, `{"ts":%d,"model":"search","model_version":%q,"retrieval":{"query":"query","query_id":"fq-%04d","doc_ids":[%s]}}`,
		ts.UnixMilli(), version, q, strings.Join(docs, ","))
}

// TestDaemonFrozenRegression: a frozen reference built by `monitor
// baseline build` from a JSONL of reference runs; the daemon reads runs
// of the frozen queries from Kafka (the embedded broker), scores them,
// and v1 whose index lost a third of the reference documents pages
// EmbeddingDrift with retrieval_regression and its figure, while v0
// (the index as the reference) stays ok; frozen_recall and
// frozen_runs_total on /metrics; hostile runs are dead-lettered with
// their reason.
func TestDaemonFrozenRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon for several windows")
	}
	cfg := testConfig(t)
	ref := filepath.Join(t.TempDir(), "reference.jsonl")
	var lines []string
	for q := range 50 {
		lines = append(lines, string(frozenRun(rand.New(rand.NewPCG(1, 1)), time.Unix(0, 0), "ref", q, 1)))
	}
	require.NoError(t, os.WriteFile(ref, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	for _, v := range []string{"v0", "v1"} {
		var out, errOut strings.Builder
		code := baselineBuild([]string{"--input", ref, "--model", "search", "--model-version", v, "--select-version", "ref",
			"--out", cfg.Baselines.Dir, "--quiet"}, &out, &errOut)
		require.Equal(t, 0, code, out.String()+errOut.String())
	}
	cfg.Window.Size, cfg.Window.AllowedLateness = time.Second, 0
	cfg.Window.HorizonWindows = 3
	cfg.Limits.VersionStaleAfter = 30 * time.Minute
	cfg.Log.Level = "info"
	d, logs, _ := testDaemon(t, cfg)

	w := &kafka.Writer{Addr: kafka.TCP(d.brokers...), Topic: cfg.Kafka.Topics[0], BatchTimeout: time.Millisecond, Balancer: &kafka.Hash{},
		BatchSize: 1000, BatchBytes: 4 << 20}
	defer w.Close()
	r := rand.New(rand.NewPCG(2, 2))
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	var msgs []kafka.Message
	for k := range 8 {
		for i := range 200 {
			ts := start.Add(time.Duration(k)*time.Second + time.Duration(i)*time.Second/201)
			msgs = append(msgs,
				kafka.Message{Key: []byte("k"), Value: frozenRun(r, ts, "v0", r.IntN(50), 0.99)},
				kafka.Message{Key: []byte("k"), Value: frozenRun(r, ts, "v1", r.IntN(50), 0.6)})
		}
	}
	// Hostile runs: an id over the length cap, a document id a number.
	long := strings.Repeat("x", 300)
	msgs = append(msgs,
		kafka.Message{Key: []byte("k"), Value: fmt.Appendf(nil, `{"ts":%d,"model":"search","model_version":"v1","retrieval":{"query":"query","query_id":%q,"doc_ids":["a"]}}`, start.UnixMilli(), long)},
		kafka.Message{Key: []byte("k"), Value: fmt.Appendf(nil, `{"ts":%d,"model":"search","model_version":"v1","retrieval":{"query":"query","query_id":"fq-0001","doc_ids":[7]}}`, start.UnixMilli())})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))

	var v1 drift.EmbeddingReport
	require.Eventually(t, func() bool {
		fired := false
		for _, a := range d.alerts.Active() {
			l := a.Labels
			fired = fired || (a.State == alert.Firing && l.Get("alertname") == alert.EmbeddingDrift && l.Get("model_version") == "v1" &&
				l.Get("embedding") == "query" && l.Get("diagnosis") == string(drift.RetrievalRegression))
		}
		for _, e := range d.engine.Latest() {
			for _, x := range e.Report.Embeddings {
				if e.Version == "v1" && x.Name == "query" {
					v1 = x
				}
				if e.Version == "v0" && x.Name == "query" && x.Frozen != nil && x.Frozen.Queries >= 20 {
					require.Equal(t, drift.OK, x.Diagnosis, x.Summary)
				}
			}
		}
		return fired
	}, 45*time.Second, 50*time.Millisecond, logs.String())
	require.Equal(t, drift.RetrievalRegression, v1.Diagnosis)
	require.Regexp(t, `^recall@10 of the frozen queries fell to 0\.\d\d over \d+ of them \(1\.00 for their recorded run; rank-biased overlap 0\.\d\d\): inspect query-side normalization and the index\.$`, v1.Summary)
	require.InDelta(t, 0.6, v1.Frozen.Recall, 0.08)
	require.Equal(t, 50, v1.Frozen.RefQueries)

	scrape := func() string {
		resp, err := http.Get("http://" + d.server.Addr() + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	// The hostile runs were written last: wait for them to be read.
	var m string
	require.Eventually(t, func() bool {
		m = scrape()
		return strings.Contains(m, `normwatch_decode_errors_total{reason="bad_retrieval_id"} 2`)
	}, 30*time.Second, 50*time.Millisecond, "both hostile runs dead-lettered as bad_retrieval_id")
	require.Regexp(t, `normwatch_frozen_recall\{embedding="query",model="search",model_version="v1"\} 0\.[4-7]`, m)
	require.Regexp(t, `normwatch_frozen_recall\{embedding="query",model="search",model_version="v0"\} 0\.9`, m)
	require.Regexp(t, `normwatch_frozen_runs_total\{outcome="scored"\} [1-9]`, m)
	require.Contains(t, m, `normwatch_frozen_runs_total{outcome="unknown_query"} 0`)
}
