package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// eventJSON is ev as a producer would write it.
func eventJSON(t *testing.T, ev *stream.Event) []byte {
	t.Helper()
	m := map[string]any{"ts": ev.Time.Format(time.RFC3339Nano), "model": ev.Model, "model_version": ev.Version}
	feats := map[string]any{}
	for _, f := range ev.Features {
		if f.Missing {
			feats[f.Name] = nil
		} else {
			feats[f.Name] = f.Value
		}
	}
	m["features"] = feats
	if len(ev.Raw) > 0 {
		raw := map[string]any{}
		for _, f := range ev.Raw {
			raw[f.Name] = f.Value
		}
		m["raw"] = raw
	}
	if len(ev.Embeddings) > 0 {
		embs := map[string]any{}
		for _, e := range ev.Embeddings {
			embs[e.Name] = e.Values
		}
		m["embeddings"] = embs
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// produceToParts writes values[i] to the partition evs[i] names.
func produceToParts(t *testing.T, ctx context.Context, brokers []string, topic string, evs []clusterEvent, values [][]byte) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Transport: tr, Topic: topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			return ps[m.WriterData.(int)%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll, BatchSize: 500, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: v, WriterData: evs[i].part}
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
}

func open2(t *testing.T, e *Engine, topic string, part int) *partition {
	t.Helper()
	pp, err := e.OpenPartition(topic, part)
	require.NoError(t, err)
	return pp.(*partition)
}

// consumerOptions are quick consumer-group settings for the tests.
func consumerOptions(brokers []string, topic, group string) stream.Options {
	return stream.Options{
		Brokers: brokers, Topics: []string{topic}, GroupID: group,
		CheckpointInterval: 100 * time.Millisecond, FetchMaxWait: 100 * time.Millisecond,
		DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, RetryBackoff: 200 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
}

// runConsumer runs a consumer until the test ends.
func runConsumer(t *testing.T, opts stream.Options, proc stream.Processor) *stream.Consumer {
	t.Helper()
	c, err := stream.NewConsumer(opts, proc, prometheus.NewRegistry())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _ = c.Run(context.Background()); close(done) }()
	t.Cleanup(func() {
		c.Stop()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("consumer did not stop")
		}
	})
	return c
}

