package export

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/demo"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium package, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium with args and the flags that keep it
// quiet, offline and out of the user's profile, and returns its stdout.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium %v: %s", args, stderr.String())
	return string(out)
}

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool

func requireChromium(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("headless Chromium tests run in the plain pass of scripts/test.sh, not again under -race")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless Chromium test skipped: %s not found (Debian: apt-get install chromium)", chromiumPath)
	}
	if testing.Short() {
		t.Skip("headless Chromium test skipped in -short mode")
	}
}

// dom loads url in Chromium, lets its scripts run for budget of virtual
// time, and returns the DOM as it is then.
func dom(t *testing.T, url string, extra ...string) string {
	t.Helper()
	return chromium(t, append(extra, "--dump-dom", url)...)
}

// screenshot writes a PNG of url into $NORMWATCH_ARTIFACTS (CI keeps
// that directory; default: the test's temp dir) and checks it is one.
func screenshot(t *testing.T, url, name string, height int) {
	t.Helper()
	dir := os.Getenv("NORMWATCH_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot, err := filepath.Abs(filepath.Join(dir, name))
	require.NoError(t, err)
	_ = os.Remove(shot)
	chromium(t, "--screenshot="+shot, "--window-size=1400,"+strconv.Itoa(height), url)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	head := make([]byte, 8)
	_, err = io.ReadFull(f, head)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG\r\n\x1a\n", string(head))
	st, err := f.Stat()
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(10_000), "a blank page is smaller")
	t.Logf("screenshot: %s", shot)
}

// serve runs a Server over src with the demo's history and sketches.
func serve(t *testing.T, src Source, o StatusOptions) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src))
	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, Source: src, Status: o, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	go func() { _ = s.Run() }()
	t.Cleanup(s.Stop)
	return "http://" + s.Addr() + "/"
}

var (
	svgRE      = regexp.MustCompile(`(?s)<svg class="mini"[^>]*>.*?</svg>`)
	polyRE     = regexp.MustCompile(`<polyline class="(ref|cur)[^"]*" points="([^"]+)"`)
	sectionRE  = regexp.MustCompile(`(?s)<section class="version" id="v-ranker-(v\d)".*?</section>`)
	rowRE      = regexp.MustCompile(`(?s)<tr class="row r\d" data-name="([^"]+)">.*?</tr>`)
	cellRE     = regexp.MustCompile(`(?s)<rect class="(c-[a-z]+)( change)?" x="\d+" y="0" width="\d+" height="\d+" data-start="([^"]+)" data-end="([^"]+)" data-count="(\d+)" data-diagnosis="([^"]*)"><title>([^<]*)</title></rect>`)
	attrRE     = regexp.MustCompile(`data-([a-z]+)="([^"]*)"`)
	dotRE      = regexp.MustCompile(`<circle class="(in|out)" cx="([-\d.]+)" cy="([-\d.]+)" r="[\d.]+" data-x="([^"]+)" data-y="([^"]+)">`)
	chartRE    = regexp.MustCompile(`(?s)<svg class="chart" id="([a-z]+)".*?</svg>`)
	chartLineR = regexp.MustCompile(`<polyline class="([a-z]+)" points="([^"]+)"((?: data-[a-z]+="[^"]*")*)>`)
)

// stripOf parses the history strip of one row: each run's class, change
// mark, first and last window end, length, diagnosis and tooltip.
type stripCellSeen struct {
	class, start, end, diagnosis, title string
	count                               int
	change                              bool
}

func stripOf(t *testing.T, row string) []stripCellSeen {
	t.Helper()
	var out []stripCellSeen
	for _, m := range cellRE.FindAllStringSubmatch(row, -1) {
		n, err := strconv.Atoi(m[5])
		require.NoError(t, err)
		out = append(out, stripCellSeen{class: m[1], change: m[2] != "", start: m[3], end: m[4], count: n, diagnosis: m[6], title: html.UnescapeString(m[7])})
	}
	return out
}

