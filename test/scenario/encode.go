package scenario

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// stream is a scenario's production traffic: its world and generator.
type traffic struct {
	s *Scenario
	w *world
	r *rand.Rand
}

func newTraffic(s *Scenario, w *world) *traffic {
	return &traffic{s: s, w: w, r: rand.New(rand.NewPCG(s.Seed, 0x70726f64))}
}

// next draws one event of window k.
func (st *traffic) next(k int) *event {
	raw := rawRow(st.r)
	ev := &event{norm: make(map[string]float64, len(featureNames)), raw: map[string]float64{},
		null: map[string]bool{}, absent: map[string]bool{}}
	for _, f := range featureNames {
		x := raw[f]
		if sc, ok := st.w.scalers[f]; ok {
			x = sc.apply(x)
		}
		ev.norm[f] = x
	}
	if st.s.Pairs {
		for _, f := range pairedFeatures {
			ev.raw[f] = raw[f]
		}
	}
	ev.vec = st.w.vector(st.r, 1, true, nil)
	st.signals(ev)
	if st.s.apply != nil && k >= st.s.Onset {
		st.s.apply(st.w, st.r, ev)
	}
	return ev
}

// encode appends the JSON of ev at t.
func (st *traffic) encode(b []byte, ev *event, t time.Time) []byte {
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"model":"`...)
	b = append(b, st.s.ID...)
	b = append(b, `","model_version":"v1","features":{`...)
	first := true
	for _, f := range featureNames {
		if ev.absent[f] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f...)
		b = append(b, `":`...)
		if ev.null[f] {
			b = append(b, "null"...)
		} else {
			b = st.num(b, ev.norm[f])
		}
	}
	b = append(b, '}')
	if len(ev.raw) > 0 {
		b = append(b, `,"raw":{`...)
		first = true
		for _, f := range pairedFeatures {
			x, ok := ev.raw[f]
			if !ok || ev.absent[f] || ev.null[f] {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, f...)
			b = append(b, `":`...)
			b = st.num(b, x)
		}
		b = append(b, '}')
	}
	if !ev.noVec {
		b = append(b, `,"embeddings":{"`+eQuery+`":`...)
		if st.s.B64 {
			b = append(b, `"b64f32:`...)
			b = appendB64F32(b, ev.vec)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for i, x := range ev.vec {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		if ev.hidden != nil {
			b = append(b, `,"`+eHidden+`":`...)
			b = st.vector(b, ev.hidden)
		}
		b = append(b, '}')
	}
	b = st.encodeSignals(b, ev)
	return append(b, '}')
}

func (st *traffic) num(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, x, 'g', st.s.Digits, 64)
}
