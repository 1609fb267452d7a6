package baseline

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

// smallBaseline builds a baseline of n normal values with the given mean,
// without a file.
func smallBaseline(t testing.TB, model, version string, mean float64, seed uint64) *Baseline {
	r := rand.New(rand.NewPCG(seed, 1))
	n := sketch.NewNumeric()
	for range 2000 {
		n.Add(mean + r.NormFloat64())
	}
	n.Compact()
	return &Baseline{
		Model: model, ModelVersion: version, CreatedAt: testNow,
		Source:   Source{Kind: SourceFile, Path: "mem", Rows: 2000},
		Features: map[string]*Feature{"x": {Normalization: drift.Normalization{Kind: drift.ScalerNone}, Sketch: n}},
	}
}

func TestLoadHostile(t *testing.T) {
	dir := t.TempDir()
	path, err := Write(dir, smallBaseline(t, "ranker", "v4", 0, 1))
	require.NoError(t, err)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(good, &m))
		f(m)
		out, err := json.MarshalIndent(m, "", "  ")
		require.NoError(t, err)
		return out
	}
	feat := func(m map[string]any) map[string]any {
		return m["features"].(map[string]any)["x"].(map[string]any)
	}
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"reformatted keeps its id", edit(func(map[string]any) {}), ""},
		{"value edited by hand", []byte(strings.Replace(string(good), `"rows": 2000`, `"rows": 2001`, 1)), "id: "},
		{"mean edited", edit(func(m map[string]any) {
			feat(m)["sketch"].(map[string]any)["moments"].(map[string]any)["Mean"] = 5.0
		}), "does not match the content"},
		{"bad format tag", edit(func(m map[string]any) { m["format"] = "something/v1" }), `format: "something/v1": not a normwatch baseline`},
		{"future version", edit(func(m map[string]any) { m["format"] = "normwatch.baseline/v2" }), "a version this release cannot read"},
		{"no format", edit(func(m map[string]any) { delete(m, "format") }), "format: missing"},
		{"model name too long", edit(func(m map[string]any) { m["model"] = strings.Repeat("m", 257) }), "model: name longer than 256 bytes"},
		{"missing version", edit(func(m map[string]any) { delete(m, "model_version") }), "model_version: empty"},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`},
		{"bad normalization", edit(func(m map[string]any) {
			feat(m)["normalization"] = map[string]any{"kind": "zscore", "mean": 1, "std": 0}
		}), "features.x.normalization: "},
		{"corrupt sketch", edit(func(m map[string]any) {
			feat(m)["sketch"].(map[string]any)["moments"].(map[string]any)["N"] = -3
		}), "features.x.sketch: "},
		{"sketch missing", edit(func(m map[string]any) { delete(feat(m), "sketch") }), "features.x.sketch: "},
		{"wrong type", edit(func(m map[string]any) { m["source"].(map[string]any)["rows"] = "many" }), "source.rows: line "},
		{"overflowing number", []byte(strings.Replace(string(good), `"rows": 2000`, `"rows": 1e999`, 1)), "source.rows"},
		{"truncated", good[:len(good)/2], "truncated JSON"},
		{"syntax error with line", []byte(strings.Replace(string(good), `"model":`, `"model"`, 1)), "line 4, column"},
		{"empty", nil, "empty file"},
		{"no id", edit(func(m map[string]any) { delete(m, "id") }), "id: missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "b.json")
			require.NoError(t, os.WriteFile(p, c.data, 0o644))
			b, err := Load(p)
			if c.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, filepath.Base(path), b.ID()[:16]+".json")
				return
			}
			require.ErrorContains(t, err, c.wantErr)
			require.ErrorContains(t, err, p+": ", "the error names the file")
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestDiffExitCodes(t *testing.T) {
	th := drift.DefaultThresholds()
	a := smallBaseline(t, "ranker", "v3", 0, 1)
	b := smallBaseline(t, "ranker", "v4", 0, 2)
	rep, code := Diff(a, b, th)
	require.Equal(t, 0, code, "%+v", rep)

	// Training z-scored with a declared scaler; the other side raw.
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 3))
	var train, prod strings.Builder
	train.WriteString("income\n")
	prod.WriteString("income\n")
	for range 5000 {
		train.WriteString(fmtF((52100+18300*r.NormFloat64()-52100)/18300) + "\n")
		prod.WriteString(fmtF(52100+18300*r.NormFloat64()) + "\n")
	}
	tp, pp := filepath.Join(dir, "train.csv"), filepath.Join(dir, "prod.csv")
	require.NoError(t, os.WriteFile(tp, []byte(train.String()), 0o644))
	require.NoError(t, os.WriteFile(pp, []byte(prod.String()), 0o644))
	sc, err := ParseScaler([]byte(`{"features": {"income": {"kind": "zscore", "mean": 52100, "std": 18300}}}`), "scaler.json")
	require.NoError(t, err)
	opts := testOpts()
	opts.Scaler = sc
	tb, _ := build(t, tp, opts)
	pb, _ := build(t, pp, testOpts())
	rep, code = Diff(tb, pb, th)
	require.Equal(t, 2, code)
	require.Equal(t, drift.UnscaledInput, rep.Features[0].Diagnosis)
	require.Contains(t, rep.Features[0].Summary, "looks skipped")
}

func TestPinTwice(t *testing.T) {
	dir := t.TempDir()
	cur := smallBaseline(t, "ranker", "v4", 0.3, 9)
	req := PinRequest{From: "http://daemon:9464", WindowStart: testNow.Add(-5 * time.Minute), WindowEnd: testNow, Now: testNow}
	b1, p1, err := PinBaseline(dir, cur, nil, req)
	require.NoError(t, err)
	b2, p2, err := PinBaseline(dir, cur, nil, req)
	require.NoError(t, err)
	require.NotEqual(t, p1, p2)
	require.Equal(t, "v4-pinned-20261125T100000Z", b1.ModelVersion)
	require.Equal(t, "v4-pinned-20261125T100000Z-2", b2.ModelVersion)
	require.Len(t, dirFiles(t, dir), 2)
	for _, p := range []string{p1, p2} {
		b, err := Load(p)
		require.NoError(t, err)
		require.Equal(t, SourcePinned, b.Source.Kind)
		require.Equal(t, "v4", b.Source.FromVersion)
		require.Equal(t, "http://daemon:9464", b.Source.From)
	}
	// An explicit name that is taken is refused.
	req.As = b1.ModelVersion
	_, _, err = PinBaseline(dir, cur, nil, req)
	require.ErrorIs(t, err, ErrExists)
	require.Len(t, dirFiles(t, dir), 2)
}

func keysOf(es []Entry) []Key {
	out := []Key{}
	for _, e := range es {
		out = append(out, e.key())
	}
	return out
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenStore(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "missing")

	_, err = Write(dir, smallBaseline(t, "ranker", "v4", 0, 1))
	require.NoError(t, err)
	s, err := OpenStore(dir)
	require.NoError(t, err)
	b, ok := s.Lookup("ranker", "v4")
	require.True(t, ok)
	require.Equal(t, "v4", b.ModelVersion)
	_, ok = s.Lookup("ranker", "v5")
	require.False(t, ok)
	require.Empty(t, s.Refused())

	// Nothing changed: an empty report.
	rep, err := s.Reload()
	require.NoError(t, err)
	require.False(t, rep.Changed())

	// A second file in a version directory: both are refused, naming
	// them, and the version keeps the baseline it had.
	second := smallBaseline(t, "ranker", "v4", 1, 2)
	data, err := second.Encode()
	require.NoError(t, err)
	extra := filepath.Join(dir, "ranker", "v4", "zzzz.json")
	require.NoError(t, os.WriteFile(extra, data, 0o644))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Len(t, rep.Refused, 2)
	require.Equal(t, extra, rep.Refused[1].Path)
	require.ErrorContains(t, rep.Refused[1].Err, "ranker v4 has 2 baseline files")
	require.Equal(t, []Key{{"ranker", "v4"}}, keysOf(rep.Kept))
	got, ok := s.Lookup("ranker", "v4")
	require.True(t, ok)
	require.Same(t, b, got)
	require.Len(t, s.Refused(), 2)
	require.NoError(t, os.Remove(extra))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Empty(t, rep.Refused)
	require.Empty(t, rep.Loaded, "the kept baseline is the one served again")
	require.Empty(t, s.Refused())

	// A broken file elsewhere is refused alone: a good one beside it loads.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "ranker", "v5"), 0o755))
	bad := filepath.Join(dir, "ranker", "v5", "x.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"format": "normwatch.baseline/v1"`), 0o644))
	_, err = Write(dir, smallBaseline(t, "ranker", "v6", 0, 6))
	require.NoError(t, err)
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Len(t, rep.Refused, 1)
	require.Equal(t, bad, rep.Refused[0].Path)
	require.ErrorContains(t, rep.Refused[0].Err, bad)
	require.Equal(t, &Key{"ranker", "v5"}, rep.Refused[0].Key)
	require.Equal(t, []Key{{"ranker", "v6"}}, keysOf(rep.Loaded))
	require.Equal(t, []Key{{"ranker", "v4"}, {"ranker", "v6"}}, s.Keys())
	require.NoError(t, os.Remove(bad))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Equal(t, []string{bad}, rep.Cleared)
	require.True(t, rep.Changed())

	// A file under the wrong directory.
	wrong, err := smallBaseline(t, "ranker", "v7", 0, 3).Encode()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ranker", "v5", "x.json"), wrong, 0o644))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Len(t, rep.Refused, 1)
	require.ErrorContains(t, rep.Refused[0].Err, "lies under ranker/v5")
	require.NoError(t, os.Remove(filepath.Join(dir, "ranker", "v5", "x.json")))

	// A good file turned bad keeps serving what it served.
	v6, _ := s.Entry("ranker", "v6")
	require.NoError(t, os.Chmod(v6.Path, 0o644))
	require.NoError(t, os.WriteFile(v6.Path, []byte("garbage"), 0o644))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Equal(t, []Key{{"ranker", "v6"}}, keysOf(rep.Kept))
	_, ok = s.Lookup("ranker", "v6")
	require.True(t, ok)
	// Removed for good, it goes.
	require.NoError(t, os.Remove(v6.Path))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Equal(t, []Key{{"ranker", "v6"}}, keysOf(rep.Removed))
	require.Equal(t, []Key{{"ranker", "v4"}}, s.Keys())

	// Another baseline of a version in place of its file (a ConfigMap
	// rolled out): replaced, and served.
	v4, _ := s.Entry("ranker", "v4")
	require.NoError(t, os.Remove(v4.Path))
	newer := smallBaseline(t, "ranker", "v4", 2, 3)
	_, err = Write(dir, newer)
	require.NoError(t, err)
	rep, err = s.Reload()
	require.NoError(t, err)
	require.Equal(t, []Key{{"ranker", "v4"}}, keysOf(rep.Replaced))
	require.Empty(t, rep.Loaded)
	got, ok = s.Lookup("ranker", "v4")
	require.True(t, ok)
	require.Equal(t, newer.ID(), got.ID())

	// Temporary files are ignored.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ranker", "v4", ".tmp-x.json-123"), []byte("partial"), 0o644))
	rep, err = s.Reload()
	require.NoError(t, err)
	require.False(t, rep.Changed())

	// The directory gone: an error, and the old state stays whole.
	moved := dir + "-moved"
	require.NoError(t, os.Rename(dir, moved))
	_, err = s.Reload()
	require.Error(t, err)
	require.Equal(t, []Key{{"ranker", "v4"}}, s.Keys())
	require.NoError(t, os.Rename(moved, dir))
}

