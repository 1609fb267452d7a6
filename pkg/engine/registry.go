package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/normwatch/normwatch/pkg/drift"
)

// registry admits the models, versions, features and embeddings the engine
// tracks, shared by every partition, so that limits hold for the process
// whatever names the events carry. Admission happens once per name and
// partition (partitions cache what was admitted); a name over a limit is
// looked up again each time it comes, at the cost of a lock, and never
// stored.
//
// At the model and version caps the newest wins: a new version evicts the
// least recently active version of its model (a new model the least
// recently active model), so a deploy is never the one left unmonitored.
// Features and embeddings over their caps, or over the global series
// budget, are refused: their values are counted, their names remembered
// (up to refusedNames per version) and the first logged.
type registry struct {
	lim Limits
	m   *metrics
	log *rateLog

	mu      sync.Mutex
	models  map[string]map[string]*series // model -> version -> series
	nextID  uint64
	counts  [4]int   // tracked series by kind index (model, version, feature, embedding)
	history []Series // versions that left, newest last, at most historySize
}

// series is one tracked model version: its feature and embedding names,
// each given a dense index at admission. The index spaces are the
// process's; checkpoints store names, not indexes.
type series struct {
	model, version string
	id             uint64 // admission order, for deterministic iteration

	// Guarded by registry.mu; the names slices are append-only, so a
	// header read under the lock stays valid after it.
	feats    map[string]int32
	featName []string
	embs     map[string]int32
	embName  []string
	refused  [2]map[string]bool // feature, embedding names refused
	admitted time.Time

	// Activity. lastEvent and applied move with every event; lastSeen and
	// seenApplied are the lifecycle check's (under registry.mu): the wall
	// time it last saw applied move.
	lastEvent   atomic.Int64 // largest event time applied, unix ns; 0 for none
	firstEvent  atomic.Int64 // smallest, restored from checkpoints too: what orders versions for the outcomes' previous version
	applied     atomic.Uint64
	lastSeen    int64
	seenApplied uint64

	events         prometheus.Counter
	lastEventGauge prometheus.Gauge
	staleGauge     prometheus.Gauge
	stale          atomic.Bool // set and read under evaluator.mu where order matters
	retired        atomic.Bool
	candidate      atomic.Bool // marked by its events' route (gate.go)
	faults         faults
	cappedRef      atomic.Pointer[string] // the baseline last capped, logged once
}

// noteEvent records an event of time ts (unix ns, 0 when untimed).
func (s *series) noteEvent(ts int64) {
	s.applied.Add(1)
	s.noteTime(ts)
}

// noteTime raises lastEvent to ts.
func (s *series) noteTime(ts int64) {
	for {
		le := s.lastEvent.Load()
		if ts <= le || s.lastEvent.CompareAndSwap(le, ts) {
			return
		}
	}
}

// activity orders series by how recently they were active: by event time,
// then wall time, then admission.
type activity struct {
	event, wall int64
	id          uint64
}

func (a activity) before(b activity) bool {
	if a.event != b.event {
		return a.event < b.event
	}
	if a.wall != b.wall {
		return a.wall < b.wall
	}
	return a.id < b.id
}

func (s *series) activity() activity {
	return activity{s.lastEvent.Load(), s.lastSeen, s.id}
}

// refusedNames bounds the refused names a version remembers per kind.
const refusedNames = 1024

// historySize bounds the versions that left the registry kept for the API
// and the status page.
const historySize = 64

func newRegistry(lim Limits, m *metrics, log *rateLog) *registry {
	return &registry{lim: lim, m: m, log: log, models: map[string]map[string]*series{}}
}

const (
	kModel = iota
	kVersion
	kFeature
	kEmbedding
)

func (r *registry) setTracked(k, delta int) {
	r.counts[k] += delta
	r.m.trackedByKind[kinds[k]].Set(float64(r.counts[k]))
}

// admission is a request to track model/version: its activity (from an
// event, or from a checkpoint being restored) decides who goes at a cap.
type admission struct {
	model, version string
	lastEvent      int64 // unix ns, 0 for none
	lastSeen       int64 // wall unix ns
	// event is set when an event asks: lastSeen is its arrival, and the
	// lifecycle check must not take the event for a later one.
	event bool
}

