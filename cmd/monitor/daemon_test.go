package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/stream"
)

// TestDecoderOptionsFromConfig: every decode.* key reaches the decoder.
func TestDecoderOptionsFromConfig(t *testing.T) {
	c := config.Default().Decode
	c.FeaturesPath = config.PathRoot
	c.ModelPath = `meta\.v2.model`
	c.VersionPath = "v"
	c.TimePath = "t"
	c.TimeUnit = "ms"
	c.RawPath = "-"
	c.EmbeddingsPath = "e"
	c.ListNameKey, c.ListValueKey = "k", "x"
	d, err := stream.NewDecoder(decoderOptions(c))
	require.NoError(t, err)
	var ev stream.Event
	require.NoError(t, d.Decode([]byte(`{"t":1796158200,"meta.v2":{"model":"m"},"v":"1","age":3,"e":[{"k":"q","x":[1,0]}]}`), stream.Fallback{}, &ev))
	require.Equal(t, "m", ev.Model)
	require.Equal(t, "1", ev.Version)
	require.Equal(t, int64(1796158200), ev.Time.UnixMilli(), "decode.time_unit ms")
	require.Len(t, ev.Features, 1)
	require.Equal(t, "age", ev.Features[0].Name)
	require.Len(t, ev.Embeddings, 1)
	require.Equal(t, "q", ev.Embeddings[0].Name)
	require.Equal(t, c.MaxNames, d.Options().MaxNames)
}

// syncBuffer is a log sink safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testDaemon runs a daemon in this process, as `monitor run` does, until
// the test ends or stop is called; its log is returned as it grows. stop
// returns runWithSignals's error; called by the test, it is the test's to
// check, else the end of the test requires a clean stop.
func testDaemon(t *testing.T, cfg config.Config) (d *daemon, logs *syncBuffer, stop func() error) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	logs = &syncBuffer{}
	logger, err := newLogger(cfg.Log, logs)
	require.NoError(t, err)
	quit := make(chan struct{})
	started := make(chan *daemon, 1)
	done := make(chan error, 1)
	ex := &extras{
		actors: func(*daemon) []actor {
			return []actor{{execute: func() error { <-quit; return nil }, interrupt: func(error) {}}}
		},
		started: func(d *daemon) { started <- d },
	}
	go func() { done <- runWithSignals(cfg, logger, ex) }()
	select {
	case d = <-started:
	case err := <-done:
		t.Fatalf("daemon did not start: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not start\n%s", logs)
	}
	var (
		once    sync.Once
		stopErr error
		called  bool
	)
	stopped := func() error {
		once.Do(func() {
			close(quit)
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("daemon did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if !called {
			require.NoError(t, stopped())
		}
	})
	return d, logs, func() error {
		called = true
		return stopped()
	}
}

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Kafka.Embedded = true
	cfg.Baselines.Dir = filepath.Join(t.TempDir(), "baselines")
	require.NoError(t, os.MkdirAll(cfg.Baselines.Dir, 0o755))
	cfg.Checkpoint.Dir = filepath.Join(t.TempDir(), "checkpoints")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Log.Level = "debug"
	return cfg
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestDaemonBaselines: a bad baseline file is refused alone at start (the
// daemon runs, the others load), named in the log at ERROR, counted and on
// the status page; a reload logs what it loaded at INFO, never a false
// error.
func TestDaemonBaselines(t *testing.T) {
	cfg := testConfig(t)
	dir := cfg.Baselines.Dir
	writeDemoBaseline(t, dir, "v3")
	bad := filepath.Join(dir, "ranker", "v9", "x.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(bad), 0o755))
	require.NoError(t, os.WriteFile(bad, []byte(`{"format": "normwatch.baseline/v1"`), 0o644))

	d, logs, _ := testDaemon(t, cfg)
	base := "http://" + d.server.Addr()
	require.Contains(t, logs.String(), `level=INFO msg="baseline loaded" model=ranker model_version=v3`)
	require.Regexp(t, `level=ERROR msg="baseline file refused; the others are served" file=`+regexp.QuoteMeta(bad)+` err=.*model=ranker model_version=v9`, logs.String())
	_, page := httpGet(t, base+"/")
	require.Contains(t, page, "baseline file refused")
	require.Contains(t, page, bad)
	// The empty state: the loaded baseline, and the embedded broker and
	// topic to send events to.
	require.Contains(t, page, `<tr class="baseline" data-model="ranker" data-model-version="v3">`)
	require.Contains(t, page, `To the embedded broker <code class="brokers">`+strings.Join(d.brokers, ",")+`</code>, topic <code class="topics">normwatch.events</code>`)
	require.Contains(t, html.UnescapeString(page), `"model_version": "v3"`)
	_, metrics := httpGet(t, base+"/metrics")
	require.Contains(t, metrics, "normwatch_baseline_files_refused 1\n")
	require.Contains(t, metrics, "normwatch_baselines_served 1\n")
	require.Regexp(t, `normwatch_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1\n`, metrics)

	// A new good baseline and the bad one fixed by removal: the reload
	// logs both, and no error.
	before := len(logs.String())
	require.NoError(t, os.Remove(bad))
	writeDemoBaseline(t, dir, "v4")
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String()[before:], `msg="baseline loaded" trigger=watch model=ranker model_version=v4`)
	}, 10*time.Second, 20*time.Millisecond, logs.String()[before:])
	require.Contains(t, logs.String()[before:], `msg="baseline file no longer refused (fixed or removed)" trigger=watch file=`+bad)
	require.NotContains(t, logs.String()[before:], "level=ERROR")
	require.NotContains(t, logs.String(), "err=<nil>")
	_, metrics = httpGet(t, base+"/metrics")
	require.Contains(t, metrics, "normwatch_baseline_files_refused 0\n")
	require.Contains(t, metrics, "normwatch_baselines_served 2\n")
}

