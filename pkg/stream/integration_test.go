package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testBrokers returns the brokers of NORMWATCH_TEST_BROKERS (comma
// separated) when set, else those of an embedded broker closed with the
// test; the *Embedded is nil with real brokers.
func testBrokers(t testing.TB, opts ...EmbeddedOptions) ([]string, *Embedded) {
	t.Helper()
	if env := os.Getenv("NORMWATCH_TEST_BROKERS"); env != "" {
		return strings.Split(env, ","), nil
	}
	var o EmbeddedOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, o)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e.Addrs(), e
}

// testTopic returns a topic name of its own for this test run, so that
// tests against a shared real broker start from empty topics.
func testTopic(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%s-%d", base, strings.ReplaceAll(t.Name(), "/", "_"), rand.Uint32())
}

// createTopic creates topic and waits until every partition has a leader.
func createTopic(t *testing.T, brokers []string, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, CreateTopic(ctx, brokers, topic, partitions))
}

// Produce writes values to topic, value i to partition i mod partitions,
// acknowledged by all replicas, and returns how many went to each.
func Produce(ctx context.Context, brokers []string, topic string, partitions int, values [][]byte) ([]int, error) {
	// A transport of its own: kafka-go's default one caches metadata
	// process-wide, and may not know a topic a test has just created.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:      kafka.TCP(brokers...),
		Transport: tr,
		Topic:     topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll,
		BatchSize:    500,
		BatchBytes:   16 << 20,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	counts := make([]int, partitions)
	for i, v := range values {
		msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: v}
		counts[i%partitions]++
	}
	return counts, w.WriteMessages(ctx, msgs...)
}

func produce(t *testing.T, brokers []string, topic string, partitions int, values [][]byte) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := Produce(ctx, brokers, topic, partitions, values)
	require.NoError(t, err)
	return counts
}

