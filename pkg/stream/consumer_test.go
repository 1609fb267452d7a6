package stream

import (
	"context"
	"crypto/tls"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func validOptions() Options {
	return Options{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"events"}, GroupID: "g"}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(o *Options)
		err    string // "" for valid
	}{
		{name: "defaults", modify: func(*Options) {}},
		{name: "full", modify: func(o *Options) {
			o.StartOffset = StartLatest
			o.TLS = &tls.Config{}
			o.SASL = SASLOptions{Mechanism: SASLScramSHA512, Username: "u", Password: "p"}
			o.DLQTopic = "events.dlq"
		}},
		{name: "no brokers", modify: func(o *Options) { o.Brokers = nil }, err: "Brokers"},
		{name: "broker without port", modify: func(o *Options) { o.Brokers = []string{"kafka"} }, err: `Brokers[0]: "kafka"`},
		{name: "no topics", modify: func(o *Options) { o.Topics = nil }, err: "Topics"},
		{name: "bad topic", modify: func(o *Options) { o.Topics = []string{"a/b"} }, err: "Topics[0]"},
		{name: "topic twice", modify: func(o *Options) { o.Topics = []string{"a", "a"} }, err: "Topics[1]"},
		{name: "no group", modify: func(o *Options) { o.GroupID = "" }, err: "GroupID"},
		{name: "start offset", modify: func(o *Options) { o.StartOffset = "newest" }, err: `StartOffset: "newest"`},
		{name: "decoder", modify: func(o *Options) { o.Decoder.MaxDim = -1 }, err: "Decoder: stream: decoder option MaxDim"},
		{name: "sasl mechanism", modify: func(o *Options) { o.SASL = SASLOptions{Mechanism: "gssapi", Username: "u", Password: "p"} }, err: "SASL.Mechanism"},
		{name: "sasl password", modify: func(o *Options) { o.SASL = SASLOptions{Mechanism: SASLPlain, Username: "u"} }, err: "SASL.Password"},
		{name: "sasl user without mechanism", modify: func(o *Options) { o.SASL.Username = "u" }, err: "SASL.Mechanism"},
		{name: "dlq consumed", modify: func(o *Options) { o.DLQTopic = "events" }, err: "DLQTopic"},
		{name: "fetch below message", modify: func(o *Options) { o.FetchMaxBytes = 4096; o.Decoder.MaxMessageBytes = 8192 }, err: "FetchMaxBytes"},
		{name: "interval", modify: func(o *Options) { o.CheckpointInterval = time.Nanosecond }, err: "CheckpointInterval"},
		{name: "heartbeat", modify: func(o *Options) { o.HeartbeatInterval = time.Minute }, err: "HeartbeatInterval"},
		{name: "shutdown", modify: func(o *Options) { o.ShutdownTimeout = -time.Second }, err: "ShutdownTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.modify(&o)
			err := o.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				_, err = NewConsumer(o, &countingProcessor{}, nil)
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "stream: consumer option "+tt.err)
			_, err = NewConsumer(o, &countingProcessor{}, nil)
			require.Error(t, err)
		})
	}
}

func TestMetricsAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := NewConsumer(validOptions(), &countingProcessor{}, reg)
	require.NoError(t, err)
	var want strings.Builder
	want.WriteString("# HELP normwatch_decode_errors_total Messages that could not be decoded, by reason, each sent to the dead-letter topic and skipped; reason internal_error counts messages whose decoding or processing hit an internal error (a bug, never bad input).\n")
	want.WriteString("# TYPE normwatch_decode_errors_total counter\n")
	for _, r := range Reasons() {
		want.WriteString(`normwatch_decode_errors_total{reason="` + string(r) + `"} 0` + "\n")
	}
	want.WriteString(`# HELP normwatch_offset_commits_total Offset commits to the consumer group, by result.
# TYPE normwatch_offset_commits_total counter
normwatch_offset_commits_total{result="error"} 0
normwatch_offset_commits_total{result="ok"} 0
`)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want.String()),
		"normwatch_decode_errors_total", "normwatch_offset_commits_total"))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	// Reasons, time fallbacks, 2 checkpoint and 2 commit results, the
	// three plain counters, a topic_missing series per topic; no lag
	// series before a partition is assigned.
	require.Equal(t, len(Reasons())+len(TimeFallbacks())+2+2+3+len(validOptions().Topics), n)
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestPartitionOffsetGuard feeds a partition whose checkpoint holds offsets
// up to 4 the offsets 0 to 9, as a re-delivery after a crash would.
func TestPartitionOffsetGuard(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := NewConsumer(validOptions(), &countingProcessor{}, reg)
	require.NoError(t, err)
	store, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	require.NoError(t, store.Save("events", 0, []byte(`{"last":4,"applied":5,"offset_sum":10}`)))
	proc := &countingProcessor{store: store}
	pp, err := proc.OpenPartition("events", 0)
	require.NoError(t, err)
	dec, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	ps := &partition{c: c, topic: "events", p: pp, dec: dec, log: c.log,
		lag: new(atomic.Int64), lagGauge: c.m.consumerLag.WithLabelValues("events", "0")}
	for off, v := range goodEvents(0, 10) {
		ps.handle(&kafka.Message{Topic: "events", Offset: int64(off), HighWaterMark: 10, Value: v})
	}
	require.EqualValues(t, 5, proc.handled.Load())
	require.Equal(t, 5.0, testutil.ToFloat64(c.m.redeliveriesSkipped))
	st := pp.(*countingPartition).st
	require.Equal(t, countState{Last: 9, Applied: 10, OffsetSum: 45}, st)
	require.Equal(t, 0.0, testutil.ToFloat64(c.m.consumerLag.WithLabelValues("events", "0")))
}

func TestStopBeforeRun(t *testing.T) {
	c, err := NewConsumer(validOptions(), &countingProcessor{}, nil)
	require.NoError(t, err)
	c.Stop()
	c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Run(ctx))
	require.False(t, c.Ready())
	require.ErrorContains(t, c.Run(ctx), "twice")
}
