package stream

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// produceAt writes n messages to partition i mod partitions, message i
// stamped base + i seconds, and returns the messages per partition.
func produceAt(t *testing.T, brokers []string, topic string, partitions, n int, base time.Time) [][]int {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Transport: tr, Topic: topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	per := make([][]int, partitions)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i)), Time: base.Add(time.Duration(i) * time.Second)}
		per[i%partitions] = append(per[i%partitions], i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	return per
}

func TestReadRange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emb, err := StartEmbedded(ctx, EmbeddedOptions{Topics: []string{"range"}, Partitions: 2})
	require.NoError(t, err)
	defer emb.Close()
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	per := produceAt(t, emb.Addrs(), "range", 2, 100, base) // 50 a partition, offsets 0..49

	read := func(opts RangeOptions) (map[int][]int, []PartitionRange) {
		t.Helper()
		opts.Brokers, opts.Topic, opts.Timeout = emb.Addrs(), "range", 5*time.Second
		got := map[int][]int{}
		rs, err := ReadRange(ctx, opts, func(m *kafka.Message) error {
			v, err := strconv.Atoi(string(m.Value))
			require.NoError(t, err)
			got[m.Partition] = append(got[m.Partition], v)
			return nil
		})
		require.NoError(t, err)
		return got, rs
	}
	for _, tc := range []struct {
		name   string
		opts   RangeOptions
		lo, hi int // the range of per-partition indexes expected: [lo, hi)
	}{
		{"everything", RangeOptions{FromOffset: -1}, 0, 50},
		{"offsets", RangeOptions{FromOffset: 10, ToOffset: 20}, 10, 20},
		{"past the end", RangeOptions{FromOffset: 45, ToOffset: 1000}, 45, 50},
		// Partition 0 holds even messages: message 2k at base+2k s.
		{"times", RangeOptions{FromOffset: -1, FromTime: base.Add(20 * time.Second), ToTime: base.Add(40 * time.Second)}, 10, 20},
		{"empty", RangeOptions{FromOffset: 30, ToOffset: 30}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rs := read(tc.opts)
			require.Len(t, rs, 2)
			for p := range 2 {
				want := per[p][tc.lo:tc.hi]
				if len(want) == 0 {
					require.Empty(t, got[p])
					continue
				}
				require.Equal(t, want, got[p], "partition %d", p)
				require.Equal(t, int64(len(want)), rs[p].Read)
				require.Equal(t, int64(tc.lo), rs[p].From)
			}
		})
	}
	got, rs := read(RangeOptions{FromOffset: -1, Partitions: []int{1}})
	require.Len(t, rs, 1)
	require.Equal(t, per[1], got[1])
	require.Empty(t, got[0])

	_, err = ReadRange(ctx, RangeOptions{Brokers: emb.Addrs(), Topic: "range", Partitions: []int{7}}, func(*kafka.Message) error { return nil })
	require.ErrorContains(t, err, "no partition 7")
}
