package process

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
)

// TestHostileStreamsProcess: every hostile stream of sketchtest is one
// feature of a real daemon's events (ties at clip bounds, constants, values
// near ±MaxFloat64 and subnormals; JSON has no NaN or infinity, so those
// arrive as null), with a checkpoint every second and windows closing all
// along the stream. The daemon never exits on its own, catches no internal
// error, and after a kill -9 and a restart its counts are exact.
func TestHostileStreamsProcess(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	streams := sketchtest.Streams()
	vals := make([][]float64, len(streams))
	for k, st := range streams {
		vals[k] = st.Gen(rand.New(rand.NewPCG(uint64(k), 17)), n)
	}
	msg := func(i int) []byte {
		var sb strings.Builder
		for k, st := range streams {
			x := vals[k][i]
			v := "null"
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				v = strconv.FormatFloat(x, 'g', -1, 64)
			}
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q:%s", st.Name, v)
		}
		ts := epoch.Add(time.Duration(i) * eventStep).Format("2006-01-02T15:04:05.000Z07:00")
		return fmt.Appendf(nil, `{"ts":%q,"model":%q,"model_version":%q,"features":{%s}}`, ts, model, versions[0], sb.String())
	}
	mustProduceWith(t, b.addrs, c.topic, 0, n/3, msg, 0)

	d := startDaemon(t, "first", c)
	d.waitReady()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- produceWith(ctx, b.addrs, c.topic, n/3, n, msg, 40*time.Millisecond)
	}()
	waitFor(t, "the daemon halfway through, past its first checkpoints", 30*time.Second, func() bool {
		return d.applied() >= n/2 && d.metric(`normwatch_checkpoints_total{result="ok"}`) >= partitions
	})
	time.Sleep(checkpointInterval / 2)
	require.False(t, d.exited(), "the daemon exited on its own:\n%s", d.tail(40))
	require.Zero(t, d.metric("normwatch_internal_errors_total"), "internal errors before the kill:\n%s", d.tail(40))
	d.kill9()

	d2 := startDaemon(t, "restarted", c)
	require.NoError(t, <-done)
	waitFor(t, "every event counted", 45*time.Second, func() bool {
		cs := d2.cumulative()[versions[0]]
		return cs != nil && cs.Events >= n
	})
	time.Sleep(windowSize + 500*time.Millisecond) // a double count would show now
	cs := d2.cumulative()[versions[0]]
	require.NotNil(t, cs)
	require.EqualValues(t, n, cs.Events)
	require.Len(t, cs.Features, len(streams))
	byName := map[string]int{}
	for i, f := range cs.Features {
		byName[f.Name] = i
	}
	for k, st := range streams {
		var finite, missing uint64
		for _, x := range vals[k] {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				missing++
			} else {
				finite++
			}
		}
		f := cs.Features[byName[st.Name]]
		require.Equal(t, finite, f.Count, "%s: finite values", st.Name)
		require.Equal(t, missing, f.Missing, "%s: missing values", st.Name)
	}
	require.Zero(t, d2.metric("normwatch_internal_errors_total"), "internal errors after the restart")
	require.Zero(t, d2.metric("normwatch_decode_errors_total"), "every hostile value decoded")
	require.False(t, d2.exited())
	d2.stop()
}

func mustProduceWith(t *testing.T, brokers []string, topic string, from, to int, msg func(int) []byte, pause time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, produceWith(ctx, brokers, topic, from, to, msg, pause))
}

// produceWith writes msg(i) for i in [from, to), message i to partition i
// mod 3, in batches of 100 with pause between them.
func produceWith(ctx context.Context, brokers []string, topic string, from, to int, msg func(int) []byte, pause time.Duration) error {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Transport: tr, Topic: topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchBytes: 16 << 20,
		BatchTimeout: time.Millisecond, MaxAttempts: 20,
	}
	defer w.Close()
	for lo := from; lo < to; lo += 100 {
		hi := min(lo+100, to)
		msgs := make([]kafka.Message, 0, hi-lo)
		for i := lo; i < hi; i++ {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: msg(i)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("producing events %d to %d: %w", lo, hi, err)
		}
		if pause > 0 && hi < to {
			time.Sleep(pause)
		}
	}
	return nil
}
