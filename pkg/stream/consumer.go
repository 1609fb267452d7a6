package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Defaults of Options.
const (
	DefaultStartOffset        = StartEarliest
	DefaultCheckpointInterval = 10 * time.Second
	DefaultFetchMaxBytes      = 10 << 20
	DefaultFetchMaxWait       = 500 * time.Millisecond
	DefaultDialTimeout        = 10 * time.Second
	DefaultRequestTimeout     = 10 * time.Second
	DefaultSessionTimeout     = 30 * time.Second
	DefaultRebalanceTimeout   = 30 * time.Second
	DefaultHeartbeatInterval  = 3 * time.Second
	DefaultRetryBackoff       = time.Second
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultDLQMaxPending      = 1000
	DefaultDLQMaxValueBytes   = 512 << 10
)

// Start-offset policies of a new consumer group.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// SASL mechanisms.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASLOptions authenticate to the brokers; an empty Mechanism means none.
type SASLOptions struct {
	Mechanism string // "", SASLPlain, SASLScramSHA256 or SASLScramSHA512
	Username  string
	Password  string
}

// Options configures a Consumer. Zero fields take the defaults.
type Options struct {
	Brokers []string // host:port seed addresses
	Topics  []string
	GroupID string
	// StartOffset is where a partition with no committed offset starts:
	// StartEarliest or StartLatest. A partition with a checkpoint starts
	// after it whatever the group committed.
	StartOffset string
	// CheckpointInterval is how often each partition checkpoints and
	// commits; it bounds what is re-read after a crash.
	CheckpointInterval time.Duration
	Decoder            DecoderOptions
	TLS                *tls.Config // nil: plaintext
	SASL               SASLOptions
	// DLQTopic receives undecodable messages; "" disables it (they are
	// still counted and skipped).
	DLQTopic string
	// DLQMaxPending is how many dead letters a partition holds before it
	// must get them written, whatever the checkpoint interval.
	DLQMaxPending int
	// DLQMaxValueBytes cuts a dead letter's value, so that an oversize
	// message still fits the dead-letter topic; HeaderOriginalSize tells.
	DLQMaxValueBytes int
	// FetchMaxBytes bounds one fetch response; it must hold the largest
	// message the decoder accepts.
	FetchMaxBytes     int
	FetchMaxWait      time.Duration
	DialTimeout       time.Duration
	RequestTimeout    time.Duration // of a group coordinator request
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// RetryBackoff is the pause before re-joining the group after an
	// error; fetch reconnects back off from a tenth of it up to it.
	RetryBackoff time.Duration
	// ShutdownTimeout bounds Stop's drain: finishing, checkpointing and
	// committing every partition, then leaving the group. Past it, Run
	// waits a twentieth more (at most 250 ms) for the partitions' account
	// of what they left undone.
	ShutdownTimeout time.Duration
	// TopicCheckInterval is how often the topics are checked while
	// consuming (a topic created or deleted re-joins the group with the
	// topics that exist), and the longest pause between checks while none
	// exists.
	TopicCheckInterval time.Duration
	Logger             *slog.Logger // nil: no logs

	// MetricsSubsystem names the consumer's metrics
	// normwatch_<subsystem>_...: a second consumer in one process (the
	// evaluation stage's, "stage") needs names of its own.
	MetricsSubsystem string

	// Claimer, if set, is told the group generation of each partition
	// before the processor opens it: the checkpoint store shared by the
	// processes of a group (KafkaCheckpoints) fences its writes with it.
	Claimer Claimer

	// AfterCheckpoint, if set, is called after each successful checkpoint
	// and before its offset is committed, from the partition's goroutine.
	// It is for process-level crash tests only (a hook that kills the
	// process there); leave it nil in use.
	AfterCheckpoint func(topic string, partition int, offset int64)
}