// The status page in a real browser, on the demo's traffic: both
// versions with every feature and embedding, their plots with real
// points, and a history strip per row whose cells are the evaluations
// the History kept, coloured by severity, with the time of the change on
// hover (the SVG title). Screenshots of the whole page, of the healthy
// version and of the broken one.
func TestStatusPageChromium(t *testing.T) {
	requireChromium(t)
	d := runDemo(t)
	url := serve(t, SourceFunc(d.snapshots), StatusOptions{History: d.history, Sketches: d.sketches, Refresh: 10 * time.Second})

	page := dom(t, url)
	require.Contains(t, page, `<h1><a href="./">normwatch</a></h1>`)
	require.Contains(t, page, `id="refresh"`, "the refresh control is on the page")
	sections := map[string]string{}
	for _, m := range sectionRE.FindAllStringSubmatch(page, -1) {
		sections[m[1]] = m[0]
	}
	require.Len(t, sections, 2)
	for v, sec := range sections {
		rows := map[string]string{}
		for _, m := range rowRE.FindAllStringSubmatch(sec, -1) {
			rows[m[1]] = m[0]
		}
		require.Len(t, rows, 6, v)
		for _, f := range []string{"age", "income", "session_seconds", "retrieval_score", "clicks_7d", "query"} {
			row, ok := rows[f]
			require.True(t, ok, "%s lists %s", v, f)
			kind := "feature"
			if f == "query" {
				kind = "embedding"
			}
			require.Contains(t, row, `href="detail?model=ranker&amp;model_version=`+v+`&amp;`+kind+`=`+f+`"`)
			// One plot per row, a baseline and a current curve with real points.
			svgs := svgRE.FindAllString(row, -1)
			require.Len(t, svgs, 1, row)
			lines := polyRE.FindAllStringSubmatch(svgs[0], -1)
			require.Len(t, lines, 2, svgs[0])
			for _, l := range lines {
				require.GreaterOrEqual(t, len(strings.Fields(l[2])), 7, "points of %s: %s", l[1], l[2])
				require.NotContains(t, l[2], "NaN")
			}
			// The strip: runs of equal diagnosis that, laid end to end,
			// are the evaluations the History holds, oldest first.
			cells := stripOf(t, row)
			points := d.history.Points(demo.Model, v, f, f == "query")
			require.Len(t, points, d.windows)
			i := 0
			for _, c := range cells {
				require.Positive(t, c.count)
				require.LessOrEqual(t, i+c.count, len(points), "%s %s: no more cells than evaluations", v, f)
				first, last := points[i], points[i+c.count-1]
				require.Equal(t, first.WindowEnd.UTC().Format("2006-01-02T15:04:05Z"), c.start)
				require.Equal(t, last.WindowEnd.UTC().Format("2006-01-02T15:04:05Z"), c.end)
				for _, p := range points[i : i+c.count] {
					require.Equal(t, string(p.Diagnosis), c.diagnosis)
					require.Equal(t, cellClass(p), c.class)
				}
				if next := i + c.count; next < len(points) {
					require.True(t, string(points[next].Diagnosis) != c.diagnosis || cellClass(points[next]) != c.class,
						"a run ends where the diagnosis or its colour changes")
				}
				require.Contains(t, c.title, first.WindowEnd.UTC().Format(timeFormat), "the tooltip names the window")
				i += c.count
			}
			require.Equal(t, len(points), i, "%s %s: the runs cover every evaluation", v, f)
		}
		if v == demo.Healthy {
			for f, row := range rows {
				cells := stripOf(t, row)
				require.Len(t, cells, 1, "healthy v3's %s: one run", f)
				require.Equal(t, "c-ok", cells[0].class)
				require.Equal(t, d.windows, cells[0].count)
				require.False(t, cells[0].change)
			}
			continue
		}
		// v4 broke at 10:03: income and query are ok first, then critical
		// with one marked change whose tooltip says when.
		for _, f := range []string{"income", "query"} {
			cells := stripOf(t, rows[f])
			require.Equal(t, "c-ok", cells[0].class, "v4 %s starts healthy", f)
			require.Equal(t, "c-crit", cells[len(cells)-1].class, "v4 %s ends broken", f)
			var changes []stripCellSeen
			for _, c := range cells {
				if c.change {
					changes = append(changes, c)
				}
			}
			require.NotEmpty(t, changes, "v4 %s: the change is marked", f)
			first := changes[0]
			require.Contains(t, first.title, "changed to ")
			require.Contains(t, first.title, "from ok at the window ending ")
			end, err := time.Parse("2006-01-02T15:04:05Z", first.start)
			require.NoError(t, err)
			require.True(t, end.After(d.t0.Add(3*time.Minute)), "the change is after the bug began: %s", first.start)
			require.Contains(t, first.title, end.Format(timeFormat))
		}
		require.Contains(t, rows["income"], "unscaled_input since the window ending ")
		require.Contains(t, rows["query"], "embedding_mixed_norms since the window ending ")
	}
	require.Contains(t, page, "income on ranker v4: ")

	screenshot(t, url, "status-page.png", 2000)
	screenshot(t, url+"?model=ranker&model_version=v3", "status-v3-healthy.png", 1100)
	screenshot(t, url+"?model=ranker&model_version=v4", "status-v4-broken.png", 1100)
	one := dom(t, url+"?model=ranker&model_version=v4")
	require.Len(t, sectionRE.FindAllString(one, -1), 1, "?model=&model_version= shows that version alone")
}

