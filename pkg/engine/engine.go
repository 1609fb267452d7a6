package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Fallbacks for a model version with no baseline of its own.
const (
	// FallbackPreviousVersion compares with the cumulative production
	// view of the previous version of the same model (versions ordered
	// naturally: v9 before v10), labelled "previous_version:<version>".
	FallbackPreviousVersion = "previous_version"
	// FallbackReportOnly reports the current statistics with diagnosis
	// no_baseline.
	FallbackReportOnly = "report_only"
)

// Defaults of Options.
const (
	DefaultWindowSize      = time.Minute
	DefaultAllowedLateness = 10 * time.Second
	// DefaultMaxFutureSkew tolerates producers' clocks and batching, far
	// less than a mistaken unit (seconds read as milliseconds) or year.
	DefaultMaxFutureSkew  = time.Hour
	DefaultHorizonWindows = 5
	DefaultSinkQueue      = 256
)

// Limits bound the series the engine tracks, and so its memory and the
// cardinality of its metrics.
type Limits struct {
	MaxModels           int // models
	MaxVersionsPerModel int // versions of one model
	MaxFeatures         int // features of one model version
	MaxEmbeddings       int // embedding fields of one model version
	// MaxSeries bounds the features and embeddings tracked over all
	// versions: what /metrics, the status page and memory grow with.
	MaxSeries int
	// MaxFrozenQueries bounds the distinct frozen query ids whose runs a
	// model version's window (and horizon) keeps aggregates of; the runs
	// of ids past it are counted (frozen_runs_total, over_cap).
	MaxFrozenQueries int
}

// DefaultMaxFrozenQueries is the default Limits.MaxFrozenQueries: frozen
// query sets are hundreds to a few thousand queries, and an aggregate is
// some 40 bytes.
const DefaultMaxFrozenQueries = 10000

// DefaultMaxSeries is the default global series budget: about 30
// Prometheus series per feature (figures, quantiles, baseline bands) make
// 2000 features some 60,000 series, a scrape of a few megabytes that a
// Prometheus server takes in well under a second.
const DefaultMaxSeries = 2000

// DefaultLimits returns the limits normwatch ships with.
func DefaultLimits() Limits {
	return Limits{MaxModels: 20, MaxVersionsPerModel: 5, MaxFeatures: 1000, MaxEmbeddings: 20, MaxSeries: DefaultMaxSeries, MaxFrozenQueries: DefaultMaxFrozenQueries}
}