func (o Options) withDefaults() Options {
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	if o.StartOffset == "" {
		o.StartOffset = DefaultStartOffset
	}
	set(&o.CheckpointInterval, DefaultCheckpointInterval)
	set(&o.FetchMaxWait, DefaultFetchMaxWait)
	set(&o.DialTimeout, DefaultDialTimeout)
	set(&o.RequestTimeout, DefaultRequestTimeout)
	set(&o.SessionTimeout, DefaultSessionTimeout)
	set(&o.RebalanceTimeout, DefaultRebalanceTimeout)
	set(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	set(&o.RetryBackoff, DefaultRetryBackoff)
	set(&o.ShutdownTimeout, DefaultShutdownTimeout)
	set(&o.TopicCheckInterval, DefaultTopicCheckInterval)
	num(&o.FetchMaxBytes, DefaultFetchMaxBytes)
	num(&o.DLQMaxPending, DefaultDLQMaxPending)
	num(&o.DLQMaxValueBytes, DefaultDLQMaxValueBytes)
	o.Decoder = o.Decoder.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports the first option that is missing or out of range, by
// name, after filling in the defaults.
func (o Options) Validate() error {
	o = o.withDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("stream: consumer option %s: %s", field, fmt.Sprintf(format, args...))
	}
	if len(o.Brokers) == 0 {
		return bad("Brokers", "must list at least one host:port")
	}
	for i, b := range o.Brokers {
		host, port, err := net.SplitHostPort(b)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return bad(fmt.Sprintf("Brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if len(o.Topics) == 0 {
		return bad("Topics", "must list at least one topic")
	}
	for i, t := range o.Topics {
		if err := validTopic(t); err != nil {
			return bad(fmt.Sprintf("Topics[%d]", i), "%v", err)
		}
		if slices.Contains(o.Topics[:i], t) {
			return bad(fmt.Sprintf("Topics[%d]", i), "%q is listed twice", t)
		}
	}
	if o.GroupID == "" {
		return bad("GroupID", "must not be empty")
	}
	if o.StartOffset != StartEarliest && o.StartOffset != StartLatest {
		return bad("StartOffset", "%q is neither %q nor %q", o.StartOffset, StartEarliest, StartLatest)
	}
	if err := o.Decoder.Validate(); err != nil {
		return fmt.Errorf("stream: consumer option Decoder: %w", err)
	}
	switch o.SASL.Mechanism {
	case "":
		if o.SASL.Username != "" || o.SASL.Password != "" {
			return bad("SASL.Mechanism", "is empty but a username or password is set")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if o.SASL.Username == "" {
			return bad("SASL.Username", "must not be empty with mechanism %s", o.SASL.Mechanism)
		}
		if o.SASL.Password == "" {
			return bad("SASL.Password", "must not be empty with mechanism %s", o.SASL.Mechanism)
		}
	default:
		return bad("SASL.Mechanism", "%q is not one of %s, %s, %s", o.SASL.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if o.DLQTopic != "" {
		if err := validTopic(o.DLQTopic); err != nil {
			return bad("DLQTopic", "%v", err)
		}
		if slices.Contains(o.Topics, o.DLQTopic) {
			return bad("DLQTopic", "%q is also a consumed topic", o.DLQTopic)
		}
	}
	ints := []struct {
		name     string
		v        int
		min, max int
	}{
		{"DLQMaxPending", o.DLQMaxPending, 1, 1_000_000},
		{"DLQMaxValueBytes", o.DLQMaxValueBytes, 1 << 10, 64 << 20},
		{"FetchMaxBytes", o.FetchMaxBytes, 1 << 10, 1 << 30},
	}
	for _, r := range ints {
		if r.v < r.min || r.v > r.max {
			return bad(r.name, "%d out of range [%d, %d]", r.v, r.min, r.max)
		}
	}
	if o.FetchMaxBytes < o.Decoder.MaxMessageBytes {
		return bad("FetchMaxBytes", "%d is below Decoder.MaxMessageBytes (%d)", o.FetchMaxBytes, o.Decoder.MaxMessageBytes)
	}
	durs := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"CheckpointInterval", o.CheckpointInterval, 10 * time.Millisecond, 24 * time.Hour},
		{"FetchMaxWait", o.FetchMaxWait, time.Millisecond, time.Minute},
		{"DialTimeout", o.DialTimeout, 10 * time.Millisecond, 5 * time.Minute},
		{"RequestTimeout", o.RequestTimeout, 10 * time.Millisecond, 5 * time.Minute},
		{"SessionTimeout", o.SessionTimeout, time.Second, time.Hour},
		{"RebalanceTimeout", o.RebalanceTimeout, time.Second, time.Hour},
		{"HeartbeatInterval", o.HeartbeatInterval, 10 * time.Millisecond, time.Hour},
		{"RetryBackoff", o.RetryBackoff, 10 * time.Millisecond, 10 * time.Minute},
		{"ShutdownTimeout", o.ShutdownTimeout, 100 * time.Millisecond, time.Hour},
		{"TopicCheckInterval", o.TopicCheckInterval, 10 * time.Millisecond, time.Hour},
	}
	for _, r := range durs {
		if r.v < r.min || r.v > r.max {
			return bad(r.name, "%v out of range [%v, %v]", r.v, r.min, r.max)
		}
	}
	if o.HeartbeatInterval >= o.SessionTimeout {
		return bad("HeartbeatInterval", "%v is not below SessionTimeout (%v)", o.HeartbeatInterval, o.SessionTimeout)
	}
	return nil
}

// ErrUncleanShutdown is wrapped by the error Run returns when its drain
// left work undone within Options.ShutdownTimeout: dead letters not
// written, state not checkpointed, offsets not committed, partitions or the
// group not left in time. The error counts each. Nothing is lost with it:
// what was not checkpointed is re-read at the next start, and an offset is
// never committed past a checkpoint or an unwritten dead letter.
var ErrUncleanShutdown = errors.New("stream: shutdown not clean")

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Consumer runs a Kafka consumer group over Options.Topics and feeds each
// assigned partition to its PartitionProcessor from a goroutine of its own,
// following the contract of processor.go: fetch, drop what the checkpoint
// already holds, decode, apply or dead-letter and skip; every
// CheckpointInterval, when the partition is revoked and at Stop, write the
// dead letters, checkpoint, and only then commit the offset after the
// checkpoint's.
//
// Transient Kafka errors never end Run: the group re-joins and fetches
// reconnect with backoff, counted in kafka_reconnects_total and shown by
// Ready.
type Consumer struct {
	opts      Options
	proc      Processor
	m         *metrics
	log       *slog.Logger
	dialer    *kafka.Dialer
	transport *kafka.Transport
	dlq       *dlqWriter

	started  atomic.Bool
	stopOnce sync.Once
	// stopCtx ends at Stop: fetching stops. finishCtx ends nine tenths of
	// ShutdownTimeout later: the partitions' last dead-letter writes,
	// checkpoints and commits give up. drainCtx ends at ShutdownTimeout:
	// whatever still drains (leaving the group) is abandoned, and Run
	// returns.
	stopCtx      context.Context
	stopCancel   context.CancelFunc
	finishCtx    context.Context
	finishCancel context.CancelFunc
	drainCtx     context.Context
	drainCancel  context.CancelFunc

	partitions sync.WaitGroup // partitions not yet finished
	draining   atomic.Int64   // the same, counted

	// left is what the partitions finished at Stop left undone.
	leftMu sync.Mutex
	left   drainLeft

	generations atomic.Int64 // generations joined
	groupUp     atomic.Bool  // the last attempt to join the group succeeded
	degraded    atomic.Int64 // partitions whose fetch, dead letters, checkpoint or commit fail
	// failing counts the partitions failing each way (by health flag), and
	// lastFailure holds the last error of each, for the readiness reason.
	failing     [numBadFlags]atomic.Int64
	failMu      sync.Mutex
	lastFailure [numBadFlags]error
	joinErr     error // the last failed join, under failMu

	topics topicState

	errMu sync.Mutex
	err   error // the first fatal error

	lagMu sync.Mutex
	lag   map[TopicPartition]*atomic.Int64

	// commitFilter, when set by tests, decides whether an offset commit is
	// sent: false simulates a crash between checkpoint and commit.
	commitFilter func(topic string, partition int, offset int64) bool
}

// NewConsumer returns a Consumer of opts feeding proc, with its metrics
// registered with reg unless it is nil. reg must not already hold another
// Consumer's metrics.
func NewConsumer(opts Options, proc Processor, reg prometheus.Registerer) (*Consumer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if proc == nil {
		return nil, errors.New("stream: NewConsumer needs a Processor")
	}
	opts = opts.withDefaults()
	mech, err := SASLMechanism(opts.SASL)
	if err != nil {
		return nil, err
	}
	// Surface what kafka-go would reject before any goroutine starts:
	// NewReader panics on an invalid config.
	rc := kafka.ReaderConfig{Brokers: opts.Brokers, Topic: opts.Topics[0], MaxBytes: opts.FetchMaxBytes}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("stream: consumer options: %w", err)
	}
	c := &Consumer{
		opts: opts,
		proc: proc,
		m:    newMetrics(reg, opts.MetricsSubsystem),
		log:  opts.Logger.With("component", "consumer", "group", opts.GroupID),
		dialer: &kafka.Dialer{
			ClientID:      "normwatch",
			Timeout:       opts.DialTimeout,
			DialFunc:      dialBuffered,
			TLS:           opts.TLS,
			SASLMechanism: mech,
		},
		transport: &kafka.Transport{
			ClientID:    "normwatch",
			DialTimeout: opts.DialTimeout,
			TLS:         opts.TLS,
			SASL:        mech,
		},
		lag: map[TopicPartition]*atomic.Int64{},
	}
	c.topics.missing = map[string]bool{}
	for _, t := range opts.Topics {
		c.m.topicMissing.WithLabelValues(t)
	}
	c.dlq = newDLQWriter(opts, c.transport, c.m, c.log)
	c.stopCtx, c.stopCancel = context.WithCancel(context.Background())
	c.finishCtx, c.finishCancel = context.WithCancel(context.Background())
	c.drainCtx, c.drainCancel = context.WithCancel(context.Background())
	return c, nil
}

// SASLMechanism returns kafka-go's mechanism for o, nil when o.Mechanism is
// empty: the one place every Kafka client of normwatch gets it from.
func SASLMechanism(o SASLOptions) (sasl.Mechanism, error) {
	switch o.Mechanism {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: o.Username, Password: o.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if o.Mechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, o.Username, o.Password)
		if err != nil {
			return nil, fmt.Errorf("stream: SASL: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("stream: SASL mechanism %q is not supported", o.Mechanism)
}

// Run consumes until Stop is called or ctx ends, then drains: every
// partition finishes the message in hand, writes its dead letters,
// checkpoints and commits, and the consumer leaves the group, within
// Options.ShutdownTimeout whatever the brokers do. It returns nil after a
// clean drain; an error wrapping ErrUncleanShutdown, counting what was
// left undone, when the drain ran out of time or failed; another error when
// a partition could not be opened (a corrupt checkpoint, say). Run may be
// called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("stream: Consumer.Run called twice")
	}
	defer context.AfterFunc(ctx, c.Stop)()

	var cg *kafka.ConsumerGroup
	for {
		topics := c.waitForTopics()
		if topics == nil {
			break // stopping
		}
		var err error
		if cg, err = c.runGroup(topics); err != nil {
			c.Stop()
			return err
		}
		if cg != nil {
			break // stopping: drain below
		}
	}
	// Draining: the partitions checkpoint and commit while the generation
	// still stands, then holding it, so that leaving the group comes last.
	// (No group when the consumer stopped while no topic existed.) Each
	// step is bounded: a broker that accepts and never answers costs
	// ShutdownTimeout, no more.
	var undone []string
	if cg != nil {
		finished := make(chan struct{})
		go func() { c.partitions.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-c.drainCtx.Done():
			// Every partition was told to give up a tenth of
			// ShutdownTimeout ago (finishCtx). On a loaded machine the two
			// timers can fire together and a partition's account of what
			// it left undone arrive just after this: a short grace lets
			// the summary count its letters and messages.
			c.finishCancel()
			grace := time.NewTimer(min(c.opts.ShutdownTimeout/20, 250*time.Millisecond))
			select {
			case <-finished:
			case <-grace.C:
				undone = append(undone, fmt.Sprintf("%d partitions still draining at the deadline (their state since their last checkpoint is re-read at the next start)", c.draining.Load()))
			}
			grace.Stop()
		}
		closed := make(chan struct{})
		go func() { _ = cg.Close(); close(closed) }()
		select {
		case <-closed:
		case <-c.drainCtx.Done():
			undone = append(undone, "the group not left (its partitions move after kafka.session_timeout)")
		}
	}
	if !c.dlq.close(c.drainCtx) {
		undone = append(undone, "the dead-letter writer not closed")
	}
	c.drainCancel()
	c.leftMu.Lock()
	undone = append(c.left.strings(), undone...)
	left := c.left
	c.leftMu.Unlock()
	var errs []error
	c.errMu.Lock()
	if c.err != nil {
		errs = append(errs, c.err)
	}
	c.errMu.Unlock()
	if len(undone) > 0 {
		c.log.Error("consumer stopped; shutdown not clean", "dead_letters_unwritten", left.letters,
			"messages_not_checkpointed", left.unsaved, "partitions_not_committed", left.uncommitted,
			"shutdown_timeout", c.opts.ShutdownTimeout, "left", strings.Join(undone, "; "))
		errs = append(errs, fmt.Errorf("%w: %s", ErrUncleanShutdown, strings.Join(undone, "; ")))
	} else {
		c.log.Info("consumer stopped")
	}
	return errors.Join(errs...)
}

// runGroup consumes topics, those of Options.Topics that exist, in one
// consumer group until the consumer stops, returning the group to drain,
// or until the set of topics that exist changes, returning nil after
// leaving the group as a rebalance would (every partition synced and
// released first).
func (c *Consumer) runGroup(topics []string) (*kafka.ConsumerGroup, error) {
	cfg := c.groupConfig()
	cfg.Topics = topics
	cg, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating consumer group: %w", err)
	}
	ctx, changed := context.WithCancel(c.stopCtx)
	defer changed()
	check := make(chan struct{}, 1)
	watched := make(chan struct{})
	go func() { defer close(watched); c.watchTopics(ctx, topics, check, changed) }()
	c.log.Info("joining consumer group", "brokers", c.opts.Brokers, "topics", topics)
	for ctx.Err() == nil {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			// kafka-go backs off RetryBackoff before the next attempt,
			// except on RebalanceInProgress, which the broker paces.
			c.groupUp.Store(false)
			c.failMu.Lock()
			c.joinErr = err
			c.failMu.Unlock()
			c.m.reconnects.Inc()
			c.log.Warn("consumer group join failed; retrying", "err", err)
			continue
		}
		c.groupUp.Store(true)
		c.generations.Add(1)
		// A topic deleted under a generation ends it at once, and every
		// next one: check the topics at each, so that at most one
		// generation goes by before the group re-joins without it.
		select {
		case check <- struct{}{}:
		default:
		}
		c.log.Info("joined consumer group generation", "generation", gen.ID, "member", gen.MemberID, "assignments", assignmentsString(gen.Assignments))
		for topic, as := range gen.Assignments {
			for _, a := range as {
				c.partitions.Add(1)
				c.draining.Add(1)
				gen.Start(func(gctx context.Context) { c.runPartition(gctx, gen, topic, a) })
			}
		}
	}
	changed()
	<-watched
	if c.stopCtx.Err() != nil {
		return cg, nil
	}
	// The topics changed: closing the group ends the generation, whose
	// partitions sync and release as in a rebalance, then leaves.
	if err := cg.Close(); err != nil {
		c.log.Debug("leaving the consumer group", "err", err)
	}
	c.partitions.Wait()
	c.generations.Store(0)
	return nil, nil
}

// drainLeft is what the partitions finished at Stop left undone.
type drainLeft struct {
	letters     int   // dead letters not written
	unsaved     int64 // messages handled since the last checkpoint that was saved
	uncommitted int   // partitions whose checkpoint is ahead of the group's offset
}

func (l drainLeft) strings() []string {
	var out []string
	if l.letters > 0 {
		out = append(out, fmt.Sprintf("%d dead letters not written (their messages are re-read and dead-lettered again at the next start)", l.letters))
	}
	if l.unsaved > 0 {
		out = append(out, fmt.Sprintf("%d messages not checkpointed (re-read at the next start)", l.unsaved))
	}
	if l.uncommitted > 0 {
		out = append(out, fmt.Sprintf("%d partitions' offsets not committed (the checkpoints hold them; a process without them re-reads from the group's offset)", l.uncommitted))
	}
	return out
}

// Stop makes Run stop fetching and drain. It returns at once and is safe to
// call more than once and before Run.
func (c *Consumer) Stop() {
	c.stopOnce.Do(func() {
		time.AfterFunc(c.opts.ShutdownTimeout*9/10, c.finishCancel)
		time.AfterFunc(c.opts.ShutdownTimeout, c.drainCancel)
		c.stopCancel()
	})
}

// Ready reports whether the consumer is consuming: every topic exists, it
// has joined a group generation, its last join succeeded, and no partition
// is failing to fetch, write dead letters, checkpoint or commit.
func (c *Consumer) Ready() bool {
	return c.NotReady() == nil
}

// NotReady returns why the consumer is not ready, naming the real cause
// (a missing topic, failing checkpoints, ...), or nil when it is.
func (c *Consumer) NotReady() error {
	switch {
	case !c.started.Load():
		return errors.New("not started")
	case c.stopCtx.Err() != nil:
		return errors.New("stopping")
	}
	if err := c.topicsProblem(); err != nil {
		return err
	}
	c.failMu.Lock()
	joinErr := c.joinErr
	c.failMu.Unlock()
	switch {
	case !c.groupUp.Load() && joinErr != nil:
		return fmt.Errorf("joining the consumer group failed (retrying): %w", joinErr)
	case c.generations.Load() == 0 || !c.groupUp.Load():
		return errors.New("joining the consumer group")
	case c.degraded.Load() == 0:
		return nil
	}
	var errs []error
	for i, what := range badFlagNames {
		if n := c.failing[i].Load(); n > 0 {
			c.failMu.Lock()
			last := c.lastFailure[i]
			c.failMu.Unlock()
			msg := fmt.Sprintf("%s failing on %d partition(s)", what, n)
			if last != nil {
				msg += ": " + last.Error()
			}
			errs = append(errs, errors.New(msg))
		}
	}
	if len(errs) == 0 {
		return errors.New("a partition is failing")
	}
	return errors.Join(errs...)
}

// noteFailure keeps err as the last failure of a health flag, for
// NotReady.
func (c *Consumer) noteFailure(flag uint8, err error) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	for i := range numBadFlags {
		if flag == 1<<i {
			c.lastFailure[i] = err
		}
	}
}

