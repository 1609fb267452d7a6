package engine

import (
	"math"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

// StatQuantiles are the quantiles an Evaluation reports per feature and
// per embedding norm, for the current horizon and the reference: the
// quantile label values of normwatch_feature_quantile and
// normwatch_embedding_norm_quantile.
var StatQuantiles = []float64{0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99}

// NormHistogramBins is the number of bins of EmbeddingDistribution's norm
// histogram.
const NormHistogramBins = 24

// Moments is what a horizon or a reference holds of one feature (or of one
// embedding's norms): finite values, their sum and spread, and the
// quantiles at StatQuantiles (nil when there are no finite values).
type Moments struct {
	Count     uint64    `json:"count"`
	Sum       float64   `json:"sum"` // mean × count, within ±MaxFloat64
	Mean      float64   `json:"mean"`
	StdDev    float64   `json:"stddev"`
	Quantiles []float64 `json:"quantiles,omitempty"`
}

// FeatureDistribution is one feature of an Evaluation: the distribution
// of the current horizon and of the reference (zero without one), as the
// status page plots them and the quantile metrics export them.
type FeatureDistribution struct {
	Name string  `json:"name"`
	Cur  Moments `json:"current"`
	Ref  Moments `json:"reference"`
}

// EmbeddingDistribution is one embedding field of an Evaluation: the
// distribution of vector norms in the horizon and in the reference, with a
// histogram of both over the same bins.
type EmbeddingDistribution struct {
	Name string  `json:"name"`
	Cur  Moments `json:"current"`
	Ref  Moments `json:"reference"`
	// Edges bound the histogram's bins (NormHistogramBins+1 values, over
	// the range both sides' 1st to 99th percentiles span); CurShare and
	// RefShare are the shares of norms in each bin (nil for an empty side).
	Edges    []float64 `json:"edges,omitempty"`
	CurShare []float64 `json:"current_share,omitempty"`
	RefShare []float64 `json:"reference_share,omitempty"`
}

// momentsOf summarizes n; a nil or empty sketch gives zero moments.
func momentsOf(n *sketch.Numeric) (Moments, *sketch.Distribution) {
	if n == nil || n.Count() == 0 {
		return Moments{}, nil
	}
	m := n.Moments()
	out := Moments{Count: uint64(m.N), Mean: finiteOr0(m.Mean), StdDev: finiteOr0(m.StdDev())}
	// The sum of values near ±MaxFloat64 overflows: it saturates, as JSON
	// has no infinity.
	out.Sum = max(min(out.Mean*float64(out.Count), math.MaxFloat64), -math.MaxFloat64)
	d, err := n.Distribution()
	if err != nil {
		return out, nil
	}
	out.Quantiles = make([]float64, len(StatQuantiles))
	for i, q := range StatQuantiles {
		out.Quantiles[i] = finiteOr0(d.Quantile(q))
	}
	return out, &d
}

func finiteOr0(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// distributions summarizes the current and reference sets of an
// evaluation, by name in the order of the report.
func distributions(ref, cur drift.Set, rep drift.Report) ([]FeatureDistribution, []EmbeddingDistribution) {
	feats := make([]FeatureDistribution, 0, len(rep.Features))
	for _, f := range rep.Features {
		fd := FeatureDistribution{Name: f.Name}
		fd.Cur, _ = momentsOf(cur.Features[f.Name].Sketch)
		fd.Ref, _ = momentsOf(ref.Features[f.Name].Sketch)
		feats = append(feats, fd)
	}
	embs := make([]EmbeddingDistribution, 0, len(rep.Embeddings))
	for _, e := range rep.Embeddings {
		ed := EmbeddingDistribution{Name: e.Name}
		var cd, rd *sketch.Distribution
		if v := cur.Embeddings[e.Name].Sketch; v != nil {
			ed.Cur, cd = momentsOf(v.Norms())
		}
		if v := ref.Embeddings[e.Name].Sketch; v != nil {
			ed.Ref, rd = momentsOf(v.Norms())
		}
		ed.Edges, ed.CurShare, ed.RefShare = normHistogram(ed.Cur, ed.Ref, cd, rd)
		embs = append(embs, ed)
	}
	return feats, embs
}

// normHistogram bins both distributions over the range their 1st to 99th
// percentiles span, at least ±5% around its middle (unit norms differ
// from 1 only by float32 rounding: bins over that would draw the rounding
// as a spread of norms, not one spike at 1), widened a little so that a
// point mass sits inside a bin rather than on an edge.
func normHistogram(cm, rm Moments, cd, rd *sketch.Distribution) (edges, cur, ref []float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range []Moments{cm, rm} {
		if len(m.Quantiles) == 0 {
			continue
		}
		lo = min(lo, m.Quantiles[0])
		hi = max(hi, m.Quantiles[len(m.Quantiles)-1])
	}
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, nil, nil
	}
	widened := false
	if mid, w := (lo+hi)/2, 0.05*math.Max(math.Abs((lo+hi)/2), 1); hi-lo < 2*w {
		lo, hi, widened = mid-w, mid+w, true
	}
	pad := 0.05 * (hi - lo)
	if pad == 0 {
		pad = 0.05 * math.Max(math.Abs(hi), 1)
	}
	lo, hi = lo-pad, hi+pad
	if widened {
		// The middle (1 for unit norms) in a bin, not on the edge an
		// even number of bins puts there.
		half := (hi - lo) / NormHistogramBins / 2
		lo, hi = lo-half, hi-half
	}
	edges = make([]float64, NormHistogramBins+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/NormHistogramBins
	}
	share := func(d *sketch.Distribution) []float64 {
		if d == nil {
			return nil
		}
		out := make([]float64, NormHistogramBins)
		prev := d.CDF(edges[0])
		for i := 1; i < len(edges); i++ {
			c := d.CDF(edges[i])
			out[i-1] = finiteOr0(c - prev)
			prev = c
		}
		return out
	}
	return edges, share(cd), share(rd)
}

// HorizonInfo describes the horizon Horizon returns.
type HorizonInfo struct {
	// Start and End bound the horizon in event time: the HorizonWindows
	// windows ending at the last window evaluated.
	Start, End time.Time
	// Windows is the number of (partition, window) partials merged;
	// Events the events they hold.
	Windows int
	Events  uint64
	// BaselineID is the id of the baseline the horizon was compared
	// with ("" without one).
	BaselineID string
}

// Horizon returns the merged sketches of the horizon of the last
// evaluation of model/version: fresh copies the caller owns, without the
// raw-normalized pairs. ok is false when the version is not tracked or has
// not been evaluated yet. It is safe for concurrent use.
func (e *Engine) Horizon(model, version string) (drift.Set, HorizonInfo, bool) {
	s := e.reg.lookup(model, version)
	if s == nil {
		return drift.Set{}, HorizonInfo{}, false
	}
	ev := e.ev
	ev.mu.Lock()
	vs, ok := ev.vers[s]
	var last *job
	var id string
	if ok {
		last = vs.last
		id = ev.latest[s].BaselineID
	}
	ev.mu.Unlock()
	if last == nil {
		return drift.Set{}, HorizonInfo{}, false
	}
	feats, embs := e.reg.names(s)
	set := mergeSet(last.windows, feats, embs, false, func(name string, err error) {
		e.internalError(ComponentEvaluate, s, name, err, nil)
	})
	end := last.start + e.window
	info := HorizonInfo{
		Start:   time.Unix(0, end-int64(e.opts.HorizonWindows)*e.window).UTC(),
		End:     time.Unix(0, end).UTC(),
		Windows: len(last.windows), Events: last.events, BaselineID: id,
	}
	return set, info, true
}
