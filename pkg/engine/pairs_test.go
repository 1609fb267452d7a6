package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// TestJoinBufferBounds: request ids wait at most JoinBuffer entries and
// JoinWait of event time; what leaves unmatched is counted evicted or
// expired, a second event of one side duplicate, and a match pairs the
// values by feature (candidate ≈ 2 × live here, exactly).
func TestJoinBufferBounds(t *testing.T) {
	opts := testOptions()
	opts.Gate = GateOptions{Candidates: []Candidate{{Model: "ranker", Version: "v2", Live: "v1"}}, JoinBuffer: 3, JoinWait: time.Second}
	e, _ := newEngine(t, opts, baselines{}, nil)
	p := open(t, e, 0)
	off := int64(0)
	apply := func(ts time.Time, version, id string, x float64) {
		ev := event(ts, "ranker", version, "income", x)
		ev.RequestID = id
		require.NoError(t, p.Apply(off, ev))
		off++
	}
	count := func(r string) float64 { return testutil.ToFloat64(e.m.pairsBy[r]) }
	// Four live ids in a buffer of three: the first is evicted.
	for i := range 4 {
		apply(t0.Add(time.Duration(i)*time.Millisecond), "v1", fmt.Sprint("a", i), float64(i))
	}
	require.Equal(t, 1.0, count(PairEvicted))
	apply(t0.Add(5*time.Millisecond), "v2", "a0", 0) // its live one is gone: it waits, a1 goes
	require.Equal(t, 2.0, count(PairEvicted))
	apply(t0.Add(6*time.Millisecond), "v2", "a3", 6)
	require.Equal(t, 1.0, count(PairMatched))
	apply(t0.Add(7*time.Millisecond), "v2", "a3", 6) // paired already
	require.Equal(t, 1.0, count(PairDuplicate))
	// Two seconds later everything waiting expires: a2 (live), a0 (the
	// candidate's); a3 was paired, so not counted.
	apply(t0.Add(2*time.Second), "v1", "b0", 1)
	require.Equal(t, 2.0, count(PairExpired))
	require.Equal(t, 1, p.joins["ranker"].n)
	require.LessOrEqual(t, len(p.joins["ranker"].queue), 2*3)
	for i := range 300 {
		ts := t0.Add(2*time.Second + time.Duration(i)*time.Millisecond)
		id := fmt.Sprint("c", i)
		apply(ts, "v1", id, float64(i))
		apply(ts, "v2", id, 2*float64(i))
	}
	require.Equal(t, 301.0, count(PairMatched))
	// Paired live events wait on for other candidates and leave the
	// full buffer uncounted; b0, never paired, is evicted.
	require.Equal(t, 3.0, count(PairEvicted))
	require.Equal(t, 2.0, count(PairExpired))
	pc := e.paired(e.reg.lookup("ranker", "v2"), "v1", floorDiv(t0.Add(2300*time.Millisecond).UnixNano(), e.window)*e.window)
	require.NotNil(t, pc)
	require.Equal(t, uint64(301), pc.Requests) // a3 too: 6 = 2 × 3
	require.Len(t, pc.Features, 1)
	f := pc.Features[0]
	require.Equal(t, drift.DistributionChange, f.Diagnosis)
	require.Equal(t, drift.Critical, f.Severity)
	require.InDelta(t, 2, f.Slope, 1e-12)
	require.InDelta(t, 0, f.Intercept, 1e-9)
	require.Equal(t, "on 301 requests seen by both, candidate income = 2 × live income + 0 (r² 1.000): the candidate transforms it otherwise than live.", f.Summary)

	// A refused id is counted and joins nothing.
	ev := event(t0.Add(3*time.Second), "ranker", "v2", "income", 1.0)
	ev.RequestIDInvalid = true
	require.NoError(t, p.Apply(off, ev))
	require.Equal(t, 1.0, count(PairInvalid))
}
