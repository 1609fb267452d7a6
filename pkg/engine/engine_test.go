package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"window", func(o *Options) { o.WindowSize = time.Microsecond }, "WindowSize"},
		{"lateness", func(o *Options) { o.AllowedLateness = -time.Second }, "AllowedLateness"},
		{"horizon", func(o *Options) { o.HorizonWindows = -1 }, "HorizonWindows"},
		{"models", func(o *Options) { o.Limits.MaxModels = -1 }, "Limits.MaxModels"},
		{"features", func(o *Options) { o.Limits.MaxFeatures = 1 << 21 }, "Limits.MaxFeatures"},
		{"fallback", func(o *Options) { o.Fallback = "guess" }, "Fallback"},
		{"thresholds", func(o *Options) { o.Thresholds = drift.DefaultThresholds(); o.Thresholds.MinSamples = 1 }, "min_samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mod(&o)
			err := o.withDefaults().Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCountsExact(t *testing.T) {
	for _, tc := range []struct {
		name                                 string
		n                                    int
		every                                time.Duration
		missingEvery, typeErrEvery, nanEvery int
	}{
		{name: "one window", n: 1000, every: time.Millisecond},
		{name: "many windows", n: 5000, every: 100 * time.Millisecond},
		{name: "missing, type errors and NaN", n: 3000, every: 50 * time.Millisecond, missingEvery: 7, typeErrEvery: 11, nanEvery: 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, reg := newEngine(t, testOptions(), nil, nil)
			p := open(t, e, 0)
			r := rand.New(rand.NewPCG(1, 2))
			var want struct{ count, missing, nonfinite, typeErr int }
			var sum float64
			for i := range tc.n {
				var x any = normal(r, 5, 2)
				switch {
				case tc.missingEvery > 0 && i%tc.missingEvery == 0:
					x = nil
					want.missing++
				case tc.typeErrEvery > 0 && i%tc.typeErrEvery == 0:
					x = "oops"
					want.missing++
					want.typeErr++
				case tc.nanEvery > 0 && i%tc.nanEvery == 0:
					x = math.NaN()
					want.nonfinite++
				default:
					want.count++
					sum += x.(float64)
				}
				ev := event(t0.Add(time.Duration(i)*tc.every), "ranker", "v1", "age", x, "always", 1.0)
				if i%2 == 0 {
					ev.Features = ev.Features[:1] // "always" absent: missing
				}
				p.Apply(int64(i), ev)
			}
			closeAll(p)
			e.ev.process()

			cs, ok := e.Cumulative("ranker", "v1")
			require.True(t, ok)
			require.Equal(t, uint64(tc.n), cs.Events)
			require.Len(t, cs.Features, 2)
			age := cs.Features[0]
			require.Equal(t, "age", age.Name)
			require.Equal(t, uint64(want.count), age.Count)
			require.Equal(t, uint64(want.missing), age.Missing)
			require.Equal(t, uint64(want.nonfinite), age.NonFinite)
			require.InDelta(t, sum/float64(want.count), age.Mean, 1e-9)
			always := cs.Features[1]
			require.Equal(t, uint64(tc.n/2), always.Count)
			require.Equal(t, uint64(tc.n-tc.n/2), always.Missing)
			require.Equal(t, float64(tc.n), testutil.ToFloat64(e.m.events.WithLabelValues("ranker", "v1")))
			require.Equal(t, float64(want.typeErr), testutil.ToFloat64(e.m.typeErrors))
			require.Equal(t, int64(tc.n-1), p.Offset())
			_ = reg
		})
	}
}

// A baseline of N(0, 1) for "x", declared unnormalized.
func stdNormalBaseline(seed uint64, n int) func() drift.Set {
	return func() drift.Set {
		r := rand.New(rand.NewPCG(seed, 1))
		s := sketch.NewNumeric()
		for range n {
			s.Add(r.NormFloat64())
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{"x": {Sketch: s, Norm: drift.Normalization{Kind: drift.ScalerNone}}}}
	}
}

