package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

func outcomeSpecs() []drift.OutcomeSpec {
	return []drift.OutcomeSpec{
		{Name: "eval_pass", Kind: drift.OutcomeRate, MaxDeltaPoints: 2, Alpha: 0.01, MinSamples: 100},
		{Name: "context_relevance", Kind: drift.OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 100, FallsWith: "context_recall"},
		{Name: "context_recall", Kind: drift.OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 100},
	}
}

// outcomeEvent is a request's outcomes alone, as a late label carries
// them.
func outcomeEvent(r *rand.Rand, ts time.Time, version string, pass, relevance, recall float64) *stream.Event {
	ev := event(ts, "rag", version)
	p := 0.0
	if r.Float64() < pass {
		p = 1
	}
	ev.Outcomes = []stream.OutcomeValue{
		{Name: "eval_pass", Value: p},
		{Name: "context_relevance", Value: min(1, max(0, relevance+0.1*r.NormFloat64()))},
		{Name: "context_recall", Value: min(1, max(0, recall+0.1*r.NormFloat64()))},
		{Name: "not_configured", Value: 3},
		{Name: "later", Missing: true},
	}
	return ev
}

// TestOutcomesRegression: v2, first seen after v1, has a pass rate 8
// points lower with relevance and recall falling together: in the same
// windows it is query_normalization_suspect on both contexts and
// outcome_regression on eval_pass against v1; v1, the first version, is
// not judged; a v3 as good as v1 is ok. Outcome-only events count no
// feature as missing, and unconfigured names are counted.
func TestOutcomesRegression(t *testing.T) {
	opts := testOptions()
	opts.Outcomes = outcomeSpecs()
	e, reg := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(1, 7))
	off := int64(0)
	apply := func(ev *stream.Event) {
		require.NoError(t, p.Apply(off, ev))
		off++
	}
	for i := range 1500 {
		ts := t0.Add(time.Duration(i) * 40 * time.Millisecond)
		apply(event(ts, "rag", "v1", "x", normal(r, 0, 1)))
		apply(outcomeEvent(r, ts, "v1", 0.90, 0.80, 0.82))
		apply(event(ts.Add(time.Millisecond), "rag", "v2", "x", normal(r, 0, 1)))
		apply(outcomeEvent(r, ts.Add(time.Millisecond), "v2", 0.82, 0.70, 0.72))
		apply(outcomeEvent(r, ts.Add(2*time.Millisecond), "v3", 0.90, 0.80, 0.82))
	}
	closeAll(p)
	e.ev.process()
	got := map[string]map[string]drift.OutcomeReport{}
	for _, ev := range e.Latest() {
		got[ev.Version] = map[string]drift.OutcomeReport{}
		for _, o := range ev.Report.Outcomes {
			got[ev.Version][o.Name+"/"+o.Against] = o
		}
		if ev.Version == "v1" {
			for _, f := range ev.Report.Features {
				require.Zero(t, f.MissingRatio, "outcome-only events are no missing values")
			}
		}
	}
	require.Equal(t, drift.InsufficientData, got["v1"]["eval_pass/"].Diagnosis)
	pass := got["v2"]["eval_pass/previous"]
	require.Equal(t, drift.OutcomeRegression, pass.Diagnosis, pass.Summary)
	require.Equal(t, "v1", pass.RefVersion)
	require.InDelta(t, -8, pass.DeltaPoints, 3)
	for _, n := range []string{"context_relevance", "context_recall"} {
		o := got["v2"][n+"/previous"]
		require.Equal(t, drift.QueryNormalizationSuspect, o.Diagnosis, o.Summary)
		require.Contains(t, o.Summary, "inspect query-side normalization")
	}
	// v3's previous is v2 (first seen just before it), its live v1 (the
	// most events in the horizon).
	require.Equal(t, "v2", got["v3"]["eval_pass/previous"].RefVersion)
	require.Equal(t, drift.OK, got["v3"]["eval_pass/previous"].Diagnosis)
	require.Equal(t, "v1", got["v3"]["eval_pass/live"].RefVersion)
	require.Equal(t, drift.OK, got["v3"]["eval_pass/live"].Diagnosis, got["v3"]["eval_pass/live"].Summary)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var skipped float64
	for _, mf := range mfs {
		if mf.GetName() == "normwatch_outcome_values_skipped_total" {
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == OutcomeSkipUnconfigured {
					skipped = m.Counter.GetValue()
				}
			}
		}
	}
	require.Equal(t, float64(3*1500), skipped)
}

