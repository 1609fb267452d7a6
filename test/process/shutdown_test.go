package process

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/stream"
)

// sigterm sends SIGTERM and returns how long the daemon took to exit and
// how it did.
func (d *daemon) sigterm(timeout time.Duration) (time.Duration, int) {
	d.t.Helper()
	start := time.Now()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("daemon %s still running %v after SIGTERM", d.name, timeout)
	}
	return time.Since(start), d.state.ExitCode()
}

// logInt is the value of key=N in the last log line holding msg.
func logInt(t *testing.T, log, msg, key string) int {
	t.Helper()
	line := lastLineWith(log, msg)
	require.NotEmpty(t, line, "no log line %q", msg)
	m := regexp.MustCompile(`\b` + key + `=(\d+)`).FindStringSubmatch(line)
	require.NotNil(t, m, "no %s in %q", key, line)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// SIGTERM with the broker healthy, then with it hung (accepting
// connections, answering nothing) while the daemon holds dead letters and
// state not yet checkpointed. Healthy: a clean exit, status 0, well within
// shutdown_timeout. Hung: an exit within shutdown_timeout with status 3,
// logging what could not be written, with counts. Restarted against the
// broker back up, the daemon re-reads what was not checkpointed: the
// statistics are exact and every dead letter is in its topic once.
func TestShutdownBrokerHung(t *testing.T) {
	const (
		n1, n           = 3000, 4500
		shutdownTimeout = 5 * time.Second
	)
	b, c := setup(t)
	if b.hang == nil {
		t.Skip("NORMWATCH_TEST_BROKERS names a broker this test cannot make hang")
	}
	bad := func(i int) bool { return i%97 == 5 }
	value := func(i int) []byte {
		if bad(i) {
			return []byte(`{"model": "ranker", "features": {`)
		}
		return makeEvent(i).json(i)
	}
	produceRange := func(from, to int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, produceValues(ctx, b.addrs, c.topic, from, to, 500, 0, value))
	}
	countBad := func(from, to int) int {
		k := 0
		for i := from; i < to; i++ {
			if bad(i) {
				k++
			}
		}
		return k
	}
	good := func(i int) bool { return !bad(i) }
	c.env = []string{"NORMWATCH_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String()}

	// First life, broker healthy: the first part, counted, its letters
	// written, stopped cleanly.
	produceRange(0, n1)
	a := startDaemon(t, "healthy", c)
	a.requireExact(expect(n1, good), 30*time.Second)
	waitFor(t, "the first part's letters written", 10*time.Second, func() bool {
		return a.metric("normwatch_dlq_messages_total") == float64(countBad(0, n1))
	})
	took, code := a.sigterm(2 * shutdownTimeout)
	t.Logf("healthy broker: SIGTERM to exit %v, status %d", took.Round(time.Millisecond), code)
	require.Equal(t, 0, code, "clean exit")
	require.Less(t, took, shutdownTimeout)
	require.Contains(t, a.stderr(), `msg="stopped cleanly"`)

	// Second life: checkpoints a minute apart, so the second part is all in
	// hand, letters included, when the broker hangs and SIGTERM comes.
	hung := c
	hung.env = append(hung.env, "NORMWATCH_CHECKPOINT_INTERVAL=1m")
	h := startDaemon(t, "hung", hung)
	h.waitReady()
	produceRange(n1, n)
	waitFor(t, "the second part applied", 30*time.Second, func() bool {
		return h.applied() >= float64(n-n1-countBad(n1, n)) &&
			h.metric("normwatch_decode_errors_total") >= float64(countBad(n1, n))
	})
	b.hang.Hang()
	took, code = h.sigterm(3 * shutdownTimeout)
	log := h.stderr()
	t.Logf("hung broker: SIGTERM to exit %v, status %d\n%s", took.Round(time.Millisecond), code, lastLineWith(log, "shutdown not clean"))
	require.Equal(t, 3, code, "the exit status says the shutdown was not clean")
	require.Less(t, took, shutdownTimeout+2*time.Second, "bounded by shutdown_timeout")
	require.Equal(t, countBad(n1, n), logInt(t, log, "consumer stopped; shutdown not clean", "dead_letters_unwritten"))
	require.Equal(t, n-n1, logInt(t, log, "consumer stopped; shutdown not clean", "messages_not_checkpointed"))
	require.Contains(t, lastLineWith(log, `msg="shutdown not clean`), "exit_code=3")
	require.NotContains(t, log, `msg="stopped cleanly"`)

	// The broker restarts (what the hung one was sent is lost with it);
	// the third life re-reads the second part.
	b.hang.Restart()
	r := startDaemon(t, "restarted", c)
	r.requireExact(expect(n, good), 45*time.Second)
	waitFor(t, "every letter written", 15*time.Second, func() bool {
		return r.metric("normwatch_dlq_messages_total") >= float64(countBad(n1, n))
	})
	r.stop()
	requireLettersOnce(t, b.addrs, c.topic, n, bad)
}

// requireLettersOnce reads the dead-letter topic of topic and requires one
// letter for each bad event of [0, n), and no other.
func requireLettersOnce(t *testing.T, brokers []string, topic string, n int, bad func(int) bool) {
	t.Helper()
	want := map[int]bool{}
	for i := range n {
		if bad(i) {
			want[i] = true
		}
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic + ".dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := map[int]int{}
	var last kafka.Message
	for range len(want) {
		m, err := rd.ReadMessage(ctx)
		require.NoError(t, err)
		last = m
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		p, err1 := strconv.Atoi(h[stream.HeaderSourcePartition])
		off, err2 := strconv.Atoi(h[stream.HeaderSourceOffset])
		require.NoError(t, err1)
		require.NoError(t, err2)
		got[off*partitions+p]++ // event i is at offset i/3 of partition i%3
	}
	for i, k := range got {
		require.True(t, want[i], "a letter for event %d, which is good", i)
		require.Equal(t, 1, k, fmt.Sprintf("letters for event %d", i))
	}
	require.Len(t, got, len(want))
	require.Equal(t, int64(len(want)), last.HighWaterMark, "no letter beyond those")
}