func TestWindowsEvaluatedInOrder(t *testing.T) {
	c := &collect{}
	e, _ := newEngine(t, testOptions(), baselines{"m/v1": stdNormalBaseline(7, 5000)}, nil, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(3, 4))
	// 6 minutes of 10 events a second: windows 0..4 close by watermark,
	// window 5 stays open.
	for i := range 3600 {
		p.Apply(int64(i), event(t0.Add(time.Duration(i)*100*time.Millisecond), "m", "v1", "x", r.NormFloat64()))
	}
	require.Eventually(t, func() bool { return len(c.all()) == 5 }, 5*time.Second, 5*time.Millisecond)
	got := c.all()
	for i, ev := range got {
		require.Equal(t, t0.Add(time.Duration(i)*time.Minute), ev.WindowStart, "evaluation %d", i)
		require.Equal(t, ev.WindowStart.Add(time.Minute), ev.WindowEnd)
		require.Equal(t, "id-m-v1", ev.BaselineID)
		require.Empty(t, ev.Fallback)
		require.Len(t, ev.Report.Features, 1)
		require.Equal(t, drift.OK, ev.Report.Features[0].Diagnosis, ev.Report.Features[0].Summary)
		// Horizon of 2 windows of 600 events, 1 for the first.
		require.Equal(t, uint64(min(i+1, 2)*600), ev.Events)
	}
	latest := e.Latest()
	require.Len(t, latest, 1)
	require.Equal(t, got[4].WindowStart, latest[0].WindowStart)
	require.Equal(t, 5.0, testutil.ToFloat64(e.m.evaluations))
	e.Stop()
	e.Stop()
	require.NoError(t, <-done)
	cancel()
}

func TestLateEvents(t *testing.T) {
	e, _ := newEngine(t, testOptions(), nil, nil)
	p := open(t, e, 0)
	p.Apply(0, event(t0, "m", "v1", "x", 1.0))
	p.Apply(1, event(t0.Add(75*time.Second), "m", "v1", "x", 2.0)) // watermark 65 s: window 0 closes
	p.Apply(2, event(t0.Add(30*time.Second), "m", "v1", "x", 3.0)) // late
	p.Apply(3, event(t0.Add(65*time.Second), "m", "v1", "x", 4.0)) // on time, window 1
	p.Apply(4, event(time.Time{}, "m", "v1", "x", 5.0))            // no time: latest time seen
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.late))
	closeAll(p)
	e.ev.process()
	cs, ok := e.Cumulative("m", "v1")
	require.True(t, ok)
	require.Equal(t, uint64(5), cs.Events)
	require.Equal(t, uint64(5), cs.Features[0].Count)
	require.InDelta(t, 3.0, cs.Features[0].Mean, 1e-12)
}

