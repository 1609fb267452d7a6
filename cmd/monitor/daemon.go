package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/export"
	"github.com/normwatch/normwatch/pkg/gcpace"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// embeddedPort is where the embedded broker listens when it can: Kafka's
// usual port, so kcat and producers find it without being told.
const embeddedPort = 9092

const runHelp = `Runs the daemon: consumes events from Kafka (--kafka.brokers, or the
embedded broker on localhost with --kafka.embedded), compares each closed
window with the training baselines of --baselines.dir, serves /metrics,
/healthz, /readyz and a status page, and sends alerts. SIGHUP reloads the
baselines.

SIGINT or SIGTERM stop it within shutdown_timeout (default 30s), whatever
Kafka or Alertmanager do: it finishes the message in hand, writes the dead
letters, checkpoints, commits and flushes the alerts. What it cannot write
in time is logged with counts and re-read at the next start. A second
signal ends it at once.

Exit status: 0 stopped cleanly; 1 failed; 2 bad flags or configuration;
3 stopped, but the shutdown was not clean (see the log).

Every configuration key can be set in the file (--config.file), as
NORMWATCH_<KEY> (dots as underscores: NORMWATCH_KAFKA_BROKERS=a:9092,b:9092),
or as --<key>; flags override the environment, which overrides the file.
deployments/normwatch.example.yml lists every key with its default.
`

func runDaemon(args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("monitor run", "Usage: monitor run [--config.file FILE] [flags]", runHelp, exitUsageError, stdout, stderr)
	cfgFile := cmd.fs.String("config.file", "", "YAML configuration file (keys as in deployments/normwatch.example.yml)")
	config.AddFlags(cmd.fs)
	cmd.footer = config.FileOrEnvOnly()
	if code, done := cmd.parse(args); done {
		return code
	}
	if cmd.fs.NArg() > 0 {
		return cmd.usageError(fmt.Errorf("unexpected argument %q: monitor run takes flags only", cmd.fs.Arg(0)))
	}
	cfg, err := config.Load(*cfgFile, cmd.fs)
	if err == nil {
		err = cfg.CheckBrokers()
	}
	if err == nil {
		err = checkBaselinesDir(cfg.Baselines.Dir)
	}
	if err != nil {
		return cmd.usageError(err)
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return cmd.usageError(err)
	}
	for _, w := range config.EnvTypos(os.Environ()) {
		logger.Warn(w)
	}
	if err := runWithSignals(cfg, logger, nil); err != nil {
		if errors.Is(err, errUncleanShutdown) {
			return exitUncleanShutdown // logged with what was left
		}
		logger.Error("monitor stopped", "err", err)
		return exitError
	}
	return 0
}

// checkBaselinesDir reports a baselines.dir that is not a directory: a
// daemon pointed at the wrong place must say so, not serve nothing.
func checkBaselinesDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("baselines.dir: %q does not exist; want a directory of baselines (create it empty to start without any)", dir)
	case err != nil:
		return fmt.Errorf("baselines.dir: %w", err)
	case !st.IsDir():
		return fmt.Errorf("baselines.dir: %q is not a directory", dir)
	}
	return nil
}

// browseURL is the URL a person can open for a listen address: a server
// on every interface or on loopback is http://localhost:PORT/.
func browseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// actor is one more component to run beside the daemon's own (the demo's
// producer and printer).
type actor struct {
	execute   func() error
	interrupt func(error)
}

// extras are what `monitor demo` adds to a daemon.
type extras struct {
	actors func(d *daemon) []actor
	sinks  []alert.Sink
	// noLogSink leaves alert state changes out of the log, for a command
	// that prints them itself.
	noLogSink bool
	// started, if set, is called once the daemon listens.
	started func(d *daemon)
}

// daemon is the wired set of parts of `monitor run`.
type daemon struct {
	cfg      config.Config
	logger   *slog.Logger
	reg      *prometheus.Registry
	brokers  []string
	embedded *stream.Embedded
	// kafkaCheckpoints is the store of checkpoint.store kafka, nil with
	// files; stageCheckpoints the evaluation stage's, in cluster mode.
	kafkaCheckpoints *stream.KafkaCheckpoints
	stageCheckpoints *stream.KafkaCheckpoints
	// partials and stage are evaluation.mode cluster's: the writer of the
	// partials topic and the stage's consumer; nil in local mode.
	partials *stream.PartialsWriter
	stage    *stream.Consumer
	store    *baseline.Store
	alerts   *alert.Manager
	engine   *engine.Engine
	late     *engine.LateWatch
	consumer *stream.Consumer
	server   *export.Server
	history  *export.History // the status page's history, an engine sink
	gc       *gcpace.Pacer   // nil when GOGC is set

	// alertRunners send to Alertmanager and the alert topic.
	alertRunners []namedRunner
	// clock is the shutdown: its deadline bounds every part's drain.
	clock *stopClock
}

