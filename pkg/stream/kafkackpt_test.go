package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// newKafkaStore opens the checkpoint store of group on topic, as one
// process would.
func newKafkaStore(t testing.TB, brokers []string, topic, group string) *KafkaCheckpoints {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := NewKafkaCheckpoints(ctx, KafkaCheckpointOptions{
		Brokers: brokers, Topic: topic, GroupID: group, Partitions: 3,
		RequestTimeout: 5 * time.Second, RestoreTimeout: 20 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// randomBytes returns n bytes of a seeded generator.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// loadAs claims topic/partition for generation gen on s and loads it.
func loadAs(t *testing.T, s *KafkaCheckpoints, topic string, partition int, gen int32, member string) []byte {
	t.Helper()
	s.Claim(topic, partition, Owner{Generation: gen, MemberID: member})
	data, err := s.Load(topic, partition)
	require.NoError(t, err)
	return data
}

func TestKafkaCheckpointsRoundTrip(t *testing.T) {
	brokers, _ := testBrokers(t)
	tests := []struct {
		name  string
		sizes []int // successive saves; the last is what a restore finds
	}{
		{name: "small", sizes: []int{100, 37}},
		{name: "exactly one chunk", sizes: []int{kafkaChunkBytes}},
		{name: "over the default message.max.bytes", sizes: []int{1<<20 + 3}},
		{name: "fewer chunks than the slot held before", sizes: []int{5*kafkaChunkBytes + 1, 10, 3*kafkaChunkBytes - 1, 2 * kafkaChunkBytes}},
		{name: "empty", sizes: []int{50, 0}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := testTopic(t, "ckpt")
			group := "g-" + tc.name
			w := newKafkaStore(t, brokers, topic, group)
			require.Nil(t, loadAs(t, w, "events", 4, 1, "m1"), "a partition never saved restores nothing")
			var last []byte
			for j, n := range tc.sizes {
				last = randomBytes(uint64(100*i+j), n)
				require.NoError(t, w.Save("events", 4, last))
			}
			// Another process, as after a rebalance, and a group that shares
			// the topic: neither sees the other's partitions.
			r := newKafkaStore(t, brokers, topic, group)
			got := loadAs(t, r, "events", 4, 2, "m2")
			require.Equal(t, len(last), len(got))
			require.True(t, bytes.Equal(last, got), "restored bytes differ")
			require.Nil(t, loadAs(t, newKafkaStore(t, brokers, topic, group+"-other"), "events", 4, 1, "m3"))
			require.Nil(t, loadAs(t, r, "events", 5, 2, "m2"))
		})
	}
}

// TestKafkaCheckpointsFencing: a zombie of generation 5 writes after the
// owner of generation 6 took over; every later restore, before and after
// compaction, takes the owner's state. A process that claims the
// partition for a generation below one that has written is fenced.
func TestKafkaCheckpointsFencing(t *testing.T) {
	brokers, emb := testBrokers(t)
	topic := testTopic(t, "ckpt")
	const group, src = "fence", "events"

	zombie := newKafkaStore(t, brokers, topic, group)
	require.Nil(t, loadAs(t, zombie, src, 0, 5, "a"))
	require.NoError(t, zombie.Save(src, 0, []byte("gen5 offset 100")))

	// The zombie is paused past its session timeout; generation 6 gives
	// the partition to another process, which restores and goes on.
	owner := newKafkaStore(t, brokers, topic, group)
	require.Equal(t, "gen5 offset 100", string(loadAs(t, owner, src, 0, 6, "b")))
	require.NoError(t, owner.Save(src, 0, []byte("gen6 offset 150")))
	require.NoError(t, owner.Save(src, 0, []byte("gen6 offset 200")))

	// The zombie resumes and writes what it had in hand: the last record of
	// the partition is now its own.
	require.NoError(t, zombie.Save(src, 0, []byte("gen5 offset 130")))
	require.NoError(t, zombie.Save(src, 0, []byte("gen5 offset 160")))

	restore := func(gen int32) string {
		return string(loadAs(t, newKafkaStore(t, brokers, topic, group), src, 0, gen, "c"))
	}
	require.Equal(t, "gen6 offset 200", restore(7), "the highest generation wins, not the last record")
	if emb != nil {
		emb.Cluster().Compact()
		require.Equal(t, "gen6 offset 200", restore(7), "after compaction")
	}

	// The owner's first save tombstoned generation 5's keys; the zombie's
	// late writes made them again. The next owner's first save removes
	// them: after compaction one writer's slots remain.
	next := newKafkaStore(t, brokers, topic, group)
	require.Equal(t, "gen6 offset 200", string(loadAs(t, next, src, 0, 8, "d")))
	require.NoError(t, next.Save(src, 0, []byte("gen8 offset 300")))
	if emb != nil {
		emb.Cluster().Compact()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc, err := next.scan(ctx, next.partitionOf(src, 0), next.keyPrefix(src, 0))
	require.NoError(t, err)
	for k := range sc.live {
		require.Equal(t, token{0, 8}, k.tok, "a superseded writer's key is live: %+v", k)
	}

	// A process whose generation 7 ended before it restored (paused
	// between assignment and restore) reads generation 8's state but may
	// not write it: the coordinator does not know its generation.
	late := newKafkaStore(t, brokers, topic, group)
	require.Equal(t, "gen8 offset 300", string(loadAs(t, late, src, 0, 7, "e")))
	err = late.Save(src, 0, []byte("gen7 offset 250"))
	require.ErrorIs(t, err, ErrFenced)
	require.Equal(t, "gen8 offset 300", restore(9))
}

// TestKafkaCheckpointsGenerationsStartOver: when the group was deleted and
// made anew, its generations count from 1 again, below the tokens in the
// topic. The coordinator confirms the claim's generation, and the new
// owner writes in the next era, above everything before.
func TestKafkaCheckpointsGenerationsStartOver(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "ckpt")
	src := testTopic(t, "src")
	createTopic(t, brokers, src, 1)
	group := testTopic(t, "group")

	old := newKafkaStore(t, brokers, topic, group)
	require.Nil(t, loadAs(t, old, src, 0, 57, "old"))
	require.NoError(t, old.Save(src, 0, []byte("era0 gen57")))

	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: brokers, Topics: []string{src},
		SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, RebalanceTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	defer cg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A broker just started may not have a group coordinator yet.
	var gen *kafka.Generation
	for gen == nil {
		if gen, err = cg.Next(ctx); ctx.Err() != nil {
			require.NoError(t, err)
		}
	}
	require.Less(t, gen.ID, int32(57))

	s := newKafkaStore(t, brokers, topic, group)
	require.Equal(t, "era0 gen57", string(loadAs(t, s, src, 0, gen.ID, gen.MemberID)))
	require.NoError(t, s.Save(src, 0, []byte("era1")))
	got := loadAs(t, newKafkaStore(t, brokers, topic, group), src, 0, gen.ID+1, "x")
	require.Equal(t, "era1", string(got))

	// The old era's late write still loses.
	require.NoError(t, old.Save(src, 0, []byte("era0 gen57 late")))
	require.Equal(t, "era1", string(loadAs(t, newKafkaStore(t, brokers, topic, group), src, 0, gen.ID+1, "x")))
}

// TestKafkaCheckpointsInterruptedSave: a save that died between its chunks
// leaves its slot mixed; the restore takes the other slot, the last whole
// save.
func TestKafkaCheckpointsInterruptedSave(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "ckpt")
	const src = "events"
	s := newKafkaStore(t, brokers, topic, "g")
	require.Nil(t, loadAs(t, s, src, 2, 3, "m"))
	first := randomBytes(1, 2*kafkaChunkBytes+10)  // save 1, slot 1
	second := randomBytes(2, 2*kafkaChunkBytes+20) // save 2, slot 0
	require.NoError(t, s.Save(src, 2, first))
	require.NoError(t, s.Save(src, 2, second))

	// Save 3 goes to slot 1: only its first chunk lands.
	third := randomBytes(3, 2*kafkaChunkBytes+30)
	cl := s.claimOf(src, 2)
	prefix := s.keyPrefix(src, 2)
	sum := sha256.Sum256(third)
	v := []byte(kafkaValueMagic)
	v = binary.BigEndian.AppendUint64(v, 3)
	v = binary.BigEndian.AppendUint16(v, 0)
	v = binary.BigEndian.AppendUint16(v, 3)
	v = binary.BigEndian.AppendUint64(v, uint64(len(third)))
	v = append(v, sum[:]...)
	v = append(v, third[:kafkaChunkBytes]...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.produce(ctx, s.partitionOf(src, 2), kafka.Record{
		Key: kafka.NewBytes(appendKeySuffix(prefix, cl.tok, 1, 0)), Value: kafka.NewBytes(v),
	}))

	got := loadAs(t, newKafkaStore(t, brokers, topic, "g"), src, 2, 4, "n")
	require.True(t, bytes.Equal(second, got), "the last whole save is restored")
}

func TestKafkaCheckpointsTopicConfig(t *testing.T) {
	brokers, _ := testBrokers(t)
	t.Run("created compacted", func(t *testing.T) {
		topic := testTopic(t, "ckpt")
		s := newKafkaStore(t, brokers, topic, "g")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := s.cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy", "max.message.bytes"},
		}}})
		require.NoError(t, err)
		got := map[string]string{}
		for _, e := range res.Resources[0].ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
		require.Equal(t, map[string]string{"cleanup.policy": "compact", "max.message.bytes": "1048576"}, got)
		require.Equal(t, 3, s.partitions)
		// A second process finds it and accepts it.
		newKafkaStore(t, brokers, topic, "g")
	})

	tests := []struct {
		name    string
		configs map[string]string
		want    string
	}{
		{name: "delete policy", configs: map[string]string{"cleanup.policy": "delete"},
			want: `cleanup.policy is "delete", it must be compact`},
		{name: "compact and delete", configs: map[string]string{"cleanup.policy": "compact,delete"},
			want: `cleanup.policy is "compact,delete", it must be compact alone`},
		{name: "records too small", configs: map[string]string{"cleanup.policy": "compact", "max.message.bytes": "100000"},
			want: "max.message.bytes is 100000, it must be at least"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := testTopic(t, "ckpt")
			var entries []kafka.ConfigEntry
			for k, v := range tc.configs {
				entries = append(entries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
			res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
				Topic: topic, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: entries,
			}}})
			require.NoError(t, err)
			require.NoError(t, res.Errors[topic])
			_, err = NewKafkaCheckpoints(ctx, KafkaCheckpointOptions{Brokers: brokers, Topic: topic, GroupID: "g"})
			require.Error(t, err)
			require.Contains(t, err.Error(), "checkpoint topic "+topic+": "+tc.want)
			require.Contains(t, err.Error(), "kafka-configs.sh")
		})
	}
}