// TestStoreBadFileAtStart: a bad file never keeps the store from opening.
func TestStoreBadFileAtStart(t *testing.T) {
	dir := t.TempDir()
	_, err := Write(dir, smallBaseline(t, "ranker", "v4", 0, 1))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "ranker", "v5"), 0o755))
	bad := filepath.Join(dir, "ranker", "v5", "x.json")
	require.NoError(t, os.WriteFile(bad, []byte("{"), 0o644))
	s, err := OpenStore(dir)
	require.NoError(t, err)
	require.Equal(t, []Key{{"ranker", "v4"}}, s.Keys())
	require.Len(t, s.Refused(), 1)
	require.Equal(t, bad, s.Refused()[0].Path)
}

// TestStoreAnyName: any name an event can carry has a baseline, written
// escaped in the layout, and read back as itself.
func TestStoreAnyName(t *testing.T) {
	dir := t.TempDir()
	names := []Key{
		{"team/ranker", "v4"}, {"ranker", "v4 (canary)"}, {".hidden", ".."}, {"é/ü", "100%"},
		{strings.Repeat("long/", 51), strings.Repeat("ü", 128)},
	}
	for i, k := range names {
		p, err := Write(dir, smallBaseline(t, k.Model, k.Version, 0, uint64(i)))
		require.NoError(t, err, k)
		rel, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		parts := strings.Split(rel, string(filepath.Separator))
		require.Len(t, parts, 3, "one directory each: %s", rel)
		for _, part := range parts {
			require.LessOrEqual(t, len(part), 255)
			require.NotEqual(t, '.', part[0], rel)
		}
	}
	s, err := OpenStore(dir)
	require.NoError(t, err)
	require.Empty(t, s.Refused())
	for _, k := range names {
		b, ok := s.Lookup(k.Model, k.Version)
		require.True(t, ok, k)
		require.Equal(t, k.Model, b.Model)
	}
	for _, n := range []string{"ranker", "team/ranker", "100%", "..", "a~b"} {
		got, ok := unescapeName(PathName(n))
		require.True(t, ok, n)
		require.Equal(t, n, got)
	}
	require.Equal(t, "team%2Franker", PathName("team/ranker"))
	require.Equal(t, "%2E.", PathName(".."))
}

