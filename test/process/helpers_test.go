package process

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/stream"
)

// monitorBin is the monitor binary built once by TestMain, with
// buildFlags.
var (
	monitorBin string
	buildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "normwatch-process-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	monitorBin = filepath.Join(dir, "monitor")
	args := append([]string{"build", "-o", monitorBin}, buildFlags...)
	build := exec.Command("go", append(args, "github.com/normwatch/normwatch/cmd/monitor")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the monitor binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Settings shared by every daemon of these tests: one-second windows closed
// as soon as the watermark passes them (no lateness), so that the
// cumulative view, which holds closed windows only, reaches every event a
// second after the last one; frequent checkpoints; a short session so that
// a killed member's partitions move within seconds.
const (
	windowSize         = time.Second
	checkpointInterval = time.Second
	sessionTimeout     = 3 * time.Second
	partitions         = 3
	model              = "ranker"
)

var versions = []string{"v1", "v2"}

// broker is the Kafka the daemons consume from, outside their processes.
type broker struct {
	addrs []string
	// restart stops the broker and starts it again with its data, after
	// down has passed; nil when the broker cannot be restarted by the test.
	restart func(t *testing.T, down time.Duration)
	// hang makes the embedded broker hang and restart; nil for a real
	// broker.
	hang *stream.HangSwitch
	real bool
}

// newBroker returns the brokers of NORMWATCH_TEST_BROKERS, or an embedded
// broker of this test that keeps its data in a directory so that it can
// be restarted on the same port.
func newBroker(t *testing.T) *broker {
	t.Helper()
	if env := os.Getenv("NORMWATCH_TEST_BROKERS"); env != "" {
		b := &broker{addrs: strings.Split(env, ","), real: true}
		if ctl := os.Getenv("NORMWATCH_TEST_KAFKA_CTL"); ctl != "" {
			b.restart = func(t *testing.T, down time.Duration) {
				t.Helper()
				runCtl(t, ctl, "stop")
				time.Sleep(down)
				runCtl(t, ctl, "start")
			}
		}
		return b
	}
	opts := stream.EmbeddedOptions{
		Port: freePort(t),
		Hang: &stream.HangSwitch{},
		Extra: []kfake.Opt{
			kfake.DataDir(t.TempDir()),
			kfake.GroupMinSessionTimeout(time.Second),
		},
	}
	start := func() *stream.Embedded {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		e, err := stream.StartEmbedded(ctx, opts)
		require.NoError(t, err)
		return e
	}
	e := start()
	t.Cleanup(func() { e.Close() })
	return &broker{
		addrs: e.Addrs(),
		hang:  opts.Hang,
		restart: func(t *testing.T, down time.Duration) {
			e.Close()
			time.Sleep(down)
			e = start()
		},
	}
}

func runCtl(t *testing.T, ctl, cmd string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", ctl, cmd).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", ctl, cmd, out)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// uniqueName gives each test its own topics and group on a shared real
// broker.
func uniqueName(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%s-%d", base, strings.ReplaceAll(t.Name(), "/", "_"), rand.Uint32())
}

// createTopic creates topic and waits until every partition has a leader.
func createTopic(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, stream.CreateTopic(ctx, brokers, topic, n))
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The events. Event i goes to partition i mod 3, so it is at offset i/3
// there; its content is a function of i alone.

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eventStep spreads the events over event time: 4 ms apart, 250 to a
// one-second window, so that windows close all along the stream.
const eventStep = 4 * time.Millisecond

type event struct {
	version string
	a, b, c float64 // NaN: null
	q       [2]float64
}

func makeEvent(i int) event {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	e := event{version: versions[0]}
	if i%4 == 3 {
		e.version = versions[1]
	}
	e.a = 10 + 3*r.NormFloat64()
	e.b = float64(i%100)*0.25 - 3
	if i%7 == 0 {
		e.b = math.NaN()
	}
	// A raw-scale feature, like an income the scaler forgot.
	e.c = 52100 + 18300*r.NormFloat64()
	if i%11 == 0 {
		e.c = math.NaN()
	}
	switch {
	case i%5 == 0:
		e.q = [2]float64{2, 0} // not unit norm
	case i%2 == 0:
		e.q = [2]float64{1, 0}
	default:
		e.q = [2]float64{0, 1}
	}
	return e
}

func (e event) json(i int) []byte {
	num := func(x float64) string {
		if math.IsNaN(x) {
			return "null"
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	ts := epoch.Add(time.Duration(i) * eventStep).Format("2006-01-02T15:04:05.000Z07:00")
	return fmt.Appendf(nil, `{"ts":%q,"model":%q,"model_version":%q,"features":{"a":%s,"b":%s,"c":%s},"embeddings":{"q":[%s,%s]}}`,
		ts, model, e.version, num(e.a), num(e.b), num(e.c), num(e.q[0]), num(e.q[1]))
}

// produce writes events [from, to) to topic, event i to partition i mod 3,
// in batches of batch events with pause between them.
func produce(ctx context.Context, brokers []string, topic string, from, to, batch int, pause time.Duration) error {
	return produceValues(ctx, brokers, topic, from, to, batch, pause, func(i int) []byte { return makeEvent(i).json(i) })
}

// produceValues is produce with message i's value from value.
func produceValues(ctx context.Context, brokers []string, topic string, from, to, batch int, pause time.Duration, value func(i int) []byte) error {
	// A transport of its own: kafka-go's default one caches metadata for
	// the whole process, and may not know a topic just created.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:      kafka.TCP(brokers...),
		Transport: tr,
		Topic:     topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll,
		BatchSize:    batch,
		BatchBytes:   16 << 20,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  20,
	}
	defer w.Close()
	for lo := from; lo < to; lo += batch {
		hi := min(lo+batch, to)
		msgs := make([]kafka.Message, 0, hi-lo)
		for i := lo; i < hi; i++ {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: value(i)})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("producing events %d to %d: %w", lo, hi, err)
		}
		if pause > 0 && hi < to {
			time.Sleep(pause)
		}
	}
	return nil
}

func mustProduce(t *testing.T, brokers []string, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, produce(ctx, brokers, topic, from, to, 500, 0))
}