// chartSeen is one chart of a detail view as drawn.
type chartSeen struct {
	lines map[string]map[string]string // class (or side) -> data attributes, "points" included
	dots  []dotSeen
}

type dotSeen struct {
	in     bool
	cx, cy float64
	x, y   float64
}

func chartsOf(t *testing.T, page string) map[string]chartSeen {
	t.Helper()
	out := map[string]chartSeen{}
	for _, m := range chartRE.FindAllStringSubmatch(page, -1) {
		c := chartSeen{lines: map[string]map[string]string{}}
		for _, l := range chartLineR.FindAllStringSubmatch(m[0], -1) {
			attrs := map[string]string{"points": l[2], "class": l[1]}
			for _, a := range attrRE.FindAllStringSubmatch(l[3], -1) {
				attrs[a[1]] = a[2]
			}
			key := l[1]
			if attrs["line"] != "" {
				key = attrs["line"]
			}
			c.lines[key] = attrs
		}
		for _, dm := range dotRE.FindAllStringSubmatch(m[0], -1) {
			c.dots = append(c.dots, dotSeen{in: dm[1] == "in", cx: atof(t, dm[2]), cy: atof(t, dm[3]), x: atof(t, dm[4]), y: atof(t, dm[5])})
		}
		out[m[1]] = c
	}
	return out
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, s)
	return f
}

func floats(t *testing.T, s string) []float64 {
	t.Helper()
	var out []float64
	for _, f := range strings.Fields(s) {
		out = append(out, atof(t, f))
	}
	return out
}

// leastSquares fits y = a·x + b.
func leastSquares(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var mx, my float64
	for i := range xs {
		mx += xs[i] / n
		my += ys[i] / n
	}
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	a = sxy / sxx
	return a, my - a*mx
}

// pixelDistance is the distance from (px, py) to the segment's line.
func pixelDistance(t *testing.T, points string, px, py float64) float64 {
	t.Helper()
	var x1, y1, x2, y2 float64
	_, err := fmt.Sscanf(points, "%f,%f %f,%f", &x1, &y1, &x2, &y2)
	require.NoError(t, err, points)
	return math.Abs((y2-y1)*px-(x2-x1)*py+x2*y1-y2*x1) / math.Hypot(y2-y1, x2-x1)
}