// Lag returns, per assigned partition, the messages not yet consumed: the
// high watermark minus the next offset, as of the last message fetched.
func (c *Consumer) Lag() map[TopicPartition]int64 {
	c.lagMu.Lock()
	defer c.lagMu.Unlock()
	out := make(map[TopicPartition]int64, len(c.lag))
	for tp, v := range c.lag {
		out[tp] = v.Load()
	}
	return out
}

// fail records a fatal error and stops the consumer.
func (c *Consumer) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.log.Error("consumer stopping on error", "err", err)
	c.Stop()
}

func (c *Consumer) groupConfig() kafka.ConsumerGroupConfig {
	start := kafka.FirstOffset
	if c.opts.StartOffset == StartLatest {
		start = kafka.LastOffset
	}
	return kafka.ConsumerGroupConfig{
		ID:                    c.opts.GroupID,
		Brokers:               c.opts.Brokers,
		Dialer:                c.dialer,
		Topics:                c.opts.Topics,
		HeartbeatInterval:     c.opts.HeartbeatInterval,
		SessionTimeout:        c.opts.SessionTimeout,
		RebalanceTimeout:      c.opts.RebalanceTimeout,
		JoinGroupBackoff:      c.opts.RetryBackoff,
		WatchPartitionChanges: true,
		StartOffset:           start,
		Timeout:               c.opts.RequestTimeout,
		ErrorLogger:           kafkaLogger(c.log),
	}
}

