package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// sinkQueue feeds one sink from its own goroutine through a bounded queue,
// so a slow sink delays only itself. When the queue is full the oldest
// evaluation is dropped and counted, since the newest one supersedes it;
// lifecycle notices are never dropped (there are at most a few per
// version), so a retired version's alerts always resolve.
type sinkQueue struct {
	sink    Sink
	life    LifecycleSink // sink, if it hears lifecycle notices
	size    int
	dropped prometheus.Counter

	mu     sync.Mutex
	cond   *sync.Cond
	items  []sinkItem
	evals  int // evaluations in items
	closed bool
}

type sinkItem struct {
	eval *Evaluation
	life *Lifecycle
	call func(StateSink) // a StateSink's, in order with its evaluations
}

// StateSink is a NamedSink whose state follows the evaluations of each
// model version: the alert lifecycle's hysteresis (pending and firing
// alerts, consecutive breaching and clean evaluations). In cluster mode the
// evaluation stage checkpoints it with the partials partition that judges
// the version, and restores it wherever the partition moves, so the
// lifecycle goes on there where it stopped. The engine calls the methods on
// the sink's own goroutine, in order with Publish and Lifecycle: an export
// is the state after exactly the evaluations published before it.
type StateSink interface {
	NamedSink
	// ExportState returns the state of model/version.
	ExportState(model, version string) ([]byte, error)
	// RestoreState takes over a state ExportState returned, here or in
	// another process, in place of the sink's own for the version.
	RestoreState(model, version string, state []byte) error
	// ReleaseState drops the state of model/version without telling
	// anyone: its evaluation moved to another process, which restored it.
	ReleaseState(model, version string)
	// TakeHeld returns the notices kept back for the evaluations and
	// lifecycle changes of stage (Evaluation.Stage) so far, and forgets
	// them.
	TakeHeld(stage string) Held
}

// Held are the notices (alert changes) a StateSink kept back for one
// evaluation stage partition, taken with the partition's checkpoint: sent
// once the checkpoint is saved and the partition is still this process's
// in the group's current generation, discarded when it is not (a newer
// owner restored it and judges its windows again), kept for the next
// checkpoint when that cannot be told yet.
type Held interface {
	Deliver()
	Discard()
	Keep()
	Len() int
}

func newSinkQueue(s Sink, name string, size int, m *metrics) *sinkQueue {
	q := &sinkQueue{sink: s, size: size, dropped: m.sinkDropped.WithLabelValues(name)}
	q.life, _ = s.(LifecycleSink)
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *sinkQueue) publish(e Evaluation) { q.push(sinkItem{eval: &e}) }

func (q *sinkQueue) lifecycle(l Lifecycle) {
	if q.life != nil {
		q.push(sinkItem{life: &l})
	}
}

// callState queues f for the sink, if it is a StateSink, and reports
// whether it was queued (not when the queue is closed).
func (q *sinkQueue) callState(f func(StateSink)) bool {
	if _, ok := q.sink.(StateSink); !ok {
		return false
	}
	return q.push(sinkItem{call: f})
}

func (q *sinkQueue) push(it sinkItem) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if it.eval != nil {
		if q.evals >= q.size {
			for i, x := range q.items {
				if x.eval != nil {
					q.items = append(q.items[:i], q.items[i+1:]...)
					q.evals--
					q.dropped.Inc()
					break
				}
			}
		}
		q.evals++
	}
	q.items = append(q.items, it)
	q.cond.Signal()
	return true
}

func (q *sinkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// run delivers items in order until the queue is closed and drained.
func (q *sinkQueue) run() {
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		if it.eval != nil {
			q.evals--
		}
		q.mu.Unlock()
		switch {
		case it.eval != nil:
			q.sink.Publish(*it.eval)
		case it.call != nil:
			it.call(q.sink.(StateSink))
		default:
			q.life.Lifecycle(*it.life)
		}
	}
}
