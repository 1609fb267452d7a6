package sketch

import (
	"errors"
	"math"
)

// Pair summarizes a feature seen both raw and normalized in the same event:
// running means, variances and covariance of (raw, normalized), from which
// the transform actually applied at serving is estimated by least squares.
// Pairs with a non-finite side, or a side beyond ±MaxPairValue, are only
// counted.
type Pair struct {
	n             uint64
	meanX, meanY  float64
	m2x, m2y, cxy float64
	nonFinite     uint64
}

// MaxPairValue bounds the values a Pair summarizes: their squared
// deviations, summed over 2^53 pairs, stay finite. No feature has values
// near it; a hostile one is counted with the non-finite pairs.
const MaxPairValue = 1e140

// Add adds one (raw, normalized) pair.
func (p *Pair) Add(raw, norm float64) {
	if !(math.Abs(raw) <= MaxPairValue && math.Abs(norm) <= MaxPairValue) { // also NaN
		p.nonFinite++
		return
	}
	p.n++
	n := float64(p.n)
	dx := raw - p.meanX
	dy := norm - p.meanY
	p.meanX += dx / n
	p.meanY += dy / n
	p.m2x += dx * (raw - p.meanX)
	p.m2y += dy * (norm - p.meanY)
	p.cxy += dx * (norm - p.meanY)
}

// Merge folds o into p.
func (p *Pair) Merge(o *Pair) {
	if o.n == 0 {
		p.nonFinite += o.nonFinite
		return
	}
	if p.n == 0 {
		nf := p.nonFinite
		*p = *o
		p.nonFinite += nf
		return
	}
	na, nb := float64(p.n), float64(o.n)
	n := na + nb
	dx := o.meanX - p.meanX
	dy := o.meanY - p.meanY
	f := na * nb / n
	p.m2x += o.m2x + dx*dx*f
	p.m2y += o.m2y + dy*dy*f
	p.cxy += o.cxy + dx*dy*f
	p.meanX += dx * nb / n
	p.meanY += dy * nb / n
	p.n += o.n
	p.nonFinite += o.nonFinite
}

// Count returns the number of finite pairs.
func (p *Pair) Count() uint64 { return p.n }

// NonFinite returns the number of pairs with a NaN, infinite or
// out-of-range side.
func (p *Pair) NonFinite() uint64 { return p.nonFinite }

// MeanRaw returns the mean of the raw values.
func (p *Pair) MeanRaw() float64 { return p.meanX }

// MeanNorm returns the mean of the normalized values.
func (p *Pair) MeanNorm() float64 { return p.meanY }

// StdRaw returns the population standard deviation of the raw values.
func (p *Pair) StdRaw() float64 { return p.std(p.m2x) }

// StdNorm returns the population standard deviation of the normalized values.
func (p *Pair) StdNorm() float64 { return p.std(p.m2y) }

// Covariance returns the population covariance of raw and normalized values.
func (p *Pair) Covariance() float64 {
	if p.n == 0 {
		return 0
	}
	return p.cxy / float64(p.n)
}

func (p *Pair) std(m2 float64) float64 {
	if p.n < 2 {
		return 0
	}
	return math.Sqrt(math.Max(m2, 0) / float64(p.n))
}

// Transform is the least-squares fit normalized ≈ Slope·raw + Intercept.
type Transform struct {
	Slope, Intercept float64
	R2               float64 // share of the normalized variance the fit explains
	ResidualStd      float64 // standard deviation of what it leaves
	N                uint64
}

// ErrDegenerate is returned by Fit when the raw values do not vary.
var ErrDegenerate = errors.New("sketch: raw values do not vary")

// Fit estimates the transform applied at serving.
func (p *Pair) Fit() (Transform, error) {
	if p.n == 0 {
		return Transform{}, ErrEmpty
	}
	if p.n < 2 || p.m2x <= 0 {
		return Transform{N: p.n}, ErrDegenerate
	}
	slope := p.cxy / p.m2x
	t := Transform{Slope: slope, Intercept: p.meanY - slope*p.meanX, N: p.n}
	ssr := math.Max(p.m2y-slope*p.cxy, 0) // residual sum of squares
	t.ResidualStd = math.Sqrt(ssr / float64(p.n))
	if p.m2y > 0 {
		t.R2 = math.Min(math.Max(1-ssr/p.m2y, 0), 1)
	} else {
		t.R2 = 1
	}
	return t, nil
}

// Reset empties p.
func (p *Pair) Reset() { *p = Pair{} }