// produceInBackground produces [from, to) in batches of 100 with pause
// between them, so that the daemons are consuming while the test kills
// them; wait returns the producer's error.
func produceInBackground(brokers []string, topic string, from, to int, pause time.Duration) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- produce(ctx, brokers, topic, from, to, 100, pause)
	}()
	return func() error { return <-done }
}

// expectation is the exact cumulative statistics of a set of events.
type expectation map[string]*engine.CumulativeStats // by version

// expect computes what the daemon must report for the events i in [0, n)
// for which keep(i) holds (nil: all).
func expect(n int, keep func(i int) bool) expectation {
	type acc struct{ vals []float64 }
	out := expectation{}
	feats := map[string]map[string]*acc{}
	for _, v := range versions {
		out[v] = &engine.CumulativeStats{Model: model, Version: v}
		feats[v] = map[string]*acc{"a": {}, "b": {}, "c": {}}
		out[v].Features = []engine.FeatureStats{{Name: "a"}, {Name: "b"}, {Name: "c"}}
		out[v].Embeddings = []engine.EmbeddingStats{{Name: "q"}}
	}
	for i := range n {
		if keep != nil && !keep(i) {
			continue
		}
		e := makeEvent(i)
		cs := out[e.version]
		cs.Events++
		for k, x := range []float64{e.a, e.b, e.c} {
			if math.IsNaN(x) {
				cs.Features[k].Missing++
				continue
			}
			a := feats[e.version][cs.Features[k].Name]
			a.vals = append(a.vals, x)
		}
		cs.Embeddings[0].Count++
		if e.q[0]*e.q[0]+e.q[1]*e.q[1] == 1 {
			cs.Embeddings[0].UnitNorm++
		}
	}
	for _, v := range versions {
		cs := out[v]
		for k := range cs.Features {
			vals := feats[v][cs.Features[k].Name].vals
			cs.Features[k].Count = uint64(len(vals))
			cs.Features[k].Mean, cs.Features[k].StdDev = meanStd(vals)
		}
	}
	return out
}

// meanStd is the two-pass mean and population standard deviation.
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mean := s / float64(len(xs))
	var m2 float64
	for _, x := range xs {
		m2 += (x - mean) * (x - mean)
	}
	if len(xs) < 2 {
		return mean, 0
	}
	return mean, math.Sqrt(m2 / float64(len(xs)))
}

func (x expectation) events() uint64 {
	var n uint64
	for _, cs := range x {
		n += cs.Events
	}
	return n
}

