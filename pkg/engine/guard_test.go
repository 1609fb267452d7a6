package engine

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestEventTimeHijack: no single message moves a partition's watermark so
// far that the events after it are late, whatever time it carries.
func TestEventTimeHijack(t *testing.T) {
	year2200 := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		payload time.Time // zero: the event has only its Kafka timestamp
		kafka   time.Time
		reason  string
	}{
		{name: "kafka timestamp in 2200", kafka: year2200, reason: FutureAheadOfWallClock},
		{name: "payload and kafka in 2200", payload: year2200, kafka: year2200, reason: FutureAheadOfWallClock},
		{name: "payload ahead of kafka", payload: year2200, kafka: t0.Add(3 * time.Second), reason: FutureAheadOfKafka},
		// A replay of last week: a day ahead is still in the past, but
		// far ahead of the partition's other events.
		{name: "a day ahead of the stream", payload: t0.Add(24 * time.Hour), kafka: t0.Add(24 * time.Hour), reason: FutureAheadOfStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, guarded(), nil, nil)
			p := open(t, e, 0)
			at := func(offset int64, payload, kafka time.Time) {
				ev := event(payload, "m", "v1", "x", 1.0)
				ev.KafkaTime = kafka
				if payload.IsZero() {
					ev.Time, ev.TimeSource = kafka, stream.TimeKafka
				}
				require.NoError(t, p.Apply(offset, ev))
			}
			for i := range 5 {
				ts := t0.Add(time.Duration(i) * time.Second)
				at(int64(i), ts, ts)
			}
			at(5, tc.payload, tc.kafka)
			for i := 6; i < 200; i++ {
				ts := t0.Add(time.Duration(i) * time.Second)
				at(int64(i), ts, ts)
			}
			require.Zero(t, testutil.ToFloat64(e.m.late), "no event late after the stray one")
			require.Equal(t, 1.0, testutil.ToFloat64(e.m.futureBy[tc.reason]))
			closeAll(p)
			e.ev.process()
			cs, ok := e.Cumulative("m", "v1")
			require.True(t, ok)
			require.Equal(t, uint64(200), cs.Features[0].Count, "the stray event still counts")
			require.NotEmpty(t, e.Latest(), "windows were evaluated")
		})
	}
}

// TestEventTimeJumpConfirmed: a real gap in the stream (the producer was
// down for a day) moves the watermark once a second event confirms it.
func TestEventTimeJumpConfirmed(t *testing.T) {
	e, _ := newEngine(t, guarded(), nil, nil)
	p := open(t, e, 0)
	for i := range 10 {
		ts := t0.Add(time.Duration(i) * time.Second)
		if i >= 5 {
			ts = ts.Add(24 * time.Hour)
		}
		ev := event(ts, "m", "v1", "x", 1.0)
		ev.KafkaTime = ts
		require.NoError(t, p.Apply(int64(i), ev))
	}
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.futureBy[FutureAheadOfStream]), "only the first event after the gap")
	require.Equal(t, t0.Add(24*time.Hour+9*time.Second).UnixNano(), p.maxTime)
}

// TestRepairPoisonedCheckpoint: a checkpoint whose watermark one message
// moved to 2200 (written without the guard) is repaired on restore: later
// events land in windows again, and nothing counted is lost.
func TestRepairPoisonedCheckpoint(t *testing.T) {
	store := newMemStore()
	unguarded := testOptions()
	unguarded.MaxFutureSkew = 0
	a, _ := newEngine(t, unguarded, nil, store)
	pa := open(t, a, 0)
	for i := range 120 {
		ts := t0.Add(time.Duration(i) * time.Second)
		if i == 100 {
			ts = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		require.NoError(t, pa.Apply(int64(i), event(ts, "m", "v1", "x", 1.0)))
	}
	require.Equal(t, 19.0, testutil.ToFloat64(a.m.late), "poisoned: every event after it late")
	_, err := pa.Checkpoint()
	require.NoError(t, err)

	b, _ := newEngine(t, guarded(), nil, store)
	pb := open(t, b, 0)
	require.Equal(t, 1.0, testutil.ToFloat64(b.m.futureBy[FutureRepaired]))
	require.Less(t, pb.maxTime, t0.Add(time.Hour).UnixNano())
	for i := 120; i < 200; i++ {
		require.NoError(t, pb.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Second), "m", "v1", "x", 1.0)))
	}
	require.Zero(t, testutil.ToFloat64(b.m.late), "after the repair, events land in windows")
	closeAll(pb)
	b.ev.process()
	cs, ok := b.Cumulative("m", "v1")
	require.True(t, ok)
	require.Equal(t, uint64(200), cs.Features[0].Count, "nothing lost")
}

