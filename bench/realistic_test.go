package bench

import (
	"context"
	"encoding/base64"
	"encoding/binary"
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
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/baseline"
)

// The realistic stream (issue 14): what users send, its shape in one
// place. One model through many versions (deploys), a few partitions,
// a handful of numeric features of the usual kinds (one score clipped at
// its maximum, one z-scored feature sent with its raw value), and a query
// embedding, as JSON arrays or b64f32.
type streamShape struct {
	Versions   int           // model versions, events spread evenly over them
	Features   int           // numeric features of an event: realisticFeatures, then f7, f8, ... (standard normal)
	Partitions int           // of the topic
	Dim        int           // of the query embedding
	Span       time.Duration // of event time, in the past, so windows close all along
	Embedding  string        // "json", "b64f32" or "mixed" (every other event)
}

var realistic = streamShape{Versions: 21, Features: len(realisticFeatures), Partitions: 4, Dim: 64, Span: 30 * time.Minute, Embedding: "mixed"}

// realisticFeatures are the numeric features of every event, in order.
var realisticFeatures = []string{"score", "age", "income", "clicks", "ratio", "latency_ms", "is_new"}

// event is event i of n of the shape, as JSON: of version v, or of the
// version its place in the stream gives when v < 0.
func (s streamShape) event(r *rand.Rand, i, n int, start time.Time, v int) []byte {
	if v < 0 {
		v = i * s.Versions / n
	}
	ts := start.Add(s.Span * time.Duration(i) / time.Duration(n))
	income := r.NormFloat64()
	vals := []float64{
		math.Min(r.NormFloat64()*0.15+0.85, 1.0), // clipped at 1: many ties
		40 + 12*r.NormFloat64(),
		income,
		float64(r.IntN(20)),
		math.Min(math.Max(r.Float64()*1.2-0.1, 0), 1),
		r.ExpFloat64() * 120,
		float64(r.IntN(2)),
	}
	b := make([]byte, 0, 1200+24*s.Features)
	b = fmt.Appendf(b, `{"ts":%d,"model":"ranker","model_version":"v%d","features":{`, ts.UnixMilli(), v)
	for k := range s.Features {
		if k > 0 {
			b = append(b, ',')
		}
		x := 0.0
		if k < len(vals) {
			b = fmt.Appendf(b, `"%s":`, realisticFeatures[k])
			x = vals[k]
		} else {
			b = fmt.Appendf(b, `"f%d":`, k)
			x = r.NormFloat64()
		}
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	b = append(b, '}')
	if s.Features > 2 { // income's raw value beside it
		b = append(b, `,"raw":{"income":`...)
		b = strconv.AppendFloat(b, income*18300+52100, 'g', -1, 64)
		b = append(b, '}')
	}
	b = append(b, `,"embeddings":{"query":`...)
	q := make([]float32, s.Dim)
	var ss float64
	for j := range q {
		q[j] = float32(r.NormFloat64())
		ss += float64(q[j]) * float64(q[j])
	}
	for j := range q {
		q[j] /= float32(math.Sqrt(ss))
	}
	if s.Embedding == "b64f32" || (s.Embedding == "mixed" && i%2 == 0) {
		raw := make([]byte, 4*len(q))
		for j, x := range q {
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
		}
		b = append(b, `"b64f32:`...)
		b = base64.StdEncoding.AppendEncode(b, raw)
		b = append(b, '"')
	} else {
		b = append(b, '[')
		for j, x := range q {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(x), 'g', 7, 32)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

// baselines writes a baseline per version into dir, built through the
// builder from training rows of the same distributions.
func (s streamShape) baselines(tb testing.TB, dir string) {
	tb.Helper()
	scaler, err := baseline.ParseScaler([]byte("features:\n  income: {kind: zscore, mean: 52100, std: 18300}\nembeddings:\n  query: l2\n"), "scaler.yml")
	require.NoError(tb, err)
	r := rand.New(rand.NewPCG(7, 7))
	const rows = 4000
	for v := range s.Versions {
		train := filepath.Join(tb.TempDir(), "train.jsonl")
		f, err := os.Create(train)
		require.NoError(tb, err)
		for i := range rows {
			_, err := f.Write(append(s.event(r, i, rows, time.Now(), v), '\n'))
			require.NoError(tb, err)
		}
		require.NoError(tb, f.Close())
		b, _, err := baseline.Build(context.Background(), train, baseline.BuildOptions{
			Model: "ranker", Version: "v" + strconv.Itoa(v), Scaler: scaler,
		})
		require.NoError(tb, err)
		_, err = baseline.Write(dir, b)
		require.NoError(tb, err)
	}
}

// daemonRun is one `monitor run` child process and what it cost.
type daemonRun struct {
	events  int
	cpu     time.Duration // user + system of the child, from its first event to its last
	wall    time.Duration
	peakRSS int64 // KiB, VmHWM
	scrape  time.Duration
	scrapeB int
}

// buildMonitor builds cmd/monitor once per test binary, or returns
// NORMWATCH_BENCH_MONITOR, a monitor built beforehand (or a script that
// execs one), so that two builds or settings can be run in turn on the
// same machine and compared.
func buildMonitor(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("NORMWATCH_BENCH_MONITOR"); bin != "" {
		return bin
	}
	bin := filepath.Join(tb.TempDir(), "monitor")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/normwatch/normwatch/cmd/monitor").CombinedOutput()
	require.NoError(tb, err, "go build: %s", out)
	return bin
}

// runDaemon consumes topic's n events with a `monitor run` child process,
// scraping /metrics every 15 s as Prometheus would, and reports its CPU
// time and peak RSS from /proc.
func runDaemon(tb testing.TB, bin string, brokers []string, topic string, n int, baselines string, extra ...string) daemonRun {
	tb.Helper()
	addr := freeAddr(tb)
	profDir := os.Getenv("NORMWATCH_BENCH_PROFILE")
	if profDir != "" {
		extra = append(extra, "--http.pprof")
	}
	args := append([]string{"run", "--kafka.brokers", strings.Join(brokers, ","), "--kafka.topics", topic,
		"--kafka.group_id", "monitor-" + topic, "--kafka.dlq_topic", "", "--kafka.alert_topic", "",
		"--baselines.dir", baselines, "--checkpoint.dir", tb.TempDir(), "--checkpoint.interval", "10s",
		"--http.listen", addr, "--log.level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(tb.TempDir(), "monitor.log"))
	require.NoError(tb, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(tb, cmd.Start())
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			b, _ := os.ReadFile(logf.Name())
			tb.Logf("monitor log:\n%s", b)
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	applied := func() int {
		resp, err := client.Get("http://" + addr + "/api/v1/series")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var ss []struct {
			Events int    `json:"events"`
			State  string `json:"state"`
		}
		if json.NewDecoder(resp.Body).Decode(&ss) != nil {
			return -1
		}
		total := 0
		for _, s := range ss {
			total += s.Events
		}
		return total
	}
	var run daemonRun
	var cpu0 time.Duration
	var t0 time.Time
	start0 := 0
	lastScrape := time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got := applied()
		if got > 0 && t0.IsZero() {
			cpu0, t0, start0 = procCPU(tb, cmd.Process.Pid), time.Now(), got
			if profDir != "" {
				// A CPU profile of the consumption, for the note of issue 14.
				go fetchTo(client, "http://"+addr+"/debug/pprof/profile?seconds=3", filepath.Join(profDir, "cpu.pprof"))
			}
		}
		if got >= n {
			run.cpu = procCPU(tb, cmd.Process.Pid) - cpu0
			run.wall = time.Since(t0)
			run.events = n - start0
			break
		}
		require.True(tb, time.Now().Before(deadline), "the monitor applied %d of %d events in 3 minutes", got, n)
		if time.Since(lastScrape) >= 15*time.Second {
			lastScrape = time.Now()
			scrape(tb, client, addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	run.peakRSS = procStatus(tb, cmd.Process.Pid, "VmHWM:")
	if profDir != "" {
		time.Sleep(3 * time.Second) // the CPU profile's end
		fetchTo(client, "http://"+addr+"/debug/pprof/allocs", filepath.Join(profDir, "allocs.pprof"))
	}
	t := time.Now()
	run.scrapeB = scrape(tb, client, addr)
	run.scrape = time.Since(t)
	return run
}

// freeAddr is a loopback address no one listens on, for a child's HTTP.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().String()
}

func scrape(tb testing.TB, c *http.Client, addr string) int {
	resp, err := c.Get("http://" + addr + "/metrics")
	require.NoError(tb, err)
	defer resp.Body.Close()
	var n int
	buf := make([]byte, 64<<10)
	for {
		k, err := resp.Body.Read(buf)
		n += k
		if err != nil {
			break
		}
	}
	return n
}

// procCPU is the user and system time of process pid.
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(tb, err)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}

func procStatus(tb testing.TB, pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// realisticRun produces n events of shape to each broker set, reads them
// with a bare kafka-go consumer group and with the daemon, and reports.
func realisticRun(tb testing.TB, s streamShape, n int, report func(name string, bareRate float64, d daemonRun)) {
	bin := buildMonitor(tb)
	dir := tb.TempDir()
	s.baselines(tb, dir)
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Add(-s.Span - time.Minute)
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = s.event(r, i, n, start, -1)
	}
	for name, brokers := range brokerSets(tb) {
		topic := createTopic(tb, brokers, s.Partitions)
		produce(tb, brokers, topic, msgs)
		tb2 := bare(tb, brokers, topic, n)
		// Every version and feature tracked: the caps are above them, so
		// every event is applied and every window close evaluates.
		d := runDaemon(tb, bin, brokers, topic, n, dir, "--limits.max_versions_per_model", strconv.Itoa(s.Versions+4),
			"--limits.max_features", strconv.Itoa(max(1000, s.Features)), "--decode.max_features", strconv.Itoa(max(1000, s.Features)),
			"--limits.max_series", strconv.Itoa(max(2000, s.Versions*(s.Features+1))))
		report(name, float64(n)/tb2.Seconds(), d)
	}
}

// BenchmarkRealistic: the realistic stream through `monitor run` against
// a bare kafka-go consumer group, in the same run. Each iteration is a
// whole measurement: run it with -benchtime 1x. NORMWATCH_BENCH_EVENTS
// sets the size (default 300,000); NORMWATCH_BENCH_EMBEDDING json, b64f32
// or mixed (default) the embeddings' encoding; NORMWATCH_BENCH_VERSIONS
// and NORMWATCH_BENCH_FEATURES the versions (default 21) and the numeric
// features of an event (default 7), for the growth table of README.
func BenchmarkRealistic(b *testing.B) {
	s := realistic
	if e := os.Getenv("NORMWATCH_BENCH_EMBEDDING"); e != "" {
		s.Embedding = e
	}
	s.Versions = intEnv(b, "NORMWATCH_BENCH_VERSIONS", s.Versions)
	s.Features = intEnv(b, "NORMWATCH_BENCH_FEATURES", s.Features)
	n := eventsEnv(300_000)
	for b.Loop() {
		realisticRun(b, s, n, func(name string, bareRate float64, d daemonRun) {
			cpu := float64(d.cpu.Nanoseconds()) / float64(d.events) / 1e3
			rate := float64(d.events) / d.wall.Seconds()
			b.ReportMetric(cpu, name+"-cpu-µs/event")
			b.ReportMetric(rate, name+"-events/s")
			b.ReportMetric(rate/bareRate, name+"-ratio")
			b.ReportMetric(float64(d.peakRSS)/1024, name+"-peak-MiB")
			b.Logf("%s broker, %d versions, %d features, %s embeddings, %d events (%s, %d cores): monitor %.2f µs CPU/event, %.0f events/s; bare kafka-go %.0f events/s; ratio %.2f; peak RSS %d MiB; /metrics %d bytes in %v",
				name, s.Versions, s.Features, s.Embedding, d.events, cpuModel(), runtime.NumCPU(), cpu, rate, bareRate, rate/bareRate, d.peakRSS>>10, d.scrapeB, d.scrape.Round(time.Millisecond))
		})
	}
}

// cpuModel names the processor, as every figure must say what it ran on.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// fetchTo saves the body of u in path.
func fetchTo(c *http.Client, u, path string) {
	resp, err := c.Get(u)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// intEnv is the positive integer in the environment variable key, or def
// when it is unset.
func intEnv(tb testing.TB, key string, def int) int {
	s := os.Getenv(key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q is not a positive integer", key, s)
	}
	return n
}
