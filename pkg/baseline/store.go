package baseline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDir is the store's directory unless configured.
const DefaultDir = "baselines"

// DefaultDebounce is how long Watch waits after the last change before it
// reloads: a copy of many files reloads once.
const DefaultDebounce = 500 * time.Millisecond

// Key names a model version.
type Key struct {
	Model, Version string
}

// Entry is a baseline served by the store with the file it came from.
type Entry struct {
	Path     string
	Baseline *Baseline
}

// Refusal is a baseline file the store does not serve, and why.
type Refusal struct {
	Path string
	// Key is the model version the file is for, when known (from its
	// place in the layout or its content).
	Key *Key
	Err error
}

// ReloadReport is what a reload changed: baselines loaded for a model version
// that had none, replaced by another file or id, removed with their file,
// kept because their file is refused now (it became bad, or a second file
// came beside it), and the files refused.
type ReloadReport struct {
	Loaded, Replaced, Removed, Kept []Entry
	Refused                         []Refusal
	// Cleared are the files refused before that are not now (fixed or
	// removed).
	Cleared []string
}

// Changed tells whether the reload changed what is served or refused.
func (r *ReloadReport) Changed() bool {
	return len(r.Loaded)+len(r.Replaced)+len(r.Removed)+len(r.Kept)+len(r.Refused)+len(r.Cleared) > 0
}

// snapshot is one immutable state of the store.
type snapshot struct {
	entries map[Key]Entry
	refused []Refusal
	loaded  time.Time
}

// Store serves the baselines of a directory by model version. Lookups are
// safe from any goroutine: they read an immutable snapshot, which Reload
// replaces whole, so a reader sees the old state or the new one, never a
// mix. A bad file is refused alone: the others load, and the version it
// would have replaced keeps its previous baseline.
//
// The layout is dir/<model>/<version>/<file>.json as Write makes it, with
// names escaped by PathName, and also dir/<file>.json, whose model version
// is its content's: the layout of a Kubernetes ConfigMap mounted as the
// directory. Symbolic links are followed (a ConfigMap's files are links);
// names starting with a dot are skipped. A model version is served by
// exactly one file.
type Store struct {
	dir  string
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serializes reloads
}

