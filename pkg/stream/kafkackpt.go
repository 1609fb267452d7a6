package stream

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// The Kafka checkpoint store keeps every partition's checkpoint in a
// compacted topic shared by the processes of a consumer group, so that the
// process the group gives a partition restores it wherever it runs.
//
// Records. A checkpoint is written as one or more chunks of at most
// kafkaChunkBytes (below the broker's default message.max.bytes of 1 MiB,
// whatever the checkpoint's size), each a record of its own, keyed
//
//	"NWK1" | group length uint16 | group | topic length uint16 | topic |
//	partition uint32 | era uint32 | generation int32 | slot uint8 | chunk uint16
//
// with the value
//
//	"NWV1" | sequence uint64 | chunk uint16 | chunks uint16 |
//	payload length uint64 | sha256 of the payload | the chunk's bytes
//
// all integers big-endian. Every record of one (group, topic, partition)
// goes to one partition of the checkpoint topic (partitionOf: a hash of the
// group and topic, plus the partition), so a restore reads one partition.
//
// Slots. Successive saves of one writer alternate between two slots
// (sequence mod 2). Compaction keeps the last record of each key, so a save
// that dies after some of its chunks has overwritten only its own slot: the
// other still holds the previous save whole. Restore takes, of the two, the
// complete one (every chunk of one sequence, the checksum right) with the
// higher sequence.
//
// Fence. Each writer holds a token (era, generation): the consumer group's
// generation in which the consumer claimed the partition (Claim), and an
// era that only grows when the group's generations started over (the group
// was deleted and made anew). Restore takes the highest token that has a
// complete checkpoint, never the last record written. The token is in the
// key, so compaction keeps each writer's last checkpoint beside the
// others': a zombie (a process paused past its session timeout, then
// resumed) writes under its old, lower token, and its late write, however
// late, is kept as its own key and loses to the new owner's at every
// restore, before and after compaction. Once the new owner's first
// checkpoint is written, it tombstones the keys of the lower tokens it
// found, so the topic keeps about one checkpoint per partition (a zombie's
// write after that is tombstoned by the next owner).
//
// A claim whose generation is not above every token found is either a
// zombie's (a newer generation has written) or follows a reset of the
// group's generations; a heartbeat to the group coordinator with the
// claim's generation tells them apart. A zombie is fenced: the state is
// restored but Save refuses with ErrFenced, so its offsets are never
// committed either (the coordinator refuses them too). After a reset the
// claim takes the next era.
//
// Offsets are committed by the consumer only after Save returns, and Save
// returns only once every chunk is acknowledged by all in-sync replicas.

// Defaults of KafkaCheckpointOptions and the checkpoint topic.
const (
	DefaultCheckpointTopic           = "normwatch-checkpoints"
	DefaultCheckpointTopicPartitions = 12
	DefaultCheckpointRestoreTimeout  = 2 * time.Minute

	// kafkaChunkBytes is the largest payload of one record: with its key and
	// the batch's overhead it stays below 1 MiB, the broker's default
	// message.max.bytes, so the store works on a topic made with defaults.
	kafkaChunkBytes = 512 << 10
	// kafkaRecordMinBytes is the max.message.bytes a checkpoint topic must
	// allow: a full chunk, its key (a group id and topic of up to 64 KiB
	// each) and the batch's overhead.
	kafkaRecordMinBytes = kafkaChunkBytes + 130<<10
	// kafkaFetchBytes bounds one fetch of a restore.
	kafkaFetchBytes = 8 << 20

	kafkaKeyMagic   = "NWK1"
	kafkaValueMagic = "NWV1"
	kafkaKeySuffix  = 4 + 4 + 1 + 2 // era, generation, slot, chunk
	kafkaValueHead  = 4 + 8 + 2 + 2 + 8 + sha256.Size
)