// runWithSignals builds the daemon and runs it until SIGINT or SIGTERM,
// or until a part fails, then stops it within cfg.ShutdownTimeout. It
// returns nil after a clean stop, an error wrapping errUncleanShutdown
// (already logged, with what was left undone) after a stop that could not
// do everything in time, and the part's error after a failure.
func runWithSignals(cfg config.Config, logger *slog.Logger, ex *extras) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newStopClock(cfg.ShutdownTimeout)
	d, err := newDaemon(ctx, cfg, logger, ex, clock)
	if err != nil {
		return err
	}

	var g run.Group
	execute, interrupt := run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM)
	g.Add(execute, func(err error) {
		clock.begin(err)
		interrupt(err)
	})
	d.addActors(ctx, &g, ex)
	result := make(chan error, 1)
	go func() { result <- g.Run() }()
	select {
	case <-result:
	case <-clock.begun:
		// The parts work to clock.deadline(); this is the backstop for
		// one that does not, so that the process ends on time.
		backstop := time.NewTimer(time.Until(clock.at.Add(cfg.ShutdownTimeout)))
		defer backstop.Stop()
		select {
		case <-result:
		case <-backstop.C:
			clock.timedOut()
		}
	}
	if !within(clock.at.Add(cfg.ShutdownTimeout), d.close) {
		logger.Warn("the embedded broker did not close in time; leaving it")
	}

	cause := clock.cause
	var sig run.SignalError
	if cause != nil && !errors.As(cause, &sig) {
		return cause // a part failed; the rest is logged by the parts
	}
	reason := "stopped"
	if cause != nil {
		reason = cause.Error()
	}
	elapsed := time.Since(clock.at).Round(time.Millisecond)
	if left := clock.left(); len(left) > 0 {
		logger.Error("shutdown not clean: parts left work undone (what was not checkpointed is re-read at the next start)",
			"reason", reason, "elapsed", elapsed, "shutdown_timeout", cfg.ShutdownTimeout,
			"exit_code", exitUncleanShutdown, "left", errors.Join(left...).Error())
		return fmt.Errorf("%w: %w", errUncleanShutdown, errors.Join(left...))
	}
	logger.Info("stopped cleanly", "reason", reason, "elapsed", elapsed)
	return nil
}

