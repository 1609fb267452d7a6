package sketch

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawCases are windows as the engine sees them: raw when their values,
// sorted, take less memory than what they would fold into.
var rawCases = []struct {
	name    string
	values  func(r *rand.Rand) []float64
	wantRaw bool
}{
	{"200 normal values", func(r *rand.Rand) []float64 { return draw(r, 200, r.NormFloat64) }, true},
	{"400 normal values", func(r *rand.Rand) []float64 { return draw(r, 400, r.NormFloat64) }, true},
	{"100 distinct values", func(r *rand.Rand) []float64 { return draw(r, 100, r.ExpFloat64) }, true},
	{"one value", func(r *rand.Rand) []float64 { return []float64{-3.5} }, true},
	{"1000 normal values", func(r *rand.Rand) []float64 { return draw(r, 1000, r.NormFloat64) }, false},
	{"300 values of 5", func(r *rand.Rand) []float64 { return draw(r, 300, func() float64 { return float64(r.IntN(5)) }) }, false},
	{"5000 values, flushed on the way", func(r *rand.Rand) []float64 { return draw(r, 5000, r.NormFloat64) }, false},
}

func draw(r *rand.Rand, n int, f func() float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = f()
	}
	return xs
}

// requireSameSketch checks that a and b answer every query alike, exactly.
func requireSameSketch(t *testing.T, a, b *Numeric) {
	t.Helper()
	require.Equal(t, a.Count(), b.Count())
	require.Equal(t, a.Total(), b.Total())
	require.Equal(t, a.Moments(), b.Moments())
	require.Equal(t, a.Min(), b.Min())
	require.Equal(t, a.Max(), b.Max())
	require.Equal(t, a.Exact(), b.Exact())
	require.Equal(t, a.HeavyHitters(), b.HeavyHitters())
	for q := 0.0; q <= 1; q += 1.0 / 64 {
		qa, err := a.Quantile(q)
		require.NoError(t, err)
		qb, err := b.Quantile(q)
		require.NoError(t, err)
		require.Equal(t, qa, qb, "quantile %v", q)
	}
}

// TestCompactRaw: Compact keeps a small window raw, which answers every
// query as the folded sketch of the same values does, costs less memory,
// merges as if its values had been added to the receiver, and is left
// unchanged by queries, merges and encoding.
func TestCompactRaw(t *testing.T) {
	for i, tc := range rawCases {
		t.Run(tc.name, func(t *testing.T) {
			xs := tc.values(rand.New(rand.NewPCG(uint64(i), 5)))
			c, folded := NewNumeric(), NewNumeric()
			for _, n := range []*Numeric{c, folded} {
				n.AddBatch(xs)
				n.AddMissing(3)
				n.Add(math.NaN())
				n.Add(math.Inf(-1))
			}
			c.Compact()
			folded.Moments()                     // folds, without Compact's choice
			before := folded.Clone().SizeBytes() // folded, buffer released
			require.Equal(t, tc.wantRaw, c.frozen)
			requireSameSketch(t, folded, c)
			require.Equal(t, uint64(3), c.Missing())
			require.Equal(t, uint64(2), c.NonFinite())
			if tc.wantRaw {
				require.Less(t, c.SizeBytes(), before)
				size := c.SizeBytes()
				// Merged into an empty sketch, it folds as one batch: the
				// same sketch as its own queries describe.
				acc := NewNumeric()
				require.NoError(t, acc.Merge(c))
				requireSameSketch(t, folded, acc)
				bin, err := c.MarshalBinary()
				require.NoError(t, err)
				require.Equal(t, byte(numericRawVersion), bin[3])
				require.True(t, c.frozen)
				require.Equal(t, size, c.SizeBytes())

				back := new(Numeric)
				require.NoError(t, back.UnmarshalBinary(bin))
				require.True(t, back.frozen)
				requireSameSketch(t, c, back)
				again, err := back.MarshalBinary()
				require.NoError(t, err)
				require.Equal(t, bin, again)
			}
			// A clone is independent; adding thaws the sketch and leaves
			// the clone's values where they were.
			cl := c.Clone()
			c.Add(1e6)
			require.Equal(t, folded.Count()+1, c.Count())
			require.Equal(t, 1e6, c.Max())
			requireSameSketch(t, folded, cl)
		})
	}
}