// Options configures an Engine. Zero fields take the defaults, except
// AllowedLateness.
type Options struct {
	WindowSize time.Duration
	// AllowedLateness is taken as given: 0 means none. DefaultOptions
	// sets DefaultAllowedLateness.
	AllowedLateness time.Duration
	// MaxFutureSkew is how far a payload's time may run ahead of its
	// message's Kafka timestamp. One event stamped next year would
	// otherwise move the watermark and make every later event late; past
	// the skew the Kafka timestamp is used and the event counted in
	// future_timestamps_total. 0 means no check; DefaultOptions sets
	// DefaultMaxFutureSkew.
	MaxFutureSkew  time.Duration
	HorizonWindows int
	Thresholds     drift.Thresholds // zero value: drift.DefaultThresholds()
	// Overrides change the thresholds of some features and embeddings, or
	// mute them (drift.Policy).
	Overrides []drift.Override
	Limits    Limits // zero fields: DefaultLimits()
	// IdleFlush closes the open windows of a partition that got no event
	// for WindowSize+AllowedLateness of wall time, checking every
	// IdleCheck. Replays never idle, so their reports do not depend on it.
	IdleFlush bool
	IdleCheck time.Duration // default WindowSize/4
	Fallback  string        // FallbackPreviousVersion (default) or FallbackReportOnly
	// VersionStaleAfter is how long a version goes without events before
	// it is stale: its alerts resolve and its drift figures leave /metrics
	// until events come again. 0 means DefaultStaleWindows windows.
	VersionStaleAfter time.Duration
	// VersionIdleTimeout is how long a version goes without events before
	// it retires; default DefaultVersionIdleTimeout, negative for never.
	VersionIdleTimeout time.Duration
	// LifecycleCheck is how often versions are checked for staleness and
	// retirement; default a quarter window, within [1s, 15s].
	LifecycleCheck time.Duration
	SinkQueue      int // evaluations buffered per sink; default DefaultSinkQueue
	// Activations names the embedding fields that are activations
	// (path.Match globs): they get per-vector mean, std and RMS profiles.
	Activations []string
	// Outcomes are the outcomes tracked per version and compared with the
	// previous and live versions' (outcomes.go); other names are counted
	// and skipped.
	Outcomes []drift.OutcomeSpec
	// Cluster turns cluster mode on (see ClusterOptions).
	Cluster ClusterOptions
	// Gate declares candidate versions, compared with the live version
	// of their model on the same windows (see GateOptions).
	Gate  GateOptions
	Clock func() time.Time
	// Logger receives the engine's rare log lines (internal errors); nil
	// discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options normwatch ships with.
func DefaultOptions() Options {
	o := Options{AllowedLateness: DefaultAllowedLateness, MaxFutureSkew: DefaultMaxFutureSkew, IdleFlush: true}
	return o.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.WindowSize == 0 {
		o.WindowSize = DefaultWindowSize
	}
	if o.HorizonWindows == 0 {
		o.HorizonWindows = DefaultHorizonWindows
	}
	if o.Thresholds == (drift.Thresholds{}) {
		o.Thresholds = drift.DefaultThresholds()
	}
	d := DefaultLimits()
	if o.Limits.MaxModels == 0 {
		o.Limits.MaxModels = d.MaxModels
	}
	if o.Limits.MaxVersionsPerModel == 0 {
		o.Limits.MaxVersionsPerModel = d.MaxVersionsPerModel
	}
	if o.Limits.MaxFeatures == 0 {
		o.Limits.MaxFeatures = d.MaxFeatures
	}
	if o.Limits.MaxEmbeddings == 0 {
		o.Limits.MaxEmbeddings = d.MaxEmbeddings
	}
	if o.Limits.MaxFrozenQueries == 0 {
		o.Limits.MaxFrozenQueries = d.MaxFrozenQueries
	}
	if o.Limits.MaxSeries == 0 {
		o.Limits.MaxSeries = d.MaxSeries
	}
	if o.VersionIdleTimeout == 0 {
		o.VersionIdleTimeout = DefaultVersionIdleTimeout
	}
	if o.LifecycleCheck == 0 {
		o.LifecycleCheck = max(time.Second, min(o.WindowSize/4, 15*time.Second))
	}
	if o.IdleCheck == 0 {
		o.IdleCheck = o.WindowSize / 4
	}
	if o.Fallback == "" {
		o.Fallback = FallbackPreviousVersion
	}
	if o.SinkQueue == 0 {
		o.SinkQueue = DefaultSinkQueue
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Cluster = o.Cluster.withDefaults()
	if o.Gate.MinWindows == 0 {
		o.Gate.MinWindows = DefaultGateMinWindows
	}
	if o.Gate.JoinBuffer == 0 {
		o.Gate.JoinBuffer = DefaultJoinBuffer
	}
	if o.Gate.JoinWait == 0 {
		o.Gate.JoinWait = DefaultJoinWait
	}
	if o.Logger == nil {
		o.Logger = discardLogger
	}
	return o
}

// Validate reports the first option out of its range, by name. New calls
// it after filling in the defaults.
func (o Options) Validate() error {
	switch {
	case o.WindowSize < time.Millisecond || o.WindowSize > 24*time.Hour:
		return fmt.Errorf("engine: WindowSize %v out of range [1ms, 24h]", o.WindowSize)
	case o.AllowedLateness < 0 || o.AllowedLateness > 24*time.Hour:
		return fmt.Errorf("engine: AllowedLateness %v out of range [0, 24h]", o.AllowedLateness)
	case o.MaxFutureSkew < 0:
		return fmt.Errorf("engine: MaxFutureSkew %v is negative", o.MaxFutureSkew)
	case o.HorizonWindows < 1 || o.HorizonWindows > 10_000:
		return fmt.Errorf("engine: HorizonWindows %d out of range [1, 10000]", o.HorizonWindows)
	case o.Limits.MaxModels < 1:
		return fmt.Errorf("engine: Limits.MaxModels %d below 1", o.Limits.MaxModels)
	case o.Limits.MaxVersionsPerModel < 1:
		return fmt.Errorf("engine: Limits.MaxVersionsPerModel %d below 1", o.Limits.MaxVersionsPerModel)
	case o.Limits.MaxFeatures < 1 || o.Limits.MaxFeatures > 1<<20:
		return fmt.Errorf("engine: Limits.MaxFeatures %d out of range [1, 1048576]", o.Limits.MaxFeatures)
	case o.Limits.MaxEmbeddings < 1 || o.Limits.MaxEmbeddings > 1<<16:
		return fmt.Errorf("engine: Limits.MaxEmbeddings %d out of range [1, 65536]", o.Limits.MaxEmbeddings)
	case o.Limits.MaxSeries < 1:
		return fmt.Errorf("engine: Limits.MaxSeries %d below 1", o.Limits.MaxSeries)
	case o.VersionStaleAfter < 0:
		return fmt.Errorf("engine: VersionStaleAfter %v is negative", o.VersionStaleAfter)
	case o.VersionIdleTimeout > 0 && o.VersionIdleTimeout <= o.VersionStaleAfter:
		return fmt.Errorf("engine: VersionIdleTimeout %v is not after VersionStaleAfter %v", o.VersionIdleTimeout, o.VersionStaleAfter)
	case o.IdleCheck < 0:
		return fmt.Errorf("engine: IdleCheck %v is negative", o.IdleCheck)
	case o.Fallback != FallbackPreviousVersion && o.Fallback != FallbackReportOnly:
		return fmt.Errorf("engine: Fallback %q is neither %q nor %q", o.Fallback, FallbackPreviousVersion, FallbackReportOnly)
	case o.SinkQueue < 1:
		return fmt.Errorf("engine: SinkQueue %d below 1", o.SinkQueue)
	case o.Cluster.MaxWait < 0:
		return fmt.Errorf("engine: Cluster.MaxWait %v is negative", o.Cluster.MaxWait)
	case o.Cluster.FlushTimeout < 0:
		return fmt.Errorf("engine: Cluster.FlushTimeout %v is negative", o.Cluster.FlushTimeout)
	case o.Cluster.Queue < 1:
		return fmt.Errorf("engine: Cluster.Queue %d below 1", o.Cluster.Queue)
	case o.Cluster.ReleaseWait < 0:
		return fmt.Errorf("engine: Cluster.ReleaseWait %v is negative", o.Cluster.ReleaseWait)
	}
	if err := o.Gate.validate(); err != nil {
		return err
	}
	if err := validActivations(o.Activations); err != nil {
		return err
	}
	if err := validOutcomes(o.Outcomes); err != nil {
		return err
	}
	if err := o.Thresholds.Validate(); err != nil {
		return fmt.Errorf("engine: Thresholds: %w", err)
	}
	if err := (drift.Policy{Default: o.Thresholds, Overrides: o.Overrides}).Validate(); err != nil {
		return fmt.Errorf("engine: Overrides: %w", err)
	}
	return nil
}

// Baselines looks up the reference of a model version. ref is the caller's
// to keep: the engine may cache sketch state in it.
type Baselines interface {
	Lookup(model, version string) (ref drift.Set, id string, ok bool)
}

// FrozenReferences is what a Baselines also implements when its baselines
// hold frozen-query references: the reference of a model version's query
// embedding, shared and immutable, or nil. The engine scores each frozen
// run against it as the run is applied (a window keeps per-query
// aggregates, not document ids), looking it up again at every new window.
type FrozenReferences interface {
	FrozenRef(model, version, embedding string) *sketch.FrozenRef
}

// Sink receives evaluations, one goroutine per sink, in the order they were
// made for each model version. Publish may block: the engine buffers
// SinkQueue evaluations per sink and drops the oldest past that.
type Sink interface {
	Publish(Evaluation)
}

// NamedSink is a Sink that names itself for sink_dropped_total.
type NamedSink interface {
	Sink
	Name() string
}

// Evaluation is the comparison of one closed window's horizon with the
// reference of its model version.
type Evaluation struct {
	Model   string `json:"model"`
	Version string `json:"model_version"`
	// WindowStart and WindowEnd bound the window whose close triggered the
	// evaluation; the horizon is the HorizonWindows windows ending at it.
	WindowStart time.Time    `json:"window_start"`
	WindowEnd   time.Time    `json:"window_end"`
	BaselineID  string       `json:"baseline_id"` // "" without a baseline
	Fallback    string       `json:"fallback"`    // "previous_version:<version>", "report_only" or ""
	Report      drift.Report `json:"report"`
	Events      uint64       `json:"events"` // events in the horizon
	EvaluatedAt time.Time    `json:"evaluated_at"`
	// Stale is set (by Latest) while the version has had no events for
	// VersionStaleAfter: the evaluation is old evidence.
	Stale bool `json:"stale"`
	// Live is a candidate version's comparison with the live version of
	// its model in the same windows; nil for a version that is not a
	// candidate, or when no live version had events in its windows.
	Live *LiveComparison `json:"live,omitempty"`
	// Features and Embeddings hold the distributions behind the report,
	// current horizon and reference, in the report's order: the quantile
	// metrics and the status page's plots.
	Features   []FeatureDistribution   `json:"features"`
	Embeddings []EmbeddingDistribution `json:"embeddings"`
	// Stage is, in cluster mode, the evaluation stage partition that
	// judged it: a StateSink keeps the notices it causes back under that
	// name (StateSink.TakeHeld) until the partition's checkpoint that
	// records it is saved and the partition is confirmed still owned.
	Stage string `json:"-"`
}

// Engine is the pipeline's state and its evaluator. It implements
// stream.Processor.
type Engine struct {
	opts      Options
	window    int64 // nanoseconds
	lateness  int64
	baselines Baselines
	store     stream.CheckpointStore
	m         *metrics
	reg       *registry
	ev        *evaluator
	sinks     []*sinkQueue
	log       *slog.Logger
	pub       *publisher // cluster mode: where partitions' closes go
	// The join of candidates' events with live's by request id (pairs.go).
	pairs      pairStore
	candModels sync.Map // model → true: it has a marked candidate

	stageMu    sync.Mutex
	stageParts map[partKey]*stagePart

	unattributed faults // internal errors with no series to pin them on

	// testHook, when set by a test, is called at the points where a bug of
	// ours would panic ("apply", "close", "evaluate"), so that tests can
	// plant one.
	testHook func(where string, s *series)

	mu    sync.Mutex
	parts map[partKey]*partition

	stopOnce sync.Once
	stop     chan struct{}
	running  atomic.Bool // Run is evaluating
}

var _ stream.Processor = (*Engine)(nil)

type partKey struct {
	topic     string
	partition int
	// of is set on the evaluation stage's keys: the partials partition
	// whose records of this source they hold (each holds a share of the
	// model versions, and hears the source's watermark in its own time).
	of string
}

func (k partKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.partition) }

// New returns an Engine. reg may be nil for no metrics registration.
func New(opts Options, baselines Baselines, store stream.CheckpointStore, reg prometheus.Registerer, sinks ...Sink) (*Engine, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if baselines == nil {
		return nil, errors.New("engine: nil Baselines")
	}
	if store == nil {
		return nil, errors.New("engine: nil CheckpointStore")
	}
	m := newMetrics(reg)
	e := &Engine{
		opts: opts, window: int64(opts.WindowSize), lateness: int64(opts.AllowedLateness),
		baselines: baselines, store: store, m: m, log: opts.Logger,
		reg:   newRegistry(opts.Limits, m, &rateLog{log: opts.Logger, clock: opts.Clock}),
		parts: map[partKey]*partition{}, stageParts: map[partKey]*stagePart{},
		stop: make(chan struct{}),
	}
	if opts.Cluster.Partials != nil {
		e.pub = newPublisher(e, opts.Cluster.Partials)
		m.registerCluster(reg)
	}
	for i, s := range sinks {
		if s == nil {
			return nil, fmt.Errorf("engine: sink %d is nil", i)
		}
		name := fmt.Sprintf("sink%d", i)
		if ns, ok := s.(NamedSink); ok {
			name = ns.Name()
		}
		e.sinks = append(e.sinks, newSinkQueue(s, name, opts.SinkQueue, m))
	}
	e.ev = newEvaluator(e)
	return e, nil
}

// Run evaluates closed windows and feeds the sinks until ctx is done or
// Stop is called; then it evaluates what is queued, lets the sinks drain
// their queues and returns. It returns nil on Stop, ctx.Err() otherwise.
func (e *Engine) Run(ctx context.Context) error {
	e.running.Store(true)
	var wg sync.WaitGroup
	for _, s := range e.sinks {
		wg.Go(s.run)
	}
	var tick <-chan time.Time
	if e.opts.IdleFlush {
		t := time.NewTicker(e.opts.IdleCheck)
		defer t.Stop()
		tick = t.C
	}
	life := time.NewTicker(e.opts.LifecycleCheck)
	defer life.Stop()
	// The stage's bounded wait and released versions are checked on a
	// clock of their own.
	var stageTick <-chan time.Time
	if e.pub != nil {
		t := time.NewTicker(max(10*time.Millisecond, min(e.opts.Cluster.MaxWait/4, time.Second)))
		defer t.Stop()
		stageTick = t.C
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		case <-e.stop:
			break loop
		case <-e.ev.wake:
			e.ev.process()
		case <-tick:
			e.flushIdle()
		case <-life.C:
			e.checkLifecycle(e.opts.Clock())
		case <-stageTick:
			e.ev.recheck()
		}
	}
	e.running.Store(false)
	e.ev.process()
	for _, s := range e.sinks {
		s.close()
	}
	wg.Wait()
	return err
}

