package export

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
)

// SketchFunc returns the sketches behind a version's latest evaluation
// for one feature (embedding false) or embedding: the reference it was
// compared with (empty without a baseline) and the current horizon, sets
// that need hold only that name; ok is false when there are none. The
// sketches become the caller's.
type SketchFunc func(model, version, name string, embedding bool) (ref, cur drift.Set, ok bool)

// detailCache keeps the last detail views built, by subject and
// evaluation: a view refreshing itself within one window is not built
// again (which would merge the version's horizon again).
type detailCache struct {
	mu    sync.Mutex
	views map[detailKey]detailPage
}

type detailKey struct {
	model, version, name string
	embedding            bool
	evaluated            time.Time
	state                engine.VersionState
}

// detailCacheSize bounds the views kept: a few people looking at a few
// features each.
const detailCacheSize = 32

func (c *detailCache) get(k detailKey) (detailPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.views[k]
	return p, ok
}

func (c *detailCache) put(k detailKey, p detailPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil || len(c.views) >= detailCacheSize {
		c.views = map[detailKey]detailPage{}
	}
	c.views[k] = p
}

// distribution is what the detail view reads of a sketch: its quantile
// function and CDF (sketch.Distribution).
type distribution interface {
	Quantile(q float64) float64
	CDF(x float64) float64
}

// Detail view geometry.
const (
	qqLevels       = 99 // q = 0.01 ... 0.99
	histogramBins  = 40
	detailStripW   = 10
	detailStripH   = 22
	histogramTailQ = 0.005 // the histogram spans both sides' 0.5th to 99.5th percentiles
)

// detailPage is what the detail template renders: one feature or
// embedding of one version.
type detailPage struct {
	Generated      time.Time
	Refresh        int64
	Model, Version string
	Name           string
	Embedding      bool
	Found          bool
	Severity       drift.Severity
	Diagnosis      drift.Diagnosis
	Sentence       string
	State          engine.VersionState
	WindowEnd      time.Time
	Figures        []figure
	Scaler         string // the declared normalization, described
	Charts         []*chart
	Captions       map[string]string
	Notes          []string
	Strip          *strip
}

type figure struct{ Name, Value string }

// RefreshSeconds is the refresh interval in seconds, for the page's text.
func (p detailPage) RefreshSeconds() float64 { return float64(p.Refresh) / 1000 }

// Caption returns the caption of a chart by id.
func (p detailPage) Caption(id string) string { return p.Captions[id] }

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	model, version := q.Get("model"), q.Get("model_version")
	name, embedding := q.Get("feature"), false
	if name == "" {
		name, embedding = q.Get("embedding"), true
	}
	var snaps []Snapshot
	if s.opts.Source != nil {
		snaps = s.opts.Source.Snapshots()
	}
	key := detailKey{model: model, version: version, name: name, embedding: embedding}
	for _, sn := range snaps {
		if sn.Model == model && sn.Version == version {
			key.evaluated, key.state = sn.EvaluatedAt, sn.State
		}
	}
	p, ok := s.details.get(key)
	if !ok {
		p = newDetail(snaps, model, version, name, embedding, time.Now(), s.opts.Status)
		s.details.put(key, p)
	}
	p.Generated = time.Now().UTC()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if !p.Found {
		w.WriteHeader(http.StatusNotFound)
	}
	if err := detailTemplate.Execute(w, p); err != nil {
		s.opts.Logger.Error("rendering a detail view", "err", err)
	}
}