func newDaemon(ctx context.Context, cfg config.Config, logger *slog.Logger, ex *extras, clock *stopClock) (*daemon, error) {
	d := &daemon{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), clock: clock}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		export.NewBuildInfoCollector(buildInfo()))
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()

	if os.Getenv("GOGC") != "" {
		logger.Info("GOGC is set: runtime.gc_percent and runtime.gc_headroom_bytes are not applied", "GOGC", os.Getenv("GOGC"))
	} else {
		d.gc = gcpace.New(gcpace.Options{Percent: cfg.Runtime.GCPercent, Headroom: int64(cfg.Runtime.GCHeadroomBytes)})
	}

	d.brokers = cfg.Kafka.Brokers
	if cfg.Kafka.Embedded {
		topics := append([]string(nil), cfg.Kafka.Topics...)
		for _, t := range []string{cfg.Kafka.DLQTopic, cfg.Kafka.AlertTopic} {
			if t != "" {
				topics = append(topics, t)
			}
		}
		// Kafka's usual port when it is free, else (taken, or taken between
		// the two tries) any free port.
		emb, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{Port: embeddedPort, Topics: topics})
		if err != nil {
			emb, err = stream.StartEmbedded(ctx, stream.EmbeddedOptions{Topics: topics})
		}
		if err != nil {
			return nil, fmt.Errorf("starting the embedded broker: %w", err)
		}
		d.embedded = emb
		d.brokers = emb.Addrs()
		logger.Info("kafka.embedded: started the embedded Kafka-protocol broker; produce events to it",
			"addr", strings.Join(d.brokers, ","), "topics", strings.Join(cfg.Kafka.Topics, ","))
	}

	if err := checkBaselinesDir(cfg.Baselines.Dir); err != nil {
		return nil, err
	}
	store, err := baseline.OpenStore(cfg.Baselines.Dir)
	if err != nil {
		return nil, fmt.Errorf("loading baselines: %w", err)
	}
	d.store = store
	logStart(logger, store)
	d.reg.MustRegister(store.Collector())

	var sinks []alert.Sink
	if ex == nil || !ex.noLogSink {
		sinks = append(sinks, alert.LogSink{Logger: logger})
	}
	if ex != nil {
		sinks = append(sinks, ex.sinks...)
	}
	netSinks, runners, err := d.newAlertSinks()
	if err != nil {
		return nil, err
	}
	sinks, d.alertRunners = append(sinks, netSinks...), runners
	d.alerts, err = alert.NewManager(alert.Options{
		ForEvaluations: cfg.Alerting.ForEvaluations, ResolveAfter: cfg.Alerting.ResolveAfter,
		RunbookURL: cfg.Alerting.RunbookURL, DashboardURL: cfg.Alerting.DashboardURL,
	}, sinks...)
	if err != nil {
		return nil, err
	}

	tlsConfig, err := kafkaTLS(cfg.Kafka.TLS)
	if err != nil {
		return nil, err
	}
	if !cfg.Kafka.Embedded { // the embedded broker starts with them
		d.ensureOutputTopics(ctx, tlsConfig)
	}
	checkpoints, claimer, err := d.newCheckpointStore(ctx, tlsConfig)
	if err != nil {
		return nil, err
	}
	afterCheckpoint, err := crashAfterCheckpoint(logger)
	if err != nil {
		return nil, err
	}
	var cluster engine.ClusterOptions
	if cfg.Evaluation.Mode == "cluster" {
		if err := d.newPartials(ctx, tlsConfig); err != nil {
			return nil, err
		}
		cluster = engine.ClusterOptions{Partials: d.partials, MaxWait: cfg.Evaluation.MaxWait}
	}
	th := drift.DefaultThresholds()
	th.MinSamples = uint64(cfg.Window.MinSamples)
	d.history = export.NewHistory(cfg.Status.HistoryWindows)
	d.engine, err = engine.New(engine.Options{
		Logger:     logger.With("component", "engine"),
		WindowSize: cfg.Window.Size, AllowedLateness: cfg.Window.AllowedLateness, MaxFutureSkew: cfg.Window.MaxFutureSkew,
		HorizonWindows: cfg.Window.HorizonWindows, Thresholds: th, Overrides: driftOverrides(cfg.Drift.Overrides),
		Limits: engine.Limits{
			MaxModels: cfg.Limits.MaxModels, MaxVersionsPerModel: cfg.Limits.MaxVersionsPerModel,
			MaxFeatures: cfg.Limits.MaxFeatures, MaxEmbeddings: cfg.Limits.MaxEmbeddings,
			MaxSeries: cfg.Limits.MaxSeries, MaxFrozenQueries: cfg.Limits.MaxFrozenQueries,
		},
		VersionStaleAfter: cfg.Limits.VersionStaleAfter, VersionIdleTimeout: cfg.Limits.VersionIdleTimeout,
		IdleFlush:   true,
		Fallback:    cfg.Baselines.Fallback,
		Activations: cfg.Activations,
		Outcomes:    outcomeSpecs(cfg.Outcomes),
		Cluster:     cluster,
		Gate:        gateOptions(cfg.Gate),
	}, storeBaselines{store}, checkpoints, d.reg, alertSink{d.alerts}, d.history)
	if err != nil {
		return nil, err
	}

	d.late = engine.NewLateWatch(d.engine, max(cfg.Window.Size+cfg.Window.AllowedLateness, time.Second), logger)

	d.consumer, err = stream.NewConsumer(stream.Options{
		Brokers: d.brokers, Topics: cfg.Kafka.Topics, GroupID: cfg.Kafka.GroupID,
		StartOffset: cfg.Kafka.StartOffset, CheckpointInterval: cfg.Checkpoint.Interval,
		Decoder: routeOptions(decoderOptions(cfg.Decode), cfg.Gate), TLS: tlsConfig,
		SASL:     stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password},
		DLQTopic: cfg.Kafka.DLQTopic, FetchMaxBytes: cfg.Kafka.FetchMaxBytes,
		SessionTimeout: cfg.Kafka.SessionTimeout, HeartbeatInterval: cfg.Kafka.SessionTimeout / 10,
		ShutdownTimeout: clock.work(),
		Logger:          logger, AfterCheckpoint: afterCheckpoint, Claimer: claimer,
	}, d.engine, d.reg)
	if err != nil {
		return nil, err
	}

	ready := map[string]export.Check{"consumer": d.consumer.NotReady}
	if d.partials != nil {
		if err := d.newStage(ctx, tlsConfig); err != nil {
			return nil, err
		}
		ready["evaluation"] = d.stage.NotReady
	}

	d.reg.MustRegister(export.NewCollectorWithOptions(export.SourceFunc(d.snapshots),
		export.CollectorOptions{Quantiles: cfg.Metrics.QuantileSelection()}))
	d.reg.MustRegister(export.NewGateCollector(d.engine.Gates))
	d.server, err = export.NewServer(export.ServerOptions{
		Listen: cfg.HTTP.Listen, ProbeListen: cfg.HTTP.ProbeListen, WebConfigFile: cfg.HTTP.WebConfigFile, Pprof: cfg.HTTP.Pprof, Gatherer: d.reg, Source: export.SourceFunc(d.snapshots), Logger: logger,
		Registerer:        d.reg,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, ReadTimeout: cfg.HTTP.ReadTimeout,
		WriteTimeout: cfg.HTTP.WriteTimeout, IdleTimeout: cfg.HTTP.IdleTimeout,
		MaxConnections: cfg.HTTP.MaxConnections, MaxConcurrentRequests: cfg.HTTP.MaxConcurrentRequests,
		ShutdownGrace: min(export.DefaultShutdownGrace, clock.work()),
		API:           d.api(), Notices: d.notices,
		Status: export.StatusOptions{Refresh: cfg.Status.RefreshInterval, History: d.history, Sketches: d.sketches, Intake: d.intake, Gates: d.engine.Gates},
		Ready:  ready,
	})
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	logger.Info("serving", "addr", "http://"+d.server.Addr(), "url", browseURL(d.server.Addr()), "endpoints", "/ /metrics /healthz /readyz")
	if a := d.server.ProbeAddr(); a != "" {
		logger.Info("serving probes without authentication", "addr", "http://"+a, "endpoints", "/healthz /readyz")
	}
	ok = true
	return d, nil
}

