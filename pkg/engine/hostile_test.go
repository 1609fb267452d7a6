package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// The hostile-stream property test drives sketchtest's streams through the
// engine the way the daemon does: several partitions, events over many
// windows a little out of order, window closes and cumulative folds,
// evaluations against a baseline, checkpoints at random points (one in
// 500 events) and restores of every partition into a fresh engine (one in
// 5000). Whatever the values, no
// internal error is caught (so nothing panicked and every checkpointed
// sketch decoded), counts are exact, and the quantiles of the merged
// cumulative views are within the sketches' accuracy bounds.

// Rank-error bounds of the merged cumulative view, as in pkg/sketch's
// property tests: mean 0.001 (twice that across a void in the values),
// worst 0.005 (0.04 across a void).
const (
	hostileMeanRank     = 0.001
	hostileMaxRank      = 0.005
	hostileMeanRankVoid = 0.002
	hostileMaxRankVoid  = 0.04
)

var voidedStreams = map[string]bool{"near_max_float": true, "near_min_float": true, "huge_and_tiny": true}

func TestHostileStreamsThroughEngine(t *testing.T) {
	const parts, windows = 4, 8
	sizes := []int{400, 20_000}
	for _, st := range sketchtest.Streams() {
		for si, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", st.Name, size), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(si)+1, uint64(len(st.Name))))
				xs := st.Gen(r, size)
				ref := sketch.NewNumeric()
				for _, x := range st.Gen(r, 5000) {
					if !sketchtest.IsMissing(x) {
						ref.Add(x)
					}
				}
				refBytes, err := ref.MarshalBinary()
				require.NoError(t, err)
				bls := baselines{"m/v1": func() drift.Set {
					n := new(sketch.Numeric)
					require.NoError(t, n.UnmarshalBinary(refBytes))
					return drift.Set{Features: map[string]drift.FeatureSketch{"x": {Sketch: n}}}
				}}
				store := newMemStore()
				start := func() (*Engine, []*partition) { return openAll(t, testOptions(), bls, store, parts) }
				e, ps := start()
				var internal float64
				restarts := 0

				var finite []float64
				var missing, nonfinite uint64
				span := time.Duration(windows) * time.Minute
				next := make([]int64, parts) // next offset per partition
				for i, x := range xs {
					p := i % parts
					ts := t0.Add(span*time.Duration(i)/time.Duration(len(xs)) + time.Duration(r.IntN(8000)-4000)*time.Millisecond)
					ev := event(ts, "m", "v1", "x", x, "y", float64(i%7))
					ev.KafkaTime = ts
					switch {
					case sketchtest.IsMissing(x):
						ev.Features[0] = stream.FeatureValue{Name: "x", Missing: true}
						missing++
					case math.IsNaN(x) || math.IsInf(x, 0):
						nonfinite++
					default:
						finite = append(finite, x)
					}
					if i%3 == 0 {
						ev.Raw = []stream.FeatureValue{{Name: "x", Value: x * 2}}
					}
					require.NoError(t, ps[p].Apply(next[p], ev))
					next[p]++
					switch r.IntN(5000) {
					case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9: // a checkpoint of one partition, state kept
						_, err := ps[p].Checkpoint()
						require.NoError(t, err)
					case 10: // every partition checkpointed, restored into a fresh engine
						for _, pp := range ps {
							_, err := pp.Checkpoint()
							require.NoError(t, err)
						}
						e.ev.process()
						internal += totalInternal(e)
						for _, pp := range ps {
							require.NoError(t, pp.Close())
						}
						e, ps = start()
						restarts++
						for k, pp := range ps {
							require.Equal(t, next[k]-1, pp.Offset(), "restored offset")
						}
					case 11, 12, 13:
						e.ev.process()
					}
				}
				for _, pp := range ps {
					closeAll(pp)
				}
				e.ev.process()
				internal += totalInternal(e)
				require.Zero(t, internal, "internal errors caught (a panic, or a sketch that did not decode)")

				cs, ok := e.Cumulative("m", "v1")
				require.True(t, ok)
				require.Equal(t, uint64(len(xs)), cs.Events)
				var x FeatureStats
				for _, f := range cs.Features {
					if f.Name == "x" {
						x = f
					}
				}
				require.Equal(t, uint64(len(finite)), x.Count, "finite values")
				require.Equal(t, missing, x.Missing, "missing values")
				require.Equal(t, nonfinite, x.NonFinite, "NaN and infinities")

				// The merged cumulative sketch against the exact quantiles.
				merged := sketch.NewNumeric()
				e.ev.mu.Lock()
				for _, w := range sortedParts(e.ev.vers[e.reg.lookup("m", "v1")].cum) {
					if len(w.num) > 0 && w.num[0] != nil {
						require.NoError(t, merged.Merge(w.num[0]))
					}
				}
				e.ev.mu.Unlock()
				require.Equal(t, uint64(len(finite)), merged.Count())
				if len(finite) > 0 {
					sorted := slices.Sorted(slices.Values(finite))
					worst, mean := rankErrors(t, merged, sorted)
					// With a few hundred values spread over 32 partials, ties
					// are too few in any one to be seen as point masses, and
					// one value is a rank step of 1/n: the worst error is
					// allowed four of them.
					maxR, meanR := max(hostileMaxRank, 4/float64(len(sorted))), hostileMeanRank
					if voidedStreams[st.Name] {
						maxR, meanR = max(hostileMaxRankVoid, maxR), hostileMeanRankVoid
					}
					require.LessOrEqual(t, mean, meanR, "mean rank error")
					require.LessOrEqual(t, worst, maxR, "worst rank error")
				}
				// The version was evaluated, and its report encodes.
				evs := e.Latest()
				require.Len(t, evs, 1)
				_, err = json.Marshal(evs[0])
				require.NoError(t, err, "%+v", evs[0])
				t.Logf("%d events, %d restarts, report %s", len(xs), restarts, evs[0].Report.Features[0].Diagnosis)
			})
		}
	}
}

func totalInternal(e *Engine) float64 {
	var sum float64
	for _, c := range Components() {
		sum += testutil.ToFloat64(e.m.internalErrors.WithLabelValues(c))
	}
	return sum
}

// rankErrors returns the worst and mean rank error of n's quantiles over
// q = 0.001 ... 0.999 against the sorted data: how far q lies outside
// [F(x-), F(x)] of the data at the sketch's quantile x.
func rankErrors(t *testing.T, n *sketch.Numeric, sorted []float64) (worst, mean float64) {
	t.Helper()
	k := 0
	for q := 0.001; q <= 0.999+1e-9; q += 0.001 {
		x, err := n.Quantile(q)
		require.NoError(t, err)
		lo := float64(sort.SearchFloat64s(sorted, x)) / float64(len(sorted))
		hi := float64(sort.Search(len(sorted), func(i int) bool { return sorted[i] > x })) / float64(len(sorted))
		e := 0.0
		switch {
		case q < lo:
			e = lo - q
		case q > hi:
			e = q - hi
		}
		worst = math.Max(worst, e)
		mean += e
		k++
	}
	return worst, mean / float64(k)
}

// openAll makes an engine over store and opens partitions 0 to n-1 of it,
// restoring their checkpoints: a daemon (re)started.
func openAll(t testing.TB, opts Options, b Baselines, store *memStore, n int) (*Engine, []*partition) {
	t.Helper()
	e, _ := newEngine(t, opts, b, store)
	ps := make([]*partition, n)
	for i := range ps {
		ps[i] = open(t, e, i)
	}
	return e, ps
}