// version returns the series of a.model/a.version, admitting it if needed.
// At a cap the least recently active of the tracked and the new one goes:
// evicted lists the versions that went (the caller retires them), and a
// nil series means the new one was the least recently active (a restored
// version older than the ones tracked), counted as refused.
func (r *registry) version(a admission) (s *series, evicted []*series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.models[a.model][a.version]; ok {
		r.touch(s, a)
		return s, nil
	}
	cand := activity{a.lastEvent, a.lastSeen, r.nextID + 1}
	vs, ok := r.models[a.model]
	if !ok && len(r.models) >= r.lim.MaxModels {
		victim, va := "", activity{}
		for m, mvs := range r.models {
			act := activity{id: math.MaxUint64}
			for _, x := range mvs { // a model is as recent as its most recent version
				if xa := x.activity(); act.id == math.MaxUint64 || act.before(xa) {
					act = xa
				}
			}
			if victim == "" || act.before(va) {
				victim, va = m, act
			}
		}
		if va.before(cand) {
			for _, x := range r.models[victim] {
				evicted = append(evicted, x)
			}
			slices.SortFunc(evicted, func(x, y *series) int { return cmp.Compare(x.id, y.id) })
			for _, x := range evicted {
				r.retireLocked(x, StateEvicted, fmt.Sprintf("model evicted at limits.max_models (%d) for model %q", r.lim.MaxModels, a.model), time.Unix(0, a.lastSeen))
				r.m.retirements[StateEvicted].Inc()
			}
			r.log.warn("model evicted at the cap to make room for a new one", "evicted_model", victim, "versions", len(evicted), "new_model", a.model, "limit", "limits.max_models", "max", r.lim.MaxModels)
		} else {
			r.m.refusedEvents[KindModel].Inc()
			r.log.warn("model refused at the cap: the tracked ones were active more recently", "model", a.model, "model_version", a.version, "limit", "limits.max_models", "max", r.lim.MaxModels)
			r.noteRefused(a, fmt.Sprintf("refused at limits.max_models (%d): the tracked models were active more recently", r.lim.MaxModels))
			return nil, nil
		}
	}
	if vs = r.models[a.model]; vs == nil {
		vs = map[string]*series{}
		r.models[a.model] = vs
		r.setTracked(kModel, 1)
	}
	if len(vs) >= r.lim.MaxVersionsPerModel {
		var victim *series
		for _, x := range vs {
			if victim == nil || x.activity().before(victim.activity()) {
				victim = x
			}
		}
		if !victim.activity().before(cand) {
			r.m.refusedEvents[KindVersion].Inc()
			r.log.warn("model version refused at the cap: the tracked ones were active more recently", "model", a.model, "model_version", a.version, "limit", "limits.max_versions_per_model", "max", r.lim.MaxVersionsPerModel)
			r.noteRefused(a, fmt.Sprintf("refused at limits.max_versions_per_model (%d): the tracked versions were active more recently", r.lim.MaxVersionsPerModel))
			return nil, nil
		}
		evicted = append(evicted, victim)
		r.retireLocked(victim, StateEvicted, fmt.Sprintf("evicted at limits.max_versions_per_model (%d) for version %q", r.lim.MaxVersionsPerModel, a.version), time.Unix(0, a.lastSeen))
		r.log.warn("model version evicted at the cap to make room for a new one", "model", a.model, "evicted_version", victim.version, "new_version", a.version, "limit", "limits.max_versions_per_model", "max", r.lim.MaxVersionsPerModel)
		r.m.retirements[StateEvicted].Inc()
		if vs = r.models[a.model]; vs == nil { // it was the model's only version
			vs = map[string]*series{}
			r.models[a.model] = vs
			r.setTracked(kModel, 1)
		}
	}
	r.nextID++
	s = &series{
		model: a.model, version: a.version, id: r.nextID,
		feats: map[string]int32{}, embs: map[string]int32{},
		admitted:       time.Unix(0, a.lastSeen).UTC(),
		events:         r.m.events.WithLabelValues(a.model, a.version),
		lastEventGauge: r.m.lastEvent.WithLabelValues(a.model, a.version),
		staleGauge:     r.m.stale.WithLabelValues(a.model, a.version),
	}
	r.touch(s, a)
	if a.event {
		s.seenApplied = 1
	}
	r.m.windowClosed.WithLabelValues(a.model, a.version)
	vs[a.version] = s
	r.setTracked(kVersion, 1)
	return s, evicted
}

// noteRefused lists a refused version in the history once (a version
// refused event after event would otherwise fill it). Called with r.mu held.
func (r *registry) noteRefused(a admission, reason string) {
	if i := slices.IndexFunc(r.history, func(h Series) bool {
		return h.Model == a.model && h.Version == a.version && h.State == StateRefused
	}); i >= 0 {
		return
	}
	h := Series{Model: a.model, Version: a.version, State: StateRefused, Reason: reason, Left: time.Unix(0, a.lastSeen).UTC()}
	if a.lastEvent > 0 {
		h.LastEvent = time.Unix(0, a.lastEvent).UTC()
	}
	r.remember(h)
}

