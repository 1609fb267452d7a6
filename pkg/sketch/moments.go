package sketch

import "math"

// Moments holds the count, mean and central moment sums M2, M3 and M4 of a
// set of finite values, in the form that merges exactly (Pébay, 2008).
type Moments struct {
	N    float64 // number of values
	Mean float64
	M2   float64 // sum of (x - mean)^2
	M3   float64 // sum of (x - mean)^3
	M4   float64 // sum of (x - mean)^4
}

// Merge folds b into m as if every value of b had been added to m.
func (m *Moments) Merge(b Moments) {
	if b.N == 0 {
		return
	}
	if m.N == 0 {
		*m = b
		return
	}
	na, nb := m.N, b.N
	n := na + nb
	delta := b.Mean - m.Mean
	dn := delta / n
	dn2 := dn * dn
	t := delta * dn * na * nb // delta^2 * na * nb / n
	mean := m.Mean + nb*dn
	if math.IsInf(mean, 0) || math.IsNaN(mean) {
		// delta overflowed for values near ±MaxFloat64: use the weighted mean.
		mean = m.Mean*(na/n) + b.Mean*(nb/n)
	}
	m4 := m.M4 + b.M4 + t*dn2*(na*na-na*nb+nb*nb) + 6*dn2*(na*na*b.M2+nb*nb*m.M2) + 4*dn*(na*b.M3-nb*m.M3)
	m3 := m.M3 + b.M3 + t*dn*(na-nb) + 3*dn*(na*b.M2-nb*m.M2)
	m2 := m.M2 + b.M2 + t
	m.N, m.Mean, m.M2, m.M3, m.M4 = n, mean, m2, m3, m4
	m.saturate()
}

// saturate keeps the central sums finite. Sums of powers of deviations near
// ±MaxFloat64 exceed what a float64 holds: they stop at ±MaxFloat64, and a
// third moment whose sign was lost (Inf − Inf) becomes 0. The variance of
// such values is then a floor, not an estimate, but every sketch stays
// encodable, mergeable and comparable.
func (m *Moments) saturate() {
	const big = math.MaxFloat64
	switch {
	case math.IsNaN(m.M2):
		m.M2 = big
	case m.M2 > big:
		m.M2 = big
	}
	switch {
	case math.IsNaN(m.M4):
		m.M4 = big
	case m.M4 > big:
		m.M4 = big
	}
	switch {
	case math.IsNaN(m.M3):
		m.M3 = 0
	case m.M3 > big:
		m.M3 = big
	case m.M3 < -big:
		m.M3 = -big
	}
}

// Variance returns the population variance, or 0 with fewer than two values.
func (m Moments) Variance() float64 {
	if m.N < 2 {
		return 0
	}
	return math.Max(m.M2/m.N, 0)
}

// SampleVariance returns the unbiased (n-1) variance, or 0 with fewer than
// two values.
func (m Moments) SampleVariance() float64 {
	if m.N < 2 {
		return 0
	}
	return math.Max(m.M2/(m.N-1), 0)
}

// StdDev returns the population standard deviation.
func (m Moments) StdDev() float64 { return math.Sqrt(m.Variance()) }

// Skewness returns the population skewness g1, or 0 for a constant.
func (m Moments) Skewness() float64 {
	if m.N < 2 || m.M2 <= 0 {
		return 0
	}
	return math.Sqrt(m.N) * m.M3 / math.Pow(m.M2, 1.5)
}

// Kurtosis returns the population excess kurtosis g2, or 0 for a constant.
func (m Moments) Kurtosis() float64 {
	if m.N < 2 || m.M2 <= 0 {
		return 0
	}
	return m.N*m.M4/(m.M2*m.M2) - 3
}
