package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// The partials topic carries, in cluster mode, the closed windows' partial
// sketches and the source partitions' watermarks from every ingesting
// process to the evaluation stage (pkg/engine owns the records' format).
// Each record has a Route, its model version: every record of one model
// version goes to one partition of the topic, so one consumer of the
// stage's group sees all of them, in the order they were written.

// Record is one message for the partials topic.
type Record struct {
	Key, Value []byte
	// Route picks the partition: records with the same Route go to the
	// same partition.
	Route string
	// Broadcast sends the record to every partition instead.
	Broadcast bool
}

// RoutePartition is the partition of n that records with route go to:
// FNV-1a of the route, modulo n. It is the writer's, and tests use it to
// know where a model version's records land.
func RoutePartition(route string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(route))
	return int(h.Sum32() % uint32(n))
}

// routeBalancer sends a message to RoutePartition of its Route, or to the
// partition of a broadcast copy's index, which the writer passes in
// WriterData.
type routeBalancer struct{}

func (routeBalancer) Balance(msg kafka.Message, partitions ...int) int {
	switch d := msg.WriterData.(type) {
	case broadcastCopy:
		return partitions[int(d)%len(partitions)]
	case string:
		return partitions[RoutePartition(d, len(partitions))]
	}
	return partitions[0]
}

type broadcastCopy int

// PartialsWriterOptions configures a PartialsWriter.
type PartialsWriterOptions struct {
	Brokers []string
	Topic   string
	TLS     *tls.Config
	SASL    SASLOptions
	// Timeout bounds one write; default DefaultRequestTimeout.
	Timeout time.Duration
	// MaxMessageBytes bounds one record; default DefaultPartialsMaxMessageBytes.
	MaxMessageBytes int
}

// PartialsWriter writes records to the partials topic, each batch waiting
// for the brokers' acknowledgement (all in-sync replicas) before the next.
type PartialsWriter struct {
	w       *kafka.Writer
	cl      *kafka.Client
	topic   string
	timeout time.Duration

	mu       sync.Mutex
	parts    int // the topic's partitions, for broadcasts
	partsAge time.Time
}

// NewPartialsWriter returns a writer of o.Topic.
func NewPartialsWriter(o PartialsWriterOptions) (*PartialsWriter, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("stream: partials writer: no brokers")
	}
	if err := validTopic(o.Topic); err != nil {
		return nil, fmt.Errorf("stream: partials writer: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRequestTimeout
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultPartialsMaxMessageBytes
	}
	mech, err := SASLMechanism(o.SASL)
	if err != nil {
		return nil, err
	}
	// A transport of its own, not kafka-go's process-wide default: that
	// one caches metadata for 6 s, and a cache taken before another
	// process created the topic made every write fail as "Unknown Topic
	// Or Partition" for that long.
	tr := &kafka.Transport{TLS: o.TLS, SASL: mech}
	w := &kafka.Writer{
		Addr:         kafka.TCP(o.Brokers...),
		Topic:        o.Topic,
		Balancer:     routeBalancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   int64(o.MaxMessageBytes),
		// Every call is a whole batch: no linger.
		BatchTimeout: time.Millisecond,
		WriteTimeout: o.Timeout,
		MaxAttempts:  3,
		Compression:  kafka.Lz4,
	}
	w.Transport = tr
	cl := &kafka.Client{Addr: w.Addr, Timeout: o.Timeout, Transport: tr}
	return &PartialsWriter{w: w, cl: cl, topic: o.Topic, timeout: o.Timeout}, nil
}

// partitions returns the topic's partition count, looked up at most every
// 30 seconds.
func (w *PartialsWriter) partitions(ctx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.parts > 0 && time.Since(w.partsAge) < 30*time.Second {
		return w.parts, nil
	}
	md, err := w.cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{w.topic}})
	if err != nil {
		return 0, fmt.Errorf("reading the partitions of %s: %w", w.topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return 0, fmt.Errorf("reading the partitions of %s: %v", w.topic, terr)
	}
	w.parts, w.partsAge = len(md.Topics[0].Partitions), time.Now()
	return w.parts, nil
}

// WritePartials writes recs and returns once the brokers have them all, or
// with the first error. Records of one route keep their order.
func (w *PartialsWriter) WritePartials(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*w.timeout)
	defer cancel()
	msgs := make([]kafka.Message, 0, len(recs))
	// Every message carries its time: kafka-go's Writer stamps a message
	// without one when the broker answers, and after a timed-out attempt
	// that write races with its connection still encoding the message.
	now := time.Now()
	for _, r := range recs {
		if !r.Broadcast {
			msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value, Time: now, WriterData: r.Route})
			continue
		}
		n, err := w.partitions(ctx)
		if err != nil {
			return err
		}
		for i := range n {
			msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value, Time: now, WriterData: broadcastCopy(i)})
		}
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		var we kafka.WriteErrors
		if errors.As(err, &we) {
			return fmt.Errorf("writing %d partials: %d failed, the first: %w", len(recs), we.Count(), firstError(we))
		}
		return fmt.Errorf("writing %d partials: %w", len(recs), err)
	}
	return nil
}

func firstError(we kafka.WriteErrors) error {
	for _, e := range we {
		if e != nil {
			return e
		}
	}
	return nil
}

