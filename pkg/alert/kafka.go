package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Producer writes one message to the alert topic. cmd/monitor fills it
// with a kafka-go Writer; this package does no Kafka I/O of its own.
type Producer interface {
	Produce(ctx context.Context, key, value []byte) error
}

// KafkaOptions configures the alert-topic sink.
type KafkaOptions struct {
	Producer Producer
	// QueueCapacity bounds the changes queued; beyond it the oldest are
	// dropped and counted. Default 10000.
	QueueCapacity int
	// Timeout bounds one Produce. Default 10 seconds.
	Timeout time.Duration
	// FlushTimeout bounds the last attempts at the queue once Run is
	// told to stop: the part of the daemon's shutdown deadline the sink
	// may take. What is still queued then is logged and Run's error
	// counts it. Default Timeout.
	FlushTimeout time.Duration
	// MaxBackoff caps the wait between attempts after a failed Produce.
	// Default 30 seconds.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Registerer takes the sink metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// KafkaSinkName is the sink label of the alert-topic sink's metrics.
const KafkaSinkName = "kafka"

// KafkaMessage is the JSON value of one state change on the alert topic;
// its key is the alert's fingerprint.
type KafkaMessage struct {
	Fingerprint string              `json:"fingerprint"`
	Labels      Labels              `json:"labels"`
	Annotations map[string]string   `json:"annotations"`
	Values      map[string]*float64 `json:"values"` // null: not finite
	// State is pending, firing, resolved (from firing) or inactive (a
	// pending alert that cleared); From is the state before.
	State      string     `json:"state"`
	From       string     `json:"from"`
	ActiveAt   *time.Time `json:"active_at,omitempty"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// NewKafkaMessage is the message of one change.
func NewKafkaMessage(c Change) KafkaMessage {
	a := c.Alert
	state := c.To.String()
	if c.From == Firing && c.To == Inactive {
		state = "resolved"
	}
	values := make(map[string]*float64, len(a.Values))
	for k, v := range a.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			values[k] = nil
			continue
		}
		values[k] = &v
	}
	ptr := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	return KafkaMessage{
		Fingerprint: a.Fingerprint(), Labels: a.Labels, Annotations: a.Annotations, Values: values,
		State: state, From: c.From.String(),
		ActiveAt: ptr(a.ActiveAt), FiredAt: ptr(a.FiredAt), ResolvedAt: ptr(a.ResolvedAt),
	}
}

// Kafka is the alert-topic sink: every state change, pending included,
// as JSON keyed by the alert's fingerprint, so a compacted topic keeps
// each alert's last state.
type Kafka struct {
	opts KafkaOptions
	m    *sinkMetrics
	q    *queue[kafkaRecord]

	stopOnce sync.Once
	stop     chan struct{}
}

type kafkaRecord struct{ key, value []byte }

// NewKafka returns the sink, with its metrics created at zero.
func NewKafka(opts KafkaOptions) (*Kafka, error) {
	if opts.Producer == nil {
		return nil, errors.New("alert: Kafka sink needs a Producer")
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = opts.Timeout
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(opts.Registerer).forSink(KafkaSinkName)
	return &Kafka{opts: opts, m: m, q: newQueue[kafkaRecord](opts.QueueCapacity, m), stop: make(chan struct{})}, nil
}

// Notify queues each change.
func (k *Kafka) Notify(changes []Change) {
	recs := make([]kafkaRecord, 0, len(changes))
	for _, c := range changes {
		v, err := json.Marshal(NewKafkaMessage(c))
		if err != nil { // not with finite values and string maps
			k.opts.Logger.Error("encoding an alert for the alert topic", "err", err)
			continue
		}
		recs = append(recs, kafkaRecord{key: []byte(c.Alert.Fingerprint()), value: v})
	}
	k.q.push(recs...)
}

// Run produces queued changes in order until ctx ends or Stop is called,
// then keeps trying what is queued for up to FlushTimeout. A failed
// Produce is retried, with backoff, before anything after it. Run returns
// an error counting the changes left unwritten, nil when none are.
func (k *Kafka) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return deliver(ctx, k.q.wake, k.drain, k.flush, 500*time.Millisecond, k.opts.MaxBackoff)
}

// Stop ends Run. It returns at once and is safe to call more than once.
func (k *Kafka) Stop() {
	k.stopOnce.Do(func() { close(k.stop) })
}

func (k *Kafka) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.FlushTimeout)
	defer cancel()
	if n := lastDrain(ctx, k.drain, k.q.len, 100*time.Millisecond); n > 0 {
		k.opts.Logger.Error("alert changes not written to the alert topic at shutdown", "alerts", n, "flush_timeout", k.opts.FlushTimeout)
		return fmt.Errorf("alert: %d alert changes not written to the alert topic within %v at shutdown", n, k.opts.FlushTimeout)
	}
	return nil
}

// drain produces until the queue is empty (true) or a Produce fails
// (false; the record goes back to the front).
func (k *Kafka) drain(ctx context.Context) bool {
	for {
		recs := k.q.pop(1)
		if len(recs) == 0 {
			return true
		}
		pctx, cancel := context.WithTimeout(ctx, k.opts.Timeout)
		err := k.opts.Producer.Produce(pctx, recs[0].key, recs[0].value)
		cancel()
		if err != nil {
			k.m.sent[ResultError].Inc()
			k.opts.Logger.Warn("writing an alert to the alert topic; retrying", "err", err)
			k.q.requeue(recs)
			return false
		}
		k.m.sent[ResultOK].Inc()
	}
}
