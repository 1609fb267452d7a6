package engine

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

func unit(r *rand.Rand, dim int, norm float64) []float32 {
	v := make([]float32, dim)
	var ss float64
	x := make([]float64, dim)
	for j := range x {
		x[j] = r.NormFloat64()
		ss += x[j] * x[j]
	}
	for j := range v {
		v[j] = float32(norm * x[j] / math.Sqrt(ss))
	}
	return v
}

// retrievalEvent is an event with a query embedding, 4 documents near it
// and a "hidden" activation field (LayerNorm-like unless rms).
func retrievalEvent(r *rand.Rand, ts time.Time, version string, qnorm float64, rms bool) *stream.Event {
	ev := event(ts, "search", version)
	q := unit(r, 16, 1)
	rt := stream.Retrieval{Present: true, Query: "query", Metric: sketch.MetricL2, Dim: 16}
	for range 4 {
		d := make([]float32, 16)
		noise := unit(r, 16, 1)
		w := r.Float64()
		for j := range d {
			d[j] = float32(w)*q[j] + float32(1-w)*noise[j]
		}
		var ss float64
		for _, x := range d {
			ss += float64(x) * float64(x)
		}
		for j := range d {
			d[j] = float32(float64(d[j]) / math.Sqrt(ss))
		}
		rt.Docs = append(rt.Docs, d...)
		rt.NDocs++
	}
	for j := range q {
		q[j] *= float32(qnorm)
	}
	h := make([]float32, 16)
	scale, shift := math.Exp(0.4*r.NormFloat64()), r.NormFloat64()
	var sum, sq float64
	for j := range h {
		h[j] = float32(scale*r.NormFloat64() + shift)
		sum += float64(h[j])
		sq += float64(h[j]) * float64(h[j])
	}
	mean, rmsv := sum/16, math.Sqrt(sq/16)
	std := math.Sqrt(sq/16 - mean*mean)
	for j := range h {
		if rms {
			h[j] = float32(float64(h[j]) / rmsv)
		} else {
			h[j] = float32((float64(h[j]) - mean) / std)
		}
	}
	ev.Embeddings = []stream.EmbeddingValue{{Name: "query", Values: q}, {Name: "hidden", Values: h}}
	ev.Retrieval = rt
	return ev
}

