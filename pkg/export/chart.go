package export

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// chart is a larger SVG plot of the detail view: axes with ticks, any
// number of lines and dots, clipped to the frame. Data attributes carry
// each line's and dot's values, so that tests (and curious readers) can
// check what is drawn against the numbers.
type chart struct {
	ID             string // unique on the page: the clip path's id
	Title          string
	XLabel, YLabel string
	W, H           int
	Left, Top      int // the frame
	FrameW, FrameH int
	Right, Bottom  int
	XTicks, YTicks []tick
	Lines          []chartLine
	Dots           []chartDot
	Legend         []legendItem
}

type tick struct {
	Pos   float64 // pixels
	Label string
}

// chartLine is a polyline; Data are its data attributes (name, value).
type chartLine struct {
	Class  string // ref, cur, fit, expect, skip...
	Points string
	Label  string
	Data   []dataAttr
}

type chartDot struct {
	X, Y   float64 // pixels
	Class  string
	Title  string
	DX, DY string // the values, full precision
}

type dataAttr struct{ Name, Value string }

type legendItem struct{ Class, Label string }

// Geometry of the detail view's charts.
const (
	chartW, chartH         = 560, 340
	chartLeft, chartRight  = 70, 16
	chartTop, chartBottom  = 14, 44
	chartTicks             = 5
	chartDotR              = 2.5
	chartLegendLineSpacing = 14
)

func newChart(id, title, xLabel, yLabel string) *chart {
	return &chart{ID: id, Title: title, XLabel: xLabel, YLabel: yLabel, W: chartW, H: chartH,
		Left: chartLeft, Top: chartTop, FrameW: chartW - chartLeft - chartRight, FrameH: chartH - chartTop - chartBottom,
		Right: chartW - chartRight, Bottom: chartH - chartBottom}
}

// scales returns the chart's data-to-pixel scales for the given ranges.
func (c *chart) scales(xlo, xhi, ylo, yhi float64) (scale, scale) {
	return newScale(xlo, xhi, float64(c.Left), float64(c.Right)), newScale(ylo, yhi, float64(c.Bottom), float64(c.Top))
}

// axes sets ticks at nice values within each scale's range; format
// writes a tick's label.
func (c *chart) axes(sx, sy scale, fx, fy func(float64) string) {
	for _, v := range niceTicks(sx.lo, sx.hi, chartTicks) {
		c.XTicks = append(c.XTicks, tick{Pos: sx.at(v), Label: fx(v)})
	}
	for _, v := range niceTicks(sy.lo, sy.hi, chartTicks) {
		c.YTicks = append(c.YTicks, tick{Pos: sy.at(v), Label: fy(v)})
	}
}

// timeSteps are the time axis's tick intervals, the shortest that gives
// at most chartTicks ticks is taken: windows of seconds (the demo's 10 s)
// get ticks every few seconds, not one at the only whole minute.
var timeSteps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// timeAxis sets the x ticks of a time axis at round times.
func (c *chart) timeAxis(sx scale, lo, hi time.Time) {
	span := hi.Sub(lo)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= chartTicks {
			step = s
			break
		}
	}
	for t := lo.Truncate(step); !t.After(hi); t = t.Add(step) {
		if t.Before(lo) {
			continue
		}
		c.XTicks = append(c.XTicks, tick{Pos: sx.at(float64(t.UnixNano())), Label: t.UTC().Format("15:04:05")})
	}
}

// niceTicks returns about n round values within [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		out = append(out, v)
		if len(out) > 4*n {
			break
		}
	}
	return out
}

// num formats a value for a tick or a caption: 4 significant digits,
// in plain decimals from 0.001 to a billion (52100, 0.0125), else with an
// exponent.
func num(x float64) string {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	if a := math.Abs(x); a < 1e-3 || a >= 1e9 {
		return short(x, 4)
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	if err != nil {
		return short(x, 4)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', -1, 64) + "%" }

func pctTick(x float64) string { return strconv.FormatFloat(100*x, 'g', 4, 64) + "%" }

// full is a value at full precision for a data attribute.
func full(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// linePoints draws y = f(x) as a straight segment over [xlo, xhi].
func linePoints(sx, sy scale, xlo, xhi, slope, intercept float64) string {
	return fmt.Sprintf("%.2f,%.2f %.2f,%.2f", sx.at(xlo), sy.at(slope*xlo+intercept), sx.at(xhi), sy.at(slope*xhi+intercept))
}

// stepPoints draws shares over bins as a step outline.
func stepPoints(edges, share []float64, sx, sy scale) string {
	n := len(edges) - 1
	if n < 1 || len(share) != n {
		return ""
	}
	xs := []float64{edges[0]}
	ys := []float64{0}
	for i, v := range share {
		xs = append(xs, edges[i], edges[i+1])
		ys = append(ys, v, v)
	}
	xs, ys = append(xs, edges[n]), append(ys, 0)
	var b strings.Builder
	for i := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f,%.2f", sx.at(xs[i]), sy.at(ys[i]))
	}
	return b.String()
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = full(x)
	}
	return strings.Join(s, " ")
}