func writeDemoBaseline(t *testing.T, dir, version string) {
	t.Helper()
	work := t.TempDir()
	stage := filepath.Join(work, "out")
	require.NoError(t, demoBaselines(stage, work))
	src, ok := existing(stage, "ranker", version)
	require.True(t, ok)
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	b, err := baseline.Load(src)
	require.NoError(t, err)
	dst, err := baseline.Path(dir, b)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	// Written aside and renamed, as a deploy would, so that the watch
	// never sees half a file.
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-"+filepath.Base(dst))
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, dst))
}

// testKafka returns NORMWATCH_TEST_BROKERS, or an embedded broker of the
// test's own without any topic.
func testKafka(t *testing.T) []string {
	t.Helper()
	if env := os.Getenv("NORMWATCH_TEST_BROKERS"); env != "" {
		return strings.Split(env, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e.Addrs()
}

// brokerConfig is testConfig against brokers instead of the embedded
// broker: topic read by a group of its own name, no dead-letter or alert
// topic, the log at info.
func brokerConfig(t *testing.T, brokers []string, topic string) config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Kafka.Embedded = false
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topics = []string{topic}
	cfg.Kafka.GroupID = topic
	cfg.Kafka.DLQTopic, cfg.Kafka.AlertTopic = "", ""
	cfg.Log.Level = "info"
	return cfg
}

// TestDaemonMissingTopic: `monitor run` on a topic that does not exist
// says so once in its log, on /readyz, in a metric and on the status page,
// without a rebalance storm, and consumes the topic once it appears.
func TestDaemonMissingTopic(t *testing.T) {
	brokers := testKafka(t)
	topic := fmt.Sprintf("events-missing-%d", time.Now().UnixNano())
	cfg := brokerConfig(t, brokers, topic)
	d, logs, _ := testDaemon(t, cfg)
	base := "http://" + d.server.Addr()

	require.Eventually(t, func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "consumer: topic "+topic+" does not exist")
	}, 10*time.Second, 50*time.Millisecond)
	time.Sleep(3 * time.Second)
	warn := `level=WARN msg="topic does not exist; checking again with backoff, consuming the topics that do"`
	require.Equal(t, 1, strings.Count(logs.String(), warn), logs.String())
	require.NotContains(t, logs.String(), "joined consumer group generation", "no group without a topic")
	require.Less(t, len(logs.String()), 16<<10, "a quiet log")
	_, metrics := httpGet(t, base+"/metrics")
	require.Contains(t, metrics, `normwatch_kafka_topic_missing{topic="`+topic+`"} 1`)
	_, page := httpGet(t, base+"/")
	require.Contains(t, page, "kafka topic "+topic+" does not exist")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, stream.CreateTopic(ctx, brokers, topic, 1))
	// Readiness comes within the backoff's cap, by itself.
	require.Eventually(t, func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == 200
	}, 45*time.Second, 100*time.Millisecond, logs.String())
	require.Contains(t, logs.String(), `msg="topic exists now; consuming it"`)
	_, metrics = httpGet(t, base+"/metrics")
	require.Contains(t, metrics, `normwatch_kafka_topic_missing{topic="`+topic+`"} 0`)
}

