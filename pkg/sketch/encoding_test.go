package sketch

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleNumerics() map[string]*Numeric {
	out := map[string]*Numeric{"empty": NewNumeric()}
	for _, d := range datasets {
		n := NewNumeric()
		n.AddBatch(generate(d, 20_000, 4))
		n.Add(math.NaN())
		n.Add(math.Inf(-1))
		n.AddMissing(3)
		out[d.name] = n
	}
	return out
}

func requireSameNumeric(t *testing.T, want, got *Numeric) {
	t.Helper()
	require.Equal(t, want.Moments(), got.Moments())
	require.Equal(t, want.Count(), got.Count())
	require.Equal(t, want.Missing(), got.Missing())
	require.Equal(t, want.NaN(), got.NaN())
	require.Equal(t, want.NegInf(), got.NegInf())
	require.Equal(t, want.Exact(), got.Exact())
	require.Equal(t, want.HeavyHitters(), got.HeavyHitters())
	wd, werr := want.Distribution()
	gd, gerr := got.Distribution()
	require.Equal(t, werr, gerr)
	require.Equal(t, wd, gd)
}

func TestNumericRoundTrip(t *testing.T) {
	for name, n := range sampleNumerics() {
		t.Run(name, func(t *testing.T) {
			b, err := n.MarshalBinary()
			require.NoError(t, err)
			var fromBinary Numeric
			require.NoError(t, fromBinary.UnmarshalBinary(b))
			requireSameNumeric(t, n, &fromBinary)

			j, err := json.Marshal(n)
			require.NoError(t, err)
			var fromJSON Numeric
			require.NoError(t, json.Unmarshal(j, &fromJSON))
			requireSameNumeric(t, n, &fromJSON)

			// A decoded sketch keeps working: adding and merging go on.
			fromBinary.Add(1)
			require.NoError(t, fromBinary.Merge(&fromJSON))
			require.Equal(t, 2*n.Count()+1, fromBinary.Count())
		})
	}
}

func TestVectorPairRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	v, err := NewVector(16, 0)
	require.NoError(t, err)
	p := &Pair{}
	for range 500 {
		x := make([]float32, 16)
		for j := range x {
			x[j] = float32(r.NormFloat64())
		}
		v.Add(x)
		raw := 50000 + 15000*r.NormFloat64()
		p.Add(raw, (raw-50000)/15000)
	}
	v.Add(make([]float32, 3))

	b, err := v.MarshalBinary()
	require.NoError(t, err)
	var v2 Vector
	require.NoError(t, v2.UnmarshalBinary(b))
	j, err := json.Marshal(v)
	require.NoError(t, err)
	var v3 Vector
	require.NoError(t, json.Unmarshal(j, &v3))
	for _, got := range []*Vector{&v2, &v3} {
		require.Equal(t, v.Count(), got.Count())
		require.Equal(t, v.DimMismatches(), got.DimMismatches())
		require.Equal(t, v.UnitNorm(), got.UnitNorm())
		require.Equal(t, v.Mean(), got.Mean())
		require.Equal(t, v.Variance(), got.Variance())
		requireSameNumeric(t, v.Norms(), got.Norms())
	}

	pb, err := p.MarshalBinary()
	require.NoError(t, err)
	var p2 Pair
	require.NoError(t, p2.UnmarshalBinary(pb))
	require.Equal(t, *p, p2)
	pj, err := json.Marshal(p)
	require.NoError(t, err)
	var p3 Pair
	require.NoError(t, json.Unmarshal(pj, &p3))
	require.Equal(t, *p, p3)
}

func TestNumericDecodeErrors(t *testing.T) {
	good, err := sampleNumerics()["normal"].MarshalBinary()
	require.NoError(t, err)
	flip := func(i int, b byte) []byte {
		c := append([]byte(nil), good...)
		c[i] ^= b
		return c
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"wrong magic", append([]byte("XYZ\x01"), good[4:]...)},
		{"future version", flip(3, 0x02)},
		{"truncated", good[:len(good)/2]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"bad compression", flip(4+7, 0xff)},
		{"count mismatch", func() []byte {
			n := sampleNumerics()["normal"]
			n.Moments()
			n.mom.N++
			b, _ := n.MarshalBinary()
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n Numeric
			require.ErrorIs(t, n.UnmarshalBinary(tc.data), ErrCorrupt)
		})
	}
	for _, tc := range []struct{ name, json string }{
		{"not json", `{`},
		{"version", `{"version":9}`},
		{"nan moment", `{"version":1,"compression":100,"exact_limit":1,"buffer_size":16,"heavy_hitters_k":1,"moments":{"N":1,"Mean":"x"}}`},
		{"values without moments", `{"version":1,"compression":100,"exact_limit":4,"buffer_size":16,"heavy_hitters_k":1,"exact":true,"values":[{"value":1,"count":2}]}`},
		{"unsorted", `{"version":1,"compression":100,"exact_limit":4,"buffer_size":16,"heavy_hitters_k":1,"exact":true,"min":1,"max":2,"moments":{"N":2,"Mean":1.5,"M2":0.5},"values":[{"value":2,"count":1},{"value":1,"count":1}]}`},
		{"outside range", `{"version":1,"compression":100,"exact_limit":4,"buffer_size":16,"heavy_hitters_k":1,"exact":true,"min":1,"max":1,"moments":{"N":1,"Mean":5},"values":[{"value":5,"count":1}]}`},
	} {
		t.Run("json "+tc.name, func(t *testing.T) {
			var n Numeric
			require.ErrorIs(t, n.UnmarshalJSON([]byte(tc.json)), ErrCorrupt)
		})
	}
}
