package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/stretchr/testify/require"
)

// The evaluation carries the horizon's and the reference's distributions,
// and Horizon gives back the merged sketches of the last evaluation.
func TestDistributionsAndHorizon(t *testing.T) {
	ref := func() drift.Set {
		r := rand.New(rand.NewPCG(9, 1))
		s := sketch.NewNumeric()
		v, _ := sketch.NewVector(0, 0)
		for range 5000 {
			s.Add(r.NormFloat64())
			v.Add([]float32{0.6, 0.8})
		}
		return drift.Set{
			Features:   map[string]drift.FeatureSketch{"x": {Sketch: s, Norm: drift.Normalization{Kind: drift.ScalerNone}}},
			Embeddings: map[string]drift.EmbeddingSketch{"q": {Sketch: v, Norm: drift.EmbeddingL2}},
		}
	}
	c := &collect{}
	e, _ := newEngine(t, testOptions(), baselines{"m/v1": ref}, nil, c)
	_, _, ok := e.Horizon("m", "v1")
	require.False(t, ok, "not tracked yet")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(3, 4))
	// 3 minutes of 10 events a second, x ~ N(10, 2), half the vectors
	// with norm 5: windows 0 and 1 close, 2 stays open.
	var sum float64
	var n int
	for i := range 1800 {
		x := 10 + 2*r.NormFloat64()
		ev := event(t0.Add(time.Duration(i)*100*time.Millisecond), "m", "v1", "x", x)
		vec := []float32{0.6, 0.8}
		if i%2 == 1 {
			vec = []float32{3, 4}
		}
		ev.Embeddings = []stream.EmbeddingValue{{Name: "q", Values: vec}}
		p.Apply(int64(i), ev)
		if i < 1200 {
			sum += x
			n++
		}
	}
	require.Eventually(t, func() bool { return len(c.all()) == 2 }, 5*time.Second, 5*time.Millisecond)
	last := c.all()[1]
	require.Len(t, last.Features, 1)
	f := last.Features[0]
	require.Equal(t, "x", f.Name)
	require.Equal(t, uint64(1200), f.Cur.Count)
	require.InDelta(t, sum, f.Cur.Sum, 1e-6*math.Abs(sum))
	require.InDelta(t, 2, f.Cur.StdDev, 0.2)
	require.Len(t, f.Cur.Quantiles, len(StatQuantiles))
	require.InDelta(t, 10, f.Cur.Quantiles[3], 0.3) // the median
	require.InDelta(t, 0, f.Ref.Quantiles[3], 0.1)
	require.Equal(t, uint64(5000), f.Ref.Count)
	require.IsIncreasing(t, f.Cur.Quantiles)

	require.Len(t, last.Embeddings, 1)
	em := last.Embeddings[0]
	require.Equal(t, uint64(1200), em.Cur.Count)
	require.InDelta(t, 600*1+600*5, em.Cur.Sum, 1e-3) // float32 norms
	require.InDelta(t, 1, em.Ref.Quantiles[3], 1e-6)
	require.Len(t, em.Edges, NormHistogramBins+1)
	var cs, rs float64
	for i := range em.CurShare {
		cs += em.CurShare[i]
		rs += em.RefShare[i]
	}
	require.InDelta(t, 1, cs, 1e-9)
	require.InDelta(t, 1, rs, 1e-9)

	set, info, ok := e.Horizon("m", "v1")
	require.True(t, ok)
	require.Equal(t, t0.Add(2*time.Minute), info.End)
	require.Equal(t, t0, info.Start)
	require.Equal(t, uint64(1200), info.Events)
	require.Equal(t, "id-m-v1", info.BaselineID)
	require.Equal(t, uint64(1200), set.Features["x"].Sketch.Count())
	require.InDelta(t, f.Cur.Mean, set.Features["x"].Sketch.Mean(), 1e-9)
	require.Equal(t, uint64(1200), set.Embeddings["q"].Sketch.Count())
	// The copy is the caller's: changing it leaves the engine's alone.
	set.Features["x"].Sketch.Add(1e9)
	again, _, _ := e.Horizon("m", "v1")
	require.Equal(t, uint64(1200), again.Features["x"].Sketch.Count())
	_, _, ok = e.Horizon("m", "v9")
	require.False(t, ok)
	e.Stop()
	require.NoError(t, <-done)
}

// Unit norms, off 1 only by float32 rounding, are one spike at 1 in the
// status page's norm histogram, over bins at least ±5% around 1, not a
// bell over the rounding; norms that spread keep their own range.
func TestNormHistogramUnitNorms(t *testing.T) {
	unit, spread := sketch.NewNumeric(), sketch.NewNumeric()
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		v := []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())}
		var ss float32
		for _, x := range v {
			ss += x * x
		}
		n := float32(math.Sqrt(float64(ss)))
		var nn float64
		for _, x := range v {
			nn += float64(x/n) * float64(x/n)
		}
		unit.Add(math.Sqrt(nn))
		spread.Add(5 + r.NormFloat64())
	}
	um, ud := momentsOf(unit)
	edges, cur, ref := normHistogram(um, um, ud, ud)
	require.Len(t, edges, NormHistogramBins+1)
	require.LessOrEqual(t, edges[0], 0.95)
	require.GreaterOrEqual(t, edges[len(edges)-1], 1.05)
	for _, sh := range [][]float64{cur, ref} {
		top := 0.0
		for _, v := range sh {
			top = math.Max(top, v)
		}
		require.Greater(t, top, 0.99, "one bin holds the unit norms")
	}
	sm, sd := momentsOf(spread)
	edges, _, _ = normHistogram(sm, sm, sd, sd)
	require.InDelta(t, sm.Quantiles[0]-0.05*(sm.Quantiles[len(sm.Quantiles)-1]-sm.Quantiles[0]), edges[0], 1e-9, "a spread keeps the 1st to 99th percentile, padded by 5%")
}
