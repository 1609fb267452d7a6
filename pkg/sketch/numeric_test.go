package sketch

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// exactMoments is the textbook two-pass computation in extended care:
// the reference the sketch's moments are checked against.
func exactMoments(xs []float64) Moments {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	n := float64(len(xs))
	mean := sum / n
	var m Moments
	m.N, m.Mean = n, mean
	for _, x := range xs {
		d := x - mean
		m.M2 += d * d
		m.M3 += d * d * d
		m.M4 += d * d * d * d
	}
	return m
}

func requireClose(t *testing.T, want, got, rel float64, what string) {
	t.Helper()
	require.InDelta(t, want, got, rel*math.Max(math.Abs(want), 1e-12), what)
}

func TestNumericMomentsAndMerge(t *testing.T) {
	for _, d := range datasets {
		t.Run(d.name, func(t *testing.T) {
			xs := generate(d, 50_000, 3)
			want := exactMoments(xs)

			one := NewNumeric()
			one.AddBatch(xs)
			// Merge 7 uneven parts, each added value by value.
			merged := NewNumeric()
			cuts := []int{0, 1, 100, 2047, 2048, 9000, 30000, len(xs)}
			for i := 1; i < len(cuts); i++ {
				part := NewNumeric()
				for _, x := range xs[cuts[i-1]:cuts[i]] {
					part.Add(x)
				}
				require.NoError(t, merged.Merge(part))
			}
			for _, n := range []*Numeric{one, merged} {
				got := n.Moments()
				require.Equal(t, uint64(len(xs)), n.Count())
				require.Equal(t, want.N, got.N)
				requireClose(t, want.Mean, got.Mean, 1e-12, "mean")
				requireClose(t, want.M2, got.M2, 1e-9, "m2")
				if d.name != "constant" {
					requireClose(t, want.M3, got.M3, 1e-6, "m3")
					requireClose(t, want.M4, got.M4, 1e-9, "m4")
				}
				require.Equal(t, slices.Min(xs), n.Min())
				require.Equal(t, slices.Max(xs), n.Max())
			}
		})
	}
}

func TestNumericLargeOffsetMoments(t *testing.T) {
	// A naive sum of squares loses every digit of a 1e-3 spread on a 1e9
	// mean; the compensated, two-pass batches do not.
	r := rand.New(rand.NewPCG(5, 5))
	n := NewNumeric()
	xs := make([]float64, 100_000)
	for i := range xs {
		xs[i] = 1e9 + 1e-3*r.NormFloat64()
		n.Add(xs[i])
	}
	want := exactMoments(xs)
	requireClose(t, want.Variance(), n.Moments().Variance(), 1e-6, "variance")
}

func TestNumericNonFinite(t *testing.T) {
	n := NewNumeric()
	n.AddBatch([]float64{1, math.NaN(), 2, math.Inf(1), math.Inf(-1), math.Inf(1), 3})
	n.Add(math.NaN())
	n.AddMissing(4)
	require.Equal(t, uint64(3), n.Count())
	require.Equal(t, uint64(2), n.NaN())
	require.Equal(t, uint64(2), n.PosInf())
	require.Equal(t, uint64(1), n.NegInf())
	require.Equal(t, uint64(5), n.NonFinite())
	require.Equal(t, uint64(4), n.Missing())
	require.Equal(t, uint64(12), n.Total())
	require.Equal(t, 2.0, n.Mean())
	q, err := n.Quantile(0.5)
	require.NoError(t, err)
	require.Equal(t, 2.0, q)
	require.Equal(t, 3.0, n.Max())
}

func TestNumericEmpty(t *testing.T) {
	n := NewNumeric()
	n.Add(math.NaN())
	_, err := n.Quantile(0.5)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = n.CDF(0)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = n.Quantile(1.5)
	require.Error(t, err)
}

func TestNumericExactSwitch(t *testing.T) {
	n := NewNumeric()
	for i := range DefaultExactLimit {
		n.Add(float64(i % DefaultExactLimit))
		n.Add(float64(i % DefaultExactLimit))
	}
	require.True(t, n.Exact())
	d, err := n.Distribution()
	require.NoError(t, err)
	require.True(t, d.Step)
	require.Equal(t, 0.5, d.CDF(63.5))
	require.Equal(t, 63.0, d.Quantile(0.5))

	n.Add(1000.5) // one distinct value over the limit
	require.False(t, n.Exact())
	require.Equal(t, uint64(2*DefaultExactLimit+1), n.Count())
	d, err = n.Distribution()
	require.NoError(t, err)
	require.False(t, d.Step)
	require.Equal(t, 1000.5, d.Max())
}

