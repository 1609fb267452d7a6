package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/stretchr/testify/require"
)

// gateEngine is an engine with ranker v1's z-scored baseline of income,
// and opts' gate; feed applies a window of n events of each version given,
// their income through serve, then closes it and evaluates.
func gateEngine(t *testing.T, gate GateOptions) (*Engine, func(k int, n int, versions map[string]func(float64) float64, candidate bool)) {
	t.Helper()
	norm := drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300}
	base := func() drift.Set {
		r := rand.New(rand.NewPCG(5, 6))
		s := sketch.NewNumeric()
		for range 20_000 {
			s.Add((normal(r, 52100, 18300) - norm.Mean) / norm.Std)
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{"income": {Sketch: s, Norm: norm}}}
	}
	opts := testOptions()
	opts.Gate = gate
	e, _ := newEngine(t, opts, baselines{"ranker/v1": base}, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(7, 8))
	off := int64(0)
	feed := func(k int, n int, versions map[string]func(float64) float64, candidate bool) {
		for i := range n {
			ts := t0.Add(time.Duration(k)*time.Minute + time.Duration(i)*time.Minute/time.Duration(n+1))
			raw := normal(r, 52100, 18300)
			for _, v := range []string{"v1", "v2", "v3"} {
				if serve, ok := versions[v]; ok {
					ev := event(ts, "ranker", v, "income", serve(raw))
					ev.Candidate = candidate && v != "v1"
					require.NoError(t, p.Apply(off, ev))
					off++
				}
			}
		}
		closeAll(p)
		e.ev.process()
	}
	return e, feed
}

func zscored(x float64) float64 { return (x - 52100) / 18300 }
func skipped(x float64) float64 { return x }

func TestGateClearAfterMinWindows(t *testing.T) {
	e, feed := gateEngine(t, GateOptions{Candidates: []Candidate{{Model: "ranker", Version: "v2"}}})
	for k := range 3 {
		feed(k, 400, map[string]func(float64) float64{"v1": zscored, "v2": zscored}, false)
		a, err := e.Gate("ranker", "v2")
		require.NoError(t, err)
		require.Equal(t, k+1, a.WindowsCompared)
		require.Equal(t, "v1", a.Live)
		require.Equal(t, "most_traffic", a.LiveSelected)
		if k < 2 {
			require.Equal(t, GatePending, a.State, "%+v", a.Reasons)
			require.Equal(t, 3, a.Code)
			require.Contains(t, a.Reasons[len(a.Reasons)-1].Sentence, "windows compared with live v1 so far")
			continue
		}
		require.Equal(t, GateClear, a.State, "%+v", a.Reasons)
		require.Equal(t, 0, a.Code)
		require.NotNil(t, a.AgainstLive)
		require.Equal(t, uint64(2*400), a.AgainstLive.Events, "the horizon's two windows")
		require.Equal(t, uint64(2*400), a.AgainstLive.LiveEvents)
		require.Equal(t, 2, a.AgainstLive.WindowsInHorizon)
		require.Equal(t, drift.OK, a.AgainstLive.Report.Features[0].Diagnosis)
	}
	// The live version answers that it is not a candidate, naming the one there is.
	_, err := e.Gate("ranker", "v1")
	require.True(t, errors.Is(err, ErrNotCandidate))
	require.Contains(t, err.Error(), `model "ranker" version "v1" is not a candidate: tracked, but neither declared`)
	require.Contains(t, err.Error(), "; the candidates are ranker v2")
	_, err = e.Gate("ranker", "v9")
	require.True(t, errors.Is(err, ErrNotCandidate))
	require.Contains(t, err.Error(), "not a candidate: no events, and not declared under gate.candidates")
}

