package sketch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/influxdata/tdigest"
)

// The binary forms start with a three-byte magic and a format version, so
// a checkpoint or baseline written by one release is either read right by
// the next or refused with a clear error, never misread.
const (
	numericMagic = "NWN"
	vectorMagic  = "NWV"
	pairMagic    = "NWP"
	// EncodingVersion is the version of the binary and JSON forms.
	EncodingVersion = 1
	// numericRawVersion is the version of Numeric's binary form that also
	// carries raw values, sorted, not folded in yet: version 1's fields
	// (all empty but the counts of missing and non-finite values) and then
	// the values. It is written only for a sketch Compact keeps raw (or
	// would), so that a checkpoint neither folds an open window's values
	// early nor makes a closed window bigger on restore.
	numericRawVersion = 2

	// maxEntries bounds the decoded lists, so hostile input cannot make
	// the decoder allocate without limit.
	maxEntries = 1 << 20
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("sketch: corrupt encoding")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

type writer struct{ b []byte }

func (w *writer) u(v uint64)  { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) f(v float64) { w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v)) }

type reader struct {
	b   []byte
	err error
}

func (r *reader) u(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = corrupt("reading %s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) f(what string) float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = corrupt("reading %s: truncated", what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// length reads a list length and checks that the rest of the input can
// hold that many entries of at least minSize bytes.
func (r *reader) length(what string, minSize int) int {
	n := r.u(what)
	if r.err != nil {
		return 0
	}
	if n > maxEntries || n*uint64(minSize) > uint64(len(r.b)) {
		r.err = corrupt("%s: %d entries do not fit the input", what, n)
		return 0
	}
	return int(n)
}

func (r *reader) header(magic string) {
	r.headerOf(magic, EncodingVersion)
}

// headerOf reads the magic and a version up to newest, and returns the version.
func (r *reader) headerOf(magic string, newest byte) byte {
	if len(r.b) < 4 || string(r.b[:3]) != magic {
		r.err = corrupt("not a %s sketch", magic)
		return 0
	}
	v := r.b[3]
	if v < EncodingVersion || v > newest {
		if newest == EncodingVersion {
			r.err = corrupt("%s version %d, want %d", magic, v, EncodingVersion)
		} else {
			r.err = corrupt("%s version %d, want %d to %d", magic, v, EncodingVersion, newest)
		}
		return 0
	}
	r.b = r.b[4:]
	return v
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = corrupt("%d trailing bytes", len(r.b))
	}
	return r.err
}

// numericWire is the content of a Numeric, shared by both encodings.
type numericWire struct {
	Version      int          `json:"version"`
	Compression  float64      `json:"compression"`
	ExactLimit   int          `json:"exact_limit"`
	BufferSize   int          `json:"buffer_size"`
	HeavyHitters int          `json:"heavy_hitters_k"`
	Missing      uint64       `json:"missing"`
	NaN          uint64       `json:"nan"`
	PosInf       uint64       `json:"pos_inf"`
	NegInf       uint64       `json:"neg_inf"`
	Moments      Moments      `json:"moments"`
	Min          *float64     `json:"min,omitempty"`
	Max          *float64     `json:"max,omitempty"`
	Exact        bool         `json:"exact"`
	Values       []ValueCount `json:"values,omitempty"`
	Centroids    [][2]float64 `json:"centroids,omitempty"`
	TailLow      []float64    `json:"tail_low,omitempty"`
	TailHigh     []float64    `json:"tail_high,omitempty"`
	Masses       []ValueCount `json:"masses,omitempty"`
	Top          []ValueCount `json:"top,omitempty"`
	// Raw are values not folded in (binary form only, version 2), sorted.
	Raw []float64 `json:"-"`
}

// binaryWire returns the content of n for the binary form: a sketch
// Compact keeps raw, or would, described by its raw values, any other as
// wire does.
func (n *Numeric) binaryWire() numericWire {
	if n.keepRaw() {
		w := numericWire{
			Version: numericRawVersion, Compression: n.opts.Compression, ExactLimit: n.opts.ExactLimit,
			BufferSize: n.opts.BufferSize, HeavyHitters: n.opts.HeavyHitters,
			Missing: n.missing, NaN: n.nan, PosInf: n.posInf, NegInf: n.negInf,
			Exact: n.opts.ExactLimit > 0, Raw: make([]float64, len(n.buf)),
		}
		for i, k := range n.buf {
			w.Raw[i] = keyFloat(k)
		}
		return w
	}
	return n.wire()
}

// wire returns the content of n, its values folded in.
func (n *Numeric) wire() numericWire {
	n = n.settled()
	w := numericWire{
		Version: EncodingVersion, Compression: n.opts.Compression, ExactLimit: n.opts.ExactLimit,
		BufferSize: n.opts.BufferSize, HeavyHitters: n.opts.HeavyHitters,
		Missing: n.missing, NaN: n.nan, PosInf: n.posInf, NegInf: n.negInf,
		Moments: n.mom, Exact: n.exactMode, Top: n.hh.counters,
	}
	if n.mom.N > 0 {
		lo, hi := n.min, n.max
		w.Min, w.Max = &lo, &hi
	}
	if n.exactMode {
		w.Values = n.exact
	} else {
		w.Centroids = make([][2]float64, len(n.centroids))
		for i, c := range n.centroids {
			w.Centroids[i] = [2]float64{c.Mean, c.Weight}
		}
		w.TailLow, w.TailHigh = n.lo, n.hi
		w.Masses = n.masses
	}
	return w
}

// numericFromWire validates w and builds the Numeric it describes.
func numericFromWire(w numericWire) (*Numeric, error) {
	if w.Version != EncodingVersion {
		return nil, corrupt("numeric version %d, want %d", w.Version, EncodingVersion)
	}
	n, err := NewNumericWith(NumericOptions{
		Compression: w.Compression, ExactLimit: w.ExactLimit,
		BufferSize: w.BufferSize, HeavyHitters: w.HeavyHitters,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(w.Raw) > 0 {
		if err := rawFromWire(n, w); err != nil {
			return nil, err
		}
		return n, nil
	}
	m := w.Moments
	for _, f := range []float64{m.N, m.Mean, m.M2, m.M3, m.M4} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, corrupt("non-finite moment")
		}
	}
	if m.N < 0 || m.N != math.Trunc(m.N) || m.N > 1<<53 || m.M2 < 0 || m.M4 < 0 {
		return nil, corrupt("impossible moments (n %v, m2 %v, m4 %v)", m.N, m.M2, m.M4)
	}
	if (m.N > 0) != (w.Min != nil && w.Max != nil) {
		return nil, corrupt("minimum and maximum must be present exactly when there are values")
	}
	if m.N > 0 {
		lo, hi := *w.Min, *w.Max
		if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) || lo > hi {
			return nil, corrupt("bad minimum %v or maximum %v", lo, hi)
		}
		n.min, n.max = lo, hi
	}
	// Sketches written before -0 and +0 were one value may list both.
	w.Values, w.Masses, w.Top = joinZeros(w.Values), joinZeros(w.Masses), joinZeros(w.Top)
	var total float64
	if w.Exact {
		if len(w.Centroids) > 0 {
			return nil, corrupt("exact sketch with centroids")
		}
		if len(w.Values) > n.opts.ExactLimit || !validValues(w.Values) {
			return nil, corrupt("bad exact values")
		}
		for _, v := range w.Values {
			total += float64(v.Count)
		}
		n.exact = w.Values
	} else {
		if len(w.Values) > 0 {
			return nil, corrupt("digest sketch with exact values")
		}
		if len(w.Masses) > maxMasses || !validValues(w.Masses) {
			return nil, corrupt("bad point masses")
		}
		for _, v := range w.Masses {
			total += float64(v.Count)
			if m.N > 0 && (v.Value < *w.Min || v.Value > *w.Max) {
				return nil, corrupt("point mass outside [minimum, maximum]")
			}
		}
		n.masses = w.Masses
		n.exactMode = false
		n.centroids = make(tdigest.CentroidList, len(w.Centroids))
		var wd float64
		for i, c := range w.Centroids {
			if math.IsNaN(c[0]) || math.IsInf(c[0], 0) || !(c[1] > 0) || math.IsInf(c[1], 0) {
				return nil, corrupt("bad centroid %d", i)
			}
			if i > 0 && c[0] < w.Centroids[i-1][0] {
				return nil, corrupt("centroids out of order at %d", i)
			}
			n.centroids[i] = tdigest.Centroid{Mean: c[0], Weight: c[1]}
			wd += c[1]
		}
		total += wd
		if err := validTails(w.TailLow, w.TailHigh, wd, n); err != nil {
			return nil, err
		}
		n.lo, n.hi = w.TailLow, w.TailHigh
	}
	if math.Abs(total-m.N) > 1e-9*math.Max(m.N, 1) {
		return nil, corrupt("summary holds %v values, moments %v", total, m.N)
	}
	if len(w.Values) > 0 && (w.Values[0].Value < n.min || w.Values[len(w.Values)-1].Value > n.max) {
		return nil, corrupt("values outside [minimum, maximum]")
	}
	if c := n.centroids; len(c) > 0 && (c[0].Mean < n.lo[0] || c[len(c)-1].Mean > n.hi[len(n.hi)-1]) {
		return nil, corrupt("centroids outside the exact tails")
	}
	if len(w.Top) > n.opts.HeavyHitters || !validValues(w.Top) {
		return nil, corrupt("bad heavy hitters")
	}
	n.hh.counters = w.Top
	n.mom = m
	n.missing, n.nan, n.posInf, n.negInf = w.Missing, w.NaN, w.PosInf, w.NegInf
	return n, nil
}