func goodEvents(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"model":"m","model_version":"v1","features":{"x":%d},"embeddings":{"q":[0.6,0.8]}}`, from+i)
	}
	return out
}

// countState is a test partition's state: what it applied and skipped.
type countState struct {
	Last       int64 `json:"last"`
	Applied    int   `json:"applied"`
	Skipped    int   `json:"skipped"`
	OffsetSum  int64 `json:"offset_sum"`
	OutOfOrder int   `json:"out_of_order"`
	BadEvents  int   `json:"bad_events"`
}

// countingProcessor is a PartitionProcessor factory whose state is counts,
// checkpointed as JSON in store. Consumers sharing a store share state the
// way processes sharing a checkpoint directory do.
type countingProcessor struct {
	store   CheckpointStore
	handled atomic.Int64 // Apply and Skip calls, re-applications included
	opened  atomic.Int64
	panicOn func(*Event) bool // Apply panics on the events it selects
}

func (cp *countingProcessor) OpenPartition(topic string, partition int) (PartitionProcessor, error) {
	data, err := cp.store.Load(topic, partition)
	if err != nil {
		return nil, err
	}
	st := countState{Last: -1}
	if data != nil {
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, err
		}
	}
	cp.opened.Add(1)
	return &countingPartition{cp: cp, topic: topic, partition: partition, st: st}, nil
}

type countingPartition struct {
	cp        *countingProcessor
	topic     string
	partition int
	st        countState
}

func (p *countingPartition) Offset() int64 { return p.st.Last }

func (p *countingPartition) advance(offset int64) {
	if offset <= p.st.Last {
		p.st.OutOfOrder++
	}
	p.st.Last = offset
	p.cp.handled.Add(1)
}

func (p *countingPartition) Apply(offset int64, ev *Event) error {
	if p.cp.panicOn != nil && p.cp.panicOn(ev) {
		panic("a bug of the processor")
	}
	p.advance(offset)
	p.st.Applied++
	p.st.OffsetSum += offset
	if ev.Model != "m" || len(ev.Features) != 1 || len(ev.Embeddings) != 1 {
		p.st.BadEvents++
	}
	return nil
}

func (p *countingPartition) Skip(offset int64) {
	p.advance(offset)
	p.st.Skipped++
}

func (p *countingPartition) Checkpoint() (int64, error) {
	b, err := json.Marshal(p.st)
	if err != nil {
		return 0, err
	}
	return p.st.Last, p.cp.store.Save(p.topic, p.partition, b)
}

func (p *countingPartition) Close() error { return nil }

// stateOf reads a partition's last checkpointed state.
func stateOf(t *testing.T, store CheckpointStore, topic string, partition int) countState {
	t.Helper()
	data, err := store.Load(topic, partition)
	require.NoError(t, err)
	st := countState{Last: -1}
	if data != nil {
		require.NoError(t, json.Unmarshal(data, &st))
	}
	return st
}

func testOptions(t *testing.T, brokers []string, topic, group string) Options {
	return Options{
		Brokers:            brokers,
		Topics:             []string{topic},
		GroupID:            group,
		CheckpointInterval: 100 * time.Millisecond,
		FetchMaxWait:       100 * time.Millisecond,
		DialTimeout:        2 * time.Second,
		RequestTimeout:     5 * time.Second,
		SessionTimeout:     6 * time.Second,
		RebalanceTimeout:   10 * time.Second,
		HeartbeatInterval:  200 * time.Millisecond,
		RetryBackoff:       200 * time.Millisecond,
		ShutdownTimeout:    10 * time.Second,
		Logger:             testLogger(t),
	}
}

// testLogger logs warnings and errors through t.Log, which shows them only
// for a failing test or with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// running is a Consumer running in the background.
type running struct {
	c    *Consumer
	reg  *prometheus.Registry
	done chan error
}

func startConsumer(t *testing.T, opts Options, proc Processor) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(opts, proc, reg)
	require.NoError(t, err)
	r := &running{c: c, reg: reg, done: make(chan error, 1)}
	go func() { r.done <- c.Run(context.Background()) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the consumer and returns Run's error; it is safe to call twice.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.c.Stop()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("consumer did not stop")
		return nil
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// requireExact checks that every partition's checkpoint holds each
// produced good message once and each poison message skipped once.
func requireExact(t *testing.T, store CheckpointStore, topic string, good, poison []int) {
	t.Helper()
	for p := range good {
		st := stateOf(t, store, topic, p)
		total := good[p] + poison[p]
		require.Equal(t, good[p], st.Applied, "partition %d applied", p)
		require.Equal(t, poison[p], st.Skipped, "partition %d skipped", p)
		require.Zero(t, st.OutOfOrder, "partition %d: an offset handled twice or out of order", p)
		require.Zero(t, st.BadEvents, "partition %d: events decoded wrong", p)
		require.Equal(t, int64(total-1), st.Last, "partition %d last offset", p)
		if poison[p] == 0 {
			require.Equal(t, int64(total)*int64(total-1)/2, st.OffsetSum, "partition %d: offsets applied", p)
		}
	}
}

func TestConsumerExactlyN(t *testing.T) {
	brokers, _ := testBrokers(t)
	const partitions, n = 3, 900
	topic := testTopic(t, "events")
	createTopic(t, brokers, topic, partitions)
	good := produce(t, brokers, topic, partitions, goodEvents(0, n))

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	r := startConsumer(t, testOptions(t, brokers, topic, testTopic(t, "group")), proc)
	waitFor(t, "all events", 15*time.Second, func() bool { return proc.handled.Load() >= n })
	waitFor(t, "readiness", 5*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))
	require.False(t, r.c.Ready())

	require.EqualValues(t, n, proc.handled.Load())
	requireExact(t, store, topic, good, make([]int, partitions))
	require.Zero(t, counterValue(t, r.reg, "normwatch_decode_errors_total"))
	require.Zero(t, counterValue(t, r.reg, "normwatch_checkpoints_total", "result", "error"))
	require.Positive(t, counterValue(t, r.reg, "normwatch_offset_commits_total", "result", "ok"))
	// The lag series went with their partitions.
	require.Zero(t, testutil.CollectAndCount(r.c.m.consumerLag))
}

func TestConsumerPoisonToDLQ(t *testing.T) {
	brokers, _ := testBrokers(t)
	const partitions = 2
	topic, dlq := testTopic(t, "events"), testTopic(t, "dlq")
	createTopic(t, brokers, topic, partitions)
	createTopic(t, brokers, dlq, 1)

	poisons := map[Reason][]byte{
		ReasonMalformedJSON: []byte(`{"model": "m", "features": {`),
		ReasonTooLarge:      fmt.Appendf(nil, `{"model":"m","model_version":"v1","features":{"x":1},"pad":%q}`, strings.Repeat("p", 3000)),
		ReasonBadEmbedding:  []byte(`{"model":"m","model_version":"v1","embeddings":{"q":"b64f32:not base64!"}}`),
	}
	reasons := []Reason{ReasonMalformedJSON, ReasonTooLarge, ReasonBadEmbedding}
	var values [][]byte
	poison := make([]int, partitions)
	good := make([]int, partitions)
	want := map[string]Reason{} // "partition/offset" -> reason
	offsets := make([]int, partitions)
	for i := range 120 {
		p := i % partitions
		if i%10 == 3 {
			r := reasons[(i/10)%len(reasons)]
			values = append(values, poisons[r])
			poison[p]++
			want[fmt.Sprintf("%d/%d", p, offsets[p])] = r
		} else {
			values = append(values, goodEvents(i, 1)[0])
			good[p]++
		}
		offsets[p]++
	}
	produce(t, brokers, topic, partitions, values)

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	opts.DLQTopic = dlq
	opts.Decoder.MaxMessageBytes = 2048
	opts.DLQMaxValueBytes = 1024 // the oversize one is cut in the letter
	r := startConsumer(t, opts, proc)
	waitFor(t, "all messages", 15*time.Second, func() bool { return proc.handled.Load() >= int64(len(values)) })
	waitFor(t, "dead letters acknowledged", 10*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_dlq_messages_total") >= float64(len(want))
	})
	require.True(t, r.c.Ready(), "still up and ready after poison")

	// Every dead letter is in the topic with its headers.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]Reason{}
	for len(got) < len(want) {
		m, err := rd.ReadMessage(ctx)
		require.NoError(t, err)
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		require.Equal(t, topic, h[HeaderSourceTopic])
		require.NotEmpty(t, h[HeaderError])
		key := h[HeaderSourcePartition] + "/" + h[HeaderSourceOffset]
		got[key] = Reason(h[HeaderReason])
		if Reason(h[HeaderReason]) == ReasonTooLarge {
			require.Len(t, m.Value, 1024)
			require.Equal(t, strconv.Itoa(len(poisons[ReasonTooLarge])), h[HeaderOriginalSize])
		} else {
			require.Equal(t, poisons[Reason(h[HeaderReason])], m.Value)
		}
	}
	require.Equal(t, want, got)

	require.NoError(t, r.stop(t))
	requireExact(t, store, topic, good, poison)
	for _, reason := range reasons {
		require.Equal(t, float64(len(want)/len(reasons)), counterValue(t, r.reg, "normwatch_decode_errors_total", "reason", string(reason)), reason)
	}
	require.Zero(t, counterValue(t, r.reg, "normwatch_decode_errors_total", "reason", string(ReasonMissingModel)))
}

func TestConsumerRebalance(t *testing.T) {
	brokers, _ := testBrokers(t)
	const partitions, half = 4, 400
	topic, group := testTopic(t, "events"), testTopic(t, "group")
	createTopic(t, brokers, topic, partitions)
	first := produce(t, brokers, topic, partitions, goodEvents(0, half))

	store, err := NewFileCheckpoints(t.TempDir(), group)
	require.NoError(t, err)
	procA, procB := &countingProcessor{store: store}, &countingProcessor{store: store}
	a := startConsumer(t, testOptions(t, brokers, topic, group), procA)
	waitFor(t, "the first half", 15*time.Second, func() bool { return procA.handled.Load() >= half })

	b := startConsumer(t, testOptions(t, brokers, topic, group), procB)
	waitFor(t, "the second consumer to get partitions", 15*time.Second, func() bool { return procB.opened.Load() > 0 })
	second := produce(t, brokers, topic, partitions, goodEvents(half, half))
	waitFor(t, "the second half", 15*time.Second, func() bool {
		return procA.handled.Load()+procB.handled.Load() >= 2*half
	})
	require.NoError(t, b.stop(t))
	require.NoError(t, a.stop(t))

	require.EqualValues(t, 2*half, procA.handled.Load()+procB.handled.Load(), "no event handled twice")
	good := make([]int, partitions)
	for p := range good {
		good[p] = first[p] + second[p]
	}
	requireExact(t, store, topic, good, make([]int, partitions))
	require.Positive(t, procB.handled.Load())
	t.Logf("A handled %d, B handled %d; redeliveries skipped: A %v, B %v", procA.handled.Load(), procB.handled.Load(),
		counterValue(t, a.reg, "normwatch_redeliveries_skipped_total"), counterValue(t, b.reg, "normwatch_redeliveries_skipped_total"))
}

func TestConsumerCrashBeforeCommit(t *testing.T) {
	brokers, _ := testBrokers(t)
	const partitions, n = 2, 300
	topic, group := testTopic(t, "events"), testTopic(t, "group")
	createTopic(t, brokers, topic, partitions)
	good := produce(t, brokers, topic, partitions, goodEvents(0, n))
	store, err := NewFileCheckpoints(t.TempDir(), group)
	require.NoError(t, err)

	// First life: checkpoints succeed, commits never reach the group: the
	// process dies between the two, every time.
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, group)
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(opts, proc, reg)
	require.NoError(t, err)
	c.commitFilter = func(string, int, int64) bool { return false }
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	waitFor(t, "all events once", 15*time.Second, func() bool { return proc.handled.Load() >= n })
	c.Stop()
	err = <-done
	require.ErrorIs(t, err, ErrUncleanShutdown, "offsets left uncommitted")
	require.ErrorContains(t, err, fmt.Sprintf("%d partitions' offsets not committed", partitions))
	require.Zero(t, counterValue(t, reg, "normwatch_offset_commits_total"))

	// Second life: the group has no offset; the partitions start after
	// their checkpoints, which hold every event, so nothing is applied
	// again, and the checkpointed offsets are committed at last.
	proc2 := &countingProcessor{store: store}
	r := startConsumer(t, opts, proc2)
	waitFor(t, "commits after restart", 15*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_offset_commits_total", "result", "ok") >= partitions
	})
	require.NoError(t, r.stop(t))
	require.Zero(t, proc2.handled.Load(), "nothing applied twice")
	requireExact(t, store, topic, good, make([]int, partitions))
}

func TestConsumerRecoversFromFaults(t *testing.T) {
	brokers, e := testBrokers(t, EmbeddedOptions{Brokers: 3})
	if e == nil {
		t.Skip("needs the embedded broker's control hooks")
	}
	cl := e.Cluster()
	const partitions, third = 3, 200
	topic := testTopic(t, "events")
	createTopic(t, brokers, topic, partitions)
	good := make([]int, partitions)
	add := func(counts []int) {
		for p := range counts {
			good[p] += counts[p]
		}
	}
	add(produce(t, brokers, topic, partitions, goodEvents(0, third)))

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	r := startConsumer(t, testOptions(t, brokers, topic, testTopic(t, "group")), proc)
	waitFor(t, "the first third", 15*time.Second, func() bool { return proc.handled.Load() >= third })

	// Fetch connections dropped by the broker, several in a row.
	var fetchDrops atomic.Int32
	cl.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if fetchDrops.Add(1) > 8 {
			return nil, nil, false
		}
		cl.KeepControl()
		return nil, errors.New("injected: fetch connection dropped"), true
	})
	add(produce(t, brokers, topic, partitions, goodEvents(third, third)))
	waitFor(t, "the second third", 15*time.Second, func() bool { return proc.handled.Load() >= 2*third })
	require.Greater(t, fetchDrops.Load(), int32(8))

	// Leaders move, and the group coordinator drops the heartbeats'
	// connection, ending the generation.
	cl.ShufflePartitionLeaders()
	for p := range partitions {
		require.NoError(t, cl.MoveTopicPartition(topic, int32(p), (cl.LeaderFor(topic, int32(p))+1)%3))
	}
	var hbDrops atomic.Int32
	cl.ControlKey(kmsg.Heartbeat.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if hbDrops.Add(1) > 2 {
			return nil, nil, false
		}
		cl.KeepControl()
		return nil, errors.New("injected: coordinator connection dropped"), true
	})
	waitFor(t, "a new generation after the lost heartbeats", 15*time.Second, func() bool {
		return hbDrops.Load() > 2 && proc.opened.Load() > partitions
	})
	add(produce(t, brokers, topic, partitions, goodEvents(2*third, third)))
	waitFor(t, "every event", 15*time.Second, func() bool { return proc.handled.Load() >= 3*third })
	waitFor(t, "readiness after the faults", 15*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))

	require.EqualValues(t, 3*third, proc.handled.Load())
	requireExact(t, store, topic, good, make([]int, partitions))
	require.Positive(t, counterValue(t, r.reg, "normwatch_kafka_reconnects_total"))
}

func TestConsumerCorruptCheckpointStops(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic, group := testTopic(t, "events"), testTopic(t, "group")
	createTopic(t, brokers, topic, 1)
	store, err := NewFileCheckpoints(t.TempDir(), group)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(store.Path(topic, 0), []byte("not a checkpoint at all, and long enough to have a header"), 0o600))

	c, err := NewConsumer(testOptions(t, brokers, topic, group), &countingProcessor{store: store}, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrCorruptCheckpoint)
		require.Contains(t, err.Error(), store.Path(topic, 0))
	case <-time.After(15 * time.Second):
		c.Stop()
		t.Fatal("a corrupt checkpoint did not stop the consumer")
	}
}

func TestConsumerDLQUnwritableHoldsCommits(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic, dlq := testTopic(t, "events"), testTopic(t, "dlq")
	createTopic(t, brokers, topic, 1)
	values := append(goodEvents(0, 5), []byte("not json"))
	values = append(values, goodEvents(5, 5)...)
	good := produce(t, brokers, topic, 1, values)

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	opts.DLQTopic = dlq // not created yet: every write fails
	r := startConsumer(t, opts, proc)
	waitFor(t, "the messages", 10*time.Second, func() bool { return proc.handled.Load() >= int64(len(values)) })
	waitFor(t, "unreadiness", 10*time.Second, func() bool { return !r.c.Ready() })
	require.Zero(t, counterValue(t, r.reg, "normwatch_checkpoints_total"), "no checkpoint past an unwritten letter")
	require.Zero(t, counterValue(t, r.reg, "normwatch_offset_commits_total"))

	createTopic(t, brokers, dlq, 1)
	waitFor(t, "the letter written and committed", 15*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_dlq_messages_total") == 1 &&
			counterValue(t, r.reg, "normwatch_offset_commits_total", "result", "ok") > 0
	})
	waitFor(t, "readiness", 5*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))
	requireExact(t, store, topic, []int{good[0] - 1}, []int{1})
}

// TestConsumerTimeFallbacks: events whose time cannot be used are applied
// with their Kafka timestamp, counted by reason, and never dead-lettered.
func TestConsumerTimeFallbacks(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "events")
	createTopic(t, brokers, topic, 1)
	values := [][]byte{
		[]byte(`{"ts":"2026-12-01 20:50:00","model":"m","model_version":"v1","features":{"x":1},"embeddings":{"q":[1]}}`),
		[]byte(`{"ts":1796158200,"model":"m","model_version":"v1","features":{"x":2},"embeddings":{"q":[1]}}`),
		[]byte(`{"ts":"01/12/2026","model":"m","model_version":"v1","features":{"x":3},"embeddings":{"q":[1]}}`),
		[]byte(`{"ts":true,"model":"m","model_version":"v1","features":{"x":4},"embeddings":{"q":[1]}}`),
		[]byte(`{"ts":1e300,"model":"m","model_version":"v1","features":{"x":5},"embeddings":{"q":[1]}}`),
		[]byte(`{"model":"m","model_version":"v1","features":{"x":6},"embeddings":{"q":[1]}}`),
	}
	produce(t, brokers, topic, 1, values)
	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	r := startConsumer(t, testOptions(t, brokers, topic, testTopic(t, "group")), proc)
	waitFor(t, "all events", 15*time.Second, func() bool { return proc.handled.Load() >= int64(len(values)) })
	require.NoError(t, r.stop(t))
	requireExact(t, store, topic, []int{len(values)}, []int{0})
	require.Zero(t, counterValue(t, r.reg, "normwatch_decode_errors_total"))
	for reason, n := range map[TimeFallback]float64{
		TimeFallbackBadFormat: 1, TimeFallbackBadType: 1, TimeFallbackOutOfRange: 1, TimeFallbackAbsent: 1,
	} {
		require.Equal(t, n, counterValue(t, r.reg, "normwatch_event_time_fallbacks_total", "reason", string(reason)), reason)
	}
}

// TestConsumerPoisonPill: a processor that panics on some events (a bug of
// ours) does not stop its partition: each such message is dead-lettered
// with reason internal_error, every other one is applied once, and a
// restart over the same messages does not panic again on them.
func TestConsumerPoisonPill(t *testing.T) {
	brokers, _ := testBrokers(t)
	const partitions, n = 2, 200
	topic, dlq, group := testTopic(t, "events"), testTopic(t, "dlq"), testTopic(t, "group")
	createTopic(t, brokers, topic, partitions)
	createTopic(t, brokers, dlq, 1)
	values := goodEvents(0, n)
	produce(t, brokers, topic, partitions, values)
	bad := func(ev *Event) bool { return len(ev.Features) == 1 && int(ev.Features[0].Value)%25 == 7 }
	const pills = n / 25

	store, err := NewFileCheckpoints(t.TempDir(), group)
	require.NoError(t, err)
	opts := testOptions(t, brokers, topic, group)
	opts.DLQTopic = dlq
	proc := &countingProcessor{store: store, panicOn: bad}
	r := startConsumer(t, opts, proc)
	waitFor(t, "every message handled", 15*time.Second, func() bool { return proc.handled.Load() >= n })
	waitFor(t, "the pills dead-lettered", 10*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_dlq_messages_total") >= pills
	})
	require.True(t, r.c.Ready(), "still up and ready after the pills")
	require.Equal(t, float64(pills), counterValue(t, r.reg, "normwatch_decode_errors_total", "reason", string(ReasonInternalError)))
	require.NoError(t, r.stop(t))
	var applied, skipped int
	for p := range partitions {
		st := stateOf(t, store, topic, p)
		applied += st.Applied
		skipped += st.Skipped
		require.Zero(t, st.OutOfOrder)
	}
	require.Equal(t, n-pills, applied)
	require.Equal(t, pills, skipped)

	// Every letter says why.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range pills {
		m, err := rd.ReadMessage(ctx)
		require.NoError(t, err)
		for _, h := range m.Headers {
			if h.Key == HeaderReason {
				require.Equal(t, string(ReasonInternalError), string(h.Value))
			}
		}
	}

	// A restart with the checkpoints in place re-reads nothing it holds:
	// no pill is applied again.
	proc2 := &countingProcessor{store: store, panicOn: func(*Event) bool { panic("re-applied a message the checkpoint holds") }}
	produce(t, brokers, topic, partitions, goodEvents(1000, 4))
	r2 := startConsumer(t, opts, proc2)
	waitFor(t, "the new messages", 15*time.Second, func() bool { return proc2.handled.Load() >= 4 })
	require.NoError(t, r2.stop(t))
	require.EqualValues(t, 4, counterValue(t, r2.reg, "normwatch_decode_errors_total", "reason", string(ReasonInternalError)),
		"only the 4 new messages reached Apply")
}