func TestKafkaCheckpointsUnclaimedSave(t *testing.T) {
	brokers, _ := testBrokers(t)
	s := newKafkaStore(t, brokers, testTopic(t, "ckpt"), "g")
	err := s.Save("events", 0, []byte("x"))
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrFenced))
	require.Contains(t, err.Error(), "not claimed")
}

// BenchmarkKafkaCheckpointRestore measures Load of one partition's
// checkpoint from the topic, of the sizes BenchmarkCheckpointSize
// (pkg/engine) reports for 20, 200 and 1000 features, after ten saves left
// uncompacted (the active segment's worst case): ns/op is the restore
// time, MB/s the bytes read.
func BenchmarkKafkaCheckpointRestore(b *testing.B) {
	brokers, _ := testBrokers(b)
	for _, size := range []int{470_000, 4_700_000, 23_400_000} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			topic := fmt.Sprintf("ckpt-bench-%d-%d", size, rand.Uint32())
			w := newKafkaStore(b, brokers, topic, "bench")
			w.Claim("events", 0, Owner{Generation: 1, MemberID: "w"})
			_, err := w.Load("events", 0)
			require.NoError(b, err)
			data := randomBytes(7, size)
			for range 10 {
				require.NoError(b, w.Save("events", 0, data))
			}
			r := newKafkaStore(b, brokers, topic, "bench")
			var read int64
			for b.Loop() {
				got, err := r.Load("events", 0)
				require.NoError(b, err)
				require.Len(b, got, size)
				read = int64(size) * 10
			}
			b.SetBytes(read)
		})
	}
}

