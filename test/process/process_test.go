package process

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/stream"
)

// setup returns a broker, a fresh topic of 3 partitions and a daemon
// configuration for it with a checkpoint directory of its own.
func setup(t *testing.T) (*broker, daemonConfig) {
	t.Helper()
	b := newBroker(t)
	c := daemonConfig{
		brokers:       b.addrs,
		topic:         uniqueName(t, "events"),
		group:         uniqueName(t, "group"),
		checkpointDir: t.TempDir(),
	}
	createTopic(t, b.addrs, c.topic, partitions)
	// Where the daemons write dead letters and alerts (startDaemon).
	createTopic(t, b.addrs, c.topic+".dlq", 1)
	createTopic(t, b.addrs, c.topic+".alerts", 1)
	return b, c
}

// The daemon killed with SIGKILL while it consumes a stream, then
// restarted: the events applied since the last checkpoint are re-read from
// it and applied once; the final statistics are exact.
func TestKillMidStream(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	mustProduce(t, b.addrs, c.topic, 0, n/3)

	d := startDaemon(t, "first", c)
	d.waitReady()
	producerDone := produceInBackground(b.addrs, c.topic, n/3, n, 40*time.Millisecond)
	waitFor(t, "the daemon halfway through, past its first checkpoints", 30*time.Second, func() bool {
		return d.applied() >= n/2 && d.metric(`normwatch_checkpoints_total{result="ok"}`) >= partitions
	})
	// Half a checkpoint interval on, between two checkpoints.
	time.Sleep(checkpointInterval / 2)
	before := d.applied() // a lower bound of what it applied
	d.kill9()
	require.Less(t, before, float64(n), "killed before it had everything")

	d2 := startDaemon(t, "restarted", c)
	require.NoError(t, producerDone())
	d2.requireExact(expect(n, nil), 45*time.Second)
	var checkpointed int64
	for _, a := range d2.assignments()[:partitions] {
		checkpointed += a.checkpoint + 1
	}
	t.Logf("killed with at least %.0f of %d events applied, %d of them in checkpoints: at least %.0f applied twice in all, counted once",
		before, n, checkpointed, before-float64(checkpointed))
	require.Positive(t, checkpointed, "the restart resumed from checkpoints")
	require.Greater(t, before, float64(checkpointed), "killed with events applied past the last checkpoint")
	d2.stop()
}

// The daemon dies right after a checkpoint and before its offset commit (a
// test hook in the daemon kills it there): on restart the group's offset
// is behind the checkpoint, the partition starts after the checkpoint, and
// the final statistics are exact.
func TestKillAfterCheckpointBeforeCommit(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	mustProduce(t, b.addrs, c.topic, 0, n/3)

	hooked := c
	// The first checkpoint of the second round, a second after the first
	// round of the 3 partitions was checkpointed and committed, while the
	// stream (paced over 3 s or more) flows.
	hooked.env = []string{"NORMWATCH_TEST_CRASH_AFTER_CHECKPOINT=4"}
	d := startDaemon(t, "hooked", hooked)
	producerDone := produceInBackground(b.addrs, c.topic, n/3, n, 75*time.Millisecond)
	st := d.wait(30 * time.Second)
	ws, ok := st.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "exit: %v", st)
	require.Contains(t, d.stderr(), "test hook: killing the process between checkpoint and commit")

	d2 := startDaemon(t, "restarted", c)
	require.NoError(t, producerDone())
	d2.requireExact(expect(n, nil), 45*time.Second)
	// The partition the hook killed had a checkpoint past its commit.
	behind := false
	for _, a := range d2.assignments() {
		if a.checkpoint >= 0 && a.committed < a.checkpoint+1 {
			behind = true
			require.Equal(t, a.checkpoint+1, a.start, "starts after the checkpoint, not at the commit")
		}
	}
	require.True(t, behind, "a partition restarted with its checkpoint ahead of the group's commit:\n%s", d2.stderr())
	d2.stop()
}

// A damaged current checkpoint: the daemon falls back to the previous one,
// says so, re-reads from it and counts exactly. Both damaged: it refuses to
// run, naming the files and what to do.
func TestCorruptCheckpoint(t *testing.T) {
	const n1, n = 3000, 6000
	b, c := setup(t)
	mustProduce(t, b.addrs, c.topic, 0, n1)
	d := startDaemon(t, "first", c)
	d.requireExact(expect(n1, nil), 30*time.Second)
	// The checkpoints of the first half are written by now (an interval
	// passed in requireExact); those of the second half replace them and
	// keep them as .prev.
	mustProduce(t, b.addrs, c.topic, n1, n)
	d.requireExact(expect(n, nil), 30*time.Second)
	d.stop()

	store, err := stream.NewFileCheckpoints(c.checkpointDir, c.group)
	require.NoError(t, err)
	cur := store.Path(c.topic, 0)
	prev := cur + ".prev"
	require.FileExists(t, cur)
	require.FileExists(t, prev)
	// damage overwrites bytes in the middle of a file, as a torn write or
	// a bad sector would.
	damage := func(path string) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		copy(b[len(b)/2:], "\x00damaged\x00")
		require.NoError(t, os.WriteFile(path, b, 0o600))
	}

	damage(cur)
	d2 := startDaemon(t, "fallback", c)
	d2.requireExact(expect(n, nil), 30*time.Second)
	require.Contains(t, d2.stderr(), "checkpoint failed its check; using the previous one")
	require.Contains(t, d2.stderr(), filepath.Base(cur))
	d2.stop()

	damage(cur)
	damage(prev)
	d3 := startDaemon(t, "refused", c)
	st := d3.wait(30 * time.Second)
	require.Equal(t, 1, st.ExitCode(), "exit: %v", st)
	log := d3.stderr()
	for _, s := range []string{"corrupt checkpoint", cur, prev, "no good checkpoint remains", "move", "restore them from a backup"} {
		require.Contains(t, log, s)
	}
	t.Logf("refusal: %s", lastLineWith(log, "no good checkpoint remains"))
}

