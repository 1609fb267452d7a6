// Package baseline owns normwatch's training baselines: the baseline file
// format, the builders that make one from training data (CSV, JSONL events,
// Parquet, a Kafka topic range read with the daemon's decoder), the scaler files that declare how features were normalized, the
// store that serves one baseline per (model, model version), and the diff
// and pin operations of `monitor baseline`.
//
// # The file
//
// A baseline is one JSON file, immutable once written (see Baseline and
// DESIGN.md "The baseline"). It is identified by the sha256 of its canonical
// content: the document without its "id" member, with object keys sorted at
// every level, no insignificant white space, strings escaped as encoding/json
// does without HTML escaping, and numbers exactly as written. Reformatting a
// file keeps its id; changing any value breaks it, and Load refuses it.
//
// # The store's layout
//
// A store is a directory holding <model>/<model version>/<id prefix>.json.
// Which file serves a version is explicit: a version directory holds exactly
// one baseline file, and a second one is an error of the whole reload, never
// a silent replacement by the newer file. Write refuses to add a second one;
// a new baseline of the same training data is a new model version, and a
// pinned production window gets a version of its own
// (<version>-pinned-<time> or a name given). Names starting with a dot and
// names not ending in .json are ignored, so temporary files of a write in
// progress are never read.
//
// # Builders
//
// Builders stream their input: memory is bounded by the number of features
// and embedding dimensions, not by the rows. A cell or value that is not a
// number is skipped and counted by reason with the file and line of the
// first few; a row that cannot be parsed at all is skipped and counted. An
// empty input, a requested column that is not there or a file that cannot be
// read is an error, and no file is written.
package baseline
