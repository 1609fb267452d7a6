// Package drift owns normwatch's pure statistics between a reference sketch
// (a training baseline or a pinned production window) and a current sketch
// (a comparison horizon): distances between distributions, the
// normalization-delta fit, severity judged against sample size, and one
// diagnosis per feature and per embedding that names the likely cause with
// its numbers.
//
// Distances (KS, Wasserstein, PSI, Jensen-Shannon) are computed exactly over
// the pieces of two sketch.Distribution values, so the only error is the
// sketches' own. Severity needs both statistical significance for the two
// sample sizes and an effect-size floor: a million stationary values never
// page on a negligible difference, and a horizon with fewer than
// Thresholds.MinSamples values is insufficient_data, never an alert.
//
// The package does no I/O, holds no goroutines and reads no clock: the same
// sketches always give the same report.
package drift
