package export

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/demo"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/stretchr/testify/require"
)

type memCheckpoints struct{}

func (memCheckpoints) Load(string, int) ([]byte, error) { return nil, nil }
func (memCheckpoints) Save(string, int, []byte) error   { return nil }

type fixedBaselines map[string]*baseline.Baseline

func (b fixedBaselines) Lookup(model, version string) (drift.Set, string, bool) {
	bl, ok := b[model+"/"+version]
	if !ok {
		return drift.Set{}, "", false
	}
	return bl.Set(), bl.ID(), true
}

// demoBaselines builds the demo model's baselines (healthy v3, buggy v4)
// from its training data and scaler, as `monitor demo` does.
func demoBaselines(t testing.TB) fixedBaselines {
	t.Helper()
	dir := t.TempDir()
	scaler := filepath.Join(dir, "scaler.yml")
	require.NoError(t, os.WriteFile(scaler, []byte(demo.ScalerYAML()), 0o644))
	sc, err := baseline.LoadScaler(scaler)
	require.NoError(t, err)
	bls := fixedBaselines{}
	for i, v := range []string{demo.Healthy, demo.Buggy} {
		path := filepath.Join(dir, v+".csv")
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, demo.NewGenerator(demo.DefaultOptions(), uint64(10+i)).WriteTrainingCSV(f, 4000))
		require.NoError(t, f.Close())
		b, _, err := baseline.Build(context.Background(), path, baseline.BuildOptions{Model: demo.Model, Version: v, Scaler: sc})
		require.NoError(t, err)
		bls[demo.Model+"/"+v] = b
	}
	return bls
}

// demoSnapshots runs the demo model's traffic (healthy v3, buggy v4)
// through a real engine against baselines built from the demo's training
// data, and returns the snapshots the daemon would export.
func demoSnapshots(t testing.TB) []Snapshot {
	t.Helper()
	bls := demoBaselines(t)

	th := drift.DefaultThresholds()
	th.MinSamples = 200
	e, err := engine.New(engine.Options{WindowSize: time.Minute, HorizonWindows: 3, Thresholds: th}, bls, memCheckpoints{}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		e.Stop()
		<-done
		cancel()
	}()
	pp, err := e.OpenPartition("events", 0)
	require.NoError(t, err)
	dec, err := stream.NewDecoder(stream.DefaultDecoderOptions())
	require.NoError(t, err)
	gen := demo.NewGenerator(demo.DefaultOptions(), 99)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var ev stream.Event
	// 4 minutes of 20 events a second per version: windows 0 to 2 close.
	for i := range 4 * 60 * 20 {
		ts := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		for k, v := range []string{demo.Healthy, demo.Buggy} {
			require.NoError(t, dec.Decode(gen.Event(v, ts), stream.Fallback{}, &ev))
			pp.Apply(int64(2*i+k), &ev)
		}
	}
	var latest []engine.Evaluation
	require.Eventually(t, func() bool {
		latest = e.Latest()
		return len(latest) == 2 && latest[0].WindowEnd.Equal(t0.Add(3*time.Minute)) && latest[1].WindowEnd.Equal(t0.Add(3*time.Minute))
	}, 10*time.Second, 10*time.Millisecond)
	out := make([]Snapshot, len(latest))
	for i, l := range latest {
		out[i] = Snapshot{
			Model: l.Model, Version: l.Version, BaselineID: l.BaselineID, WindowEnd: l.WindowEnd,
			EvaluatedAt: l.EvaluatedAt, Report: l.Report, Features: l.Features, Embeddings: l.Embeddings,
		}
	}
	return out
}

// demoRun is the demo model's traffic through a real engine that keeps
// running for the test: snapshots as the daemon adapts them, the engine's
// horizons with the baselines as the detail view's sketches, and a
// History fed as the daemon feeds it (an engine sink).
type demoRun struct {
	t0        time.Time
	engine    *engine.Engine
	baselines fixedBaselines
	history   *History
	windows   int // evaluations per version
}

