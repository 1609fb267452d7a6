// Package stream owns normwatch's Kafka I/O: the consumer group, event
// decoding, offsets and checkpoints, the dead-letter and alert topics, and the
// embedded broker.
//
// What it holds so far:
//
//   - Decoder (decode.go): a Decoder turns one Kafka message value (JSON,
//     see DESIGN.md "The event") into an Event whose slices it reuses from
//     one message to the next, so that a partition's goroutine decodes in
//     steady state without allocating. A message that cannot be decoded, or
//     that is over a limit, yields a *DecodeError whose Reason is a stable
//     label value for normwatch_decode_errors_total{reason} and for the
//     dead-letter headers; a feature value that is not a number is not such
//     an error but a per-feature type error flagged in the Event, so the
//     rest of the event still counts, and neither is an event time that
//     cannot be used (Event.TimeFallback): the Kafka timestamp stands in.
//     Epoch times are told apart by magnitude (seconds, milliseconds,
//     microseconds, nanoseconds) unless TimeUnit forces one; strings are read
//     as ISO 8601 (RFC 3339, a space for the T, no zone, short offsets).
//     Features, raw values and embeddings come as objects or as lists of
//     {name, value} entries, features also at the event's root (PathRoot);
//     paths escape a dot inside a key as `\.`. The JSON is parsed with
//     github.com/valyala/fastjson: in BenchmarkDecode it decodes a
//     20-feature event several times faster than encoding/json does into a
//     map, without allocating.
//   - The contract (processor.go) between the consumer, which owns Kafka,
//     offsets and dead letters, and the processor (pkg/engine), which owns
//     the state: Processor, PartitionProcessor, CheckpointStore.
//   - Consumer (consumer.go): a kafka-go consumer group (ConsumerGroup and
//     its Generations, not a group Reader, so that each partition is
//     checkpointed and committed before it is revoked) with a goroutine
//     and a Decoder per assigned partition, which fetches on its own
//     goroutine over a kafka.Conn to the leader (fetch.go, no Reader and
//     its hand-off of every message over a channel), TLS and SASL (PLAIN,
//     SCRAM), reconnects with backoff, readiness with its reason, and
//     per-partition lag. The group takes the configured topics that exist
//     (topics.go): kafka-go's group rebalances without end on a missing one.
//   - The dead-letter writer (dlq.go): undecodable messages with their
//     source and reason in headers, written with acks from all replicas
//     before the checkpoint that skips them.
//   - FileCheckpoints (checkpoint.go): a CheckpointStore of checksummed
//     files, written atomically, with the previous one kept as a fallback.
//   - KafkaCheckpoints (kafkackpt.go): a CheckpointStore in a compacted
//     topic shared by the processes of a group, keyed by (group, topic,
//     partition) and the writer's generation, chunked below 1 MiB records,
//     two slots per writer; restore takes the highest generation, not the
//     last record, so a zombie's late write never wins. The consumer claims
//     each partition for its generation first (Claimer).
//   - ReadRange (topicrange.go): a replay of a topic range, per partition
//     from and to offsets or times (resolved with the partition leader's
//     ListOffsets), joining no group and committing nothing: what
//     `baseline build --topic` and `baseline pin --replay` read.
//   - Embedded (embedded.go): the in-process Kafka-protocol broker
//     (github.com/twmb/franz-go/pkg/kfake) that `monitor run
//     --kafka.embedded` and `monitor demo` start, and that the integration
//     tests run against.
//
// Metrics (namespace normwatch), registered by NewConsumer:
//
//   - decode_errors_total{reason}: messages dead-lettered and skipped, by
//     Reason, every reason present from the start.
//   - event_time_fallbacks_total{reason}: events whose own time could not
//     be used, by TimeFallback (absent, bad_type, bad_format, out_of_range);
//     their Kafka timestamp was.
//   - dlq_messages_total: dead letters acknowledged by the broker.
//   - consumer_lag{topic,partition}: high watermark minus the next offset,
//     per assigned partition; the series goes when the partition does.
//   - kafka_reconnects_total: group re-joins after an error and fetch
//     reconnects.
//   - kafka_topic_missing{topic}: 1 while a configured topic does not
//     exist, else 0; one series per configured topic.
//   - redeliveries_skipped_total: messages dropped because the checkpoint
//     already holds their effect.
//   - checkpoints_total{result} and offset_commits_total{result}, result
//     "ok" or "error".
//
// events_total is the engine's: only it knows what an event counted for.
package stream