// checkpointTopicConfig is the configuration of a checkpoint topic the
// store creates. Only cleanup.policy and max.message.bytes are required of
// a topic that exists (see checkTopicConfig); the rest bound what a restore
// reads beyond the compacted records: the active segment and the segments
// the cleaner has not reached yet.
var checkpointTopicConfig = []kafka.ConfigEntry{
	// compact only: with delete, a partition idle past retention.ms would
	// lose its only checkpoint.
	{ConfigName: "cleanup.policy", ConfigValue: "compact"},
	{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(1 << 20)},
	// Small segments, rolled at least every 10 minutes and cleaned when a
	// tenth is dirty: a restore reads at most about one segment of
	// superseded checkpoints per partition.
	{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(16 << 20)},
	{ConfigName: "segment.ms", ConfigValue: strconv.Itoa(10 * 60 * 1000)},
	{ConfigName: "min.cleanable.dirty.ratio", ConfigValue: "0.1"},
	// No reader depends on when the cleaner runs (the slots keep one whole
	// checkpoint per writer at all times), so records may be compacted as
	// soon as they leave the active segment.
	{ConfigName: "min.compaction.lag.ms", ConfigValue: "0"},
	// Tombstones of superseded writers stay a day, as Kafka's default.
	{ConfigName: "delete.retention.ms", ConfigValue: strconv.Itoa(24 * 60 * 60 * 1000)},
}

// ErrFenced is wrapped by KafkaCheckpoints.Save when a newer owner of the
// partition has written its checkpoint: this process is a zombie of an
// older group generation, and must neither save nor commit.
var ErrFenced = errors.New("stream: checkpoint fenced by a newer owner of the partition")

// KafkaCheckpointOptions configures a KafkaCheckpoints.
type KafkaCheckpointOptions struct {
	Brokers []string
	// Topic is the compacted checkpoint topic, created at start if missing.
	Topic string
	// GroupID is the consumer group whose partitions' checkpoints the store
	// keeps; it is in every key, so groups can share the topic.
	GroupID string
	TLS     *tls.Config
	SASL    SASLOptions
	// Partitions and ReplicationFactor are those of a topic the store
	// creates; zero takes DefaultCheckpointTopicPartitions and the
	// broker's default.replication.factor.
	Partitions        int
	ReplicationFactor int
	DialTimeout       time.Duration
	RequestTimeout    time.Duration
	// RestoreTimeout bounds one Load: the scan of its checkpoint partition.
	RestoreTimeout time.Duration
	Logger         *slog.Logger
}

// Owner is the consumer group generation in which a consumer holds a
// partition, as the consumer claims it with KafkaCheckpoints.Claim.
type Owner struct {
	Generation int32
	MemberID   string
}

// Claimer is what a CheckpointStore shared by the processes of a group
// needs from the consumer: the generation that owns each partition,
// claimed before the processor restores it.
type Claimer interface {
	Claim(topic string, partition int, owner Owner)
}

// KafkaCheckpoints is a CheckpointStore in a compacted Kafka topic keyed by
// (group, topic, partition), fenced by the group's generations: see the
// comment at the top of kafkackpt.go.
//
// Load and Save of different partitions may run concurrently; one partition
// is used by one goroutine at a time, as the consumer does.
type KafkaCheckpoints struct {
	opts       KafkaCheckpointOptions
	cl         *kafka.Client
	tr         *kafka.Transport
	partitions int // of the checkpoint topic
	log        *slog.Logger

	mu     sync.Mutex
	claims map[TopicPartition]*claim
}

var (
	_ CheckpointStore  = (*KafkaCheckpoints)(nil)
	_ Claimer          = (*KafkaCheckpoints)(nil)
	_ OwnershipChecker = (*KafkaCheckpoints)(nil)
)

// OwnershipChecker is a CheckpointStore that can tell whether this process
// still holds a partition in its consumer group's current generation. The
// evaluation stage asks after each checkpoint, before it sends the alert
// changes of the judgements the checkpoint records.
type OwnershipChecker interface {
	// Owned returns nil while the partition is this process's, an error
	// wrapping ErrFenced once a newer generation holds it, and another
	// error when it cannot tell (the coordinator out of reach).
	Owned(topic string, partition int) error
}

