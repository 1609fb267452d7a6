package engine

import (
	"cmp"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Components of internal_errors_total: where in the engine an internal
// error (a bug of ours, never bad input) was caught.
const (
	ComponentApply      = "apply"        // applying one event; the message is dead-lettered
	ComponentClose      = "window_close" // closing windows, folding the cumulative view
	ComponentEvaluate   = "evaluate"     // merging a horizon and comparing it with its reference
	ComponentCheckpoint = "checkpoint"   // encoding a partition's state
	ComponentRestore    = "restore"      // decoding a checkpoint's sketches
)

// Components lists every component, for series created up front.
func Components() []string {
	return []string{ComponentApply, ComponentClose, ComponentEvaluate, ComponentCheckpoint, ComponentRestore}
}

// Fault is an internal error caught on one series: what broke, where, how
// often, and when last. The series' state that broke was reset; the rest
// went on.
type Fault struct {
	Component string    `json:"component"`
	Subject   string    `json:"subject,omitempty"` // feature or embedding name; "" for the whole version
	Error     string    `json:"error"`
	Count     uint64    `json:"count"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// faults are a series' faults by component and subject.
type faults struct {
	mu sync.Mutex
	m  map[[2]string]*Fault
}

// maxFaultsPerSeries bounds what one series remembers: subjects come from
// event payloads.
const maxFaultsPerSeries = 32

// record counts a fault and reports whether it is the first of its kind,
// which alone is logged.
func (f *faults) record(component, subject, msg string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{component, subject}
	if ft, ok := f.m[k]; ok {
		ft.Count++
		ft.Last, ft.Error = now, msg
		return false
	}
	if f.m == nil {
		f.m = map[[2]string]*Fault{}
	}
	if len(f.m) >= maxFaultsPerSeries {
		k = [2]string{component, "(other)"}
		if ft, ok := f.m[k]; ok {
			ft.Count++
			ft.Last, ft.Error = now, msg
			return false
		}
	}
	f.m[k] = &Fault{Component: component, Subject: k[1], Error: msg, Count: 1, First: now, Last: now}
	return true
}

func (f *faults) list() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fault, 0, len(f.m))
	for _, ft := range f.m {
		out = append(out, *ft)
	}
	slices.SortFunc(out, func(a, b Fault) int {
		if c := cmp.Compare(a.Component, b.Component); c != 0 {
			return c
		}
		return cmp.Compare(a.Subject, b.Subject)
	})
	return out
}

// internalError counts an internal error of component on s (nil when no
// series is known) about subject, and logs it at ERROR the first time for
// that series, component and subject. stack, if not nil, is logged with it.
func (e *Engine) internalError(component string, s *series, subject string, err error, stack []byte) {
	e.m.internalErrors.WithLabelValues(component).Inc()
	first := true
	if s != nil {
		first = s.faults.record(component, subject, err.Error(), e.opts.Clock())
	} else {
		first = e.unattributed.record(component, subject, err.Error(), e.opts.Clock())
	}
	if !first {
		return
	}
	attrs := []any{"component", component, "err", err}
	if s != nil {
		attrs = append(attrs, "model", s.model, "model_version", s.version)
	}
	if subject != "" {
		attrs = append(attrs, "series", subject)
	}
	if stack != nil {
		attrs = append(attrs, "stack", string(stack))
	}
	e.log.Error("internal error: the broken state was reset and the rest goes on; please report it", attrs...)
}

// recovered turns a recovered panic value into an error, with its stack.
func recovered(r any) (error, []byte) {
	return fmt.Errorf("panic: %v", r), debug.Stack()
}

// discardLogger is the logger of an engine given none.
var discardLogger = slog.New(slog.DiscardHandler)