// requireStats checks got against want: counts exactly, mean and standard
// deviation within 1e-9 relative.
func requireStats(t *testing.T, want, got *engine.CumulativeStats) {
	t.Helper()
	require.Equal(t, want.Events, got.Events, "%s: events", want.Version)
	require.Len(t, got.Features, len(want.Features), "%s: features", want.Version)
	for k, wf := range want.Features {
		gf := got.Features[k]
		require.Equal(t, wf.Name, gf.Name)
		require.Equal(t, wf.Count, gf.Count, "%s/%s: count", want.Version, wf.Name)
		require.Equal(t, wf.Missing, gf.Missing, "%s/%s: missing", want.Version, wf.Name)
		require.Zero(t, gf.NonFinite, "%s/%s: nonfinite", want.Version, wf.Name)
		requireClose(t, wf.Mean, gf.Mean, "%s/%s: mean", want.Version, wf.Name)
		requireClose(t, wf.StdDev, gf.StdDev, "%s/%s: stddev", want.Version, wf.Name)
	}
	require.Len(t, got.Embeddings, 1, "%s: embeddings", want.Version)
	require.Equal(t, want.Embeddings[0].Name, got.Embeddings[0].Name)
	require.Equal(t, want.Embeddings[0].Count, got.Embeddings[0].Count, "%s/q: count", want.Version)
	require.Equal(t, want.Embeddings[0].UnitNorm, got.Embeddings[0].UnitNorm, "%s/q: unit norm", want.Version)
	require.Zero(t, got.Embeddings[0].DimMismatches+got.Embeddings[0].NonFinite, "%s/q: bad vectors", want.Version)
}

func requireClose(t *testing.T, want, got float64, msg string, args ...any) {
	t.Helper()
	tol := 1e-9 * math.Max(math.Abs(want), 1e-300)
	require.InDelta(t, want, got, tol, append([]any{msg}, args...)...)
}

// daemon is a `monitor run` child process.
type daemon struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	url  string

	mu  sync.Mutex
	log strings.Builder // stderr

	done  chan struct{}
	state *os.ProcessState
}

// daemonConfig is what differs between the daemons of a test.
type daemonConfig struct {
	brokers       []string
	topic, group  string
	checkpointDir string
	env           []string // more NORMWATCH_* settings
}

var servingLine = regexp.MustCompile(`msg=serving addr=(http://\S+)`)

// startDaemon starts a daemon and waits until it serves HTTP (not until it
// consumes: see waitReady). A daemon still running at the end of the test
// is killed.
func startDaemon(t *testing.T, name string, c daemonConfig) *daemon {
	t.Helper()
	baselines := filepath.Join(c.checkpointDir, "..", "baselines-"+name)
	require.NoError(t, os.MkdirAll(baselines, 0o755)) // a missing baselines.dir is an error
	cmd := exec.Command(monitorBin, "run",
		"--kafka.brokers", strings.Join(c.brokers, ","),
		"--kafka.topics", c.topic,
		"--kafka.group_id", c.group,
		"--checkpoint.dir", c.checkpointDir,
		"--baselines.dir", baselines,
		"--http.listen", "127.0.0.1:0",
		"--window.size", windowSize.String(),
	)
	cmd.Env = append(os.Environ(),
		"NORMWATCH_WINDOW_ALLOWED_LATENESS=0s",
		"NORMWATCH_CHECKPOINT_INTERVAL="+checkpointInterval.String(),
		"NORMWATCH_KAFKA_SESSION_TIMEOUT="+sessionTimeout.String(),
		"NORMWATCH_KAFKA_DLQ_TOPIC="+c.topic+".dlq",
		"NORMWATCH_KAFKA_ALERT_TOPIC="+c.topic+".alerts",
		"NORMWATCH_LOG_LEVEL=info",
	)
	cmd.Env = append(cmd.Env, c.env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	d := &daemon{t: t, name: name, cmd: cmd, done: make(chan struct{})}
	require.NoError(t, cmd.Start())
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.state, _ = cmd.Process.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if !d.exited() {
			_ = cmd.Process.Kill()
			<-d.done
		}
		if strings.Contains(d.stderr(), "WARNING: DATA RACE") {
			t.Errorf("daemon %s reported a data race:\n%s", name, d.stderr())
		} else if t.Failed() {
			t.Logf("stderr of daemon %s:\n%s", name, d.tail(60))
		}
	})
	select {
	case d.url = <-urlc:
	case <-d.done:
		t.Fatalf("daemon %s exited before serving: %v\n%s", name, d.state, d.stderr())
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon %s did not serve within 20s\n%s", name, d.stderr())
	}
	return d
}