// The detail views in a real browser. For each version's income: the
// Q–Q plot's 99 dots are the horizon's and the baseline's quantiles; a
// least-squares fit of the drawn dots in [0.05, 0.95] is the report's
// scale and offset (the evaluation's own fit, computed again from what is
// drawn); every fitted dot lies on the drawn fit line; the declared
// scaler's lines are drawn with its parameters; healthy v3 lies on the
// identity line and broken v4 on the skipped scaler's. The histogram
// overlay holds nearly all of both sides, each around its mean. For v4's
// query embedding, the norm histogram has the unit norms' spike at the
// unit-norm share, and the unit-norm chart has one point per evaluation
// ending at the report's share. Screenshots of each.
func TestDetailViewChromium(t *testing.T) {
	requireChromium(t)
	d := runDemo(t)
	base := serve(t, SourceFunc(d.snapshots), StatusOptions{History: d.history, Sketches: d.sketches})
	snaps := map[string]Snapshot{}
	for _, s := range d.snapshots() {
		snaps[s.Version] = s
	}
	detailURL := func(v, kind, name string) string {
		return base + "detail?" + url.Values{"model": {demo.Model}, "model_version": {v}, kind: {name}}.Encode()
	}

	for _, tc := range []struct {
		name    string
		version string
		// the line the fitted dots lie on
		onLine string
	}{
		{name: "healthy", version: demo.Healthy, onLine: "expected"},
		{name: "broken", version: demo.Buggy, onLine: "skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := dom(t, detailURL(tc.version, "feature", "income"))
			var rep drift.FeatureReport
			for _, f := range snaps[tc.version].Report.Features {
				if f.Name == "income" {
					rep = f
				}
			}
			require.Contains(t, page, `data-diagnosis="`+string(rep.Diagnosis)+`"`)
			require.Contains(t, page, "declared scaler: z-score (mean 52100, std 18300)")
			charts := chartsOf(t, page)
			qq, ok := charts["qq"]
			require.True(t, ok, "a Q–Q plot")
			require.Len(t, qq.dots, qqLevels)
			var xs, ys []float64
			for i, dot := range qq.dots {
				q := float64(i+1) / (qqLevels + 1)
				require.Equal(t, q >= 0.05-1e-9 && q <= 0.95+1e-9, dot.in, "q %v", q)
				if dot.in {
					xs, ys = append(xs, dot.x), append(ys, dot.y)
				}
			}
			require.Len(t, xs, 91, "the fit's levels")
			a, b := leastSquares(xs, ys)
			fit := qq.lines["fit"]
			require.NotNil(t, fit, "the fitted line is drawn")
			require.InEpsilon(t, rep.Scale, atof(t, fit["slope"]), 1e-12, "the line is the report's fit")
			require.InDelta(t, rep.Offset, atof(t, fit["intercept"]), 1e-9*math.Max(1, math.Abs(rep.Offset)))
			require.InEpsilon(t, rep.Scale, a, 1e-6, "the drawn dots refit to the report's scale")
			require.InDelta(t, rep.Offset, b, 1e-6*math.Max(1, math.Abs(rep.Offset))+1e-6*math.Abs(rep.Scale))
			expected, skipped := qq.lines["expected"], qq.lines["skipped"]
			require.NotNil(t, expected)
			require.NotNil(t, skipped)
			require.Equal(t, "1", expected["slope"])
			require.Equal(t, "0", expected["intercept"])
			require.Equal(t, "18300", skipped["slope"], "the declared std")
			require.Equal(t, "52100", skipped["intercept"], "the declared mean")
			for _, dot := range qq.dots {
				if dot.in {
					require.Less(t, pixelDistance(t, fit["points"], dot.cx, dot.cy), 3.0, "a fitted dot on the fit line")
					require.Less(t, pixelDistance(t, qq.lines[tc.onLine]["points"], dot.cx, dot.cy), 6.0, "a fitted dot on the %s line", tc.onLine)
				}
			}
			// The line of the scaler applied as declared crosses the
			// frame in both: against it, broken v4's fitted dots all
			// stand well away, the median a third of the chart or more
			// (a skipped scaler looks nothing like a healthy Q–Q plot).
			var x1, y1, x2, y2 float64
			_, err := fmt.Sscanf(expected["points"], "%f,%f %f,%f", &x1, &y1, &x2, &y2)
			require.NoError(t, err)
			top, bottom := float64(chartTop), float64(chartH-chartBottom)
			mid := (y1 + y2) / 2
			require.True(t, mid >= top && mid <= bottom, "the expected line is drawn in the frame: %s", expected["points"])
			if tc.name == "broken" {
				for i, dot := range qq.dots {
					if !dot.in {
						continue
					}
					away := pixelDistance(t, expected["points"], dot.cx, dot.cy)
					require.Greater(t, away, (bottom-top)/6, "a v4 dot away from production = training")
					if i == qqLevels/2 {
						require.Greater(t, away, (bottom-top)/3, "v4's median far from production = training")
					}
				}
			}

			hist, ok := charts["hist"]
			require.True(t, ok, "a histogram overlay")
			cur := snaps[tc.version].Features
			var mean float64
			for _, f := range cur {
				if f.Name == "income" {
					mean = f.Cur.Mean
				}
			}
			for side, attrs := range map[string]map[string]string{"baseline": hist.lines["ref"], "production": hist.lines["cur"]} {
				require.NotNil(t, attrs, side)
				edges, share := floats(t, attrs["edges"]), floats(t, attrs["share"])
				require.Len(t, edges, histogramBins+1)
				require.Len(t, share, histogramBins)
				total := 0.0
				for _, s := range share {
					total += s
				}
				require.Greater(t, total, 0.98, "%s: the bins hold nearly all values", side)
				require.LessOrEqual(t, total, 1+1e-9)
				if side == "production" {
					m := 0.0
					for i, s := range share {
						m += s * (edges[i] + edges[i+1]) / 2
					}
					require.InDelta(t, mean, m/total, edges[1]-edges[0], "production's histogram sits at its mean")
				}
			}
			screenshot(t, detailURL(tc.version, "feature", "income"), "detail-"+tc.version+"-income.png", 1100)
		})
	}

	t.Run("embedding", func(t *testing.T) {
		page := dom(t, detailURL(demo.Buggy, "embedding", "query"))
		var rep drift.EmbeddingReport
		for _, e := range snaps[demo.Buggy].Report.Embeddings {
			rep = e
		}
		require.Equal(t, drift.EmbeddingMixedNorms, rep.Diagnosis)
		charts := chartsOf(t, page)
		norms, ok := charts["norms"]
		require.True(t, ok, "a norm histogram")
		peak := func(side string) float64 {
			top := 0.0
			for _, s := range floats(t, norms.lines[side]["share"]) {
				top = math.Max(top, s)
			}
			return top
		}
		require.Greater(t, peak("ref"), 0.95, "the baseline's unit norms: one spike")
		require.InDelta(t, rep.UnitNormRatio, peak("cur"), 0.05, "production's spike is its unit-norm share")
		unit, ok := charts["unit"]
		require.True(t, ok, "a unit-norm share over time")
		points := d.history.Points(demo.Model, demo.Buggy, "query", true)
		require.Len(t, unit.dots, len(points))
		vals := floats(t, unit.lines["cur"]["values"])
		require.Len(t, vals, len(points))
		for i, p := range points {
			require.InDelta(t, p.UnitNormRatio, vals[i], 1e-6)
			require.InDelta(t, p.UnitNormRatio, unit.dots[i].y, 1e-6)
			require.Equal(t, float64(p.WindowEnd.Unix()), unit.dots[i].x, "the dot of the window ending %s", p.WindowEnd)
		}
		require.InDelta(t, rep.UnitNormRatio, vals[len(vals)-1], 1e-6, "the last point is the report's share")
		require.Greater(t, vals[0], 0.99, "v4 began healthy")
		for _, v := range floats(t, unit.lines["ref"]["values"]) {
			require.Greater(t, v, 0.99, "the baseline's share")
		}
		screenshot(t, detailURL(demo.Buggy, "embedding", "query"), "detail-v4-query.png", 900)
	})

	t.Run("unknown", func(t *testing.T) {
		page := dom(t, detailURL(demo.Buggy, "feature", "nope"))
		require.Contains(t, page, "No feature nope in the latest evaluation of ranker v4.")
	})
}

