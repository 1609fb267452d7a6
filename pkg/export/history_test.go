package export

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/stretchr/testify/require"
)

func eval(version string, end time.Time, feats map[string]drift.Diagnosis, unit float64) engine.Evaluation {
	e := engine.Evaluation{Model: "m", Version: version, WindowEnd: end, EvaluatedAt: end.Add(time.Second)}
	for _, name := range []string{"a", "b", "c"} {
		if d, ok := feats[name]; ok {
			sev := drift.SeverityOK
			if d != drift.OK {
				sev = drift.Critical
			}
			e.Report.Features = append(e.Report.Features, drift.FeatureReport{Name: name, Diagnosis: d, Severity: sev})
		}
	}
	e.Report.Embeddings = []drift.EmbeddingReport{{Name: "a", Diagnosis: drift.OK, UnitNormRatio: unit, RefUnitNormRatio: 1}}
	return e
}

// The ring keeps the last Size evaluations in order, with each series'
// diagnosis where the evaluation had it; a re-evaluation of a window
// replaces it, an older one is ignored; a series absent from the whole
// ring is forgotten; a retired version's history goes.
func TestHistoryRing(t *testing.T) {
	h := NewHistory(3)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	h.Publish(eval("v1", at(1), map[string]drift.Diagnosis{"a": drift.OK, "b": drift.OK}, 0.1))
	h.Publish(eval("v1", at(2), map[string]drift.Diagnosis{"a": drift.UnscaledInput}, 0.2))
	h.Publish(eval("v1", at(2), map[string]drift.Diagnosis{"a": drift.Shift}, 0.25)) // the same window again
	h.Publish(eval("v1", at(0), map[string]drift.Diagnosis{"a": drift.OK}, 0.9))     // older: ignored
	h.Publish(eval("v1", at(3), map[string]drift.Diagnosis{"a": drift.Shift, "c": drift.OK}, 0.3))

	a := h.Points("m", "v1", "a", false)
	require.Len(t, a, 3)
	for i, want := range []drift.Diagnosis{drift.OK, drift.Shift, drift.Shift} {
		require.Equal(t, at(i+1), a[i].WindowEnd)
		require.Equal(t, at(i+1).Add(time.Second), a[i].EvaluatedAt)
		require.True(t, a[i].Present)
		require.Equal(t, want, a[i].Diagnosis)
	}
	require.Equal(t, drift.Critical, a[2].Severity)
	b := h.Points("m", "v1", "b", false)
	require.Equal(t, []bool{true, false, false}, []bool{b[0].Present, b[1].Present, b[2].Present})
	c := h.Points("m", "v1", "c", false)
	require.Equal(t, []bool{false, false, true}, []bool{c[0].Present, c[1].Present, c[2].Present})
	emb := h.Points("m", "v1", "a", true)
	require.InDeltaSlice(t, []float64{0.1, 0.25, 0.3}, []float64{emb[0].UnitNormRatio, emb[1].UnitNormRatio, emb[2].UnitNormRatio}, 1e-6)
	require.Equal(t, 1.0, emb[2].RefUnitNormRatio)
	require.Nil(t, h.Points("m", "v1", "zzz", false))
	require.Nil(t, h.Points("m", "v2", "a", false))

	// Two more windows without b: the ring no longer holds b at all.
	h.Publish(eval("v1", at(4), map[string]drift.Diagnosis{"a": drift.OK}, 1))
	a = h.Points("m", "v1", "a", false)
	require.Equal(t, at(2), a[0].WindowEnd, "the oldest left the ring")
	require.Nil(t, h.Points("m", "v1", "b", false), "b is in no evaluation the ring holds")
	require.Len(t, h.Points("m", "v1", "c", false), 3)

	h.Lifecycle(engine.Lifecycle{Model: "m", Version: "v1", State: engine.StateStale})
	require.Len(t, h.Points("m", "v1", "a", false), 3, "a stale version keeps its history")
	h.Lifecycle(engine.Lifecycle{Model: "m", Version: "v1", State: engine.StateRetired})
	require.Nil(t, h.Points("m", "v1", "a", false))
}

var _ engine.LifecycleSink = (*History)(nil)

