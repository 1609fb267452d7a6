package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// captureWriter is the partials topic's seam in memory: it keeps what is
// written, in order.
type captureWriter struct {
	mu   sync.Mutex
	recs []stream.Record
	fail error
}

func (c *captureWriter) WritePartials(_ context.Context, recs []stream.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	for _, r := range recs {
		r.Key, r.Value = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
		c.recs = append(c.recs, r)
	}
	return nil
}

func (c *captureWriter) take() []stream.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.recs
	c.recs = nil
	return out
}

// clusterEvent is one event of the cluster tests and its partition.
type clusterEvent struct {
	part int
	ev   *stream.Event
}

// clusterEvents makes windows of events of m/v1 (as its baseline) and
// m/v2 (f1 shifted and scaled, embeddings unnormalized, no baseline: it is
// compared with v1's cumulative view), spread over parts partitions in
// time order; then one event per partition far ahead, so that every
// window of m closes.
func clusterEvents(seed uint64, windows, perWindow, parts int) []clusterEvent {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []clusterEvent
	n := 0
	for w := range windows {
		for i := range perWindow {
			ts := t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/time.Duration(perWindow))
			version := "v1"
			raw := normal(r, 50, 10)
			f1 := (raw - 50) / 10
			scale := 1.0
			if i%2 == 1 {
				version = "v2"
				if w >= windows/2 {
					f1 = raw // the scaler skipped from mid-stream
					scale = 3
				}
			}
			ev := event(ts, "m", version, "f1", f1, "f2", r.ExpFloat64())
			if i%7 == 0 {
				ev.Features[1].Missing = true
			}
			ev.Raw = []stream.FeatureValue{{Name: "f1", Value: raw}}
			ev.Embeddings = []stream.EmbeddingValue{{Name: "q", Values: randomDirection(r, 8, scale)}}
			out = append(out, clusterEvent{part: n % parts, ev: ev})
			n++
		}
	}
	for p := range parts {
		out = append(out, clusterEvent{part: p, ev: event(t0.Add(time.Duration(windows+3)*time.Minute), "flush", "v0", "x", 1.0)})
	}
	return out
}

// randomDirection is a vector of norm scale in a uniform direction.
func randomDirection(r *rand.Rand, dim int, scale float64) []float32 {
	vec := make([]float32, dim)
	var norm float64
	for d := range vec {
		vec[d] = float32(r.NormFloat64())
		norm += float64(vec[d]) * float64(vec[d])
	}
	for d := range vec {
		vec[d] = float32(scale * float64(vec[d]) / math.Sqrt(norm))
	}
	return vec
}

// clusterBaselines: v1's reference, standardized f1, exponential f2 and
// unit-norm q.
func clusterBaselines() baselines {
	return baselines{"m/v1": func() drift.Set {
		r := rand.New(rand.NewPCG(7, 7))
		f1, f2 := sketch.NewNumeric(), sketch.NewNumeric()
		q, _ := sketch.NewVector(8, 0)
		for range 4000 {
			f1.Add(r.NormFloat64())
			f2.Add(r.ExpFloat64())
			q.Add(randomDirection(r, 8, 1))
		}
		return drift.Set{
			Features: map[string]drift.FeatureSketch{
				"f1": {Sketch: f1, Norm: drift.Normalization{Kind: drift.ScalerZScore, Mean: 50, Std: 10}},
				"f2": {Sketch: f2},
			},
			Embeddings: map[string]drift.EmbeddingSketch{"q": {Sketch: q}},
		}
	}}
}

// runEngine runs e (and its publisher) until the test ends.
func runEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = e.Run(ctx); done <- struct{}{} }()
	go func() { _ = e.RunPublisher(ctx, time.Second); done <- struct{}{} }()
	// Running before the test feeds it: the stage's checkpoints take the
	// state sinks' states on their goroutines, in order.
	waitFor(t, "the engine running", e.running.Load)
	t.Cleanup(func() {
		e.StopPublisher()
		e.Stop()
		cancel()
		<-done
		<-done
	})
}

// evalKey names an evaluation by version and window.
func evalKey(ev Evaluation) string { return ev.Version + "@" + ev.WindowStart.Format("15:04") }