// Owned implements OwnershipChecker with a heartbeat to the group
// coordinator in the generation and as the member that claimed the
// partition. The coordinator answers it without error, or with
// REBALANCE_IN_PROGRESS, only to a member of its current generation: then
// no other member holds the partition, and none can before this member's
// session, renewed by the heartbeat, expires or it rejoins. An answer of
// ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID (a newer generation formed
// without it: a zombie) fences the claim, so its later saves refuse too.
func (s *KafkaCheckpoints) Owned(topic string, partition int) error {
	cl := s.claimOf(topic, partition)
	switch {
	case cl == nil || !cl.restored:
		return fmt.Errorf("%w: %s/%d was not claimed and restored by this process", ErrFenced, topic, partition)
	case cl.fenced != nil:
		return cl.fenced
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	err := s.current(ctx, cl.owner)
	var ke kafka.Error
	switch {
	case err == nil || errors.As(err, &ke) && ke == kafka.RebalanceInProgress:
		return nil
	case errors.As(err, &ke) && (ke == kafka.IllegalGeneration || ke == kafka.UnknownMemberId || ke == kafka.FencedInstanceID):
		s.mu.Lock()
		cl.fenced = fmt.Errorf("%w: %s/%d: the group coordinator no longer takes generation %d of this process (%v)",
			ErrFenced, topic, partition, cl.owner.Generation, err)
		s.mu.Unlock()
		s.log.Warn("partition fenced: a newer generation of the group holds it; not saving nor committing",
			"partition_of", topic+"/"+strconv.Itoa(partition), "generation", cl.owner.Generation, "err", err)
		return cl.fenced
	}
	return fmt.Errorf("asking the group coordinator whether %s/%d is still this process's: %w", topic, partition, err)
}

// token orders the writers of a partition's checkpoints.
type token struct {
	era uint32
	gen int32
}

func (t token) compare(u token) int {
	if c := cmp.Compare(t.era, u.era); c != 0 {
		return c
	}
	return cmp.Compare(t.gen, u.gen)
}

func (t token) String() string { return fmt.Sprintf("era %d generation %d", t.era, t.gen) }

// claim is one partition's owner and what its restore found.
type claim struct {
	owner    Owner
	restored bool // Load ran for this claim
	tok      token
	fenced   error
	seq      uint64   // of the last save under tok
	stale    [][]byte // keys of lower tokens, tombstoned after the first save
}

// NewKafkaCheckpoints returns the store of opts.GroupID's checkpoints in
// opts.Topic, creating the topic with checkpointTopicConfig when it does not
// exist, and refusing one whose configuration would lose checkpoints, with
// an error that names what is wrong and how to fix it.
func NewKafkaCheckpoints(ctx context.Context, opts KafkaCheckpointOptions) (*KafkaCheckpoints, error) {
	switch {
	case len(opts.Brokers) == 0:
		return nil, errors.New("stream: kafka checkpoints: no brokers")
	case opts.GroupID == "":
		return nil, errors.New("stream: kafka checkpoints: the group id must not be empty")
	case len(opts.GroupID) > 0xffff:
		return nil, errors.New("stream: kafka checkpoints: the group id is over 65535 bytes")
	}
	if err := validTopic(opts.Topic); err != nil {
		return nil, fmt.Errorf("stream: kafka checkpoints: topic: %w", err)
	}
	if opts.Partitions == 0 {
		opts.Partitions = DefaultCheckpointTopicPartitions
	}
	if opts.ReplicationFactor == 0 {
		opts.ReplicationFactor = -1
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.RestoreTimeout == 0 {
		opts.RestoreTimeout = DefaultCheckpointRestoreTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mech, err := SASLMechanism(opts.SASL)
	if err != nil {
		return nil, err
	}
	tr := &kafka.Transport{ClientID: "normwatch", DialTimeout: opts.DialTimeout, TLS: opts.TLS, SASL: mech}
	s := &KafkaCheckpoints{
		opts: opts, tr: tr,
		cl:     &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Transport: tr, Timeout: opts.RequestTimeout},
		log:    opts.Logger.With("component", "checkpoints", "topic", opts.Topic),
		claims: map[TopicPartition]*claim{},
	}
	if s.partitions, err = s.ensureTopic(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// Close releases the store's connections.
func (s *KafkaCheckpoints) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// Topic returns the checkpoint topic.
func (s *KafkaCheckpoints) Topic() string { return s.opts.Topic }

// ensureTopic creates the checkpoint topic or checks the one that exists,
// and returns its partition count.
func (s *KafkaCheckpoints) ensureTopic(ctx context.Context) (int, error) {
	topic := s.opts.Topic
	n, err := s.topicPartitions(ctx)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		res, err := s.cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: topic, NumPartitions: s.opts.Partitions, ReplicationFactor: s.opts.ReplicationFactor,
			ConfigEntries: checkpointTopicConfig,
		}}})
		if err != nil {
			return 0, fmt.Errorf("creating checkpoint topic %s: %w", topic, err)
		}
		if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return 0, fmt.Errorf("creating checkpoint topic %s: %w", topic, err)
		}
		if !errors.Is(res.Errors[topic], kafka.TopicAlreadyExists) {
			s.log.Info("created the checkpoint topic", "partitions", s.opts.Partitions)
		}
		// A real broker answers before its metadata shows every partition led.
		for {
			if n, err = s.topicPartitions(ctx); err == nil && n > 0 {
				break
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("creating checkpoint topic %s: waiting for its partitions: %w", topic, errors.Join(ctx.Err(), err))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	cfg, err := describeTopicConfig(ctx, s.cl, topic, "cleanup.policy", "max.message.bytes")
	if err != nil {
		return 0, fmt.Errorf("reading the configuration of checkpoint topic %s: %w", topic, err)
	}
	if err := checkTopicConfig(topic, cfg); err != nil {
		return 0, err
	}
	return n, nil
}

// checkTopicConfig refuses a checkpoint topic configuration that would lose
// checkpoints or cannot hold a chunk, saying how to fix it.
func checkTopicConfig(topic string, cfg map[string]string) error {
	fix := func(key, value string) string {
		return fmt.Sprintf("kafka-configs.sh --bootstrap-server ... --alter --entity-type topics --entity-name %s --add-config %s=%s", topic, key, value)
	}
	policy, ok := cfg["cleanup.policy"]
	if !ok {
		return fmt.Errorf("checkpoint topic %s: the broker did not report its cleanup.policy; it must be compact", topic)
	}
	var compact, del bool
	for p := range strings.SplitSeq(policy, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			compact = true
		case "delete":
			del = true
		}
	}
	switch {
	case !compact:
		return fmt.Errorf("checkpoint topic %s: cleanup.policy is %q, it must be compact (a delete policy drops checkpoints older than retention.ms, and with them the state of idle partitions): %s",
			topic, policy, fix("cleanup.policy", "compact"))
	case del:
		return fmt.Errorf("checkpoint topic %s: cleanup.policy is %q, it must be compact alone (with delete, retention.ms drops the last checkpoint of an idle partition): %s",
			topic, policy, fix("cleanup.policy", "compact"))
	}
	if v, ok := cfg["max.message.bytes"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < kafkaRecordMinBytes {
			return fmt.Errorf("checkpoint topic %s: max.message.bytes is %s, it must be at least %d (checkpoints are written in chunks of %d bytes): %s",
				topic, v, kafkaRecordMinBytes, kafkaChunkBytes, fix("max.message.bytes", strconv.Itoa(1<<20)))
		}
	}
	return nil
}