// TestSignalsCheckpointRoundTrip: the similarity and activation sketches
// survive a checkpoint and restore exactly, and a restored engine goes on
// as the one that was not restarted.
func TestSignalsCheckpointRoundTrip(t *testing.T) {
	opts := testOptions()
	opts.Activations = []string{"hid*"}
	store := newMemStore()
	a, _ := newEngine(t, opts, nil, store)
	pa := open(t, a, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		require.NoError(t, pa.Apply(int64(i), retrievalEvent(r, t0.Add(time.Duration(i)*time.Second), "v1", 1, false)))
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

	pv := pb.versions[vkey{"search", "v1"}]
	require.NotNil(t, pv)
	var scores, acts uint64
	for _, w := range append([]*window{pv.cum}, pv.open...) {
		idx := pv.embs["query"]
		if int(idx) < len(w.sim) && w.sim[idx] != nil {
			scores += w.sim[idx].Scores().Count()
		}
		if h := pv.embs["hidden"]; int(h) < len(w.act) && w.act[h] != nil {
			acts += w.act[h].Count()
		}
	}
	require.Equal(t, uint64(300*4), scores, "one score per document")
	require.Equal(t, uint64(300), acts, "one profile entry per hidden vector")
}

// TestSignalsEvaluated: against a baseline of healthy retrievals and
// LayerNorm activations, a version whose queries lost their normalization
// is named similarity_compressed on query, and one whose layer became
// RMSNorm activation_norm_change on hidden; a healthy one is ok.
func TestSignalsEvaluated(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ref := func() drift.Set {
		rr := rand.New(rand.NewPCG(7, 8))
		s := sketch.NewSimilarity()
		act := sketch.NewActivation()
		for range 2000 {
			ev := retrievalEvent(rr, t0, "x", 1, false)
			s.AddRetrieval(ev.QueryVector(), ev.Retrieval.Docs, ev.Retrieval.Dim, nil, ev.Retrieval.Metric)
			act.Add(ev.Embeddings[1].Values)
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{}, Embeddings: map[string]drift.EmbeddingSketch{
			"query":  {Similarity: s},
			"hidden": {Activation: act, ActivationNorm: drift.FitActivation(act).Fit},
		}}
	}
	opts := testOptions()
	opts.Activations = []string{"hidden"}
	bl := baselines{"search/healthy": ref, "search/noquerynorm": ref, "search/rmsnorm": ref}
	e, _ := newEngine(t, opts, bl, nil)
	p := open(t, e, 0)
	off := int64(0)
	for _, v := range []struct {
		version string
		qnorm   float64
		rms     bool
	}{{"healthy", 1, false}, {"noquerynorm", 7, false}, {"rmsnorm", 1, true}} {
		for i := range 200 {
			require.NoError(t, p.Apply(off, retrievalEvent(r, t0.Add(time.Duration(i)*250*time.Millisecond), v.version, v.qnorm, v.rms)))
			off++
		}
	}
	closeAll(p)
	e.ev.process()
	got := map[string]map[string]drift.EmbeddingReport{}
	for _, ev := range e.Latest() {
		got[ev.Version] = map[string]drift.EmbeddingReport{}
		for _, er := range ev.Report.Embeddings {
			got[ev.Version][er.Name] = er
		}
	}
	require.Equal(t, drift.OK, got["healthy"]["query"].Diagnosis, got["healthy"]["query"].Summary)
	require.Equal(t, drift.OK, got["healthy"]["hidden"].Diagnosis, got["healthy"]["hidden"].Summary)
	require.Equal(t, drift.SimilarityCompressed, got["noquerynorm"]["query"].Diagnosis)
	require.Contains(t, got["noquerynorm"]["query"].Summary, "missing on the query side")
	require.Equal(t, drift.ActivationNormChange, got["rmsnorm"]["hidden"].Diagnosis, got["rmsnorm"]["hidden"].Summary)
}

// TestActivationsAgainstPreviousVersion: without baselines, a version is
// compared with the previous version's production cohort, activation
// profile included: v2's RMSNorm against v1's LayerNorm is named.
func TestActivationsAgainstPreviousVersion(t *testing.T) {
	opts := testOptions()
	opts.Activations = []string{"hidden"}
	opts.Fallback = FallbackPreviousVersion
	e, _ := newEngine(t, opts, nil, nil)
	p := open(t, e, 0)
	r := rand.New(rand.NewPCG(9, 10))
	off := int64(0)
	apply := func(version string, rms bool, from, to int) {
		for i := from; i < to; i++ {
			require.NoError(t, p.Apply(off, retrievalEvent(r, t0.Add(time.Duration(i)*250*time.Millisecond), version, 1, rms)))
			off++
		}
	}
	apply("v1", false, 0, 400) // 100 s: window 0 closes
	closeAll(p)
	e.ev.process()
	apply("v2", true, 400, 700)
	closeAll(p)
	e.ev.process()
	var got *Evaluation
	for _, ev := range e.Latest() {
		if ev.Version == "v2" {
			got = &ev
		}
	}
	require.NotNil(t, got)
	require.Equal(t, FallbackPreviousVersion+":v1", got.Fallback)
	for _, er := range got.Report.Embeddings {
		if er.Name == "hidden" {
			require.Equal(t, drift.ActivationNormChange, er.Diagnosis, er.Summary)
			require.Equal(t, drift.ActLayerNorm, er.Activation.Reference.Fit)
			return
		}
	}
	t.Fatal("no report of hidden")
}
