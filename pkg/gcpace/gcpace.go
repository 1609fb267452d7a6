// Package gcpace paces Go's garbage collector for a daemon whose live heap
// is small next to what it allocates: every Kafka message's value is a
// fresh buffer, garbage as soon as the message is decoded, so with Go's
// default (a collection each time the heap grows by 100% of the live
// heap) a monitor holding 25 MiB of sketches collects several times a
// second, each time marking all of them.
//
// A Pacer lets the heap grow between collections by Percent of the live
// heap (GOGC) or by Headroom bytes, whichever is more. The cost of the
// collector per byte allocated falls with the growth allowed, and memory
// stays bounded: the heap peaks near max(live·(1+Percent/100),
// live+Headroom), so a large live heap is paced exactly as GOGC=Percent
// paces it, and a small one spends at most Headroom more.
//
// After each collection the Pacer reads the live heap
// (runtime/metrics /gc/heap/live:bytes) and sets the GC percentage that
// gives that growth. It has no goroutine: a finalizer on an object
// allocated for the purpose runs after each collection and re-arms itself.
package gcpace

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Options configure a Pacer.
type Options struct {
	// Percent is the least growth of the heap between collections, in
	// percent of the live heap, as GOGC (100 is Go's default).
	Percent int
	// Headroom is the least growth in bytes; 0 leaves Percent alone.
	Headroom int64
}

// heapMinimum is Go's least heap goal at GOGC=100; the runtime scales it
// with the percentage, which bounds the percentage worth setting for a
// tiny live heap (at start-up).
const heapMinimum = 4 << 20

// Pacer keeps the collector's pace while it runs.
type Pacer struct {
	opts     Options
	stopOnce sync.Once
	stopped  atomic.Bool
	done     chan struct{}
	percent  atomic.Int64 // the percentage last set
	sample   []metrics.Sample
	mu       sync.Mutex // guards sample; the finalizer goroutine is the only caller in use
}

// New returns a Pacer of opts; it paces the collector from Run to Stop.
func New(opts Options) *Pacer {
	return &Pacer{opts: opts, done: make(chan struct{}),
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
}

// Percent returns the GC percentage the Pacer set last, 0 before any.
func (p *Pacer) Percent() int { return int(p.percent.Load()) }

// Run paces the collector until ctx ends or Stop is called, then restores
// Options.Percent.
func (p *Pacer) Run(ctx context.Context) error {
	p.adjust()
	p.arm()
	select {
	case <-ctx.Done():
		p.Stop()
	case <-p.done:
	}
	debug.SetGCPercent(p.opts.Percent)
	return nil
}

// Stop ends Run; it returns at once and may be called more than once.
func (p *Pacer) Stop() {
	p.stopOnce.Do(func() {
		p.stopped.Store(true)
		close(p.done)
	})
}

// sentinel is allocated to be collected: its finalizer marks the end of a
// collection. It holds a pointer so that it is not a tiny allocation,
// which may share its block with other objects and never be finalized.
type sentinel struct{ _ *int }

func (p *Pacer) arm() {
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) {
		if p.stopped.Load() {
			return
		}
		p.adjust()
		p.arm()
	})
}

// adjust sets the percentage that lets the heap grow by the larger of
// Percent and Headroom over the live heap of the last collection.
func (p *Pacer) adjust() {
	p.mu.Lock()
	metrics.Read(p.sample)
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	p.mu.Unlock()
	pct := Percent(p.opts, live)
	if int64(pct) != p.percent.Swap(int64(pct)) {
		debug.SetGCPercent(pct)
	}
}

// Percent returns the GC percentage that lets a heap of live bytes grow by
// the larger of opts.Percent and opts.Headroom before the next collection.
// The runtime's least goal, heapMinimum·percent/100, must not exceed
// live+Headroom: that bounds the percentage while the live heap is tiny.
func Percent(opts Options, live uint64) int {
	pct := opts.Percent
	if opts.Headroom <= 0 {
		return pct
	}
	h := float64(opts.Headroom)
	need := math.Floor((float64(live) + h) / heapMinimum * 100)
	if live > 0 {
		need = min(need, math.Ceil(h/float64(live)*100))
	}
	return max(pct, int(need))
}