// TestInternalErrorsAreContained: a bug that panics while one event is
// applied, or while one version is evaluated or closed, is caught: the
// event's Apply returns an error (the consumer dead-letters it), the
// fault is counted, logged once and shown on the version, and every other
// version goes on.
func TestInternalErrorsAreContained(t *testing.T) {
	var logs strings.Builder
	opts := testOptions()
	opts.Logger = newTestLogger(&logs)
	e, _ := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	e.testHook = func(where string, s *series) {
		if s.version == "bad" && (where == "apply" && p.offset%10 == 3 || where == "evaluate" || where == "close") {
			panic("a bug of ours")
		}
	}
	bad := 0
	for i := range 200 {
		v := "good"
		if i%2 == 1 {
			v = "bad"
		}
		err := p.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Second), "m", v, "x", float64(i)))
		if err != nil {
			bad++
			require.Contains(t, err.Error(), "a bug of ours")
		}
	}
	require.Equal(t, 20, bad, "events 3, 13, 23, ... failed")
	require.Equal(t, int64(199), p.Offset(), "the partition went on")
	closeAll(p)
	e.ev.process()
	require.Equal(t, 20.0, testutil.ToFloat64(e.m.internalErrors.WithLabelValues(ComponentApply)))
	require.Positive(t, testutil.ToFloat64(e.m.internalErrors.WithLabelValues(ComponentClose)))

	cs, ok := e.Cumulative("m", "good")
	require.True(t, ok)
	require.Equal(t, uint64(100), cs.Features[0].Count, "the good version is untouched")
	var faults []Fault
	for _, s := range e.Tracked() {
		if s.Version == "bad" {
			faults = s.Faults
		} else {
			require.Empty(t, s.Faults)
		}
	}
	require.Len(t, faults, 2)
	require.Equal(t, ComponentApply, faults[0].Component)
	require.EqualValues(t, 20, faults[0].Count)
	require.Equal(t, 1, strings.Count(logs.String(), "component=apply"), "logged once, not per event")
	require.Contains(t, logs.String(), "model_version=bad")
	require.Contains(t, logs.String(), "stack=")
}

func TestMergeErrorResetsOneFeature(t *testing.T) {
	var logs strings.Builder
	opts := testOptions()
	opts.Logger = newTestLogger(&logs)
	e, _ := newEngine(t, opts, nil, nil)
	out := &window{}
	w := &window{}
	w.numeric(0).Add(1)
	w.numeric(1).Add(2)
	// The same sketch in both: Merge refuses a merge with itself.
	out.num = append(out.num, w.num[0])
	var broken []int32
	mergeWindow(out, w, true, func(i int32, err error) {
		broken = append(broken, i)
		require.Error(t, err)
	})
	require.Equal(t, []int32{0}, broken)
	require.Nil(t, out.num[0], "the broken feature is reset")
	require.Equal(t, uint64(1), out.num[1].Count(), "the other feature merged")
	e.internalError(ComponentClose, nil, "x", errors.New("boom"), nil)
	require.Contains(t, logs.String(), "series=x")
	require.False(t, math.IsNaN(testutil.ToFloat64(e.m.internalErrors.WithLabelValues(ComponentClose))))
}

func newTestLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// guarded are testOptions with the daemon's default future skew.
func guarded() Options {
	o := testOptions()
	o.MaxFutureSkew = DefaultMaxFutureSkew
	return o
}

// TestStrayDimensionFirst: a vector of another dimension first in a window
// is the mismatch, not the window's real vectors; and across partitions
// that disagree, every vector is still counted.
func TestStrayDimensionFirst(t *testing.T) {
	e, _ := newEngine(t, testOptions(), nil, nil)
	p0, p1 := open(t, e, 0), open(t, e, 1)
	vec := func(ts time.Time, x ...float32) *stream.Event {
		ev := event(ts, "m", "v1")
		ev.Embeddings = []stream.EmbeddingValue{{Name: "q", Values: x}}
		return ev
	}
	// Partition 0 knows the dimension from its first window; its second
	// window starts with a stray 3-d vector.
	require.NoError(t, p0.Apply(0, vec(t0, 0.6, 0.8)))
	require.NoError(t, p0.Apply(1, vec(t0.Add(2*time.Minute), 1, 0, 0)))
	for i := range 50 {
		require.NoError(t, p0.Apply(int64(2+i), vec(t0.Add(2*time.Minute+time.Second), 0.6, 0.8)))
	}
	// Partition 1's very first vector is the stray one.
	require.NoError(t, p1.Apply(0, vec(t0.Add(2*time.Minute), 1, 0, 0)))
	for i := range 20 {
		require.NoError(t, p1.Apply(int64(1+i), vec(t0.Add(2*time.Minute+time.Second), 0.6, 0.8)))
	}
	closeAll(p0)
	closeAll(p1)
	e.ev.process()
	cs, ok := e.Cumulative("m", "v1")
	require.True(t, ok)
	require.Len(t, cs.Embeddings, 1)
	q := cs.Embeddings[0]
	// The cumulative view adds up each partition's own counts: partition
	// 1 took the stray one's dimension, so its 20 real ones mismatch.
	require.Equal(t, uint64(51+1), q.Count)
	require.Equal(t, uint64(1+20), q.DimMismatches)
	require.Equal(t, uint64(52+21), q.Count+q.DimMismatches, "every vector counted")
	// The horizon merges partitions: partition 1's sketch, of another
	// dimension, counts whole as mismatches there.
	set, _, ok := e.Horizon("m", "v1")
	require.True(t, ok)
	v := set.Embeddings["q"].Sketch
	require.Equal(t, uint64(51+21), v.Count()+v.DimMismatches(), "every vector of the horizon counted")
}
