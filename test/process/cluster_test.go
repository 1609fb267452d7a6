package process

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/engine"
)

// The cluster tests run several `monitor run` processes in one consumer
// group, as on several machines: each with a checkpoint directory of its
// own, and the checkpoints in a compacted topic (checkpoint.store kafka).
// They need the real Apache Kafka of scripts/kafka-local.sh (.ci/run runs
// them there): session timeouts, rebalances and compaction are the
// broker's.

// clusterPartitions is the partition count of a cluster test's topic.
const clusterPartitions = 6

// cluster is a group of daemons on one topic. Tests add members with
// start, kill, pause and resume them, and read their merged state.
type cluster struct {
	t      *testing.T
	b      *broker
	cfg    daemonConfig // of every member but checkpointDir
	ckpt   string       // checkpoint.topic
	mu     sync.Mutex
	member []*daemon
	paused map[*daemon]bool
}

// newCluster creates a topic of n partitions and the group's names on the
// real broker of NORMWATCH_TEST_BROKERS, or skips the test. env is given
// to every member (NORMWATCH_* settings beyond the kafka checkpoint store).
func newCluster(t *testing.T, n int, env ...string) *cluster {
	t.Helper()
	if os.Getenv("NORMWATCH_TEST_BROKERS") == "" {
		t.Skip("NORMWATCH_TEST_BROKERS is unset: the cluster tests need a real Kafka (scripts/kafka-local.sh run -- go test ./test/process)")
	}
	b := newBroker(t)
	c := &cluster{t: t, b: b, paused: map[*daemon]bool{}, ckpt: uniqueName(t, "checkpoints")}
	c.cfg = daemonConfig{
		brokers: b.addrs,
		topic:   uniqueName(t, "events"),
		group:   uniqueName(t, "group"),
		env: append([]string{
			"NORMWATCH_CHECKPOINT_STORE=kafka",
			"NORMWATCH_CHECKPOINT_TOPIC=" + c.ckpt,
			"NORMWATCH_CHECKPOINT_TOPIC_PARTITIONS=" + strconv.Itoa(n),
		}, env...),
	}
	createTopic(t, b.addrs, c.cfg.topic, n)
	createTopic(t, b.addrs, c.cfg.topic+".dlq", 1)
	createTopic(t, b.addrs, c.cfg.topic+".alerts", 1)
	return c
}

// start adds a member with a checkpoint directory of its own (which the
// kafka store leaves unused: nothing but Kafka is shared) and waits until
// it serves HTTP.
func (c *cluster) start(name string, env ...string) *daemon {
	c.t.Helper()
	cfg := c.cfg
	cfg.checkpointDir = c.t.TempDir()
	cfg.env = append(append([]string(nil), cfg.env...), env...)
	d := startDaemon(c.t, name, cfg)
	c.mu.Lock()
	c.member = append(c.member, d)
	c.mu.Unlock()
	return d
}

// live returns the members running and not paused.
func (c *cluster) live() []*daemon {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*daemon
	for _, d := range c.member {
		if !d.exited() && !c.paused[d] {
			out = append(out, d)
		}
	}
	return out
}

// pause stops d with SIGSTOP: it holds its partitions, connections and
// state, and answers nothing, as a process in a long GC pause or a frozen
// VM.
func (c *cluster) pause(d *daemon) {
	c.t.Helper()
	require.NoError(c.t, d.cmd.Process.Signal(syscall.SIGSTOP))
	c.mu.Lock()
	c.paused[d] = true
	c.mu.Unlock()
}

// resume continues d with SIGCONT.
func (c *cluster) resume(d *daemon) {
	c.t.Helper()
	require.NoError(c.t, d.cmd.Process.Signal(syscall.SIGCONT))
	c.mu.Lock()
	delete(c.paused, d)
	c.mu.Unlock()
}

// metric sums a metric family over the live members' /metrics.
func (c *cluster) metric(name string) float64 {
	var sum float64
	for _, d := range c.live() {
		sum += d.metric(name)
	}
	return sum
}

// held returns the partitions each live member holds now, by its log
// ("partition assigned" and "partition released" lines, in order).
func (c *cluster) held() map[*daemon][]int {
	out := map[*daemon][]int{}
	for _, d := range c.live() {
		out[d] = d.held()
	}
	return out
}

