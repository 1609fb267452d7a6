package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/export"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

type fixedBaselines map[string]drift.Set

func (b fixedBaselines) Lookup(model, version string) (drift.Set, string, bool) {
	s, ok := b[model+"/"+version]
	return s, "id", ok
}

// BenchmarkDefaultCeiling fills the default limits' global series budget
// (limits.max_series: 2000 features over two versions, each with a
// baseline) and reports what a scrape of /metrics costs: series, bytes and
// the heap the engine holds over a full horizon.
func BenchmarkDefaultCeiling(b *testing.B) { ceiling(b, 2, 1000, 0) }

// BenchmarkScrape1000x5: the scrape of 1,000 features × 5 versions (the
// global series budget raised to hold them), issue 14's case.
func BenchmarkScrape1000x5(b *testing.B) { ceiling(b, 5, 1000, 5000) }

func ceiling(b *testing.B, versions, features, maxSeries int) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	bls := fixedBaselines{}
	r := rand.New(rand.NewPCG(1, 2))
	for v := range versions {
		set := drift.Set{Features: map[string]drift.FeatureSketch{}}
		for f := range features {
			n := sketch.NewNumeric()
			for range 2000 {
				n.Add(r.NormFloat64())
			}
			set.Features["f"+strconv.Itoa(f)] = drift.FeatureSketch{Sketch: n}
		}
		bls["m/v"+strconv.Itoa(v)] = set
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	reg := prometheus.NewRegistry()
	opts := engine.DefaultOptions()
	opts.Limits.MaxVersionsPerModel = max(versions, 5)
	opts.Limits.MaxSeries = maxSeries
	e, err := engine.New(opts, bls, nopStore{}, reg)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := e.OpenPartition("events", 0)
	ev := &stream.Event{Model: "m", TimeSource: stream.TimePayload}
	ev.Features = make([]stream.FeatureValue, features)
	for f := range features {
		ev.Features[f].Name = "f" + strconv.Itoa(f)
	}
	off := int64(0)
	for w := range 7 { // five windows of horizon, closed by the sixth and seventh
		for i := range 300 {
			for v := range versions {
				ev.Version = "v" + strconv.Itoa(v)
				ev.Time = t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*100*time.Millisecond)
				for f := range features {
					ev.Features[f].Value = r.NormFloat64()
				}
				_ = p.Apply(off, ev)
				off++
			}
		}
	}
	done := make(chan struct{})
	go func() { _ = e.Run(b.Context()); close(done) }()
	for len(e.Latest()) < versions {
		time.Sleep(10 * time.Millisecond)
	}
	src := export.SourceFunc(func() []export.Snapshot {
		var out []export.Snapshot
		for _, l := range e.Latest() {
			out = append(out, export.Snapshot{Model: l.Model, Version: l.Version, Report: l.Report, Features: l.Features, Embeddings: l.Embeddings, EvaluatedAt: l.EvaluatedAt})
		}
		return out
	})
	reg.MustRegister(export.NewCollector(src))
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	var buf bytes.Buffer
	series := 0
	b.ResetTimer()
	for range b.N {
		buf.Reset()
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		series = 0
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			series += len(mf.GetMetric())
			if mf.GetType() == 2 || mf.GetType() == 4 { // summaries: quantiles, _sum, _count
				series += len(mf.GetMetric()) * (len(mf.GetMetric()[0].GetSummary().GetQuantile()) + 1)
			}
			_ = enc.Encode(mf)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(buf.Len()), "scrape_bytes")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap_MiB")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
	fmt.Printf("tracked features %d: %d series, %d bytes of /metrics, %.0f MiB of heap\n", versions*features, series, buf.Len(), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	e.Stop()
	<-done
}