// topicPartitions returns the checkpoint topic's partition count, 0 when it
// does not exist. It asks with a transport of its own: the store's caches
// metadata, and must see a topic created a moment ago.
func (s *KafkaCheckpoints) topicPartitions(ctx context.Context) (int, error) {
	tr := &kafka.Transport{ClientID: s.tr.ClientID, DialTimeout: s.tr.DialTimeout, TLS: s.tr.TLS, SASL: s.tr.SASL,
		MetadataTopics: []string{s.opts.Topic}}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: s.cl.Addr, Transport: tr, Timeout: s.opts.RequestTimeout}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.opts.Topic}})
	if err != nil {
		return 0, fmt.Errorf("reading the metadata of checkpoint topic %s: %w", s.opts.Topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != s.opts.Topic {
			continue
		}
		switch {
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			return 0, nil
		case t.Error != nil:
			return 0, fmt.Errorf("reading the metadata of checkpoint topic %s: %w", s.opts.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Leader.Host == "" {
				return 0, fmt.Errorf("checkpoint topic %s: partition %d has no leader", s.opts.Topic, p.ID)
			}
		}
		return len(t.Partitions), nil
	}
	return 0, nil
}

// Claim records that owner holds topic/partition from now on: the next Load
// restores for it, and Saves write under its generation. The consumer
// claims each partition it is assigned before opening it.
func (s *KafkaCheckpoints) Claim(topic string, partition int, owner Owner) {
	s.mu.Lock()
	s.claims[TopicPartition{topic, partition}] = &claim{owner: owner}
	s.mu.Unlock()
}

func (s *KafkaCheckpoints) claimOf(topic string, partition int) *claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims[TopicPartition{topic, partition}]
}