// Stop makes Run return. It is safe to call more than once.
func (e *Engine) Stop() { e.stopOnce.Do(func() { close(e.stop) }) }

// flushIdle closes the windows of partitions idle for a window and the
// allowed lateness of wall time.
func (e *Engine) flushIdle() {
	now := e.opts.Clock()
	e.mu.Lock()
	parts := make([]*partition, 0, len(e.parts))
	for _, p := range e.parts {
		parts = append(parts, p)
	}
	e.mu.Unlock()
	for _, p := range parts {
		p.idleCheck(now, e.opts.WindowSize+e.opts.AllowedLateness)
	}
}

// OpenPartition restores topic/partition from its checkpoint, if any.
func (e *Engine) OpenPartition(topic string, partition int) (stream.PartitionProcessor, error) {
	key := partKey{topic: topic, partition: partition}
	e.mu.Lock()
	if _, ok := e.parts[key]; ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("engine: partition %s is already open", key)
	}
	e.mu.Unlock()
	data, err := e.store.Load(topic, partition)
	if err != nil {
		return nil, fmt.Errorf("engine: loading the checkpoint of %s: %w", key, err)
	}
	p := newPartition(e, key)
	// Set before the idle ticker can see the partition.
	p.wall = e.opts.Clock()
	if data != nil {
		if err := p.restore(data); err != nil {
			return nil, fmt.Errorf("engine: restoring the checkpoint of %s: %w", key, err)
		}
	}
	e.mu.Lock()
	if _, ok := e.parts[key]; ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("engine: partition %s is already open", key)
	}
	e.parts[key] = p
	e.mu.Unlock()
	p.announceRestore()
	return p, nil
}

