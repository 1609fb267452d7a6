package engine

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/stretchr/testify/require"
)

// FuzzEngineEvents reads its input as a program over an engine of three
// partitions: events with any float64 value (eight bytes each) and any
// time step, checkpoints and restores of every partition into a fresh
// engine, window closes and evaluations. An event of an odd time step is
// of version v2, else v1, and an event with a finite value carries it as
// an outcome score too, with a pass outcome (the value above 0), so the
// outcomes' moments, their checkpoints and their comparison with the
// previous version see the same hostile values. Nothing may panic or
// fail to decode (no internal error), and the counts come out exact. The
// seed corpus holds sketchtest's hostile streams.
func FuzzEngineEvents(f *testing.F) {
	for i, st := range sketchtest.Streams() {
		r := rand.New(rand.NewPCG(uint64(i), 11))
		var b []byte
		for j, x := range st.Gen(r, 150) {
			op := byte(r.IntN(3)) << 2 // partition
			if j%40 == 39 {
				b = append(b, 2|op)
			}
			b = append(b, op|byte(r.IntN(4))<<4)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		f.Add(append(b, 3))
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		const parts = 3
		store := newMemStore()
		opts := guarded()
		opts.Outcomes = outcomeSpecs()[:2]
		opts.Outcomes[1].FallsWith = ""
		start := func() (*Engine, []*partition) { return openAll(t, opts, nil, store, parts) }
		e, ps := start()
		var internal float64
		next := make([]int64, parts)
		now := t0
		type counts struct{ finite, missing, nonfinite uint64 }
		n := map[string]*counts{"v1": {}, "v2": {}}
		for len(prog) > 0 {
			op := prog[0]
			prog = prog[1:]
			p := int(op>>2&3) % parts
			switch op & 3 {
			case 0, 1:
				if len(prog) < 8 {
					prog = nil
					break
				}
				x := math.Float64frombits(binary.LittleEndian.Uint64(prog))
				prog = prog[8:]
				now = now.Add(time.Duration(op>>4) * 7 * time.Second)
				version := "v1"
				if op>>4&1 == 1 {
					version = "v2"
				}
				ev := event(now, "m", version, "x", x)
				ev.KafkaTime = now
				c := n[version]
				switch {
				case sketchtest.IsMissing(x):
					ev.Features[0].Missing = true
					c.missing++
				case math.IsNaN(x) || math.IsInf(x, 0):
					c.nonfinite++
				default:
					c.finite++
					pass := 0.0
					if x > 0 {
						pass = 1
					}
					ev.Outcomes = []stream.OutcomeValue{{Name: "eval_pass", Value: pass}, {Name: "context_relevance", Value: x}}
				}
				require.NoError(t, ps[p].Apply(next[p], ev))
				next[p]++
			case 2:
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
			case 3:
				for _, pp := range ps {
					closeAll(pp)
				}
				e.ev.process()
			}
		}
		for _, pp := range ps {
			closeAll(pp)
		}
		e.ev.process()
		internal += totalInternal(e)
		require.Zero(t, internal, "internal errors")
		for _, v := range []string{"v1", "v2"} {
			c := n[v]
			if c.finite+c.missing+c.nonfinite == 0 {
				continue
			}
			cs, ok := e.Cumulative("m", v)
			require.True(t, ok, v)
			require.Len(t, cs.Features, 1, v)
			require.Equal(t, c.finite, cs.Features[0].Count, v)
			require.Equal(t, c.missing, cs.Features[0].Missing, v)
			require.Equal(t, c.nonfinite, cs.Features[0].NonFinite, v)
		}
	})
}