// TestStoreConfigMap reads a directory laid out as Kubernetes mounts a
// ConfigMap: flat files that are links into a ..data link to a timestamped
// directory; and follows links to model and version directories.
func TestStoreConfigMap(t *testing.T) {
	dir := t.TempDir()
	stage := t.TempDir()
	var files []string
	for i, v := range []string{"v3", "v4"} {
		p, err := Write(stage, smallBaseline(t, "ranker", v, 0, uint64(i)))
		require.NoError(t, err)
		files = append(files, p)
	}
	ts := filepath.Join(dir, "..2026_12_01_20_50_00.1")
	require.NoError(t, os.Mkdir(ts, 0o755))
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ts, filepath.Base(f)), data, 0o444))
		require.NoError(t, os.Symlink(filepath.Join("..data", filepath.Base(f)), filepath.Join(dir, filepath.Base(f))))
	}
	require.NoError(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")))
	s, err := OpenStore(dir)
	require.NoError(t, err)
	require.Empty(t, s.Refused())
	require.Equal(t, []Key{{"ranker", "v3"}, {"ranker", "v4"}}, s.Keys())

	// Links to model and version directories are followed too.
	dir2 := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(stage, "ranker"), filepath.Join(dir2, "ranker")))
	s2, err := OpenStore(dir2)
	require.NoError(t, err)
	require.Equal(t, []Key{{"ranker", "v3"}, {"ranker", "v4"}}, s2.Keys())

	// The same version flat and nested: both refused.
	require.NoError(t, os.Symlink(files[0], filepath.Join(dir2, "copy.json")))
	rep, err := s2.Reload()
	require.NoError(t, err)
	require.Len(t, rep.Refused, 2)
	require.Equal(t, []Key{{"ranker", "v3"}}, keysOf(rep.Kept))
}

