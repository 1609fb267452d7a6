package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// fakeClock is a wall clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// lifeSink records evaluations and lifecycle notices in order.
type lifeSink struct {
	mu  sync.Mutex
	log []string
}

func (s *lifeSink) Publish(e Evaluation) {
	s.mu.Lock()
	s.log = append(s.log, "eval "+e.Version)
	s.mu.Unlock()
}

func (s *lifeSink) Lifecycle(l Lifecycle) {
	s.mu.Lock()
	s.log = append(s.log, string(l.State)+" "+l.Version)
	s.mu.Unlock()
}

func (s *lifeSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// lifeEngine runs an engine on a fake clock with a recording sink; the
// caller drives the lifecycle checks.
func lifeEngine(t *testing.T, store *memStore, clock *fakeClock, b Baselines) (*Engine, *lifeSink) {
	t.Helper()
	opts := testOptions()
	opts.Clock = clock.Now
	opts.VersionIdleTimeout = 30 * time.Minute
	opts.LifecycleCheck = time.Hour // the test calls checkLifecycle itself
	sink := &lifeSink{}
	e, _ := newEngine(t, opts, b, store, sink)
	done := make(chan error, 1)
	go func() { done <- e.Run(t.Context()) }()
	t.Cleanup(func() { e.Stop(); <-done })
	return e, sink
}

func waitLog(t *testing.T, s *lifeSink, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, l := range s.all() {
			if l == want {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "sink never got %q; got %v", want, s.all())
}

func stateOf(e *Engine, version string) VersionState {
	for _, s := range e.Versions() {
		if s.Version == version {
			return s.State
		}
	}
	return ""
}

// TestVersionLifecycle: a version without events goes stale after three
// windows (its evaluations stop reaching the sinks, so its alerts stay
// resolved), comes back with its next event, and retires after the idle
// timeout: its series leave /metrics, the evaluator and the checkpoints,
// and a restart does not bring it back.
func TestVersionLifecycle(t *testing.T) {
	clock := &fakeClock{now: t0}
	store := newMemStore()
	ref := func() drift.Set {
		n := sketch.NewNumeric()
		for i := range 200 {
			n.Add(float64(i % 10))
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{"x": {Sketch: n}}}
	}
	e, sink := lifeEngine(t, store, clock, baselines{"m/v1": ref, "m/v2": ref})
	p := open(t, e, 0)
	off := int64(0)
	send := func(version string, ts time.Time, k int) {
		for i := range k {
			require.NoError(t, p.Apply(off, event(ts.Add(time.Duration(i)*time.Millisecond), "m", version, "x", float64(i%10))))
			off++
		}
	}
	send("v1", t0, 100)
	send("v2", t0, 100)
	e.checkLifecycle(clock.Now())
	require.Equal(t, StateActive, stateOf(e, "v1"))

	// v2 goes on, v1 stops; three windows of wall time later v1 is stale.
	for m := 1; m <= 4; m++ {
		clock.add(time.Minute)
		send("v2", t0.Add(time.Duration(m)*time.Minute), 100)
		e.checkLifecycle(clock.Now())
	}
	require.Equal(t, StateStale, stateOf(e, "v1"))
	require.Equal(t, StateActive, stateOf(e, "v2"))
	waitLog(t, sink, "stale v1")
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.stale.WithLabelValues("m", "v1")))

	// A late window of v1 closing now is evaluated but not published.
	before := len(sink.all())
	closeAll(p)
	e.ev.wake <- struct{}{}
	require.Eventually(t, func() bool { return len(e.Latest()) == 2 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	for _, l := range sink.all()[before:] {
		require.NotEqual(t, "eval v1", l, "a stale version's evaluation reached the sinks")
	}

	// Its next event brings it back.
	clock.add(time.Minute)
	send("v1", t0.Add(6*time.Minute), 10)
	send("v2", t0.Add(6*time.Minute), 10)
	e.checkLifecycle(clock.Now())
	require.Equal(t, StateActive, stateOf(e, "v1"))
	waitLog(t, sink, "active v1")

	// Idle past the timeout, it retires.
	for range 31 {
		clock.add(time.Minute)
		send("v2", t0.Add(6*time.Minute), 1)
		e.checkLifecycle(clock.Now())
	}
	require.Equal(t, StateRetired, stateOf(e, "v1"))
	waitLog(t, sink, "retired v1")
	require.Len(t, e.Tracked(), 1)
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.retirements[StateRetired]))
	require.Zero(t, testutil.CollectAndCount(e.m.events, "normwatch_events_total")-1, "only v2's series left")
	var retired Series
	for _, s := range e.Versions() {
		if s.Version == "v1" {
			retired = s
		}
	}
	require.Contains(t, retired.Reason, "limits.version_idle_timeout")
	require.False(t, retired.Left.IsZero())

	// Its state leaves the checkpoint: a restart does not bring it back.
	_, err := p.Checkpoint()
	require.NoError(t, err)
	st, err := decodeCheckpoint(store.data["events/0"])
	require.NoError(t, err)
	for _, cv := range st.versions {
		require.NotEqual(t, "v1", cv.version)
	}
	e2, _ := lifeEngine(t, store, clock, nil)
	open(t, e2, 0)
	require.Len(t, e2.Tracked(), 1)
	require.Equal(t, "v2", e2.Tracked()[0].Version)
}

