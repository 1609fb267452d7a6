package sketch

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Defaults and limits of Vector.
const (
	// DefaultUnitTolerance is how far from 1 an L2 norm may be and still
	// count as unit-norm: float32 rounding of a normalized 4096-dimension
	// vector stays far below it, a skipped normalization lands far above.
	DefaultUnitTolerance = 1e-3
	// MaxDim is the largest embedding dimension a Vector accepts.
	MaxDim = 65536
)

// Vector summarizes one embedding field: its dimension, the vectors of
// another dimension, zero and non-finite vectors, the L2 norms as a
// Numeric, the share of unit-norm vectors, and per-dimension means and
// variances of the vectors of the expected dimension.
type Vector struct {
	dim       int
	tolerance float64

	count       uint64 // vectors of the expected dimension with finite values
	dimMismatch uint64
	zero        uint64
	nonFinite   uint64
	unit        uint64

	norms *Numeric
	// moments holds, per dimension j, the sum at 2j and the sum of squares
	// at 2j+1: adjacent, so one vector update walks memory once.
	moments []float64
}

// NewVector returns an empty Vector. dim 0 takes the dimension of the first
// vector added; tolerance 0 means DefaultUnitTolerance.
func NewVector(dim int, tolerance float64) (*Vector, error) {
	if dim < 0 || dim > MaxDim {
		return nil, fmt.Errorf("sketch: dimension %d out of range [0, %d]", dim, MaxDim)
	}
	if tolerance == 0 {
		tolerance = DefaultUnitTolerance
	}
	if !(tolerance > 0 && tolerance < 1) {
		return nil, fmt.Errorf("sketch: unit-norm tolerance %v out of range (0, 1)", tolerance)
	}
	v := &Vector{dim: dim, tolerance: tolerance, norms: NewNumeric()}
	if dim > 0 {
		v.moments = make([]float64, 2*dim)
	}
	return v, nil
}

// Dim returns the expected dimension (0 until the first vector, if unset).
func (v *Vector) Dim() int { return v.dim }

// Tolerance returns the unit-norm tolerance.
func (v *Vector) Tolerance() float64 { return v.tolerance }

// Add adds one vector. A vector of another dimension is only counted; a
// vector with a NaN or infinite component is only counted.
func (v *Vector) Add(x []float32) {
	if !v.accept(len(x)) {
		return
	}
	ss := sumSquares32(x)
	if ss-ss != 0 {
		v.nonFinite++
		return
	}
	addMoments32(v.moments[:2*len(x)], x)
	v.addNorm(math.Sqrt(ss))
}

// maxNormSquared bounds the squared norm of a vector given in float64: the
// per-dimension sums of squares of 2^53 such vectors stay finite.
const maxNormSquared = 1e290

// AddFloat64 adds one vector given in float64. A vector whose squared norm
// is beyond 1e290 counts as non-finite.
func (v *Vector) AddFloat64(x []float64) {
	if !v.accept(len(x)) {
		return
	}
	var ss float64
	for _, e := range x {
		ss += e * e
	}
	// float32 components cannot overflow the float64 sums; float64 ones
	// can, so vectors past maxNormSquared count with the non-finite ones.
	if !(ss <= maxNormSquared) {
		v.nonFinite++
		return
	}
	m := v.moments[:2*len(x)]
	for j, e := range x {
		m[2*j] += e
		m[2*j+1] += e * e
	}
	v.addNorm(math.Sqrt(ss))
}

// accept reports whether a vector of dimension d is of v's dimension,
// taking it as v's when v has none yet, and counts it as a mismatch if not.
// An empty vector is always a mismatch: a first one would otherwise fix
// the dimension at 0 with a vector already counted.
func (v *Vector) accept(d int) bool {
	if d == 0 {
		v.dimMismatch++
		return false
	}
	if v.dim == 0 && d <= MaxDim {
		v.dim = d
		v.moments = make([]float64, 2*d)
	}
	if d != v.dim {
		v.dimMismatch++
		return false
	}
	return true
}

func (v *Vector) addNorm(norm float64) {
	v.count++
	if norm == 0 {
		v.zero++
	}
	if math.Abs(norm-1) <= v.tolerance {
		v.unit++
	}
	v.norms.Add(norm)
}