func (e *Engine) forget(key partKey, p *partition) {
	e.mu.Lock()
	if e.parts[key] == p {
		delete(e.parts, key)
	}
	e.mu.Unlock()
}

// Latest returns the latest evaluation of every tracked model version,
// sorted by model and version. It is safe for concurrent use.
func (e *Engine) Latest() []Evaluation { return e.ev.latestAll() }

// Tracked returns the tracked model versions, active and stale, sorted.
func (e *Engine) Tracked() []Series { return e.reg.list(false) }

// Versions returns the tracked model versions, sorted, then the ones that
// retired or were evicted lately, most recent first: nothing is hidden.
func (e *Engine) Versions() []Series { return e.reg.list(true) }

// Retire forgets a model version: its metric series are deleted, its
// latest evaluation and partial sketches dropped, its alerts resolved (by
// the lifecycle sinks), and its names stop counting against the limits.
// Partitions drop their state of it at their next event of it or window
// close, and their next checkpoints leave it out. An event of it
// afterwards admits it anew. It reports whether the version was tracked.
func (e *Engine) Retire(model, version string) bool {
	now := e.opts.Clock()
	s := e.reg.retire(model, version, StateRetired, "retired by request", now)
	if s == nil {
		return false
	}
	e.afterRetire(s, StateRetired, "retired by request", now)
	return true
}

func sortEvaluations(out []Evaluation) {
	slices.SortFunc(out, func(a, b Evaluation) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return compareVersions(a.Version, b.Version)
	})
}
