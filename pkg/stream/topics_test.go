package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logBuffer collects a consumer's log, safe for its goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// lines counts the lines that contain every one of parts.
func (l *logBuffer) lines(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// deleteTopic deletes topic through the controller.
func deleteTopic(t *testing.T, brokers []string, topic string) {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	require.NoError(t, err)
	defer conn.Close()
	ctrl, err := conn.Controller()
	require.NoError(t, err)
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	require.NoError(t, err)
	defer cc.Close()
	require.NoError(t, cc.DeleteTopics(topic))
}

// TestConsumerMissingTopic: a topic that does not exist is one WARN, a
// readiness reason and a metric, checked again with backoff, and no
// rebalance storm; the topics that exist are consumed meanwhile, and the
// missing one as soon as it appears. A topic deleted while consumed is
// the same, after at most a generation or two. On the embedded broker, and
// on a real one through NORMWATCH_TEST_BROKERS.
func TestConsumerMissingTopic(t *testing.T) {
	brokers, _ := testBrokers(t)
	present, missing := testTopic(t, "present"), testTopic(t, "missing")
	createTopic(t, brokers, present, 2)
	goodA := produce(t, brokers, present, 2, goodEvents(0, 200))

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, present, testTopic(t, "group"))
	opts.Topics = []string{present, missing}
	opts.TopicCheckInterval = 300 * time.Millisecond
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := startConsumer(t, opts, proc)

	waitFor(t, "the present topic's events", 20*time.Second, func() bool { return proc.handled.Load() >= 200 })
	waitFor(t, "the missing topic in the metric", 5*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_kafka_topic_missing", "topic", missing) == 1
	})
	require.Zero(t, counterValue(t, r.reg, "normwatch_kafka_topic_missing", "topic", present))
	// Some seconds of waiting: no storm, one WARN, not ready with the reason.
	gens := logs.count("joined consumer group generation")
	time.Sleep(3 * time.Second)
	gensAfter := logs.count("joined consumer group generation")
	t.Logf("generations: %d when consuming, %d after 3 s more with a topic missing; log %d bytes", gens, gensAfter, len(logs.String()))
	require.Equal(t, gens, gensAfter, "no rebalance while the topic is missing")
	require.LessOrEqual(t, gens, 2)
	require.Equal(t, 1, logs.lines(`level=WARN msg="topic does not exist; checking again with backoff, consuming the topics that do"`, "topic="+missing+" "))
	require.False(t, r.c.Ready())
	require.EqualError(t, r.c.NotReady(), "topic "+missing+" does not exist")
	require.Less(t, len(logs.String()), 16<<10, "the log stays quiet")

	// The topic appears: consumed without a restart.
	createTopic(t, brokers, missing, 2)
	goodB := produce(t, brokers, missing, 2, goodEvents(1000, 100))
	waitFor(t, "the new topic's events", 20*time.Second, func() bool { return proc.handled.Load() >= 300 })
	waitFor(t, "readiness", 10*time.Second, r.c.Ready)
	require.Zero(t, counterValue(t, r.reg, "normwatch_kafka_topic_missing", "topic", missing))
	require.Equal(t, 1, logs.lines(`level=INFO msg="topic exists now; consuming it"`, "topic="+missing))

	more := 0
	if os.Getenv("NORMWATCH_TEST_AUTO_CREATE") == "true" {
		// A broker that creates topics on demand re-creates a deleted one
		// at the next metadata request of any client: nothing to see.
		t.Log("the broker creates topics on demand: the deletion is not tried")
	} else {
		more = deletion(t, brokers, missing, r, logs)
	}

	// The present topic goes on, and nothing counted twice.
	moreA := produce(t, brokers, present, 2, goodEvents(200, 100))
	waitFor(t, "more events", 20*time.Second, func() bool { return proc.handled.Load() >= int64(400+more) })
	require.NoError(t, r.stop(t))
	for p := range goodA {
		goodA[p] += moreA[p]
	}
	requireExact(t, store, present, goodA, make([]int, 2))
	requireExact(t, store, missing, goodB, make([]int, 2))
}