func TestFutureTimestamp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skew   time.Duration
		late   float64 // late events after the stray one
		future float64
	}{
		{name: "guarded", skew: time.Hour, late: 0, future: 1},
		{name: "unguarded", skew: 0, late: 3, future: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.MaxFutureSkew = tc.skew
			e, _ := newEngine(t, opts, nil, nil)
			p := open(t, e, 0)
			at := func(offset int64, payload, kafka time.Time) {
				ev := event(payload, "m", "v1", "x", 1.0)
				ev.KafkaTime = kafka
				p.Apply(offset, ev)
			}
			at(0, t0, t0)
			// A producer stamps one event a year ahead (a unit bug, a
			// broken clock): without the guard it moves the watermark and
			// every later event is late.
			at(1, t0.Add(365*24*time.Hour), t0.Add(time.Second))
			for i := range 3 {
				at(int64(2+i), t0.Add(time.Duration(2+i)*time.Second), t0.Add(time.Duration(2+i)*time.Second))
			}
			require.Equal(t, tc.late, testutil.ToFloat64(e.m.late))
			require.Equal(t, tc.future, testutil.ToFloat64(e.m.futureBy[FutureAheadOfKafka]))
		})
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lim           Limits
		events        func(i int) *stream.Event
		n             int
		kind          string
		refused       int // values or events refused
		refusedSeries int // distinct names refused
		evicted       int // versions evicted for newer ones
		tracked       map[string]int
		wantVersions  []string // the versions tracked at the end
	}{
		{
			name: "100k distinct features", lim: Limits{MaxFeatures: 50}, n: 10_000,
			events: func(i int) *stream.Event {
				ev := event(t0, "m", "v1")
				for k := range 10 {
					ev.Features = append(ev.Features, stream.FeatureValue{Name: "f" + strconv.Itoa(i*10+k), Value: 1})
				}
				return ev
			},
			kind: KindFeature, refused: 100_000 - 50, refusedSeries: refusedNames,
			tracked: map[string]int{KindModel: 1, KindVersion: 1, KindFeature: 50}, wantVersions: []string{"m/v1"},
		},
		{
			name: "global series budget", lim: Limits{MaxSeries: 30}, n: 100,
			events: func(i int) *stream.Event {
				return event(t0, "m", "v"+strconv.Itoa(i%2), "a"+strconv.Itoa(i), 1.0)
			},
			kind: KindFeature, refused: 70, refusedSeries: 70,
			tracked: map[string]int{KindModel: 1, KindVersion: 2, KindFeature: 30}, wantVersions: []string{"m/v0", "m/v1"},
		},
		{
			name: "versions: the newest win", lim: Limits{MaxVersionsPerModel: 3}, n: 1000,
			events: func(i int) *stream.Event {
				return event(t0.Add(time.Duration(i)*time.Millisecond), "m", "v"+strconv.Itoa(i), "x", 1.0)
			},
			kind: KindVersion, evicted: 997,
			tracked: map[string]int{KindModel: 1, KindVersion: 3, KindFeature: 3}, wantVersions: []string{"m/v997", "m/v998", "m/v999"},
		},
		{
			name: "models: the newest win", lim: Limits{MaxModels: 2}, n: 1000,
			events: func(i int) *stream.Event {
				return event(t0.Add(time.Duration(i)*time.Millisecond), strconv.Itoa(i), "v", "x", 1.0)
			},
			kind: KindModel, evicted: 998,
			tracked: map[string]int{KindModel: 2, KindVersion: 2, KindFeature: 2}, wantVersions: []string{"998/v", "999/v"},
		},
		{
			name: "embeddings", lim: Limits{MaxEmbeddings: 2}, n: 100,
			events: func(i int) *stream.Event {
				ev := event(t0, "m", "v")
				ev.Embeddings = []stream.EmbeddingValue{{Name: "e" + strconv.Itoa(i), Values: []float32{1, 0}}}
				return ev
			},
			kind: KindEmbedding, refused: 98, refusedSeries: 98,
			tracked: map[string]int{KindModel: 1, KindVersion: 1, KindEmbedding: 2}, wantVersions: []string{"m/v"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Limits = tc.lim
			var logs strings.Builder
			opts.Logger = newTestLogger(&logs)
			e, reg := newEngine(t, opts, nil, nil)
			p := open(t, e, 0)
			for i := range tc.n {
				require.NoError(t, p.Apply(int64(i), tc.events(i)))
			}
			require.Equal(t, float64(tc.refused), testutil.ToFloat64(e.m.refused.WithLabelValues(tc.kind)), "refused")
			if tc.kind == KindFeature || tc.kind == KindEmbedding {
				require.Equal(t, float64(tc.refusedSeries), testutil.ToFloat64(e.m.refusedNames.WithLabelValues(tc.kind)), "refused series")
			}
			require.Equal(t, float64(tc.evicted), testutil.ToFloat64(e.m.retirements[StateEvicted]), "evicted")
			for k, want := range tc.tracked {
				require.Equal(t, float64(want), testutil.ToFloat64(e.m.tracked.WithLabelValues(k)), k)
			}
			var got []string
			for _, s := range e.Tracked() {
				got = append(got, s.Model+"/"+s.Version)
			}
			require.ElementsMatch(t, tc.wantVersions, got)
			n, err := testutil.GatherAndCount(reg, "normwatch_events_total")
			require.NoError(t, err)
			require.Equal(t, len(tc.wantVersions), n)
			// Memory: the open window holds at most the limits' sketches.
			for _, pv := range p.order {
				for _, w := range pv.open {
					require.LessOrEqual(t, len(w.num), opts.withDefaults().Limits.MaxFeatures)
					require.LessOrEqual(t, len(w.vec), opts.withDefaults().Limits.MaxEmbeddings)
				}
				require.LessOrEqual(t, len(pv.feats), opts.withDefaults().Limits.MaxFeatures)
			}
			// Logs: bounded, whatever the names.
			require.LessOrEqual(t, strings.Count(logs.String(), "level=WARN"), rateLogBurst+1)
			if tc.evicted > 0 {
				require.Contains(t, logs.String(), "evicted at the cap to make room for a new one")
				require.Len(t, e.Versions(), len(tc.wantVersions)+historySize, "the history of evicted versions is bounded")
			}
		})
	}
}

