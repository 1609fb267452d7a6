// Package sketch owns normwatch's mergeable, serializable summaries of
// production and training data: Numeric for a scalar feature, Vector for an
// embedding field and Pair for a feature seen both raw and normalized.
//
// Every sketch can be merged with another of its kind, so per-partition
// partial sketches of one window combine into the statistics of all their
// values: exactly for counts and moments, within the t-digest's error for
// quantiles. Sketches do no I/O, hold no goroutines and read no clock; a
// sketch is owned by one goroutine at a time and is not safe for concurrent
// use.
//
// Numeric keeps values out of its digest and moments unless they are finite:
// missing values, NaN, +Inf and -Inf are counted apart, because a spike of
// any of them is itself a finding. While a feature has at most
// DefaultExactLimit distinct values (flags, small counts, constants) Numeric
// keeps their exact counts, so quantiles and CDFs of discrete data are exact
// rather than interpolated; past the limit it switches to a t-digest
// (github.com/influxdata/tdigest).
package sketch