// The engine's sink goroutine publishes while pages read: under -race
// (scripts/test.sh runs this package so) any unguarded access shows.
func TestHistoryConcurrent(t *testing.T) {
	h := NewHistory(5)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			h.Publish(eval("v1", t0.Add(time.Duration(i)*time.Minute), map[string]drift.Diagnosis{"a": drift.OK}, 1))
			if i%50 == 0 {
				h.Lifecycle(engine.Lifecycle{Model: "m", Version: "v1", State: engine.StateStale})
			}
		}
	}()
	for range 200 {
		pts := h.Points("m", "v1", "a", false)
		require.LessOrEqual(t, len(pts), 5)
		for i := 1; i < len(pts); i++ {
			require.True(t, pts[i].WindowEnd.After(pts[i-1].WindowEnd), "oldest first")
		}
	}
	<-done
	require.Len(t, h.Points("m", "v1", "a", false), 5)
}

// The strip's cells and tooltips: the change is marked where the
// diagnosis changed, with its window; an evaluation without the series
// is a blank cell; "since" names the last change.
func TestStrip(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := func(i int, d drift.Diagnosis, sev drift.Severity) HistoryPoint {
		return HistoryPoint{WindowEnd: t0.Add(time.Duration(i) * time.Minute), EvaluatedAt: t0.Add(time.Duration(i)*time.Minute + 2*time.Second), Present: true, Diagnosis: d, Severity: sev}
	}
	pts := []HistoryPoint{
		pt(1, drift.OK, drift.SeverityOK), pt(2, drift.OK, drift.SeverityOK),
		pt(3, drift.Shift, drift.Warning), {WindowEnd: t0.Add(4 * time.Minute)},
		pt(5, drift.UnscaledInput, drift.Critical), pt(6, drift.InsufficientData, drift.SeverityOK),
	}
	s := newStrip(pts, 8, 4, 10)
	require.Equal(t, 32, s.W)
	type run struct {
		x, w, count int
		class       string
		change      bool
	}
	var runs []run
	for _, c := range s.Cells {
		runs = append(runs, run{c.X, c.W, c.Count, c.Class, c.Change})
	}
	require.Equal(t, []run{
		{8, 8, 2, "c-ok", false}, // right-aligned: two empty slots on the left; the two ok windows are one run
		{16, 4, 1, "c-warn", true},
		{20, 4, 1, "c-none", false},
		{24, 4, 1, "c-crit", true},
		{28, 4, 1, "c-idle", true},
	}, runs)
	require.Equal(t, "ok (ok): 2 windows ending 2026-11-25 10:01:00Z to 10:02:00", s.Cells[0].Title)
	require.Equal(t, "changed to shift (warning) from ok at the window ending 2026-11-25 10:03:00Z (evaluated 10:03:02); the window ending 2026-11-25 10:03:00Z", s.Cells[1].Title)
	require.Equal(t, "not in the evaluation of the window ending 2026-11-25 10:04:00Z", s.Cells[2].Title)
	require.Contains(t, s.Cells[3].Title, "from shift at the window ending 2026-11-25 10:05:00Z", "a gap does not hide the change")
	require.Equal(t, "insufficient_data since the window ending 10:06:00", s.Since)
	require.Nil(t, newStrip(nil, 8, 4, 10))
	steady := newStrip(pts[:2], 8, 4, 10)
	require.Equal(t, "ok over all 2 evaluations kept", steady.Since)

	// One diagnosis whose severity eases from critical to warning (a
	// healed bug still in part of the horizon): two runs, each its
	// colour, the second marked; "since" is still the diagnosis's start.
	easing := newStrip([]HistoryPoint{
		pt(1, drift.OK, drift.SeverityOK),
		pt(2, drift.EmbeddingMixedNorms, drift.Critical), pt(3, drift.EmbeddingMixedNorms, drift.Critical),
		pt(4, drift.EmbeddingMixedNorms, drift.Warning),
	}, 4, 4, 10)
	runs = nil
	for _, c := range easing.Cells {
		runs = append(runs, run{c.X, c.W, c.Count, c.Class, c.Change})
	}
	require.Equal(t, []run{{0, 4, 1, "c-ok", false}, {4, 8, 2, "c-crit", true}, {12, 4, 1, "c-warn", true}}, runs)
	require.Equal(t, "embedding_mixed_norms went from critical to warning at the window ending 2026-11-25 10:04:00Z (evaluated 10:04:02); the window ending 2026-11-25 10:04:00Z", easing.Cells[2].Title)
	require.Equal(t, "embedding_mixed_norms since the window ending 10:02:00", easing.Since)
}