// addActors adds one run.Group actor per component. Every interrupt
// returns at once, so the parts stop together, each bounded by the
// shutdown's deadline: the consumer finishes the message in hand, writes
// its dead letters, checkpoints and commits; the engine makes its last
// evaluations; the alert sinks flush once the engine is done.
func (d *daemon) addActors(ctx context.Context, g *run.Group, ex *extras) {
	clock := d.clock
	consumerDone := make(chan struct{})
	{
		g.Add(clock.track("consumer", func() error {
			defer close(consumerDone)
			return d.consumer.Run(ctx)
		}), func(error) {
			d.consumer.Stop()
		})
	}
	if d.stage != nil {
		// The stage's last checkpoints wait for the evaluator: it stops
		// before the engine.
		g.Add(clock.track("evaluation", func() error {
			return d.stage.Run(ctx)
		}), func(error) {
			d.stage.Stop()
		})
		// The consumer's last checkpoints wait for their partials to be
		// written: the publisher stops after the consumer.
		g.Add(clock.track("partials", func() error {
			return d.engine.RunPublisher(ctx, clock.work())
		}), func(error) {
			go func() {
				select {
				case <-consumerDone:
				case <-time.After(clock.engineWait()):
				}
				d.engine.StopPublisher()
			}()
		})
	}
	engineDone := make(chan struct{})
	{
		g.Add(clock.track("engine", func() error {
			defer close(engineDone)
			return d.engine.Run(ctx)
		}), func(error) {
			d.engine.Stop()
		})
	}
	{
		g.Add(clock.track("http", d.server.Run), func(error) { d.server.Stop() })
	}
	{
		g.Add(func() error { return d.late.Run(ctx) }, func(error) { d.late.Stop() })
	}
	if d.gc != nil {
		g.Add(func() error { return d.gc.Run(ctx) }, func(error) { d.gc.Stop() })
	}
	for _, r := range d.alertRunners {
		g.Add(clock.track(r.name, func() error { return r.Run(ctx) }), func(error) {
			// The engine's last evaluations may still change alerts.
			go func() {
				select {
				case <-engineDone:
				case <-time.After(clock.engineWait()):
				}
				r.Stop()
			}()
		})
	}
	{
		wctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			err := d.store.Watch(wctx, time.Second, func(rep *baseline.ReloadReport, err error) {
				logReload(d.logger, "watch", rep, err)
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}, func(error) { cancel() })
	}
	{
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		done := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					rep, err := d.store.Reload()
					logReload(d.logger, "SIGHUP", rep, err)
					if err == nil {
						d.logger.Info("baselines reloaded", "trigger", "SIGHUP", "versions", len(d.store.Keys()), "refused", len(rep.Refused))
					}
				case <-done:
					return nil
				}
			}
		}, func(error) {
			signal.Stop(hup)
			close(done)
		})
	}
	if ex != nil && ex.actors != nil {
		for _, a := range ex.actors(d) {
			g.Add(a.execute, a.interrupt)
		}
	}
	if ex != nil && ex.started != nil {
		ex.started(d)
	}
}