// joinZeros merges an entry of -0 with the +0 that follows it, as
// summarizing sorted keys listed them apart until the keys made them one.
func joinZeros(vc []ValueCount) []ValueCount {
	for i := 1; i < len(vc); i++ {
		if vc[i-1].Value == 0 && vc[i].Value == 0 {
			vc[i-1] = ValueCount{Value: 0, Count: vc[i-1].Count + vc[i].Count}
			return append(vc[:i], vc[i+1:]...)
		}
	}
	return vc
}

// rawFromWire fills n with the raw values of w, which must hold nothing
// else but counts: n is frozen, as Compact leaves it.
func rawFromWire(n *Numeric, w numericWire) error {
	switch {
	case w.Moments != Moments{} || w.Min != nil || w.Max != nil || len(w.Values) > 0 || len(w.Centroids) > 0 ||
		len(w.TailLow) > 0 || len(w.TailHigh) > 0 || len(w.Masses) > 0 || len(w.Top) > 0:
		return corrupt("raw values beside folded ones")
	case len(w.Raw) > n.opts.BufferSize:
		return corrupt("%d raw values over the buffer size %d", len(w.Raw), n.opts.BufferSize)
	}
	n.buf = make([]uint64, len(w.Raw))
	for i, x := range w.Raw {
		if math.IsNaN(x) || math.IsInf(x, 0) || (i > 0 && x < w.Raw[i-1]) {
			return corrupt("raw value %d (%v) not finite or out of order", i, x)
		}
		n.buf[i] = floatKey(x)
	}
	n.frozen = true
	n.missing, n.nan, n.posInf, n.negInf = w.Missing, w.NaN, w.PosInf, w.NegInf
	return nil
}