// TestCompactAll: compacting a window's sketches together gives each the
// form and the bytes Compact gives it alone, the raw ones sharing one
// array; a sketch added to afterwards leaves its neighbours' values be.
func TestCompactAll(t *testing.T) {
	var all, alone []*Numeric
	var values [][]float64
	for i, tc := range rawCases {
		xs := tc.values(rand.New(rand.NewPCG(uint64(i), 9)))
		a, b := NewNumeric(), NewNumeric()
		for _, n := range []*Numeric{a, b} {
			n.AddBatch(xs)
			n.AddMissing(2)
		}
		all, alone, values = append(all, a, nil), append(alone, b, nil), append(values, xs, nil)
	}
	// One compacted already and one empty, as a window may hold.
	done, doneAlone := NewNumeric(), NewNumeric()
	for _, n := range []*Numeric{done, doneAlone} {
		n.AddBatch([]float64{1, 2, 3})
		n.Compact()
	}
	all, alone = append(all, done, NewNumeric()), append(alone, doneAlone, NewNumeric())
	values = append(values, []float64{1, 2, 3}, nil)

	CompactAll(all)
	for _, n := range alone {
		if n != nil {
			n.Compact()
		}
	}
	shared := 0
	for i := range all {
		if all[i] == nil {
			require.Nil(t, alone[i])
			continue
		}
		require.Equal(t, alone[i].frozen, all[i].frozen, "sketch %d", i)
		if all[i].frozen && i < len(all)-2 {
			shared++
			require.Equal(t, len(all[i].buf), cap(all[i].buf), "sketch %d: capped at its length", i)
		}
		a, err := alone[i].MarshalBinary()
		require.NoError(t, err)
		b, err := all[i].MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, a, b, "sketch %d", i)
		if all[i].Count() > 0 {
			requireSameSketch(t, alone[i], all[i])
		}
	}
	require.Equal(t, 4, shared, "the raw cases share the array")

	// Adding to each in turn thaws it alone: the others still hold their
	// own values.
	for i, n := range all {
		if n == nil {
			continue
		}
		n.Add(1e6)
		for j, o := range all {
			if o == nil || j <= i {
				continue
			}
			require.Equal(t, uint64(len(values[j])), o.Count(), "sketch %d after adding to %d", j, i)
			if o.Count() > 0 {
				requireSameSketch(t, alone[j], o)
			}
		}
	}
}

// TestMergeRawWindows: a horizon merged from raw windows is the sketch
// that had each window's values added as one batch.
func TestMergeRawWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	horizon, batches := NewNumeric(), NewNumeric()
	for range 5 {
		xs := draw(r, 200, func() float64 { return 50 + 10*r.NormFloat64() })
		w := NewNumeric()
		w.AddBatch(xs)
		w.Compact()
		require.True(t, w.frozen)
		require.NoError(t, horizon.Merge(w))
		batches.AddBatch(xs)
		batches.Moments()
	}
	requireSameSketch(t, batches, horizon)
}

// TestOpenWindowEncodesRaw: an open window's small buffer goes into the
// binary form as raw values, unfolded, and a sketch with folded values
// keeps the version 1 form older releases read.
func TestOpenWindowEncodesRaw(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	open, ref := NewNumeric(), NewNumeric()
	xs := draw(r, 150, r.NormFloat64)
	open.AddBatch(xs)
	ref.AddBatch(xs)
	bin, err := open.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, byte(numericRawVersion), bin[3])
	back := new(Numeric)
	require.NoError(t, back.UnmarshalBinary(bin))
	// Both go on taking values and fold them as one batch.
	more := draw(r, 100, r.NormFloat64)
	back.AddBatch(more)
	ref.AddBatch(more)
	requireSameSketch(t, ref, back)

	big := NewNumeric()
	big.AddBatch(draw(r, 3000, r.NormFloat64))
	bin, err = big.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, byte(EncodingVersion), bin[3])
}

