package engine

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// compatStream is the stream behind testdata/checkpoint-v2.bin: windows of
// 120 events (few enough that a closed window's sketches now stay raw),
// a continuous feature, a feature of few values and one often missing.
func compatStream(t *testing.T) []func(p *partition, off int64) {
	r := rand.New(rand.NewPCG(14, 2))
	var out []func(p *partition, off int64)
	for i := range 5 * 120 {
		ts := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		x, k := normal(r, 10, 3), float64(r.IntN(5))
		var sparse any
		if i%3 == 0 {
			sparse = r.ExpFloat64()
		}
		out = append(out, func(p *partition, off int64) {
			require.NoError(t, p.Apply(off, event(ts, "m", "v1", "x", x, "k", k, "sparse", sparse)))
		})
	}
	return out
}

// compatCut is where the golden checkpoint was taken: three windows closed,
// the fourth open.
const compatCut = 3*120 + 50

const compatGolden = "testdata/checkpoint-v2.bin"

// TestCheckpointV2Restores: a checkpoint of version 2 (written by the
// release before raw window sketches; regenerate it on that release with
// NORMWATCH_WRITE_CHECKPOINT_V2=1) restores into this one: the restored
// engine holds what an engine that saw the same events holds, goes on as
// it would, and checkpoints again in the current version.
func TestCheckpointV2Restores(t *testing.T) {
	stream := compatStream(t)
	if os.Getenv("NORMWATCH_WRITE_CHECKPOINT_V2") != "" {
		store := newMemStore()
		e, _ := newEngine(t, testOptions(), nil, store)
		p := open(t, e, 0)
		for i, apply := range stream[:compatCut] {
			apply(p, int64(i))
		}
		_, err := p.Checkpoint()
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(compatGolden), 0o755))
		require.NoError(t, os.WriteFile(compatGolden, store.data["events/0"], 0o644))
		t.Skip("wrote " + compatGolden)
	}
	data, err := os.ReadFile(compatGolden)
	require.NoError(t, err)
	require.Equal(t, byte(2), data[len(checkpointMagic)])

	store := newMemStore()
	store.data["events/0"] = data
	// The golden's versions were last seen when it was written: with an
	// idle timeout its restore would retire them once that is an hour
	// ago, whatever the code does.
	opts := testOptions()
	opts.VersionIdleTimeout = -1
	restored, _ := newEngine(t, opts, nil, store)
	rp := open(t, restored, 0)
	require.Equal(t, int64(compatCut-1), rp.Offset())

	fresh, _ := newEngine(t, opts, nil, nil)
	fp := open(t, fresh, 0)
	for i, apply := range stream[:compatCut] {
		apply(fp, int64(i))
	}
	same := func(stage string) {
		restored.ev.process()
		fresh.ev.process()
		want, ok := fresh.Cumulative("m", "v1")
		require.True(t, ok, stage)
		got, ok := restored.Cumulative("m", "v1")
		require.True(t, ok, stage)
		require.Equal(t, want.Events, got.Events, stage)
		require.Len(t, got.Features, len(want.Features), stage)
		for i, w := range want.Features {
			g := got.Features[i]
			require.Equal(t, w.Name, g.Name, stage)
			require.Equal(t, w.Count, g.Count, stage+" "+w.Name)
			require.Equal(t, w.Missing, g.Missing, stage+" "+w.Name)
			require.InDelta(t, w.Mean, g.Mean, 1e-12*math.Max(1, math.Abs(w.Mean)), stage+" "+w.Name)
			require.InDelta(t, w.StdDev, g.StdDev, 1e-12*math.Max(1, w.StdDev), stage+" "+w.Name)
		}
	}
	same("restored")
	for i, apply := range stream[compatCut:] {
		apply(rp, int64(compatCut+i))
		apply(fp, int64(compatCut+i))
	}
	closeAll(rp)
	closeAll(fp)
	same("after the rest of the stream")
	for _, e := range []*Engine{restored, fresh} {
		set, info, ok := e.Horizon("m", "v1")
		require.True(t, ok)
		require.Equal(t, uint64(2*120), info.Events)
		require.Equal(t, uint64(2*120), set.Features["x"].Sketch.Count())
	}

	_, err = rp.Checkpoint()
	require.NoError(t, err)
	again := store.data["events/0"]
	require.Equal(t, byte(checkpointVersion), again[len(checkpointMagic)])
	_, err = decodeCheckpoint(again)
	require.NoError(t, err)
}
