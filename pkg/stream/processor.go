package stream

import "errors"

// This file is the contract between the consumer (this package), which owns
// Kafka, offsets and the dead-letter topic, and the processor (pkg/engine),
// which owns the state the messages build. The consumer calls a
// PartitionProcessor from one goroutine per assigned partition.
//
// Exactly-once effect on the state, with at-least-once delivery:
//
//  1. On assignment the consumer opens the partition; the processor restores
//     its checkpoint and reports through Offset the last offset whose effect
//     it already holds (-1 for none).
//  2. The consumer fetches from the offset after the partition's checkpoint
//     when it has one, else from the group's committed offset, and drops
//     every message at or below Offset: re-deliveries after a crash or a
//     rebalance. (Starting after the checkpoint matters when the store fell
//     back to an older checkpoint the group has already committed past.)
//  3. Each other message is decoded and handed to Apply, or dead-lettered
//     and handed to Skip, in offset order.
//  4. Periodically, and when the partition is revoked or the consumer stops,
//     the consumer waits for the dead-letter writes of the skipped messages,
//     calls Checkpoint, and only then commits offset+1 to the group.
//
// A crash anywhere leaves committed <= checkpointed + 1, so nothing is lost,
// and the offset guard of step 2 means nothing is counted twice.

// Processor opens partitions as the consumer group assigns them.
type Processor interface {
	// OpenPartition restores the state of topic/partition from its
	// checkpoint, if any. An error stops the consumer: a corrupt
	// checkpoint must not be papered over with empty state.
	OpenPartition(topic string, partition int) (PartitionProcessor, error)
}

// PartitionProcessor applies one partition's messages. Its methods are called
// from a single goroutine.
type PartitionProcessor interface {
	// Offset returns the offset of the last message whose effect the
	// processor holds, or -1.
	Offset() int64
	// Apply applies the decoded event of the message at offset. ev and its
	// slices are reused by the next message: copy what must be kept. An
	// error is an internal error of the processor (never bad input, which
	// the decoder refuses): the consumer dead-letters the message with
	// reason internal_error and goes on; the processor holds its offset.
	Apply(offset int64, ev *Event) error
	// Skip advances past the message at offset, which was dead-lettered.
	// It also moves the offset back, to before where consumption resumes,
	// when the partition's log was replaced by a shorter one (an offset
	// past its end: the topic created again).
	Skip(offset int64)
	// Checkpoint makes the state durable and returns the last offset it
	// covers (Offset at the time of the call).
	Checkpoint() (int64, error)
	// Close releases the partition after a final Checkpoint; the processor
	// must forget it, since another consumer may own it next.
	Close() error
}

// RawPartitionProcessor is a PartitionProcessor that takes its messages
// undecoded, as they are: the evaluation stage, whose messages are the
// partial sketches pkg/engine writes, not events. The consumer hands every
// message to ApplyRaw instead of decoding it; an error is bad input (a
// record that does not decode): the message is dead-lettered with reason
// ReasonBadPartial and skipped.
type RawPartitionProcessor interface {
	PartitionProcessor
	// ApplyRaw applies the message at offset; key and value are the
	// consumer's to reuse after the call.
	ApplyRaw(offset int64, key, value []byte) error
}

// ReasonBadPartial is the dead-letter reason of a record of the partials
// topic that does not decode.
const ReasonBadPartial Reason = "bad_partial"

// CheckpointStore keeps the latest checkpoint of each partition durably.
type CheckpointStore interface {
	// Load returns the last saved checkpoint of topic/partition, or
	// (nil, nil) when there is none. A checkpoint that fails its checksum
	// falls back to the previous good one; when none is good, Load returns
	// an error wrapping ErrCorruptCheckpoint, naming the file and what to do.
	Load(topic string, partition int) ([]byte, error)
	// Save durably replaces the checkpoint of topic/partition with data:
	// written to a temporary file, synced, renamed, the directory synced.
	Save(topic string, partition int, data []byte) error
}

// ErrCorruptCheckpoint is wrapped by CheckpointStore.Load when no good
// checkpoint of a partition remains.
var ErrCorruptCheckpoint = errors.New("stream: corrupt checkpoint")

// ReasonInternalError is the dead-letter reason of a message whose
// decoding or processing hit an internal error (a bug of ours): a panic
// recovered by the consumer's poison-pill guard, or an error from
// PartitionProcessor.Apply.
const ReasonInternalError Reason = "internal_error"
