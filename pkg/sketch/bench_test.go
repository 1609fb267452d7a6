package sketch

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/influxdata/tdigest"
)

func normalValues(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = r.NormFloat64()*3 + 10
	}
	return xs
}

// BenchmarkTDigestAdd is the bare library at the same compression: the
// yardstick the Numeric's per-value cost is held against.
func BenchmarkTDigestAdd(b *testing.B) {
	xs := normalValues(1<<16, 1)
	td := tdigest.NewWithCompression(DefaultCompression)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		td.Add(xs[i&(1<<16-1)], 1)
	}
}

func BenchmarkNumericAdd(b *testing.B) {
	xs := normalValues(1<<16, 1)
	n := NewNumeric()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Add(xs[i&(1<<16-1)])
	}
}

// BenchmarkNumericWindow is a window's life as the engine lives it: a
// fresh sketch per window and feature, its values added one by one, then
// compacted at the close; ns/op per value. 200 values stay raw, 2,500
// make a digest (the realistic benchmark's windows).
func BenchmarkNumericWindow(b *testing.B) {
	xs := normalValues(1<<16, 1)
	for _, size := range []int{200, 2500} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			var n *Numeric
			for i := 0; i < b.N; i++ {
				if i%size == 0 {
					if n != nil {
						n.Compact()
					}
					n = NewNumeric()
				}
				n.Add(xs[i&(1<<16-1)])
			}
		})
	}
}

func BenchmarkNumericAddBatch(b *testing.B) {
	xs := normalValues(1<<16, 1)
	n := NewNumeric()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1024 {
		j := i & (1<<16 - 1)
		n.AddBatch(xs[j : j+1024])
	}
}

func BenchmarkNumericMerge(b *testing.B) {
	parts := make([]*Numeric, 10)
	for i := range parts {
		parts[i] = NewNumeric()
		parts[i].AddBatch(normalValues(10000, uint64(i)))
		parts[i].Compact()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := NewNumeric()
		for _, p := range parts {
			if err := m.Merge(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchVector(b *testing.B, dim int) {
	r := rand.New(rand.NewPCG(7, 7))
	vs := make([][]float32, 64)
	for i := range vs {
		vs[i] = make([]float32, dim)
		for j := range vs[i] {
			vs[i][j] = float32(r.NormFloat64())
		}
	}
	v, err := NewVector(dim, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.Add(vs[i&63])
	}
}

func BenchmarkVectorAdd384(b *testing.B)  { benchVector(b, 384) }
func BenchmarkVectorAdd1536(b *testing.B) { benchVector(b, 1536) }

func BenchmarkNumericAddBufferSize(b *testing.B) {
	xs := normalValues(1<<16, 1)
	for _, size := range []int{256, 512, 1024, 2048, 8192, 65536} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			n, err := NewNumericWith(NumericOptions{BufferSize: size})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n.Add(xs[i&(1<<16-1)])
			}
		})
	}
}
