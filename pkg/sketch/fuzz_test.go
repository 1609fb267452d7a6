package sketch

import (
	"encoding/json"
	"math"
	"testing"
)

// The fuzz tests feed hostile bytes to every decoder: each must return an
// error or a sketch that is consistent enough to query, merge and encode
// again, and never panic or allocate without bound.

func FuzzNumericUnmarshalBinary(f *testing.F) {
	for _, n := range sampleNumerics() {
		b, _ := n.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("NWN\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n Numeric
		if err := n.UnmarshalBinary(data); err != nil {
			return
		}
		exerciseNumeric(t, &n)
	})
}

func FuzzNumericUnmarshalJSON(f *testing.F) {
	for _, n := range sampleNumerics() {
		b, _ := json.Marshal(n)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var n Numeric
		if err := json.Unmarshal(data, &n); err != nil {
			return
		}
		exerciseNumeric(t, &n)
	})
}

func exerciseNumeric(t *testing.T, n *Numeric) {
	if d, err := n.Distribution(); err == nil {
		for _, q := range []float64{0, 0.01, 0.5, 0.99, 1} {
			if x := d.Quantile(q); math.IsNaN(x) {
				t.Fatalf("quantile %v of a non-empty sketch is NaN", q)
			}
		}
		_ = d.CDF(0)
	}
	before := n.Count()
	m := NewNumeric()
	if err := m.Merge(n); err == nil && m.Count() != before {
		t.Fatalf("merge changed the count: %d -> %d", before, m.Count())
	}
	b, err := n.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var again Numeric
	if err := again.UnmarshalBinary(b); err != nil {
		t.Fatalf("re-encoded sketch does not decode: %v", err)
	}
}

func FuzzVectorUnmarshalBinary(f *testing.F) {
	v, _ := NewVector(4, 0)
	v.Add([]float32{0.5, 0.5, 0.5, 0.5})
	v.Add([]float32{1, 2, 3, 4})
	b, _ := v.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Vector
		if err := v.UnmarshalBinary(data); err != nil {
			return
		}
		_ = v.Mean()
		_ = v.Variance()
		_ = v.UnitNormRatio()
		if v.Dim() > 0 {
			v.Add(make([]float32, v.Dim()))
		}
		if _, err := v.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzVectorUnmarshalJSON(f *testing.F) {
	v, _ := NewVector(3, 0)
	v.Add([]float32{0, 0.6, 0.8})
	b, _ := json.Marshal(v)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v Vector
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		_ = v.Mean()
		if v.Dim() > 0 {
			v.Add(make([]float32, v.Dim()))
		}
	})
}

func FuzzPairUnmarshal(f *testing.F) {
	p := &Pair{}
	p.Add(1, 2)
	p.Add(3, 5)
	b, _ := p.MarshalBinary()
	f.Add(b)
	j, _ := json.Marshal(p)
	f.Add(j)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Pair
		if p.UnmarshalBinary(data) != nil && p.UnmarshalJSON(data) != nil {
			return
		}
		if tr, err := p.Fit(); err == nil && (math.IsNaN(tr.Slope) || math.IsNaN(tr.R2)) {
			t.Fatalf("fit of a decoded pair is NaN: %+v", tr)
		}
	})
}
