// Package stream owns normwatch's Kafka I/O: the consumer group, event
// decoding, offsets and checkpoints, the dead-letter and alert topics, and the
// embedded broker.
//
// So far only decoding exists. A Decoder turns one Kafka message value (JSON,
// see DESIGN.md "The event") into an Event whose slices it reuses from one
// message to the next, so that a partition's goroutine decodes in steady state
// without allocating. A message that cannot be decoded, or that is over a
// limit, yields a *DecodeError whose Reason is a stable label value for
// normwatch_decode_errors_total{reason} and for the dead-letter headers; a
// feature value that is not a number is not such an error but a per-feature
// type error flagged in the Event, so the rest of the event still counts.
//
// The JSON is parsed with github.com/valyala/fastjson: in
// BenchmarkDecode it decodes a 20-feature event several times faster than
// encoding/json does into a map, without allocating.
package stream
