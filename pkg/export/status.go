package export

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
)

// Plot geometry of the status page's inline SVGs, in pixels.
const (
	plotW, plotH = 280, 100
	plotPad      = 6
	plotLeft     = 44 // room for the y axis labels
	plotBottom   = 14 // room for the x axis labels
)

// StatusOptions configures the status page and its detail views.
type StatusOptions struct {
	// Refresh is how often an open page fetches itself again and swaps
	// its content in place, keeping the scroll position; 0 never.
	Refresh time.Duration
	// History, if set, gives the history strips and the unit-norm
	// charts; it must also be a sink of the engine's evaluations.
	History *History
	// Sketches, if set, gives the sketches behind a version's latest
	// evaluation, for the detail view's finer plots (99 quantiles and
	// histograms instead of the evaluation's seven quantiles).
	Sketches SketchFunc
	// Intake, if set, says where events go and which baselines are
	// loaded: the empty state's instructions.
	Intake func() Intake
	// Gates, if set, gives the candidates' gate answers: a row each.
	Gates GateFunc
}

// Intake is what the empty state tells a newcomer: the baselines loaded
// and where to send events.
type Intake struct {
	Brokers   []string
	Topics    []string
	Embedded  bool // the brokers are the embedded broker's
	Baselines []BaselineInfo
}

// BaselineInfo is one loaded baseline.
type BaselineInfo struct {
	Model, Version string
	ID             string
	Created        time.Time
	Features       []string
	Embeddings     []string
	// Dims are the embeddings' dimensions, by name.
	Dims map[string]int
}

// page is what the status page template renders.
type page struct {
	Generated time.Time
	Refresh   int64 // milliseconds; 0: none
	Notices   []Notice
	Gates     []gateView // candidate versions
	Versions  []versionView
	Left      []Snapshot // versions retired or evicted lately
	// Filtered is set when the page shows one version (?model=&model_version=).
	Filtered bool
	Intake   *Intake
	Example  *exampleEvent
	// HistorySize is the number of evaluations a strip holds (0: no history).
	HistorySize int
}

// Notice is a problem of the daemon itself that the status page shows
// above the models: a baseline file refused, a topic missing, a stream
// whose events are all late.
type Notice struct {
	Title  string // what: "baseline refused"
	Detail string // which and why, in a sentence
}

type versionView struct {
	Snapshot
	Severity drift.Severity
	Rows     []rowView
}

// rowView is one feature or embedding of a version.
type rowView struct {
	Name      string
	Embedding bool
	Severity  drift.Severity
	Diagnosis drift.Diagnosis
	Sentence  string
	Samples   uint64
	Plot      *plot
	Strip     *strip
	// Signal is "similarity" or "activation" for the row of an
	// embedding's retrieval or activation signal (signals_status.go).
	Signal string
	Data   []template.HTMLAttr // the signal's figures, as data-* attributes
	// Outcome marks the row of an outcome (Signal "outcome"), which has
	// no detail page.
	Outcome bool
}

// plot is a small SVG line plot: the reference and the current curve in
// the same axes, with the range of each axis written beside it.
type plot struct {
	Title    string // what the axes are
	Ref, Cur string // polyline points; "" for a missing side
	XLo, XHi string
	YLo, YHi string
	W, H     int
	// The frame of the plotting area, and where the axis labels go.
	Left, Right, Top, Bottom int
	FrameW, FrameH           int
	LabelY                   int
}

// Strip geometry on the status page, in pixels.
const (
	stripCellW = 4
	stripH     = 16
)

func newPage(snaps []Snapshot, now time.Time, o StatusOptions) page {
	p := page{Generated: now.UTC(), Refresh: o.Refresh.Milliseconds()}
	if o.History != nil {
		p.HistorySize = o.History.Size()
	}
	for _, s := range snaps {
		if s.State == engine.StateRetired || s.State == engine.StateEvicted || s.State == engine.StateRefused {
			p.Left = append(p.Left, s)
			continue
		}
		v := versionView{Snapshot: s, Severity: s.Report.Severity()}
		feats := map[string]engine.FeatureDistribution{}
		for _, f := range s.Features {
			feats[f.Name] = f
		}
		embs := map[string]engine.EmbeddingDistribution{}
		for _, e := range s.Embeddings {
			embs[e.Name] = e
		}
		subject := func(name string) string { return drift.Subject(name, s.Model, s.Version) }
		strip := func(name string, embedding bool) *strip {
			if o.History == nil {
				return nil
			}
			return newStrip(o.History.Points(s.Model, s.Version, name, embedding), o.History.Size(), stripCellW, stripH)
		}
		for _, f := range s.Report.Features {
			r := rowView{Name: f.Name, Severity: f.Severity, Diagnosis: f.Diagnosis, Samples: f.Samples,
				Sentence: drift.Sentence(subject(f.Name), f.Summary), Strip: strip(f.Name, false)}
			if d, ok := feats[f.Name]; ok {
				r.Plot = quantilePlot(d)
			}
			v.Rows = append(v.Rows, r)
		}
		for _, e := range s.Report.Embeddings {
			r := rowView{Name: e.Name, Embedding: true, Severity: e.Severity, Diagnosis: e.Diagnosis, Samples: e.Samples,
				Sentence: drift.Sentence(subject(e.Name), e.Summary), Strip: strip(e.Name, true)}
			if d, ok := embs[e.Name]; ok {
				r.Plot = histogramPlot(d)
			}
			v.Rows = append(v.Rows, r)
			v.Rows = append(v.Rows, signalRows(e, subject(e.Name))...)
		}
		v.Rows = append(v.Rows, outcomeRows(s.Report.Outcomes, subject)...)
		p.Versions = append(p.Versions, v)
	}
	if o.Intake != nil && len(p.Versions) == 0 {
		in := o.Intake()
		p.Intake = &in
		p.Example = newExample(in)
	}
	return p
}