// settled reports whether every partition is held by exactly one live
// member and every live member is ready.
func (c *cluster) settled(partitions int) bool {
	owners := map[int]int{}
	for d, ps := range c.held() {
		if !d.ready() {
			return false
		}
		for _, p := range ps {
			owners[p]++
		}
	}
	if len(owners) != partitions {
		return false
	}
	for _, n := range owners {
		if n != 1 {
			return false
		}
	}
	return true
}

// merged returns the cumulative view of every version merged over the
// live members: each holds its own partitions' state, so the sum over the
// members is the whole topic's when every partition has one owner.
func (c *cluster) merged() map[string]*engine.CumulativeStats {
	out := map[string]*engine.CumulativeStats{}
	for _, d := range c.live() {
		for v, cs := range d.cumulative() {
			if out[v] == nil {
				out[v] = &engine.CumulativeStats{Model: cs.Model, Version: v}
			}
			mergeCumulative(out[v], cs)
		}
	}
	return out
}

// mergeCumulative adds b into a: counts summed, means and population
// standard deviations pooled.
func mergeCumulative(a, b *engine.CumulativeStats) {
	a.Events += b.Events
	for _, bf := range b.Features {
		af := byName(&a.Features, bf.Name, func(f engine.FeatureStats) string { return f.Name },
			engine.FeatureStats{Name: bf.Name})
		n, m := float64(af.Count), float64(bf.Count)
		if n+m > 0 {
			mean := (n*af.Mean + m*bf.Mean) / (n + m)
			m2 := n*af.StdDev*af.StdDev + n*(af.Mean-mean)*(af.Mean-mean) +
				m*bf.StdDev*bf.StdDev + m*(bf.Mean-mean)*(bf.Mean-mean)
			af.Mean, af.StdDev = mean, math.Sqrt(m2/(n+m))
		}
		af.Count += bf.Count
		af.Missing += bf.Missing
		af.NonFinite += bf.NonFinite
	}
	for _, be := range b.Embeddings {
		ae := byName(&a.Embeddings, be.Name, func(e engine.EmbeddingStats) string { return e.Name },
			engine.EmbeddingStats{Name: be.Name})
		ae.Count += be.Count
		ae.UnitNorm += be.UnitNorm
		ae.DimMismatches += be.DimMismatches
		ae.NonFinite += be.NonFinite
	}
}

// requireExact waits until every partition has one owner and the merged
// cumulative view holds as many events as want, twice a window apart (a
// zombie still holding a partition, or a double count, would show), and
// then requires the merged statistics to be exact.
func (c *cluster) requireExact(want expectation, timeout time.Duration) {
	c.t.Helper()
	n := want.events()
	stable := 0
	var last uint64
	waitFor(c.t, fmt.Sprintf("the cluster to settle with %d events in closed windows", n), timeout, func() bool {
		if !c.settled(clusterPartitions) {
			stable = 0
			return false
		}
		last = totalEvents(c.merged())
		if last != n {
			stable = 0
			return false
		}
		stable++
		if stable < 2 {
			time.Sleep(windowSize + 500*time.Millisecond)
			return false
		}
		return true
	})
	got := c.merged()
	for _, v := range versions {
		require.Contains(c.t, got, v)
		requireStats(c.t, want[v], got[v])
	}
}

// byName returns the element of the sorted *s named name, inserting zero
// there first when there is none.
func byName[T any](s *[]T, name string, nameOf func(T) string, zero T) *T {
	i := sort.Search(len(*s), func(i int) bool { return nameOf((*s)[i]) >= name })
	if i == len(*s) || nameOf((*s)[i]) != name {
		*s = slices.Insert(*s, i, zero)
	}
	return &(*s)[i]
}

var heldLine = regexp.MustCompile(`msg="partition (assigned|released)".* partition=(\d+)`)

