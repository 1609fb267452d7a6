package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/demo"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/export"
	"github.com/normwatch/normwatch/pkg/stream"
)

// demoEvents returns n demo events of each version, 50 ms apart.
func demoEvents(n int, t0 time.Time) [][]byte {
	g := demo.NewGenerator(demo.DefaultOptions(), 5)
	var out [][]byte
	for i := range n {
		for _, v := range []string{demo.Healthy, demo.Buggy} {
			out = append(out, append([]byte(nil), g.Event(v, t0.Add(time.Duration(i)*50*time.Millisecond))...))
		}
	}
	return out
}

func produceValues(t *testing.T, brokers []string, topic string, values [][]byte) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}), BatchSize: 500, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
}

// A topic range builds the same baseline as the same events in a JSONL
// file, and pin --replay freezes it twice into two files.
func TestBaselineFromTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emb, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{Topics: []string{"events"}, Partitions: 3})
	require.NoError(t, err)
	defer emb.Close()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events := demoEvents(1500, t0) // 3000 events, half v3
	produceValues(t, emb.Addrs(), "events", append(events, []byte(`{"oops`)))
	brokers := strings.Join(emb.Addrs(), ",")

	dir := t.TempDir()
	out := filepath.Join(dir, "baselines")
	jsonl := filepath.Join(dir, "events.jsonl")
	var all []byte
	for _, e := range events {
		all = append(append(all, e...), '\n')
	}
	require.NoError(t, os.WriteFile(jsonl, all, 0o644))

	code, stdout, stderr := runCLI("build", "--topic", "events", "--brokers", brokers, "--model", "ranker", "--model-version", "v3", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "read 3001 rows from events (kafka)")
	require.Contains(t, stderr, "skipped 1500 rows: other_model")
	require.Contains(t, stderr, "skipped 1 rows: malformed_json")
	fromTopic, err := baseline.Load(strings.Fields(stdout)[1])
	require.NoError(t, err)
	require.Equal(t, baseline.SourceKafka, fromTopic.Source.Kind)
	require.Equal(t, "events", fromTopic.Source.Path)
	require.Len(t, fromTopic.Source.Offsets, 3)
	require.Equal(t, uint64(1500), fromTopic.Source.Rows)

	fromFile, _, err := baseline.Build(ctx, jsonl, baseline.BuildOptions{Model: "ranker", Version: "v3"})
	require.NoError(t, err)
	require.Equal(t, len(fromFile.Features), len(fromTopic.Features))
	for name, f := range fromFile.Features {
		g := fromTopic.Features[name]
		require.NotNil(t, g, name)
		require.Equal(t, f.Sketch.Count(), g.Sketch.Count(), name)
		require.InDelta(t, f.Sketch.Mean(), g.Sketch.Mean(), 1e-9*(1+abs(f.Sketch.Mean())), name)
		rep := drift.CompareFeature(drift.Feature{Name: name, Ref: f.Sketch, Cur: g.Sketch}, drift.DefaultThresholds())
		require.Equal(t, drift.OK, rep.Diagnosis, rep.Summary)
	}
	require.Equal(t, fromFile.Embeddings["query"].Sketch.Count(), fromTopic.Embeddings["query"].Sketch.Count())

	// An offset range: the first 100 offsets of each partition.
	code, _, stderr = runCLI("build", "--topic", "events", "--brokers", brokers, "--to-offset", "100", "--model", "ranker", "--model-version", "v4", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "read 300 rows")

	// The events of v3 built as the baseline of v9 (issue 13, item 4: from a
	// topic as from JSONL); without --select-version every event is of
	// another version.
	code, _, stderr = runCLI("build", "--topic", "events", "--brokers", brokers, "--model", "ranker", "--model-version", "v9", "--out", out, "--quiet")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "--select-model and --select-version")
	code, stdout, stderr = runCLI("build", "--topic", "events", "--brokers", brokers, "--model", "ranker", "--model-version", "v9",
		"--select-version", "v3", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	relabelled, err := baseline.Load(strings.Fields(stdout)[1])
	require.NoError(t, err)
	require.Equal(t, "v9", relabelled.ModelVersion)
	require.Equal(t, "v3", relabelled.Source.FromVersion)
	require.Equal(t, uint64(1500), relabelled.Source.Rows)
	for name, f := range fromTopic.Features {
		require.Equal(t, f.Sketch.Count(), relabelled.Features[name].Sketch.Count(), name)
	}

	// pin --replay, twice: two files, nothing overwritten; the declared
	// normalizations come from the store's v3 baseline.
	var paths []string
	for range 2 {
		code, stdout, stderr = runCLI("pin", "--replay", "--topic", "events", "--brokers", brokers, "--model", "ranker", "--model-version", "v3", "--out", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "pinned ranker v3 as v3-pinned-")
		paths = append(paths, strings.Fields(stdout)[6])
	}
	require.NotEqual(t, paths[0], paths[1])
	for _, p := range paths {
		b, err := baseline.Load(p)
		require.NoError(t, err)
		require.Equal(t, baseline.SourcePinned, b.Source.Kind)
		require.True(t, strings.HasPrefix(b.Source.From, "kafka://"+brokers+"/events?partition0=0-"), b.Source.From)
		require.Equal(t, "v3", b.Source.FromVersion)
		require.Equal(t, t0, *b.Source.WindowStart)
		require.Equal(t, uint64(1500), b.Source.Rows)
	}
	// --as twice: the second is refused.
	args := []string{"pin", "--replay", "--topic", "events", "--brokers", brokers, "--model", "ranker", "--model-version", "v3", "--out", out, "--as", "v3-frozen"}
	code, _, stderr = runCLI(args...)
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runCLI(args...)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "exists")
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

