package baseline

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBuildCSV builds a baseline of a generated 1M-row, 20-feature
// CSV (values with 5 significant digits, as exported training data has) and
// reports rows/s and the peak heap during the build, sampled every 5 ms.
func BenchmarkBuildCSV(b *testing.B) {
	const rows, features = 1_000_000, 20
	path := filepath.Join(b.TempDir(), "train.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for j := range features {
		if j > 0 {
			w.WriteByte(',')
		}
		w.WriteString("f" + strconv.Itoa(j))
	}
	w.WriteByte('\n')
	r := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for range rows {
		buf = buf[:0]
		for j := range features {
			if j > 0 {
				buf = append(buf, ',')
			}
			x := float64(j) + r.NormFloat64()*float64(j+1)
			buf = strconv.AppendFloat(buf, x, 'g', 5, 64)
		}
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	st, _ := os.Stat(path)
	opts := BuildOptions{Model: "bench", Version: "v1"}

	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		// runtime/metrics does not stop the world, as ReadMemStats does.
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	b.SetBytes(st.Size())
	b.ResetTimer()
	for range b.N {
		if _, _, err := Build(context.Background(), path, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(done)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(0, "ns/op")
}
