package demo

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// The second demo model: a retrieval service whose events carry the query
// embedding, the documents its L2-distance index retrieved for it, and the
// output of a LayerNorm layer of its encoder as an activation field. v1 is
// healthy; v2 carries the bugs of the retrieval and activation signals:
// its query vectors lost their L2 normalization (the documents in the
// index still have it), and its encoder's LayerNorm became an RMSNorm.
// Each event carries its request's outcomes (eval_pass, and the context
// relevance and recall of what was retrieved): with queries unnormalized
// v2 retrieves worse, so its pass rate drops as relevance and recall fall
// together.
//
// One event in FrozenEvery is a run of a frozen query set: one of
// FrozenQueries fixed queries, whose retrieval also carries its query_id
// and the ids of the top FrozenK documents of a fixed corpus, ranked by a
// hybrid retriever (the dense dot product of query and document plus a
// lexical score). The training data's first run of each query is its
// reference. With the query unnormalized, v2's dense score is some eight
// times larger and outweighs the lexical one: its frozen runs retrieve
// other documents, a retrieval_regression.
const (
	SearchModel   = "search"
	SearchHealthy = "v1"
	SearchBuggy   = "v2"
	// Hidden is the activation field of the search model, named in the
	// demo daemon's activations.
	Hidden = "hidden"
	// HiddenDim is its dimension; Docs the documents of a retrieval.
	HiddenDim = 32
	Docs      = 5
	// The outcomes of a search event.
	EvalPass         = "eval_pass"
	ContextRelevance = "context_relevance"
	ContextRecall    = "context_recall"
	// The frozen query set: FrozenQueries queries, one event in
	// FrozenEvery a run of the next one, retrieving the top FrozenK of
	// CorpusDocs documents.
	FrozenQueries = 40
	FrozenEvery   = 5
	FrozenK       = 10
	CorpusDocs    = 400
)

// SearchOptions sets the bugs of the search model's buggy version.
type SearchOptions struct {
	// UnnormalizedQueries sends v2's query vectors without L2
	// normalization.
	UnnormalizedQueries bool
	// RMSNorm makes v2's hidden layer an RMSNorm instead of LayerNorm.
	RMSNorm bool
	// OutcomesFall lowers v2's outcomes: pass rate 90% to 80%, context
	// relevance 0.80 to 0.66 and recall 0.82 to 0.70 (means; each score
	// with a spread of 0.12).
	OutcomesFall bool
}

// DefaultSearchOptions are the bugs `monitor demo` shows.
func DefaultSearchOptions() SearchOptions {
	return SearchOptions{UnnormalizedQueries: true, RMSNorm: true, OutcomesFall: true}
}

// SearchGenerator makes the search model's events and training events. It
// is not safe for concurrent use.
type SearchGenerator struct {
	opts       SearchOptions
	rng        *rand.Rand
	orng       *rand.Rand // the outcomes', apart so the other draws stay as they were
	dir        []float64
	gain, bias []float64
	q, h       []float32
	docs       [][]float32
	buf        []byte
	// The frozen query set: each query's raw vector, and its top FrozenK
	// document ids as the hybrid retriever ranks them for the normalized
	// ([0]) and the unnormalized ([1]) query; n counts events, fq holds
	// each version's next frozen query (each version runs them all).
	frozenRaw [][]float64
	frozenTop [2][][]string
	n         int
	fq        map[string]int
}

// NewSearchGenerator returns a generator seeded with seed.
func NewSearchGenerator(opts SearchOptions, seed uint64) *SearchGenerator {
	g := &SearchGenerator{opts: opts, rng: rand.New(rand.NewPCG(seed, 0x73656172)), orng: rand.New(rand.NewPCG(seed, 0x6f7574)),
		q: make([]float32, Dim), h: make([]float32, HiddenDim)}
	fixed := rand.New(rand.NewPCG(11, 11)) // the same model for every generator
	g.dir = make([]float64, Dim)
	for i := range g.dir {
		g.dir[i] = fixed.NormFloat64()
	}
	g.gain, g.bias = make([]float64, HiddenDim), make([]float64, HiddenDim)
	for i := range g.gain {
		g.gain[i] = 1 + 0.1*fixed.NormFloat64()
		g.bias[i] = 0.05 * fixed.NormFloat64()
	}
	for range Docs {
		g.docs = append(g.docs, make([]float32, Dim))
	}
	g.frozenSet(fixed)
	return g
}