// sumSquares32 returns the sum of squares of x in float64, with four
// accumulators so the additions overlap.
func sumSquares32(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// addMoments32 adds x and its squares into the interleaved sums m,
// four dimensions a step.
func addMoments32(m []float64, x []float32) {
	m = m[:2*len(x)]
	j := 0
	for ; j+4 <= len(x); j += 4 {
		a, b, c, d := float64(x[j]), float64(x[j+1]), float64(x[j+2]), float64(x[j+3])
		s := m[2*j : 2*j+8 : 2*j+8]
		s[0] += a
		s[1] += a * a
		s[2] += b
		s[3] += b * b
		s[4] += c
		s[5] += c * c
		s[6] += d
		s[7] += d * d
	}
	for ; j < len(x); j++ {
		f := float64(x[j])
		m[2*j] += f
		m[2*j+1] += f * f
	}
}

// Merge folds o into v. Both must have the same dimension, or v none yet.
func (v *Vector) Merge(o *Vector) error {
	if o == nil || o == v {
		return errors.New("sketch: merge of a Vector with nil or itself")
	}
	if v.dim == 0 && v.count == 0 && o.dim > 0 {
		v.dim = o.dim
		v.moments = make([]float64, 2*o.dim)
	}
	if o.dim != 0 && o.dim != v.dim {
		return fmt.Errorf("sketch: merge of %d-dimension and %d-dimension vectors", v.dim, o.dim)
	}
	if v.tolerance != o.tolerance {
		return fmt.Errorf("sketch: merge of vectors with unit tolerance %v and %v", v.tolerance, o.tolerance)
	}
	if err := v.norms.Merge(o.norms); err != nil {
		return err
	}
	v.count += o.count
	v.dimMismatch += o.dimMismatch
	v.zero += o.zero
	v.nonFinite += o.nonFinite
	v.unit += o.unit
	for i, s := range o.moments {
		v.moments[i] += s
	}
	return nil
}

// MergeMismatched counts every vector of o as a dimension mismatch of v:
// what a merge of sketches of two dimensions keeps, so that no vector goes
// uncounted.
func (v *Vector) MergeMismatched(o *Vector) {
	v.dimMismatch += o.count + o.dimMismatch + o.nonFinite
}

// Count returns the number of vectors of the expected dimension with finite values.
func (v *Vector) Count() uint64 { return v.count }

// DimMismatches returns the number of vectors of another dimension.
func (v *Vector) DimMismatches() uint64 { return v.dimMismatch }

// ZeroVectors returns the number of all-zero vectors.
func (v *Vector) ZeroVectors() uint64 { return v.zero }

// NonFinite returns the number of vectors with a NaN or infinite component.
func (v *Vector) NonFinite() uint64 { return v.nonFinite }

// UnitNorm returns the number of vectors whose norm is within the
// tolerance of 1.
func (v *Vector) UnitNorm() uint64 { return v.unit }

// UnitNormRatio returns UnitNorm()/Count(), or NaN with no vectors.
func (v *Vector) UnitNormRatio() float64 {
	if v.count == 0 {
		return math.NaN()
	}
	return float64(v.unit) / float64(v.count)
}

// Norms returns the sketch of L2 norms. It is v's own: do not modify it.
func (v *Vector) Norms() *Numeric { return v.norms }

// Mean returns the per-dimension mean, or nil with no vectors.
func (v *Vector) Mean() []float64 {
	if v.count == 0 {
		return nil
	}
	n := float64(v.count)
	out := make([]float64, v.dim)
	for j := range out {
		out[j] = v.moments[2*j] / n
	}
	return out
}

// Variance returns the per-dimension population variance, or nil with no vectors.
func (v *Vector) Variance() []float64 {
	if v.count == 0 {
		return nil
	}
	n := float64(v.count)
	out := make([]float64, v.dim)
	for j := range out {
		m := v.moments[2*j] / n
		out[j] = math.Max(v.moments[2*j+1]/n-m*m, 0)
	}
	return out
}

// Compact releases the norm sketch's buffers (see Numeric.Compact).
func (v *Vector) Compact() { v.norms.Compact() }

// Clone returns an independent copy of v.
func (v *Vector) Clone() *Vector {
	c := *v
	c.norms = v.norms.Clone()
	c.moments = slices.Clone(v.moments)
	return &c
}

// Reset empties v, keeping its dimension and tolerance.
func (v *Vector) Reset() {
	v.count, v.dimMismatch, v.zero, v.nonFinite, v.unit = 0, 0, 0, 0, 0
	v.norms.Reset()
	clear(v.moments)
}
