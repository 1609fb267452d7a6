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

// page is what the status page template renders.
type page struct {
	Generated time.Time
	Notices   []Notice
	Versions  []versionView
	Left      []Snapshot // versions retired or evicted lately
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

func newPage(snaps []Snapshot, now time.Time) page {
	p := page{Generated: now.UTC()}
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
		for _, f := range s.Report.Features {
			r := rowView{Name: f.Name, Severity: f.Severity, Diagnosis: f.Diagnosis, Samples: f.Samples,
				Sentence: drift.Sentence(subject(f.Name), f.Summary)}
			if d, ok := feats[f.Name]; ok {
				r.Plot = quantilePlot(d)
			}
			v.Rows = append(v.Rows, r)
		}
		for _, e := range s.Report.Embeddings {
			r := rowView{Name: e.Name, Embedding: true, Severity: e.Severity, Diagnosis: e.Diagnosis, Samples: e.Samples,
				Sentence: drift.Sentence(subject(e.Name), e.Summary)}
			if d, ok := embs[e.Name]; ok {
				r.Plot = histogramPlot(d)
			}
			v.Rows = append(v.Rows, r)
		}
		p.Versions = append(p.Versions, v)
	}
	return p
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
	if x == 0 || math.Abs(x) >= 1e-3 && math.Abs(x) < 1e5 {
		return strconv.FormatFloat(x, 'g', prec, 64)
	}
	s := strconv.FormatFloat(x, 'e', prec-1, 64) // 9.23e+04
	s = strings.Replace(s, "e+0", "e", 1)
	s = strings.Replace(s, "e+", "e", 1)
	return strings.Replace(s, "e-0", "e-", 1)
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>normwatch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;background:#fff}
h1{margin:0 0 .2em}h2{margin:1.4em 0 .3em}
.meta{color:#666;font-size:90%;margin:.2em 0 .6em}
table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{font-weight:bold;text-transform:uppercase;font-size:85%}
.s0{color:#1a7f37}.s1{color:#b35900}.s2{color:#c62828}
tr.r2 td{background:#fff5f5}tr.r1 td{background:#fffaf0}
.summary{max-width:36em}
svg{display:block;background:#fff;border:1px solid #eee}
svg .frame{fill:#fafafa;stroke:#e4e4e4}
svg .ref{fill:none;stroke:#888;stroke-width:1.5;stroke-dasharray:4 3}
svg .cur{fill:none;stroke:#1f6feb;stroke-width:2}
svg .s2.cur{stroke:#c62828}svg .s1.cur{stroke:#b35900}
svg text{font-size:9px;fill:#666;font-family:sans-serif}
.legend{font-size:85%;color:#555}
.notices{border:1px solid #e0b000;background:#fffbe6;padding:.2em 1em;margin:1em 0}
.notices h2{margin:.4em 0;font-size:110%}
.legend .l-ref{border-top:2px dashed #888;display:inline-block;width:2em;vertical-align:middle}
.stale{font-size:70%;font-weight:bold;text-transform:uppercase;color:#fff;background:#888;padding:1px 6px;border-radius:3px;vertical-align:middle}
.legend .l-cur{border-top:2px solid #1f6feb;display:inline-block;width:2em;vertical-align:middle}
</style></head><body>
<h1>normwatch</h1>
<p class="meta">Drift of production features and embeddings against their training baselines. Rendered {{.Generated.Format "2006-01-02 15:04:05Z07:00"}}.
<span class="legend"><span class="l-ref"></span> baseline <span class="l-cur"></span> current horizon</span></p>
{{if .Notices}}<section class="notices"><h2>Needs attention</h2><ul>
{{range .Notices}}<li class="notice"><b>{{.Title}}</b>: {{.Detail}}</li>
{{end}}</ul></section>{{end}}
{{if not .Versions}}<p>No evaluation yet: windows close as event time passes.</p>{{end}}
{{range .Versions}}<section class="version" data-model="{{.Model}}" data-model-version="{{.Version}}">
<h2>{{.Model}} {{.Version}} <span class="sev s{{printf "%d" .Severity}}">{{.Severity}}</span>{{if eq .State "stale"}} <span class="stale">stale</span>{{end}}</h2>
{{if eq .State "stale"}}<p class="meta stale-note">No events since {{.LastEvent.Format "2006-01-02 15:04:05Z07:00"}}: these figures are old evidence, its alerts are resolved and its drift figures are not exported until events come again.</p>{{end}}
<p class="meta">baseline {{if .BaselineID}}{{.BaselineID}}{{else}}none{{end}} · window ending {{.WindowEnd.Format "2006-01-02 15:04:05Z07:00"}} · evaluated {{.EvaluatedAt.Format "2006-01-02 15:04:05Z07:00"}}</p>
{{with .Faults}}<div class="faults"><p class="sev s2">internal errors: the broken state was reset and the rest went on (normwatch_internal_errors_total)</p><ul>
{{range .}}<li data-component="{{.Component}}">{{.Component}}{{if .Subject}} of {{.Subject}}{{end}}: {{.Count}}× , last {{.Last.Format "2006-01-02 15:04:05Z07:00"}}: {{.Error}}</li>
{{end}}</ul></div>{{end}}
<table>
<tr><th>feature or embedding</th><th>status</th><th>diagnosis</th><th>samples</th><th>summary</th><th>baseline vs current</th></tr>
{{range .Rows}}{{$row := .}}<tr class="row r{{printf "%d" .Severity}}" data-name="{{.Name}}">
<td class="name">{{.Name}}{{if .Embedding}} <small>(embedding)</small>{{end}}</td>
<td class="sev s{{printf "%d" .Severity}}">{{.Severity}}</td>
<td>{{.Diagnosis}}</td>
<td class="num">{{.Samples}}</td>
<td class="summary">{{.Sentence}}</td>
<td>{{with .Plot}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}"><title>{{.Title}}</title>
<rect class="frame" x="{{.Left}}" y="{{.Top}}" width="{{.FrameW}}" height="{{.FrameH}}"/>
{{if .Ref}}<polyline class="ref" points="{{.Ref}}"/>{{end}}
{{if .Cur}}<polyline class="cur s{{printf "%d" $row.Severity}}" points="{{.Cur}}"/>{{end}}
<text x="{{.Left}}" dx="-3" y="{{.Top}}" dy="8" text-anchor="end">{{.YHi}}</text><text x="{{.Left}}" dx="-3" y="{{.Bottom}}" text-anchor="end">{{.YLo}}</text>
<text x="{{.Left}}" y="{{.LabelY}}">{{.XLo}}</text><text x="{{.Right}}" y="{{.LabelY}}" text-anchor="end">{{.XHi}}</text>
</svg>{{else}}–{{end}}</td>
</tr>
{{end}}</table></section>
{{end}}
{{with .Left}}<section class="left"><h2>Versions that left</h2>
<table><tr><th>model</th><th>version</th><th>state</th><th>left</th><th>last event</th><th>why</th></tr>
{{range .}}<tr class="left-row" data-model="{{.Model}}" data-model-version="{{.Version}}"><td>{{.Model}}</td><td>{{.Version}}</td><td>{{.State}}</td><td>{{.Left.Format "2006-01-02 15:04:05Z07:00"}}</td><td>{{if .LastEvent.IsZero}}–{{else}}{{.LastEvent.Format "2006-01-02 15:04:05Z07:00"}}{{end}}</td><td>{{.Reason}}</td></tr>
{{end}}</table></section>{{end}}
</body></html>
`))
