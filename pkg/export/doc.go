// Package export owns what normwatch shows: the Prometheus collector of
// drift figures, computed at scrape time from the latest evaluations, and
// the HTTP server (/metrics, /healthz, /readyz and the status page at /).
//
// Metrics, namespace normwatch, labels model, model_version and feature or
// embedding (label values only ever come from tracked series):
//
//	drift_psi, drift_ks, drift_wasserstein, drift_js
//	normalization_scale, normalization_offset, normalization_fit_r2
//	feature_samples, feature_missing_ratio, feature_mean, feature_stddev
//	drift_status{diagnosis}   0 ok, 1 warning, 2 critical
//	embedding_unit_norm_ratio, embedding_centroid_cosine
//	evaluation_timestamp_seconds
//	feature_quantile{quantile}, embedding_norm_quantile{quantile}                    summaries of the horizon
//	baseline_feature_quantile{quantile}, baseline_embedding_norm_quantile{quantile}  summaries of the reference
//
// The quantile families are constant summaries, not gauges: a gauge with a
// "quantile" label fails promtool's lint. Their _count and _sum are honest
// (the horizon's finite values and their sum; for embeddings, the vectors
// and the sum of their norms), and the quantile label values are
// engine.StatQuantiles.
//
// The server's own metrics, namespace normwatch, subsystem http:
//
//	http_connections                            open connections
//	http_connections_evicted_total{reason}      closed to make room: idle, no_request, stalled
//	http_connections_rejected_total             closed on arrival, every connection busy
//	http_requests_rejected_total                large-endpoint requests answered 503
//
// The server bounds what clients can hold of it (ServerOptions): read,
// read-header, write and idle timeouts, a cap on connections that makes
// room by closing the least useful one (connLimit), and a cap on the
// requests of the endpoints with large answers served at once (gate),
// whose JSON answers are streamed element by element.
//
// The status page at / is rendered on the server with html/template: per
// model version, a table of its features and embeddings with status,
// diagnosis and summary sentence, and small inline SVG plots (baseline
// against current quantiles per feature, the norm histogram per
// embedding). It needs no script and no front-end build.
package export