// TestRestartKeepsIdleVersionsRetired: a checkpoint written before a
// version went idle (the daemon was down meanwhile) does not bring it back
// once the idle timeout has passed; a version still within it comes back
// with its last activity, so its idle time goes on from there.
func TestRestartKeepsIdleVersionsRetired(t *testing.T) {
	clock := &fakeClock{now: t0}
	store := newMemStore()
	e, _ := lifeEngine(t, store, clock, nil)
	p := open(t, e, 0)
	require.NoError(t, p.Apply(0, event(t0, "m", "old", "x", 1.0)))
	clock.add(20 * time.Minute)
	require.NoError(t, p.Apply(1, event(t0.Add(20*time.Minute), "m", "new", "x", 1.0)))
	e.checkLifecycle(clock.Now())
	_, err := p.Checkpoint()
	require.NoError(t, err)

	clock.add(15 * time.Minute) // down for a quarter hour: old is idle 35 min, new 15
	var logs strings.Builder
	opts := testOptions()
	opts.Clock, opts.VersionIdleTimeout, opts.Logger = clock.Now, 30*time.Minute, newTestLogger(&logs)
	e2, _ := newEngine(t, opts, nil, store)
	open(t, e2, 0)
	tracked := e2.Tracked()
	require.Len(t, tracked, 1)
	require.Equal(t, "new", tracked[0].Version)
	require.Equal(t, t0.Add(20*time.Minute), tracked[0].LastSeen, "its activity came back with it")
	require.Contains(t, logs.String(), "idle past limits.version_idle_timeout before the restart")
}

// TestRestartCapsNewestWin: restored versions compete for the caps by
// their activity, so names that filled the caps before a restart do not
// keep newer ones out.
func TestRestartCapsNewestWin(t *testing.T) {
	clock := &fakeClock{now: t0}
	store := newMemStore()
	big, _ := lifeEngine(t, store, clock, nil)
	p := open(t, big, 0)
	for i, v := range []string{"v1", "v2", "v3", "v4"} {
		clock.add(time.Minute)
		require.NoError(t, p.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Minute), "m", v, "x", 1.0)))
	}
	_, err := p.Checkpoint()
	require.NoError(t, err)

	opts := testOptions()
	opts.Clock = clock.Now
	opts.Limits.MaxVersionsPerModel = 2
	e2, _ := newEngine(t, opts, nil, store)
	open(t, e2, 0)
	var got []string
	for _, s := range e2.Tracked() {
		got = append(got, s.Version)
	}
	require.Equal(t, []string{"v3", "v4"}, got)
	// The older ones are listed as gone, with why.
	var gone []string
	for _, s := range e2.Versions() {
		if s.State == StateEvicted || s.State == StateRefused {
			gone = append(gone, s.Version)
			require.Contains(t, s.Reason, "limits.max_versions_per_model")
		}
	}
	require.ElementsMatch(t, []string{"v1", "v2"}, gone)

	// Restored newest first, the older ones are refused instead: listed
	// once each however many partitions hold them.
	store2 := newMemStore()
	for k, v := range store.data {
		store2.data[k] = v
		store2.data[strings.Replace(k, "/0", "/1", 1)] = v
	}
	e3, _ := newEngine(t, opts, nil, store2)
	open(t, e3, 0)
	open(t, e3, 1)
	require.Len(t, e3.Tracked(), 2)
	require.Len(t, e3.Versions(), 4)
}