// kafkaLogger passes kafka-go's error logs on at debug level: the errors
// that matter reach the consumer and are logged there.
func kafkaLogger(l *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug(fmt.Sprintf(format, args...), "source", "kafka-go")
		}
	})
}

func assignmentsString(as map[string][]kafka.PartitionAssignment) string {
	s := ""
	for t, ps := range as {
		for _, p := range ps {
			if s != "" {
				s += " "
			}
			s += t + "/" + strconv.Itoa(p.ID)
		}
	}
	return s
}

// Partition health flags; a partition with any set counts as degraded.
const (
	badFetch uint8 = 1 << iota
	badDLQ
	badCheckpoint
	badCommit
	numBadFlags = iota
)

// badFlagNames say what fails, per health flag, in readiness reasons.
var badFlagNames = [numBadFlags]string{"fetches", "dead-letter writes", "checkpoints", "offset commits"}

// partition is the consumer's side of one assigned partition, owned by
// one goroutine for one generation.
type partition struct {
	c     *Consumer
	gen   *kafka.Generation
	topic string
	id    int
	log   *slog.Logger

	p   PartitionProcessor
	f   *fetcher
	dec *Decoder
	ev  Event
	dlq dlqBatch

	ckptOff   int64 // the last offset the last checkpoint covers
	committed int64 // the offset last committed to the group, -1 if unknown
	pending   int64 // messages handled since the last checkpoint

	lag      *atomic.Int64
	lagGauge prometheus.Gauge
	dialed   bool
	bad      uint8
	// fetchWarned is when a failing fetch was last logged at WARN.
	fetchWarned time.Time
}