// requireSameReports holds two evaluations of one window to the same
// figures within tol (the sketches' merge order and encoding are the only
// differences).
func requireSameReports(t *testing.T, want, got Evaluation, tol float64) {
	t.Helper()
	k := evalKey(want)
	require.Equal(t, want.Events, got.Events, k)
	require.Equal(t, want.Fallback, got.Fallback, k)
	// The horizon's distributions, whatever the reference.
	require.Len(t, got.Features, len(want.Features), k)
	for i, w := range want.Features {
		g := got.Features[i].Cur
		require.Equal(t, w.Cur.Count, g.Count, k+" "+w.Name)
		require.InDelta(t, w.Cur.Mean, g.Mean, tol*math.Max(1, math.Abs(w.Cur.Mean)), k+" "+w.Name)
		require.InDelta(t, w.Cur.StdDev, g.StdDev, tol*math.Max(1, w.Cur.StdDev), k+" "+w.Name)
		require.InDeltaSlice(t, w.Cur.Quantiles, g.Quantiles, tol*math.Max(1, math.Abs(w.Cur.Mean)+w.Cur.StdDev), k+" "+w.Name)
	}
	if want.Fallback != "" {
		// A previous version's cumulative view is as of when the window
		// is judged, which depends on how far each source has got, in
		// one process as in many: its figures are not compared.
		return
	}
	require.Len(t, got.Report.Features, len(want.Report.Features), k)
	for i, w := range want.Report.Features {
		g := got.Report.Features[i]
		require.Equal(t, w.Name, g.Name, k)
		require.Equal(t, w.Samples, g.Samples, k+" "+w.Name)
		require.Equal(t, w.Diagnosis, g.Diagnosis, k+" "+w.Name)
		for _, f := range []struct {
			name string
			a, b float64
		}{
			{"psi", w.PSI, g.PSI}, {"ks", w.KS, g.KS}, {"wasserstein", w.Wasserstein, g.Wasserstein},
			{"js", w.JS, g.JS}, {"mean_shift_sigma", w.MeanShiftSigma, g.MeanShiftSigma},
			{"scale", w.Scale, g.Scale}, {"offset", w.Offset, g.Offset}, {"fit_r2", w.FitR2, g.FitR2},
			{"missing_ratio", w.MissingRatio, g.MissingRatio},
		} {
			require.InDelta(t, f.a, f.b, tol*math.Max(1, math.Abs(f.a)), "%s %s %s", k, w.Name, f.name)
		}
	}
	require.Len(t, got.Report.Embeddings, len(want.Report.Embeddings), k)
	for i, w := range want.Report.Embeddings {
		g := got.Report.Embeddings[i]
		require.Equal(t, w.Samples, g.Samples, k+" "+w.Name)
		require.Equal(t, w.Diagnosis, g.Diagnosis, k+" "+w.Name)
		require.InDelta(t, w.UnitNormRatio, g.UnitNormRatio, tol, k)
		require.InDelta(t, w.CentroidCosine, g.CentroidCosine, tol, k)
		require.InDelta(t, w.NormKS, g.NormKS, tol, k)
	}
}

// maxReportDiff is the largest difference of the two evaluations' figures.
func maxReportDiff(want, got Evaluation) float64 {
	d := 0.0
	if want.Fallback != "" {
		return 0
	}
	for i, w := range want.Report.Features {
		g := got.Report.Features[i]
		for _, x := range [][2]float64{{w.PSI, g.PSI}, {w.KS, g.KS}, {w.Wasserstein, g.Wasserstein}, {w.JS, g.JS},
			{w.MeanShiftSigma, g.MeanShiftSigma}, {w.Scale, g.Scale}, {w.Offset, g.Offset}, {w.FitR2, g.FitR2}} {
			d = math.Max(d, math.Abs(x[0]-x[1]))
		}
	}
	return d
}

func clusterOptions(w PartialWriter) Options {
	o := testOptions()
	o.HorizonWindows = 3
	o.Cluster = ClusterOptions{Partials: w, MaxWait: time.Hour, FlushTimeout: 5 * time.Second}
	return o
}