// frozenSet draws the frozen queries, the corpus and the lexical scores
// from r, and ranks the corpus for each query as the hybrid retriever
// does, with the query normalized and without.
func (g *SearchGenerator) frozenSet(r *rand.Rand) {
	corpus := make([][]float64, CorpusDocs)
	for j := range corpus {
		d, ss := make([]float64, Dim), 0.0
		for i := range d {
			d[i] = 0.35*g.dir[i] + r.NormFloat64()
			ss += d[i] * d[i]
		}
		for i := range d {
			d[i] /= math.Sqrt(ss) // the index holds unit-norm documents
		}
		corpus[j] = d
	}
	g.frozenRaw = make([][]float64, FrozenQueries)
	g.frozenTop[0], g.frozenTop[1] = make([][]string, FrozenQueries), make([][]string, FrozenQueries)
	type scored struct {
		id    int
		score float64
	}
	for q := range g.frozenRaw {
		raw, ss := make([]float64, Dim), 0.0
		for i := range raw {
			raw[i] = 0.35*g.dir[i] + r.NormFloat64()
			ss += raw[i] * raw[i]
		}
		g.frozenRaw[q] = raw
		for unnormalized := range 2 {
			scale := 1 / math.Sqrt(ss)
			if unnormalized == 1 {
				scale = 1
			}
			all := make([]scored, CorpusDocs)
			lex := rand.New(rand.NewPCG(uint64(q), 0x6c6578)) // the same lexical scores both ways
			for j, d := range corpus {
				var dot float64
				for i := range d {
					dot += float64(float32(raw[i]*scale)) * d[i]
				}
				all[j] = scored{j, dot + 0.6*lex.Float64()}
			}
			slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
			top := make([]string, FrozenK)
			for k := range top {
				top[k] = fmt.Sprintf("doc-%03d", all[k].id)
			}
			g.frozenTop[unnormalized][q] = top
		}
	}
}

// draw fills the query, its documents and the hidden activations of one
// request; buggy applies the options' bugs. frozen is the frozen query
// the request runs, or -1 for a query of its own.
func (g *SearchGenerator) draw(buggy bool, frozen int) {
	r := g.rng
	var ss float64
	for i := range g.q {
		x := 0.35*g.dir[i] + r.NormFloat64()
		if frozen >= 0 {
			x = g.frozenRaw[frozen][i]
		}
		g.q[i] = float32(x)
		ss += x * x
	}
	qn := math.Sqrt(ss)
	unit := make([]float64, Dim)
	for i := range unit {
		unit[i] = float64(g.q[i]) / qn
	}
	// Documents of the query's topic, stored L2-normalized in the index.
	for _, d := range g.docs {
		w := 0.3 + 0.6*r.Float64()
		var ds float64
		tmp := make([]float64, Dim)
		for i := range tmp {
			tmp[i] = w*unit[i] + (1-w)*r.NormFloat64()/8
			ds += tmp[i] * tmp[i]
		}
		for i := range d {
			d[i] = float32(tmp[i] / math.Sqrt(ds))
		}
	}
	scale := 1 / qn // normalized at serving
	if buggy && g.opts.UnnormalizedQueries {
		scale = 1 // the raw encoder output, norm about 8
	}
	for i := range g.q {
		g.q[i] = float32(float64(g.q[i]) * scale)
	}
	// The hidden layer: inputs of a scale and mean that vary per token.
	s, m := math.Exp(0.5*r.NormFloat64()), 0.8*r.NormFloat64()
	x := make([]float64, HiddenDim)
	var sum, sq float64
	for i := range x {
		x[i] = s*r.NormFloat64() + m
		sum += x[i]
		sq += x[i] * x[i]
	}
	mean := sum / HiddenDim
	var dev float64
	for _, v := range x {
		dev += (v - mean) * (v - mean)
	}
	std, rms := math.Sqrt(dev/HiddenDim), math.Sqrt(sq/HiddenDim)
	for i := range g.h {
		if buggy && g.opts.RMSNorm {
			g.h[i] = float32(g.gain[i] * x[i] / rms)
		} else {
			g.h[i] = float32(g.gain[i]*(x[i]-mean)/std + g.bias[i])
		}
	}
}