// TestClusterOnKafka: three ingesting processes (engines with consumers of
// their own, in one group, sharing a checkpoint store as they would the
// checkpoint topic) on a 6-partition topic, each also running the
// evaluation stage, in a group of its own, on the partials topic. Each
// window of each version is judged once, cluster-wide, with the figures of
// one process consuming the same topic alone. It measures the partials'
// bytes per window per series.
func TestClusterOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster on the embedded broker")
	}
	const windows, parts, procs = 5, 6, 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var brokers []string
	if env := os.Getenv("NORMWATCH_TEST_BROKERS"); env != "" {
		brokers = strings.Split(env, ",")
	} else {
		emb, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{})
		require.NoError(t, err)
		t.Cleanup(emb.Close)
		brokers = emb.Addrs()
	}
	suffix := time.Now().Format("150405.000000")
	events, partials := "events-"+suffix, "partials-"+suffix
	require.NoError(t, stream.CreateTopic(ctx, brokers, events, parts))
	require.NoError(t, stream.EnsurePartialsTopic(ctx, brokers, stream.PartialsTopicOptions{
		Topic: partials, Partitions: 4, Retention: time.Hour,
	}))
	// Again: the topic exists, with the right configuration.
	require.NoError(t, stream.EnsurePartialsTopic(ctx, brokers, stream.PartialsTopicOptions{Topic: partials, Retention: time.Hour}))

	// The cluster.
	store := newMemStore()
	var got []*collect
	var engines []*Engine
	var ingest, stage []*stream.Consumer
	for range procs {
		w, err := stream.NewPartialsWriter(stream.PartialsWriterOptions{Brokers: brokers, Topic: partials})
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		c := &collect{}
		e, _ := newEngine(t, clusterOptions(w), clusterBaselines(), store, c)
		runEngine(t, e)
		got, engines = append(got, c), append(engines, e)
		ingest = append(ingest, runConsumer(t, consumerOptions(brokers, events, "g-"+suffix), e))
		stage = append(stage, runConsumer(t, consumerOptions(brokers, partials, "g-eval-"+suffix), e.Stage(nil)))
	}
	// Produce once every group is settled, so that no partition moves
	// mid-stream (moves are the process tests' matter).
	assigned := func(cs []*stream.Consumer, n int) func() bool {
		return func() bool {
			total := 0
			for _, c := range cs {
				if len(c.Lag()) == 0 {
					return false
				}
				total += len(c.Lag())
			}
			return total == n
		}
	}
	waitFor(t, "the ingest group settled", assigned(ingest, parts))
	waitFor(t, "the stage group settled", func() bool {
		total := 0
		for _, c := range stage {
			total += len(c.Lag())
		}
		return total == 4
	})
	evs := clusterEvents(2, windows, 600, parts)
	// The single process: the same events applied in order to one engine
	// holding every partition. (Consuming the topic instead, its partitions
	// go at their own pace, and one that has not yet read a version when
	// the others close a window is not waited for; the stage waits for
	// every source partition it has heard of.)
	ref := &collect{}
	one, _ := newEngine(t, testOptions3(), clusterBaselines(), nil, ref)
	runEngine(t, one)
	for i, ce := range evs {
		pp := one.parts[partKey{topic: events, partition: ce.part}]
		if pp == nil {
			pp = open2(t, one, events, ce.part)
		}
		require.NoError(t, pp.Apply(int64(i), ce.ev))
	}
	values := make([][]byte, len(evs))
	for i, ce := range evs {
		values[i] = eventJSON(t, ce.ev)
	}
	produceToParts(t, ctx, brokers, events, evs, values)

	all := func() []Evaluation {
		var out []Evaluation
		for _, c := range got {
			out = append(out, c.all()...)
		}
		return out
	}
	waitFor(t, "the single process's evaluations", func() bool { return len(ref.all()) == 2*windows })
	waitFor(t, "the cluster's evaluations", func() bool { return len(all()) >= 2*windows })
	time.Sleep(300 * time.Millisecond) // room for a second evaluation, were there one

	want := map[string]Evaluation{}
	for _, e := range ref.all() {
		want[evalKey(e)] = e
	}
	count := map[string]int{}
	worst := 0.0
	for _, e := range all() {
		k := evalKey(e)
		count[k]++
		w, ok := want[k]
		require.True(t, ok, k)
		requireSameReports(t, w, e, 1e-9)
		worst = math.Max(worst, maxReportDiff(w, e))
	}
	for k := range want {
		require.Equal(t, 1, count[k], "evaluations of %s cluster-wide", k)
	}
	// The evaluations counter, summed over the processes, is one per
	// version and window; only the process owning a version's partials
	// partition judges it.
	var sum float64
	owners := map[string]int{}
	for i, e := range engines {
		sum += testutil.ToFloat64(e.m.evaluations)
		for _, ev := range got[i].all() {
			owners[ev.Version] |= 1 << i
		}
	}
	require.Equal(t, float64(2*windows), sum)
	for v, o := range owners {
		require.Equal(t, 0, o&(o-1), "%s judged in more than one process", v)
	}

	// Bytes per window per series: every window record's bytes over the
	// windows and series (2 versions × 3 series) judged.
	var bytes, recs, markBytes, cumBytes float64
	for _, e := range engines {
		bytes += testutil.ToFloat64(e.m.partialsBytes.WithLabelValues(PartialWindow))
		recs += testutil.ToFloat64(e.m.partialsWritten.WithLabelValues(PartialWindow))
		cumBytes += testutil.ToFloat64(e.m.partialsBytes.WithLabelValues(PartialCumulative))
		markBytes += testutil.ToFloat64(e.m.partialsBytes.WithLabelValues(PartialWatermark))
	}
	series := 2.0 * 3
	t.Logf("partials: %.0f window records, %.0f bytes per record; per window per series (all %d source partitions): %.0f bytes of windows, %.0f of cumulative views, %.0f of watermarks (before compression); largest figure difference from one process: %g",
		recs, bytes/recs, parts, bytes/(windows*series), cumBytes/(windows*series), markBytes/(windows*series), worst)
}
