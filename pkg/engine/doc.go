// Package engine owns normwatch's pipeline state: per-partition open
// windows and watermarks, the closed partial sketches of the comparison
// horizon, the cumulative view per model version, the evaluation of each
// closed window against its baseline with pkg/drift, and the fan-out of the
// resulting reports to sinks (the alert engine, the exporter).
//
// The Engine implements stream.Processor: the consumer opens one
// PartitionProcessor per assigned partition and calls it from that
// partition's goroutine. Windows are tumbling and in event time; a window
// closes when the partition's watermark (its largest event time less the
// allowed lateness) passes the window's end, or when the partition has been
// idle for a window and the lateness in wall time. A closed window's
// sketches are compacted, kept immutable in the partition's horizon and
// handed to the evaluator goroutine (Run), which evaluates a window once
// every open, non-idle partition that holds the model version has closed
// it, over the merge of the last HorizonWindows windows of all partitions.
//
// Memory and metric series are bounded by Limits, whatever names events
// carry: models, versions per model, features and embeddings per version
// (and over all versions) are admitted into a registry shared by all
// partitions. At the model and version caps the newest wins; a feature or
// embedding past a limit is refused and counted. Versions go stale and
// retire when their events stop (see lifecycle.go).
//
// Metrics (namespace normwatch):
//
//	normwatch_events_total{model,model_version}                     events applied per tracked version
//	normwatch_late_events_total                                     events for a window already closed (cumulative only)
//	normwatch_feature_type_errors_total                             feature or raw values that were not numbers
//	normwatch_refused_events_total{kind}                            events (model, version) or values (feature, embedding) refused over a limit
//	normwatch_refused_series_total{kind}                            distinct feature or embedding names refused, per version up to 1024
//	normwatch_version_retirements_total{state}                      versions retired (idle) or evicted (at a cap)
//	normwatch_version_last_event_timestamp_seconds{model,model_version}  event time of a version's newest event
//	normwatch_version_stale{model,model_version}                    1 while a version is stale
//	normwatch_internal_errors_total{component}                      internal errors caught, the broken state reset
//	normwatch_future_timestamps_total{reason}                       event times not believed
//	normwatch_tracked_series{kind}                                  series tracked now, by kind
//	normwatch_window_closed_timestamp_seconds{model,model_version}  end of the last window closed, in event time
//	normwatch_evaluations_total                                     evaluations published
//	normwatch_sink_dropped_total{sink}                              evaluations dropped by a full sink queue (oldest first)
package engine