// clusterIngest opens parts partitions in one, the single process, and
// the same partitions in two ingesting engines of cluster mode (0-1 in
// the first, the rest in the second) that publish to one writer: the
// topic, in the order records come.
func clusterIngest(t *testing.T, one *Engine, b Baselines, parts int) (wr *captureWriter, refParts, ingest []*partition) {
	t.Helper()
	wr = &captureWriter{}
	o := clusterOptions(wr)
	o.Outcomes = one.opts.Outcomes // the same configuration everywhere
	ia, _ := newEngine(t, o, b, nil)
	ib, _ := newEngine(t, o, b, nil)
	runEngine(t, ia)
	runEngine(t, ib)
	refParts = make([]*partition, parts)
	ingest = make([]*partition, parts)
	for p := range parts {
		refParts[p] = open(t, one, p)
		if p < 2 {
			ingest[p] = open(t, ia, p)
		} else {
			ingest[p] = open(t, ib, p)
		}
	}
	return wr, refParts, ingest
}

// feedCluster applies evs to the single process's partitions and to the
// cluster's ingesting ones alike. Each source's first watermark reaches
// the topic before any window closes, as when the processes run side by
// side, and the ingesting partitions' partials are all written at the
// end (a checkpoint waits for them).
func feedCluster(t *testing.T, evs []clusterEvent, refParts, ingest []*partition) {
	t.Helper()
	for i, ce := range evs {
		require.NoError(t, refParts[ce.part].Apply(int64(i), ce.ev))
		require.NoError(t, ingest[ce.part].Apply(int64(i), ce.ev))
		if i < len(ingest) {
			_, err := ingest[ce.part].Checkpoint()
			require.NoError(t, err)
		}
	}
	for _, p := range ingest {
		_, err := p.Checkpoint()
		require.NoError(t, err)
	}
}

// stageInHalves feeds recs to partition 0 of the evaluation stage as a
// rebalance does: the first half to one engine of opts and b, which
// checkpoints to a shared store and closes; the rest to another, which
// restores it (from the first half's last offset). It returns both
// engines, what each judged, and the second's partition.
func stageInHalves(t *testing.T, opts Options, b Baselines, recs []stream.Record) (s1, s2 *Engine, got1, got2 *collect, sp2 stream.PartitionProcessor) {
	t.Helper()
	store := newMemStore()
	got1, got2 = &collect{}, &collect{}
	s1, _ = newEngine(t, opts, b, store, got1)
	runEngine(t, s1)
	sp1, err := s1.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	half := len(recs) / 2
	applyStage(t, sp1, 0, recs[:half])
	_, err = sp1.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, sp1.Close())
	s2, _ = newEngine(t, opts, b, store, got2)
	runEngine(t, s2)
	sp2, err = s2.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	require.Equal(t, int64(half-1), sp2.Offset())
	applyStage(t, sp2, half, recs[half:])
	return s1, s2, got1, got2, sp2
}

// applyStage applies recs to the stage partition sp from offset from on.
func applyStage(t *testing.T, sp stream.PartitionProcessor, from int, recs []stream.Record) {
	t.Helper()
	for i, r := range recs {
		require.NoError(t, sp.(stream.RawPartitionProcessor).ApplyRaw(int64(from+i), r.Key, r.Value))
	}
}