// fetchWarnEvery is how often a partition whose fetches keep failing says
// so at WARN.
const fetchWarnEvery = 30 * time.Second

// runPartition is one partition's life in one generation. On Stop it holds
// the generation after draining, so that the group is left only after every
// partition committed.
func (c *Consumer) runPartition(gctx context.Context, gen *kafka.Generation, topic string, a kafka.PartitionAssignment) {
	done := func() {
		c.draining.Add(-1)
		c.partitions.Done()
	}
	if c.stopCtx.Err() != nil || gctx.Err() != nil {
		done()
		<-gctx.Done()
		return
	}
	ps, err := c.openPartition(gen, topic, a)
	if err != nil {
		c.fail(err)
		done()
		return
	}
	ps.consume(gctx)
	ps.finish()
	done()
	if c.stopCtx.Err() != nil {
		<-gctx.Done()
	}
}

func (c *Consumer) openPartition(gen *kafka.Generation, topic string, a kafka.PartitionAssignment) (*partition, error) {
	if c.opts.Claimer != nil {
		c.opts.Claimer.Claim(topic, a.ID, Owner{Generation: gen.ID, MemberID: gen.MemberID})
	}
	p, err := c.proc.OpenPartition(topic, a.ID)
	if err != nil {
		return nil, fmt.Errorf("opening partition %s/%d: %w", topic, a.ID, err)
	}
	dec, err := NewDecoder(c.opts.Decoder)
	if err != nil { // validated in NewConsumer
		_ = p.Close()
		return nil, err
	}
	ps := &partition{
		c: c, gen: gen, topic: topic, id: a.ID, p: p, dec: dec,
		log:       c.log.With("topic", topic, "partition", a.ID),
		ckptOff:   p.Offset(),
		committed: -1,
		lag:       new(atomic.Int64),
		lagGauge:  c.m.consumerLag.WithLabelValues(topic, strconv.Itoa(a.ID)),
	}
	if a.Offset >= 0 {
		ps.committed = a.Offset
	}
	// The checkpoint is the state: start right after it, even behind the
	// group's commit (the checkpoint fell back to the previous file) or
	// with no commit at all (a crash before the first one).
	start := a.Offset
	if off := p.Offset(); off >= 0 {
		start = off + 1
	}
	ps.f = &fetcher{c: c, topic: topic, partition: a.ID, offset: start}
	c.lagMu.Lock()
	c.lag[TopicPartition{topic, a.ID}] = ps.lag
	c.lagMu.Unlock()
	ps.log.Info("partition assigned", "committed", a.Offset, "checkpoint", ps.ckptOff, "start", start)
	return ps, nil
}

