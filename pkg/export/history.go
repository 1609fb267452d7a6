package export

import (
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
)

// DefaultHistoryWindows is how many evaluations per version a History
// keeps by default: an hour of one-minute windows.
const DefaultHistoryWindows = 60

// History keeps the last evaluations' diagnoses of every feature and
// embedding of each model version, for the status page's history strips
// and its unit-norm charts: the engine keeps only the latest evaluation.
//
// It is an engine.LifecycleSink, fed every evaluation from the engine's
// sink queue, so it sees each window whether or not anyone looks at the
// page. It is bounded: Size evaluations per version (a ring), the series
// of those evaluations, and the versions the engine tracks (a retired or
// evicted version's history goes with it). A stored evaluation costs 12
// bytes per series: 60 windows of 2000 series are about 1.4 MB. It is
// safe for concurrent use.
type History struct {
	size int

	mu    sync.Mutex
	vers  map[versionKey]*versionHistory
	diags []drift.Diagnosis // interned diagnoses; a cell holds an index
	index map[drift.Diagnosis]uint8
}

type versionKey struct{ model, version string }

// versionHistory is one version's ring of evaluations: slot i of ends,
// evaluated and of every series' cells belong to one evaluation.
type versionHistory struct {
	ends, evaluated []time.Time
	next            int    // the slot the next evaluation takes
	seq             uint64 // evaluations recorded
	series          map[seriesKey]*seriesHistory
}

type seriesKey struct {
	name      string
	embedding bool
}

type seriesHistory struct {
	cells []cell
	last  uint64 // seq of the last evaluation that had the series
}

// cell is one series in one evaluation. present is false when the
// evaluation did not have the series (the slot of an older one, or a
// series that came later).
type cell struct {
	present bool
	sev     int8
	diag    uint8
	// unit and refUnit are an embedding's unit-norm shares, current and
	// baseline.
	unit, refUnit float32
}

// NewHistory returns a History of size evaluations per version
// (DefaultHistoryWindows when size < 1).
func NewHistory(size int) *History {
	if size < 1 {
		size = DefaultHistoryWindows
	}
	return &History{size: size, vers: map[versionKey]*versionHistory{}, index: map[drift.Diagnosis]uint8{}}
}

// Size returns how many evaluations per version h keeps.
func (h *History) Size() int { return h.size }

// Name names h for the engine's sink_dropped_total.
func (h *History) Name() string { return "status_history" }

// Publish records an evaluation. One of the same window as the last
// replaces it (a re-evaluation); one older than the last is ignored, as
// the strips run forward in time.
func (h *History) Publish(e engine.Evaluation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := versionKey{e.Model, e.Version}
	v := h.vers[k]
	if v == nil {
		v = &versionHistory{ends: make([]time.Time, h.size), evaluated: make([]time.Time, h.size), series: map[seriesKey]*seriesHistory{}}
		h.vers[k] = v
	}
	slot := v.next
	if v.seq > 0 {
		lastSlot := (v.next + h.size - 1) % h.size
		switch last := v.ends[lastSlot]; {
		case e.WindowEnd.Before(last):
			return
		case e.WindowEnd.Equal(last):
			slot = lastSlot
		}
	}
	if slot == v.next {
		v.next = (v.next + 1) % h.size
		v.seq++
	}
	v.ends[slot], v.evaluated[slot] = e.WindowEnd, e.EvaluatedAt
	for _, s := range v.series {
		s.cells[slot] = cell{}
	}
	put := func(key seriesKey, c cell) {
		s := v.series[key]
		if s == nil {
			s = &seriesHistory{cells: make([]cell, h.size)}
			v.series[key] = s
		}
		s.cells[slot] = c
		s.last = v.seq
	}
	for _, f := range e.Report.Features {
		put(seriesKey{f.Name, false}, cell{present: true, sev: int8(f.Severity), diag: h.intern(f.Diagnosis)})
	}
	for _, em := range e.Report.Embeddings {
		put(seriesKey{em.Name, true}, cell{present: true, sev: int8(em.Severity), diag: h.intern(em.Diagnosis),
			unit: float32(em.UnitNormRatio), refUnit: float32(em.RefUnitNormRatio)})
	}
	// A series absent from every evaluation the ring holds is forgotten.
	for key, s := range v.series {
		if v.seq-s.last >= uint64(h.size) {
			delete(v.series, key)
		}
	}
}

// intern returns the index of d; past 255 distinct diagnoses (the drift
// package has fewer than 20) the last index stands for the rest.
func (h *History) intern(d drift.Diagnosis) uint8 {
	if i, ok := h.index[d]; ok {
		return i
	}
	if len(h.diags) == 255 {
		return 254
	}
	h.diags = append(h.diags, d)
	i := uint8(len(h.diags) - 1)
	h.index[d] = i
	return i
}

// Lifecycle forgets a version that retired or was evicted; a stale one
// keeps its history, shown with its last figures.
func (h *History) Lifecycle(l engine.Lifecycle) {
	if l.State != engine.StateRetired && l.State != engine.StateEvicted {
		return
	}
	h.mu.Lock()
	delete(h.vers, versionKey{l.Model, l.Version})
	h.mu.Unlock()
}

// HistoryPoint is one evaluation of one feature or embedding.
type HistoryPoint struct {
	WindowEnd   time.Time
	EvaluatedAt time.Time
	// Present is false when the evaluation did not have the series.
	Present   bool
	Diagnosis drift.Diagnosis
	Severity  drift.Severity
	// UnitNormRatio and RefUnitNormRatio are an embedding's shares of
	// unit-norm vectors in the horizon and in the baseline.
	UnitNormRatio, RefUnitNormRatio float64
}

// Points returns the history of one feature (embedding false) or
// embedding of a version, oldest first; nil when there is none.
func (h *History) Points(model, version, name string, embedding bool) []HistoryPoint {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.vers[versionKey{model, version}]
	if v == nil {
		return nil
	}
	s := v.series[seriesKey{name, embedding}]
	if s == nil {
		return nil
	}
	n := min(v.seq, uint64(h.size))
	out := make([]HistoryPoint, 0, n)
	for i := range int(n) {
		slot := (v.next - int(n) + i + h.size) % h.size
		c := s.cells[slot]
		p := HistoryPoint{WindowEnd: v.ends[slot], EvaluatedAt: v.evaluated[slot], Present: c.present}
		if c.present {
			p.Diagnosis, p.Severity = h.diags[c.diag], drift.Severity(c.sev)
			p.UnitNormRatio, p.RefUnitNormRatio = float64(c.unit), float64(c.refUnit)
		}
		out = append(out, p)
	}
	return out
}