// TestReplayRetiresByEventTime: replaying a month of history fast, a
// version whose events stopped a day before the replay's newest events is
// retired although little wall time passed.
func TestReplayRetiresByEventTime(t *testing.T) {
	clock := &fakeClock{now: t0.Add(60 * 24 * time.Hour)}
	e, _ := lifeEngine(t, newMemStore(), clock, nil)
	p := open(t, e, 0)
	off := int64(0)
	for h := range 48 {
		v := "v1"
		if h >= 12 {
			v = "v2"
		}
		require.NoError(t, p.Apply(off, event(t0.Add(time.Duration(h)*time.Hour), "m", v, "x", 1.0)))
		off++
		clock.add(time.Second)
		e.checkLifecycle(clock.Now())
	}
	require.Equal(t, StateRetired, stateOf(e, "v1"))
	require.Equal(t, StateActive, stateOf(e, "v2"))
}

// TestBaselineCapped: a baseline with far more features than the limits
// brings only as many into an evaluation, those the events carry first.
func TestBaselineCapped(t *testing.T) {
	ref := func() drift.Set {
		set := drift.Set{Features: map[string]drift.FeatureSketch{}}
		for i := range 500 {
			n := sketch.NewNumeric()
			n.Add(1)
			set.Features[fmt.Sprintf("f%03d", i)] = drift.FeatureSketch{Sketch: n}
		}
		return set
	}
	opts := testOptions()
	opts.Limits.MaxFeatures = 5
	var logs strings.Builder
	opts.Logger = newTestLogger(&logs)
	e, _ := newEngine(t, opts, baselines{"m/v1": ref}, nil)
	p := open(t, e, 0)
	for i := range 100 {
		require.NoError(t, p.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Millisecond), "m", "v1", "f400", 1.0, "f450", 1.0)))
	}
	closeAll(p)
	e.ev.process()
	evs := e.Latest()
	require.Len(t, evs, 1)
	var names []string
	for _, f := range evs[0].Report.Features {
		names = append(names, f.Name)
	}
	require.ElementsMatch(t, []string{"f000", "f001", "f002", "f400", "f450"}, names)
	require.Equal(t, 1, strings.Count(logs.String(), "a baseline brings more features"))
}

// TestBaselineLeavesRefusedOut: features the engine refused (over the
// global series budget or limits.max_features) are absent from the
// horizon because of the limits, not because they stopped arriving: the
// baseline does not bring them into the evaluation, where they would read
// as missing_spike on every one of them.
func TestBaselineLeavesRefusedOut(t *testing.T) {
	ref := func() drift.Set {
		set := drift.Set{Features: map[string]drift.FeatureSketch{}}
		for _, name := range []string{"a", "b", "c", "d", "gone"} {
			n := sketch.NewNumeric()
			for i := range 200 {
				n.Add(float64(i % 10))
			}
			set.Features[name] = drift.FeatureSketch{Sketch: n}
		}
		return set
	}
	opts := testOptions()
	opts.Limits.MaxSeries = 6 // v1 takes a, b, c, d; v2 a and b
	e, _ := newEngine(t, opts, baselines{"m/v1": ref, "m/v2": ref}, nil)
	p := open(t, e, 0)
	for i := range 400 {
		v := "v1"
		if i%2 == 1 {
			v = "v2"
		}
		x := float64(i % 10)
		require.NoError(t, p.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Millisecond), "m", v, "a", x, "b", x, "c", x, "d", x)))
	}
	closeAll(p)
	e.ev.process()
	names := map[string][]string{}
	for _, ev := range e.Latest() {
		for _, f := range ev.Report.Features {
			names[ev.Version] = append(names[ev.Version], f.Name)
			if f.Name != "gone" {
				require.NotEqual(t, drift.MissingSpike, f.Diagnosis, "%s/%s", ev.Version, f.Name)
			}
		}
	}
	require.ElementsMatch(t, []string{"a", "b", "c", "d", "gone"}, names["v1"], "a baseline-only feature is still judged absent")
	require.ElementsMatch(t, []string{"a", "b", "gone"}, names["v2"], "the refused c and d are left out")
}
