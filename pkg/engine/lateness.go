package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// LateWatchIntervals is how many intervals in a row of only late events
// make a LateWatch warn: one could be a lagging partition catching up.
const LateWatchIntervals = 2

// LateWatch tells when every event of a while was late. A late event counts
// in the cumulative view only: a stream whose events are all late (times
// read in the wrong unit, a time path pointing at another field, a
// producer's clock hours behind) is never evaluated and can never alert.
// That must not be silence: LateWatch logs a WARN once, and Problem says
// why, until events are on time again.
type LateWatch struct {
	e        *Engine
	interval time.Duration
	log      *slog.Logger

	mu          sync.Mutex
	problem     error
	streak      int
	prevEvents  float64
	prevLate    float64
	initialized bool

	stopOnce sync.Once
	stop     chan struct{}
}

// NewLateWatch returns a LateWatch of e that looks every interval (at
// least a second).
func NewLateWatch(e *Engine, interval time.Duration, logger *slog.Logger) *LateWatch {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LateWatch{e: e, interval: max(interval, time.Second), log: logger.With("component", "engine"), stop: make(chan struct{})}
}

// Run looks until ctx ends or Stop.
func (w *LateWatch) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.stop:
			return nil
		case <-t.C:
			w.Check()
		}
	}
}

// Stop ends Run. It is safe to call twice.
func (w *LateWatch) Stop() { w.stopOnce.Do(func() { close(w.stop) }) }

// Problem returns why no event has been evaluated of late, or nil.
func (w *LateWatch) Problem() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.problem
}

// Check compares the events and late events since the last check: Run
// calls it every interval.
func (w *LateWatch) Check() {
	events, late := w.e.eventCounts()
	w.mu.Lock()
	defer w.mu.Unlock()
	de, dl := events-w.prevEvents, late-w.prevLate
	first := !w.initialized
	w.prevEvents, w.prevLate, w.initialized = events, late, true
	switch {
	case first, de < 0:
		// The first look, or series retired: nothing to compare.
		return
	case de == 0:
		return // no events: nothing to say about their times
	case dl >= de:
		w.streak++
	default:
		w.streak = 0
		if w.problem != nil {
			w.log.Info("events are in their windows again: they are evaluated", "late", dl, "events", de)
			w.problem = nil
		}
		return
	}
	if w.streak == LateWatchIntervals && w.problem == nil {
		span := time.Duration(LateWatchIntervals) * w.interval
		w.problem = fmt.Errorf("every event of the last %v (%.0f) was late, so none is evaluated: event times are behind "+
			"what the partitions have seen (check decode.time_path and decode.time_unit, or the producers' clocks)", span, de)
		w.log.Warn("every event for a while was late: none is evaluated, no alert can fire",
			"span", span, "events", de, "hint", "check decode.time_path and decode.time_unit, or the producers' clocks")
	}
}

// eventCounts sums the engine's events_total and late_events_total.
func (e *Engine) eventCounts() (events, late float64) {
	return sumCounter(e.m.events), sumCounter(e.m.late)
}

// sumCounter adds the values of every counter c collects.
func sumCounter(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err == nil && d.Counter != nil {
			sum += d.Counter.GetValue()
		}
	}
	return sum
}