type nopCheckpoints struct{}

func (nopCheckpoints) Load(string, int) ([]byte, error) { return nil, nil }
func (nopCheckpoints) Save(string, int, []byte) error   { return nil }

// pin --from-daemon freezes the daemon's last evaluated horizon, served by
// /api/v1/horizon, as a new baseline, twice into two files.
func TestPinFromDaemon(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "baselines")
	// v3's training baseline, whose declared normalizations the pin keeps.
	csv := filepath.Join(dir, "v3.csv")
	f, err := os.Create(csv)
	require.NoError(t, err)
	require.NoError(t, demo.NewGenerator(demo.DefaultOptions(), 1).WriteTrainingCSV(f, 3000))
	require.NoError(t, f.Close())
	scaler := filepath.Join(dir, "scaler.yml")
	require.NoError(t, os.WriteFile(scaler, []byte(demo.ScalerYAML()), 0o644))
	code, _, stderr := runCLI("build", "--input", csv, "--model", "ranker", "--model-version", "v3", "--scaler", scaler, "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	store, err := baseline.OpenStore(out)
	require.NoError(t, err)

	th := drift.DefaultThresholds()
	th.MinSamples = 100
	e, err := engine.New(engine.Options{WindowSize: time.Minute, HorizonWindows: 2, Thresholds: th}, storeBaselines{store}, nopCheckpoints{}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { e.Stop(); <-done }()
	d := &daemon{engine: e, store: store}
	srv, err := export.NewServer(export.ServerOptions{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		API: map[string]export.APIFunc{"/api/v1/horizon": d.horizon}})
	require.NoError(t, err)
	go func() { _ = srv.Run() }()
	defer srv.Stop()
	url := "http://" + srv.Addr()

	// Nothing evaluated yet: a clear error.
	code, _, stderr = runCLI("pin", "--from-daemon", url, "--model", "ranker", "--model-version", "v3", "--out", out)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no evaluated horizon")

	pp, err := e.OpenPartition("events", 0)
	require.NoError(t, err)
	dec, err := stream.NewDecoder(stream.DefaultDecoderOptions())
	require.NoError(t, err)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var ev stream.Event
	// 3.5 minutes of v3 at 20 events/s: windows 0..2 close; the horizon
	// of the last is windows 1 and 2, 2400 events.
	g := demo.NewGenerator(demo.DefaultOptions(), 2)
	for i := range 210 * 20 {
		require.NoError(t, dec.Decode(g.Event(demo.Healthy, t0.Add(time.Duration(i)*50*time.Millisecond)), stream.Fallback{}, &ev))
		pp.Apply(int64(i), &ev)
	}
	require.Eventually(t, func() bool {
		l := e.Latest()
		return len(l) == 1 && l[0].WindowEnd.Equal(t0.Add(3*time.Minute))
	}, 10*time.Second, 10*time.Millisecond)

	var paths []string
	for range 2 {
		code, stdout, stderr := runCLI("pin", "--from-daemon", url+"/", "--model", "ranker", "--model-version", "v3", "--out", out)
		require.Equal(t, 0, code, stderr)
		paths = append(paths, strings.Fields(stdout)[6])
	}
	require.NotEqual(t, paths[0], paths[1])
	train, _ := store.Lookup("ranker", "v3")
	for _, p := range paths {
		b, err := baseline.Load(p)
		require.NoError(t, err)
		require.Equal(t, baseline.SourcePinned, b.Source.Kind)
		require.Equal(t, url, b.Source.From)
		require.Equal(t, "v3", b.Source.FromVersion)
		require.Equal(t, uint64(2400), b.Source.Rows)
		require.Equal(t, t0.Add(time.Minute), *b.Source.WindowStart)
		require.Equal(t, t0.Add(3*time.Minute), *b.Source.WindowEnd)
		require.Equal(t, uint64(2400), b.Features["income"].Sketch.Count())
		require.Equal(t, train.Features["income"].Normalization, b.Features["income"].Normalization)
		require.Equal(t, drift.EmbeddingL2, b.Embeddings["query"].Normalization)
		require.Equal(t, uint64(2400), b.Embeddings["query"].Sketch.Count())
	}
	// The pinned horizon of healthy traffic diffs clean against training.
	entry, _ := store.Entry("ranker", "v3")
	code, stdout, _ := runCLI("diff", entry.Path, paths[0])
	require.Equal(t, exitOK, code, stdout)
	code, _, stderr = runCLI("pin", "--from-daemon", url, "--model", "ranker", "--model-version", "v9", "--out", out)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, `no evaluated horizon for model "ranker" version "v9"`)
}