// The page refreshes itself in place: in Chromium, scrolled down to v4's
// section (a fragment link), it fetches the page again several times (in
// virtual time) and swaps the content without moving the scroll position.
func TestStatusPageRefreshChromium(t *testing.T) {
	requireChromium(t)
	d := runDemo(t)
	var calls atomic.Int64
	src := SourceFunc(func() []Snapshot { calls.Add(1); return d.snapshots() })
	u := serve(t, src, StatusOptions{History: d.history, Refresh: 2 * time.Second})
	before := calls.Load()
	page := dom(t, u+"#v-ranker-v4", "--window-size=1400,700", "--virtual-time-budget=9000")
	root := regexp.MustCompile(`<html[^>]*>`).FindString(page)
	attrs := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(root, -1) {
		attrs[m[1]] = m[2]
	}
	n, err := strconv.Atoi(attrs["refreshes"])
	require.NoError(t, err, "the page refreshed: %s", root)
	require.GreaterOrEqual(t, n, 2, root)
	require.GreaterOrEqual(t, calls.Load()-before, int64(1+n), "each refresh fetched the page from the server")
	// data-scroll-before/after are camelCase dataset keys: scroll-before.
	m := regexp.MustCompile(`data-scroll-before="(\d+)"[^>]*data-scroll-after="(\d+)"`).FindStringSubmatch(root)
	require.NotNil(t, m, root)
	require.Equal(t, m[1], m[2], "the scroll position is kept")
	require.NotEqual(t, "0", m[1], "the page was scrolled to v4")
	require.Len(t, sectionRE.FindAllString(page, -1), 2, "the swapped content is the whole page")
}