// keyPrefix is the part of every key of topic/partition before its token.
func (s *KafkaCheckpoints) keyPrefix(topic string, partition int) []byte {
	b := make([]byte, 0, 4+2+len(s.opts.GroupID)+2+len(topic)+4+kafkaKeySuffix)
	b = append(b, kafkaKeyMagic...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.opts.GroupID)))
	b = append(b, s.opts.GroupID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	return binary.BigEndian.AppendUint32(b, uint32(partition))
}

func appendKeySuffix(prefix []byte, t token, slot uint8, chunk uint16) []byte {
	b := append(slices.Clip(prefix), make([]byte, 0, kafkaKeySuffix)...)
	b = binary.BigEndian.AppendUint32(b, t.era)
	b = binary.BigEndian.AppendUint32(b, uint32(t.gen))
	b = append(b, slot)
	return binary.BigEndian.AppendUint16(b, chunk)
}

// partitionOf is the checkpoint topic's partition holding topic/partition's
// records: the FNV-1a hash of the group and topic, plus the partition, so
// that a topic's partitions take consecutive checkpoint partitions and,
// with at least as many of those, a restore reads its partition's records
// alone.
func (s *KafkaCheckpoints) partitionOf(topic string, partition int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s.opts.GroupID))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(topic))
	return int((uint64(h.Sum32()) + uint64(partition)) % uint64(s.partitions))
}

// slotKey names one record key of a partition: a writer's token, slot and
// chunk.
type slotKey struct {
	tok   token
	slot  uint8
	chunk uint16
}

// chunkValue is a parsed record value.
type chunkValue struct {
	seq           uint64
	chunk, chunks uint16
	total         uint64
	sum           [sha256.Size]byte
	data          []byte
}

func parseValue(v []byte) (chunkValue, error) {
	var c chunkValue
	if len(v) < kafkaValueHead || string(v[:4]) != kafkaValueMagic {
		return c, errors.New("not a normwatch checkpoint chunk")
	}
	c.seq = binary.BigEndian.Uint64(v[4:])
	c.chunk = binary.BigEndian.Uint16(v[12:])
	c.chunks = binary.BigEndian.Uint16(v[14:])
	c.total = binary.BigEndian.Uint64(v[16:])
	copy(c.sum[:], v[24:24+sha256.Size])
	c.data = v[kafkaValueHead:]
	if c.chunks == 0 || c.chunk >= c.chunks {
		return c, fmt.Errorf("chunk %d of %d", c.chunk, c.chunks)
	}
	return c, nil
}

// scanned is what a restore read of one partition's records.
type scanned struct {
	live    map[slotKey][]byte // the last value of each key not tombstoned
	records int                // of this partition, tombstones included
	bytes   int64              // read from the checkpoint partition, all keys
}

// scan reads checkpoint partition q from its start to its high watermark,
// keeping the last value of each of prefix's keys: what compaction would
// leave of them.
func (s *KafkaCheckpoints) scan(ctx context.Context, q int, prefix []byte) (*scanned, error) {
	topic := s.opts.Topic
	lo, err := s.cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(q), kafka.LastOffsetOf(q)},
	}})
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s/%d: %w", topic, q, err)
	}
	first, last := int64(-1), int64(-1)
	for _, p := range lo.Topics[topic] {
		if p.Partition == q {
			if p.Error != nil {
				return nil, fmt.Errorf("listing the offsets of %s/%d: %w", topic, q, p.Error)
			}
			first, last = p.FirstOffset, p.LastOffset
		}
	}
	if first < 0 || last < 0 {
		return nil, fmt.Errorf("listing the offsets of %s/%d: partition not in the answer", topic, q)
	}
	sc := &scanned{live: map[slotKey][]byte{}}
	empty := 0
	for off := first; off < last; {
		res, err := s.cl.Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: q, Offset: off,
			MinBytes: 1, MaxBytes: kafkaFetchBytes, MaxWait: 100 * time.Millisecond,
		})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s/%d at offset %d: %w", topic, q, off, err)
		}
		next := off
		for {
			rec, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s/%d at offset %d: %w", topic, q, next, err)
			}
			if rec.Offset < off {
				continue // the batch began before the offset asked for
			}
			next = rec.Offset + 1
			key, err := kafka.ReadAll(rec.Key)
			if err != nil {
				return nil, fmt.Errorf("reading %s/%d at offset %d: %w", topic, q, rec.Offset, err)
			}
			if len(key) != len(prefix)+kafkaKeySuffix || !bytes.HasPrefix(key, prefix) {
				if rec.Value != nil {
					sc.bytes += int64(rec.Value.Len())
				}
				continue
			}
			val, err := kafka.ReadAll(rec.Value)
			if err != nil {
				return nil, fmt.Errorf("reading %s/%d at offset %d: %w", topic, q, rec.Offset, err)
			}
			sc.bytes += int64(len(val))
			sc.records++
			sfx := key[len(prefix):]
			k := slotKey{
				tok:   token{era: binary.BigEndian.Uint32(sfx), gen: int32(binary.BigEndian.Uint32(sfx[4:]))},
				slot:  sfx[8],
				chunk: binary.BigEndian.Uint16(sfx[9:]),
			}
			if val == nil {
				delete(sc.live, k)
			} else {
				sc.live[k] = val
			}
		}
		if next == off {
			// Nothing at or after off below the high watermark came back:
			// the rest was compacted away or is transaction markers.
			if empty++; empty > 3 {
				break
			}
			continue
		}
		empty = 0
		off = next
	}
	return sc, nil
}

