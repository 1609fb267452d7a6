package engine

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/stream"
)

// benchEvents returns n decoded events of 20 features (names shared, as the
// decoder interns them) and, with dim > 0, one embedding, 1 ms apart: a
// window closes every 60,000 events, and its cost is in the figures.
func benchEvents(n, dim int) []*stream.Event {
	r := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 20)
	for i := range names {
		names[i] = "feature_" + strconv.Itoa(i)
	}
	evs := make([]*stream.Event, n)
	for i := range evs {
		ev := &stream.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), TimeSource: stream.TimePayload, Model: "ranker", Version: "v4"}
		for _, name := range names {
			ev.Features = append(ev.Features, stream.FeatureValue{Name: name, Value: r.NormFloat64()})
		}
		if dim > 0 {
			v := make([]float32, dim)
			for k := range v {
				v[k] = float32(r.NormFloat64() / 20)
			}
			ev.Embeddings = []stream.EmbeddingValue{{Name: "query", Values: v}}
		}
		evs[i] = ev
	}
	return evs
}

func benchApply(b *testing.B, dim int) {
	evs := benchEvents(4096, dim)
	e, _ := newEngine(b, testOptions(), nil, nil)
	p := open(b, e, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		p.Apply(int64(i), ev)
		if i%(1<<16) == 0 {
			e.ev.process() // drain the evaluator's queue as Run would
		}
	}
}

func BenchmarkApply20Features(b *testing.B)             { benchApply(b, 0) }
func BenchmarkApply20FeaturesEmbedding384(b *testing.B) { benchApply(b, 384) }
