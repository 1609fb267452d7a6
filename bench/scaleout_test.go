package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// The scale-out measurement (issue 15): the realistic stream on a topic of
// six partitions, read by 1, 2 and 3 `monitor run` processes of one group
// in evaluation.mode cluster with checkpoints in Kafka, as N machines run
// them. Every count reads the same topic (a group, checkpoint topic and
// partials topic of its own), in the same run, so the figures compare.

// scaleOut is one count's measurement.
type scaleOut struct {
	processes int
	events    int
	steady    float64       // 0, or events/s from the group's first commit with every process a member (at most half the topic) to 90%
	joined    float64       // share of the topic committed when every process was a member
	whole     time.Duration // from the first process's start to the last offset committed
	cpu       time.Duration // user + system of every process, summed
}

// committed sums group's committed offsets over topic's partitions.
func committed(ctx context.Context, cl *kafka.Client, group, topic string, partitions int) (int64, error) {
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum, nil
}

// stable reports whether group is Stable with k members, each assigned
// partitions.
func stable(ctx context.Context, cl *kafka.Client, group string, k int) bool {
	resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 {
		return false
	}
	g := resp.Groups[0]
	if g.Error != nil || g.GroupState != "Stable" || len(g.Members) != k {
		return false
	}
	for _, m := range g.Members {
		n := 0
		for _, t := range m.MemberAssignments.Topics {
			n += len(t.Partitions)
		}
		if n == 0 {
			return false
		}
	}
	return true
}