// remember adds h to the history, in place of an older entry of the same
// version: one row per version that left, with its latest reason. Called
// with r.mu held.
func (r *registry) remember(h Series) {
	r.history = slices.DeleteFunc(r.history, func(x Series) bool { return x.Model == h.Model && x.Version == h.Version })
	r.history = append(r.history, h)
	if len(r.history) > historySize {
		r.history = slices.Delete(r.history, 0, len(r.history)-historySize)
	}
}

// touch folds an admission's activity into s. Called with r.mu held.
func (r *registry) touch(s *series, a admission) {
	s.noteTime(a.lastEvent)
	if a.lastSeen > s.lastSeen {
		s.lastSeen = a.lastSeen
	}
	if le := s.lastEvent.Load(); le > 0 {
		s.lastEventGauge.Set(float64(le) / 1e9)
	}
}

// lastSeen returns the wall time the lifecycle check last saw s's events
// (or its admission's), unix ns.
func (r *registry) lastSeen(s *series) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.lastSeen
}

// lookup returns the series of model/version without admitting it.
func (r *registry) lookup(model, version string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.models[model][version]
}

// feature returns the index of a feature of s, admitting it if the limits
// allow, or -1 after counting the refusal.
func (r *registry) feature(s *series, name string) int32 {
	return r.admit(s, name, &s.feats, &s.featName, r.lim.MaxFeatures, kFeature)
}

// embedding is feature for embeddings.
func (r *registry) embedding(s *series, name string) int32 {
	return r.admit(s, name, &s.embs, &s.embName, r.lim.MaxEmbeddings, kEmbedding)
}

func (r *registry) admit(s *series, name string, idx *map[string]int32, names *[]string, limit, kind int) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := (*idx)[name]; ok {
		return i
	}
	if s.retired.Load() {
		return -1
	}
	over := ""
	switch {
	case len(*names) >= limit:
		over = fmt.Sprintf("limits.max_%ss (%d)", kinds[kind], limit)
	case r.counts[kFeature]+r.counts[kEmbedding] >= r.lim.MaxSeries:
		over = fmt.Sprintf("limits.max_series (%d)", r.lim.MaxSeries)
	}
	if over != "" {
		r.refuse(s, name, kind, over)
		return -1
	}
	i := int32(len(*names))
	(*idx)[name] = i
	*names = append(*names, name)
	r.setTracked(kind, 1)
	return i
}

// refuse counts a refused value of name, and the name itself the first
// time; the first refused name of a version and kind is logged. Called
// with r.mu held.
func (r *registry) refuse(s *series, name string, kind int, over string) {
	r.m.refusedEvents[kinds[kind]].Inc()
	k := kind - kFeature
	if s.refused[k] == nil {
		s.refused[k] = map[string]bool{}
		r.log.warn("a "+kinds[kind]+" was refused: over "+over+"; its values are counted in normwatch_refused_events_total, its names in normwatch_refused_series_total",
			"model", s.model, "model_version", s.version, kinds[kind], name)
	}
	if len(s.refused[k]) < refusedNames && !s.refused[k][name] {
		s.refused[k][name] = true
		r.m.refusedSeries[kinds[kind]].Inc()
	}
}

// withoutRefused returns ref without the features and embeddings the
// limits refused for s: the names s remembers refusing, and, once it
// remembers refusedNames of a kind and cannot tell, every name of that
// kind it does not track. ref is returned as is when s refused none.
func (r *registry) withoutRefused(s *series, ref drift.Set) drift.Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.refused[0] == nil && s.refused[1] == nil {
		return ref
	}
	refused := func(k int, tracked map[string]int32, name string) bool {
		if s.refused[k] == nil {
			return false
		}
		if s.refused[k][name] {
			return true
		}
		_, ok := tracked[name]
		return !ok && len(s.refused[k]) >= refusedNames
	}
	out := ref
	out.Features = make(map[string]drift.FeatureSketch, len(ref.Features))
	for name, f := range ref.Features {
		if !refused(0, s.feats, name) {
			out.Features[name] = f
		}
	}
	out.Embeddings = make(map[string]drift.EmbeddingSketch, len(ref.Embeddings))
	for name, v := range ref.Embeddings {
		if !refused(1, s.embs, name) {
			out.Embeddings[name] = v
		}
	}
	return out
}

// names returns the feature and embedding names of s by index.
func (r *registry) names(s *series) (feats, embs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.featName, s.embName
}

// retire forgets model/version with the given state and reason. It
// returns the series, or nil if it was not tracked.
func (r *registry) retire(model, version string, state VersionState, reason string, at time.Time) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.models[model][version]
	if !ok {
		return nil
	}
	r.retireLocked(s, state, reason, at)
	return s
}

// retireSeries retires s if it is still tracked, and reports whether it
// was.
func (r *registry) retireSeries(s *series, state VersionState, reason string, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models[s.model][s.version] != s {
		return false
	}
	r.retireLocked(s, state, reason, at)
	return true
}