func TestNumericMergeModes(t *testing.T) {
	flags := NewNumeric()
	for i := range 1000 {
		flags.Add(float64(i % 2))
	}
	cont := NewNumeric()
	cont.AddBatch(normalValues(1000, 9))

	for _, tc := range []struct {
		name string
		a, b *Numeric
	}{
		{"exact into digest", cont, flags},
		{"digest into exact", flags, cont},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := clone(t, tc.a)
			require.NoError(t, a.Merge(tc.b))
			require.False(t, a.Exact())
			require.Equal(t, uint64(2000), a.Count())
			d, err := a.Distribution()
			require.NoError(t, err)
			// Half the values are 0 or 1, the other half near 10.
			require.InDelta(t, 0.5, d.CDF(2), 0.02)
		})
	}
	require.Error(t, flags.Merge(flags))
	require.Error(t, flags.Merge(nil))
}

func clone(t *testing.T, n *Numeric) *Numeric {
	t.Helper()
	b, err := n.MarshalBinary()
	require.NoError(t, err)
	c := new(Numeric)
	require.NoError(t, c.UnmarshalBinary(b))
	return c
}

func TestHeavyHitters(t *testing.T) {
	// 12% zeros and 10% -1s hidden among continuous values: both must be
	// listed, with counts short by at most n/(k+1).
	r := rand.New(rand.NewPCG(11, 11))
	n := NewNumeric()
	const size = 100_000
	var zeros, minus uint64
	for range size {
		switch u := r.Float64(); {
		case u < 0.12:
			n.Add(0)
			zeros++
		case u < 0.22:
			n.Add(-1)
			minus++
		default:
			n.Add(r.NormFloat64() + 5)
		}
	}
	top := n.HeavyHitters()
	require.GreaterOrEqual(t, len(top), 2)
	require.Equal(t, 0.0, top[0].Value)
	require.Equal(t, -1.0, top[1].Value)
	slack := uint64(size / (DefaultHeavyHitters + 1))
	for _, c := range []struct {
		got, want uint64
	}{{top[0].Count, zeros}, {top[1].Count, minus}} {
		require.LessOrEqual(t, c.got, c.want)
		require.GreaterOrEqual(t, c.got+slack, c.want)
	}

	// Merging partial summaries keeps the guarantee.
	m := NewNumeric()
	for range 10 {
		p := NewNumeric()
		for range size / 10 {
			if r.Float64() < 0.15 {
				p.Add(42)
			} else {
				p.Add(r.Float64())
			}
		}
		require.NoError(t, m.Merge(p))
	}
	top = m.HeavyHitters()
	require.NotEmpty(t, top)
	require.Equal(t, 42.0, top[0].Value)
	require.InDelta(t, 0.15*size, float64(top[0].Count), float64(slack)+0.01*size)

	// While exact, the counts are exact.
	e := NewNumeric()
	for i := range 100 {
		e.Add(float64(i % 3))
	}
	require.Equal(t, []ValueCount{{0, 34}, {1, 33}, {2, 33}}, e.HeavyHitters())
}

func TestCompactedSize(t *testing.T) {
	for _, d := range datasets {
		n := NewNumeric()
		n.AddBatch(generate(d, 100_000, 2))
		n.Compact()
		require.LessOrEqual(t, n.SizeBytes(), 4096, d.name)
	}
}

// BenchmarkCompactedHeap measures the heap a closed, compacted sketch of
// 100k continuous values holds, as the runtime counts it.
func BenchmarkCompactedHeap(b *testing.B) {
	xs := normalValues(100_000, 3)
	const keep = 200
	var perSketch, estimate float64
	for i := 0; i < b.N; i++ {
		var sketches []*Numeric
		perSketch, sketches = compactedHeap(keep, func(j int) *Numeric {
			n := NewNumeric()
			n.AddBatch(xs[j*400 : j*400+100_000-keep*400+400])
			n.Compact()
			return n
		})
		estimate = float64(sketches[0].SizeBytes())
	}
	b.ReportMetric(perSketch, "heap-B/sketch")
	b.ReportMetric(estimate, "SizeBytes/sketch")
}

