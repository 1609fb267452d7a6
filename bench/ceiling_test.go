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
	// No idle flush: the scrapes measured are the scrapes alone, with no
	// evaluation of the last window under way beside them.
	opts.IdleFlush = false
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
	// Every closed window evaluated (windows 0 to 5; the seventh is open):
	// the evaluator idle, as between two window closes.
	last := t0.Add(5 * time.Minute)
	for {
		l := e.Latest()
		done := len(l) == versions
		for _, ev := range l {
			done = done && !ev.WindowStart.Before(last)
		}
		if done {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	src := export.SourceFunc(func() []export.Snapshot {
		var out []export.Snapshot
		for _, l := range e.Latest() {
			out = append(out, export.Snapshot{Model: l.Model, Version: l.Version, Report: l.Report, Features: l.Features, Embeddings: l.Embeddings, EvaluatedAt: l.EvaluatedAt})
		}
		return out
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	// The daemon's registry and default (every quantile level), then
	// collectors alone with fewer quantile series (metrics.quantiles): the
	// dashboards' three levels, and none.
	reg.MustRegister(export.NewCollector(src))
	variants := []struct {
		name      string
		quantiles []float64
	}{{"quantiles=all", nil}, {"quantiles=0.05,0.5,0.95", []float64{0.05, 0.5, 0.95}}, {"quantiles=none", []float64{}}}
	for _, v := range variants {
		g := prometheus.Gatherer(reg)
		if v.quantiles != nil {
			vreg := prometheus.NewRegistry()
			vreg.MustRegister(export.NewCollectorWithOptions(src, export.CollectorOptions{Quantiles: v.quantiles}))
			g = vreg
		}
		b.Run(v.name, func(b *testing.B) {
			series, size, cpu := scrapes(b, g)
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(size), "scrape_bytes")
			b.ReportMetric(heap, "heap_MiB")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/scrape")
			fmt.Printf("tracked features %d, %s: %d series, %d bytes of /metrics, %.0f MiB of heap\n", versions*features, v.name, series, size, heap)
		})
	}
	e.Stop()
	<-done
}

// scrapes gathers and renders g's metrics as text b.N times, and returns
// the series and bytes of one scrape and the process's CPU time in all.
func scrapes(b *testing.B, g prometheus.Gatherer) (series, size int, cpu time.Duration) {
	var buf bytes.Buffer
	// CPU time beside wall time: on a shared machine the wall time of a
	// scrape is mostly waiting for a core.
	cpu0 := cpuTime()
	for b.Loop() {
		buf.Reset()
		mfs, err := g.Gather()
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
	return series, buf.Len(), cpuTime() - cpu0
}
