package scenario

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// The retrieval and activation signals. A scenario with Signals set sends,
// besides the usual event, a retrieval of the query embedding (k documents
// of its topic, unit-norm, scored by an L2-distance index) or an
// activation field (eHidden: a LayerNorm layer's output, with a learned
// gain and bias), and its baseline is built from training events (JSONL)
// rather than the CSV, as retrievals and activations are events' fields.
const (
	eHidden = "hidden" // an activation field, declared in the daemon's config

	signalRetrieval  = "retrieval"
	signalActivation = "activation"

	docsPerQuery = 5
)

// retrievalEv is an event's retrieval: the documents' vectors, and
// whether the event sends the scores instead of them.
type retrievalEv struct {
	docs       [][]float32
	scoresOnly bool
}

// signals draws ev's retrieval or activation field, as served healthy.
func (st *traffic) signals(ev *event) {
	switch st.s.Signals {
	case signalRetrieval:
		ev.retrieval = &retrievalEv{scoresOnly: st.s.ScoresOnly}
		for range docsPerQuery {
			// A document of the query's topic: the query plus noise of
			// a random weight, L2-normalized as the index stores it.
			w := st.r.Float64()
			d := make([]float64, dim)
			var ss float64
			for j := range d {
				d[j] = w*float64(ev.vec[j]) + (1-w)*st.r.NormFloat64()/math.Sqrt(dim)
				ss += d[j] * d[j]
			}
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(d[j] / math.Sqrt(ss))
			}
			ev.retrieval.docs = append(ev.retrieval.docs, v)
		}
	case signalActivation:
		ev.hidden = st.w.activation(st.r, layerNorm)
	}
}

// Normalization layers of the activation field.
const (
	layerNorm = iota
	rmsNorm
	noNorm
)

// activation draws one output vector of the hidden layer: its input has a
// scale and a mean that vary per vector (tokens), which LayerNorm removes
// (then applies the world's gain and bias), RMSNorm divides by the root
// mean square only (the mean stays free), and no normalization keeps.
func (w *world) activation(r *rand.Rand, layer int) []float32 {
	scale, shift := math.Exp(0.5*r.NormFloat64()), 0.8*r.NormFloat64()
	x := make([]float64, dim)
	var sum, sq float64
	for j := range x {
		x[j] = scale*r.NormFloat64() + shift
		sum += x[j]
		sq += x[j] * x[j]
	}
	mean := sum / dim
	var dev float64
	for _, v := range x {
		dev += (v - mean) * (v - mean)
	}
	std, rms := math.Sqrt(dev/dim), math.Sqrt(sq/dim)
	gain, bias := w.gain()
	out := make([]float32, dim)
	for j := range x {
		switch layer {
		case layerNorm:
			out[j] = float32(gain[j]*(x[j]-mean)/std + bias[j])
		case rmsNorm:
			out[j] = float32(gain[j] * x[j] / rms)
		default:
			out[j] = float32(x[j])
		}
	}
	return out
}

// gain returns the layer's learned gain and bias, drawn from the world's
// embedding direction so that they are fixed per world.
func (w *world) gain() ([]float64, []float64) {
	g, b := make([]float64, dim), make([]float64, dim)
	for j := range g {
		g[j] = 1 + 0.05*w.dir[j]
		b[j] = 0.02 * w.dir[(j+1)%dim]
	}
	return g, b
}

// encodeSignals appends ev's retrieval object.
func (st *traffic) encodeSignals(b []byte, ev *event) []byte {
	rt := ev.retrieval
	if rt == nil {
		return b
	}
	b = append(b, `,"retrieval":{"query":"`+eQuery+`","metric":"l2",`...)
	if rt.scoresOnly {
		b = append(b, `"scores":[`...)
		for i, d := range rt.docs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, sketch.Score(sketch.MetricL2, ev.vec, d), 'g', 7, 64)
		}
		return append(b, "]}"...)
	}
	b = append(b, `"docs":[`...)
	for i, d := range rt.docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = st.vector(b, d)
	}
	return append(b, "]}"...)
}

// vector appends v as the scenario encodes embeddings.
func (st *traffic) vector(b []byte, v []float32) []byte {
	if st.s.B64 {
		b = append(b, `"b64f32:`...)
		b = appendB64F32(b, v)
		return append(b, '"')
	}
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']')
}