// deletion deletes topic, which r consumes, and checks that the group
// re-joins without it quickly: no rebalance storm.
func deletion(t *testing.T, brokers []string, topic string, r *running, logs *logBuffer) int {
	missing := topic
	before := logs.count("joined consumer group generation")
	deleteTopic(t, brokers, missing)
	waitFor(t, "the deleted topic in the metric", 20*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_kafka_topic_missing", "topic", missing) == 1
	})
	waitFor(t, "a generation without it", 20*time.Second, func() bool {
		l := logs.String()
		i := strings.LastIndex(l, "re-joining the group with them")
		return i >= 0 && strings.Contains(l[i:], "joined consumer group generation")
	})
	time.Sleep(2 * time.Second)
	after := logs.count("joined consumer group generation")
	t.Logf("generations from the deletion to 2 s after the re-join: %d", after-before)
	require.LessOrEqual(t, after-before, 6, "no rebalance storm after a deletion")
	require.Equal(t, 2, logs.lines(`level=WARN msg="topic does not exist; checking again with backoff, consuming the topics that do"`, "topic="+missing+" "))
	return 0
}

// TestConsumerNoTopicYet: with no topic at all the consumer joins nothing,
// waits with backoff, says why it is not ready, stops cleanly, and starts
// consuming by itself once the topic appears.
func TestConsumerNoTopicYet(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "later")
	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	opts.TopicCheckInterval = 400 * time.Millisecond
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := startConsumer(t, opts, proc)
	waitFor(t, "the reason", 10*time.Second, func() bool {
		err := r.c.NotReady()
		return err != nil && err.Error() == "topic "+topic+" does not exist"
	})
	time.Sleep(2 * time.Second)
	require.Zero(t, logs.count("joining consumer group"), "no group joined without a topic")
	require.Equal(t, 1, logs.count("topic does not exist"))
	require.Equal(t, 1.0, counterValue(t, r.reg, "normwatch_kafka_topic_missing", "topic", topic))

	createTopic(t, brokers, topic, 1)
	good := produce(t, brokers, topic, 1, goodEvents(0, 50))
	waitFor(t, "the events", 20*time.Second, func() bool { return proc.handled.Load() >= 50 })
	waitFor(t, "readiness", 10*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))
	requireExact(t, store, topic, good, []int{0})

	// Stopping while waiting for a topic is clean too.
	opts.Topics = []string{testTopic(t, "never")}
	r2 := startConsumer(t, opts, &countingProcessor{store: store})
	waitFor(t, "the reason", 10*time.Second, func() bool {
		return r2.c.NotReady() != nil && strings.Contains(r2.c.NotReady().Error(), "does not exist")
	})
	stopped := time.Now()
	require.NoError(t, r2.stop(t))
	require.Less(t, time.Since(stopped), 5*time.Second)

}

// failingStore is a CheckpointStore whose saves fail while fail is set.
type failingStore struct {
	CheckpointStore
	fail atomic.Bool
}

func (f *failingStore) Save(topic string, partition int, data []byte) error {
	if f.fail.Load() {
		return errors.New("no space left on device (injected)")
	}
	return f.CheckpointStore.Save(topic, partition, data)
}

// TestNotReadyNamesTheCause: failing checkpoints are the readiness reason,
// with their error, not "joining the group".
func TestNotReadyNamesTheCause(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "events")
	createTopic(t, brokers, topic, 2)
	fs, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	store := &failingStore{CheckpointStore: fs}
	proc := &countingProcessor{store: store}
	// Not asserted not ready at first: on a loaded machine the test's
	// thread can wait longer than the embedded broker's join takes (seen
	// in CI: ready 60 ms after the start).
	r := startConsumer(t, testOptions(t, brokers, topic, testTopic(t, "group")), proc)
	produce(t, brokers, topic, 2, goodEvents(0, 100))
	waitFor(t, "the events", 15*time.Second, func() bool { return proc.handled.Load() >= 100 })
	waitFor(t, "readiness", 10*time.Second, r.c.Ready)

	store.fail.Store(true)
	produce(t, brokers, topic, 2, goodEvents(100, 100))
	waitFor(t, "the checkpoint failures as the reason", 15*time.Second, func() bool {
		err := r.c.NotReady()
		// Contains, not a prefix: on a loaded machine a transient fetch
		// failure may be listed before it.
		return err != nil && strings.Contains(err.Error(), "checkpoints failing on 2 partition(s): ") &&
			strings.Contains(err.Error(), "no space left on device (injected)")
	})
	store.fail.Store(false)
	waitFor(t, "readiness again", 15*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))
}

