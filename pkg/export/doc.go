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
//	build_info{version,revision,goversion}                                           always 1
//	feature_quantile{quantile}, embedding_norm_quantile{quantile}                    summaries of the horizon
//	baseline_feature_quantile{quantile}, baseline_embedding_norm_quantile{quantile}  summaries of the reference
//
// The quantile families are constant summaries, not gauges: a gauge with a
// "quantile" label fails promtool's lint. Their _count and _sum are honest
// (the horizon's finite values and their sum; for embeddings, the vectors
// and the sum of their norms), and the quantile label values are
// engine.StatQuantiles, or the few of them CollectorOptions.Quantiles
// keeps (an empty selection leaves the four families out).
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
// model version (all of them, or one with ?model=&model_version=), a table
// of its features and embeddings with status, diagnosis, summary
// sentence, small inline SVG plots (baseline against current quantiles
// per feature, the norm histogram per embedding) and a history strip of
// the last evaluations' diagnoses, coloured by severity, the time of each
// change in its tooltip. The History that keeps them is a sink of the
// engine's evaluations (the engine keeps only the latest), bounded per
// version and forgetting versions that retire. /detail?model=&model_version=
// &feature= (or &embedding=) is one subject's detail view: for a feature
// the Q–Q plot of production against training quantiles with the fitted
// line Q_prod ≈ a·Q_base + b and the lines the declared scaler predicts
// (applied, skipped), and the histogram overlay, drawn from the horizon's
// and the baseline's sketches; for an embedding the norm histogram against
// the baseline's and the unit-norm share over time. A page refreshes
// itself in place (a small script swaps its content, keeping the scroll
// position); with no evaluation yet it lists the loaded baselines and the
// brokers and topics to send events to, with an example event. No
// front-end build; SVG data attributes carry the values drawn, for tests.
package export