func TestRawDecodeRejects(t *testing.T) {
	good := NewNumeric()
	good.AddBatch([]float64{1, 2, 3, 4})
	good.Compact()
	wire := good.binaryWire()
	tests := []struct {
		name   string
		mutate func(w *numericWire)
	}{
		{"unsorted", func(w *numericWire) { w.Raw[0], w.Raw[1] = w.Raw[1], w.Raw[0] }},
		{"not finite", func(w *numericWire) { w.Raw[2] = math.Inf(1) }},
		{"NaN", func(w *numericWire) { w.Raw[2] = math.NaN() }},
		{"beside moments", func(w *numericWire) { w.Moments = Moments{N: 1, Mean: 1} }},
		{"beside heavy hitters", func(w *numericWire) { w.Top = []ValueCount{{1, 1}} }},
		{"over the buffer size", func(w *numericWire) { w.BufferSize = 16; w.Raw = make([]float64, 17) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := wire
			w.Raw = append([]float64(nil), wire.Raw...)
			tc.mutate(&w)
			_, err := numericFromWire(w)
			require.True(t, errors.Is(err, ErrCorrupt), "%v", err)
		})
	}
	bin, err := good.MarshalBinary()
	require.NoError(t, err)
	bin[3] = numericRawVersion + 1
	require.ErrorIs(t, new(Numeric).UnmarshalBinary(bin), ErrCorrupt)
}

// TestRawConcurrentReads: a compacted raw sketch is read by several
// goroutines at once (the evaluator merging horizons, a checkpoint
// encoding it), which never write it (go test -race shows it).
func TestRawConcurrentReads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	w := NewNumeric()
	w.AddBatch(draw(r, 250, r.NormFloat64))
	w.Compact()
	require.True(t, w.frozen)
	want, err := w.Quantile(0.9)
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make([]float64, 8)
	for g := range got {
		wg.Go(func() {
			acc := NewNumeric()
			_ = acc.Merge(w)
			_, _ = w.MarshalBinary()
			_ = w.Clone()
			w.Moments()
			got[g], _ = acc.Quantile(0.9)
		})
	}
	wg.Wait()
	for _, g := range got {
		require.Equal(t, want, g)
	}
}

// BenchmarkCompactedWindowHeap measures the heap a closed window's
// compacted sketch holds, by how many values the window saw.
func BenchmarkCompactedWindowHeap(b *testing.B) {
	for _, size := range []int{50, 200, 400, 1000} {
		b.Run("values="+strconv.Itoa(size), func(b *testing.B) {
			const keep = 500
			xs := normalValues(size*keep, 4)
			var perSketch float64
			for b.Loop() {
				perSketch, _ = compactedHeap(keep, func(j int) *Numeric {
					n := NewNumeric()
					for _, x := range xs[j*size : (j+1)*size] {
						n.Add(x)
					}
					n.Compact()
					return n
				})
			}
			b.ReportMetric(perSketch, "heap-B/sketch")
		})
	}
}

// BenchmarkMergeWindows merges a horizon of five closed windows of a few
// hundred values each, as an evaluation does per feature: what keeping
// small windows raw costs where they are merged.
func BenchmarkMergeWindows(b *testing.B) {
	for _, size := range []int{50, 200, 1000} {
		b.Run("values="+strconv.Itoa(size), func(b *testing.B) {
			xs := normalValues(5*size, 6)
			windows := make([]*Numeric, 5)
			for i := range windows {
				windows[i] = NewNumeric()
				windows[i].AddBatch(xs[i*size : (i+1)*size])
				windows[i].Compact()
			}
			for b.Loop() {
				acc := NewNumeric()
				for _, w := range windows {
					_ = acc.Merge(w)
				}
				_, _ = acc.Quantile(0.5)
			}
		})
	}
}