// TestStageMatchesOneProcess: two ingesting engines (partitions 0-1 and
// 2) publish their closed windows; a stage fed their records judges each
// window once, with the figures one engine holding all three partitions
// gets; records applied twice (a partition's replay) change nothing; and
// a stage partition restored elsewhere from its checkpoint goes on where
// it stopped.
func TestStageMatchesOneProcess(t *testing.T) {
	const windows, parts = 6, 3
	evs := clusterEvents(1, windows, 600, parts)

	ref := &collect{}
	one, _ := newEngine(t, testOptions3(), clusterBaselines(), nil, ref)
	runEngine(t, one)
	wr, refParts, ingest := clusterIngest(t, one, clusterBaselines(), parts)
	feedCluster(t, evs, refParts, ingest)
	waitFor(t, "the reference evaluations", func() bool { return len(ref.all()) == 2*windows })
	recs := wr.take()
	require.NotEmpty(t, recs)

	// The stage: the first half of the records in one engine, which
	// checkpoints and closes; the rest in another that restores it.
	s1, s2, got1, got2, sp2 := stageInHalves(t, clusterOptions(&captureWriter{}), clusterBaselines(), recs)
	waitFor(t, "the stage's evaluations", func() bool { return len(got1.all())+len(got2.all()) >= 2*windows })

	want := map[string]Evaluation{}
	for _, e := range ref.all() {
		want[evalKey(e)] = e
	}
	seen := map[string]int{}
	worst := 0.0
	for _, e := range append(got1.all(), got2.all()...) {
		k := evalKey(e)
		seen[k]++
		w, ok := want[k]
		require.True(t, ok, "an evaluation the reference did not make: %s", k)
		requireSameReports(t, w, e, 1e-9)
		worst = math.Max(worst, maxReportDiff(w, e))
	}
	for k := range want {
		require.Equal(t, 1, seen[k], "evaluations of %s", k)
	}
	t.Logf("largest difference of a figure from the single engine's: %g", worst)
	for _, v := range []string{"v1", "v2"} {
		wc, ok := one.Cumulative("m", v)
		require.True(t, ok)
		gc, ok := s2.Cumulative("m", v)
		require.True(t, ok)
		require.Equal(t, wc.Events, gc.Events, v)
		require.Len(t, gc.Features, len(wc.Features), v)
		for i, f := range wc.Features {
			require.Equal(t, f.Count, gc.Features[i].Count, v+" "+f.Name)
			require.Equal(t, f.Missing, gc.Features[i].Missing, v+" "+f.Name)
			require.InDelta(t, f.Mean, gc.Features[i].Mean, 1e-9, v+" "+f.Name)
		}
		require.Equal(t, wc.Embeddings, gc.Embeddings, v)
	}
	require.Equal(t, float64(len(got1.all())), testutil.ToFloat64(s1.m.evaluations))
	require.Equal(t, float64(len(got2.all())), testutil.ToFloat64(s2.m.evaluations))

	// The same records again, as a replayed source republishes them:
	// nothing is judged again, and the horizon is the same.
	before, _, ok := s2.Horizon("m", "v1")
	require.True(t, ok)
	for i, r := range recs {
		require.NoError(t, sp2.(stream.RawPartitionProcessor).ApplyRaw(int64(len(recs)+i), r.Key, r.Value))
	}
	_, err := sp2.Checkpoint() // waits for the evaluator
	require.NoError(t, err)
	require.Len(t, append(got1.all(), got2.all()...), 2*windows)
	after, _, ok := s2.Horizon("m", "v1")
	require.True(t, ok)
	for name, f := range before.Features {
		require.Equal(t, f.Sketch.Count(), after.Features[name].Sketch.Count(), name)
	}
}

// testOptions3 is the single engine's: the horizon of clusterOptions.
func testOptions3() Options {
	o := testOptions()
	o.HorizonWindows = 3
	return o
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// laggingSource publishes, through w, two partitions of m/v1: p0 with 100
// events in the first window, which it closes, and p1 with one, which it
// does not.
func laggingSource(t *testing.T) (w *captureWriter, p0, p1 *partition) {
	t.Helper()
	w = &captureWriter{}
	in, _ := newEngine(t, clusterOptions(w), nil, nil)
	runEngine(t, in)
	p0, p1 = open(t, in, 0), open(t, in, 1)
	for i := range 100 {
		require.NoError(t, p0.Apply(int64(i), event(t0.Add(time.Duration(i)*100*time.Millisecond), "m", "v1", "x", float64(i))))
	}
	require.NoError(t, p1.Apply(0, event(t0, "m", "v1", "x", 1.0)))
	require.NoError(t, p0.Apply(100, event(t0.Add(2*time.Minute), "m", "v1", "x", 2.0)))
	for _, p := range []*partition{p0, p1} {
		_, err := p.Checkpoint()
		require.NoError(t, err)
	}
	return w, p0, p1
}

// TestStageBoundedWait: a source partition that holds a version but does
// not close its window keeps the window waiting only MaxWait; the window
// is then judged without it, counted and named; its share coming later
// joins the next horizons and judges nothing twice.
func TestStageBoundedWait(t *testing.T) {
	w, _, p1 := laggingSource(t)
	var err error

	got := &collect{}
	o := clusterOptions(&captureWriter{})
	o.Cluster.MaxWait = 200 * time.Millisecond
	st, _ := newEngine(t, o, nil, nil, got)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	raw := sp.(stream.RawPartitionProcessor)
	for i, r := range w.take() {
		require.NoError(t, raw.ApplyRaw(int64(i), r.Key, r.Value))
	}
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, got.all(), "judged before the wait was over")
	waitFor(t, "the forced evaluation", func() bool { return len(got.all()) == 1 })
	require.Equal(t, 1.0, testutil.ToFloat64(st.m.stageForced))
	fw, ok := st.LastForcedWait()
	require.True(t, ok)
	require.Equal(t, []string{"events/1"}, fw.Missing)
	require.Equal(t, t0, fw.WindowStart)
	require.Equal(t, uint64(100), got.all()[0].Events)

	// p1 closes the window late: its share comes, nothing is judged again.
	require.NoError(t, p1.Apply(1, event(t0.Add(2*time.Minute), "m", "v1", "x", 3.0)))
	_, err = p1.Checkpoint()
	require.NoError(t, err)
	for i, r := range w.take() {
		require.NoError(t, raw.ApplyRaw(int64(1000+i), r.Key, r.Value))
	}
	_, err = sp.Checkpoint()
	require.NoError(t, err)
	require.Len(t, got.all(), 1)
}