func lastLineWith(log, s string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// Two daemons in one group on 3 partitions, checkpoints on the same disk;
// one is killed with SIGKILL midway. The other takes its partitions after
// the session timeout, restores their checkpoints and ends with exact
// statistics of every event.
func TestTwoDaemonsOneKilled(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	a := startDaemon(t, "a", c)
	a.waitReady()
	bd := startDaemon(t, "b", c)
	waitFor(t, "both daemons to hold partitions", 30*time.Second, func() bool {
		return len(a.assignments()) > 0 && len(bd.assignments()) > 0 && a.ready() && bd.ready()
	})

	producerDone := produceInBackground(b.addrs, c.topic, 0, n, 15*time.Millisecond)
	waitFor(t, "daemon a a third through", 30*time.Second, func() bool {
		return a.applied() >= n/(3*partitions) && bd.applied() > 0
	})
	a.kill9()
	require.NoError(t, producerDone())
	bd.requireExact(expect(n, nil), 45*time.Second)
	bd.stop()
}

// The same with the killed daemon's checkpoints out of reach (each daemon
// has a directory of its own, as on two machines with local disks): the
// survivor starts those partitions at the group's committed offsets with
// empty state. What the dead one had counted before its last commit is
// gone from the statistics; nothing is counted twice. The survivor counts
// exactly the events from the offset it started each partition at.
func TestTwoDaemonsCheckpointUnreachable(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	ca, cb := c, c
	ca.checkpointDir, cb.checkpointDir = t.TempDir(), t.TempDir()
	a := startDaemon(t, "a", ca)
	a.waitReady()
	mustProduce(t, b.addrs, c.topic, 0, n/2)
	waitFor(t, "daemon a to apply the first half", 30*time.Second, func() bool { return a.applied() >= n/2 })
	time.Sleep(2 * checkpointInterval) // checkpointed and committed

	bd := startDaemon(t, "b", cb)
	waitFor(t, "both daemons to hold partitions", 30*time.Second, func() bool {
		return len(bd.assignments()) > 0 && a.ready() && bd.ready()
	})
	a.kill9()
	mustProduce(t, b.addrs, c.topic, n/2, n)
	waitFor(t, "daemon b to own every partition", 30*time.Second, func() bool {
		seen := map[int]bool{}
		for _, as := range bd.assignments() {
			seen[as.partition] = true
		}
		return len(seen) == partitions
	})

	// Daemon b's state of a partition starts where it first opened it
	// without a checkpoint of its own: at the group's committed offset.
	from := map[int]int64{}
	for _, as := range bd.assignments() {
		if _, ok := from[as.partition]; !ok && as.checkpoint < 0 {
			from[as.partition] = max(as.start, 0)
		}
	}
	want := expect(n, func(i int) bool { return int64(i/partitions) >= from[i%partitions] })
	lost := uint64(n) - want.events()
	t.Logf("daemon b started the partitions at offsets %v: %d events counted by a are lost with its checkpoints", from, lost)
	require.Positive(t, lost)
	bd.requireExact(want, 45*time.Second)
	bd.stop()
}

// The broker stopped and restarted mid-stream: the daemon shows unready
// while it is down, reconnects by itself, and the final statistics are
// exact.
func TestBrokerRestart(t *testing.T) {
	const n = 6000
	b, c := setup(t)
	if b.restart == nil {
		t.Skip("NORMWATCH_TEST_BROKERS names a broker this test cannot restart (set NORMWATCH_TEST_KAFKA_CTL too)")
	}
	d := startDaemon(t, "daemon", c)
	d.waitReady()
	mustProduce(t, b.addrs, c.topic, 0, n/2)
	waitFor(t, "the first half", 30*time.Second, func() bool { return d.applied() >= n/2 })

	// Readiness is watched while the broker is down.
	var sawUnready atomic.Bool
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if !d.ready() {
				sawUnready.Store(true)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	b.restart(t, 3*time.Second)
	<-watching
	require.True(t, sawUnready.Load(), "/readyz showed the broker outage")
	mustProduce(t, b.addrs, c.topic, n/2, n)
	d.requireExact(expect(n, nil), 60*time.Second)
	d.waitReady()
	require.Positive(t, d.metric("normwatch_kafka_reconnects_total"), "reconnects counted")
	d.stop()
}