// retireLocked removes s: its metric series are deleted, its names no
// longer count against the limits, and it joins the history. Called with
// r.mu held.
func (r *registry) retireLocked(s *series, state VersionState, reason string, at time.Time) {
	if s.retired.Swap(true) {
		return
	}
	vs := r.models[s.model]
	delete(vs, s.version)
	r.setTracked(kVersion, -1)
	r.setTracked(kFeature, -len(s.featName))
	r.setTracked(kEmbedding, -len(s.embName))
	if len(vs) == 0 {
		delete(r.models, s.model)
		r.setTracked(kModel, -1)
	}
	r.m.events.DeleteLabelValues(s.model, s.version)
	r.m.windowClosed.DeleteLabelValues(s.model, s.version)
	r.m.lastEvent.DeleteLabelValues(s.model, s.version)
	r.m.stale.DeleteLabelValues(s.model, s.version)
	h := r.seriesView(s)
	h.State, h.Reason, h.Left = state, reason, at.UTC()
	r.remember(h)
}

// VersionState is where a model version is in its lifecycle (stable
// values: the API, the status page and the lifecycle notices carry them).
type VersionState string

// Version states.
const (
	StateActive  VersionState = "active"  // tracked, with recent events
	StateStale   VersionState = "stale"   // tracked, no events for limits.version_stale_after: its alerts resolve
	StateRetired VersionState = "retired" // gone after limits.version_idle_timeout without events
	StateEvicted VersionState = "evicted" // gone to make room for a newer version or model at a cap
	StateRefused VersionState = "refused" // never tracked: older than every tracked one at a cap (a restored checkpoint's)
)

// Series is one model version the engine tracks or tracked: its state,
// its activity, and how many features and embeddings it tracks and refused.
type Series struct {
	Model      string       `json:"model"`
	Version    string       `json:"model_version"`
	State      VersionState `json:"state"`
	Reason     string       `json:"reason,omitempty"` // why it left, or why it is stale
	Features   int          `json:"features"`
	Embeddings int          `json:"embeddings"`
	// RefusedFeatures and RefusedEmbeddings count the distinct names
	// refused over a limit (up to 1024 each).
	RefusedFeatures   int       `json:"refused_features,omitempty"`
	RefusedEmbeddings int       `json:"refused_embeddings,omitempty"`
	Events            uint64    `json:"events"`              // applied by this process since admission
	LastEvent         time.Time `json:"last_event,omitzero"` // event time of the newest event
	LastSeen          time.Time `json:"last_seen,omitzero"`  // wall time the newest events were seen
	Admitted          time.Time `json:"admitted,omitzero"`   // wall time of admission
	Left              time.Time `json:"left,omitzero"`       // wall time it retired or was evicted
	// Faults are the internal errors caught on the version, if any: the
	// state that broke was reset and the version went on.
	Faults []Fault `json:"faults,omitempty"`
}

func (r *registry) seriesView(s *series) Series {
	v := Series{
		Model: s.model, Version: s.version, State: StateActive,
		Features: len(s.featName), Embeddings: len(s.embName),
		RefusedFeatures: len(s.refused[0]), RefusedEmbeddings: len(s.refused[1]),
		Events: s.applied.Load(), Admitted: s.admitted, Faults: nilIfEmpty(s.faults.list()),
	}
	if le := s.lastEvent.Load(); le > 0 {
		v.LastEvent = time.Unix(0, le).UTC()
	}
	if s.lastSeen > 0 {
		v.LastSeen = time.Unix(0, s.lastSeen).UTC()
	}
	if s.stale.Load() {
		v.State = StateStale
	}
	return v
}

// list returns the tracked versions, sorted; with history, the versions
// that left too, after them, most recent first.
func (r *registry) list(history bool) []Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Series
	for _, vs := range r.models {
		for _, s := range vs {
			out = append(out, r.seriesView(s))
		}
	}
	slices.SortFunc(out, func(a, b Series) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return compareVersions(a.Version, b.Version)
	})
	if history {
		for i := len(r.history) - 1; i >= 0; i-- {
			out = append(out, r.history[i])
		}
	}
	return out
}

// all returns the tracked series. Called with r.mu held.
func (r *registry) allLocked() []*series {
	var out []*series
	for _, vs := range r.models {
		for _, s := range vs {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *series) int { return cmp.Compare(a.id, b.id) })
	return out
}

// versionsOf returns the tracked series of model.
func (r *registry) versionsOf(model string) []*series {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*series
	for _, s := range r.models[model] {
		out = append(out, s)
	}
	return out
}

// compareVersions orders version names naturally: runs of digits compare
// as numbers, so v9 < v10, and the rest bytewise.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				if len(ta) < len(tb) {
					return -1
				}
				return 1
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
