// Package scenario is normwatch's scenario suite: a generator of a model's
// training data and production streams, each stream with at most one
// injected normalization or data fault (a scaler skipped, applied twice or
// re-fitted, a unit change, part of the traffic through another
// transform, a range violation, a compressed score, missing or absent
// keys, embeddings unnormalized, mixed, swapped or resized) and its
// expected diagnosis, plus clean controls; every fault with varied
// parameters (shares, factors, magnitudes, encodings, onset times).
//
// Run drives the real daemon path: baselines from `monitor baseline
// build`, events over the Kafka protocol to an embedded broker, `monitor
// run` consuming them, and a scrape of /metrics after every window for the
// diagnoses; the alert topic for the pages. It reports per fault kind what
// was detected, named, how soon after the onset, how often the name
// flipped, and the false alarms.
//
// TestScenarios runs the small suite and fails on any regression against
// testdata/small.json; `go test ./test/scenario -run TestScenarios -v
// -args -scenario.size=full` runs the full one (see the README).
package scenario
