package scenario

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The synthetic model: seven numeric features covering every scaler kind
// and the undeclared ones, and one L2-normalized embedding. Raw values are
// drawn here; the declared scalers are fitted exactly on the training rows.
const (
	fAmount  = "amount"          // lognormal dollars, z-score
	fAge     = "age"             // normal years, z-score
	fSession = "session_seconds" // exponential seconds, min-max
	fClicks  = "clicks_7d"       // Poisson counts, robust
	fScore   = "retrieval_score" // bounded score in [0, 1], no scaler
	fLatency = "latency_ms"      // lognormal milliseconds, no scaler
	fTemp    = "temp_c"          // normal degrees Celsius, no scaler
	eQuery   = "query"           // unit-norm embedding

	dim = 32
)

// featureNames in the order of the training CSV and of events.
var featureNames = []string{fAmount, fAge, fSession, fClicks, fScore, fLatency, fTemp}

// pairedFeatures carry their raw value beside the normalized one when a
// scenario's encoding sends pairs.
var pairedFeatures = []string{fAmount, fAge}

// rawRow draws one row of raw values.
func rawRow(r *rand.Rand) map[string]float64 {
	return map[string]float64{
		fAmount:  math.Exp(4.2 + 0.7*r.NormFloat64()),
		fAge:     math.Max(18, 41+12*r.NormFloat64()),
		fSession: math.Min(3600, 600*r.ExpFloat64()),
		fClicks:  float64(poisson(r, 6)),
		fScore:   math.Min(1, math.Max(0, 0.62+0.13*r.NormFloat64())),
		fLatency: math.Exp(5 + 0.45*r.NormFloat64()),
		fTemp:    20 + 6*r.NormFloat64(),
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

// scaler is a declared training normalization: normalized = (raw - center) / spread.
type scaler struct {
	kind           string // zscore, minmax, robust
	center, spread float64
	a, b           float64 // the file's two parameters: mean/std, min/max, median/iqr
}

func (s scaler) apply(x float64) float64 { return (x - s.center) / s.spread }

// world is one scenario's model: its scalers fitted on its training rows,
// and the mean direction of its embedding model.
type world struct {
	scalers map[string]scaler
	dir     []float64
}

// newWorld draws n training rows with seed and fits the scalers on them.
func newWorld(seed uint64, n int) (*world, [][]float64, [][]float32) {
	r := rand.New(rand.NewPCG(seed, 0x7261696e))
	w := &world{scalers: map[string]scaler{}, dir: direction(seed)}
	rows := make([][]float64, n)
	vecs := make([][]float32, n)
	cols := make(map[string][]float64, len(featureNames))
	for i := range rows {
		raw := rawRow(r)
		row := make([]float64, len(featureNames))
		for j, f := range featureNames {
			row[j] = raw[f]
			cols[f] = append(cols[f], raw[f])
		}
		rows[i] = row
		vecs[i] = w.vector(r, 1, true, nil)
	}
	mean, std := meanStd(cols[fAmount])
	w.scalers[fAmount] = scaler{kind: "zscore", center: mean, spread: std, a: mean, b: std}
	mean, std = meanStd(cols[fAge])
	w.scalers[fAge] = scaler{kind: "zscore", center: mean, spread: std, a: mean, b: std}
	lo, hi := slices.Min(cols[fSession]), slices.Max(cols[fSession])
	w.scalers[fSession] = scaler{kind: "minmax", center: lo, spread: hi - lo, a: lo, b: hi}
	s := slices.Sorted(slices.Values(cols[fClicks]))
	med, iqr := quantile(s, 0.5), quantile(s, 0.75)-quantile(s, 0.25)
	w.scalers[fClicks] = scaler{kind: "robust", center: med, spread: iqr, a: med, b: iqr}
	return w, rows, vecs
}

func meanStd(xs []float64) (float64, float64) {
	var s float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)))
}

// quantile is the linear-interpolation quantile of sorted xs (numpy's default).
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	i := int(math.Floor(h))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

func direction(seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x646972))
	d := make([]float64, dim)
	for i := range d {
		d[i] = r.NormFloat64()
	}
	return d
}

// vector draws an embedding around dir (w.dir when nil), L2-normalized
// when normalize is set, else with the norm the raw model output has
// (about 6 for 32 dimensions), times scale.
func (w *world) vector(r *rand.Rand, scale float64, normalize bool, dir []float64) []float32 {
	if dir == nil {
		dir = w.dir
	}
	v := make([]float32, dim)
	var ss float64
	x := make([]float64, dim)
	for i := range x {
		x[i] = 0.4*dir[i] + r.NormFloat64()
		ss += x[i] * x[i]
	}
	k := scale
	if normalize {
		k = 1 / math.Sqrt(ss)
	}
	for i := range v {
		v[i] = float32(k * x[i])
	}
	return v
}

// writeTraining writes the training CSV (normalized features, the
// embedding as b64f32) and the scaler file.
func (w *world) writeTraining(csv, scalerFile io.Writer, rows [][]float64, vecs [][]float32) error {
	if _, err := io.WriteString(csv, strings.Join(featureNames, ",")+","+eQuery+"\n"); err != nil {
		return fmt.Errorf("writing training header: %w", err)
	}
	var b []byte
	for i, row := range rows {
		b = b[:0]
		for j, f := range featureNames {
			x := row[j]
			if s, ok := w.scalers[f]; ok {
				x = s.apply(x)
			}
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
			b = append(b, ',')
		}
		b = append(b, "b64f32:"...)
		b = appendB64F32(b, vecs[i])
		b = append(b, '\n')
		if _, err := csv.Write(b); err != nil {
			return fmt.Errorf("writing training row: %w", err)
		}
	}
	var sb strings.Builder
	sb.WriteString("features:\n")
	for _, f := range featureNames {
		s, ok := w.scalers[f]
		if !ok {
			continue
		}
		names := map[string][2]string{"zscore": {"mean", "std"}, "minmax": {"min", "max"}, "robust": {"median", "iqr"}}[s.kind]
		fmt.Fprintf(&sb, "  %s: {kind: %s, %s: %s, %s: %s}\n", f, s.kind,
			names[0], strconv.FormatFloat(s.a, 'g', -1, 64), names[1], strconv.FormatFloat(s.b, 'g', -1, 64))
	}
	sb.WriteString("embeddings:\n  " + eQuery + ": l2\n")
	if _, err := io.WriteString(scalerFile, sb.String()); err != nil {
		return fmt.Errorf("writing scaler file: %w", err)
	}
	return nil
}

func appendB64F32(b []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.AppendEncode(b, raw)
}