// held returns the partitions d holds now, by its log.
func (d *daemon) held() []int {
	h := map[int]bool{}
	for _, m := range heldLine.FindAllStringSubmatch(d.ingestLog(), -1) {
		p, _ := strconv.Atoi(m[2])
		h[p] = m[1] == "assigned"
	}
	var out []int
	for p, ok := range h {
		if ok {
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out
}

// count returns how many log lines of d contain s.
func (d *daemon) count(s string) int { return strings.Count(d.stderr(), s) }

// Three processes on a 6-partition topic, each with a checkpoint directory
// of its own and the checkpoints in Kafka. Mid stream one is killed with
// SIGKILL, later a fourth joins, then another is paused with SIGSTOP past
// the session timeout while the stream goes on, and resumed. Its
// partitions move while it is paused; whatever it writes after it resumes
// is an older generation's. The final state, summed over the processes,
// counts every event exactly once.
func TestClusterKillJoinPause(t *testing.T) {
	const n = 18000
	c := newCluster(t, clusterPartitions)
	a, b, d3 := c.start("a"), c.start("b"), c.start("c")
	waitFor(t, "three members holding partitions", 45*time.Second, func() bool {
		return c.settled(clusterPartitions) && len(a.held()) > 0 && len(b.held()) > 0 && len(d3.held()) > 0
	})

	producerDone := produceInBackground(c.b.addrs, c.cfg.topic, 0, 3*n/4, 40*time.Millisecond)
	waitFor(t, "a fifth of the stream consumed, and checkpoints written", 45*time.Second, func() bool {
		return c.metric("normwatch_events_total") >= n/5 && a.metric(`normwatch_checkpoints_total{result="ok"}`) > 0
	})
	aHeld := a.held()
	a.kill9()
	t.Logf("killed a, which held partitions %v", aHeld)

	waitFor(t, "a's partitions taken over", 45*time.Second, func() bool { return c.settled(clusterPartitions) })
	d4 := c.start("d")
	waitFor(t, "the fourth member holding partitions", 45*time.Second, func() bool {
		return len(d4.held()) > 0 && c.settled(clusterPartitions)
	})

	bHeld := b.held()
	c.pause(b)
	pausedAt := time.Now()
	waitFor(t, "b's partitions moved while it is paused", 45*time.Second, func() bool { return c.settled(clusterPartitions) })
	// Paused past the session timeout, whatever the rebalance took.
	time.Sleep(max(0, 2*sessionTimeout-time.Since(pausedAt)))
	require.NoError(t, producerDone())
	c.resume(b)
	t.Logf("paused b, which held partitions %v, for %v", bHeld, time.Since(pausedAt).Round(time.Millisecond))
	mustProduce(t, c.b.addrs, c.cfg.topic, 3*n/4, n)

	c.requireExact(expect(n, nil), 90*time.Second)

	// The partitions moved with their state: a member that never held a
	// partition before restored it from another's checkpoint, which its own
	// directory could not hold.
	restored := 0
	for _, d := range []*daemon{b, d3, d4} {
		seen := map[int]bool{}
		for _, as := range d.assignments() {
			if !seen[as.partition] && as.checkpoint >= 0 {
				restored++
			}
			seen[as.partition] = true
		}
	}
	require.Positive(t, restored, "no partition was restored from another process's checkpoint")
	// No restore went back behind the group's committed offset: offsets
	// are committed only after the checkpoint that covers them, by the
	// generation that owns the partition, so the newest owner's checkpoint
	// is at or past the commit. Had b's writes after resuming won (the
	// last record rather than the highest generation), the partitions it
	// had held would restore its older state behind the commits of their
	// owners while it was paused.
	for _, d := range []*daemon{a, b, d3, d4} {
		for _, as := range d.assignments() {
			if as.committed >= 0 && as.checkpoint >= 0 {
				require.GreaterOrEqual(t, as.checkpoint+1, as.committed,
					"daemon %s restored partition %d at offset %d, behind the group's commit %d", d.name, as.partition, as.checkpoint, as.committed)
			}
		}
	}
	t.Logf("partitions restored from another process's checkpoint: %d; b after resuming: %d commits refused, %d fenced partitions",
		restored, b.count("offset commit failed"), b.count("partition fenced"))
	var took []time.Duration
	var size int
	for _, d := range []*daemon{a, b, d3, d4} {
		for _, r := range d.restores() {
			took = append(took, r.took)
			size = max(size, r.bytes)
		}
	}
	slices.Sort(took)
	require.NotEmpty(t, took)
	t.Logf("%d restores from the checkpoint topic (checkpoints up to %d bytes): median %v, slowest %v",
		len(took), size, took[len(took)/2], took[len(took)-1])
	for _, d := range c.live() {
		d.stop()
	}
}

// restore is one "checkpoint restored from the topic" log line of a
// daemon that found a checkpoint.
type restore struct {
	bytes int
	took  time.Duration
}

var restoreLine = regexp.MustCompile(`msg="checkpoint restored from the topic".* found=true .* bytes=(\d+) .* took=(\S+)`)

func (d *daemon) restores() []restore {
	var out []restore
	for _, m := range restoreLine.FindAllStringSubmatch(d.stderr(), -1) {
		var r restore
		r.bytes, _ = strconv.Atoi(m[1])
		r.took, _ = time.ParseDuration(m[2])
		out = append(out, r)
	}
	return out
}
