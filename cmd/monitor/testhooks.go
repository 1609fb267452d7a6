package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// crashAfterCheckpointEnv names the test-only hook of the process-level crash
// tests (test/process): with a count n, the daemon kills itself with SIGKILL
// right after its n-th successful checkpoint, before that checkpoint's
// offset is committed. Unset, as in any real deployment, it does nothing.
const crashAfterCheckpointEnv = "NORMWATCH_TEST_CRASH_AFTER_CHECKPOINT"

// crashAfterCheckpoint returns the consumer hook that crashAfterCheckpointEnv asks for, or
// nil when the variable is unset.
func crashAfterCheckpoint(logger *slog.Logger) (func(topic string, partition int, offset int64), error) {
	v := os.Getenv(crashAfterCheckpointEnv)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s: %q is not a positive count of checkpoints", crashAfterCheckpointEnv, v)
	}
	logger.Warn("test hook armed: the process kills itself after a checkpoint, before its commit", "env", crashAfterCheckpointEnv, "checkpoints", n)
	var seen atomic.Int64
	return func(topic string, partition int, offset int64) {
		if seen.Add(1) != n {
			return
		}
		logger.Warn("test hook: killing the process between checkpoint and commit", "topic", topic, "partition", partition, "offset", offset)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not deliverable late; never commit
	}, nil
}
