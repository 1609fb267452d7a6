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

func (q *sinkQueue) push(it sinkItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
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
		if it.eval != nil {
			q.sink.Publish(*it.eval)
		} else {
			q.life.Lifecycle(*it.life)
		}
	}
}