// newCheckpointStore opens the store of checkpoint.store: files in
// checkpoint.dir, or the compacted checkpoint.topic, created or checked
// now, whose fence needs the consumer's claims.
func (d *daemon) newCheckpointStore(ctx context.Context, tlsConfig *tls.Config) (stream.CheckpointStore, stream.Claimer, error) {
	cfg := d.cfg
	if cfg.Checkpoint.Store != "kafka" {
		fc, err := stream.NewFileCheckpoints(cfg.Checkpoint.Dir, cfg.Kafka.GroupID)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint.dir: %w", err)
		}
		fc.Logger = d.logger // a fallback to the previous checkpoint is never silent
		return fc, nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kc, err := stream.NewKafkaCheckpoints(sctx, stream.KafkaCheckpointOptions{
		Brokers: d.brokers, Topic: cfg.Checkpoint.Topic, Partitions: cfg.Checkpoint.TopicPartitions,
		GroupID: cfg.Kafka.GroupID, TLS: tlsConfig,
		SASL:   stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password},
		Logger: d.logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint.topic: %w", err)
	}
	d.kafkaCheckpoints = kc
	d.logger.Info("checkpoints in a compacted kafka topic", "topic", kc.Topic(), "group", cfg.Kafka.GroupID)
	return kc, kc, nil
}

// ensureOutputTopics creates the dead-letter and alert topics when the
// brokers do not know them. One that cannot be created (no ACL to create
// topics, say) is a WARN saying what follows, and the daemon goes on.
func (d *daemon) ensureOutputTopics(ctx context.Context, tlsConfig *tls.Config) {
	cfg := d.cfg
	sasl := stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password}
	for _, t := range []struct{ key, topic, without string }{
		{"kafka.dlq_topic", cfg.Kafka.DLQTopic, "a dead letter holds its partition's commits and readiness until the topic exists"},
		{"kafka.alert_topic", cfg.Kafka.AlertTopic, "alert changes wait in the alert topic's queue until it exists"},
	} {
		if t.topic == "" {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		created, err := stream.EnsureOutputTopic(tctx, d.brokers, t.topic, tlsConfig, sasl)
		cancel()
		switch {
		case err != nil:
			d.logger.Warn("could not create the topic, which does not exist or cannot be looked up; create it (or set the key empty)",
				"key", t.key, "topic", t.topic, "without_it", t.without, "err", err)
		case created:
			d.logger.Info("created the topic, which did not exist, with the brokers' default partitions and replication", "key", t.key, "topic", t.topic)
		}
	}
}