// newest returns the complete checkpoint of the highest token that has
// one, with that token and its sequence; ok false when there is none.
// Incomplete slots (a save that died between chunks) and chunks that fail
// their checks are logged and passed over.
func (s *KafkaCheckpoints) newest(topic string, partition int, sc *scanned) (data []byte, tok token, seq uint64, ok bool) {
	type slotID struct {
		tok  token
		slot uint8
	}
	slotsOf := map[slotID]bool{}
	for k := range sc.live {
		slotsOf[slotID{k.tok, k.slot}] = true
	}
	ids := slices.Collect(func(yield func(slotID) bool) {
		for id := range slotsOf {
			if !yield(id) {
				return
			}
		}
	})
	// Highest token first; within one, either slot (the sequence decides).
	slices.SortFunc(ids, func(a, b slotID) int {
		if c := b.tok.compare(a.tok); c != 0 {
			return c
		}
		return cmp.Compare(a.slot, b.slot)
	})
	for i := 0; i < len(ids); {
		t := ids[i].tok
		var best []byte
		var bestSeq uint64
		found := false
		for ; i < len(ids) && ids[i].tok == t; i++ {
			d, sq, err := assemble(sc.live, ids[i].tok, ids[i].slot)
			if err != nil {
				s.log.Warn("checkpoint slot incomplete or damaged; using another",
					"partition_of", topic+"/"+strconv.Itoa(partition), "writer", t.String(), "slot", ids[i].slot, "err", err)
				continue
			}
			if !found || sq > bestSeq {
				best, bestSeq, found = d, sq, true
			}
		}
		if found {
			return best, t, bestSeq, true
		}
	}
	return nil, token{}, 0, false
}

// assemble joins the chunks of one slot when they are all of one save and
// its checksum holds.
func assemble(live map[slotKey][]byte, t token, slot uint8) ([]byte, uint64, error) {
	v0, ok := live[slotKey{t, slot, 0}]
	if !ok {
		return nil, 0, errors.New("chunk 0 missing")
	}
	c0, err := parseValue(v0)
	if err != nil {
		return nil, 0, fmt.Errorf("chunk 0: %w", err)
	}
	if c0.total > maxCheckpointBytes {
		return nil, 0, fmt.Errorf("%d bytes, over the limit", c0.total)
	}
	out := make([]byte, 0, c0.total)
	h := sha256.New()
	for i := uint16(0); i < c0.chunks; i++ {
		v, ok := live[slotKey{t, slot, i}]
		if !ok {
			return nil, 0, fmt.Errorf("chunk %d of %d missing", i, c0.chunks)
		}
		c, err := parseValue(v)
		if err != nil {
			return nil, 0, fmt.Errorf("chunk %d: %w", i, err)
		}
		if c.seq != c0.seq || c.chunks != c0.chunks || c.chunk != i || c.total != c0.total || c.sum != c0.sum {
			return nil, 0, fmt.Errorf("chunk %d is of save %d, chunk 0 of save %d", i, c.seq, c0.seq)
		}
		out = append(out, c.data...)
		h.Write(c.data)
	}
	if uint64(len(out)) != c0.total || !bytes.Equal(h.Sum(nil), c0.sum[:]) {
		return nil, 0, fmt.Errorf("save %d: checksum mismatch", c0.seq)
	}
	return out, c0.seq, nil
}

