// Package bench is normwatch's load harness (issue 4): benchmarks that
// produce events to a Kafka-protocol broker and measure the monitor
// against the budgets of the issue. It holds no code the daemon uses.
//
//	go test ./bench -run '^$' -bench . -benchtime 1x   # everything, default sizes
//	go test ./bench -run '^$' -bench DecodeApply       # (a) CPU per event
//	go test ./bench -run '^$' -bench EndToEnd -benchtime 1x  # (b) monitor vs bare kafka-go
//	go test ./bench -run '^$' -bench Memory -benchtime 1x    # (c) RSS, 1,000 features × 5 versions
//
// (a) BenchmarkDecodeApply* decode a message with stream's Decoder and
// apply it through the public engine.New(...).OpenPartition(...).Apply,
// with the evaluator running: cpu-ns/event is the process's CPU time
// (user and system, every goroutine) per event; budgets 2,500 ns for 20
// features and 4,000 ns with a 384-dimension b64f32 embedding.
//
// (b) BenchmarkEndToEnd produces NORMWATCH_BENCH_EVENTS events (default
// 200,000) of 20 features to the embedded broker (and to
// NORMWATCH_TEST_BROKERS when set), then reads them all twice in the same
// run: with a bare kafka-go consumer group (FetchMessage, commit every
// second, nothing else) and with the monitor's consumer and engine
// (decode, sketch, checkpoint, commit). It reports both events/s and their
// ratio; the target is a ratio of at least 1/3.
//
// (c) BenchmarkMemory fills an engine with 1,000 features × 5 versions
// over a 5-window horizon (and one open window) and reports the Go heap
// in use and the process's VmRSS, each before and after;
// NORMWATCH_BENCH_HEAPPROFILE names a file for a heap profile taken then,
// with the engine and its sketches alive (`go tool pprof -sample_index
// inuse_space`), to see what holds the memory.
//
// (d) BenchmarkRealistic (issue 14) runs the realistic stream (one model
// through 21 versions, 4 partitions, 7 numeric features with a raw pair,
// a 64-dimension query embedding as JSON arrays, b64f32 or both; the shape
// in realistic_test.go) through `monitor run` as a child process with a
// baseline per version, checkpoints every 10 s and /metrics scraped every
// 15 s, beside a bare kafka-go consumer group on the same topic. It reports
// the child's CPU µs per event (user + system from /proc), events/s, the
// ratio to the bare consumer and peak RSS. NORMWATCH_BENCH_EMBEDDING picks
// the encoding, NORMWATCH_BENCH_PROFILE a directory for a CPU and an
// allocation profile taken through /debug/pprof (http.pprof).
//
// (e) BenchmarkDefaultCeiling and BenchmarkScrape1000x5: series, bytes and
// time of a /metrics scrape with the default global series budget full,
// and with 1,000 features × 5 versions.
//
// (f) BenchmarkScaleOut (issue 15) reads the realistic stream on six
// partitions with 1, 2 and 3 `monitor run` processes of one group
// (evaluation.mode cluster, checkpoints in Kafka) in turn and reports the
// group's events/s once every process is a member, its ratio to one
// process, and the CPU per event summed over the processes.
//
// TestSmoke runs each at a small size, so that `go test ./...` keeps the
// harness working in a few seconds.
package bench
