package sketch

import (
	"encoding/json"
	"fmt"
	"math"
)

// Activation summarizes the vectors of an activation field (the output of
// a layer) by three numbers per vector: the mean of its components, their
// standard deviation and their root mean square. A normalization layer
// leaves its fingerprint on them across vectors: LayerNorm output has the
// same mean and standard deviation in every vector (0 and 1 before a gain
// and bias), RMSNorm output the same root mean square with a free mean.
type Activation struct {
	mean *Numeric
	std  *Numeric
	rms  *Numeric
}

// NewActivation returns an empty Activation.
func NewActivation() *Activation {
	return &Activation{mean: NewNumeric(), std: NewNumeric(), rms: NewNumeric()}
}

// Means returns the sketch of the per-vector means.
func (a *Activation) Means() *Numeric { return a.mean }

// StdDevs returns the sketch of the per-vector standard deviations
// (population, over the vector's components).
func (a *Activation) StdDevs() *Numeric { return a.std }

// RMS returns the sketch of the per-vector root mean squares.
func (a *Activation) RMS() *Numeric { return a.rms }

// Count returns the number of vectors summarized.
func (a *Activation) Count() uint64 { return a.rms.Count() }

// VectorStats returns the mean, standard deviation and root mean square of
// x's components, in two passes (the standard deviation about the mean, not
// from the difference of squares, which cancels when the mean is large).
func VectorStats(x []float32) (mean, std, rms float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	n := float64(len(x))
	mean = sum / n
	var dev float64
	for _, v := range x {
		d := float64(v) - mean
		dev += d * d
	}
	return mean, math.Sqrt(dev / n), math.Sqrt(sumSquares32(x) / n)
}

// Add adds one vector. An empty vector adds nothing; a vector with a
// non-finite component counts as non-finite in the three sketches.
func (a *Activation) Add(x []float32) {
	if len(x) == 0 {
		return
	}
	m, s, r := VectorStats(x)
	a.mean.Add(m)
	a.std.Add(s)
	a.rms.Add(r)
}

// Merge adds o's content to a.
func (a *Activation) Merge(o *Activation) error {
	for _, p := range [][2]*Numeric{{a.mean, o.mean}, {a.std, o.std}, {a.rms, o.rms}} {
		if err := p[0].Merge(p[1]); err != nil {
			return fmt.Errorf("merging activation profiles: %w", err)
		}
	}
	return nil
}

// Clone returns an independent copy of a.
func (a *Activation) Clone() *Activation {
	return &Activation{mean: a.mean.Clone(), std: a.std.Clone(), rms: a.rms.Clone()}
}

// Compact releases the buffers of a's sketches.
func (a *Activation) Compact() {
	a.mean.Compact()
	a.std.Compact()
	a.rms.Compact()
}

type activationWire struct {
	Version int      `json:"version"`
	Mean    *Numeric `json:"mean"`
	Std     *Numeric `json:"std"`
	RMS     *Numeric `json:"rms"`
}

func (w activationWire) activation() (*Activation, error) {
	if w.Version != EncodingVersion {
		return nil, corrupt("activation version %d, want %d", w.Version, EncodingVersion)
	}
	if w.Mean == nil || w.Std == nil || w.RMS == nil {
		return nil, corrupt("activation: a sketch is missing")
	}
	return &Activation{mean: w.Mean, std: w.Std, rms: w.RMS}, nil
}

const activationMagic = "NWA"

// MarshalBinary encodes a.
func (a *Activation) MarshalBinary() ([]byte, error) {
	return appendNumerics(writer{b: append([]byte(activationMagic), EncodingVersion)}, a.mean, a.std, a.rms)
}

// UnmarshalBinary replaces a with the Activation in data.
func (a *Activation) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	r.header(activationMagic)
	w := activationWire{Version: EncodingVersion}
	if err := readNumerics(&r, &w.Mean, &w.Std, &w.RMS); err != nil {
		return err
	}
	d, err := w.activation()
	if err != nil {
		return err
	}
	*a = *d
	return nil
}

// MarshalJSON encodes a as JSON, for baselines.
func (a *Activation) MarshalJSON() ([]byte, error) {
	return json.Marshal(activationWire{Version: EncodingVersion, Mean: a.mean, Std: a.std, RMS: a.rms})
}

// UnmarshalJSON replaces a with the Activation in data.
func (a *Activation) UnmarshalJSON(data []byte) error {
	var w activationWire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d, err := w.activation()
	if err != nil {
		return err
	}
	*a = *d
	return nil
}