// OpenStore loads the store in dir. A missing or unreadable directory is
// an error: a daemon pointed at the wrong place must say so, not serve
// nothing. Bad files are not: they are refused alone (Refused).
func OpenStore(dir string) (*Store, error) {
	s := &Store{dir: dir}
	s.snap.Store(&snapshot{entries: map[Key]Entry{}})
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Lookup returns the baseline serving a model version. It is shared and
// must not be modified: take copies of its sketches with Baseline.Set.
func (s *Store) Lookup(model, version string) (*Baseline, bool) {
	e, ok := s.snap.Load().entries[Key{model, version}]
	return e.Baseline, ok
}

// Entry returns the baseline serving a model version with its path.
func (s *Store) Entry(model, version string) (Entry, bool) {
	e, ok := s.snap.Load().entries[Key{model, version}]
	return e, ok
}

// Refused returns the files the last reload refused.
func (s *Store) Refused() []Refusal {
	return slices.Clone(s.snap.Load().refused)
}

// Keys returns the model versions the store serves, sorted.
func (s *Store) Keys() []Key {
	return slices.SortedFunc(maps.Keys(s.snap.Load().entries), compareKeys)
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(a.Model, b.Model); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

// Reload reads the directory again and serves what it holds: every good
// file, and for a version whose file is refused now, its previous
// baseline. It returns what changed; an error only when the directory
// itself cannot be read, and then the old state stays whole. The daemon
// calls it on SIGHUP; Watch calls it on changes.
func (s *Store) Reload() (*ReloadReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found, refused, err := scan(s.dir)
	if err != nil {
		return nil, err
	}
	old := s.snap.Load()
	rep := &ReloadReport{Refused: refused}
	entries := make(map[Key]Entry, len(found))
	for k, e := range found {
		switch prev, ok := old.entries[k]; {
		case !ok:
			rep.Loaded = append(rep.Loaded, e)
		case prev.Path != e.Path || prev.Baseline.ID() != e.Baseline.ID():
			rep.Replaced = append(rep.Replaced, e)
		default:
			e = prev // unchanged: readers keep the same baseline
		}
		entries[k] = e
	}
	for k, prev := range old.entries {
		if _, ok := entries[k]; ok {
			continue
		}
		keep := false
		for _, r := range refused {
			if r.Path == prev.Path || (r.Key != nil && *r.Key == k) {
				keep = true
				break
			}
		}
		if keep {
			entries[k] = prev
			rep.Kept = append(rep.Kept, prev)
		} else {
			rep.Removed = append(rep.Removed, prev)
		}
	}
	for _, r := range old.refused {
		if !slices.ContainsFunc(refused, func(n Refusal) bool { return n.Path == r.Path }) {
			rep.Cleared = append(rep.Cleared, r.Path)
		}
	}
	for _, l := range []*[]Entry{&rep.Loaded, &rep.Replaced, &rep.Removed, &rep.Kept} {
		slices.SortFunc(*l, func(a, b Entry) int { return compareKeys(a.key(), b.key()) })
	}
	s.snap.Store(&snapshot{entries: entries, refused: refused, loaded: time.Now()})
	return rep, nil
}

func (e Entry) key() Key { return Key{e.Baseline.Model, e.Baseline.ModelVersion} }

// scan loads every baseline under dir. It fails only when dir cannot be
// read; each file that cannot be served is refused with its reason.
func scan(dir string) (map[Key]Entry, []Refusal, error) {
	top, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("baseline store: %w", err)
	}
	var refused []Refusal
	byKey := map[Key][]Entry{}
	refuse := func(path string, key *Key, err error) {
		refused = append(refused, Refusal{Path: path, Key: key, Err: err})
	}
	load := func(path string, want *Key) {
		b, err := Load(path)
		if err != nil {
			refuse(path, want, err)
			return
		}
		k := Key{b.Model, b.ModelVersion}
		if want != nil && k != *want {
			refuse(path, want, fmt.Errorf("%s: %w: the file is for %s %s but lies under %s/%s",
				path, ErrInvalid, b.Model, b.ModelVersion, PathName(want.Model), PathName(want.Version)))
			return
		}
		byKey[k] = append(byKey[k], Entry{Path: path, Baseline: b})
	}
	for _, m := range top {
		if m.Name()[0] == '.' {
			continue
		}
		mpath := filepath.Join(dir, m.Name())
		st, err := os.Stat(mpath) // follows a link
		if err != nil {
			refuse(mpath, nil, err)
			continue
		}
		if !st.IsDir() {
			if isBaselineName(m.Name()) && st.Mode().IsRegular() {
				load(mpath, nil)
			}
			continue
		}
		model, _ := unescapeName(m.Name())
		versions, err := os.ReadDir(mpath)
		if err != nil {
			refuse(mpath, nil, err)
			continue
		}
		for _, v := range versions {
			if v.Name()[0] == '.' {
				continue
			}
			vdir := filepath.Join(mpath, v.Name())
			if st, err := os.Stat(vdir); err != nil || !st.IsDir() {
				continue // not a version directory
			}
			var want *Key
			if version, ok := unescapeName(v.Name()); ok && model != "" {
				want = &Key{model, version}
			}
			files, err := baselineFiles(vdir)
			if err != nil {
				refuse(vdir, want, err)
				continue
			}
			for _, f := range files {
				load(filepath.Join(vdir, f), want)
			}
		}
	}
	found := map[Key]Entry{}
	for k, es := range byKey {
		if len(es) == 1 {
			found[k] = es[0]
			continue
		}
		paths := make([]string, len(es))
		for i, e := range es {
			paths[i] = e.Path
		}
		slices.Sort(paths)
		for _, p := range paths {
			refuse(p, &k, fmt.Errorf("%s %s has %d baseline files (%s): a version is served by exactly one; remove all but the one that should serve",
				k.Model, k.Version, len(paths), strings.Join(paths, ", ")))
		}
	}
	slices.SortFunc(refused, func(a, b Refusal) int { return strings.Compare(a.Path, b.Path) })
	return found, refused, nil
}

// Watch reloads the store when files under its directory change, debounced
// (0 means DefaultDebounce), until ctx is done. report, if not nil, gets
// the result of each reload: its report, or the error that kept the old
// state (a directory gone or unreadable, a failing watch). It returns
// ctx's error, or an error if the directory cannot be watched.
func (s *Store) Watch(ctx context.Context, debounce time.Duration, report func(*ReloadReport, error)) error {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching baselines: %w", err)
	}
	defer w.Close()
	if err := watchTree(w, s.dir); err != nil {
		return err
	}
	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watching baselines: watcher closed")
			}
			if strings.HasPrefix(filepath.Base(ev.Name), ".tmp-") {
				continue // a write in progress (Write's temporary file)
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watching baselines: watcher closed")
			}
			if report != nil {
				report(nil, fmt.Errorf("watching baselines: %w", err))
			}
			timer.Reset(debounce)
		case <-timer.C:
			// New model or version directories need watches of their own.
			werr := watchTree(w, s.dir)
			rep, err := s.Reload()
			if report != nil {
				report(rep, errors.Join(err, werr))
			}
		}
	}
}

// watchTree watches dir and the model and version directories under it.
func watchTree(w *fsnotify.Watcher, dir string) error {
	watched := map[string]bool{}
	for _, p := range w.WatchList() {
		watched[p] = true
	}
	add := func(p string) error {
		if watched[p] {
			return nil
		}
		if err := w.Add(p); err != nil {
			return fmt.Errorf("watching %s: %w", p, err)
		}
		return nil
	}
	if err := add(dir); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == dir {
			return nil
		}
		if d.Name()[0] == '.' {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			// A link to a directory is watched through it; WalkDir does
			// not enter it, so its version directories are added here.
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			if st, err := os.Stat(p); err != nil || !st.IsDir() {
				return nil
			}
			if err := add(p); err != nil {
				return err
			}
			if rel, _ := filepath.Rel(dir, p); countSep(rel) == 0 {
				vs, _ := os.ReadDir(p)
				for _, v := range vs {
					vp := filepath.Join(p, v.Name())
					if st, err := os.Stat(vp); err == nil && st.IsDir() && v.Name()[0] != '.' {
						if err := add(vp); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if countSep(rel) >= 2 { // deeper than <model>/<version>
			return filepath.SkipDir
		}
		return add(p)
	})
}

func countSep(rel string) int {
	n := 0
	for _, c := range rel {
		if c == filepath.Separator {
			n++
		}
	}
	return n
}