// newPartials creates or checks the partials topic of evaluation.mode
// cluster, and opens its writer.
func (d *daemon) newPartials(ctx context.Context, tlsConfig *tls.Config) error {
	cfg := d.cfg
	sasl := stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := stream.EnsurePartialsTopic(sctx, d.brokers, stream.PartialsTopicOptions{
		Topic: cfg.Evaluation.PartialsTopic, Partitions: cfg.Evaluation.PartialsPartitions,
		Retention: cfg.Evaluation.PartialsRetention, TLS: tlsConfig, SASL: sasl,
	}); err != nil {
		return fmt.Errorf("evaluation.partials_topic: %w", err)
	}
	w, err := stream.NewPartialsWriter(stream.PartialsWriterOptions{
		Brokers: d.brokers, Topic: cfg.Evaluation.PartialsTopic, TLS: tlsConfig, SASL: sasl,
	})
	if err != nil {
		return fmt.Errorf("evaluation.partials_topic: %w", err)
	}
	d.partials = w
	d.logger.Info("evaluation.mode cluster: closed windows go to the partials topic; the evaluation stage judges each window once, cluster-wide",
		"partials_topic", cfg.Evaluation.PartialsTopic, "stage_group", cfg.StageGroupID(), "max_wait", cfg.Evaluation.MaxWait)
	return nil
}

// newStage makes the evaluation stage's consumer of the partials topic,
// in a group of its own, with checkpoints where the ingest's go.
func (d *daemon) newStage(ctx context.Context, tlsConfig *tls.Config) error {
	cfg := d.cfg
	group := cfg.StageGroupID()
	sasl := stream.SASLOptions{Mechanism: cfg.Kafka.SASL.Mechanism, Username: cfg.Kafka.SASL.Username, Password: cfg.Kafka.SASL.Password}
	var store stream.CheckpointStore
	var claimer stream.Claimer
	if cfg.Checkpoint.Store == "kafka" {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		kc, err := stream.NewKafkaCheckpoints(sctx, stream.KafkaCheckpointOptions{
			Brokers: d.brokers, Topic: cfg.Checkpoint.Topic, GroupID: group, TLS: tlsConfig, SASL: sasl, Logger: d.logger,
		})
		if err != nil {
			return fmt.Errorf("checkpoint.topic: %w", err)
		}
		d.stageCheckpoints = kc
		store, claimer = kc, kc
	} else {
		fc, err := stream.NewFileCheckpoints(cfg.Checkpoint.Dir, group)
		if err != nil {
			return fmt.Errorf("checkpoint.dir: %w", err)
		}
		fc.Logger = d.logger
		store = fc
	}
	var err error
	d.stage, err = stream.NewConsumer(stream.Options{
		Brokers: d.brokers, Topics: []string{cfg.Evaluation.PartialsTopic}, GroupID: group,
		StartOffset: stream.StartEarliest, CheckpointInterval: cfg.Checkpoint.Interval, TLS: tlsConfig, SASL: sasl,
		DLQTopic:       cfg.Kafka.DLQTopic,
		FetchMaxBytes:  max(cfg.Kafka.FetchMaxBytes, 2*stream.DefaultPartialsMaxMessageBytes),
		SessionTimeout: cfg.Kafka.SessionTimeout, HeartbeatInterval: cfg.Kafka.SessionTimeout / 10,
		ShutdownTimeout: d.clock.work(), Logger: d.logger.With("consumer", "evaluation"),
		Claimer: claimer, MetricsSubsystem: "stage",
	}, d.engine.Stage(store), d.reg)
	if err != nil {
		return fmt.Errorf("evaluation stage: %w", err)
	}
	return nil
}

func (d *daemon) close() {
	if d.kafkaCheckpoints != nil {
		_ = d.kafkaCheckpoints.Close()
	}
	if d.stageCheckpoints != nil {
		_ = d.stageCheckpoints.Close()
	}
	if d.partials != nil {
		_ = d.partials.Close()
	}
	if d.embedded != nil {
		d.embedded.Close()
	}
}

// notices are the problems of the daemon itself the status page shows.
func (d *daemon) notices() []export.Notice {
	out := baselineNotices(d.store)
	if err := d.late.Problem(); err != nil {
		out = append(out, export.Notice{Title: "events all late", Detail: err.Error()})
	}
	if f, ok := d.engine.LastForcedWait(); ok && time.Since(f.At) < 10*time.Minute {
		out = append(out, export.Notice{Title: "window judged without every partition",
			Detail: fmt.Sprintf("%d windows so far judged after evaluation.max_wait without every source partition's share; the last: %s %s, window from %s, without %s (their processes gone or lagging), at %s",
				f.Count, f.Model, f.Version, f.WindowStart.Format(time.RFC3339), strings.Join(f.Missing, ", "), f.At.Format(time.RFC3339))})
	}
	for _, t := range d.consumer.MissingTopics() {
		out = append(out, export.Notice{Title: "topic missing",
			Detail: fmt.Sprintf("kafka topic %s does not exist; it is checked again with backoff and consumed once it does", t)})
	}
	return out
}

