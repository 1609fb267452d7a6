// Package demo owns the synthetic model of `monitor demo`: a ranker with
// two versions whose events and training data it generates. v3 is healthy.
// v4 carries the bugs normwatch exists to name: its income feature arrives
// raw because the z-score scaler is skipped at serving, and part of its
// query embeddings are not L2-normalized.
package demo

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Model is the demo model's name; Healthy and Buggy its versions.
const (
	Model   = "ranker"
	Healthy = "v3"
	Buggy   = "v4"
	// Dim is the dimension of the query embedding.
	Dim = 64
)

// The training scalers, also written to the scaler file of the baselines.
const (
	ageMean, ageStd       = 41.0, 12.0
	incomeMean, incomeStd = 52100.0, 18300.0
	sessionMax            = 3600.0 // session_seconds is min-max scaled from [0, 3600]
)

// Options sets the bugs of the buggy version.
type Options struct {
	// UnnormalizedShare is the share of v4 query vectors sent without L2
	// normalization.
	UnnormalizedShare float64
	// SkipIncomeScaler sends v4's income raw.
	SkipIncomeScaler bool
}

// DefaultOptions are the bugs `monitor demo` shows.
func DefaultOptions() Options { return Options{UnnormalizedShare: 0.31, SkipIncomeScaler: true} }

// Generator makes events and training rows. It is not safe for concurrent use.
type Generator struct {
	opts Options
	rng  *rand.Rand
	dir  []float64 // the embedding model's mean direction
	vec  []float32
	raw  []float32 // Request's unnormalized query
	buf  []byte
	buf2 []byte // Request's second event
}

// NewGenerator returns a generator seeded with seed.
func NewGenerator(opts Options, seed uint64) *Generator {
	g := &Generator{opts: opts, rng: rand.New(rand.NewPCG(seed, 0x6e6f726d)), vec: make([]float32, Dim)}
	dr := rand.New(rand.NewPCG(7, 7)) // the same direction for every generator
	g.dir = make([]float64, Dim)
	for i := range g.dir {
		g.dir[i] = dr.NormFloat64()
	}
	return g
}

// row is one example: raw features and the query embedding before
// normalization.
type row struct {
	age, income, session, score, clicks float64
}

func (g *Generator) row() row {
	r := g.rng
	return row{
		age:     math.Max(18, ageMean+ageStd*r.NormFloat64()),
		income:  incomeMean + incomeStd*r.NormFloat64(),
		session: math.Min(sessionMax, r.ExpFloat64()*600),
		score:   math.Min(1, math.Max(0, 0.62+0.15*r.NormFloat64())),
		clicks:  float64(poisson(r, 2.5)),
	}
}

func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// query fills g.vec with an embedding near the model's direction, unit-norm
// when normalize is true, else with the norm the raw model output has.
func (g *Generator) query(normalize bool) {
	var ss float64
	for i := range g.vec {
		x := 0.35*g.dir[i] + g.rng.NormFloat64()
		g.vec[i] = float32(x)
		ss += x * x
	}
	scale := 1.0
	if normalize {
		scale = 1 / math.Sqrt(ss)
	}
	for i := range g.vec {
		g.vec[i] = float32(float64(g.vec[i]) * scale)
	}
}

// Event returns the JSON of one production event of version at time t.
// The returned slice is reused by the next call.
func (g *Generator) Event(version string, t time.Time) []byte {
	x := g.row()
	buggy := version == Buggy
	g.query(!(buggy && g.rng.Float64() < g.opts.UnnormalizedShare))
	g.buf = g.appendEvent(g.buf[:0], x, version, "", t)
	return g.buf
}