// newDetail builds the detail view of one feature or embedding from the
// version's snapshot, its history and, when o.Sketches gives them, its
// sketches.
func newDetail(snaps []Snapshot, model, version, name string, embedding bool, now time.Time, o StatusOptions) detailPage {
	p := detailPage{Generated: now.UTC(), Refresh: o.Refresh.Milliseconds(), Model: model, Version: version,
		Name: name, Embedding: embedding, Captions: map[string]string{}}
	var snap *Snapshot
	for i := range snaps {
		if snaps[i].Model == model && snaps[i].Version == version && snaps[i].State != engine.StateRetired &&
			snaps[i].State != engine.StateEvicted && snaps[i].State != engine.StateRefused {
			snap = &snaps[i]
		}
	}
	if snap == nil {
		return p
	}
	p.State, p.WindowEnd = snap.State, snap.WindowEnd
	var ref, cur drift.Set
	sketches := false
	if o.Sketches != nil {
		ref, cur, sketches = o.Sketches(model, version, name, embedding)
	}
	var points []HistoryPoint
	if o.History != nil {
		points = o.History.Points(model, version, name, embedding)
		p.Strip = newStrip(points, o.History.Size(), detailStripW, detailStripH)
	}
	subject := drift.Subject(name, model, version)
	if !embedding {
		for _, f := range snap.Report.Features {
			if f.Name == name {
				p.Found = true
				p.Severity, p.Diagnosis, p.Sentence = f.Severity, f.Diagnosis, drift.Sentence(subject, f.Summary)
				p.Figures = featureFigures(f)
				var dist engine.FeatureDistribution
				for _, d := range snap.Features {
					if d.Name == name {
						dist = d
					}
				}
				p.featureCharts(f, dist, ref.Features[name], cur.Features[name], sketches)
			}
		}
		return p
	}
	for _, e := range snap.Report.Embeddings {
		if e.Name == name {
			p.Found = true
			p.Severity, p.Diagnosis, p.Sentence = e.Severity, e.Diagnosis, drift.Sentence(subject, e.Summary)
			p.Figures = embeddingFigures(e)
			var dist engine.EmbeddingDistribution
			for _, d := range snap.Embeddings {
				if d.Name == name {
					dist = d
				}
			}
			p.embeddingCharts(dist, ref.Embeddings[name], cur.Embeddings[name], sketches, points)
		}
	}
	return p
}

func featureFigures(f drift.FeatureReport) []figure {
	return []figure{
		{"samples (horizon)", fmt.Sprint(f.Samples)}, {"samples (baseline)", fmt.Sprint(f.RefSamples)},
		{"scale a", num(f.Scale)}, {"offset b", num(f.Offset)}, {"fit r²", short(f.FitR2, 4)},
		{"PSI", short(f.PSI, 3)}, {"KS (critical)", short(f.KS, 3) + " (" + short(f.KSCritical, 3) + ")"},
		{"Wasserstein-1 / σ", short(f.Wasserstein, 3)}, {"JS", short(f.JS, 3)},
		{"mean shift (σ)", short(f.MeanShiftSigma, 3)}, {"σ ratio", short(f.ScaleRatio, 3)},
		{"out of range", pct(roundTo(f.OutOfRange, 4))}, {"missing", pct(roundTo(f.MissingRatio, 4))},
		{"NaN or ±Inf", pct(roundTo(f.NonFiniteRatio, 4))},
	}
}

func embeddingFigures(e drift.EmbeddingReport) []figure {
	// drift compares directions only once the norms agree: after a norm
	// diagnosis (or without a direction to compare) the centroid cosine
	// stays exactly 0, which is not a figure to show as one (a cosine of
	// 0 reads as centroids at right angles), nor are the dimensions
	// moved, then 0 too.
	cosine, moved := short(e.CentroidCosine, 4), pct(roundTo(e.DimsMovedRatio, 4))
	if e.CentroidCosine == 0 {
		cosine = "– (not compared)"
		if e.DimsMovedRatio == 0 {
			moved = "– (not compared)"
		}
	}
	return []figure{
		{"vectors (horizon)", fmt.Sprint(e.Samples)}, {"vectors (baseline)", fmt.Sprint(e.RefSamples)},
		{"dimension (baseline)", fmt.Sprintf("%d (%d)", e.Dim, e.RefDim)},
		{"unit-norm share", pct(roundTo(e.UnitNormRatio, 4))}, {"unit-norm share (baseline)", pct(roundTo(e.RefUnitNormRatio, 4))},
		{"norms > 5% from 1", pct(roundTo(e.FarNormRatio, 4))}, {"norm KS", short(e.NormKS, 3)},
		{"centroid cosine", cosine}, {"dimensions moved", moved},
		{"dimension mismatches", pct(roundTo(e.DimMismatchRatio, 4))},
	}
}