// snapshots adapts the engine's latest evaluations to the exporter.
func (d *daemon) snapshots() []export.Snapshot {
	evs := d.engine.Latest()
	vers := map[[2]string]engine.Series{}
	for _, s := range d.engine.Tracked() {
		vers[[2]string{s.Model, s.Version}] = s
	}
	out := make([]export.Snapshot, len(evs))
	for i, e := range evs {
		out[i] = export.Snapshot{
			Model: e.Model, Version: e.Version, BaselineID: e.BaselineID,
			WindowEnd: e.WindowEnd, EvaluatedAt: e.EvaluatedAt, Report: e.Report,
			Features: e.Features, Embeddings: e.Embeddings,
		}
		if s, ok := vers[[2]string{e.Model, e.Version}]; ok {
			out[i].Faults, out[i].State, out[i].LastEvent = s.Faults, s.State, s.LastEvent
		}
	}
	for _, s := range d.engine.Versions() {
		if s.State == engine.StateRetired || s.State == engine.StateEvicted || s.State == engine.StateRefused {
			out = append(out, export.Snapshot{Model: s.Model, Version: s.Version, State: s.State, Reason: s.Reason, LastEvent: s.LastEvent, Left: s.Left})
		}
	}
	return out
}

// sketches gives the status page's detail view the sketches behind a
// version's latest evaluation: the engine's horizon, and the one feature
// or embedding of the baseline it was compared with (copied).
func (d *daemon) sketches(model, version, name string, embedding bool) (drift.Set, drift.Set, bool) {
	cur, info, ok := d.engine.Horizon(model, version)
	if !ok {
		return drift.Set{}, drift.Set{}, false
	}
	var ref drift.Set
	if b, ok := d.store.Lookup(model, version); ok && b.ID() == info.BaselineID {
		one := &baseline.Baseline{Features: map[string]*baseline.Feature{}, Embeddings: map[string]*baseline.Embedding{}}
		if f, ok := b.Features[name]; ok && !embedding {
			one.Features[name] = f
		}
		if e, ok := b.Embeddings[name]; ok && embedding {
			one.Embeddings[name] = e
		}
		ref = one.Set()
	}
	return ref, cur, true
}

// intake is what the status page's empty state says: where to send
// events and which baselines are loaded.
func (d *daemon) intake() export.Intake {
	in := export.Intake{Brokers: d.brokers, Topics: d.cfg.Kafka.Topics, Embedded: d.embedded != nil}
	for _, k := range d.store.Keys() {
		b, ok := d.store.Lookup(k.Model, k.Version)
		if !ok {
			continue
		}
		bi := export.BaselineInfo{Model: b.Model, Version: b.ModelVersion, ID: b.ID(), Created: b.CreatedAt, Dims: map[string]int{}}
		bi.Features = slices.Sorted(maps.Keys(b.Features))
		bi.Embeddings = slices.Sorted(maps.Keys(b.Embeddings))
		for name, e := range b.Embeddings {
			bi.Dims[name] = e.Dim
		}
		in.Baselines = append(in.Baselines, bi)
	}
	return in
}

// api is the daemon's JSON API: read-only views of the engine and alerts.
func (d *daemon) api() map[string]export.APIFunc {
	return map[string]export.APIFunc{
		"/api/v1/evaluations": func(*http.Request) (any, error) { return d.engine.Latest(), nil },
		"/api/v1/series":      func(*http.Request) (any, error) { return d.engine.Versions(), nil },
		"/api/v1/alerts":      func(*http.Request) (any, error) { return d.alerts.Active(), nil },
		"/api/v1/horizon":     d.horizon,
		"/api/v1/gate":        d.gate,
		"/api/v1/cumulative": func(r *http.Request) (any, error) {
			model, version := r.URL.Query().Get("model"), r.URL.Query().Get("model_version")
			c, ok := d.engine.Cumulative(model, version)
			if !ok {
				return nil, &export.APIError{Code: http.StatusNotFound, Msg: fmt.Sprintf("no series for model %q version %q", model, version)}
			}
			return c, nil
		},
	}
}

// storeBaselines adapts the baseline store to the engine.
type storeBaselines struct{ s *baseline.Store }

