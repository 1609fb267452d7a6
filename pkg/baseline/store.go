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

// snapshot is one immutable state of the store.
type snapshot struct {
	entries map[Key]Entry
	loaded  time.Time
}

// Store serves the baselines of a directory by model version. Lookups are
// safe from any goroutine: they read an immutable snapshot, which Reload
// replaces whole, so a reader sees the old state or the new one, never a
// mix. A reload that fails keeps the old state.
type Store struct {
	dir  string
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serializes reloads
}

// OpenStore loads the store in dir. A missing directory is an error: a
// daemon pointed at the wrong place must say so, not serve nothing.
func OpenStore(dir string) (*Store, error) {
	s := &Store{dir: dir}
	if err := s.Reload(); err != nil {
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

// Keys returns the model versions the store serves, sorted.
func (s *Store) Keys() []Key {
	return slices.SortedFunc(maps.Keys(s.snap.Load().entries), func(a, b Key) int {
		if a.Model != b.Model {
			if a.Model < b.Model {
				return -1
			}
			return 1
		}
		switch {
		case a.Version < b.Version:
			return -1
		case a.Version > b.Version:
			return 1
		}
		return 0
	})
}

// Reload reads the directory again and, if every baseline in it is valid,
// serves the new state. Otherwise it keeps serving the old one and returns
// every problem found, each naming its file. The daemon calls it on SIGHUP;
// Watch calls it on changes.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := scan(s.dir)
	if err != nil {
		return err
	}
	s.snap.Store(&snapshot{entries: entries, loaded: time.Now()})
	return nil
}

// scan loads every baseline under dir: dir/<model>/<version>/<file>.json,
// exactly one file per version directory.
func scan(dir string) (map[Key]Entry, error) {
	models, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("baseline store: %w", err)
	}
	entries := map[Key]Entry{}
	var errs []error
	for _, m := range models {
		if !m.IsDir() || m.Name()[0] == '.' {
			continue
		}
		mdir := filepath.Join(dir, m.Name())
		versions, err := os.ReadDir(mdir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range versions {
			if !v.IsDir() || v.Name()[0] == '.' {
				continue
			}
			vdir := filepath.Join(mdir, v.Name())
			files, err := baselineFiles(vdir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			switch len(files) {
			case 0:
				continue
			case 1:
			default:
				errs = append(errs, fmt.Errorf("%s: %d baseline files (%v): a version is served by exactly one; remove all but the one that should serve",
					vdir, len(files), files))
				continue
			}
			path := filepath.Join(vdir, files[0])
			b, err := Load(path)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if b.Model != m.Name() || b.ModelVersion != v.Name() {
				errs = append(errs, fmt.Errorf("%s: %w: the file is for %s %s but lies under %s/%s", path, ErrInvalid, b.Model, b.ModelVersion, m.Name(), v.Name()))
				continue
			}
			entries[Key{b.Model, b.ModelVersion}] = Entry{Path: path, Baseline: b}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("baseline store %s: %w", dir, errors.Join(errs...))
	}
	return entries, nil
}

// Watch reloads the store when files under its directory change, debounced
// (0 means DefaultDebounce), until ctx is done. report, if not nil, gets
// the result of each reload. It returns ctx's error, or an error if the
// directory cannot be watched.
func (s *Store) Watch(ctx context.Context, debounce time.Duration, report func(error)) error {
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
			if base := filepath.Base(ev.Name); base != "" && base[0] == '.' {
				continue // a write in progress
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watching baselines: watcher closed")
			}
			if report != nil {
				report(fmt.Errorf("watching baselines: %w", err))
			}
			timer.Reset(debounce)
		case <-timer.C:
			// New model or version directories need watches of their own.
			werr := watchTree(w, s.dir)
			err := s.Reload()
			if report != nil {
				report(errors.Join(err, werr))
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
		if !d.IsDir() || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Name()[0] == '.' {
			return filepath.SkipDir
		}
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