// consume fetches and handles messages until the generation ends or the
// consumer stops, syncing every CheckpointInterval.
func (ps *partition) consume(gctx context.Context) {
	c := ps.c
	fetchCtx, cancel := context.WithCancel(gctx)
	defer cancel()
	defer context.AfterFunc(c.stopCtx, cancel)()
	ps.f.ctx = fetchCtx

	// One deadline context per interval, not per message; each ends with
	// fetchCtx at the latest.
	interval := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(fetchCtx, c.opts.CheckpointInterval)
	}
	tick, tickCancel := interval()
	defer func() { tickCancel() }()
	backoff := c.opts.RetryBackoff / 10
	for {
		m, err := ps.f.next()
		if r := ps.f.reset; r != nil {
			ps.f.reset = nil
			ps.resetOffset(*r)
		}
		switch {
		case fetchCtx.Err() != nil:
			return
		case err == nil:
			ps.setBad(badFetch, false)
			backoff = c.opts.RetryBackoff / 10
			ps.handle(&m)
			if len(ps.dlq.msgs) >= c.opts.DLQMaxPending {
				if err := c.dlq.flush(fetchCtx, &ps.dlq, func(b bool) { ps.setBad(badDLQ, b) }); err != nil {
					return // the generation ended or the consumer stopped
				}
			}
		case errors.Is(err, errBatchDone):
			// A fetch came back empty: the leader answers.
			ps.setBad(badFetch, false)
			backoff = c.opts.RetryBackoff / 10
		case ps.f.fails < fetchAttempts:
			// The fetcher dials again at the next call, counted in
			// pollStats; a failure or two in a row are not yet news.
			ps.log.Debug("fetch failed; reconnecting", "err", err, "backoff", backoff)
			if !sleepCtx(fetchCtx, backoff) {
				return
			}
			backoff = min(2*backoff, c.opts.RetryBackoff)
		default:
			c.noteFailure(badFetch, err)
			ps.setBad(badFetch, true)
			// Said when it becomes news, then every fetchWarnEvery while
			// it lasts (a broker down is not a WARN a second per
			// partition); /readyz says it all along.
			if ps.f.fails == fetchAttempts || time.Since(ps.fetchWarned) >= fetchWarnEvery {
				ps.log.Warn("fetch failed; reconnecting", "err", err, "backoff", backoff, "failures_in_a_row", ps.f.fails)
				ps.fetchWarned = time.Now()
			} else {
				ps.log.Debug("fetch failed; reconnecting", "err", err, "backoff", backoff, "failures_in_a_row", ps.f.fails)
			}
			if !sleepCtx(fetchCtx, backoff) {
				return
			}
			backoff = min(2*backoff, c.opts.RetryBackoff)
		}
		if tick.Err() != nil {
			_ = ps.sync(fetchCtx)
			tickCancel()
			tick, tickCancel = interval()
		}
	}
}