// Load implements CheckpointStore: it returns the complete checkpoint of
// the highest writer token, and, when the partition was claimed, settles
// the claim's token (or fences it) from what it read.
func (s *KafkaCheckpoints) Load(topic string, partition int) ([]byte, error) {
	if err := checkKey(topic, partition); err != nil {
		return nil, err
	}
	if len(topic) > 0xffff {
		return nil, fmt.Errorf("stream: checkpoint topic name of %d bytes is too long", len(topic))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RestoreTimeout)
	defer cancel()
	start := time.Now()
	prefix := s.keyPrefix(topic, partition)
	var sc *scanned
	err := retry(ctx, func() (err error) { sc, err = s.scan(ctx, s.partitionOf(topic, partition), prefix); return err })
	if err != nil {
		return nil, fmt.Errorf("restoring the checkpoint of %s/%d from %s: %w", topic, partition, s.opts.Topic, err)
	}
	data, tok, seq, found := s.newest(topic, partition, sc)
	if !found && len(sc.live) > 0 {
		return nil, fmt.Errorf("%w of %s/%d in topic %s: %d records, none a complete checkpoint; "+
			"delete the partition's keys from the topic to start it from the group's committed offset",
			ErrCorruptCheckpoint, topic, partition, s.opts.Topic, len(sc.live))
	}
	if cl := s.claimOf(topic, partition); cl != nil {
		s.settle(ctx, topic, partition, cl, prefix, sc)
	}
	s.log.Info("checkpoint restored from the topic", "partition_of", topic+"/"+strconv.Itoa(partition),
		"found", found, "writer", tok.String(), "save", seq, "bytes", len(data),
		"records", sc.records, "bytes_read", sc.bytes, "took", time.Since(start).Round(time.Microsecond))
	return data, nil
}

// settle gives the claim its token: above every token found, or fenced.
func (s *KafkaCheckpoints) settle(ctx context.Context, topic string, partition int, cl *claim, prefix []byte, sc *scanned) {
	var top token
	seen := false
	for k := range sc.live {
		if !seen || k.tok.compare(top) > 0 {
			top, seen = k.tok, true
		}
	}
	mine := token{era: top.era, gen: cl.owner.Generation}
	if seen && top.gen >= cl.owner.Generation {
		// A newer generation wrote (we are a zombie), or the group's
		// generations started over: only the coordinator can tell.
		if err := s.current(ctx, cl.owner); err != nil {
			cl.fenced = fmt.Errorf("%w: %s/%d was written by %s, above this process's generation %d, which the group coordinator no longer accepts (%v)",
				ErrFenced, topic, partition, top, cl.owner.Generation, err)
			s.log.Warn("partition fenced: a newer owner holds it; not saving nor committing",
				"partition_of", topic+"/"+strconv.Itoa(partition), "newest_writer", top.String(), "generation", cl.owner.Generation)
			cl.restored = true
			return
		}
		mine.era = top.era + 1
		s.log.Warn("the group's generations started over (the group was deleted or expired); checkpoints continue in the next era",
			"partition_of", topic+"/"+strconv.Itoa(partition), "newest_writer", top.String(), "writer", mine.String())
	}
	cl.tok, cl.restored, cl.seq = mine, true, 0
	cl.stale = cl.stale[:0]
	for k := range sc.live {
		if k.tok.compare(mine) < 0 {
			cl.stale = append(cl.stale, appendKeySuffix(prefix, k.tok, k.slot, k.chunk))
		}
	}
}

// current asks the group coordinator whether owner's generation is the
// group's current one.
func (s *KafkaCheckpoints) current(ctx context.Context, owner Owner) error {
	res, err := s.cl.Heartbeat(ctx, &kafka.HeartbeatRequest{
		GroupID: s.opts.GroupID, GenerationID: owner.Generation, MemberID: owner.MemberID,
	})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	// kafka-go v0.4.51 declares the response's error code before its
	// throttle time, the reverse of the protocol (v1 and later): the
	// error code arrives as the low 16 bits of the throttle in
	// milliseconds (TestKafkaCheckpointsFencing and
	// TestKafkaCheckpointsGenerationsStartOver hold both answers).
	if code := int16(res.Throttle / time.Millisecond); code != 0 {
		return kafka.Error(code)
	}
	return nil
}