// Any name an event can carry can be served a horizon, pinned, and read
// back from the store: "team/ranker" is escaped in the layout.
func TestPinAnyName(t *testing.T) {
	out := filepath.Join(t.TempDir(), "baselines")
	require.NoError(t, os.MkdirAll(out, 0o755))
	store, err := baseline.OpenStore(out)
	require.NoError(t, err)
	th := drift.DefaultThresholds()
	th.MinSamples = 100
	e, err := engine.New(engine.Options{WindowSize: time.Minute, HorizonWindows: 2, Thresholds: th}, storeBaselines{store}, nopCheckpoints{}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { e.Stop(); <-done }()
	d := &daemon{engine: e, store: store}
	srv, err := export.NewServer(export.ServerOptions{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		API: map[string]export.APIFunc{"/api/v1/horizon": d.horizon}})
	require.NoError(t, err)
	go func() { _ = srv.Run() }()
	defer srv.Stop()

	const model, version = "team/ranker", "v4 (canary)"
	pp, err := e.OpenPartition("events", 0)
	require.NoError(t, err)
	dec, err := stream.NewDecoder(stream.DefaultDecoderOptions())
	require.NoError(t, err)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var ev stream.Event
	g := demo.NewGenerator(demo.DefaultOptions(), 2)
	for i := range 210 * 20 {
		require.NoError(t, dec.Decode(g.Event(demo.Healthy, t0.Add(time.Duration(i)*50*time.Millisecond)), stream.Fallback{}, &ev))
		ev.Model, ev.Version = model, version
		pp.Apply(int64(i), &ev)
	}
	require.Eventually(t, func() bool { return len(e.Latest()) == 1 }, 10*time.Second, 10*time.Millisecond)

	code, stdout, stderr := runCLI("pin", "--from-daemon", "http://"+srv.Addr(), "--model", model, "--model-version", version, "--as", "v4/pinned", "--out", out)
	require.Equal(t, 0, code, stderr)
	path := strings.Fields(stdout)[len(strings.Fields(stdout))-3]
	require.Contains(t, path, filepath.Join(out, "team%2Franker", "v4%2Fpinned"))
	rep, err := store.Reload()
	require.NoError(t, err)
	require.Empty(t, rep.Refused)
	b, ok := store.Lookup(model, "v4/pinned")
	require.True(t, ok)
	require.Equal(t, version, b.Source.FromVersion)
}

// TestBaselineReadsAsTheDaemon: events of another shape than the default
// (features at the root, {name, value} lists under keys of their own) are
// built into baselines, from JSONL and from a topic, and pinned by replay,
// with the daemon's decode settings: the --decode.* flags, or the decode
// section of --config.file, whose kafka.brokers stand in for --brokers.
// Without them nothing is read as a feature.
func TestBaselineReadsAsTheDaemon(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "baselines")
	var flat, lists []byte
	for i := range 300 {
		flat = fmt.Appendf(flat, `{"ts":%d,"model":"m","model_version":"v1","user":"u%d","age":%d,"income":%d}`+"\n", 1796158200+i, i, 20+i%50, 40000+i)
		lists = fmt.Appendf(lists, `{"model":"m","model_version":"v1","features":[{"f":"age","v":%d},{"f":"income","v":%d}]}`+"\n", 20+i%50, 40000+i)
	}
	flatFile, listFile := filepath.Join(dir, "flat.jsonl"), filepath.Join(dir, "lists.jsonl")
	require.NoError(t, os.WriteFile(flatFile, flat, 0o644))
	require.NoError(t, os.WriteFile(listFile, lists, 0o644))
	cfgFile := filepath.Join(dir, "normwatch.yml")

	features := func(stdout string) map[string]uint64 {
		b, err := baseline.Load(strings.Fields(stdout)[1])
		require.NoError(t, err)
		got := map[string]uint64{}
		for name, f := range b.Features {
			got[name] = f.Sketch.Count()
		}
		return got
	}
	want := map[string]uint64{"age": 300, "income": 300, "user": 0}

	code, _, stderr := runCLI("build", "--input", flatFile, "--model", "m", "--model-version", "v1", "--out", out, "--quiet")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no numeric feature or embedding column found")
	code, stdout, stderr := runCLI("build", "--input", flatFile, "--model", "m", "--model-version", "v1", "--out", out, "--quiet", "--decode.features_path", "$")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, want, features(stdout))

	require.NoError(t, os.WriteFile(cfgFile, []byte("decode:\n  list_name_key: f\n  list_value_key: v\n"), 0o644))
	code, stdout, stderr = runCLI("build", "--input", listFile, "--model", "m", "--model-version", "v2", "--select-version", "v1", "--out", out, "--quiet", "--config.file", cfgFile)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, map[string]uint64{"age": 300, "income": 300}, features(stdout))

	// A bad setting is a usage error naming the key, as for monitor run.
	code, _, stderr = runCLI("build", "--input", flatFile, "--model", "m", "--model-version", "v3", "--out", out, "--decode.time_unit", "parsecs")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `monitor baseline build: decode.time_unit: "parsecs" is not one of`)

	// From a topic, the brokers from the file.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	emb, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{Topics: []string{"flat"}, Partitions: 2})
	require.NoError(t, err)
	defer emb.Close()
	produceValues(t, emb.Addrs(), "flat", bytes.Split(bytes.TrimSpace(flat), []byte("\n")))
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf("decode:\n  features_path: \"$\"\nkafka:\n  brokers: [%q]\n", emb.Addrs()[0])), 0o644))
	code, stdout, stderr = runCLI("build", "--topic", "flat", "--model", "m", "--model-version", "v4", "--select-version", "v1", "--out", out, "--quiet", "--config.file", cfgFile)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, want, features(stdout))
	code, stdout, stderr = runCLI("pin", "--replay", "--topic", "flat", "--model", "m", "--model-version", "v1", "--as", "v1-replayed", "--out", out, "--config.file", cfgFile)
	require.Equal(t, 0, code, stderr)
	pinned, err := baseline.Load(strings.Fields(stdout)[6])
	require.NoError(t, err)
	require.Equal(t, uint64(300), pinned.Features["age"].Sketch.Count())
}