// ingestLog is d's log without the lines of its evaluation stage's
// consumer (evaluation.mode cluster), whose partitions are the partials
// topic's.
func (d *daemon) ingestLog() string {
	lines := strings.SplitAfter(d.stderr(), "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, " consumer=evaluation ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func (d *daemon) stderr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func (d *daemon) tail(n int) string {
	lines := strings.Split(strings.TrimRight(d.stderr(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// kill9 kills the daemon with SIGKILL: no drain, no checkpoint, no commit.
func (d *daemon) kill9() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGKILL))
	<-d.done
}

// stop sends SIGTERM and requires a clean exit within the daemon's
// shutdown deadline.
func (d *daemon) stop() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		d.t.Fatalf("daemon %s did not stop on SIGTERM", d.name)
	}
	require.True(d.t, d.state.Success(), "daemon %s exit: %v", d.name, d.state)
}

// wait waits for the daemon to exit on its own.
func (d *daemon) wait(timeout time.Duration) *os.ProcessState {
	d.t.Helper()
	select {
	case <-d.done:
		return d.state
	case <-time.After(timeout):
		d.t.Fatalf("daemon %s still running after %v", d.name, timeout)
		return nil
	}
}

func (d *daemon) get(path string) (int, []byte, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(d.url + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (d *daemon) ready() bool {
	code, _, err := d.get("/readyz")
	return err == nil && code == http.StatusOK
}

func (d *daemon) waitReady() {
	d.t.Helper()
	waitFor(d.t, "daemon "+d.name+" ready", 30*time.Second, d.ready)
}

// metric sums the samples of a metric family in /metrics.
func (d *daemon) metric(name string) float64 {
	_, b, err := d.get("/metrics")
	if err != nil {
		return 0
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// applied is how many events this process applied, re-applications after
// a restart included.
func (d *daemon) applied() float64 { return d.metric("normwatch_events_total") }

// cumulative returns the cumulative view of every version; a version the
// daemon does not track yet is absent.
func (d *daemon) cumulative() map[string]*engine.CumulativeStats {
	out := map[string]*engine.CumulativeStats{}
	for _, v := range versions {
		code, b, err := d.get("/api/v1/cumulative?model=" + model + "&model_version=" + v)
		if err != nil || code != http.StatusOK {
			continue
		}
		var cs engine.CumulativeStats
		if json.Unmarshal(b, &cs) == nil {
			out[v] = &cs
		}
	}
	return out
}

func totalEvents(cs map[string]*engine.CumulativeStats) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.Events
	}
	return n
}

// requireExact waits until the daemon's cumulative view holds as many
// events as want, lets another window and idle flush pass so that a
// double count would show, and then requires the statistics to be exact.
func (d *daemon) requireExact(want expectation, timeout time.Duration) {
	d.t.Helper()
	n := want.events()
	waitFor(d.t, fmt.Sprintf("daemon %s to count %d events in closed windows", d.name, n), timeout, func() bool {
		return totalEvents(d.cumulative()) >= n
	})
	time.Sleep(windowSize + 500*time.Millisecond)
	got := d.cumulative()
	for _, v := range versions {
		require.Contains(d.t, got, v)
		requireStats(d.t, want[v], got[v])
	}
}

// assignment is one "partition assigned" log line of a daemon.
type assignment struct {
	partition                    int
	committed, checkpoint, start int64
}

var assignedLine = regexp.MustCompile(`msg="partition assigned".* partition=(\d+) committed=(-?\d+) checkpoint=(-?\d+) start=(-?\d+)`)

func (d *daemon) assignments() []assignment {
	var out []assignment
	for _, m := range assignedLine.FindAllStringSubmatch(d.ingestLog(), -1) {
		var a assignment
		a.partition, _ = strconv.Atoi(m[1])
		a.committed, _ = strconv.ParseInt(m[2], 10, 64)
		a.checkpoint, _ = strconv.ParseInt(m[3], 10, 64)
		a.start, _ = strconv.ParseInt(m[4], 10, 64)
		out = append(out, a)
	}
	return out
}
