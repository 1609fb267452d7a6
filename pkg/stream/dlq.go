package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers of a dead letter, beside the original message's own headers.
const (
	HeaderSourceTopic     = "normwatch.source_topic"
	HeaderSourcePartition = "normwatch.source_partition"
	HeaderSourceOffset    = "normwatch.source_offset"
	HeaderError           = "normwatch.error"
	HeaderReason          = "normwatch.reason"
	// HeaderOriginalSize is present when the value was cut to
	// Options.DLQMaxValueBytes; it gives the original size in bytes.
	HeaderOriginalSize = "normwatch.original_size"
	// HeaderHeadersDropped is present when the original headers were over
	// dlqMaxHeaderBytes and left out; it gives how many there were.
	HeaderHeadersDropped = "normwatch.headers_dropped"
)

const (
	dlqMaxErrorBytes  = 1024
	dlqMaxKeyBytes    = 64 << 10
	dlqMaxHeaderBytes = 64 << 10
	dlqBackoffMin     = 100 * time.Millisecond
	dlqBackoffMax     = 5 * time.Second
)

// dlqWriter writes dead letters to the dead-letter topic, acknowledged by
// all in-sync replicas. One writer serves every partition; each partition
// keeps its own dlqBatch and flushes it before it checkpoints, so a skipped
// message is durable in the dead-letter topic before the checkpoint that
// skips it, and its offset is committed only after both.
//
// A dead-letter topic that cannot be written is retried with backoff for as
// long as the caller's context allows: the partition stops at its batch
// bound, commits nothing past the unwritten letters and reports itself
// degraded, rather than lose a message.
type dlqWriter struct {
	w        *kafka.Writer // nil: the dead-letter topic is disabled
	maxValue int
	m        *metrics
	log      *slog.Logger
}

func newDLQWriter(o Options, transport *kafka.Transport, m *metrics, log *slog.Logger) *dlqWriter {
	d := &dlqWriter{maxValue: o.DLQMaxValueBytes, m: m, log: log}
	if o.DLQTopic == "" {
		return d
	}
	d.w = &kafka.Writer{
		Addr:         kafka.TCP(o.Brokers...),
		Topic:        o.DLQTopic,
		Balancer:     &kafka.Hash{}, // letters of one key stay together, keyless ones spread
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  3,
		BatchSize:    o.DLQMaxPending,
		// The value is cut to maxValue, the key and the headers to their
		// own bounds: one letter always fits a batch.
		BatchBytes:   int64(o.DLQMaxValueBytes + dlqMaxKeyBytes + 2*dlqMaxHeaderBytes),
		BatchTimeout: 5 * time.Millisecond,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		Transport:    transport,
	}
	return d
}

// enabled reports whether dead letters are written anywhere.
func (d *dlqWriter) enabled() bool { return d.w != nil }

// close releases the writer after every partition has flushed, and
// reports whether it did before ctx ended: kafka-go's Close waits for
// batches still in flight, which a hung broker never answers.
func (d *dlqWriter) close(ctx context.Context) bool {
	if d.w == nil {
		return true
	}
	closed := make(chan struct{})
	go func() {
		if err := d.w.Close(); err != nil {
			d.log.Warn("closing the dead-letter writer", "err", err)
		}
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-ctx.Done():
		return false
	}
}

// dlqBatch is one partition's dead letters not yet written.
type dlqBatch struct {
	msgs []kafka.Message
}

// add builds the dead letter of m, which failed with err.
func (d *dlqWriter) add(b *dlqBatch, m *kafka.Message, err error) {
	if d.w == nil {
		return
	}
	errText := err.Error()
	if len(errText) > dlqMaxErrorBytes {
		errText = errText[:dlqMaxErrorBytes]
	}
	var hdrBytes int
	for _, h := range m.Headers {
		hdrBytes += len(h.Key) + len(h.Value)
	}
	headers := make([]kafka.Header, 0, len(m.Headers)+7)
	if hdrBytes <= dlqMaxHeaderBytes {
		headers = append(headers, m.Headers...)
	} else {
		headers = append(headers, kafka.Header{Key: HeaderHeadersDropped, Value: []byte(strconv.Itoa(len(m.Headers)))})
	}
	headers = append(headers,
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: HeaderError, Value: []byte(errText)},
		kafka.Header{Key: HeaderReason, Value: []byte(ReasonOf(err))},
	)
	value := m.Value
	if len(value) > d.maxValue {
		headers = append(headers, kafka.Header{Key: HeaderOriginalSize, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:d.maxValue]
	}
	key := m.Key
	if len(key) > dlqMaxKeyBytes {
		key = key[:dlqMaxKeyBytes]
	}
	b.msgs = append(b.msgs, kafka.Message{Key: key, Value: value, Headers: headers, Time: m.Time})
}

// flush writes b's letters, retrying with backoff until they are all
// acknowledged or ctx ends. degraded is told when a failure starts and
// when the letters are through.
func (d *dlqWriter) flush(ctx context.Context, b *dlqBatch, degraded func(bool)) error {
	if d.w == nil || len(b.msgs) == 0 {
		return nil
	}
	backoff := dlqBackoffMin
	failing := false
	defer func() {
		if failing {
			degraded(false)
		}
	}()
	for {
		err := d.w.WriteMessages(ctx, b.msgs...)
		if err == nil {
			d.m.dlqMessages.Add(float64(len(b.msgs)))
			clear(b.msgs)
			b.msgs = b.msgs[:0]
			return nil
		}
		// Keep only the letters that failed; re-writing the others would
		// duplicate them.
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(b.msgs) {
			kept := b.msgs[:0]
			for i, e := range werrs {
				if e != nil {
					kept = append(kept, b.msgs[i])
				}
			}
			d.m.dlqMessages.Add(float64(len(b.msgs) - len(kept)))
			clear(b.msgs[len(kept):])
			b.msgs = kept
		}
		if ctx.Err() != nil {
			return fmt.Errorf("writing %d dead letters to %s: %w", len(b.msgs), d.w.Topic, err)
		}
		if !failing {
			failing = true
			degraded(true)
		}
		d.log.Warn("dead-letter write failed; holding the partition's commits and retrying",
			"topic", d.w.Topic, "letters", len(b.msgs), "backoff", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("writing %d dead letters to %s: %w", len(b.msgs), d.w.Topic, err)
		}
		backoff = min(2*backoff, dlqBackoffMax)
	}
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