func TestStoreWatchConcurrent(t *testing.T) {
	dir := t.TempDir()
	_, err := Write(dir, smallBaseline(t, "ranker", "v4", 0, 1))
	require.NoError(t, err)
	s, err := OpenStore(dir)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloads := make(chan error, 16)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- s.Watch(ctx, 20*time.Millisecond, func(rep *ReloadReport, err error) {
			if err == nil && len(rep.Refused) > 0 {
				err = rep.Refused[0].Err
			}
			reloads <- err
		})
	}()

	// Readers compare against the served baseline while it changes.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	cur := smallBaseline(t, "ranker", "v4", 0, 5).Set()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if b, ok := s.Lookup("ranker", "v4"); ok {
					rep := drift.Compare(b.Set(), curCopy(cur), drift.DefaultThresholds())
					if len(rep.Features) != 1 {
						panic("bad report")
					}
				}
				s.Lookup("ranker", "v5")
			}
		}()
	}

	time.Sleep(50 * time.Millisecond) // the watcher is set up
	_, err = Write(dir, smallBaseline(t, "ranker", "v5", 0, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, ok := s.Lookup("ranker", "v5"); return ok }, 5*time.Second, 10*time.Millisecond)
	select {
	case err := <-reloads:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("no reload reported")
	}
	close(stop)
	wg.Wait()
	cancel()
	require.ErrorIs(t, <-watchDone, context.Canceled)
}

// curCopy copies the sketches of a current set, as each evaluation owns its own.
func curCopy(s drift.Set) drift.Set {
	out := drift.Set{Features: map[string]drift.FeatureSketch{}}
	for k, f := range s.Features {
		out.Features[k] = drift.FeatureSketch{Sketch: f.Sketch.Clone(), Norm: f.Norm}
	}
	return out
}

func TestStoreMetrics(t *testing.T) {
	dir := t.TempDir()
	_, err := Write(dir, smallBaseline(t, "ranker", "v4", 0, 1))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o644))
	s, err := OpenStore(dir)
	require.NoError(t, err)
	require.NoError(t, testutil.CollectAndCompare(s.Collector(), strings.NewReader(`
# HELP normwatch_baseline_files_refused Baseline files the last reload of the store refused: unreadable, invalid, misplaced, or a second file for one version.
# TYPE normwatch_baseline_files_refused gauge
normwatch_baseline_files_refused 1
# HELP normwatch_baselines_served Model versions the baseline store serves a baseline for.
# TYPE normwatch_baselines_served gauge
normwatch_baselines_served 1
`)))
	problems, err := testutil.CollectAndLint(s.Collector())
	require.NoError(t, err)
	require.Empty(t, problems)
}
