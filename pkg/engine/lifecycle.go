package engine

import (
	"log/slog"
	"sync"
	"time"
)

// The lifecycle of a model version:
//
//	admitted (its first event) -> active -> stale (no events for
//	VersionStaleAfter: its alerts resolve, its drift figures leave /metrics)
//	-> active again with its next event, or -> retired (no events for
//	VersionIdleTimeout: its metric series, evaluations, partial sketches
//	and checkpointed state go). At a cap, the least recently active version
//	(or model) is evicted for a new one. An event of a version that left
//	admits it anew.
//
// Idle time is the larger of two clocks: the wall time since the engine
// last saw the version's events, and, while none arrive, how far the
// newest event time of all versions has moved past the version's own (so a
// replay of last month retires the versions of its first week as it goes).

// Lifecycle is a change of a model version's state. LifecycleSinks receive
// them in order with the evaluations.
type Lifecycle struct {
	Model     string       `json:"model"`
	Version   string       `json:"model_version"`
	State     VersionState `json:"state"`
	Reason    string       `json:"reason"`
	LastEvent time.Time    `json:"last_event"`
	At        time.Time    `json:"at"`
	// Stage is the evaluation stage partition that judges the version,
	// if one does here: as Evaluation.Stage.
	Stage string `json:"-"`
}

// LifecycleSink is a Sink that also hears of lifecycle changes: a version
// gone stale, active again, retired or evicted. The alert engine resolves
// a version's alerts on all but the second.
type LifecycleSink interface {
	Sink
	Lifecycle(Lifecycle)
}

// Defaults of the lifecycle options.
const (
	// DefaultStaleWindows: a version is stale after this many windows
	// without events, long enough for a quiet minute of a busy model,
	// short enough that nobody is paged for long on old evidence.
	DefaultStaleWindows = 3
	// DefaultVersionIdleTimeout is how long a version goes without events
	// before it retires. A deploy's previous version keeps a trickle of
	// traffic for minutes (draining connections, retries, cached routes);
	// an hour covers that with room, and takes the old version off the
	// dashboards the same hour. A version with traffic less often than
	// hourly (a nightly batch) comes back with its next event: its
	// baseline stays, only its cumulative view starts again. The caps do
	// not depend on it: a new version evicts the least recently active.
	DefaultVersionIdleTimeout = time.Hour
)

// retireSeries retires s for reason: registry, evaluator, sinks and the
// log hear of it. It is a no-op for a series already gone.
func (e *Engine) retireSeries(s *series, state VersionState, reason string, at time.Time) {
	if e.reg.retireSeries(s, state, reason, at) {
		e.afterRetire(s, state, reason, at)
	}
}

// afterRetire tells the evaluator and the sinks that s left, and logs it.
func (e *Engine) afterRetire(s *series, state VersionState, reason string, at time.Time) {
	if state == StateRetired {
		e.m.retirements[StateRetired].Inc()
		e.log.Info("model version retired", "model", s.model, "model_version", s.version,
			"reason", reason, "last_event", s.lastEventTime(), "events", s.applied.Load())
	}
	e.ev.retire(s, Lifecycle{Model: s.model, Version: s.version, State: state, Reason: reason, LastEvent: s.lastEventTime(), At: at.UTC()})
}

func (s *series) lastEventTime() time.Time {
	if le := s.lastEvent.Load(); le > 0 {
		return time.Unix(0, le).UTC()
	}
	return time.Time{}
}

// staleAfter and idleTimeout are the lifecycle's thresholds.
func (e *Engine) staleAfter() time.Duration {
	if e.opts.VersionStaleAfter > 0 {
		return e.opts.VersionStaleAfter
	}
	return DefaultStaleWindows * e.opts.WindowSize
}

// checkLifecycle moves versions between active, stale and retired as of
// now. The engine's Run calls it every LifecycleCheck.
func (e *Engine) checkLifecycle(now time.Time) {
	stale, idle := int64(e.staleAfter()), int64(e.opts.VersionIdleTimeout)
	nowNs := now.UnixNano()
	type change struct {
		s     *series
		state VersionState
		for_  time.Duration
	}
	var changes []change
	r := e.reg
	r.mu.Lock()
	all := r.allLocked()
	var newest int64
	for _, s := range all {
		newest = max(newest, s.lastEvent.Load())
	}
	for _, s := range all {
		if n := s.applied.Load(); n != s.seenApplied || s.lastSeen == 0 {
			s.seenApplied, s.lastSeen = n, nowNs
		}
		idleFor := nowNs - s.lastSeen
		if le := s.lastEvent.Load(); idleFor > 0 && le > 0 && newest > le {
			idleFor = max(idleFor, newest-le)
		}
		switch {
		case idle > 0 && idleFor >= idle:
			changes = append(changes, change{s, StateRetired, time.Duration(idleFor)})
		case idleFor >= stale && !s.stale.Load():
			changes = append(changes, change{s, StateStale, time.Duration(idleFor)})
		case idleFor < stale && s.stale.Load():
			changes = append(changes, change{s, StateActive, 0})
		}
	}
	r.mu.Unlock()
	for _, c := range changes {
		s := c.s
		switch c.state {
		case StateRetired:
			e.retireSeries(s, StateRetired, "no events for "+c.for_.Round(time.Second).String()+" (limits.version_idle_timeout "+e.opts.VersionIdleTimeout.String()+")", now)
		case StateStale:
			e.log.Info("model version stale: no events lately; its alerts resolve until events come again",
				"model", s.model, "model_version", s.version, "idle_for", c.for_.Round(time.Second), "last_event", s.lastEventTime())
			e.ev.setStale(s, true, Lifecycle{Model: s.model, Version: s.version, State: StateStale,
				Reason: "no events for " + c.for_.Round(time.Second).String(), LastEvent: s.lastEventTime(), At: now.UTC()})
		case StateActive:
			e.log.Info("model version active again", "model", s.model, "model_version", s.version)
			e.ev.setStale(s, false, Lifecycle{Model: s.model, Version: s.version, State: StateActive, LastEvent: s.lastEventTime(), At: now.UTC()})
		}
	}
	for _, s := range all {
		if le := s.lastEvent.Load(); le > 0 && !s.retired.Load() {
			s.lastEventGauge.Set(float64(le) / 1e9)
		}
	}
}

// rateLog logs WARN lines about names at most burst per minute, then one
// line saying how many it held back: hostile names must not flood the log.
type rateLog struct {
	log   *slog.Logger
	clock func() time.Time

	mu      sync.Mutex
	start   time.Time
	n, held int
}

const rateLogBurst = 10

func (l *rateLog) warn(msg string, args ...any) {
	l.mu.Lock()
	now := l.clock()
	if now.Sub(l.start) >= time.Minute {
		if l.held > 0 {
			l.log.Warn("more warnings about refused or evicted names were held back; see normwatch_refused_events_total and normwatch_version_retirements_total", "held_back", l.held)
		}
		l.start, l.n, l.held = now, 0, 0
	}
	l.n++
	if l.n > rateLogBurst {
		l.held++
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.log.Warn(msg, args...)
}