// With no evaluation yet the page says where to send events and which
// baselines are loaded, and its example event decodes, with the default
// decoder, into an event of a loaded baseline's version with its
// features.
func TestStatusPageEmptyChromium(t *testing.T) {
	requireChromium(t)
	d := runDemo(t)
	in := d.intake()
	u := serve(t, SourceFunc(func() []Snapshot { return nil }), StatusOptions{History: d.history, Intake: func() Intake { return in }})
	page := dom(t, u)
	require.Contains(t, page, `<section class="empty" id="empty">`)
	require.Contains(t, page, `To the embedded broker <code class="brokers">127.0.0.1:9092</code>, topic <code class="topics">normwatch.events</code>`)
	rows := regexp.MustCompile(`<tr class="baseline" data-model="ranker" data-model-version="(v\d)">`).FindAllStringSubmatch(page, -1)
	require.Len(t, rows, 2)
	for _, b := range in.Baselines {
		require.Contains(t, page, `<code title="`+b.ID+`">`+b.ID[:16]+"</code>")
	}
	ex := regexp.MustCompile(`(?s)<pre class="example">(.*?)</pre>`).FindStringSubmatch(page)
	require.NotNil(t, ex)
	dec, err := stream.NewDecoder(stream.DefaultDecoderOptions())
	require.NoError(t, err)
	var ev stream.Event
	require.NoError(t, dec.Decode([]byte(html.UnescapeString(ex[1])), stream.Fallback{Time: time.Now()}, &ev))
	require.Equal(t, in.Baselines[0].Model, ev.Model)
	require.Equal(t, in.Baselines[0].Version, ev.Version)
	var names []string
	for _, f := range ev.Features {
		names = append(names, f.Name)
	}
	require.ElementsMatch(t, in.Baselines[0].Features, names)
	require.Contains(t, page, "kcat -P -b 127.0.0.1:9092 -t normwatch.events")
	require.Contains(t, page, "Left out of the example for their size: query", "the 64-dimension embedding")
	screenshot(t, u, "status-empty.png", 900)
}
