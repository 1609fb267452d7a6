// Package process holds normwatch's process-level tests: the monitor binary
// run as child processes against a broker outside them, killed with
// SIGKILL mid-stream, between a checkpoint and its commit, restarted over
// corrupted checkpoint files, two of them sharing a consumer group, and the
// broker itself stopped and restarted. Each test compares the daemon's
// cumulative statistics with exact values computed from the events it
// produced.
//
// The broker is an embedded one (kfake) started by the test, or the real
// brokers named by NORMWATCH_TEST_BROKERS; with NORMWATCH_TEST_KAFKA_CTL
// naming scripts/kafka-local.sh as well, the broker-restart test stops and
// starts that real broker.
//
// The cluster tests (cluster_test.go) run several daemons in one group, each
// with a directory of its own and the checkpoints in a compacted topic
// (checkpoint.store kafka): killed with SIGKILL, joined by another, paused
// with SIGSTOP past the session timeout and resumed. Their helper, cluster,
// starts members with given settings, kills, pauses and resumes them, and
// reads their /metrics and merged state. They need a real Kafka and skip
// without NORMWATCH_TEST_BROKERS.
package process