// Save implements CheckpointStore: it writes data under the claim's token,
// in the slot after the last save's, acknowledged by all in-sync replicas,
// and after the claim's first save tombstones the keys of lower tokens. It
// wraps ErrFenced when a newer owner holds the partition.
func (s *KafkaCheckpoints) Save(topic string, partition int, data []byte) error {
	if err := checkKey(topic, partition); err != nil {
		return err
	}
	cl := s.claimOf(topic, partition)
	switch {
	case cl == nil || !cl.restored:
		return fmt.Errorf("saving checkpoint of %s/%d: the partition was not claimed and restored: "+
			"the kafka checkpoint store saves only partitions the consumer holds in a group generation", topic, partition)
	case cl.fenced != nil:
		return fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, cl.fenced)
	case len(data) > maxCheckpointBytes:
		return fmt.Errorf("saving checkpoint of %s/%d: %d bytes over the limit of %d", topic, partition, len(data), maxCheckpointBytes)
	}
	chunks := max(1, (len(data)+kafkaChunkBytes-1)/kafkaChunkBytes)
	if chunks > 0xffff {
		return fmt.Errorf("saving checkpoint of %s/%d: %d bytes need %d chunks, over 65535", topic, partition, len(data), chunks)
	}
	seq := cl.seq + 1
	slot := uint8(seq % 2)
	prefix := s.keyPrefix(topic, partition)
	q := s.partitionOf(topic, partition)
	sum := sha256.Sum256(data)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout*time.Duration(1+chunks/8))
	defer cancel()
	for i := range chunks {
		part := data[i*kafkaChunkBytes : min(len(data), (i+1)*kafkaChunkBytes)]
		v := make([]byte, 0, kafkaValueHead+len(part))
		v = append(v, kafkaValueMagic...)
		v = binary.BigEndian.AppendUint64(v, seq)
		v = binary.BigEndian.AppendUint16(v, uint16(i))
		v = binary.BigEndian.AppendUint16(v, uint16(chunks))
		v = binary.BigEndian.AppendUint64(v, uint64(len(data)))
		v = append(v, sum[:]...)
		v = append(v, part...)
		rec := kafka.Record{Key: kafka.NewBytes(appendKeySuffix(prefix, cl.tok, slot, uint16(i))), Value: kafka.NewBytes(v)}
		if err := retry(ctx, func() error { return s.produce(ctx, q, rec) }); err != nil {
			return fmt.Errorf("saving checkpoint of %s/%d to %s/%d (chunk %d of %d): %w", topic, partition, s.opts.Topic, q, i+1, chunks, err)
		}
	}
	cl.seq = seq
	if len(cl.stale) > 0 {
		// The new owner's checkpoint is whole: the older writers' keys can
		// go. Best effort: a key left is passed over at restore, and the
		// next owner tombstones it.
		recs := make([]kafka.Record, len(cl.stale))
		for i, k := range cl.stale {
			recs[i] = kafka.Record{Key: kafka.NewBytes(k)}
		}
		if err := s.produce(ctx, q, recs...); err != nil {
			s.log.Warn("tombstoning superseded checkpoints failed; the next owner retries", "partition_of", topic+"/"+strconv.Itoa(partition), "err", err)
		}
		cl.stale = nil
	}
	return nil
}

// retry calls f until it succeeds, fails for good (an error Kafka does
// not call temporary) or ctx ends: a broker answers "not leader" for a
// moment after a topic is made or a leader moves, and a broker restarting
// refuses connections; the store rides that out as the consumer does.
func retry(ctx context.Context, f func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := f()
		var ke kafka.Error
		if err == nil || errors.As(err, &ke) && !ke.Temporary() || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// produce writes recs to partition q of the checkpoint topic in one batch,
// acknowledged by all in-sync replicas.
func (s *KafkaCheckpoints) produce(ctx context.Context, q int, recs ...kafka.Record) error {
	res, err := s.cl.Produce(ctx, &kafka.ProduceRequest{
		Topic: s.opts.Topic, Partition: q, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...),
	})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	for _, err := range res.RecordErrors {
		return err
	}
	return nil
}