func TestGateBlocksSkippedScaler(t *testing.T) {
	// Marked by its events' route, no declaration: live is the version
	// with the most traffic that is not a candidate.
	e, feed := gateEngine(t, GateOptions{})
	feed(0, 400, map[string]func(float64) float64{"v1": zscored, "v2": skipped}, true)
	a, err := e.Gate("ranker", "v2")
	require.NoError(t, err)
	require.Equal(t, GateBlocked, a.State, "blocked at once, before min windows: %+v", a.Reasons)
	require.Equal(t, 2, a.Code)
	require.Equal(t, 1, a.WindowsCompared)
	r := a.Reasons[0]
	require.Equal(t, "live", r.Against)
	require.Equal(t, "income", r.Feature)
	require.Equal(t, drift.UnscaledInput, r.Diagnosis)
	require.Equal(t, drift.Critical, r.Severity)
	require.True(t, strings.HasPrefix(r.Sentence, "income on ranker v2 against live v1: candidate ≈ 18"), r.Sentence)
	require.Regexp(t, `≈ 18\d00 × live \+ 5\d\d00 \(fit`, r.Sentence)
	require.Contains(t, r.Sentence, "the z-score scaler (mean 52100, std 18300) looks skipped at serving")
	// Its own comparison (the previous version's production, no baseline
	// of its own) names it too.
	require.Equal(t, "previous_version:v1", a.Fallback)
	require.Contains(t, reasonsOf(a, "baseline"), drift.UnscaledInput)
}

func TestGateConfiguredLiveAndPending(t *testing.T) {
	e, feed := gateEngine(t, GateOptions{Candidates: []Candidate{{Model: "ranker", Version: "v3", Live: "v2"}}, MinWindows: 2})
	a, err := e.Gate("ranker", "v3")
	require.NoError(t, err)
	require.Equal(t, GatePending, a.State)
	require.Contains(t, a.Reasons[0].Sentence, "declared candidate with no events yet")
	// /api/v1/gate's JSON leaves out the times that have not happened,
	// instead of 0001-01-01T00:00:00Z.
	b, err := json.Marshal(a)
	require.NoError(t, err)
	require.NotContains(t, string(b), "0001-01-01")
	require.NotContains(t, string(b), `"window_end"`)
	// v2 is configured as live but has no events: pending, whatever v1 does.
	feed(0, 400, map[string]func(float64) float64{"v1": zscored, "v3": zscored}, false)
	a, err = e.Gate("ranker", "v3")
	require.NoError(t, err)
	require.Equal(t, GatePending, a.State)
	require.Equal(t, 0, a.WindowsCompared)
	require.Contains(t, a.Reasons[len(a.Reasons)-1].Sentence, "no live version of ranker")
	for k := 1; k <= 2; k++ {
		feed(k, 400, map[string]func(float64) float64{"v1": zscored, "v2": zscored, "v3": zscored}, false)
	}
	a, err = e.Gate("ranker", "v3")
	require.NoError(t, err)
	require.Equal(t, GateClear, a.State, "%+v", a.Reasons)
	require.Equal(t, "v2", a.Live)
	require.Equal(t, "configured", a.LiveSelected)
	require.Equal(t, 2, a.WindowsCompared)
	gs := e.Gates()
	require.Len(t, gs, 1)
	require.Equal(t, "v3", gs[0].Version)
}

func reasonsOf(a GateAnswer, against string) []drift.Diagnosis {
	var out []drift.Diagnosis
	for _, r := range a.Reasons {
		if r.Against == against {
			out = append(out, r.Diagnosis)
		}
	}
	return out
}

func TestGateOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    GateOptions
		err  string
	}{
		{"no version", GateOptions{MinWindows: 1, Candidates: []Candidate{{Model: "m"}}}, "Candidates[0]: model and version are required"},
		{"itself", GateOptions{MinWindows: 1, Candidates: []Candidate{{Model: "m", Version: "v2", Live: "v2"}}}, "live \"v2\" is the candidate itself"},
		{"twice", GateOptions{MinWindows: 1, Candidates: []Candidate{{Model: "m", Version: "v2"}, {Model: "m", Version: "v2"}}}, "Candidates[1]: m v2 is declared twice"},
		{"min windows", GateOptions{MinWindows: -1}, "Gate.MinWindows -1"},
		{"join buffer", GateOptions{MinWindows: 1, JoinWait: time.Second}, "Gate.JoinBuffer 0 out of range"},
		{"join wait", GateOptions{MinWindows: 1, JoinBuffer: 10, JoinWait: 25 * time.Hour}, "Gate.JoinWait 25h0m0s out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, tt.o.validate(), tt.err)
		})
	}
}