func TestRetire(t *testing.T) {
	e, reg := newEngine(t, testOptions(), nil, nil)
	p := open(t, e, 0)
	p.Apply(0, event(t0, "m", "v1", "x", 1.0))
	closeAll(p)
	e.ev.process()
	require.True(t, e.Retire("m", "v1"))
	require.False(t, e.Retire("m", "v1"))
	n, err := testutil.GatherAndCount(reg, "normwatch_events_total")
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, e.Tracked())
	p.Apply(1, event(t0.Add(2*time.Minute), "m", "v1", "x", 1.0))
	require.Len(t, e.Tracked(), 1)
}

// applyMixed applies events from..to with features, raw pairs, an
// embedding and some late ones.
func applyMixed(p *partition, from, to int) {
	r := rand.New(rand.NewPCG(uint64(from), 9))
	for i := from; i < to; i++ {
		ts := t0.Add(time.Duration(i) * 137 * time.Millisecond)
		if i%97 == 0 {
			ts = ts.Add(-2 * time.Minute) // late
		}
		raw := normal(r, 52100, 18300)
		ev := event(ts, "ranker", "v"+strconv.Itoa(1+i%2), "income", (raw-52100)/18300, "age", normal(r, 40, 10))
		ev.Raw = []stream.FeatureValue{{Name: "income", Value: raw}}
		v := make([]float32, 8)
		for k := range v {
			v[k] = float32(r.NormFloat64())
		}
		ev.Embeddings = []stream.EmbeddingValue{{Name: "query", Values: v}}
		p.Apply(int64(i), ev)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	store := newMemStore()
	a, _ := newEngine(t, testOptions(), nil, store)
	pa := open(t, a, 3)
	applyMixed(pa, 0, 2000)
	off, err := pa.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, int64(1999), off)

	b, _ := newEngine(t, testOptions(), nil, store)
	pb := open(t, b, 3)
	require.Equal(t, int64(1999), pb.Offset())

	encA, err := pa.encode()
	require.NoError(t, err)
	encB, err := pb.encode()
	require.NoError(t, err)
	require.Equal(t, encA, encB, "state after restore encodes as before")

	// Applying the same events after the restore gives the same state.
	applyMixed(pa, 2000, 4000)
	applyMixed(pb, 2000, 4000)
	closeAll(pa)
	closeAll(pb)
	a.ev.process()
	b.ev.process()
	for _, v := range []string{"v1", "v2"} {
		ca, ok := a.Cumulative("ranker", v)
		require.True(t, ok)
		cb, ok := b.Cumulative("ranker", v)
		require.True(t, ok)
		require.Equal(t, ca, cb)
		require.Equal(t, uint64(2000), ca.Events)
		require.Equal(t, uint64(2000), ca.Features[0].Count+ca.Features[0].Missing)
		require.Equal(t, uint64(2000), ca.Embeddings[0].Count)
	}
	encA, err = pa.encode()
	require.NoError(t, err)
	encB, err = pb.encode()
	require.NoError(t, err)
	require.Equal(t, encA, encB)
}