// scaleRun reads topic's n events with k daemons started together and
// measures from the group's committed offsets, polled every 100 ms: from
// the first commit after every daemon became a member, so that the joins'
// rebalances are left out, to 90% of the topic.
func scaleRun(tb testing.TB, bin string, brokers []string, topic string, partitions, n, k int, baselines string) scaleOut {
	tb.Helper()
	run := fmt.Sprintf("%s.k%d", topic, k)
	group := "monitor-" + run
	env := append(os.Environ(),
		"NORMWATCH_CHECKPOINT_STORE=kafka",
		"NORMWATCH_CHECKPOINT_TOPIC="+run+".checkpoints",
		"NORMWATCH_CHECKPOINT_TOPIC_PARTITIONS="+strconv.Itoa(partitions),
		"NORMWATCH_EVALUATION_MODE=cluster",
		"NORMWATCH_EVALUATION_PARTIALS_TOPIC="+run+".partials",
		"NORMWATCH_EVALUATION_PARTIALS_PARTITIONS="+strconv.Itoa(partitions),
	)
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	start := time.Now()
	for i := range k {
		addr := freeAddr(tb)
		logDir, level := tb.TempDir(), "warn"
		if d := os.Getenv("NORMWATCH_BENCH_LOGS"); d != "" {
			logDir, level = d, "info"
		}
		s := realistic
		cmd := exec.Command(bin, "run", "--kafka.brokers", strings.Join(brokers, ","), "--kafka.topics", topic,
			"--kafka.group_id", group, "--kafka.dlq_topic", "", "--kafka.alert_topic", "",
			"--baselines.dir", baselines, "--checkpoint.dir", tb.TempDir(), "--checkpoint.interval", "1s",
			"--http.listen", addr, "--log.level", level,
			"--limits.max_versions_per_model", strconv.Itoa(s.Versions+4),
			"--limits.max_series", strconv.Itoa(max(2000, s.Versions*(s.Features+1))))
		cmd.Env = env
		logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("%s-monitor-%d.log", run, i)))
		require.NoError(tb, err)
		cmd.Stdout, cmd.Stderr = logf, logf
		require.NoError(tb, cmd.Start())
		cmds = append(cmds, cmd)
		defer func() {
			if tb.Failed() {
				b, _ := os.ReadFile(logf.Name())
				tb.Logf("monitor %d log:\n%s", i, b)
			}
		}()
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	limit := time.Minute + time.Duration(n/5_000)*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var t0, t90 time.Time
	var c0, c90 int64
	for {
		for _, c := range cmds {
			if c.ProcessState != nil {
				tb.Fatalf("a monitor exited: %v", c.ProcessState)
			}
		}
		got, err := committed(ctx, cl, group, topic, partitions)
		require.NoError(tb, ctx.Err(), "the group committed %d of %d offsets in %v", got, n, limit)
		now := time.Now()
		if err == nil {
			if t0.IsZero() && got > 0 && stable(ctx, cl, group, k) {
				t0, c0 = now, got
			}
			if t90.IsZero() && got >= int64(n)*9/10 {
				t90, c90 = now, got
			}
			if got >= int64(n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := scaleOut{processes: k, events: n, whole: time.Since(start), joined: float64(c0) / float64(n)}
	if !t0.IsZero() && c0 <= int64(n)/2 && t90.After(t0) {
		out.steady = float64(c90-c0) / t90.Sub(t0).Seconds()
	}
	for _, c := range cmds {
		out.cpu += procCPU(tb, c.Process.Pid)
	}
	return out
}

// BenchmarkScaleOut: the realistic stream on six partitions through 1, 2
// and 3 processes of one group (evaluation.mode cluster, checkpoints in
// Kafka, every second), in the same run. Each iteration is a whole
// measurement: run it with -benchtime 1x. NORMWATCH_BENCH_EVENTS sets the
// size (default 2,000,000, so that a count takes many commits),
// NORMWATCH_BENCH_PROCESSES the counts (default "1,2,3"). events/s is the
// group's rate from its first commit with every process a member (which
// must come before half the topic) to 90% of the topic, so the joins'
// rebalances and the last checkpoint are left out; whole-s is from the
// first start to the last commit; cpu-µs/event sums every process.
// NORMWATCH_BENCH_LOGS names a directory that keeps every process's log,
// at level info.
func BenchmarkScaleOut(b *testing.B) {
	const partitions = 6
	n := eventsEnv(2_000_000)
	counts := []int{1, 2, 3}
	if s := os.Getenv("NORMWATCH_BENCH_PROCESSES"); s != "" {
		counts = counts[:0]
		for _, f := range strings.Split(s, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || k < 1 {
				b.Fatalf("NORMWATCH_BENCH_PROCESSES=%q: %q is not a positive count", s, f)
			}
			counts = append(counts, k)
		}
	}
	for b.Loop() {
		scaleOutRun(b, n, partitions, counts, func(name string, rs []scaleOut) {
			for _, r := range rs {
				if r.steady == 0 {
					b.Fatalf("%s broker, %d processes: the group was stable with every process only at %.0f%% of the topic; set NORMWATCH_BENCH_EVENTS higher", name, r.processes, 100*r.joined)
				}
				p := fmt.Sprintf("%s-%dp-", name, r.processes)
				b.ReportMetric(r.steady, p+"events/s")
				b.ReportMetric(r.steady/rs[0].steady, p+"ratio")
				b.ReportMetric(r.whole.Seconds(), p+"whole-s")
				b.ReportMetric(float64(r.cpu.Nanoseconds())/float64(r.events)/1e3, p+"cpu-µs/event")
				b.Logf("%s broker, %d partitions, %d events (%s, %d cores): %d processes %.0f events/s (%.2f × one; all members from %.0f%% of the topic), %v from start to the last commit, %.2f µs CPU/event over all processes",
					name, partitions, r.events, cpuModel(), runtime.NumCPU(), r.processes, r.steady, r.steady/rs[0].steady, 100*r.joined,
					r.whole.Round(100*time.Millisecond), float64(r.cpu.Nanoseconds())/float64(r.events)/1e3)
			}
		})
	}
}

// scaleOutRun produces n events of the realistic shape on a topic of
// partitions to each broker set and reads them with each count of
// processes in turn.
func scaleOutRun(tb testing.TB, n, partitions int, counts []int, report func(name string, rs []scaleOut)) {
	bin := buildMonitor(tb)
	dir := tb.TempDir()
	s := realistic
	s.Partitions = partitions
	s.baselines(tb, dir)
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Add(-s.Span - time.Minute)
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = s.event(r, i, n, start, -1)
	}
	for name, brokers := range brokerSets(tb) {
		topic := createTopic(tb, brokers, partitions)
		produce(tb, brokers, topic, msgs)
		var rs []scaleOut
		for _, k := range counts {
			rs = append(rs, scaleRun(tb, bin, brokers, topic, partitions, n, k, dir))
		}
		report(name, rs)
	}
}

// TestScaleOutSmoke keeps the harness working in `go test ./...`: a small
// stream through one and two processes on the embedded broker, every
// offset committed by processes that stayed up.
func TestScaleOutSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	var got []scaleOut
	scaleOutRun(t, 6000, 6, []int{1, 2}, func(name string, rs []scaleOut) {
		if name == "embedded" {
			got = rs
		}
	})
	require.Len(t, got, 2)
	for _, r := range got {
		require.Positive(t, r.cpu, "%d processes used no CPU", r.processes)
	}
}