// TestPartialRecords: every record decodes to what was written, and a
// record that is not one is refused with a clear error.
func TestPartialRecords(t *testing.T) {
	w := &captureWriter{}
	o := clusterOptions(w)
	o.Activations = []string{"act*"}
	in, _ := newEngine(t, o, nil, nil)
	runEngine(t, in)
	p := open(t, in, 4)
	ev := event(t0, "m", "v1", "x", 1.5)
	ev.Raw = []stream.FeatureValue{{Name: "x", Value: 15}}
	ev.Embeddings = []stream.EmbeddingValue{{Name: "q", Values: []float32{0.6, 0.8}}, {Name: "act1", Values: []float32{1, 2, 3}}}
	ev.Retrieval = stream.Retrieval{Present: true, Query: "q", Scores: []float64{0.9, 0.7}}
	require.NoError(t, p.Apply(0, ev))
	require.NoError(t, p.Apply(1, event(t0.Add(2*time.Minute), "m", "v1", "x", 2.0)))
	_, err := p.Checkpoint()
	require.NoError(t, err)
	types := map[string]int{}
	var lastMark int64
	for _, r := range w.take() {
		rec, err := decodePartial(r.Value)
		require.NoError(t, err)
		require.Equal(t, partKey{topic: "events", partition: 4}, rec.src)
		if rec.typ != recWatermark {
			require.Equal(t, Route("m", "v1"), r.Route)
			require.Equal(t, "m", rec.model)
		} else {
			require.True(t, r.Broadcast)
		}
		switch {
		case rec.typ == recWatermark:
			types["watermark"]++
			lastMark = rec.closedEnd
		case rec.start == cumulativeMark:
			types["cumulative"]++
		default:
			types["window"]++
			require.Equal(t, t0.UnixNano(), rec.start)
			require.Equal(t, uint64(1), rec.events)
			switch {
			case rec.typ == recFeature:
				require.Equal(t, 1.5, rec.num.Moments().Mean)
				require.NotNil(t, rec.pair)
			case rec.name == "q":
				require.Equal(t, uint64(1), rec.vec.UnitNorm())
				require.NotNil(t, rec.sim, "the query's similarity sketch")
			default:
				require.NotNil(t, rec.act, "the activation's profile")
			}
		}
	}
	// The window's x, q and act1, the cumulative view's, and
	// watermarks, the last after the window closed.
	require.Equal(t, 3, types["window"])
	require.Equal(t, 3, types["cumulative"])
	require.GreaterOrEqual(t, types["watermark"], 2)
	require.Equal(t, t0.Add(time.Minute).UnixNano(), lastMark)

	for _, tc := range []struct {
		name string
		b    []byte
		err  string
	}{
		{name: "not a partial", b: []byte(`{"model":"m"}`), err: "not a normwatch partial"},
		{name: "future format", b: []byte("NWP\x09W"), err: "format 9"},
		{name: "truncated", b: []byte("NWP\x01F\x01t\x00\x01m"), err: "bad partial record"},
		{name: "unknown type", b: append([]byte("NWP\x01Z"), 1, 't', 0), err: "record type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodePartial(tc.b)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// TestPartialsWaitForTheWriter: a checkpoint does not complete while the
// partials it covers are unwritten; once the writer recovers it does.
func TestPartialsWaitForTheWriter(t *testing.T) {
	w := &captureWriter{fail: fmt.Errorf("broker down")}
	o := clusterOptions(w)
	o.Cluster.FlushTimeout = 300 * time.Millisecond
	in, _ := newEngine(t, o, nil, nil)
	runEngine(t, in)
	p := open(t, in, 0)
	require.NoError(t, p.Apply(0, event(t0, "m", "v1", "x", 1.0)))
	require.NoError(t, p.Apply(1, event(t0.Add(2*time.Minute), "m", "v1", "x", 2.0)))
	_, err := p.Checkpoint()
	require.ErrorContains(t, err, "broker down")
	require.Positive(t, testutil.ToFloat64(in.m.partialsErrors))
	w.mu.Lock()
	w.fail = nil
	w.mu.Unlock()
	o.Cluster.FlushTimeout = 10 * time.Second
	in.opts.Cluster.FlushTimeout = 10 * time.Second
	_, err = p.Checkpoint()
	require.NoError(t, err)
	require.NotEmpty(t, w.take())
}

// BenchmarkPartialRecordSize reports the bytes of one window record on the
// partials topic: a numeric feature (with its raw pair) of n values, and a
// d-dimensional embedding.
func BenchmarkPartialRecordSize(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("feature/%d", n), func(b *testing.B) {
			e, _ := newEngine(b, clusterOptions(&captureWriter{}), nil, nil)
			s, _ := e.reg.version(admission{model: "m", version: "v1", lastSeen: 1})
			e.reg.feature(s, "x")
			r := rand.New(rand.NewPCG(1, 2))
			w := &window{start: t0.UnixNano(), events: uint64(n)}
			for range n {
				v := r.NormFloat64()
				w.numeric(0).Add(v)
				w.pair(0).Add(10*v+50, v)
			}
			w.compact()
			var size int
			for range b.N {
				recs := e.windowRecords(nil, s, partKey{topic: "events", partition: 0}, w)
				size = len(recs[0].Key) + len(recs[0].Value)
			}
			b.ReportMetric(float64(size), "bytes/record")
		})
	}
	for _, d := range []int{64, 384} {
		b.Run(fmt.Sprintf("embedding/%d", d), func(b *testing.B) {
			e, _ := newEngine(b, clusterOptions(&captureWriter{}), nil, nil)
			s, _ := e.reg.version(admission{model: "m", version: "v1", lastSeen: 1})
			e.reg.embedding(s, "q")
			r := rand.New(rand.NewPCG(1, 2))
			w := &window{start: t0.UnixNano(), events: 10000}
			vec := make([]float32, d)
			for range 10000 {
				for i := range vec {
					vec[i] = float32(r.NormFloat64())
				}
				w.vectorOf(0, d).Add(vec)
			}
			w.compact()
			var size int
			for range b.N {
				recs := e.windowRecords(nil, s, partKey{topic: "events", partition: 0}, w)
				size = len(recs[0].Key) + len(recs[0].Value)
			}
			b.ReportMetric(float64(size), "bytes/record")
		})
	}
}

// TestStageReopenKeepsPending: a stage partition revoked while a window
// waits for a lagging source, and given back (a rebalance), judges the
// window once the source comes, with every share: the window is neither
// judged empty nor dropped in between.
func TestStageReopenKeepsPending(t *testing.T) {
	w, _, p1 := laggingSource(t)

	got := &collect{}
	store := newMemStore()
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), nil, store, got)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	apply := func(sp stream.PartitionProcessor, from int64, recs []stream.Record) {
		for i, r := range recs {
			require.NoError(t, sp.(stream.RawPartitionProcessor).ApplyRaw(from+int64(i), r.Key, r.Value))
		}
	}
	apply(sp, 0, w.take())
	_, err = sp.Checkpoint()
	require.NoError(t, err)
	require.NoError(t, sp.Close())
	st.ev.sync(time.Second)
	require.Empty(t, got.all(), "judged while its partition was away")

	sp, err = st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	require.NoError(t, p1.Apply(1, event(t0.Add(2*time.Minute), "m", "v1", "x", 3.0)))
	_, err = p1.Checkpoint()
	require.NoError(t, err)
	apply(sp, 1000, w.take())
	waitFor(t, "the window judged", func() bool { return len(got.all()) == 1 })
	require.Equal(t, uint64(101), got.all()[0].Events, "both sources' shares")
}