func TestCheckpointCorrupt(t *testing.T) {
	good := newMemStore()
	a, _ := newEngine(t, testOptions(), nil, good)
	pa := open(t, a, 0)
	applyMixed(pa, 0, 300)
	_, err := pa.Checkpoint()
	require.NoError(t, err)
	data := good.data["events/0"]

	for _, tc := range []struct {
		name  string
		store *memStore
		want  error
	}{
		{"store error", &memStore{loadErr: errBoom}, errBoom},
		{"store corrupt", &memStore{loadErr: stream.ErrCorruptCheckpoint}, stream.ErrCorruptCheckpoint},
		{"flipped byte", &memStore{data: map[string][]byte{"events/0": flip(data, len(data)/2)}}, ErrCorrupt},
		{"truncated", &memStore{data: map[string][]byte{"events/0": data[:len(data)/3]}}, ErrCorrupt},
		{"not ours", &memStore{data: map[string][]byte{"events/0": []byte("hello, world")}}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t, testOptions(), nil, tc.store)
			_, err := e.OpenPartition("events", 0)
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, "events/0")
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

func TestUnscaledInput(t *testing.T) {
	norm := drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300}
	base := func() drift.Set {
		r := rand.New(rand.NewPCG(5, 6))
		s := sketch.NewNumeric()
		for range 20_000 {
			s.Add((normal(r, 52100, 18300) - norm.Mean) / norm.Std)
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{"income": {Sketch: s, Norm: norm}}}
	}
	e, _ := newEngine(t, testOptions(), baselines{"ranker/v4": base}, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		p.Apply(int64(i), event(t0.Add(time.Duration(i)*20*time.Millisecond), "ranker", "v4", "income", normal(r, 52100, 18300)))
	}
	closeAll(p)
	e.ev.process()
	latest := e.Latest()
	require.Len(t, latest, 1)
	f := latest[0].Report.Features
	require.Len(t, f, 1)
	require.Equal(t, drift.UnscaledInput, f[0].Diagnosis, f[0].Summary)
	require.Equal(t, "id-ranker-v4", latest[0].BaselineID)
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fallback string
		want     map[string]string // version -> Evaluation.Fallback
		diag     map[string]drift.Diagnosis
	}{
		{"report only", FallbackReportOnly,
			map[string]string{"v1": "report_only", "v2": "report_only"},
			map[string]drift.Diagnosis{"v1": drift.NoBaseline, "v2": drift.NoBaseline}},
		{"previous version", FallbackPreviousVersion,
			map[string]string{"v1": "report_only", "v2": "previous_version:v1"},
			map[string]drift.Diagnosis{"v1": drift.NoBaseline, "v2": drift.Shift}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Fallback = tc.fallback
			e, _ := newEngine(t, opts, nil, nil)
			p := open(t, e, 0)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range 3000 {
				p.Apply(int64(i), event(t0.Add(time.Duration(i)*20*time.Millisecond), "m", "v1", "x", r.NormFloat64()))
			}
			closeAll(p)
			e.ev.process()
			for i := range 3000 {
				p.Apply(int64(3000+i), event(t0.Add(time.Hour+time.Duration(i)*20*time.Millisecond), "m", "v2", "x", 1+r.NormFloat64()))
			}
			closeAll(p)
			e.ev.process()
			latest := e.Latest()
			require.Len(t, latest, 2)
			for _, l := range latest {
				require.Equal(t, tc.want[l.Version], l.Fallback, l.Version)
				require.Empty(t, l.BaselineID)
				require.Equal(t, tc.diag[l.Version], l.Report.Features[0].Diagnosis, l.Report.Features[0].Summary)
			}
		})
	}
}

// Two partitions: a window is evaluated once both have closed it, and a
// closed partition no longer holds evaluations back nor counts.
func TestPartitionsAndClose(t *testing.T) {
	c := &collect{}
	e, _ := newEngine(t, testOptions(), nil, nil, c)
	p0, p1 := open(t, e, 0), open(t, e, 1)
	for i := range 100 {
		p0.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Second), "m", "v", "x", 1.0))
	}
	for i := range 30 {
		p1.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Second), "m", "v", "x", 2.0))
	}
	e.ev.process()
	require.Empty(t, e.Latest(), "partition 1 still holds window 0 open")
	for i := 30; i < 100; i++ {
		p1.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Second), "m", "v", "x", 2.0))
	}
	e.ev.process()
	l := e.Latest()
	require.Len(t, l, 1)
	require.Equal(t, uint64(120), l[0].Events)
	cs, _ := e.Cumulative("m", "v")
	require.Equal(t, uint64(120), cs.Events)
	require.NoError(t, p1.Close())
	require.NoError(t, p1.Close())
	e.ev.process()
	cs, _ = e.Cumulative("m", "v")
	require.Equal(t, uint64(60), cs.Events)
	// Reopen: a fresh partition with no checkpoint.
	p1 = open(t, e, 1)
	require.Equal(t, int64(-1), p1.Offset())
}