// resetOffset follows the fetcher's move from an offset past the end of
// the log: the processor is rewound to just before the new start, so
// that its messages are not taken for redeliveries, and the group's
// commit, of the log that is gone, no longer holds back the next one.
// The state the checkpoint holds stays: its windows are of events that
// were consumed.
func (ps *partition) resetOffset(r offsetReset) {
	ps.log.Warn("offset past the end of the partition's log (the topic was created again, or the broker lost its data): consuming from kafka.start_offset, as a new group would",
		"offset", r.from, "log_first", r.first, "log_end", r.last, "start_offset", ps.c.opts.StartOffset, "resumed_at", r.to)
	ps.p.Skip(r.to - 1)
	ps.committed = -1
}

// handle applies or dead-letters one message.
func (ps *partition) handle(m *kafka.Message) {
	ps.lag.Store(m.HighWaterMark - m.Offset - 1)
	ps.lagGauge.Set(float64(m.HighWaterMark - m.Offset - 1))
	if m.Offset <= ps.p.Offset() {
		ps.c.m.redeliveriesSkipped.Inc()
		return
	}
	ps.pending++
	if raw, ok := ps.p.(RawPartitionProcessor); ok {
		if err := raw.ApplyRaw(m.Offset, m.Key, m.Value); err != nil {
			ps.c.m.decodeErrors.WithLabelValues(string(ReasonBadPartial)).Inc()
			ps.c.dlq.add(&ps.dlq, m, &DecodeError{Reason: ReasonBadPartial, Err: err})
			ps.log.Warn("partial record that does not decode skipped", "offset", m.Offset, "err", err)
			ps.p.Skip(m.Offset)
		}
		return
	}
	if err := ps.decode(m); err != nil {
		r := ReasonOf(err)
		if r == "" {
			r = ReasonMalformedJSON
		}
		ps.c.m.decodeErrors.WithLabelValues(string(r)).Inc()
		ps.c.dlq.add(&ps.dlq, m, err)
		if !ps.c.dlq.enabled() {
			ps.log.Debug("undecodable message skipped", "offset", m.Offset, "reason", r, "err", err)
		}
		ps.p.Skip(m.Offset)
		return
	}
	if fb := ps.ev.TimeFallback; fb != TimeFallbackNone {
		ps.c.m.timeFallbacks.WithLabelValues(string(fb)).Inc()
	}
	if err := ps.apply(m); err != nil {
		// The letter keeps the message for whoever fixes the bug.
		ps.c.m.decodeErrors.WithLabelValues(string(ReasonInternalError)).Inc()
		ps.c.dlq.add(&ps.dlq, m, &DecodeError{Reason: ReasonInternalError, Err: err})
		ps.p.Skip(m.Offset)
	}
}

// The poison-pill guard: a panic while one message is decoded or applied
// (a bug of ours) is recovered in the partition's goroutine, logged with
// its stack and returned as an error, and the message is dead-lettered
// with reason internal_error. One message can never stop a partition nor,
// after a restart, stop it again.

// decode decodes m into ps.ev, under the guard.
func (ps *partition) decode(m *kafka.Message) (err error) {
	defer ps.guard(m, "decoding", &err)
	return ps.dec.DecodeMessage(m, &ps.ev)
}

// apply applies ps.ev, under the guard.
func (ps *partition) apply(m *kafka.Message) (err error) {
	defer ps.guard(m, "applying", &err)
	return ps.p.Apply(m.Offset, &ps.ev)
}