func (b storeBaselines) Lookup(model, version string) (drift.Set, string, bool) {
	bl, ok := b.s.Lookup(model, version)
	if !ok {
		return drift.Set{}, "", false
	}
	return bl.Set(), bl.ID(), true
}

// FrozenRef returns the frozen-query reference of a model version's query
// embedding, or nil.
func (b storeBaselines) FrozenRef(model, version, embedding string) *sketch.FrozenRef {
	bl, ok := b.s.Lookup(model, version)
	if !ok {
		return nil
	}
	if e := bl.Embeddings[embedding]; e != nil && e.Frozen != nil {
		return e.Frozen.Ref()
	}
	return nil
}

var _ engine.FrozenReferences = storeBaselines{}

// alertSink feeds evaluations to the alert lifecycle.
type alertSink struct{ m *alert.Manager }

// The evaluation stage's evaluations and lifecycle notices are held
// under their stage partition until its checkpoint confirms them
// (TakeHeld); the rest go to the sinks at once.
func (s alertSink) Publish(e engine.Evaluation) {
	s.m.ObserveHeld(e.Stage, e.Model, e.Version, e.Report, e.EvaluatedAt)
}

// Lifecycle resolves the alerts of a version gone stale, retired or
// evicted: no page stays up on old evidence.
func (s alertSink) Lifecycle(l engine.Lifecycle) {
	if l.State != engine.StateActive {
		s.m.RetireHeld(l.Stage, l.Model, l.Version, l.At)
	}
}
func (alertSink) Name() string { return "alerts" }

// ExportState, RestoreState and ReleaseState carry a model version's alert
// lifecycle with the evaluation stage partition that judges it.
func (s alertSink) ExportState(model, version string) ([]byte, error) {
	return s.m.ExportVersion(model, version)
}

func (s alertSink) RestoreState(model, version string, state []byte) error {
	_, err := s.m.RestoreVersion(model, version, state)
	return err
}

func (s alertSink) ReleaseState(model, version string) { s.m.ReleaseVersion(model, version) }

func (s alertSink) TakeHeld(stage string) engine.Held {
	return &heldAlerts{m: s.m, stage: stage, changes: s.m.TakeHeld(stage)}
}

// heldAlerts are alert changes kept back for one stage partition.
type heldAlerts struct {
	m       *alert.Manager
	stage   string
	changes []alert.Change
}

func (h *heldAlerts) Deliver() { h.m.Deliver(h.changes) }
func (h *heldAlerts) Discard() {}
func (h *heldAlerts) Keep()    { h.m.ReturnHeld(h.stage, h.changes) }
func (h *heldAlerts) Len() int { return len(h.changes) }

var _ engine.StateSink = alertSink{}

func decoderOptions(c config.Decode) stream.DecoderOptions {
	return stream.DecoderOptions{
		TimePath: c.TimePath, TimeUnit: c.TimeUnit, ModelPath: c.ModelPath, VersionPath: c.VersionPath,
		FeaturesPath: c.FeaturesPath, RawPath: c.RawPath, EmbeddingsPath: c.EmbeddingsPath, RetrievalPath: c.RetrievalPath,
		ModelHeader: c.ModelHeader, VersionHeader: c.VersionHeader,
		RequestIDPath: c.RequestIDPath, RequestIDHeader: c.RequestIDHeader,
		ListNameKey: c.ListNameKey, ListValueKey: c.ListValueKey,
		MaxMessageBytes: c.MaxMessageBytes, MaxFeatures: c.MaxFeatures, MaxEmbeddings: c.MaxEmbeddings,
		MaxDim: c.MaxDim, MaxDepth: c.MaxDepth, MaxNameBytes: c.MaxNameBytes, MaxNames: c.MaxNames,
		MaxRetrievedDocs: c.MaxRetrievedDocs, OutcomesPath: c.OutcomesPath, MaxOutcomes: c.MaxOutcomes,
	}
}

func kafkaTLS(c config.TLS) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	return clientTLS("kafka.tls", config.ClientTLS{
		CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, InsecureSkipVerify: c.InsecureSkipVerify,
	})
}

// clientTLS builds the client side of TLS from configuration: the CA to
// verify the server by (the system roots when empty) and a client
// certificate for mutual TLS. Errors name the keys under key.
func clientTLS(key string, c config.ClientTLS) (*tls.Config, error) {
	t := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // the user's explicit choice
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: %s holds no PEM certificate", key, c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file/key_file: %w", key, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