// TestGateClusterKnowsRoutedCandidate: in cluster mode a version marked
// a candidate only by its events' route reaches the evaluation stage's
// gate as one (a candidate record with its windows), with its values
// joined to live's by request id (pairs records), and the stage's answer
// is the single process's: blocked, with the skipped scaler named
// against live v1 and on the paired requests, the same fit.
func TestGateClusterKnowsRoutedCandidate(t *testing.T) {
	norm := drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300}
	b := baselines{"ranker/v1": func() drift.Set {
		r := rand.New(rand.NewPCG(5, 6))
		s := sketch.NewNumeric()
		for range 20_000 {
			s.Add((normal(r, 52100, 18300) - norm.Mean) / norm.Std)
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{"income": {Sketch: s, Norm: norm}}}
	}}
	wr := &captureWriter{}
	ingest, _ := newEngine(t, clusterOptions(wr), b, nil)
	runEngine(t, ingest)
	one, _ := newEngine(t, testOptions3(), b, nil)
	runEngine(t, one)
	p, ref := open(t, ingest, 0), open(t, one, 0)
	r := rand.New(rand.NewPCG(7, 8))
	off := int64(0)
	for k := range 2 {
		for i := range 400 {
			ts := t0.Add(time.Duration(k)*time.Minute + time.Duration(i)*time.Minute/401)
			raw := normal(r, 52100, 18300)
			live := event(ts, "ranker", "v1", "income", zscored(raw))
			cand := event(ts.Add(time.Millisecond), "ranker", "v2", "income", skipped(raw))
			cand.Candidate = true
			live.RequestID = fmt.Sprintf("r%d-%d", k, i)
			cand.RequestID = live.RequestID
			for _, ev := range []*stream.Event{live, cand} {
				require.NoError(t, p.Apply(off, ev))
				require.NoError(t, ref.Apply(off, ev))
				off++
			}
		}
	}
	require.NoError(t, p.Apply(off, event(t0.Add(5*time.Minute), "ranker", "v1", "income", 0.0)))
	require.NoError(t, ref.Apply(off, event(t0.Add(5*time.Minute), "ranker", "v1", "income", 0.0)))
	_, err := p.Checkpoint() // waits for the partials
	require.NoError(t, err)
	_, err = ref.Checkpoint()
	require.NoError(t, err)
	recs := wr.take()
	marks, pairs := 0, 0
	for _, rec := range recs {
		switch rec.Value[len(partialMagic)+1] {
		case recCandidate:
			marks++
		case recPairs:
			pairs++
		}
	}
	require.Positive(t, marks)
	require.Equal(t, 2, pairs, "one per window")

	got := &collect{}
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), b, nil, got)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	for i, rec := range recs {
		require.NoError(t, sp.(stream.RawPartitionProcessor).ApplyRaw(int64(i), rec.Key, rec.Value))
	}
	waitFor(t, "the stage's evaluations of v2", func() bool {
		n := 0
		for _, e := range got.all() {
			if e.Version == "v2" {
				n++
			}
		}
		return n == 2
	})
	a, err := st.Gate("ranker", "v2")
	require.NoError(t, err, "the stage knows v2 is a candidate")
	require.Equal(t, GateBlocked, a.State, "%+v", a.Reasons)
	require.Equal(t, "v1", a.Live)
	require.Equal(t, 2, a.WindowsCompared)
	require.Equal(t, drift.UnscaledInput, a.Reasons[0].Diagnosis, a.Reasons[0].Sentence)
	_, err = st.Gate("ranker", "v1")
	require.True(t, errors.Is(err, ErrNotCandidate))

	waitFor(t, "the single process's gate", func() bool {
		w, err := one.Gate("ranker", "v2")
		return err == nil && w.WindowsCompared == 2
	})
	want, err := one.Gate("ranker", "v2")
	require.NoError(t, err)
	require.NotNil(t, want.Paired)
	require.NotNil(t, a.Paired, "the stage has the pairs")
	// The first request's live event came before any candidate event: not
	// waiting, it pairs with none.
	require.Equal(t, uint64(799), want.Paired.Requests)
	require.Equal(t, want.Paired.Requests, a.Paired.Requests)
	require.Len(t, a.Paired.Features, 1)
	require.Equal(t, want.Paired.Features[0].Diagnosis, a.Paired.Features[0].Diagnosis)
	require.Equal(t, want.Paired.Features[0].Summary, a.Paired.Features[0].Summary)
	require.Contains(t, a.Paired.Features[0].Summary, "candidate income = 18300 × live income + 52100")
	require.Equal(t, want.State, a.State)
	require.Equal(t, len(want.Reasons), len(a.Reasons))
}