// filter keeps the one version asked for, when the request names one.
func filter(snaps []Snapshot, model, version string) []Snapshot {
	var out []Snapshot
	for _, s := range snaps {
		if s.Model == model && s.Version == version {
			out = append(out, s)
		}
	}
	return out
}

// scale maps [lo, hi] onto [a, b], widening a degenerate range.
type scale struct{ lo, hi, a, b float64 }

func newScale(lo, hi, a, b float64) scale {
	if !(hi > lo) {
		d := math.Max(math.Abs(lo)*0.05, 1e-9)
		lo, hi = lo-d, hi+d
	}
	return scale{lo, hi, a, b}
}

func (s scale) at(x float64) float64 { return s.a + (x-s.lo)/(s.hi-s.lo)*(s.b-s.a) }

func points(xs, ys []float64, sx, sy scale) string {
	var b strings.Builder
	for i := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", sx.at(xs[i]), sy.at(ys[i]))
	}
	return b.String()
}

func newPlot(title string) *plot {
	return &plot{Title: title, W: plotW, H: plotH,
		Left: plotLeft, Right: plotW - plotPad, Top: plotPad, Bottom: plotH - plotBottom, LabelY: plotH - 3,
		FrameW: plotW - plotPad - plotLeft, FrameH: plotH - plotBottom - plotPad}
}

// The axes' scales onto the plotting area.
func xScale(lo, hi float64) scale { return newScale(lo, hi, plotLeft, plotW-plotPad) }
func yScale(lo, hi float64) scale { return newScale(lo, hi, plotH-plotBottom, plotPad) }

// quantilePlot draws the quantile functions of the reference and of the
// horizon: x the quantile level, y the value. A skipped scaler shows as a
// flat reference against a steep current curve; a shift as two parallel
// curves.
func quantilePlot(d engine.FeatureDistribution) *plot {
	qs := engine.StatQuantiles
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range []engine.Moments{d.Ref, d.Cur} {
		if len(m.Quantiles) == len(qs) {
			lo, hi = math.Min(lo, m.Quantiles[0]), math.Max(hi, m.Quantiles[len(qs)-1])
		}
	}
	if math.IsInf(lo, 0) {
		return nil
	}
	sx, sy := xScale(0, 1), yScale(lo, hi)
	p := newPlot("quantile level (x) against value (y)")
	if len(d.Ref.Quantiles) == len(qs) {
		p.Ref = points(qs, d.Ref.Quantiles, sx, sy)
	}
	if len(d.Cur.Quantiles) == len(qs) {
		p.Cur = points(qs, d.Cur.Quantiles, sx, sy)
	}
	p.XLo, p.XHi = "p1", "p99"
	p.YLo, p.YHi = bounds(sy.lo, sy.hi)
	return p
}

// histogramPlot draws the norm histograms of the reference and of the
// horizon as step outlines over the same bins: a mixed index shows two
// humps, an unnormalized one a hump away from 1.
func histogramPlot(d engine.EmbeddingDistribution) *plot {
	n := len(d.Edges) - 1
	if n < 1 {
		return nil
	}
	top := 0.0
	for _, sh := range [][]float64{d.CurShare, d.RefShare} {
		for _, v := range sh {
			top = math.Max(top, v)
		}
	}
	if top == 0 {
		return nil
	}
	sx, sy := xScale(d.Edges[0], d.Edges[n]), yScale(0, top)
	step := func(share []float64) string {
		if len(share) != n {
			return ""
		}
		xs := make([]float64, 0, 2*n+2)
		ys := make([]float64, 0, 2*n+2)
		xs, ys = append(xs, d.Edges[0]), append(ys, 0)
		for i, v := range share {
			xs = append(xs, d.Edges[i], d.Edges[i+1])
			ys = append(ys, v, v)
		}
		xs, ys = append(xs, d.Edges[n]), append(ys, 0)
		return points(xs, ys, sx, sy)
	}
	p := newPlot("vector L2 norm (x) against share of vectors (y)")
	p.Ref, p.Cur = step(d.RefShare), step(d.CurShare)
	p.XLo, p.XHi = bounds(d.Edges[0], d.Edges[n])
	p.YLo, p.YHi = "0", strconv.FormatFloat(100*top, 'f', 0, 64)+"%"
	return p
}

// bounds formats an axis's bounds with 3 significant digits, or more when
// 3 cannot tell them apart, short enough for the plot's margin.
func bounds(lo, hi float64) (string, string) {
	for prec := 3; ; prec++ {
		a, b := short(lo, prec), short(hi, prec)
		if a != b || prec == 8 {
			return a, b
		}
	}
}

func short(x float64, prec int) string {
	if x == 0 || math.Abs(x) >= 1e-3 && math.Abs(x) < 1e6 {
		// Rounded to prec significant digits, in plain decimals: 95800,
		// not 9.58e+04.
		r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', prec, 64), 64)
		if err == nil {
			return strconv.FormatFloat(r, 'f', -1, 64)
		}
	}
	s := strconv.FormatFloat(x, 'e', prec-1, 64) // 9.23e+04
	s = strings.Replace(s, "e+0", "e", 1)
	s = strings.Replace(s, "e+", "e", 1)
	return strings.Replace(s, "e-0", "e-", 1)
}
