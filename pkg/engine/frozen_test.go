package engine

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// frozenBaselines serves search/v1 a frozen reference of 60 queries of
// depth 10 on the embedding "query", and nothing else.
type frozenBaselines struct{ ref *sketch.FrozenRef }

func newFrozenBaselines(t *testing.T) frozenBaselines {
	refs := map[string][]string{}
	for q := range 60 {
		for d := range 10 {
			refs[frozenID(q)] = append(refs[frozenID(q)], fmt.Sprintf("q%d-d%d", q, d))
		}
	}
	ref, err := sketch.NewFrozenRef(10, refs)
	require.NoError(t, err)
	return frozenBaselines{ref}
}

func frozenID(q int) string { return fmt.Sprintf("fq-%04d", q) }

func (b frozenBaselines) Lookup(model, version string) (drift.Set, string, bool) {
	if model != "search" || version != "v1" {
		return drift.Set{}, "", false
	}
	return drift.Set{Embeddings: map[string]drift.EmbeddingSketch{"query": {FrozenRef: b.ref}}}, "id-search-v1", true
}

func (b frozenBaselines) FrozenRef(model, version, embedding string) *sketch.FrozenRef {
	if model == "search" && version == "v1" && embedding == "query" {
		return b.ref
	}
	return nil
}

// frozenEvents are runs of the 60 frozen queries (and a query id outside
// them every tenth event) over windows minutes, spread over parts
// partitions: from window degradeFrom on, each reference document is kept
// with probability 0.6, before with 0.99.
func frozenEvents(windows, perWindow, parts, degradeFrom int) []clusterEvent {
	r := rand.New(rand.NewPCG(17, 3))
	var out []clusterEvent
	n := 0
	for w := range windows {
		keep := 0.99
		if w >= degradeFrom {
			keep = 0.6
		}
		for i := range perWindow {
			ts := t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/time.Duration(perWindow))
			q := r.IntN(60)
			id := frozenID(q)
			if i%10 == 9 {
				id = "not-frozen-" + strconv.Itoa(i)
			}
			ev := event(ts, "search", "v1")
			ev.Retrieval = stream.Retrieval{Present: true, Query: "query", QueryID: id, HasDocIDs: true}
			for d := range 10 {
				doc := fmt.Sprintf("q%d-d%d", q, d)
				if r.Float64() >= keep {
					doc = fmt.Sprintf("elsewhere-%d", r.IntN(1000))
				}
				ev.Retrieval.DocIDs = append(ev.Retrieval.DocIDs, sketch.DocID([]byte(doc)))
			}
			out = append(out, clusterEvent{part: n % parts, ev: ev})
			n++
		}
	}
	for p := range parts {
		out = append(out, clusterEvent{part: p, ev: event(t0.Add(time.Duration(windows+3)*time.Minute), "flush", "v0", "x", 1.0)})
	}
	return out
}

func frozenOf(t *testing.T, e Evaluation) drift.EmbeddingReport {
	t.Helper()
	for _, r := range e.Report.Embeddings {
		if r.Name == "query" {
			return r
		}
	}
	t.Fatalf("no query embedding in %s", evalKey(e))
	return drift.EmbeddingReport{}
}