// TestDaemonAllLate: a stream whose events are all late (times behind what
// the partition has seen) is a WARN and a notice on the status page, not
// silence.
func TestDaemonAllLate(t *testing.T) {
	cfg := testConfig(t)
	cfg.Window.Size, cfg.Window.AllowedLateness = time.Second, 0
	cfg.Log.Level = "info"
	d, logs, _ := testDaemon(t, cfg)
	w := &kafka.Writer{Addr: kafka.TCP(d.brokers...), Topic: cfg.Kafka.Topics[0], BatchTimeout: time.Millisecond, Balancer: &kafka.Hash{}}
	defer w.Close()
	send := func(ts time.Time) {
		msg := fmt.Sprintf(`{"ts":%d,"model":"m","model_version":"v1","features":{"x":1}}`, ts.UnixMilli())
		require.NoError(t, w.WriteMessages(context.Background(), kafka.Message{Key: []byte("k"), Value: []byte(msg)}))
	}
	now := time.Now()
	for i := range 5 {
		send(now.Add(time.Duration(i) * time.Second))
	}
	base := "http://" + d.server.Addr()
	old := now.Add(-time.Hour)
	require.Eventually(t, func() bool {
		send(old)
		_, page := httpGet(t, base+"/")
		return strings.Contains(page, "events all late")
	}, 20*time.Second, 100*time.Millisecond, logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), `level=WARN msg="every event for a while was late: none is evaluated, no alert can fire"`))
}

// TestDaemonNoSecretInLogs: with credentials for Kafka and Alertmanager
// configured, and both failing, no log line and no endpoint shows them.
func TestDaemonNoSecretInLogs(t *testing.T) {
	cfg := testConfig(t)
	cfg.Log.Level = "debug"
	cfg.Kafka.SASL = config.SASL{Mechanism: "plain", Username: "normwatch", Password: "sasl-s3cret"}
	cfg.Alerting.AlertmanagerURLs = []string{"http://am:url-s3cret@127.0.0.1:1/"}
	cfg.Alerting.BasicAuth = config.BasicAuth{Username: "u", Password: "basic-s3cret"}
	cfg.Alerting.ResendInterval = time.Second
	cfg.ShutdownTimeout = 2 * time.Second
	d, logs, stop := testDaemon(t, cfg)
	base := "http://" + d.server.Addr()
	// The embedded broker speaks no SASL: the topic checks fail, and say so.
	require.Eventually(t, func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "cannot check the topics")
	}, 20*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // the watchdog's sends to Alertmanager fail, and are logged
	var seen strings.Builder
	seen.WriteString(logs.String())
	for _, path := range []string{"/", "/readyz", "/healthz", "/metrics", "/api/v1/evaluations", "/api/v1/alerts", "/api/v1/series"} {
		_, body := httpGet(t, base+path)
		seen.WriteString(body)
	}
	// The Alertmanager is down: the stop is not clean, and says so
	// without a secret either.
	require.ErrorIs(t, stop(), errUncleanShutdown)
	seen.WriteString(logs.String())
	require.Contains(t, seen.String(), "alerts not sent to alertmanager:http://127.0.0.1:1")
	require.Contains(t, seen.String(), "127.0.0.1:1", "the Alertmanager is named")
	require.NotContains(t, seen.String(), "s3cret")
}