// validTails checks the exact tails against the digest's weight wd and the
// sketch's range.
func validTails(lo, hi []float64, wd float64, n *Numeric) error {
	want := int(math.Min(wd, tailSize))
	if len(lo) != want || len(hi) != want {
		return corrupt("%d and %d tail values for a digest of %v", len(lo), len(hi), wd)
	}
	for _, t := range [][]float64{lo, hi} {
		for i, x := range t {
			if math.IsNaN(x) || x < n.min || x > n.max || (i > 0 && x < t[i-1]) {
				return corrupt("bad tail value %v", x)
			}
		}
	}
	return nil
}

// MarshalBinary encodes n in its compact versioned binary form.
func (n *Numeric) MarshalBinary() ([]byte, error) {
	return n.AppendBinary(nil)
}

// AppendBinary appends the binary form of n to b.
func (n *Numeric) AppendBinary(b []byte) ([]byte, error) {
	w := n.binaryWire()
	out := writer{b: append(b, numericMagic...)}
	out.b = append(out.b, byte(w.Version))
	out.f(w.Compression)
	out.u(uint64(w.ExactLimit))
	out.u(uint64(w.BufferSize))
	out.u(uint64(w.HeavyHitters))
	out.u(w.Missing)
	out.u(w.NaN)
	out.u(w.PosInf)
	out.u(w.NegInf)
	for _, f := range []float64{w.Moments.N, w.Moments.Mean, w.Moments.M2, w.Moments.M3, w.Moments.M4} {
		out.f(f)
	}
	if w.Moments.N > 0 {
		out.f(*w.Min)
		out.f(*w.Max)
	}
	if w.Exact {
		out.u(1)
		out.u(uint64(len(w.Values)))
		for _, v := range w.Values {
			out.f(v.Value)
			out.u(v.Count)
		}
	} else {
		out.u(0)
		out.u(uint64(len(w.Centroids)))
		for _, c := range w.Centroids {
			out.f(c[0])
			out.f(c[1])
		}
		for _, t := range [][]float64{w.TailLow, w.TailHigh} {
			out.u(uint64(len(t)))
			for _, x := range t {
				out.f(x)
			}
		}
		out.u(uint64(len(w.Masses)))
		for _, v := range w.Masses {
			out.f(v.Value)
			out.u(v.Count)
		}
	}
	out.u(uint64(len(w.Top)))
	for _, v := range w.Top {
		out.f(v.Value)
		out.u(v.Count)
	}
	if w.Version == numericRawVersion {
		out.u(uint64(len(w.Raw)))
		for _, x := range w.Raw {
			out.f(x)
		}
	}
	return out.b, nil
}