// TestKafkaCheckpointsPartitionSpread: a topic's partitions take
// consecutive checkpoint partitions, so with as many of those as the topic
// has, each restore reads one source partition's records alone.
func TestKafkaCheckpointsPartitionSpread(t *testing.T) {
	tests := []struct {
		name              string
		source, ckpt      int
		mostPerCheckpoint int
	}{
		{name: "as many", source: 6, ckpt: 6, mostPerCheckpoint: 1},
		{name: "more checkpoint partitions", source: 6, ckpt: 12, mostPerCheckpoint: 1},
		{name: "fewer", source: 24, ckpt: 12, mostPerCheckpoint: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, topic := range []string{"events", "features.ranker", "x"} {
				s := &KafkaCheckpoints{opts: KafkaCheckpointOptions{GroupID: "normwatch"}, partitions: tc.ckpt}
				per := map[int]int{}
				for p := range tc.source {
					q := s.partitionOf(topic, p)
					require.True(t, q >= 0 && q < tc.ckpt)
					per[q]++
				}
				for q, n := range per {
					require.LessOrEqual(t, n, tc.mostPerCheckpoint, "%s: checkpoint partition %d holds %d source partitions", topic, q, n)
				}
			}
		})
	}
}

// TestKafkaCheckpointsOwned: Owned asks the group coordinator: a claim of
// a member in the group's current generation is owned; one of a member
// the group no longer has (a zombie's: its session expired, or it left)
// is fenced, and its saves refuse from then on.
func TestKafkaCheckpointsOwned(t *testing.T) {
	brokers, _ := testBrokers(t)
	topic := testTopic(t, "ckpt")
	src := testTopic(t, "src")
	createTopic(t, brokers, src, 1)
	group := testTopic(t, "group")

	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: brokers, Topics: []string{src},
		SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, RebalanceTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var gen *kafka.Generation
	for gen == nil {
		if gen, err = cg.Next(ctx); ctx.Err() != nil {
			require.NoError(t, err)
		}
	}

	s := newKafkaStore(t, brokers, topic, group)
	require.Error(t, s.Owned(src, 0), "not claimed")
	require.Nil(t, loadAs(t, s, src, 0, gen.ID, gen.MemberID))
	require.NoError(t, s.Owned(src, 0))
	require.NoError(t, s.Save(src, 0, []byte("owned")))

	zombie := newKafkaStore(t, brokers, topic, group)
	require.Equal(t, "owned", string(loadAs(t, zombie, src, 0, gen.ID+1, "a member the group does not have")))
	require.ErrorIs(t, zombie.Owned(src, 0), ErrFenced)
	require.ErrorIs(t, zombie.Save(src, 0, []byte("late")), ErrFenced)

	// The member leaves: its claim is no longer owned.
	require.NoError(t, cg.Close())
	require.ErrorIs(t, s.Owned(src, 0), ErrFenced)
	require.ErrorIs(t, s.Save(src, 0, []byte("after leaving")), ErrFenced)
}
