package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// errUncleanShutdown is runWithSignals's answer when the daemon stopped as
// asked but its parts left work undone within shutdown_timeout (dead
// letters, checkpoints, offset commits or alerts not written, each logged
// with its count): the exit code is exitUncleanShutdown. Nothing is lost
// for the counts: what was not checkpointed is re-read at the next start.
var errUncleanShutdown = errors.New("shutdown not clean")

// stopClock is the daemon's shutdown: when it began, what started it, the
// deadline its parts work to, and what they reported.
type stopClock struct {
	timeout time.Duration

	once  sync.Once
	begun chan struct{}
	at    time.Time // when begun closed
	cause error     // the error that began it

	mu      sync.Mutex
	running map[string]int
	undone  []error // errors parts returned after the shutdown began
}

func newStopClock(timeout time.Duration) *stopClock {
	return &stopClock{timeout: timeout, begun: make(chan struct{}), running: map[string]int{}}
}

// work is the part of shutdown_timeout the parts may spend on their
// drains and flushes; the rest is for reporting and exiting.
func (s *stopClock) work() time.Duration {
	return s.timeout - min(s.timeout/10, time.Second)
}

// engineWait is how long the alert sinks wait for the engine's last
// evaluations before they flush.
func (s *stopClock) engineWait() time.Duration {
	return min(s.work()/10, time.Second)
}

// flushTimeout is the alert sinks' share: from their stop, after at most
// engineWait, to the parts' deadline.
func (s *stopClock) flushTimeout() time.Duration {
	return s.work() - s.engineWait()
}

// begin starts the shutdown, once; cause is what the run.Group interrupts
// its actors with.
func (s *stopClock) begin(cause error) {
	s.once.Do(func() {
		s.at, s.cause = time.Now(), cause
		close(s.begun)
	})
}

// deadline is when the parts' work must be done; only after begun.
func (s *stopClock) deadline() time.Time { return s.at.Add(s.work()) }

// track wraps a part's execute: the clock knows it runs, and keeps the
// error it returns once the shutdown has begun (an error before is what
// began it, the run.Group's to report).
func (s *stopClock) track(name string, execute func() error) func() error {
	return func() error {
		s.mu.Lock()
		s.running[name]++
		s.mu.Unlock()
		err := execute()
		s.mu.Lock()
		if s.running[name]--; s.running[name] == 0 {
			delete(s.running, name)
		}
		select {
		case <-s.begun:
			if err != nil {
				s.undone = append(s.undone, fmt.Errorf("%s: %w", name, err))
			}
		default:
		}
		s.mu.Unlock()
		return err
	}
}

// stillRunning names the parts that have not returned.
func (s *stopClock) stillRunning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.running))
	for n := range s.running {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// timedOut records that shutdown_timeout passed with parts still running.
func (s *stopClock) timedOut() {
	running := s.stillRunning()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undone = append(s.undone, fmt.Errorf("shutdown_timeout %v passed with %s still stopping", s.timeout, running))
}

// left is what the parts left undone.
func (s *stopClock) left() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.undone)
}

// within runs f and waits for it until the deadline t (at least a moment
// if t has passed), reporting whether it returned.
func within(t time.Time, f func()) bool {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	timer := time.NewTimer(max(time.Until(t), 10*time.Millisecond))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