// TestConsumerOffsetPastLogEnd: a checkpoint whose offset is past the end
// of the partition's log (the topic deleted and created again; the
// embedded broker of `monitor run --kafka.embedded` restarted without its
// data) resumes from the start of the new log, once said, instead of
// failing every dial, and the new log's messages are applied, not taken
// for redeliveries. Before, the fetch failed forever, a WARN a second per
// partition.
func TestConsumerOffsetPastLogEnd(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "recreated")
	createTopic(t, brokers, topic, 2)
	first := produce(t, brokers, topic, 2, goodEvents(0, 300))
	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	r := startConsumer(t, opts, proc)
	waitFor(t, "the first log", 20*time.Second, func() bool { return proc.handled.Load() >= 300 })
	require.NoError(t, r.stop(t))
	requireExact(t, store, topic, first, make([]int, 2))

	deleteTopic(t, brokers, topic)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return CreateTopic(ctx, brokers, topic, 2) == nil
	}, 20*time.Second, 200*time.Millisecond, "the topic created again")
	second := produce(t, brokers, topic, 2, goodEvents(1000, 40))

	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	proc2 := &countingProcessor{store: store}
	r = startConsumer(t, opts, proc2)
	// One Skip per partition rewinds it, then the new log's messages.
	waitFor(t, "the new log", 20*time.Second, func() bool { return proc2.handled.Load() >= 40+2 })
	require.NoError(t, r.stop(t))
	for p := range 2 {
		st := stateOf(t, store, topic, p)
		require.Equal(t, first[p]+second[p], st.Applied, "partition %d: both logs' messages applied", p)
		require.Equal(t, int64(second[p]-1), st.Last, "partition %d", p)
		require.Equal(t, 1, st.OutOfOrder, "partition %d: rewound once", p)
	}
	require.Equal(t, 2, logs.lines(`level=WARN msg="offset past the end of the partition's log`), logs.String())
	require.Zero(t, logs.count("fetch failed"), logs.String())
}

// TestConsumerFetchFailuresQuiet: a partition whose fetches keep failing
// (a broker that drops every fetch) says so at WARN once it is news, then
// at most every fetchWarnEvery, not at every retry; readiness names it
// meanwhile, and consumption resumes when the fetches do.
func TestConsumerFetchFailuresQuiet(t *testing.T) {
	brokers, e := testBrokers(t)
	if e == nil {
		t.Skip("drops fetches with the embedded broker's request control")
	}
	cl := e.Cluster()
	topic := testTopic(t, "events")
	createTopic(t, brokers, topic, 2)
	good := produce(t, brokers, topic, 2, goodEvents(0, 100))
	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := startConsumer(t, opts, proc)
	waitFor(t, "the events", 15*time.Second, func() bool { return proc.handled.Load() >= 100 })

	var failing atomic.Bool
	var drops atomic.Int32
	failing.Store(true)
	cl.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		drops.Add(1)
		return nil, errors.New("injected: fetch connection dropped"), true
	})
	waitFor(t, "many failed fetches", 20*time.Second, func() bool { return drops.Load() >= 30 })
	waitFor(t, "the reason", 5*time.Second, func() bool {
		err := r.c.NotReady()
		return err != nil && strings.Contains(err.Error(), "fetches failing")
	})
	require.Equal(t, 2, logs.lines(`level=WARN msg="fetch failed; reconnecting"`), "one WARN per partition, at the third failure in a row:\n%s", logs.String())

	failing.Store(false)
	more := produce(t, brokers, topic, 2, goodEvents(100, 50))
	waitFor(t, "the events after", 20*time.Second, func() bool { return proc.handled.Load() >= 150 })
	waitFor(t, "readiness again", 10*time.Second, r.c.Ready)
	require.NoError(t, r.stop(t))
	for p := range good {
		good[p] += more[p]
	}
	requireExact(t, store, topic, good, make([]int, 2))
}