func (ps *partition) guard(m *kafka.Message, what string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	ps.log.Error("internal error "+what+" a message; it goes to the dead-letter topic; please report it",
		"offset", m.Offset, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	ps.ev = Event{}
	*err = &DecodeError{Reason: ReasonInternalError, Err: fmt.Errorf("panic %s the message: %v", what, r)}
}

// sync writes the dead letters, checkpoints if anything moved since the
// last checkpoint, and commits the offset after the checkpoint's. The
// letters go first: a checkpoint that covers a skipped message must not
// outlive a crash that lost its letter.
func (ps *partition) sync(ctx context.Context) error {
	c := ps.c
	defer ps.pollStats()
	if ps.p.Offset() != ps.ckptOff {
		if err := c.dlq.flush(ctx, &ps.dlq, func(b bool) { ps.setBad(badDLQ, b) }); err != nil {
			return err
		}
		off, err := ps.p.Checkpoint()
		if err != nil {
			c.m.checkpoints.WithLabelValues(resultError).Inc()
			c.noteFailure(badCheckpoint, err)
			ps.setBad(badCheckpoint, true)
			if errors.Is(err, ErrFenced) {
				// A zombie's (paused past its session timeout): expected,
				// and the partition leaves it at the rebalance it learns of.
				ps.log.Warn("checkpoint fenced: a newer owner holds the partition; offsets stay uncommitted", "err", err)
			} else {
				ps.log.Error("checkpoint failed; offsets stay uncommitted", "err", err)
			}
			return fmt.Errorf("checkpointing %s/%d: %w", ps.topic, ps.id, err)
		}
		c.m.checkpoints.WithLabelValues(resultOK).Inc()
		ps.setBad(badCheckpoint, false)
		ps.ckptOff = off
		ps.pending = 0
		if c.opts.AfterCheckpoint != nil {
			c.opts.AfterCheckpoint(ps.topic, ps.id, off)
		}
	}
	if ps.ckptOff < 0 || ps.ckptOff+1 <= ps.committed {
		return nil
	}
	next := ps.ckptOff + 1
	if c.commitFilter != nil && !c.commitFilter(ps.topic, ps.id, next) {
		return nil
	}
	if err := ps.commit(ctx, next); err != nil {
		c.m.offsetCommits.WithLabelValues(resultError).Inc()
		c.noteFailure(badCommit, err)
		ps.setBad(badCommit, true)
		ps.log.Warn("offset commit failed; the checkpoint covers it, a later commit will", "offset", next, "err", err)
		return fmt.Errorf("committing %s/%d at %d: %w", ps.topic, ps.id, next, err)
	}
	c.m.offsetCommits.WithLabelValues(resultOK).Inc()
	ps.setBad(badCommit, false)
	ps.committed = next
	return nil
}

// commit commits next as the partition's offset, giving up when ctx ends:
// kafka-go's commit has no context, and a coordinator that accepts and
// never answers would hold it for the request timeout. A commit given up
// on may still land later; it is covered by the checkpoint either way.
func (ps *partition) commit(ctx context.Context, next int64) error {
	done := make(chan error, 1)
	go func() { done <- ps.gen.CommitOffsets(map[string]map[int]int64{ps.topic: {ps.id: next}}) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer from the group coordinator: %w", ctx.Err())
	}
}

// finish stops fetching, syncs a last time and releases the partition.
func (ps *partition) finish() {
	c := ps.c
	stopping := c.stopCtx.Err() != nil
	ctx := c.finishCtx
	if !stopping {
		// A rebalance: the coordinator waits for us up to the rebalance
		// timeout; leave it room to form the next generation.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RebalanceTimeout/2)
		defer cancel()
	}
	// consume ended with its context, which closed the connection.
	ps.f.close()
	if err := ps.sync(ctx); err != nil {
		// After a failed commit the checkpoint still holds the effect:
		// the next owner starts after it. After a failed checkpoint or
		// dead-letter write, it re-reads from the last good checkpoint.
		ps.log.Warn("final sync of the partition failed", "checkpoint", ps.ckptOff, "committed", ps.committed, "err", err)
	}
	if len(ps.dlq.msgs) > 0 {
		ps.log.Warn("dead letters not written; their messages will be re-read", "letters", len(ps.dlq.msgs))
	}
	if stopping {
		ps.tally()
	}
	if err := ps.p.Close(); err != nil {
		ps.log.Error("closing partition processor", "err", err)
	}
	c.m.consumerLag.DeleteLabelValues(ps.topic, strconv.Itoa(ps.id))
	c.lagMu.Lock()
	if c.lag[TopicPartition{ps.topic, ps.id}] == ps.lag {
		delete(c.lag, TopicPartition{ps.topic, ps.id})
	}
	c.lagMu.Unlock()
	if ps.bad != 0 {
		for i := range numBadFlags {
			if ps.bad&(1<<i) != 0 {
				c.failing[i].Add(-1)
			}
		}
		c.degraded.Add(-1)
		ps.bad = 0
	}
	ps.log.Info("partition released", "checkpoint", ps.ckptOff, "committed", ps.committed)
}

// tally adds what the partition leaves undone at Stop to the consumer's
// account, and logs it.
func (ps *partition) tally() {
	var l drainLeft
	l.letters = len(ps.dlq.msgs)
	l.unsaved = ps.pending
	if ps.ckptOff >= 0 && ps.committed < ps.ckptOff+1 {
		l.uncommitted = 1
	}
	if l == (drainLeft{}) {
		return
	}
	ps.log.Warn("partition drained incompletely; what was not checkpointed is re-read at the next start",
		"dead_letters_unwritten", l.letters, "messages_not_checkpointed", l.unsaved,
		"checkpoint", ps.ckptOff, "committed", ps.committed)
	c := ps.c
	c.leftMu.Lock()
	c.left.letters += l.letters
	c.left.unsaved += l.unsaved
	c.left.uncommitted += l.uncommitted
	c.leftMu.Unlock()
}

func (ps *partition) setBad(flag uint8, on bool) {
	was := ps.bad
	if on {
		ps.bad |= flag
	} else {
		ps.bad &^= flag
	}
	for i := range numBadFlags {
		if f := uint8(1) << i; f&flag != 0 && (was&f != 0) != (ps.bad&f != 0) {
			if on {
				ps.c.failing[i].Add(1)
			} else {
				ps.c.failing[i].Add(-1)
			}
		}
	}
	switch {
	case was == 0 && ps.bad != 0:
		ps.c.degraded.Add(1)
	case was != 0 && ps.bad == 0:
		ps.c.degraded.Add(-1)
	}
}

// pollStats adds the reader's reconnects since the last poll: its dials
// after the first.
func (ps *partition) pollStats() {
	dials := ps.f.dials
	ps.f.dials = 0
	if !ps.dialed && dials > 0 {
		ps.dialed = true
		dials--
	}
	if dials > 0 {
		ps.c.m.reconnects.Add(float64(dials))
	}
}
