package export

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
)

// BenchmarkStatusPage renders the status page of one version with
// limits.max_series (2000) features, each with a full history of 60
// evaluations that changed diagnosis once: the page's bytes and time at
// the default ceiling (page_bytes is reported per render).
func BenchmarkStatusPage(b *testing.B) {
	const features, windows = 2000, DefaultHistoryWindows
	h := NewHistory(windows)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	snap := Snapshot{Model: "m", Version: "v1", EvaluatedAt: t0, WindowEnd: t0}
	for i := range features {
		name := fmt.Sprintf("feature_%04d", i)
		snap.Report.Features = append(snap.Report.Features, drift.FeatureReport{Name: name, Samples: 1000, Diagnosis: drift.OK,
			Summary: "no significant drift (ks 0.01, critical 0.05; psi 0.002)."})
		snap.Features = append(snap.Features, engine.FeatureDistribution{Name: name,
			Cur: engine.Moments{Count: 1000, Quantiles: []float64{-2.3, -1.6, -0.7, 0, 0.7, 1.6, 2.3}},
			Ref: engine.Moments{Count: 1000, Quantiles: []float64{-2.3, -1.6, -0.7, 0, 0.7, 1.6, 2.3}}})
	}
	for w := range windows {
		e := engine.Evaluation{Model: "m", Version: "v1", WindowEnd: t0.Add(time.Duration(w) * time.Minute), EvaluatedAt: t0}
		for _, f := range snap.Report.Features {
			if w >= windows/2 {
				f.Diagnosis, f.Severity = drift.Shift, drift.Warning
			}
			e.Report.Features = append(e.Report.Features, f)
		}
		h.Publish(e)
	}
	snaps := []Snapshot{snap}
	o := StatusOptions{History: h, Refresh: 10 * time.Second}
	var n countWriter
	b.ReportAllocs()
	for b.Loop() {
		n = 0
		if err := statusPage.Execute(&n, newPage(snaps, t0, o)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "page_bytes")
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