// TestQuantileLevelsAreTheEngines: metrics.quantiles is validated against
// config's copy of the levels an evaluation computes.
func TestQuantileLevelsAreTheEngines(t *testing.T) {
	require.Equal(t, engine.StatQuantiles, config.QuantileLevels)
}

// TestDaemonKafkaCheckpoints: with checkpoint.store kafka, a daemon with an
// empty checkpoint directory of its own (another machine) restores what
// the previous one counted from the checkpoint topic, which it found
// created by the first.
func TestDaemonKafkaCheckpoints(t *testing.T) {
	brokers := testKafka(t)
	topic := fmt.Sprintf("events-kckpt-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, stream.CreateTopic(ctx, brokers, topic, 2))
	cfg := brokerConfig(t, brokers, topic)
	cfg.Checkpoint.Store = "kafka"
	cfg.Checkpoint.Topic = topic + ".checkpoints"
	cfg.Checkpoint.Interval = time.Second
	cfg.Window.Size, cfg.Window.AllowedLateness = time.Second, 0

	const n = 120
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Balancer: &kafka.RoundRobin{}}
	defer w.Close()
	now := time.Now()
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Value: fmt.Appendf(nil,
			`{"ts":%d,"model":"m","model_version":"v1","features":{"x":%d}}`, now.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i)})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))

	events := func(d *daemon) uint64 {
		cs, _ := d.engine.Cumulative("m", "v1")
		return cs.Events
	}
	d, logs, stop := testDaemon(t, cfg)
	require.Eventually(t, func() bool { return events(d) == n }, 30*time.Second, 50*time.Millisecond, logs.String())
	require.NoError(t, stop())
	require.Contains(t, logs.String(), `msg="created the checkpoint topic"`)

	cfg.Checkpoint.Dir = filepath.Join(t.TempDir(), "elsewhere")
	d2, logs2, _ := testDaemon(t, cfg)
	require.Eventually(t, func() bool { return events(d2) == n }, 30*time.Second, 50*time.Millisecond, logs2.String())
	require.GreaterOrEqual(t, strings.Count(logs2.String(), `found=true writer=`), 2, logs2.String())
	require.NotContains(t, logs2.String(), `msg="created the checkpoint topic"`)
}

// TestDaemonCreatesOutputTopics: against brokers that know neither the
// dead-letter topic nor the alert topic, `monitor run` creates both, so a
// malformed message is dead-lettered and the daemon stays ready (before,
// the letter's write failed for good, holding its partition's commits and
// readiness). A second start finds them and creates nothing.
func TestDaemonCreatesOutputTopics(t *testing.T) {
	brokers := testKafka(t)
	topic := fmt.Sprintf("events-out-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, stream.CreateTopic(ctx, brokers, topic, 1))
	cfg := brokerConfig(t, brokers, topic)
	cfg.Kafka.DLQTopic, cfg.Kafka.AlertTopic = topic+".dlq", topic+".alerts"
	cfg.Checkpoint.Interval = time.Second

	d, logs, stop := testDaemon(t, cfg)
	base := "http://" + d.server.Addr()
	created := `msg="created the topic, which did not exist, with the brokers' default partitions and replication"`
	require.Equal(t, 2, strings.Count(logs.String(), created), logs.String())
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond}
	defer w.Close()
	require.NoError(t, w.WriteMessages(ctx,
		kafka.Message{Value: []byte("not an event")},
		kafka.Message{Value: fmt.Appendf(nil, `{"ts":%d,"model":"m","model_version":"v1","features":{"x":1}}`, time.Now().UnixMilli())}))
	require.Eventually(t, func() bool {
		_, metrics := httpGet(t, base+"/metrics")
		return strings.Contains(metrics, "normwatch_dlq_messages_total 1")
	}, 30*time.Second, 50*time.Millisecond, logs.String())
	require.Eventually(t, func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == 200
	}, 15*time.Second, 50*time.Millisecond, logs.String())
	require.NotContains(t, logs.String(), "dead-letter write failed")
	require.NoError(t, stop())

	_, logs2, _ := testDaemon(t, cfg)
	require.NotContains(t, logs2.String(), created)
	require.NotContains(t, logs2.String(), "could not create the topic")
}