// UnmarshalBinary replaces n with the Numeric encoded in data. Any
// inconsistency is an error wrapping ErrCorrupt; n is unchanged then.
func (n *Numeric) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	version := r.headerOf(numericMagic, numericRawVersion)
	w := numericWire{Version: EncodingVersion}
	w.Compression = r.f("compression")
	w.ExactLimit = int(min(r.u("exact limit"), 1<<30))
	w.BufferSize = int(min(r.u("buffer size"), 1<<30))
	w.HeavyHitters = int(min(r.u("heavy hitters"), 1<<30))
	w.Missing, w.NaN, w.PosInf, w.NegInf = r.u("missing"), r.u("nan"), r.u("+inf"), r.u("-inf")
	w.Moments = Moments{N: r.f("n"), Mean: r.f("mean"), M2: r.f("m2"), M3: r.f("m3"), M4: r.f("m4")}
	if r.err == nil && w.Moments.N > 0 {
		lo, hi := r.f("min"), r.f("max")
		w.Min, w.Max = &lo, &hi
	}
	w.Exact = r.u("mode") == 1
	if w.Exact {
		w.Values = make([]ValueCount, r.length("values", 9))
		for i := range w.Values {
			w.Values[i] = ValueCount{Value: r.f("value"), Count: r.u("count")}
		}
	} else {
		w.Centroids = make([][2]float64, r.length("centroids", 16))
		for i := range w.Centroids {
			w.Centroids[i] = [2]float64{r.f("mean"), r.f("weight")}
		}
		for _, t := range []*[]float64{&w.TailLow, &w.TailHigh} {
			*t = make([]float64, r.length("tail", 8))
			for i := range *t {
				(*t)[i] = r.f("tail value")
			}
			if len(*t) == 0 {
				*t = nil
			}
		}
		w.Masses = make([]ValueCount, r.length("point masses", 9))
		for i := range w.Masses {
			w.Masses[i] = ValueCount{Value: r.f("value"), Count: r.u("count")}
		}
		if len(w.Masses) == 0 {
			w.Masses = nil
		}
	}
	w.Top = make([]ValueCount, r.length("heavy hitters", 9))
	for i := range w.Top {
		w.Top[i] = ValueCount{Value: r.f("value"), Count: r.u("count")}
	}
	if version == numericRawVersion {
		w.Raw = make([]float64, r.length("raw values", 8))
		for i := range w.Raw {
			w.Raw[i] = r.f("raw value")
		}
		if r.err == nil && len(w.Raw) == 0 {
			return corrupt("raw form without raw values")
		}
	}
	if err := r.done(); err != nil {
		return err
	}
	if len(w.Top) == 0 {
		w.Top = nil
	}
	d, err := numericFromWire(w)
	if err != nil {
		return err
	}
	*n = *d
	return nil
}

// MarshalJSON encodes n as JSON, for baselines people read.
func (n *Numeric) MarshalJSON() ([]byte, error) {
	return json.Marshal(n.wire())
}

