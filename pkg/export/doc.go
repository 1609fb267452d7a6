// Package export owns what normwatch shows: the Prometheus collector of
// drift figures, computed at scrape time from the latest evaluations, and
// the HTTP server (/metrics, /healthz, /readyz and the status page at /).
//
// Metrics, namespace normwatch, labels model, model_version and feature or
// embedding (label values only ever come from tracked series):
//
//	drift_psi, drift_ks, drift_wasserstein, drift_js
//	normalization_scale, normalization_offset, normalization_fit_r2
//	feature_samples, feature_missing_ratio
//	drift_status{diagnosis}   0 ok, 1 warning, 2 critical
//	embedding_unit_norm_ratio, embedding_centroid_cosine
//	evaluation_timestamp_seconds
//
// The quantile families of DESIGN.md (feature_quantile and
// embedding_norm_quantile) are not exported yet: a gauge with a "quantile"
// label fails promtool's lint, so they will come as summaries.
package export
