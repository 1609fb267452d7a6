package sketch

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func ids(s ...string) []uint64 {
	out := make([]uint64, len(s))
	for i, x := range s {
		out[i] = DocID([]byte(x))
	}
	return out
}

// naiveScore is recall@k and truncated RBO by their definitions: sets of
// prefixes at every depth.
func naiveScore(k int, ref, run []string) (float64, float64) {
	dedup := func(l []string) []string {
		seen := map[string]bool{}
		var out []string
		for _, x := range l {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
		return out
	}
	// A repeated id of the run takes its slots but counts once.
	ref = dedup(ref)
	ref = ref[:min(k, len(ref))]
	top := run[:min(k, len(run))]
	hits := 0
	for _, x := range dedup(top) {
		for _, y := range ref {
			if x == y {
				hits++
			}
		}
	}
	rbo := func(a, b []string) float64 {
		s := 0.0
		for d := 1; d <= k; d++ {
			in := map[string]bool{}
			for _, x := range a[:min(d, len(a))] {
				in[x] = true
			}
			c := 0
			for _, y := range b[:min(d, len(b))] {
				if in[y] {
					c++
				}
			}
			s += math.Pow(OverlapP, float64(d-1)) * float64(c) / float64(d)
		}
		return s
	}
	return float64(hits) / float64(len(ref)), rbo(top, ref) / rbo(ref, ref)
}

func TestFrozenRefScore(t *testing.T) {
	ref, err := NewFrozenRef(5, map[string][]string{
		"q1": {"a", "b", "c", "d", "e", "f"},
		"q2": {"x", "y"},
	})
	require.NoError(t, err)
	require.Equal(t, 2, ref.Queries())
	for _, c := range []struct {
		q       string
		run     []string
		recall  float64
		overlap float64
	}{
		{"q1", []string{"a", "b", "c", "d", "e"}, 1, 1},
		{"q1", []string{"z", "y", "w", "v", "u"}, 0, 0},
		{"q1", []string{"a", "b", "c", "d", "e", "f", "g"}, 1, 1}, // past k: ignored
		{"q2", []string{"x", "y", "p", "q", "r"}, 1, 1},           // a short reference is met in full
		{"q2", []string{"y", "x"}, 1, -1},
		{"q1", []string{"e", "d", "c", "b", "a"}, 1, -1},
		{"q1", []string{"a", "a", "a", "b"}, 0.4, -1},
		{"q1", []string{}, 0, 0},
	} {
		r, o, ok := ref.Score(c.q, ids(c.run...))
		require.True(t, ok)
		refList := map[string][]string{"q1": {"a", "b", "c", "d", "e", "f"}, "q2": {"x", "y"}}[c.q]
		wr, wo := naiveScore(5, refList, c.run)
		require.InDelta(t, wr, r, 1e-12, "%v", c.run)
		require.InDelta(t, wo, o, 1e-12, "%v", c.run)
		require.InDelta(t, c.recall, r, 1e-12, "%v", c.run)
		if c.overlap >= 0 {
			require.InDelta(t, c.overlap, o, 1e-12, "%v", c.run)
		} else {
			require.Less(t, o, 1.0) // reordered: recall 1, overlap below
		}
	}
	_, _, ok := ref.Score("q3", ids("a"))
	require.False(t, ok)
	// Random runs against the definitions, deep references too.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 10, 100} {
		refList := make([]string, k+3)
		for i := range refList {
			refList[i] = "d" + strconv.Itoa(rng.IntN(3*k))
		}
		fr, err := NewFrozenRef(k, map[string][]string{"q": refList})
		require.NoError(t, err)
		for range 50 {
			run := make([]string, rng.IntN(2*k+1))
			for i := range run {
				run[i] = "d" + strconv.Itoa(rng.IntN(3*k))
			}
			r, o, _ := fr.Score("q", ids(run...))
			wr, wo := naiveScore(k, refList, run)
			require.InDelta(t, wr, r, 1e-12)
			require.InDelta(t, wo, o, 1e-9)
		}
	}
	_, err = NewFrozenRef(0, nil)
	require.Error(t, err)
	_, err = NewFrozenRef(3, map[string][]string{"q": {}})
	require.Error(t, err)
}

func TestFrozenAggregate(t *testing.T) {
	a, b := NewFrozen(10), NewFrozen(10)
	require.True(t, a.Add("q1", 1, 1, 3))
	require.True(t, a.Add("q1", 0.5, 0.25, 3))
	require.True(t, a.Add("q2", 0, 0, 3))
	a.AddUnknown()
	require.True(t, b.Add("q3", 0.8, 0.6, 3))
	require.True(t, b.Add("q2", 1, 1, 3))
	require.False(t, a.Add("q4", 1, 1, 2)) // over its cap
	require.NoError(t, a.Merge(b, 3))
	require.Equal(t, 3, a.Queries())
	require.Equal(t, uint64(5), a.Runs())
	require.Equal(t, uint64(1), a.Unknown())
	require.Equal(t, uint64(1), a.OverCap())
	r, o := a.Means()
	// q1 0.75/0.625, q2 0.5/0.5, q3 0.8/0.6.
	require.InDelta(t, (0.75+0.5+0.8)/3, r, 1e-12)
	require.InDelta(t, (0.625+0.5+0.6)/3, o, 1e-12)
	c := NewFrozen(10)
	require.True(t, c.Add("q9", 1, 1, 10))
	require.NoError(t, a.Merge(c, 3)) // q9 over the cap: its run counted
	require.Equal(t, uint64(2), a.OverCap())
	require.Error(t, a.Merge(NewFrozen(5), 3))

	bin, err := a.MarshalBinary()
	require.NoError(t, err)
	var d Frozen
	require.NoError(t, d.UnmarshalBinary(bin))
	require.Equal(t, a, &d)
	cl := a.Clone()
	cl.Add("q1", 1, 1, 10)
	require.Equal(t, a, &d) // the clone is apart
	for i := range bin {
		var x Frozen
		_ = x.UnmarshalBinary(bin[:i]) // truncated: an error, never a panic
		require.Error(t, x.UnmarshalBinary(bin[:i]))
	}
	bad := append([]byte{}, bin...)
	bad[len(bad)-1] = 0x7f // an overlap sum far over its runs
	require.Error(t, new(Frozen).UnmarshalBinary(bad))
}