// UnmarshalJSON replaces n with the Numeric in data, validated as in
// UnmarshalBinary.
func (n *Numeric) UnmarshalJSON(data []byte) error {
	var w numericWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(w.Centroids) > maxEntries || len(w.Values) > maxEntries {
		return corrupt("too many entries")
	}
	d, err := numericFromWire(w)
	if err != nil {
		return err
	}
	*n = *d
	return nil
}

// vectorWire is the content of a Vector.
type vectorWire struct {
	Version     int       `json:"version"`
	Dim         int       `json:"dim"`
	Tolerance   float64   `json:"unit_tolerance"`
	Count       uint64    `json:"count"`
	DimMismatch uint64    `json:"dim_mismatch"`
	Zero        uint64    `json:"zero"`
	NonFinite   uint64    `json:"nonfinite"`
	Unit        uint64    `json:"unit_norm"`
	Norms       *Numeric  `json:"norms"`
	Sums        []float64 `json:"sums"` // per dimension: sum, sum of squares
}

func vectorFromWire(w vectorWire) (*Vector, error) {
	if w.Version != EncodingVersion {
		return nil, corrupt("vector version %d, want %d", w.Version, EncodingVersion)
	}
	v, err := NewVector(w.Dim, w.Tolerance)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if w.Norms == nil || w.Norms.Count() != w.Count || w.Norms.Total() != w.Count {
		return nil, corrupt("norm sketch does not hold the %d vectors", w.Count)
	}
	if w.Unit > w.Count || w.Zero > w.Count {
		return nil, corrupt("more unit-norm or zero vectors than vectors")
	}
	if len(w.Sums) != 2*w.Dim {
		return nil, corrupt("%d sums for dimension %d", len(w.Sums), w.Dim)
	}
	for i, s := range w.Sums {
		if math.IsNaN(s) || math.IsInf(s, 0) || (i%2 == 1 && s < 0) {
			return nil, corrupt("bad sum at %d", i)
		}
	}
	v.count, v.dimMismatch, v.zero, v.nonFinite, v.unit = w.Count, w.DimMismatch, w.Zero, w.NonFinite, w.Unit
	v.norms = w.Norms
	if w.Dim > 0 {
		v.moments = w.Sums
	}
	return v, nil
}

func (v *Vector) wire() vectorWire {
	return vectorWire{
		Version: EncodingVersion, Dim: v.dim, Tolerance: v.tolerance, Count: v.count,
		DimMismatch: v.dimMismatch, Zero: v.zero, NonFinite: v.nonFinite, Unit: v.unit,
		Norms: v.norms, Sums: v.moments,
	}
}

// MarshalBinary encodes v in its compact versioned binary form.
func (v *Vector) MarshalBinary() ([]byte, error) {
	w := v.wire()
	out := writer{b: append([]byte(vectorMagic), EncodingVersion)}
	out.u(uint64(w.Dim))
	out.f(w.Tolerance)
	out.u(w.Count)
	out.u(w.DimMismatch)
	out.u(w.Zero)
	out.u(w.NonFinite)
	out.u(w.Unit)
	norms, err := v.norms.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out.u(uint64(len(norms)))
	out.b = append(out.b, norms...)
	for _, s := range w.Sums {
		out.f(s)
	}
	return out.b, nil
}

// UnmarshalBinary replaces v with the Vector encoded in data.
func (v *Vector) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	r.header(vectorMagic)
	w := vectorWire{Version: EncodingVersion}
	dim := r.u("dim")
	if r.err == nil && dim > MaxDim {
		return corrupt("dimension %d over %d", dim, MaxDim)
	}
	w.Dim = int(dim)
	w.Tolerance = r.f("tolerance")
	w.Count, w.DimMismatch, w.Zero, w.NonFinite, w.Unit = r.u("count"), r.u("dim mismatch"), r.u("zero"), r.u("nonfinite"), r.u("unit")
	nb := r.length("norms", 1)
	if r.err != nil {
		return r.err
	}
	w.Norms = new(Numeric)
	if err := w.Norms.UnmarshalBinary(r.b[:nb]); err != nil {
		return fmt.Errorf("norms: %w", err)
	}
	r.b = r.b[nb:]
	if uint64(len(r.b)) != 16*dim {
		return corrupt("%d bytes of sums for dimension %d", len(r.b), dim)
	}
	w.Sums = make([]float64, 2*w.Dim)
	for i := range w.Sums {
		w.Sums[i] = r.f("sum")
	}
	if err := r.done(); err != nil {
		return err
	}
	d, err := vectorFromWire(w)
	if err != nil {
		return err
	}
	*v = *d
	return nil
}

