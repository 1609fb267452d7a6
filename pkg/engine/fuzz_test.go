package engine

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
	"github.com/stretchr/testify/require"
)

// FuzzEngineEvents reads its input as a program over an engine of three
// partitions: events with any float64 value (eight bytes each) and any
// time step, checkpoints and restores of every partition into a fresh
// engine, window closes and evaluations. Nothing may panic or fail to
// decode (no internal error), and the counts come out exact. The seed
// corpus holds sketchtest's hostile streams.
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
		start := func() (*Engine, []*partition) { return openAll(t, guarded(), nil, store, parts) }
		e, ps := start()
		var internal float64
		next := make([]int64, parts)
		now := t0
		var finite, missing, nonfinite uint64
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
				ev := event(now, "m", "v1", "x", x)
				ev.KafkaTime = now
				switch {
				case sketchtest.IsMissing(x):
					ev.Features[0].Missing = true
					missing++
				case math.IsNaN(x) || math.IsInf(x, 0):
					nonfinite++
				default:
					finite++
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
		if finite+missing+nonfinite == 0 {
			return
		}
		cs, ok := e.Cumulative("m", "v1")
		require.True(t, ok)
		require.Len(t, cs.Features, 1)
		require.Equal(t, finite, cs.Features[0].Count)
		require.Equal(t, missing, cs.Features[0].Missing)
		require.Equal(t, nonfinite, cs.Features[0].NonFinite)
	})
}
