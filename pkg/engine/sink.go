package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// sinkQueue feeds one sink from its own goroutine through a bounded queue,
// so a slow sink delays only itself: when the queue is full the oldest
// evaluation is dropped and counted, since the newest one supersedes it.
type sinkQueue struct {
	sink    Sink
	ch      chan Evaluation
	dropped prometheus.Counter

	mu     sync.Mutex // serializes publish and close
	closed bool
}

func newSinkQueue(s Sink, name string, size int, m *metrics) *sinkQueue {
	return &sinkQueue{sink: s, ch: make(chan Evaluation, size), dropped: m.sinkDropped.WithLabelValues(name)}
}

func (q *sinkQueue) publish(e Evaluation) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	for {
		select {
		case q.ch <- e:
			return
		default:
		}
		select {
		case <-q.ch:
			q.dropped.Inc()
		default:
		}
	}
}

func (q *sinkQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}

func (q *sinkQueue) run() {
	for e := range q.ch {
		q.sink.Publish(e)
	}
}