// Event returns the JSON of one production event of the search model's
// version at time t. The returned slice is reused by the next call.
func (g *SearchGenerator) Event(version string, t time.Time) []byte {
	frozen := -1
	if g.n++; g.n%FrozenEvery == 0 {
		if g.fq == nil {
			g.fq = map[string]int{}
		}
		frozen = g.fq[version]
		g.fq[version] = (frozen + 1) % FrozenQueries
	}
	buggy := version == SearchBuggy
	g.draw(buggy, frozen)
	latency := math.Exp(3 + 0.4*g.rng.NormFloat64())
	b := g.buf[:0]
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"model":"`+SearchModel+`","model_version":"`...)
	b = append(b, version...)
	b = append(b, `","features":{"latency_ms":`...)
	b = appendFloat(b, latency)
	b = append(b, `},"embeddings":{"query":"b64f32:`...)
	b = appendB64F32(b, g.q)
	b = append(b, `","`+Hidden+`":"b64f32:`...)
	b = appendB64F32(b, g.h)
	b = append(b, `"},"retrieval":{"query":"query","metric":"l2","docs":[`...)
	for i, d := range g.docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"b64f32:`...)
		b = appendB64F32(b, d)
		b = append(b, '"')
	}
	b = append(b, ']')
	if frozen >= 0 {
		top := g.frozenTop[0][frozen]
		if buggy && g.opts.UnnormalizedQueries {
			top = g.frozenTop[1][frozen]
		}
		b = append(b, `,"query_id":"fq-`...)
		b = strconv.AppendInt(b, int64(frozen), 10)
		b = append(b, `","doc_ids":[`...)
		for i, id := range top {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, id)
		}
		b = append(b, ']')
	}
	b = append(b, `},"outcomes":{"`+EvalPass+`":`...)
	pass, rel, rec := 0.90, 0.80, 0.82
	if version == SearchBuggy && g.opts.OutcomesFall {
		pass, rel, rec = 0.80, 0.66, 0.70
	}
	if g.orng.Float64() < pass {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	clip := func(x float64) float64 { return min(1, max(0, x)) }
	b = append(b, `,"`+ContextRelevance+`":`...)
	b = strconv.AppendFloat(b, clip(rel+0.12*g.orng.NormFloat64()), 'f', 3, 64)
	b = append(b, `,"`+ContextRecall+`":`...)
	b = strconv.AppendFloat(b, clip(rec+0.12*g.orng.NormFloat64()), 'f', 3, 64)
	b = append(b, "}}"...)
	g.buf = b
	return b
}

// WriteTrainingJSONL writes n healthy events of version as JSONL: the
// reference data of the search model's baselines (retrievals and
// activations are events' fields, which a CSV does not carry).
func (g *SearchGenerator) WriteTrainingJSONL(w io.Writer, version string, n int) error {
	healthy := *g
	healthy.opts, healthy.fq = SearchOptions{}, nil
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b := append(healthy.Event(version, at.Add(time.Duration(i)*time.Second)), '\n')
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("writing training event: %w", err)
		}
	}
	g.buf = healthy.buf
	return nil
}

// SearchScalerYAML is the declared training normalization of the search
// model: its query embedding is L2-normalized.
func SearchScalerYAML() string {
	return "embeddings:\n  query: l2\n"
}