// TestOutcomesSmallSampleNoPage: the same 8-point drop on 60 requests
// is not significant, and not a regression.
func TestOutcomesSmallSampleNoPage(t *testing.T) {
	opts := testOptions()
	opts.Outcomes = outcomeSpecs()
	for i := range opts.Outcomes {
		opts.Outcomes[i].MinSamples = 20
	}
	e, _ := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(3, 3))
	off := int64(0)
	for i := range 60 {
		ts := t0.Add(time.Duration(i) * time.Second)
		require.NoError(t, p.Apply(off, outcomeEvent(r, ts, "v1", 0.90, 0.8, 0.8)))
		require.NoError(t, p.Apply(off+1, outcomeEvent(r, ts.Add(time.Millisecond), "v2", 0.82, 0.8, 0.8)))
		off += 2
	}
	closeAll(p)
	e.ev.process()
	for _, ev := range e.Latest() {
		for _, o := range ev.Report.Outcomes {
			require.NotEqual(t, drift.OutcomeRegression, o.Diagnosis, "%s %s: %s", ev.Version, o.Name, o.Summary)
		}
	}
}

// TestOutcomesCheckpoint: outcome moments and the first event times
// survive a checkpoint exactly, and a version 4 checkpoint (none of
// them) still restores.
func TestOutcomesCheckpoint(t *testing.T) {
	opts := testOptions()
	opts.Outcomes = outcomeSpecs()
	store := newMemStore()
	a, _ := newEngine(t, opts, nil, store)
	pa := open(t, a, 0)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 400 {
		require.NoError(t, pa.Apply(int64(i), outcomeEvent(r, t0.Add(time.Duration(i)*500*time.Millisecond), "v1", 0.9, 0.8, 0.8)))
	}
	_, err := pa.Checkpoint()
	require.NoError(t, err)
	b, _ := newEngine(t, opts, nil, store)
	pb := open(t, b, 0)
	encA, err := pa.encode()
	require.NoError(t, err)
	encB, err := pb.encode()
	require.NoError(t, err)
	require.Equal(t, encA, encB, "state after restore encodes as before")
	sa, sb := pa.versions[vkey{"rag", "v1"}].s, pb.versions[vkey{"rag", "v1"}].s
	require.Equal(t, t0.UnixNano(), sb.firstEvent.Load())
	require.Equal(t, sa.firstEvent.Load(), sb.firstEvent.Load())
	var n float64
	pv := pb.versions[vkey{"rag", "v1"}]
	for _, w := range append([]*window{pv.cum}, pv.open...) {
		if w != nil && len(w.out) > 0 {
			n += w.out[0].N
		}
	}
	require.Equal(t, 400.0, n)

	// Without outcomes configured the names are dropped on restore.
	c, _ := newEngine(t, testOptions(), nil, store)
	pc := open(t, c, 0)
	for _, w := range pc.versions[vkey{"rag", "v1"}].open {
		require.Empty(t, w.out)
	}
}

func TestValidOutcomes(t *testing.T) {
	good := outcomeSpecs()
	require.NoError(t, validOutcomes(good))
	for _, tc := range []struct {
		name string
		mod  func(*drift.OutcomeSpec)
		want string
	}{
		{"kind", func(s *drift.OutcomeSpec) { s.Kind = "ratio" }, `kind "ratio"`},
		{"points", func(s *drift.OutcomeSpec) { s.MaxDeltaPoints = 0 }, "MaxDeltaPoints"},
		{"alpha", func(s *drift.OutcomeSpec) { s.Alpha = 0.7 }, "Alpha"},
		{"falls with itself", func(s *drift.OutcomeSpec) { s.FallsWith = s.Name }, "FallsWith"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := outcomeSpecs()
			tc.mod(&specs[1])
			require.ErrorContains(t, validOutcomes(specs), tc.want)
		})
	}
	_ = sketch.Moments{}
}

// TestOutcomesSameWindows: the reference is the previous version's same
// windows, all of them, when the versions are evaluated one after the
// other in one pass (its own evaluation does not drop the oldest window
// of the horizon before the newer version reads it).
func TestOutcomesSameWindows(t *testing.T) {
	opts := testOptions()
	opts.Outcomes = outcomeSpecs()
	e, _ := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(4, 4))
	off := int64(0)
	for i := range 3000 {
		ts := t0.Add(time.Duration(i) * 100 * time.Millisecond) // 5 windows
		for _, v := range []string{"v1", "v2"} {
			require.NoError(t, p.Apply(off, outcomeEvent(r, ts.Add(time.Millisecond), v, 0.9, 0.8, 0.8)))
			off++
		}
	}
	closeAll(p)
	e.ev.process()
	for _, ev := range e.Latest() {
		if ev.Version != "v2" {
			continue
		}
		for _, o := range ev.Report.Outcomes {
			require.Equal(t, uint64(1200), o.Samples, "two windows of 600")
			require.Equal(t, o.Samples, o.RefSamples, "%s: the same windows of v1", o.Name)
		}
	}
}