func TestIdleFlush(t *testing.T) {
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	opts := testOptions()
	opts.IdleFlush, opts.Clock = true, clock
	e, _ := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	p.Apply(0, event(t0, "m", "v", "x", 1.0))
	e.flushIdle() // sees the event
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	e.flushIdle()
	e.ev.process()
	require.Empty(t, e.Latest())
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	e.flushIdle()
	e.ev.process()
	require.Len(t, e.Latest(), 1)
	// Back from idle: an event for the flushed window is late.
	p.Apply(1, event(t0.Add(time.Second), "m", "v", "x", 1.0))
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.late))
}

// Two partitions applied from their own goroutines while Run evaluates.
func TestConcurrentRun(t *testing.T) {
	c := &collect{}
	opts := testOptions()
	opts.IdleFlush, opts.IdleCheck = true, time.Millisecond
	e, _ := newEngine(t, opts, baselines{"m/v": stdNormalBaseline(1, 2000)}, nil, c)
	done := make(chan error)
	go func() { done <- e.Run(context.Background()) }()
	var wg sync.WaitGroup
	for part := range 2 {
		p := open(t, e, part)
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(part), 0))
			for i := range 6000 {
				p.Apply(int64(i), event(t0.Add(time.Duration(i)*50*time.Millisecond), "m", "v", "x", r.NormFloat64()))
				if i%1000 == 0 {
					_, err := p.Checkpoint()
					require.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		l := e.Latest()
		return len(l) == 1 && l[0].WindowStart.Equal(t0.Add(3*time.Minute))
	}, 5*time.Second, time.Millisecond)
	e.Stop()
	require.NoError(t, <-done)
	got := c.all()
	require.Len(t, got, 4)
	for i := 1; i < len(got); i++ {
		require.True(t, got[i].WindowStart.After(got[i-1].WindowStart))
	}
}

type blockingSink struct {
	release chan struct{}
	got     *atomic.Int64
}

func (b blockingSink) Publish(Evaluation) { <-b.release; b.got.Add(1) }
func (b blockingSink) Name() string       { return "slow" }

func TestSlowSinkDropsOldest(t *testing.T) {
	slow := blockingSink{release: make(chan struct{}), got: new(atomic.Int64)}
	fast := &collect{}
	opts := testOptions()
	opts.SinkQueue = 2
	e, _ := newEngine(t, opts, nil, nil, slow, fast)
	done := make(chan error)
	go func() { done <- e.Run(context.Background()) }()
	p := open(t, e, 0)
	for i := range 20 {
		p.Apply(int64(i), event(t0.Add(time.Duration(i)*time.Minute), "m", "v", "x", 1.0))
	}
	// Event 19 puts the watermark at 18:50: windows 0 to 17 close.
	require.Eventually(t, func() bool { return testutil.ToFloat64(e.m.evaluations) == 18 }, 5*time.Second, time.Millisecond)
	close(slow.release)
	e.Stop()
	require.NoError(t, <-done)
	// At most one in the slow sink's hands and two queued; the rest
	// dropped. The fast sink may drop some of the burst too, but each
	// evaluation is either delivered or counted.
	dropped := testutil.ToFloat64(e.m.sinkDropped.WithLabelValues("slow"))
	require.GreaterOrEqual(t, dropped, 15.0)
	require.Equal(t, 18.0, testutil.ToFloat64(e.m.sinkDropped.WithLabelValues("sink1"))+float64(len(fast.all())))
	require.Equal(t, "2026-11-25 10:17:00 +0000 UTC", fast.all()[len(fast.all())-1].WindowStart.String())
	require.Equal(t, 18.0, dropped+float64(slow.got.Load()))
}
