package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/demo"
)

const demoHelp = `Starts everything on this machine: the embedded Kafka-protocol broker,
training baselines for two versions of a demo model (ranker v3 and v4), the
daemon, and a producer of live traffic. v4 carries two bugs: its income
feature arrives raw (the z-score scaler is skipped at serving) and 31% of
its query embeddings are not L2-normalized. Within a minute the alerts that
name them are printed here; the metrics and the status page are on the HTTP
address (loopback only unless --http.listen says otherwise). Ctrl-C stops it
cleanly. --bugs-for (or kill -USR1) heals v4, and its alerts resolve.

A second model, search (v1 healthy, v2 with bugs), shows the retrieval and
activation signals: its events carry the documents an L2-distance index
retrieved for the query, and the output of a LayerNorm layer ("hidden").
In v2 the query vectors lost their L2 normalization, which compresses the
similarity scores into a narrow band (similarity_compressed) and makes its
runs of a frozen query set retrieve other documents than their recorded
runs (retrieval_regression, in the same sentence), and the layer became an
RMSNorm (activation_norm_change).
`

func runDemo(args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("monitor demo", "Usage: monitor demo [flags]", demoHelp, exitUsageError, stdout, stderr)
	fs := cmd.fs
	listen := fs.String("http.listen", "127.0.0.1:10308", "address of /metrics, /healthz, /readyz and the status page (:10308 for every interface)")
	window := fs.Duration("window", 10*time.Second, "event-time window; short, so alerts come within a minute")
	rate := fs.Int("rate", 400, "events per second, half for each version")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	dir := fs.String("dir", "", "directory for the demo's baselines and checkpoints (default: a temporary one, removed at exit)")
	logLevel := fs.String("log.level", "warn", "daemon log level: the demo prints alerts itself")
	amURLs := fs.StringSlice("alerting.alertmanager_urls", nil, "Alertmanager base URLs to send the demo's alerts to")
	resend := fs.Duration("alerting.resend_interval", time.Minute, "re-send firing alerts to Alertmanager this often")
	queueCap := fs.Int("alerting.queue_capacity", config.Default().Alerting.QueueCapacity, "alerts queued per Alertmanager before the oldest are dropped")
	bugsFor := fs.Duration("bugs-for", 0, "heal v4 after this long: its alerts then resolve (0: the bugs stay; SIGUSR1 heals too)")
	produceOnly := fs.Bool("produce-only", false, "only produce the demo traffic to --brokers (no broker, no daemon), for a monitor run elsewhere")
	brokers := fs.StringSlice("brokers", nil, "Kafka brokers for --produce-only, host:port")
	writeBaselines := fs.String("write-baselines", "", "write the demo's training baselines to this directory and exit: the --baselines.dir of a monitor run")
	if code, done := cmd.parse(args); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return cmd.usageError(fmt.Errorf("unexpected argument %q: monitor demo takes flags only", fs.Arg(0)))
	case *rate < 10:
		return cmd.usageError(fmt.Errorf("--rate: %d is below 10; want at least 10 events per second", *rate))
	case *window < time.Second:
		return cmd.usageError(fmt.Errorf("--window: %v is below 1s; want at least 1s", *window))
	}

	switch {
	case *writeBaselines != "":
		return demoWriteBaselines(*writeBaselines, stdout, stderr)
	case *produceOnly:
		return demoProduceOnly(*brokers, *rate, *duration, *bugsFor, stdout, stderr)
	}

	work := *dir
	if work == "" {
		tmp, err := os.MkdirTemp("", "normwatch-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "monitor demo: %v\n", err)
			return exitError
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	cfg := config.Default()
	cfg.Kafka.Embedded = true
	cfg.HTTP.Listen = *listen
	cfg.Baselines.Dir = filepath.Join(work, "baselines")
	cfg.Checkpoint.Dir = filepath.Join(work, "checkpoints")
	cfg.Window.Size = *window
	cfg.Window.AllowedLateness = *window / 5
	cfg.Window.HorizonWindows = 3
	cfg.Log.Level = *logLevel
	cfg.Alerting.AlertmanagerURLs = *amURLs
	cfg.Alerting.ResendInterval = *resend
	cfg.Alerting.QueueCapacity = *queueCap
	cfg.Activations = []string{demo.Hidden}
	cfg.Outcomes = demoOutcomes()
	if err := cfg.Validate(); err != nil {
		// The demo's flags are named after the keys they set.
		return cmd.usageError(flagNames(err))
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return cmd.usageError(flagNames(err))
	}

	out := &syncWriter{w: stdout}
	fmt.Fprintln(out, "normwatch demo: building training baselines for ranker v3 and v4, search v1 and v2 ...")
	if err := demoBaselines(cfg.Baselines.Dir, work); err != nil {
		fmt.Fprintf(stderr, "monitor demo: %v\n", err)
		return exitError
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	healed := &atomic.Bool{}
	ex := &extras{
		// The demo prints each alert itself, once: no log line repeats it.
		sinks: []alert.Sink{printSink{out}}, noLogSink: true,
		actors: func(d *daemon) []actor {
			actors := []actor{{
				execute:   func() error { return produceDemo(ctx, d.brokers, cfg.Kafka.Topics[0], *rate, healed) },
				interrupt: func(error) { cancel() },
			}, healActor(ctx, *bugsFor, healed, out)}
			if *duration > 0 {
				stop := make(chan struct{})
				actors = append(actors, actor{
					execute: func() error {
						select {
						case <-time.After(*duration):
							fmt.Fprintf(out, "demo: %v elapsed, stopping\n", *duration)
						case <-demoStop:
							fmt.Fprintln(out, "demo: stopping")
						case <-stop:
						}
						return nil
					},
					interrupt: func(error) { close(stop) },
				})
			}
			return actors
		},
		started: func(d *daemon) {
			fmt.Fprintf(out, `normwatch demo is running.
  Kafka (embedded):  %s, topic %s; produce your own events there too
  status page:       %s
  metrics:           %smetrics
  v4 has two bugs: income arrives raw (z-score skipped), 31%% of query vectors are not unit-norm.
  search v2 has two more: its query vectors are not L2-normalized (docs are), its LayerNorm became RMSNorm.
  So search v2's eval pass rate drops (90%% to 80%%) as its context relevance and recall fall together,
  and its runs of a frozen query set retrieve other documents than their recorded runs.
  v4 is a shadow candidate (header route: shadow) against live v3: monitor gate --model ranker --model-version v4 --url %s
  Windows are %v long; the alerts naming them appear below within a minute. Ctrl-C stops.
`, d.brokers[0], cfg.Kafka.Topics[0], browseURL(d.server.Addr()), browseURL(d.server.Addr()), browseURL(d.server.Addr()), *window)
		},
	}
	if err := runWithSignals(cfg, logger, ex); err != nil {
		fmt.Fprintf(stderr, "monitor demo: %v\n", err)
		if errors.Is(err, errUncleanShutdown) {
			return exitUncleanShutdown
		}
		return exitError
	}
	return 0
}

// demoStop, closed, stops a demo run with a --duration before it ends:
// the tests' way to stop it once it has shown what they wait for (nil,
// never, in the monitor).
var demoStop chan struct{}

// flagNames turns the configuration errors of the demo's settings into
// flag errors: "log.level: ..." becomes "--log.level: ...".
func flagNames(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "--" + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// demoBaselines builds the baselines of both versions from generated
// training data, through the same builder as `monitor baseline build`.
func demoBaselines(dir, work string) error {
	scalerPath := filepath.Join(work, "scaler.yaml")
	if err := os.WriteFile(scalerPath, []byte(demo.ScalerYAML()), 0o644); err != nil {
		return err
	}
	scaler, err := baseline.LoadScaler(scalerPath)
	if err != nil {
		return err
	}
	if err := demoSearchBaselines(dir, work); err != nil {
		return err
	}
	for i, version := range []string{demo.Healthy, demo.Buggy} {
		if _, ok := existing(dir, demo.Model, version); ok {
			continue // a --dir kept from an earlier run
		}
		csvPath := filepath.Join(work, "train-"+version+".csv")
		if err := writeTraining(csvPath, func(w io.Writer) error {
			return demo.NewGenerator(demo.DefaultOptions(), uint64(100+i)).WriteTrainingCSV(w, 20_000)
		}); err != nil {
			return err
		}
		b, _, err := baseline.Build(context.Background(), csvPath, baseline.BuildOptions{
			Model: demo.Model, Version: version, Scaler: scaler,
		})
		if err != nil {
			return fmt.Errorf("building the %s baseline: %w", version, err)
		}
		if _, err := baseline.Write(dir, b); err != nil {
			return fmt.Errorf("writing the %s baseline: %w", version, err)
		}
	}
	return nil
}

func existing(dir, model, version string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(dir, model, version, "*.json"))
	if len(m) == 0 {
		return "", false
	}
	return m[0], true
}

// produceDemo sends the demo traffic, now-stamped, until ctx ends; once
// healed is set, v4 is sent without its bugs.
func produceDemo(ctx context.Context, brokers []string, topic string, rate int, healed *atomic.Bool) error {
	w := &kafka.Writer{
		// Keyed by request id: a request's two events share a partition,
		// where they are joined; the search events, unkeyed, go round.
		Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		BatchTimeout: 20 * time.Millisecond, BatchSize: 200, RequiredAcks: kafka.RequireOne,
		AllowAutoTopicCreation: true, // an external Kafka (--produce-only) may not have it yet
	}
	defer w.Close()
	seed := uint64(time.Now().UnixNano())
	buggy, fixed := demo.NewGenerator(demo.DefaultOptions(), seed), demo.NewGenerator(demo.Options{}, seed+1)
	sbuggy, sfixed := demo.NewSearchGenerator(demo.DefaultSearchOptions(), seed+2), demo.NewSearchGenerator(demo.SearchOptions{}, seed+3)
	const tick = 50 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	// The search model at a quarter of the ranker's rate: its events are
	// larger (five documents), and a few hundred a window are enough.
	perSearch := max(2, perTick/4)
	msgs := make([]kafka.Message, perTick+perSearch)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		gen, sgen := buggy, sbuggy
		if healed.Load() {
			gen, sgen = fixed, sfixed
		}
		for j := range perSearch {
			version := demo.SearchHealthy
			if (i+j)%2 == 1 {
				version = demo.SearchBuggy
			}
			msgs[perTick+j] = kafka.Message{Value: append([]byte(nil), sgen.Event(version, now)...)}
		}
		for j := 0; j+1 < perTick; j += 2 {
			// v4 is the candidate behind a shadow route: each request is
			// scored by live v3 and by v4, both events carrying its id,
			// and `monitor gate` answers whether v4 may replace v3.
			id := fmt.Sprintf("r%x-%d-%d", seed&0xffffff, i, j)
			live, shadow := gen.Request(id, now)
			msgs[j] = kafka.Message{Key: []byte(id), Value: append([]byte(nil), live...)}
			msgs[j+1] = kafka.Message{Key: []byte(id), Value: append([]byte(nil), shadow...), Headers: shadowRoute}
		}
		if perTick%2 == 1 {
			msgs[perTick-1] = kafka.Message{Value: append([]byte(nil), gen.Event(demo.Healthy, now)...)}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil && ctx.Err() == nil {
			// The broker is in this process: an error is transient (a
			// leader move in a test); the next tick tries again.
			continue
		}
	}
}

// shadowRoute is the header a shadow router puts on a candidate's events.
var shadowRoute = []kafka.Header{{Key: "route", Value: []byte("shadow")}}

// printSink prints alert state changes for a person watching the demo.
type printSink struct{ w io.Writer }

func (p printSink) Notify(changes []alert.Change) {
	for _, c := range changes {
		l := c.Alert.Labels
		switch {
		case c.To == alert.Firing:
			fmt.Fprintf(p.w, "%s FIRING   %s %s [%s]\n    %s\n", time.Now().Format("15:04:05"),
				l.Get("alertname"), l.Get("severity"), l.Get("diagnosis"), c.Alert.Annotations["summary"])
		case c.From == alert.Firing && c.To == alert.Inactive:
			fmt.Fprintf(p.w, "%s RESOLVED %s [%s] %s %s\n", time.Now().Format("15:04:05"),
				l.Get("alertname"), l.Get("diagnosis"), l.Get("feature")+l.Get("embedding")+l.Get("outcome"), l.Get("model_version"))
		}
	}
}

// syncWriter serializes writes from the alert sinks and the demo.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// demoOutcomes are the outcomes of the demo's search model: its v2, first
// seen with v1, passes less often as its relevance and recall fall
// together.
func demoOutcomes() []config.Outcome {
	return []config.Outcome{
		{Name: demo.EvalPass, Kind: "rate", MaxDeltaPoints: 2},
		{Name: demo.ContextRelevance, Kind: "mean", MaxDeltaPoints: 3, FallsWith: demo.ContextRecall},
		{Name: demo.ContextRecall, Kind: "mean", MaxDeltaPoints: 3},
	}
}