// Close flushes and closes the writer.
func (w *PartialsWriter) Close() error { return w.w.Close() }

// Defaults of the partials topic.
const (
	// DefaultPartialsMaxMessageBytes is the largest partial record: one
	// embedding sketch of sketch.MaxDim dimensions (two float64 per
	// dimension, 1 MiB) with its norm digest and room; a numeric feature's
	// record is about 2 to 5 KiB.
	DefaultPartialsMaxMessageBytes = 2 << 20
	DefaultPartialsPartitions      = 12
)

// PartialsTopicOptions are the settings the partials topic must have.
type PartialsTopicOptions struct {
	Topic             string
	Partitions        int // when created; default DefaultPartialsPartitions
	ReplicationFactor int // when created; default 1 (-1: the brokers' default)
	// Retention is how long a record is kept: a few comparison horizons,
	// so that the stage restoring a partition finds the windows its
	// horizon needs, and a source's last watermark survives its quiet.
	Retention time.Duration
	// MaxMessageBytes is the largest record the topic must take.
	MaxMessageBytes int
	TLS             *tls.Config
	SASL            SASLOptions
}

// PartialsTopicConfig is the topic configuration EnsurePartialsTopic sets
// on a topic it creates: compacted (each key's last record kept: a
// window's partial republished after a partition moved replaces the first,
// and a source's watermark is its last one) and deleted past the
// retention (windows older than every horizon go), with segments rolled
// often enough for either to happen.
func PartialsTopicConfig(o PartialsTopicOptions) map[string]string {
	ret := o.Retention.Milliseconds()
	seg := max(ret/4, int64(time.Minute/time.Millisecond))
	return map[string]string{
		"cleanup.policy":    "compact,delete",
		"retention.ms":      strconv.FormatInt(ret, 10),
		"segment.ms":        strconv.FormatInt(seg, 10),
		"max.message.bytes": strconv.Itoa(o.MaxMessageBytes),
	}
}

// EnsurePartialsTopic creates the partials topic with PartialsTopicConfig,
// or, when it exists, checks that it is compacted and takes records of
// MaxMessageBytes, with an error naming what to change otherwise.
func EnsurePartialsTopic(ctx context.Context, brokers []string, o PartialsTopicOptions) error {
	if len(brokers) == 0 {
		return errors.New("stream: partials topic: no brokers")
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartialsPartitions
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = 1
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultPartialsMaxMessageBytes
	}
	mech, err := SASLMechanism(o.SASL)
	if err != nil {
		return err
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: DefaultRequestTimeout}
	if o.TLS != nil || mech != nil {
		cl.Transport = &kafka.Transport{TLS: o.TLS, SASL: mech}
	}
	want := PartialsTopicConfig(o)
	var entries []kafka.ConfigEntry
	for _, k := range []string{"cleanup.policy", "retention.ms", "segment.ms", "max.message.bytes"} {
		entries = append(entries, kafka.ConfigEntry{ConfigName: k, ConfigValue: want[k]})
	}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: o.Topic, NumPartitions: o.Partitions, ReplicationFactor: o.ReplicationFactor, ConfigEntries: entries,
	}}})
	if err != nil {
		return fmt.Errorf("creating the partials topic %s: %w", o.Topic, err)
	}
	switch err := res.Errors[o.Topic]; {
	case err == nil:
		return waitLeaders(ctx, cl, o.Topic)
	case !errors.Is(err, kafka.TopicAlreadyExists):
		return fmt.Errorf("creating the partials topic %s: %w", o.Topic, err)
	}
	// Another process may have created it a moment ago: wait until this
	// broker knows it, as after creating it here.
	if err := waitLeaders(ctx, cl, o.Topic); err != nil {
		return err
	}
	got, err := describeTopicConfig(ctx, cl, o.Topic, "cleanup.policy", "max.message.bytes")
	if err != nil {
		return fmt.Errorf("reading the configuration of the partials topic %s: %w", o.Topic, err)
	}
	return checkPartialsConfig(o.Topic, got, o.MaxMessageBytes)
}

// checkPartialsConfig reports what an existing partials topic lacks.
func checkPartialsConfig(topic string, got map[string]string, maxBytes int) error {
	var bad []string
	if p, ok := got["cleanup.policy"]; ok && !strings.Contains(p, "compact") {
		bad = append(bad, fmt.Sprintf("cleanup.policy is %q, want compact,delete (a window republished after a partition moved must replace the first copy, and a quiet source's last watermark must stay)", p))
	}
	if v, ok := got["max.message.bytes"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n < maxBytes {
			bad = append(bad, fmt.Sprintf("max.message.bytes is %d, want at least %d (the largest partial record: an embedding sketch)", n, maxBytes))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the partials topic %s exists with the wrong configuration: %s; fix it with kafka-configs.sh --alter --entity-type topics --entity-name %s, or set evaluation.partials_topic to a new topic normwatch creates",
			topic, strings.Join(bad, "; "), topic)
	}
	return nil
}

// waitLeaders waits until every partition of topic has a leader: a real
// broker answers CreateTopics before its metadata shows the topic.
func waitLeaders(ctx context.Context, cl *kafka.Client, topic string) error {
	for {
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			led := true
			for _, p := range md.Topics[0].Partitions {
				led = led && p.Leader.Host != ""
			}
			if led {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: waiting for its partitions' leaders: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
