package baseline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/normwatch/normwatch/pkg/stream"
)

// FormatKafka is the Report format of a topic range build.
const FormatKafka = "kafka"

// PartitionOffsets is the range of one partition a baseline was built
// from: offsets [From, To).
type PartitionOffsets struct {
	Partition int   `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

// TopicReport is what BuildTopic read, beside the Report: the offsets of
// each partition and the event times seen.
type TopicReport struct {
	Offsets     []PartitionOffsets
	First, Last time.Time // event times; zero when no event had one
}

// BuildTopic builds a baseline from a range of a Kafka topic, read with
// the daemon's decoder into the same sketches as a JSONL build: an event
// takes the Kafka message's timestamp and headers as fallback, then the
// build's model and version; an event of another model or version is
// skipped. Skip examples name the topic/partition as file and the offset
// as line. The source records the topic, the offsets read and the sha256
// of the messages (partition, offset and value), so that a replay of the
// same range can be checked.
func BuildTopic(ctx context.Context, r stream.RangeOptions, opts BuildOptions) (*Baseline, *Report, *TopicReport, error) {
	b, rep, tr, err := buildTopic(ctx, r, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	b.Source = Source{Kind: SourceKafka, Path: r.Topic, SHA256: b.Source.SHA256, Rows: b.Source.Rows,
		SkippedRows: b.Source.SkippedRows, Offsets: tr.Offsets, FromModel: b.Source.FromModel, FromVersion: b.Source.FromVersion}
	return b, rep, tr, nil
}

func buildTopic(ctx context.Context, r stream.RangeOptions, opts BuildOptions) (*Baseline, *Report, *TopicReport, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, nil, nil, err
	}
	do := opts.Decoder
	do.KeepRetrievalIDs = true // frozen runs' ids make the reference
	dec, err := stream.NewDecoder(do)
	if err != nil {
		return nil, nil, nil, err
	}
	a := newAccumulator(r.Topic, FormatKafka, 0, opts)
	var wantF, wantE map[string]bool
	if opts.Features != nil {
		wantF = setOf(opts.Features)
	}
	if opts.Embeddings != nil {
		wantE = setOf(opts.Embeddings)
	}
	build := []kafka.Header{
		{Key: dec.Options().ModelHeader, Value: []byte(opts.SelectModel)},
		{Key: dec.Options().VersionHeader, Value: []byte(opts.SelectVersion)},
	}
	var headers []kafka.Header
	var ev stream.Event
	h := sha256.New()
	var key [12]byte
	var bytesRead int64
	a.bytesRead = &bytesRead
	part := -1
	ranges, err := stream.ReadRange(ctx, r, func(m *kafka.Message) error {
		if m.Partition != part {
			part = m.Partition
			a.path = r.Topic + "/" + strconv.Itoa(part)
		}
		binary.BigEndian.PutUint32(key[:4], uint32(m.Partition))
		binary.BigEndian.PutUint64(key[4:], uint64(m.Offset))
		h.Write(key[:])
		binary.BigEndian.PutUint32(key[:4], uint32(len(m.Value)))
		h.Write(key[:4])
		h.Write(m.Value)
		bytesRead += int64(len(m.Value))
		headers = append(append(headers[:0], m.Headers...), build...)
		if err := dec.Decode(m.Value, stream.Fallback{Time: m.Time, Headers: headers}, &ev); err != nil {
			a.skipRow(string(stream.ReasonOf(err)), m.Offset, err.Error())
			a.row(false)
			return nil
		}
		a.event(&ev, m.Offset, wantF, wantE)
		return nil
	})
	a.path = r.Topic
	a.report.Input = r.Topic
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading topic %s: %w", r.Topic, err)
	}
	tr := &TopicReport{First: a.first, Last: a.last}
	var spans []string
	for _, pr := range ranges {
		tr.Offsets = append(tr.Offsets, PartitionOffsets{Partition: pr.Partition, From: pr.From, To: pr.To})
		spans = append(spans, fmt.Sprintf("%d:[%d,%d)", pr.Partition, pr.From, pr.To))
	}
	if a.report.Rows == 0 {
		return nil, nil, nil, fmt.Errorf("topic %s: %w: the range holds no messages (%s)", r.Topic, ErrEmptyInput, strings.Join(spans, " "))
	}
	if err := a.requested(); err != nil {
		return nil, nil, nil, err
	}
	b, err := a.finish(hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		return nil, nil, nil, err
	}
	return b, a.report, tr, nil
}

// TopicSource describes a topic range for a pinned baseline's "from":
// kafka://<brokers>/<topic> with the offsets read per partition.
func TopicSource(brokers []string, topic string, offsets []PartitionOffsets) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka://%s/%s", strings.Join(brokers, ","), topic)
	for i, o := range offsets {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		fmt.Fprintf(&b, "%spartition%d=%d-%d", sep, o.Partition, o.From, o.To)
	}
	return b.String()
}
