package engine

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// registry admits the models, versions, features and embeddings the engine
// tracks, shared by every partition, so that limits hold for the process
// whatever names the events carry. Admission happens once per name and
// partition (partitions cache what was admitted); a name over a limit is
// looked up again each time it comes, at the cost of a lock, and never
// stored.
type registry struct {
	lim Limits
	m   *metrics

	mu     sync.Mutex
	models map[string]map[string]*series // model -> version -> series
	nextID uint64
	counts [4]int // tracked series by kind index (model, version, feature, embedding)
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

	events  prometheus.Counter
	retired atomic.Bool
	faults  faults
}

func newRegistry(lim Limits, m *metrics) *registry {
	return &registry{lim: lim, m: m, models: map[string]map[string]*series{}}
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

// version returns the series of model/version, admitting it if the limits
// allow, or nil after counting the drop.
func (r *registry) version(model, version string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs, ok := r.models[model]
	if !ok {
		if len(r.models) >= r.lim.MaxModels {
			r.m.droppedByKind[KindModel].Inc()
			return nil
		}
		vs = map[string]*series{}
		r.models[model] = vs
		r.setTracked(kModel, 1)
	}
	if s, ok := vs[version]; ok {
		return s
	}
	if len(vs) >= r.lim.MaxVersionsPerModel {
		r.m.droppedByKind[KindVersion].Inc()
		if len(vs) == 0 {
			delete(r.models, model)
			r.setTracked(kModel, -1)
		}
		return nil
	}
	r.nextID++
	s := &series{
		model: model, version: version, id: r.nextID,
		feats: map[string]int32{}, embs: map[string]int32{},
		events: r.m.events.WithLabelValues(model, version),
	}
	r.m.windowClosed.WithLabelValues(model, version)
	vs[version] = s
	r.setTracked(kVersion, 1)
	return s
}

// lookup returns the series of model/version without admitting it.
func (r *registry) lookup(model, version string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.models[model][version]
}

// feature returns the index of a feature of s, admitting it if the limit
// allows, or -1 after counting the drop.
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
	if len(*names) >= limit || s.retired.Load() {
		r.m.droppedByKind[kinds[kind]].Inc()
		return -1
	}
	i := int32(len(*names))
	(*idx)[name] = i
	*names = append(*names, name)
	r.setTracked(kind, 1)
	return i
}

// names returns the feature and embedding names of s by index.
func (r *registry) names(s *series) (feats, embs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.featName, s.embName
}

// retire forgets model/version: its metric series are deleted and its
// names no longer count against the limits. It reports whether the version
// was tracked.
func (r *registry) retire(model, version string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs := r.models[model]
	s, ok := vs[version]
	if !ok {
		return nil
	}
	s.retired.Store(true)
	delete(vs, version)
	r.setTracked(kVersion, -1)
	r.setTracked(kFeature, -len(s.featName))
	r.setTracked(kEmbedding, -len(s.embName))
	if len(vs) == 0 {
		delete(r.models, model)
		r.setTracked(kModel, -1)
	}
	r.m.events.DeleteLabelValues(model, version)
	r.m.windowClosed.DeleteLabelValues(model, version)
	return s
}

// Series is one tracked model version and how many features and
// embeddings it tracks.
type Series struct {
	Model      string `json:"model"`
	Version    string `json:"model_version"`
	Features   int    `json:"features"`
	Embeddings int    `json:"embeddings"`
	// Faults are the internal errors caught on the version, if any: the
	// state that broke was reset and the version went on.
	Faults []Fault `json:"faults,omitempty"`
}

func (r *registry) list() []Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Series
	for _, vs := range r.models {
		for _, s := range vs {
			out = append(out, Series{Model: s.model, Version: s.version, Features: len(s.featName), Embeddings: len(s.embName), Faults: nilIfEmpty(s.faults.list())})
		}
	}
	slices.SortFunc(out, func(a, b Series) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return compareVersions(a.Version, b.Version)
	})
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