// Without sketches the detail view draws the Q–Q plot from the
// evaluation's seven quantiles, says so, and has no histogram; the fit
// line is the report's.
func TestDetailWithoutSketches(t *testing.T) {
	p := newDetail([]Snapshot{snapshot()}, "ranker", "v4", "income", false, time.Now(), StatusOptions{})
	require.True(t, p.Found)
	require.Equal(t, drift.UnscaledInput, p.Diagnosis)
	require.Len(t, p.Charts, 1)
	qq := p.Charts[0]
	require.Equal(t, "qq", qq.ID)
	require.Len(t, qq.Dots, len(engine.StatQuantiles))
	var fit *chartLine
	for i, l := range qq.Lines {
		if l.Class == "fit" {
			fit = &qq.Lines[i]
		}
	}
	require.NotNil(t, fit)
	require.Equal(t, []dataAttr{{"line", "fit"}, {"slope", "18300"}, {"intercept", "52100"}}, fit.Data)
	require.Equal(t, "fit", qq.Lines[0].Class, "the fit is drawn first, under the scaler's lines")
	// The line production = training is on the chart although every dot
	// is thousands above it: the y axis reaches down to the baseline's
	// values, and the dots stand far above the green line.
	require.Equal(t, "expect", qq.Lines[1].Class)
	require.NotContains(t, qq.Legend[0].Label, "outside the plotted range")
	var x1, y1, x2, y2 float64
	_, err := fmt.Sscanf(qq.Lines[1].Points, "%f,%f %f,%f", &x1, &y1, &x2, &y2)
	require.NoError(t, err)
	bottom := float64(qq.Bottom)
	require.InDelta(t, y1, y2, 0.01*float64(qq.FrameH), "flat at this scale")
	require.InDelta(t, bottom, y1, 0.05*float64(qq.FrameH), "at the bottom of the frame")
	for _, d := range qq.Dots[1 : len(qq.Dots)-1] {
		require.Less(t, d.Y, bottom-0.2*float64(qq.FrameH), "dot %s far above the expected line", d.DY)
	}
	require.Len(t, p.Notes, 1)
	require.Contains(t, p.Notes[0], "seven quantiles")
	require.Equal(t, "none declared", p.Scaler, "the scaler comes with the baseline's sketches")

	age := newDetail([]Snapshot{snapshot()}, "ranker", "v4", "age", false, time.Now(), StatusOptions{})
	require.True(t, age.Found)
	require.Empty(t, age.Charts, "no reference quantiles: no Q–Q plot")
	require.False(t, newDetail([]Snapshot{snapshot()}, "ranker", "v9", "income", false, time.Now(), StatusOptions{}).Found)
}

// The skipped-scaler line of every kind is the inverse of the scaler as
// drift applies it: raw = slope·normalized + intercept.
func TestSkippedLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    drift.Normalization
		ok   bool
	}{
		{name: "zscore", n: drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300}, ok: true},
		{name: "minmax onto [-1, 1], clipped", n: drift.Normalization{Kind: drift.ScalerMinMax, Min: 18, Max: 90, Range: [2]float64{-1, 1}, Clip: true}, ok: true},
		{name: "robust", n: drift.Normalization{Kind: drift.ScalerRobust, Median: 3, IQR: 4}, ok: true},
		{name: "scale", n: drift.Normalization{Kind: drift.ScalerScale, Scale: 1000}, ok: true},
		{name: "center", n: drift.Normalization{Kind: drift.ScalerCenter, Center: 7}, ok: true},
		{name: "maxabs", n: drift.Normalization{Kind: drift.ScalerMaxAbs, MaxAbs: 250}, ok: true},
		{name: "none", n: drift.Normalization{Kind: drift.ScalerNone}, ok: false},
		{name: "invalid", n: drift.Normalization{Kind: drift.ScalerZScore, Std: -1}, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, ok := skippedLine(tc.n)
			require.Equal(t, tc.ok, ok)
			if !ok {
				require.Equal(t, "none declared", describeScaler(tc.n))
				return
			}
			lo, hi := 0.0, 100.0
			if tc.n.Kind == drift.ScalerMinMax {
				lo, hi = tc.n.Min, tc.n.Max
			}
			for _, raw := range []float64{lo, (lo + hi) / 2, hi} {
				require.InDelta(t, raw, a*tc.n.Apply(raw)+b, 1e-9*math.Max(1, math.Abs(raw)))
			}
			require.NotEqual(t, "none declared", describeScaler(tc.n))
		})
	}
	require.Equal(t, "min-max (min 18, max 90, onto [-1, 1], clipped)", describeScaler(drift.Normalization{Kind: drift.ScalerMinMax, Min: 18, Max: 90, Range: [2]float64{-1, 1}, Clip: true}))
	require.Equal(t, "maxabs (normalized = (raw − 0) / 250)", describeScaler(drift.Normalization{Kind: drift.ScalerMaxAbs, MaxAbs: 250}))
	a, b, _ := skippedLine(drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300})
	require.Equal(t, [2]float64{18300, 52100}, [2]float64{a, b}, "the declared parameters, not their rounding")
}

