package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// readBatchTimeout bounds the read of one message of a fetched batch, as
// kafka-go's Reader's default ReadBatchTimeout does.
const readBatchTimeout = 10 * time.Second

// fetchAttempts is how many fetches in a row fail before the partition
// reports its fetches failing, as the MaxAttempts of the Reader the
// fetcher replaced.
const fetchAttempts = 3

// errBatchDone is fetcher.next's report that a fetch ended without a
// message to return: the caller may look at the clock and call again.
var errBatchDone = errors.New("stream: fetch done")

// fetcher fetches one partition on the partition's own goroutine over a
// kafka.Conn to its leader, as kafka-go's Reader does on a goroutine of
// its own, without the Reader's hand-off of every message over a channel.
type fetcher struct {
	c         *Consumer
	topic     string
	partition int

	// ctx ends fetching: at revoke or Stop. It closes the connection to
	// interrupt a read waiting for the broker.
	ctx     context.Context
	unwatch func() bool
	conn    *kafka.Conn
	batch   *kafka.Batch
	hwm     int64
	offset  int64 // the next offset to read, or kafka.FirstOffset/LastOffset
	dials   int64 // dials made
	fails   int   // fetches failed in a row
	// reset, when set, is the move a dial made from an offset past the
	// end of the partition's log, for the partition to act on before it
	// handles the next message.
	reset *offsetReset
}

// offsetReset is a fetcher's move from an offset past the end of the
// partition's log (first to last, exclusive) to where a new consumer
// group would start.
type offsetReset struct {
	from, to, first, last int64
}

// next returns the next message. errBatchDone means no message came
// this time (a fetch ended empty): call again. Any other error closed the
// connection; the next call dials again, and fails counts the errors in a
// row.
func (f *fetcher) next() (kafka.Message, error) {
	m, err := f.fetch()
	switch {
	case err == nil, errors.Is(err, errBatchDone):
		f.fails = 0
	default:
		f.fails++
	}
	return m, err
}

func (f *fetcher) fetch() (kafka.Message, error) {
	ctx := f.ctx
	if err := ctx.Err(); err != nil {
		return kafka.Message{}, err
	}
	if f.conn == nil {
		if err := f.dial(ctx); err != nil {
			return kafka.Message{}, err
		}
	}
	if f.batch == nil {
		// The broker answers within FetchMaxWait; a broker that does not
		// is given up on readBatchTimeout later.
		f.conn.SetReadDeadline(time.Now().Add(f.c.opts.FetchMaxWait + readBatchTimeout))
		f.batch = f.conn.ReadBatchWith(kafka.ReadBatchConfig{
			MinBytes:       1,
			MaxBytes:       f.c.opts.FetchMaxBytes,
			MaxWait:        f.c.opts.FetchMaxWait,
			IsolationLevel: kafka.ReadCommitted,
		})
		f.hwm = f.batch.HighWaterMark()
	}
	f.conn.SetReadDeadline(time.Now().Add(readBatchTimeout))
	m, err := f.batch.ReadMessage()
	if err == nil {
		m.HighWaterMark = f.hwm
		f.offset = m.Offset + 1
		return m, nil
	}
	cerr := f.batch.Close()
	f.batch = nil
	f.conn.SetReadDeadline(time.Time{})
	if errors.Is(err, io.EOF) {
		err = cerr
	}
	switch {
	case err == nil:
		// The batch may have ended in records skipped (a transaction's
		// markers): the connection is past them.
		if off, whence := f.conn.Offset(); whence == kafka.SeekAbsolute && off > f.offset {
			f.offset = off
		}
		return kafka.Message{}, errBatchDone
	case errors.Is(err, kafka.RequestTimedOut):
		return kafka.Message{}, errBatchDone
	case errors.Is(err, kafka.OffsetOutOfRange):
		first, last, oerr := f.conn.ReadOffsets()
		switch {
		case oerr != nil:
			f.close()
			return kafka.Message{}, fmt.Errorf("reading the offsets of %s/%d: %w", f.topic, f.partition, oerr)
		case f.offset < first:
			f.c.log.Warn("reading before the first offset; skipping ahead", "topic", f.topic, "partition", f.partition,
				"offset", f.offset, "first", first)
			f.offset = first
			f.close()
			return kafka.Message{}, errBatchDone
		case f.offset < last:
			return kafka.Message{}, errBatchDone
		}
		f.close()
		return kafka.Message{}, fmt.Errorf("fetching %s/%d at offset %d past the last %d: %w", f.topic, f.partition, f.offset, last, err)
	}
	f.close()
	if ctx.Err() != nil {
		return kafka.Message{}, ctx.Err()
	}
	return kafka.Message{}, fmt.Errorf("fetching %s/%d at offset %d: %w", f.topic, f.partition, f.offset, err)
}

// dial connects to the partition's leader and seeks to f.offset, as the
// Reader's initialize does.
func (f *fetcher) dial(ctx context.Context) error {
	err := ctx.Err()
	for _, broker := range f.c.opts.Brokers {
		var conn *kafka.Conn
		f.dials++
		conn, err = f.c.dialer.DialLeader(ctx, "tcp", broker, f.topic, f.partition)
		if err != nil {
			continue
		}
		var first, last int64
		if first, last, err = conn.ReadOffsets(); err != nil {
			conn.Close()
			break
		}
		off := f.offset
		switch {
		case off == kafka.FirstOffset:
			off = first
		case off == kafka.LastOffset:
			off = last
		case off < first:
			off = first
		case off > last:
			// Past the end: the log the offset was of is gone (the topic
			// deleted and created again, the embedded broker restarted
			// without its data, a broker that lost what it held). Seeking
			// there fails at every dial; start as a new group would.
			to := first
			if f.c.opts.StartOffset == StartLatest {
				to = last
			}
			f.reset = &offsetReset{from: off, to: to, first: first, last: last}
			off = to
		}
		if off, err = conn.Seek(off, kafka.SeekAbsolute); err != nil {
			conn.Close()
			break
		}
		conn.SetDeadline(time.Time{})
		f.conn, f.offset = conn, off
		f.unwatch = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return nil
	}
	return fmt.Errorf("connecting to the leader of %s/%d: %w", f.topic, f.partition, err)
}

// close drops the batch and the connection.
func (f *fetcher) close() {
	if f.batch != nil {
		_ = f.batch.Close()
		f.batch = nil
	}
	if f.conn != nil {
		f.unwatch()
		_ = f.conn.Close()
		f.conn = nil
	}
}