// TestOutcomesClusterMatchesOneProcess: outcomes reach the evaluation
// stage through the partials topic (an outcome record per window and
// cumulative view) and are judged there as in one process: the same
// previous version, samples, means and verdicts in every window, ok
// while v2 is as good as v1 and outcome_regression and
// query_normalization_suspect once it is not; a stage partition
// checkpointed midway and restored elsewhere keeps the outcomes of the
// windows it holds.
func TestOutcomesClusterMatchesOneProcess(t *testing.T) {
	const windows, parts, perWindow, degrade = 6, 3, 900, 3
	var evs []clusterEvent
	r := rand.New(rand.NewPCG(3, 3))
	for w := range windows {
		for i := range perWindow {
			ts := t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/perWindow)
			part := i % parts
			pass, rel, rec := 0.90, 0.80, 0.82
			if w >= degrade {
				pass, rel, rec = 0.80, 0.68, 0.70
			}
			evs = append(evs,
				clusterEvent{part, event(ts, "rag", "v1", "x", normal(r, 0, 1))},
				clusterEvent{part, outcomeEvent(r, ts, "v1", 0.90, 0.80, 0.82)},
				clusterEvent{(part + 1) % parts, event(ts.Add(time.Millisecond), "rag", "v2", "x", normal(r, 0, 1))},
				clusterEvent{(part + 1) % parts, outcomeEvent(r, ts.Add(time.Millisecond), "v2", pass, rel, rec)})
		}
	}
	for p := range parts {
		evs = append(evs, clusterEvent{p, event(t0.Add(time.Duration(windows+3)*time.Minute), "flush", "v0", "x", 1.0)})
	}
	oneOpts := testOptions3()
	oneOpts.Outcomes = outcomeSpecs()
	ref := &collect{}
	one, _ := newEngine(t, oneOpts, nil, nil, ref)
	runEngine(t, one)
	wr, refParts, ingest := clusterIngest(t, one, nil, parts)
	feedCluster(t, evs, refParts, ingest)
	waitFor(t, "the single process's evaluations", func() bool { return len(ref.all()) == 2*windows })
	recs := wr.take()
	outcomeRecs := 0
	for _, rec := range recs {
		if rec.Value[len(partialMagic)+1] == recOutcomes {
			outcomeRecs++
		}
	}
	require.Positive(t, outcomeRecs)

	stageOpts := clusterOptions(&captureWriter{})
	stageOpts.Outcomes = outcomeSpecs()
	_, _, got1, got2, _ := stageInHalves(t, stageOpts, nil, recs)
	waitFor(t, "the stage's evaluations", func() bool { return len(got1.all())+len(got2.all()) >= 2*windows })

	outcomes := func(e Evaluation) map[string]drift.OutcomeReport {
		m := map[string]drift.OutcomeReport{}
		for _, o := range e.Report.Outcomes {
			m[o.Name+"/"+o.Against] = o
		}
		return m
	}
	want := map[string]Evaluation{}
	for _, e := range ref.all() {
		want[evalKey(e)] = e
	}
	regressions := 0
	for _, e := range append(got1.all(), got2.all()...) {
		k := evalKey(e)
		w, ok := want[k]
		require.True(t, ok, k)
		wo, gotO := outcomes(w), outcomes(e)
		require.NotEmpty(t, wo, k)
		require.Len(t, gotO, len(wo), k)
		for name, o := range wo {
			g := gotO[name]
			require.Equal(t, o.RefVersion, g.RefVersion, "%s %s", k, name)
			require.Equal(t, o.Samples, g.Samples, "%s %s", k, name)
			require.Equal(t, o.RefSamples, g.RefSamples, "%s %s", k, name)
			require.InDelta(t, o.Mean, g.Mean, 1e-12, "%s %s", k, name)
			require.InDelta(t, o.DeltaPoints, g.DeltaPoints, 1e-9, "%s %s", k, name)
			require.Equal(t, o.Diagnosis, g.Diagnosis, "%s %s: %s", k, name, g.Summary)
			require.Equal(t, o.Summary, g.Summary, "%s %s", k, name)
		}
		start := int(e.WindowStart.Sub(t0) / time.Minute)
		if e.Version == "v2" {
			pass := gotO["eval_pass/previous"]
			require.Equal(t, "v1", pass.RefVersion, k)
			if start < degrade {
				require.Equal(t, drift.OK, pass.Diagnosis, "%s: %s", k, pass.Summary)
			} else if start >= degrade+2 {
				// The horizon (3 windows) holds the fall alone.
				require.Equal(t, drift.OutcomeRegression, pass.Diagnosis, "%s: %s", k, pass.Summary)
				require.Equal(t, drift.QueryNormalizationSuspect, gotO["context_recall/previous"].Diagnosis, k)
				regressions++
			}
		}
	}
	require.Equal(t, windows-degrade-2, regressions)
}
