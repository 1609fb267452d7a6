package engine

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCheckpointSize reports the size of one partition's checkpoint
// (B/checkpoint) with its horizon full: what the checkpoint topic of the
// kafka store must carry per partition and save. Each window holds 2000
// events of one model version with the given number of features.
func BenchmarkCheckpointSize(b *testing.B) {
	for _, features := range []int{20, 200, 1000} {
		b.Run(fmt.Sprintf("features=%d", features), func(b *testing.B) {
			opts := testOptions()
			opts.HorizonWindows = 5
			opts.Limits.MaxFeatures = features
			opts.Limits.MaxSeries = features
			e, _ := newEngine(b, opts, nil, nil)
			p := open(b, e, 0)
			r := rand.New(rand.NewPCG(1, 2))
			names := make([]string, features)
			for i := range names {
				names[i] = "f" + strconv.Itoa(i)
			}
			var off int64
			for w := range 7 {
				for i := range 2000 {
					ts := t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/2000)
					var kv []any
					for _, n := range names {
						kv = append(kv, n, normal(r, 0, 1))
					}
					if err := p.Apply(off, event(ts, "m", "v1", kv...)); err != nil {
						b.Fatal(err)
					}
					off++
				}
			}
			var size int
			for b.Loop() {
				p.mu.Lock()
				data, err := p.encode()
				p.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "B/checkpoint")
		})
	}
}
