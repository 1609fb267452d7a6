package alert

import (
	"context"
	"sync"
	"time"
)

// queue is a bounded FIFO that drops the oldest item when full, so a peer
// that is down for long costs memory up to the bound and no more, and what
// it gets on return is the newest state. It wakes its one consumer.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	cap   int
	m     *sinkMetrics
	wake  chan struct{}
}

func newQueue[T any](capacity int, m *sinkMetrics) *queue[T] {
	return &queue[T]{cap: capacity, m: m, wake: make(chan struct{}, 1)}
}

// push appends items, dropping the oldest beyond the bound, counted.
func (q *queue[T]) push(items ...T) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, items...)
	q.trim()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// requeue puts back at the front items taken by pop that could not be sent,
// still within the bound: if newer items filled the queue meanwhile, the
// oldest (the requeued ones first) are dropped, counted.
func (q *queue[T]) requeue(items []T) {
	q.mu.Lock()
	q.items = append(append(make([]T, 0, len(items)+len(q.items)), items...), q.items...)
	q.trim()
	q.mu.Unlock()
}

func (q *queue[T]) trim() {
	if over := len(q.items) - q.cap; over > 0 {
		clear(q.items[:over])
		q.items = q.items[over:]
		q.m.drop(over)
	}
	q.m.queue.Set(float64(len(q.items)))
}

// pop removes and returns up to n items from the front.
func (q *queue[T]) pop(n int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items))
	out := append([]T(nil), q.items[:n]...)
	clear(q.items[:n])
	q.items = q.items[n:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	q.m.queue.Set(float64(len(q.items)))
	return out
}

func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// deliver is a sink's send loop: it drains the queue whenever the queue
// wakes it, and while drain fails it retries with a backoff doubling from
// minBackoff up to maxBackoff, before anything newer. When ctx ends it calls
// flush, the last attempts, and returns what flush returns.
func deliver(ctx context.Context, wake <-chan struct{}, drain func(context.Context) bool, flush func() error, minBackoff, maxBackoff time.Duration) error {
	backoff := time.Duration(0)
	retry := time.NewTimer(0)
	<-retry.C
	for {
		select {
		case <-ctx.Done():
			return flush()
		case <-wake:
			if backoff > 0 {
				continue // the retry timer is armed
			}
		case <-retry.C:
		}
		if drain(ctx) {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		retry.Reset(backoff)
	}
}

// lastDrain is a sink's flush at shutdown: it drains until the queue is
// empty or ctx ends, retrying a failure after backoff, and returns how
// many items are left unsent.
func lastDrain(ctx context.Context, drain func(context.Context) bool, left func() int, backoff time.Duration) int {
	for !drain(ctx) {
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return left()
		case <-t.C:
		}
	}
	return left()
}