// compactedHeap builds keep sketches and returns the heap each holds, and
// the sketches.
func compactedHeap(keep int, build func(j int) *Numeric) (float64, []*Numeric) {
	sketches := make([]*Numeric, keep)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for j := range sketches {
		sketches[j] = build(j)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(sketches)
	return float64(ms.HeapAlloc-before) / float64(keep), sketches
}

func TestClone(t *testing.T) {
	n := NewNumeric()
	n.AddBatch(normalValues(10_000, 8))
	n.Add(math.NaN())
	c := n.Clone()
	requireSameNumeric(t, n, c)
	c.Add(1e9)
	require.Equal(t, n.Count()+1, c.Count())
	require.NotEqual(t, n.Max(), c.Max())

	v, err := NewVector(3, 0)
	require.NoError(t, err)
	v.Add([]float32{0, 0.6, 0.8})
	vc := v.Clone()
	vc.Add([]float32{3, 0, 0})
	require.Equal(t, uint64(1), v.Count())
	require.Equal(t, []float64{0, 0.6, 0.8}, roundAll(v.Mean()))
}

func roundAll(xs []float64) []float64 {
	for i, x := range xs {
		xs[i] = math.Round(x*1e6) / 1e6
	}
	return xs
}

// A sketch written when -0 and +0 were two exact values (or two point
// masses) still decodes, with the two joined: a checkpoint of an older
// daemon must restore.
func TestDecodeJoinsSignedZeros(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name string
		n    *Numeric
	}{
		{"exact", func() *Numeric {
			n := NewNumeric()
			n.AddBatch([]float64{-1, 0, 0, 0, 2})
			n.flush() // folded: Compact would keep so few values raw
			n.exact = []ValueCount{{-1, 1}, {negZero, 2}, {0, 1}, {2, 1}}
			return n
		}()},
		{"masses", func() *Numeric {
			n, err := NewNumericWith(NumericOptions{ExactLimit: 1})
			require.NoError(t, err)
			xs := make([]float64, 0, 2000)
			for i := range 1000 {
				xs = append(xs, float64(i%97)+0.5, 0)
			}
			n.AddBatch(xs)
			n.Compact()
			i := slices.IndexFunc(n.masses, func(v ValueCount) bool { return v.Value == 0 })
			require.GreaterOrEqual(t, i, 0, "zero is a point mass")
			c := n.masses[i].Count
			n.masses = slices.Insert(n.masses, i, ValueCount{negZero, c / 2})
			n.masses[i+1].Count = c - c/2
			return n
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := roundTripBinary(t, tt.n)
			requireInvariants(t, c)
			require.Equal(t, tt.n.Count(), c.Count())
			want, err := tt.n.CDF(0)
			require.NoError(t, err)
			got, err := c.CDF(0)
			require.NoError(t, err)
			require.InDelta(t, want, got, 1e-12)
		})
	}
}

// TestMergeTails checks the tails' partial merges against the whole
// merge, cut (the tails' definition), to the bit: ties (signed zeros
// among them) keep the first list's value first.
func TestMergeTails(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	list := func() []float64 {
		xs := make([]float64, r.IntN(2*tailSize+1))
		for i := range xs {
			switch r.IntN(4) {
			case 0:
				xs[i] = float64(r.IntN(5) - 2) // ties
			case 1:
				xs[i] = math.Copysign(0, float64(r.IntN(2)*2-1))
			default:
				xs[i] = r.NormFloat64()
			}
		}
		slices.Sort(xs)
		return xs
	}
	bitsOf := func(xs []float64) []uint64 {
		out := make([]uint64, len(xs))
		for i, x := range xs {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	less := func(x, y float64) bool { return x < y }
	for range 2000 {
		lo, lo2, hi, hi2 := list(), list(), list(), list()
		l := mergeSorted(lo, lo2, less)
		h := mergeSorted(hi, hi2, less)
		gotLo, gotHi := mergeTails(lo, lo2, hi, hi2)
		require.Equal(t, bitsOf(l[:min(len(l), tailSize)]), bitsOf(gotLo))
		require.Equal(t, bitsOf(h[max(0, len(h)-tailSize):]), bitsOf(gotHi))
	}
}