// signalScenarios are the faults of the two signals with their healthy
// counter-cases, appended to the suite after the others so that the
// others keep their ids and seeds.
func signalScenarios(size Size, pick func(int) int) []Scenario {
	mid := size.Windows / 2
	var out []Scenario
	retrieval := func(fault, expect string) Scenario {
		return Scenario{Fault: fault, Target: eQuery, Kind: "embedding", Expect: expect, Signals: signalRetrieval}
	}
	// The query side loses its L2 normalization: the raw model output
	// (norm about 6) against unit-norm documents in an L2 index.
	for i, p := range []struct {
		scoresOnly bool
		onset      int
	}{{false, 0}, {true, mid}, {true, 0}, {false, mid}}[:pick(4)] {
		scale := 6 + float64(i)
		s := retrieval("similarity_compressed", "similarity_compressed")
		s.ScoresOnly, s.Onset = p.scoresOnly, p.onset
		s.Params = map[bool]string{false: "query unnormalized, docs sent", true: "query unnormalized, scores sent"}[p.scoresOnly]
		// The query's own direction at the raw model output's norm.
		s.apply = func(_ *world, _ *rand.Rand, ev *event) { ev.vec = scaledBy(ev.vec, scale) }
		out = append(out, s)
	}
	if size.Full {
		// The index side: documents stored unnormalized.
		s := retrieval("similarity_compressed", "similarity_compressed")
		s.Params = "documents unnormalized"
		s.apply = func(_ *world, _ *rand.Rand, ev *event) {
			for i, d := range ev.retrieval.docs {
				ev.retrieval.docs[i] = scaledBy(d, 5)
			}
		}
		out = append(out, s)
	}
	activation := func(fault, expect string) Scenario {
		return Scenario{Fault: fault, Target: eHidden, Kind: "embedding", Expect: expect, Signals: signalActivation}
	}
	for i, p := range []struct {
		layer  int
		params string
	}{{rmsNorm, "LayerNorm → RMSNorm"}, {noNorm, "LayerNorm dropped"}, {rmsNorm, "LayerNorm → RMSNorm"}}[:pick(3)] {
		s := activation("activation_norm_change", "activation_norm_change")
		s.Params, s.Onset = p.params, []int{0, mid, mid}[i]
		layer := p.layer
		s.apply = func(w *world, r *rand.Rand, ev *event) { ev.hidden = w.activation(r, layer) }
		out = append(out, s)
	}
	// Healthy counter-cases: the same signals, nothing wrong.
	for i, sig := range []string{signalRetrieval, signalActivation, signalRetrieval} {
		s := Scenario{Fault: "clean", Params: "healthy " + sig + " " + strconv.Itoa(i), Signals: sig, ScoresOnly: i == 2}
		out = append(out, s)
	}
	return out
}

func scaledBy(v []float32, k float64) []float32 {
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(float64(x) * k)
	}
	return out
}

// trainingEvents writes n healthy training events of s's model as JSONL,
// for the baseline of a scenario with signals.
func trainingEvents(s *Scenario, w *world, n int, b []byte) []byte {
	healthy := *s
	healthy.apply, healthy.B64, healthy.Digits, healthy.Pairs = nil, true, -1, false
	healthy.Seed = s.Seed ^ 0x747261696e
	st := newTraffic(&healthy, w)
	for range n {
		b = st.encode(b, st.next(0), trainingTime)
		b = append(b, '\n')
	}
	return b
}

var trainingTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// buildSignalBaseline builds s's baseline from n training events, with the
// scaler file of its world, through `monitor baseline build`.
func buildSignalBaseline(ctx context.Context, monitor, dir, bdir string, s *Scenario, w *world, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	jsonl, scalerPath := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "scaler.yaml")
	var scaler strings.Builder
	if err := w.writeTraining(io.Discard, &scaler, nil, nil); err != nil {
		return err
	}
	if err := os.WriteFile(scalerPath, []byte(scaler.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(jsonl, trainingEvents(s, w, n, nil), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, monitor, "baseline", "build", "--input", jsonl, "--model", s.ID,
		"--model-version", "v1", "--scaler", scalerPath, "--activations", eHidden, "--out", bdir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("monitor baseline build for %s: %w: %s", s.ID, err, out)
	}
	return os.Remove(jsonl)
}
