package gcpace

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		opts Options
		live uint64
		want int
	}{
		{"no headroom is GOGC", Options{Percent: 100}, 10 * mib, 100},
		{"no headroom, another GOGC", Options{Percent: 250}, 1 * mib, 250},
		{"a small heap grows by the headroom", Options{Percent: 100, Headroom: 64 * mib}, 16 * mib, 400},
		{"rounded up, never short of the headroom", Options{Percent: 100, Headroom: 64 * mib}, 48 * mib, 134},
		{"a large heap is paced by GOGC", Options{Percent: 100, Headroom: 64 * mib}, 200 * mib, 100},
		{"at the crossing, both agree", Options{Percent: 100, Headroom: 64 * mib}, 64 * mib, 100},
		// heapMinimum·percent/100 must stay within live+headroom.
		{"a tiny heap: the runtime's least goal bounds it", Options{Percent: 100, Headroom: 64 * mib}, 1 * mib, 1625},
		{"before any collection", Options{Percent: 100, Headroom: 64 * mib}, 0, 1600},
		{"a headroom below the least goal", Options{Percent: 100, Headroom: 1 * mib}, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Percent(tt.opts, tt.live))
		})
	}
}

func readMetrics(names ...string) []uint64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	out := make([]uint64, len(s))
	for i := range s {
		out[i] = s[i].Value.Uint64()
	}
	return out
}

// sink keeps the test's live heap reachable.
var sink [][]byte

// TestPacerBoundsTheHeapGoal holds a live heap, lets the Pacer see
// collections, and checks the runtime's heap goal: live plus the
// headroom while the headroom is the larger growth, and GOGC's pace (no
// more memory) once the live heap outgrows it; then that Stop restores
// Percent.
func TestPacerBoundsTheHeapGoal(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const mib = 1 << 20
	opts := Options{Percent: 100, Headroom: 48 * mib}
	p := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { sink = nil }()

	for _, tc := range []struct {
		name     string
		liveMiB  int
		headroom bool // whether the headroom is the larger growth
	}{
		{"small heap", 16, true},
		{"large heap", 96, false},
	} {
		sink = nil
		for range tc.liveMiB {
			sink = append(sink, make([]byte, mib))
		}
		var live, goal uint64
		require.Eventually(t, func() bool {
			runtime.GC()
			runtime.GC() // the finalizer of the first set the pace of the second
			m := readMetrics("/gc/heap/live:bytes", "/gc/heap/goal:bytes")
			live, goal = m[0], m[1]
			return p.Percent() == Percent(opts, live)
		}, 10*time.Second, 10*time.Millisecond, "%s: the pacer did not follow the live heap", tc.name)
		growth := float64(goal) - float64(live)
		// The goal also counts goroutine stacks and globals at the same
		// percentage: a few MiB in a test binary.
		slack := 8.0 * mib
		if tc.headroom {
			require.InDelta(t, float64(opts.Headroom), growth, slack, "%s: live %d, goal %d", tc.name, live, goal)
		} else {
			require.InDelta(t, float64(live), growth, slack+float64(live)/20, "%s: live %d, goal %d", tc.name, live, goal)
		}
	}

	p.Stop()
	p.Stop() // idempotent
	require.NoError(t, <-done)
	require.Equal(t, opts.Percent, debug.SetGCPercent(opts.Percent))
}