// MarshalJSON encodes v as JSON.
func (v *Vector) MarshalJSON() ([]byte, error) { return json.Marshal(v.wire()) }

// UnmarshalJSON replaces v with the Vector in data.
func (v *Vector) UnmarshalJSON(data []byte) error {
	var w vectorWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d, err := vectorFromWire(w)
	if err != nil {
		return err
	}
	*v = *d
	return nil
}

// pairWire is the content of a Pair.
type pairWire struct {
	Version   int     `json:"version"`
	N         uint64  `json:"n"`
	NonFinite uint64  `json:"nonfinite"`
	MeanRaw   float64 `json:"mean_raw"`
	MeanNorm  float64 `json:"mean_norm"`
	M2Raw     float64 `json:"m2_raw"`
	M2Norm    float64 `json:"m2_norm"`
	Cov       float64 `json:"cxy"`
}

func pairFromWire(w pairWire) (Pair, error) {
	if w.Version != EncodingVersion {
		return Pair{}, corrupt("pair version %d, want %d", w.Version, EncodingVersion)
	}
	for _, f := range []float64{w.MeanRaw, w.MeanNorm, w.M2Raw, w.M2Norm, w.Cov} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return Pair{}, corrupt("non-finite pair moment")
		}
	}
	if w.M2Raw < 0 || w.M2Norm < 0 || w.Cov*w.Cov > w.M2Raw*w.M2Norm*(1+1e-9)+1e-300 {
		return Pair{}, corrupt("impossible pair moments")
	}
	if w.N == 0 && (w.M2Raw != 0 || w.M2Norm != 0 || w.Cov != 0) {
		return Pair{}, corrupt("moments without values")
	}
	return Pair{n: w.N, nonFinite: w.NonFinite, meanX: w.MeanRaw, meanY: w.MeanNorm, m2x: w.M2Raw, m2y: w.M2Norm, cxy: w.Cov}, nil
}

func (p *Pair) wire() pairWire {
	// The running sums can leave the covariance a rounding step past the
	// Cauchy-Schwarz bound on perfectly correlated pairs: it is written
	// within it, as the decoder requires.
	bound := math.Sqrt(math.Max(p.m2x, 0) * math.Max(p.m2y, 0))
	cov := min(max(p.cxy, -bound), bound)
	return pairWire{Version: EncodingVersion, N: p.n, NonFinite: p.nonFinite, MeanRaw: p.meanX, MeanNorm: p.meanY,
		M2Raw: math.Max(p.m2x, 0), M2Norm: math.Max(p.m2y, 0), Cov: cov}
}

// MarshalBinary encodes p in its versioned binary form.
func (p *Pair) MarshalBinary() ([]byte, error) {
	w := p.wire()
	out := writer{b: append([]byte(pairMagic), EncodingVersion)}
	out.u(w.N)
	out.u(w.NonFinite)
	for _, f := range []float64{w.MeanRaw, w.MeanNorm, w.M2Raw, w.M2Norm, w.Cov} {
		out.f(f)
	}
	return out.b, nil
}

// UnmarshalBinary replaces p with the Pair encoded in data.
func (p *Pair) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	r.header(pairMagic)
	w := pairWire{Version: EncodingVersion, N: r.u("n"), NonFinite: r.u("nonfinite")}
	w.MeanRaw, w.MeanNorm, w.M2Raw, w.M2Norm, w.Cov = r.f("mean raw"), r.f("mean norm"), r.f("m2 raw"), r.f("m2 norm"), r.f("cxy")
	if err := r.done(); err != nil {
		return err
	}
	d, err := pairFromWire(w)
	if err != nil {
		return err
	}
	*p = d
	return nil
}

// MarshalJSON encodes p as JSON.
func (p *Pair) MarshalJSON() ([]byte, error) { return json.Marshal(p.wire()) }

// UnmarshalJSON replaces p with the Pair in data.
func (p *Pair) UnmarshalJSON(data []byte) error {
	var w pairWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d, err := pairFromWire(w)
	if err != nil {
		return err
	}
	*p = d
	return nil
}