func (d *demoRun) snapshots() []Snapshot {
	latest := d.engine.Latest()
	out := make([]Snapshot, len(latest))
	for i, l := range latest {
		out[i] = Snapshot{
			Model: l.Model, Version: l.Version, BaselineID: l.BaselineID, WindowEnd: l.WindowEnd,
			EvaluatedAt: l.EvaluatedAt, Report: l.Report, Features: l.Features, Embeddings: l.Embeddings,
		}
	}
	return out
}

func (d *demoRun) sketches(model, version, _ string, _ bool) (drift.Set, drift.Set, bool) {
	cur, info, ok := d.engine.Horizon(model, version)
	if !ok {
		return drift.Set{}, drift.Set{}, false
	}
	var ref drift.Set
	if b, ok := d.baselines[model+"/"+version]; ok && b.ID() == info.BaselineID {
		ref = b.Set()
	}
	return ref, cur, true
}

func (d *demoRun) intake() Intake {
	in := Intake{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"normwatch.events"}, Embedded: true}
	for _, v := range []string{demo.Healthy, demo.Buggy} {
		b := d.baselines[demo.Model+"/"+v]
		bi := BaselineInfo{Model: b.Model, Version: b.ModelVersion, ID: b.ID(), Created: b.CreatedAt, Dims: map[string]int{}}
		for name := range b.Features {
			bi.Features = append(bi.Features, name)
		}
		for name, e := range b.Embeddings {
			bi.Embeddings = append(bi.Embeddings, name)
			bi.Dims[name] = e.Dim
		}
		slices.Sort(bi.Features)
		slices.Sort(bi.Embeddings)
		in.Baselines = append(in.Baselines, bi)
	}
	return in
}

// runDemo sends 8 minutes of the demo's traffic, 20 events a second per
// version, through an engine with one-minute windows and a horizon of
// three: v3 healthy throughout; v4 healthy for its first 3 minutes, then
// with the demo's two bugs (income's scaler skipped, 31% of query vectors
// unnormalized). Windows 0 to 6 close: 7 evaluations per version, each in
// the History.
func runDemo(t *testing.T) *demoRun {
	t.Helper()
	bls := demoBaselines(t)
	d := &demoRun{t0: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), baselines: bls, history: NewHistory(30), windows: 7}
	th := drift.DefaultThresholds()
	th.MinSamples = 200
	var err error
	d.engine, err = engine.New(engine.Options{WindowSize: time.Minute, HorizonWindows: 3, Thresholds: th}, bls, memCheckpoints{}, nil, d.history)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.engine.Run(ctx) }()
	t.Cleanup(func() {
		d.engine.Stop()
		<-done
		cancel()
	})
	pp, err := d.engine.OpenPartition("events", 0)
	require.NoError(t, err)
	dec, err := stream.NewDecoder(stream.DefaultDecoderOptions())
	require.NoError(t, err)
	buggy := demo.NewGenerator(demo.DefaultOptions(), 99)
	healthy := demo.NewGenerator(demo.Options{}, 98)
	var ev stream.Event
	for i := range 8 * 60 * 20 {
		ts := d.t0.Add(time.Duration(i) * 50 * time.Millisecond)
		for k, v := range []string{demo.Healthy, demo.Buggy} {
			g := buggy
			if v == demo.Buggy && ts.Before(d.t0.Add(3*time.Minute)) {
				g = healthy
			}
			require.NoError(t, dec.Decode(g.Event(v, ts), stream.Fallback{}, &ev))
			pp.Apply(int64(2*i+k), &ev)
		}
	}
	last := d.t0.Add(time.Duration(d.windows) * time.Minute)
	require.Eventually(t, func() bool {
		latest := d.engine.Latest()
		if len(latest) != 2 || !latest[0].WindowEnd.Equal(last) || !latest[1].WindowEnd.Equal(last) {
			return false
		}
		for _, v := range []string{demo.Healthy, demo.Buggy} {
			if len(d.history.Points(demo.Model, v, "income", false)) != d.windows {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond)
	return d
}