// TestFrozenClusterMatchesOneProcess: frozen runs scored at ingest reach
// the same verdict in one process (restored from a checkpoint midway) and
// through the partials topic and the evaluation stage: the same queries,
// runs and recall in every window, ok before the index degraded and
// retrieval_regression after; ids outside the frozen set are counted and
// left out.
func TestFrozenClusterMatchesOneProcess(t *testing.T) {
	const windows, parts, degrade = 6, 3, 3
	evs := frozenEvents(windows, 400, parts, degrade)
	b := newFrozenBaselines(t)

	ref := &collect{}
	store := newMemStore()
	one, reg := newEngine(t, testOptions3(), b, store, ref)
	runEngine(t, one)
	wr, refParts, ingest := clusterIngest(t, one, b, parts)
	restarted := false
	for i, ce := range evs {
		if !restarted && ce.ev.Time.After(t0.Add(2*time.Minute+30*time.Second)) {
			// The single process checkpoints partition 0 and restores it:
			// the open window's frozen aggregates come back. It waits
			// for the windows already closed everywhere to be judged:
			// a partition that leaves before is judged without (its
			// forget reaches the evaluator first), and the figures would
			// differ from the cluster's by timing, not by the signal.
			waitFor(t, "the closed windows' evaluations", func() bool { return len(ref.all()) >= 2 })
			_, err := refParts[0].Checkpoint()
			require.NoError(t, err)
			require.NoError(t, refParts[0].Close())
			refParts[0] = open(t, one, 0)
			restarted = true
		}
		require.NoError(t, refParts[ce.part].Apply(int64(i), ce.ev))
		require.NoError(t, ingest[ce.part].Apply(int64(i), ce.ev))
		if i < parts {
			_, err := ingest[ce.part].Checkpoint()
			require.NoError(t, err)
		}
	}
	for _, p := range ingest {
		_, err := p.Checkpoint()
		require.NoError(t, err)
	}
	waitFor(t, "the single process's evaluations", func() bool { return len(ref.all()) == windows })
	got := &collect{}
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), b, nil, got)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	applyStage(t, sp, 0, wr.take())
	waitFor(t, "the stage's evaluations", func() bool { return len(got.all()) >= windows })

	want := map[string]Evaluation{}
	for _, e := range ref.all() {
		want[evalKey(e)] = e
	}
	regressions := 0
	for _, e := range got.all() {
		w, ok := want[evalKey(e)]
		require.True(t, ok, evalKey(e))
		wf, gf := frozenOf(t, w), frozenOf(t, e)
		require.NotNil(t, wf.Frozen)
		require.NotNil(t, gf.Frozen)
		require.Equal(t, wf.Frozen.Queries, gf.Frozen.Queries, evalKey(e))
		require.Equal(t, wf.Frozen.Runs, gf.Frozen.Runs, evalKey(e))
		require.Equal(t, wf.Frozen.Unknown, gf.Frozen.Unknown, evalKey(e))
		require.InDelta(t, wf.Frozen.Recall, gf.Frozen.Recall, 1e-12, evalKey(e))
		require.InDelta(t, wf.Frozen.Overlap, gf.Frozen.Overlap, 1e-12, evalKey(e))
		require.Equal(t, wf.Diagnosis, gf.Diagnosis, evalKey(e))
		require.Equal(t, wf.Summary, gf.Summary, evalKey(e))
		start := int(e.WindowStart.Sub(t0) / time.Minute)
		if start < degrade {
			require.Equal(t, drift.OK, gf.Diagnosis, "%s: %s", evalKey(e), gf.Summary)
		} else if gf.Diagnosis == drift.RetrievalRegression {
			regressions++
			require.Contains(t, gf.Summary, "recall@10 of the frozen queries fell to 0.")
		}
		require.Positive(t, gf.Frozen.Unknown)
	}
	require.Positive(t, regressions)
	// A window's runs: 400, of which 40 outside the frozen set.
	require.Equal(t, float64(windows*40), testutil.ToFloat64(one.m.frozenRuns[FrozenUnknown]))
	require.Equal(t, float64(windows*360), testutil.ToFloat64(one.m.frozenRuns[FrozenScored]))
	_ = reg
}

// TestFrozenBounds: a window keeps at most limits.max_frozen_queries
// query ids, the runs of more counted; a version without a reference
// counts its runs as no_reference and keeps nothing.
func TestFrozenBounds(t *testing.T) {
	o := testOptions()
	o.Limits.MaxFrozenQueries = 5
	b := newFrozenBaselines(t)
	c := &collect{}
	e, _ := newEngine(t, o, b, nil, c)
	runEngine(t, e)
	p := open(t, e, 0)
	for i := range 100 {
		for _, v := range []string{"v1", "v2"} {
			ev := event(t0.Add(time.Duration(i)*100*time.Millisecond), "search", v)
			ev.Retrieval = stream.Retrieval{Present: true, Query: "query", QueryID: frozenID(i % 20), HasDocIDs: true,
				DocIDs: []uint64{sketch.DocID([]byte(fmt.Sprintf("q%d-d0", i%20)))}}
			require.NoError(t, p.Apply(int64(i), ev))
		}
	}
	require.NoError(t, p.Apply(100, event(t0.Add(5*time.Minute), "search", "v1", "x", 1.0)))
	require.Equal(t, 25.0, testutil.ToFloat64(e.m.frozenRuns[FrozenScored])) // 5 ids, 5 runs each
	require.Equal(t, 75.0, testutil.ToFloat64(e.m.frozenRuns[FrozenOverCap]))
	require.Equal(t, 100.0, testutil.ToFloat64(e.m.frozenRuns[FrozenNoReference]))
	waitFor(t, "the evaluation", func() bool {
		for _, ev := range c.all() {
			if ev.Version == "v1" {
				return true
			}
		}
		return false
	})
	for _, ev := range c.all() {
		if ev.Version != "v1" {
			continue
		}
		f := frozenOf(t, ev).Frozen
		require.Equal(t, 5, f.Queries)
		require.Equal(t, uint64(75), f.OverCap)
		require.InDelta(t, 0.1, f.Recall, 1e-12) // one of ten reference documents each
		return
	}
}