// Request returns the events of one request scored by both versions, as
// a shadow route sends them: the same row and query embedding, each
// version's serving applied (v4's bugs to its own), both carrying the
// request's id. The returned slices are reused by the next call.
func (g *Generator) Request(id string, t time.Time) (live, shadow []byte) {
	x := g.row()
	g.query(false)
	var ss float64
	for _, v := range g.vec {
		ss += float64(v) * float64(v)
	}
	raw := append(g.raw[:0], g.vec...)
	g.raw = raw
	unit := 1 / math.Sqrt(ss)
	for i, v := range raw {
		g.vec[i] = float32(float64(v) * unit)
	}
	g.buf = g.appendEvent(g.buf[:0], x, Healthy, id, t)
	if g.rng.Float64() < g.opts.UnnormalizedShare {
		copy(g.vec, raw) // v4 left this one unnormalized
	}
	g.buf2 = g.appendEvent(g.buf2[:0], x, Buggy, id, t)
	return g.buf, g.buf2
}

// appendEvent appends the JSON event of row x served by version, with
// the query embedding in g.vec and request id id ("" for none).
func (g *Generator) appendEvent(b []byte, x row, version, id string, t time.Time) []byte {
	buggy := version == Buggy
	income := (x.income - incomeMean) / incomeStd
	if buggy && g.opts.SkipIncomeScaler {
		income = x.income
	}
	b = append(b, '{')
	if id != "" {
		b = append(b, `"request_id":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, ',')
	}
	b = append(b, `"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"model":"`+Model+`","model_version":"`...)
	b = append(b, version...)
	b = append(b, `","features":{"age":`...)
	b = appendFloat(b, (x.age-ageMean)/ageStd)
	b = append(b, `,"income":`...)
	b = appendFloat(b, income)
	b = append(b, `,"session_seconds":`...)
	b = appendFloat(b, x.session/sessionMax)
	b = append(b, `,"retrieval_score":`...)
	b = appendFloat(b, x.score)
	b = append(b, `,"clicks_7d":`...)
	b = appendFloat(b, x.clicks)
	b = append(b, `},"raw":{"income":`...)
	b = appendFloat(b, x.income)
	b = append(b, `},"embeddings":{"query":"b64f32:`...)
	b = appendB64F32(b, g.vec)
	return append(b, `"}}`...)
}

func appendFloat(b []byte, x float64) []byte { return strconv.AppendFloat(b, x, 'g', 7, 64) }

func appendB64F32(b []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.AppendEncode(b, raw)
}

// WriteTrainingCSV writes n rows of the training data of version: the
// features as the model was trained on them (normalized), with the query
// embedding as b64f32. Both versions were trained on correctly normalized
// data; their bugs are at serving.
func (g *Generator) WriteTrainingCSV(w io.Writer, n int) error {
	if _, err := io.WriteString(w, "age,income,session_seconds,retrieval_score,clicks_7d,query\n"); err != nil {
		return fmt.Errorf("writing training header: %w", err)
	}
	var b []byte
	for range n {
		x := g.row()
		g.query(true)
		b = b[:0]
		b = appendFloat(b, (x.age-ageMean)/ageStd)
		b = append(b, ',')
		b = appendFloat(b, (x.income-incomeMean)/incomeStd)
		b = append(b, ',')
		b = appendFloat(b, x.session/sessionMax)
		b = append(b, ',')
		b = appendFloat(b, x.score)
		b = append(b, ',')
		b = appendFloat(b, x.clicks)
		b = append(b, ",b64f32:"...)
		b = appendB64F32(b, g.vec)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("writing training row: %w", err)
		}
	}
	return nil
}

// ScalerYAML is the declared training normalization of the demo model, in
// the format of `monitor baseline build --scaler`.
func ScalerYAML() string {
	return fmt.Sprintf(`features:
  age: {kind: zscore, mean: %g, std: %g}
  income: {kind: zscore, mean: %g, std: %g}
  session_seconds: {kind: minmax, min: 0, max: %g}
embeddings:
  query: l2
`, ageMean, ageStd, incomeMean, incomeStd, sessionMax)
}
