package stream

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// A broker that hangs (accepts connections, never answers) as the consumer
// stops with dead letters and state in hand: Run returns within
// ShutdownTimeout with ErrUncleanShutdown counting what was not written.
// Partition 1, whose letters could not be written, is not checkpointed
// past them; partition 0, which has none, is checkpointed on disk but not
// committed. Once the broker is back, the next life re-reads partition 1
// only: each message is applied once, each dead letter is in the topic
// once.
func TestConsumerShutdownHungBroker(t *testing.T) {
	if os.Getenv("NORMWATCH_TEST_BROKERS") != "" {
		t.Skip("a real broker cannot be made to hang from the test")
	}
	hang := &HangSwitch{}
	brokers, _ := testBrokers(t, EmbeddedOptions{Hang: hang})
	const partitions, n = 2, 200
	topic, dlq := testTopic(t, "events"), testTopic(t, "dlq")
	createTopic(t, brokers, topic, partitions)
	createTopic(t, brokers, dlq, 1)
	var values [][]byte
	good, poison := make([]int, partitions), make([]int, partitions)
	for i := range n {
		if i%10 == 7 { // odd: all on partition 1
			values = append(values, []byte(`{"model": "m", "features": {`))
			poison[i%partitions]++
		} else {
			values = append(values, goodEvents(i, 1)[0])
			good[i%partitions]++
		}
	}
	produce(t, brokers, topic, partitions, values)
	letters := poison[1]
	require.Zero(t, poison[0])

	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	proc := &countingProcessor{store: store}
	opts := testOptions(t, brokers, topic, testTopic(t, "group"))
	opts.DLQTopic = dlq
	opts.CheckpointInterval = time.Hour // everything is still in hand at Stop
	opts.ShutdownTimeout = 2 * time.Second
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(opts, proc, reg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	waitFor(t, "every message handled", 15*time.Second, func() bool { return proc.handled.Load() >= n })

	hang.Hang()
	start := time.Now()
	c.Stop()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return with the broker hung")
	}
	elapsed := time.Since(start)
	t.Logf("stopped in %v with the broker hung: %v", elapsed.Round(time.Millisecond), err)
	require.Less(t, elapsed, opts.ShutdownTimeout+2*time.Second, "bounded by the shutdown timeout")
	require.ErrorIs(t, err, ErrUncleanShutdown)
	require.ErrorContains(t, err, fmt.Sprintf("%d dead letters not written", letters))
	require.ErrorContains(t, err, fmt.Sprintf("%d messages not checkpointed", good[1]+poison[1]))
	require.ErrorContains(t, err, "1 partitions' offsets not committed")
	require.Equal(t, int64(good[0]-1), stateOf(t, store, topic, 0).Last, "partition 0 checkpointed")
	require.Equal(t, int64(-1), stateOf(t, store, topic, 1).Last, "no checkpoint past an unwritten letter")
	require.Zero(t, counterValue(t, reg, "normwatch_offset_commits_total", "result", "ok"))
	require.Zero(t, counterValue(t, reg, "normwatch_dlq_messages_total"))

	// The broker restarts; the next life re-reads partition 1.
	hang.Restart()
	proc2 := &countingProcessor{store: store}
	opts2 := testOptions(t, brokers, topic, opts.GroupID)
	opts2.DLQTopic = dlq
	r := startConsumer(t, opts2, proc2)
	waitFor(t, "partition 1 again", 30*time.Second, func() bool { return proc2.handled.Load() >= int64(good[1]+poison[1]) })
	waitFor(t, "the letters written", 10*time.Second, func() bool {
		return counterValue(t, r.reg, "normwatch_dlq_messages_total") >= float64(letters)
	})
	require.NoError(t, r.stop(t))
	require.Equal(t, int64(good[1]+poison[1]), proc2.handled.Load(), "partition 0 not re-read")
	requireExact(t, store, topic, good, poison)

	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	var last kafka.Message
	for range letters {
		last, err = rd.ReadMessage(ctx)
		require.NoError(t, err)
		h := map[string]string{}
		for _, hd := range last.Headers {
			h[hd.Key] = string(hd.Value)
		}
		seen[h[HeaderSourcePartition]+"/"+h[HeaderSourceOffset]] = true
	}
	require.Len(t, seen, letters, "each letter once")
	require.Equal(t, int64(letters), last.HighWaterMark, "and no more")
}