func roundTo(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// qqPoint is one quantile level of both sides.
type qqPoint struct{ q, x, y float64 }

// featureCharts draws the Q–Q plot (production quantiles against the
// baseline's, with the fitted line and the lines the declared scaler
// predicts) and the histogram overlay.
func (p *detailPage) featureCharts(f drift.FeatureReport, d engine.FeatureDistribution, rs, cs drift.FeatureSketch, sketches bool) {
	norm := rs.Norm
	p.Scaler = describeScaler(norm)
	var pts []qqPoint
	var refD, curD distribution
	if sketches && rs.Sketch != nil && cs.Sketch != nil && rs.Sketch.Count() > 0 && cs.Sketch.Count() > 0 {
		if rd, err := rs.Sketch.Distribution(); err == nil {
			if cd, err := cs.Sketch.Distribution(); err == nil {
				refD, curD = rd, cd
			}
		}
	}
	if refD != nil {
		for i := 1; i <= qqLevels; i++ {
			q := float64(i) / (qqLevels + 1)
			pts = append(pts, qqPoint{q, refD.Quantile(q), curD.Quantile(q)})
		}
	} else if len(d.Ref.Quantiles) == len(engine.StatQuantiles) && len(d.Cur.Quantiles) == len(engine.StatQuantiles) {
		for i, q := range engine.StatQuantiles {
			pts = append(pts, qqPoint{q, d.Ref.Quantiles[i], d.Cur.Quantiles[i]})
		}
		p.Notes = append(p.Notes, "The Q–Q plot shows the evaluation's seven quantiles: the sketches behind it are not at hand, so there is no histogram either.")
	}
	if len(pts) == 0 {
		p.Notes = append(p.Notes, "No Q–Q plot: the horizon or the reference has no values.")
		return
	}
	p.Charts = append(p.Charts, qqChart(f, norm, pts))
	p.Captions["qq"] = "Each dot is one quantile level q (from 0.01 to 0.99): the baseline's value on x, production's on y. " +
		"Filled dots are the levels of the fit (0.05 to 0.95). A correctly applied scaler puts them on the green line; " +
		"a skipped, doubled or re-fitted scaler or a unit change puts them on another straight line, the red fit."
	if refD != nil {
		p.Charts = append(p.Charts, featureHistogram(refD, curD))
		p.Captions["hist"] = "Share of values per bin, over the range both sides' 0.5th to 99.5th percentiles span: baseline dashed, production solid."
	}
}

// describeScaler names the declared normalization.
func describeScaler(n drift.Normalization) string {
	spread, center, ok := skippedLine(n)
	switch {
	case !ok:
		return "none declared"
	case n.Kind == drift.ScalerZScore:
		return fmt.Sprintf("z-score (mean %s, std %s)", num(n.Mean), num(n.Std))
	case n.Kind == drift.ScalerMinMax:
		s := fmt.Sprintf("min-max (min %s, max %s", num(n.Min), num(n.Max))
		if n.Range != [2]float64{} {
			s += fmt.Sprintf(", onto [%s, %s]", num(n.Range[0]), num(n.Range[1]))
		}
		if n.Clip {
			s += ", clipped"
		}
		return s + ")"
	case n.Kind == drift.ScalerRobust:
		return fmt.Sprintf("robust (median %s, IQR %s)", num(n.Median), num(n.IQR))
	}
	return fmt.Sprintf("%s (normalized = (raw − %s) / %s)", n.Kind, num(center), num(spread))
}

// skippedLine returns the line production follows against the baseline
// when the declared scaler is skipped at serving: every kind is the
// affine normalized = (raw − center) / spread (drift.Normalization.Apply),
// so raw = spread·normalized + center. It reads the map off Apply at raw
// values the scaler does not clip (from a min-max scaler's training
// minimum), a second time one spread apart so that the difference is not
// lost to rounding, and rounds to 12 significant digits: a z-score
// scaler's std 18300 reads as 18300, not 18300.00000010929.
func skippedLine(n drift.Normalization) (slope, intercept float64, ok bool) {
	if n.Kind == "" || n.Kind == drift.ScalerNone || n.Validate() != nil {
		return 0, 0, false
	}
	r1, r2 := 0.0, 1.0
	if n.Kind == drift.ScalerMinMax {
		r1, r2 = n.Min, n.Max
	}
	line := func(r1, r2 float64) (float64, bool) {
		z1, z2 := n.Apply(r1), n.Apply(r2)
		s := (r2 - r1) / (z2 - z1)
		return s, !(math.IsNaN(s) || math.IsInf(s, 0) || s == 0)
	}
	slope, ok = line(r1, r2)
	if !ok {
		return 0, 0, false
	}
	if n.Kind != drift.ScalerMinMax {
		if s, ok := line(r1, r1+slope); ok {
			slope = s
		}
	}
	intercept = r1 - n.Apply(r1)*slope
	return roundSig(slope), roundSig(intercept), true
}

// roundSig rounds x to 12 significant digits.
func roundSig(x float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	if err != nil {
		return x
	}
	return r
}

func qqChart(f drift.FeatureReport, norm drift.Normalization, pts []qqPoint) *chart {
	c := newChart("qq", "Q–Q: production quantiles against the baseline's", "baseline (training) quantile", "production quantile")
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, pt := range pts {
		xlo, xhi = math.Min(xlo, pt.x), math.Max(xhi, pt.x)
		ylo, yhi = math.Min(ylo, pt.y), math.Max(yhi, pt.y)
	}
	// The y range holds the line production follows with the scaler
	// applied as declared (production = training over the baseline's
	// range) as well as the dots: the green line is always on the chart,
	// so a skipped scaler shows as dots far above a flat green line and a
	// doubled one as a flat row of dots across a diagonal, not as a
	// straight line of dots that looks like a healthy one with other
	// numbers on its axis.
	ylo, yhi = math.Min(ylo, xlo), math.Max(yhi, xhi)
	padX, padY := 0.04*(xhi-xlo), 0.04*(yhi-ylo)
	sx, sy := c.scales(xlo-padX, xhi+padX, ylo-padY, yhi+padY)
	c.axes(sx, sy, num, num)
	lx, hx := sx.lo, sx.hi
	visible := func(slope, intercept float64) bool {
		a, b := slope*lx+intercept, slope*hx+intercept
		return !(math.Max(a, b) < sy.lo || math.Min(a, b) > sy.hi)
	}
	addLine := func(class, label string, slope, intercept float64, key string) {
		if !visible(slope, intercept) {
			label += " (outside the plotted range)"
		}
		c.Lines = append(c.Lines, chartLine{Class: class, Label: label, Points: linePoints(sx, sy, lx, hx, slope, intercept),
			Data: []dataAttr{{"line", key}, {"slope", full(slope)}, {"intercept", full(intercept)}}})
		c.Legend = append(c.Legend, legendItem{Class: "l-" + class, Label: label})
	}
	applied := "expected with the scaler applied as declared: production = training"
	if norm.Kind == "" || norm.Kind == drift.ScalerNone {
		applied = "expected, no scaler declared: production = training"
	}
	addLine("expect", applied, 1, 0, "expected")
	if a, b, ok := skippedLine(norm); ok {
		addLine("skip", fmt.Sprintf("if the declared %s scaler were skipped: production = %s × training + %s", scalerName(norm.Kind), num(a), num(b)), a, b, "skipped")
	}
	if fitted(f) {
		addLine("fit", fmt.Sprintf("fitted over q 0.05–0.95: production ≈ %s × training + %s (r² %s)", num(f.Scale), num(f.Offset), short(f.FitR2, 4)), f.Scale, f.Offset, "fit")
		// Drawn first, under the dashed and dotted lines: where the fit
		// is the skipped scaler's line, both show.
		n := len(c.Lines) - 1
		c.Lines = append([]chartLine{c.Lines[n]}, c.Lines[:n]...)
	}
	for _, pt := range pts {
		class := "out"
		if pt.q >= 0.05-1e-9 && pt.q <= 0.95+1e-9 {
			class = "in"
		}
		c.Dots = append(c.Dots, chartDot{X: sx.at(pt.x), Y: sy.at(pt.y), Class: class, DX: full(pt.x), DY: full(pt.y),
			Title: fmt.Sprintf("q %s: baseline %s, production %s", short(pt.q, 2), num(pt.x), num(pt.y))})
	}
	return c
}

// fitted reports whether f carries a normalization-delta fit.
func fitted(f drift.FeatureReport) bool {
	if f.Diagnosis == drift.InsufficientData || f.Diagnosis == drift.NoBaseline {
		return false
	}
	return f.Scale != 0 || f.Offset != 0 || f.FitR2 != 0
}

func scalerName(kind string) string {
	switch kind {
	case drift.ScalerZScore:
		return "z-score"
	case drift.ScalerMinMax:
		return "min-max"
	case drift.ScalerMaxAbs:
		return "max-abs"
	}
	return kind
}

// featureHistogram bins both distributions over the range both sides'
// 0.5th to 99.5th percentiles span.
func featureHistogram(ref, cur distribution) *chart {
	lo := math.Min(ref.Quantile(histogramTailQ), cur.Quantile(histogramTailQ))
	hi := math.Max(ref.Quantile(1-histogramTailQ), cur.Quantile(1-histogramTailQ))
	return histogramOver(ref, cur, lo, hi)
}

// normHistogram is featureHistogram for vector norms, over at least ±5%
// around the middle of the range (engine.normHistogram does the same for
// the status page): the norms of unit vectors differ from 1 only by
// float32 rounding, and 40 bins over that would draw the rounding as a
// bell of norms (with every tick labelled 1) instead of one spike at 1.
func normHistogram(ref, cur distribution) *chart {
	lo := math.Min(ref.Quantile(histogramTailQ), cur.Quantile(histogramTailQ))
	hi := math.Max(ref.Quantile(1-histogramTailQ), cur.Quantile(1-histogramTailQ))
	if mid, w := (lo+hi)/2, 0.05*math.Max(math.Abs((lo+hi)/2), 1); hi-lo < 2*w {
		// Shifted by half a bin: the middle (1 for unit norms) in a bin,
		// not on the edge an even number of bins puts there.
		half := w / histogramBins
		lo, hi = mid-w-half, mid+w-half
	}
	return histogramOver(ref, cur, lo, hi)
}

// histogramOver bins both distributions over [lo, hi].
func histogramOver(ref, cur distribution, lo, hi float64) *chart {
	if !(hi > lo) {
		d := math.Max(math.Abs(lo)*0.05, 1e-9)
		lo, hi = lo-d, hi+d
	}
	edges := make([]float64, histogramBins+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/histogramBins
	}
	share := func(d distribution) []float64 {
		out := make([]float64, histogramBins)
		prev := d.CDF(edges[0])
		for i := 1; i < len(edges); i++ {
			c := d.CDF(edges[i])
			out[i-1] = math.Max(0, c-prev)
			prev = c
		}
		return out
	}
	rs, cs := share(ref), share(cur)
	return shareChart("hist", "Histogram: production against the baseline", "value", edges, rs, cs)
}

// shareChart draws two histograms over the same bins.
func shareChart(id, title, xLabel string, edges, ref, cur []float64) *chart {
	c := newChart(id, title, xLabel, "share of values per bin")
	top := 0.0
	for _, v := range append(append([]float64(nil), ref...), cur...) {
		top = math.Max(top, v)
	}
	if top == 0 {
		top = 1
	}
	sx, sy := c.scales(edges[0], edges[len(edges)-1], 0, top*1.05)
	c.axes(sx, sy, num, pctTick)
	if len(ref) > 0 {
		c.Lines = append(c.Lines, chartLine{Class: "ref", Label: "baseline", Points: stepPoints(edges, ref, sx, sy),
			Data: []dataAttr{{"side", "baseline"}, {"edges", joinFloats(edges)}, {"share", joinFloats(ref)}}})
		c.Legend = append(c.Legend, legendItem{Class: "l-ref", Label: "baseline"})
	}
	if len(cur) > 0 {
		c.Lines = append(c.Lines, chartLine{Class: "cur", Label: "production (current horizon)", Points: stepPoints(edges, cur, sx, sy),
			Data: []dataAttr{{"side", "production"}, {"edges", joinFloats(edges)}, {"share", joinFloats(cur)}}})
		c.Legend = append(c.Legend, legendItem{Class: "l-cur", Label: "production (current horizon)"})
	}
	return c
}

// embeddingCharts draws the norm histogram against the baseline's and the
// unit-norm share over the evaluations the history keeps.
func (p *detailPage) embeddingCharts(d engine.EmbeddingDistribution, rs, cs drift.EmbeddingSketch, sketches bool, points []HistoryPoint) {
	var edges, ref, cur []float64
	if sketches && rs.Sketch != nil && cs.Sketch != nil && rs.Sketch.Norms() != nil && cs.Sketch.Norms() != nil &&
		rs.Sketch.Norms().Count() > 0 && cs.Sketch.Norms().Count() > 0 {
		rd, err1 := rs.Sketch.Norms().Distribution()
		cd, err2 := cs.Sketch.Norms().Distribution()
		if err1 == nil && err2 == nil {
			h := normHistogram(rd, cd)
			h.ID, h.Title, h.XLabel = "norms", "Vector L2 norms: production against the baseline", "L2 norm"
			h.YLabel = "share of vectors per bin"
			p.Charts = append(p.Charts, h)
		}
	}
	if len(p.Charts) == 0 && len(d.Edges) > 1 {
		edges, ref, cur = d.Edges, d.RefShare, d.CurShare
		h := shareChart("norms", "Vector L2 norms: production against the baseline", "L2 norm", edges, ref, cur)
		h.YLabel = "share of vectors per bin"
		p.Charts = append(p.Charts, h)
	}
	if len(p.Charts) > 0 {
		p.Captions["norms"] = "A unit-normalized embedding is one spike at 1; unnormalized vectors are a hump elsewhere, a mixed index shows both."
	}
	if c := unitChart(points); c != nil {
		p.Charts = append(p.Charts, c)
		p.Captions["unit"] = fmt.Sprintf("Share of the horizon's vectors whose norm is within tolerance of 1, at each of the last %d evaluations; dashed: the baseline's share.", len(points))
	}
}

// unitChart draws the unit-norm share over time from the history.
func unitChart(points []HistoryPoint) *chart {
	var xs, ys, refs []float64
	var lo, hi time.Time
	for _, pt := range points {
		if !pt.Present {
			continue
		}
		if lo.IsZero() {
			lo = pt.WindowEnd
		}
		hi = pt.WindowEnd
		xs = append(xs, float64(pt.WindowEnd.UnixNano()))
		ys = append(ys, pt.UnitNormRatio)
		refs = append(refs, pt.RefUnitNormRatio)
	}
	if len(xs) == 0 {
		return nil
	}
	c := newChart("unit", "Unit-norm share over time", "window end (UTC)", "unit-norm share")
	xlo, xhi := xs[0], xs[len(xs)-1]
	if xhi == xlo {
		xlo, xhi = xlo-float64(time.Minute), xhi+float64(time.Minute)
		lo, hi = lo.Add(-time.Minute), hi.Add(time.Minute)
	}
	sx, sy := c.scales(xlo, xhi, 0, 1.02)
	c.timeAxis(sx, lo, hi)
	for _, v := range niceTicks(0, 1, chartTicks) {
		c.YTicks = append(c.YTicks, tick{Pos: sy.at(v), Label: pctTick(v)})
	}
	line := func(vals []float64) string {
		var b strings.Builder
		for i := range xs {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.2f,%.2f", sx.at(xs[i]), sy.at(vals[i]))
		}
		return b.String()
	}
	c.Lines = append(c.Lines, chartLine{Class: "ref", Label: "baseline", Points: line(refs), Data: []dataAttr{{"side", "baseline"}, {"values", joinFloats(refs)}}})
	c.Lines = append(c.Lines, chartLine{Class: "cur", Label: "production", Points: line(ys), Data: []dataAttr{{"side", "production"}, {"values", joinFloats(ys)}}})
	for i := range xs {
		c.Dots = append(c.Dots, chartDot{X: sx.at(xs[i]), Y: sy.at(ys[i]), Class: "in", DX: full(xs[i] / 1e9), DY: full(ys[i]),
			Title: fmt.Sprintf("window ending %s: %s unit-norm", time.Unix(0, int64(xs[i])).UTC().Format("15:04:05"), pct(roundTo(ys[i], 4)))})
	}
	c.Legend = []legendItem{{"l-cur", "production"}, {"l-ref", "baseline"}}
	return c
}

var detailTemplate = template.Must(template.Must(templates.Clone()).New("detail").Parse(`{{template "head" (printf "%s on %s %s · normwatch" .Name .Model .Version)}}<body>
<h1><a href="./">normwatch</a></h1>
{{template "refresh" .}}
<div id="content">
<p class="meta"><a href="./?model={{.Model}}&amp;model_version={{.Version}}">{{.Model}} {{.Version}}</a> · rendered {{.Generated.Format "2006-01-02 15:04:05Z07:00"}}</p>
{{if not .Found}}<h2>{{.Name}}</h2><p class="not-found">No {{if .Embedding}}embedding{{else}}feature{{end}} {{.Name}} in the latest evaluation of {{.Model}} {{.Version}}. <a href="./">All versions</a>.</p>{{else}}
<section class="detail" data-model="{{.Model}}" data-model-version="{{.Version}}" data-name="{{.Name}}" data-diagnosis="{{.Diagnosis}}">
<h2>{{.Name}}{{if .Embedding}} <small>(embedding)</small>{{end}} <span class="sev s{{printf "%d" .Severity}}">{{.Severity}}</span> {{.Diagnosis}}{{if eq .State "stale"}} <span class="stale">stale</span>{{end}}</h2>
<p class="summary sentence">{{.Sentence}}</p>
<p class="meta">window ending {{.WindowEnd.Format "2006-01-02 15:04:05Z07:00"}}{{if .Scaler}} · declared scaler: {{.Scaler}}{{end}}</p>
{{with .Strip}}<h3>History</h3>{{template "strip" .}}{{end}}
<div class="charts">
{{range .Charts}}<figure>{{template "chart" .}}<figcaption>{{$.Caption .ID}}</figcaption></figure>
{{end}}</div>
{{range .Notes}}<p class="meta note">{{.}}</p>{{end}}
<h3>Figures</h3>
<dl class="figures">{{range .Figures}}<dt>{{.Name}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
</section>{{end}}
</div>
</body></html>
`))