// The unit-norm chart's time axis has round ticks at any span: every 15 s
// over the demo's 80 s of 10 s windows (one tick at the only whole minute
// before), every 2 minutes over 10 minutes, every hour over 5 hours.
func TestTimeAxis(t *testing.T) {
	lo := time.Date(2026, 12, 2, 14, 23, 10, 0, time.UTC)
	for _, tc := range []struct {
		span time.Duration
		want []string
	}{
		{80 * time.Second, []string{"14:23:15", "14:23:30", "14:23:45", "14:24:00", "14:24:15", "14:24:30"}},
		{10 * time.Minute, []string{"14:24:00", "14:26:00", "14:28:00", "14:30:00", "14:32:00"}},
		{5 * time.Hour, []string{"15:00:00", "16:00:00", "17:00:00", "18:00:00", "19:00:00"}},
	} {
		hi := lo.Add(tc.span)
		c := newChart("unit", "", "", "")
		sx, _ := c.scales(float64(lo.UnixNano()), float64(hi.UnixNano()), 0, 1)
		c.timeAxis(sx, lo, hi)
		var got []string
		for _, tk := range c.XTicks {
			got = append(got, tk.Label)
			require.GreaterOrEqual(t, tk.Pos, float64(c.Left)-1e-9)
			require.LessOrEqual(t, tk.Pos, float64(c.Right)+1e-9)
		}
		require.Equal(t, tc.want, got, "span %s", tc.span)
	}
}

// An embedding whose norms already differ from the baseline's has no
// direction compared: the detail view says so instead of a centroid
// cosine of 0 (centroids at right angles) and 0% of dimensions moved.
func TestEmbeddingFiguresNotCompared(t *testing.T) {
	value := func(figs []figure, name string) string {
		for _, f := range figs {
			if f.Name == name {
				return f.Value
			}
		}
		t.Fatalf("no figure %q", name)
		return ""
	}
	mixed := embeddingFigures(drift.EmbeddingReport{Diagnosis: drift.EmbeddingMixedNorms, UnitNormRatio: 0.69})
	require.Equal(t, "– (not compared)", value(mixed, "centroid cosine"))
	require.Equal(t, "– (not compared)", value(mixed, "dimensions moved"))
	ok := embeddingFigures(drift.EmbeddingReport{Diagnosis: drift.OK, UnitNormRatio: 1, CentroidCosine: 0.99934, DimsMovedRatio: 0})
	require.Equal(t, "0.9993", value(ok, "centroid cosine"))
	require.Equal(t, "0%", value(ok, "dimensions moved"))
}

// pointMass is a distribution of values within ±2e-8 of 1: unit norms
// off 1 by float32 rounding.
type pointMass struct{}

func (pointMass) Quantile(q float64) float64 { return 1 + (q-0.5)*4e-8 }
func (pointMass) CDF(x float64) float64      { return math.Max(0, math.Min(1, (x-1)/4e-8+0.5)) }

// The detail view's norm histogram of unit norms is one spike at 1 over
// at least ±5% around it (less half a bin), not a bell over the rounding with every tick
// labelled 1.
func TestNormHistogramDetail(t *testing.T) {
	c := normHistogram(pointMass{}, pointMass{})
	for _, l := range c.Lines {
		var edges, share []float64
		for _, d := range l.Data {
			for _, f := range strings.Fields(d.Value) {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					continue
				}
				switch d.Name {
				case "edges":
					edges = append(edges, v)
				case "share":
					share = append(share, v)
				}
			}
		}
		require.Len(t, edges, histogramBins+1)
		require.LessOrEqual(t, edges[0], 0.95)
		require.GreaterOrEqual(t, edges[histogramBins], 1.045, "±5%, shifted half a bin")
		require.Greater(t, slices.Max(share), 0.99, "%s: one bin holds the unit norms", l.Class)
	}
	labels := map[string]bool{}
	for _, tk := range c.XTicks {
		require.False(t, labels[tk.Label], "tick %s twice", tk.Label)
		labels[tk.Label] = true
	}
}
