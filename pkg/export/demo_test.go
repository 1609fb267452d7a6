package export

import (
	"context"
	"os"
	"path/filepath"
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

// demoSnapshots runs the demo model's traffic (healthy v3, buggy v4)
// through a real engine against baselines built from the demo's training
// data, and returns the snapshots the daemon would export.
func demoSnapshots(t testing.TB) []Snapshot {
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
