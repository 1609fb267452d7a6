package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// RangeOptions selects a range of a topic to read: per partition, from an
// offset or a time to an offset or a time, or by default the whole
// partition as of the start of the read. Offsets apply to every partition;
// a range given by time resolves to offsets per partition (the first
// message whose timestamp is at or after the time).
type RangeOptions struct {
	Brokers []string // host:port seed addresses
	Topic   string
	// Partitions restricts the read; nil reads every partition.
	Partitions []int
	TLS        *tls.Config // nil: plaintext
	SASL       SASLOptions

	// FromOffset is the first offset read (inclusive); < 0 means the
	// partition's first. FromTime, when set, is used instead.
	FromOffset int64
	FromTime   time.Time
	// ToOffset ends the range (exclusive); 0 or less means the
	// partition's high watermark when the read starts, so the read always
	// ends. ToTime,
	// when set, is used instead. The end never goes past the high
	// watermark.
	ToOffset int64
	ToTime   time.Time

	// Timeout bounds each broker request (dial, offsets, fetch without
	// progress); 0 means 30 s.
	Timeout time.Duration
}

// PartitionRange is the range read of one partition: [From, To).
type PartitionRange struct {
	Partition int   `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
	Read      int64 `json:"read"` // messages handed to the callback
}

// ReadRange reads the range opts selects, partition after partition in
// partition order and each in offset order, and calls fn with every
// message. It commits nothing and joins no group: it is a replay, for
// building and pinning baselines. An error of fn stops the read and is
// returned.
func ReadRange(ctx context.Context, opts RangeOptions, fn func(m *kafka.Message) error) ([]PartitionRange, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("stream: range option Brokers: none given")
	}
	if err := validTopic(opts.Topic); err != nil {
		return nil, fmt.Errorf("stream: range option Topic: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	mech, err := SASLMechanism(opts.SASL)
	if err != nil {
		return nil, err
	}
	dialer := &kafka.Dialer{Timeout: opts.Timeout, DualStack: true, TLS: opts.TLS, SASLMechanism: mech}
	parts, err := partitionsOf(ctx, dialer, opts)
	if err != nil {
		return nil, err
	}
	var out []PartitionRange
	for _, p := range parts {
		r, err := rangeOf(ctx, dialer, opts, p)
		if err != nil {
			return out, err
		}
		if r.To > r.From {
			if err := readPartition(ctx, dialer, opts, &r, fn); err != nil {
				return append(out, r), err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func partitionsOf(ctx context.Context, dialer *kafka.Dialer, opts RangeOptions) ([]int, error) {
	var lastErr error
	for _, b := range opts.Brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(opts.Timeout))
		ps, err := conn.ReadPartitions(opts.Topic)
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		var all []int
		for _, p := range ps {
			all = append(all, p.ID)
		}
		slices.Sort(all)
		if opts.Partitions == nil {
			return all, nil
		}
		for _, p := range opts.Partitions {
			if _, ok := slices.BinarySearch(all, p); !ok {
				return nil, fmt.Errorf("stream: topic %s has no partition %d (it has %d)", opts.Topic, p, len(all))
			}
		}
		return opts.Partitions, nil
	}
	return nil, fmt.Errorf("stream: reading the partitions of %s: %w", opts.Topic, lastErr)
}

// rangeOf resolves the offsets of partition p's range with its leader.
func rangeOf(ctx context.Context, dialer *kafka.Dialer, opts RangeOptions, p int) (PartitionRange, error) {
	r := PartitionRange{Partition: p}
	conn, err := dialer.DialLeader(ctx, "tcp", opts.Brokers[0], opts.Topic, p)
	if err != nil {
		return r, fmt.Errorf("stream: dialing the leader of %s/%d: %w", opts.Topic, p, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(opts.Timeout))
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return r, fmt.Errorf("stream: reading the offsets of %s/%d: %w", opts.Topic, p, err)
	}
	at := func(t time.Time) (int64, error) {
		o, err := conn.ReadOffset(t)
		if err != nil {
			return 0, fmt.Errorf("stream: looking up the offset of %s/%d at %s: %w", opts.Topic, p, t.Format(time.RFC3339Nano), err)
		}
		if o < 0 { // no message at or after t
			o = last
		}
		return o, nil
	}
	switch {
	case !opts.FromTime.IsZero():
		if r.From, err = at(opts.FromTime); err != nil {
			return r, err
		}
	case opts.FromOffset >= 0:
		r.From = opts.FromOffset
	default:
		r.From = first
	}
	switch {
	case !opts.ToTime.IsZero():
		if r.To, err = at(opts.ToTime); err != nil {
			return r, err
		}
	case opts.ToOffset > 0:
		r.To = opts.ToOffset
	default:
		r.To = last
	}
	r.From = min(max(r.From, first), last)
	r.To = min(max(r.To, r.From), last)
	return r, nil
}

func readPartition(ctx context.Context, dialer *kafka.Dialer, opts RangeOptions, r *PartitionRange, fn func(m *kafka.Message) error) error {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: opts.Brokers, Topic: opts.Topic, Partition: r.Partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second,
	})
	defer rd.Close()
	if err := rd.SetOffset(r.From); err != nil {
		return fmt.Errorf("stream: seeking %s/%d to %d: %w", opts.Topic, r.Partition, r.From, err)
	}
	where := opts.Topic + "/" + strconv.Itoa(r.Partition)
	for {
		fctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		m, err := rd.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("stream: reading %s at offset %d: %w", where, r.From+r.Read, err)
		}
		if m.Offset >= r.To {
			return nil // a gap (compaction, transactions) ran past the end
		}
		r.Read++
		if err := fn(&m); err != nil {
			return err
		}
		if m.Offset >= r.To-1 {
			return nil
		}
	}
}
