package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/stream"
)

// TestDaemonCluster: two `monitor run` daemons in evaluation.mode cluster,
// checkpoints in kafka, on a 4-partition topic: every window of the model
// version is judged once between them (normwatch_evaluations_total summed),
// by the one that owns its partials partition, which alone serves its
// drift figures; the other ingests its partitions and judges nothing.
func TestDaemonCluster(t *testing.T) {
	brokers := testKafka(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic := "events-cluster-" + suffix
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, stream.CreateTopic(ctx, brokers, topic, 4))
	var ds []*daemon
	for range 2 {
		cfg := testConfig(t)
		cfg.Kafka.Embedded = false
		cfg.Kafka.Brokers = brokers
		cfg.Kafka.Topics = []string{topic}
		cfg.Kafka.GroupID = "g-" + suffix
		cfg.Kafka.DLQTopic, cfg.Kafka.AlertTopic = "", ""
		cfg.Kafka.SessionTimeout = 6 * time.Second
		cfg.Checkpoint.Store = "kafka"
		cfg.Checkpoint.Topic = "checkpoints-" + suffix
		cfg.Checkpoint.Interval = time.Second
		cfg.Evaluation.Mode = "cluster"
		cfg.Evaluation.PartialsTopic = "partials-" + suffix
		cfg.Evaluation.PartialsPartitions = 3
		cfg.Window.Size, cfg.Window.AllowedLateness = 10*time.Second, 0
		cfg.Window.HorizonWindows = 2
		cfg.Evaluation.PartialsRetention = time.Hour
		cfg.Window.MinSamples = 10
		cfg.Log.Level = "info"
		d, _, _ := testDaemon(t, cfg)
		ds = append(ds, d)
	}
	settled := func() bool {
		var ingest, stage int
		for _, d := range ds {
			if len(d.consumer.Lag()) == 0 || len(d.stage.Lag()) == 0 {
				return false
			}
			ingest += len(d.consumer.Lag())
			stage += len(d.stage.Lag())
		}
		return ingest == 4 && stage == 3
	}
	require.Eventually(t, settled, 45*time.Second, 50*time.Millisecond, "both groups settled over both daemons")

	// Five windows of 10 s on every partition, then one event per
	// partition well after them, which closes them all.
	const windows = 5
	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int { return ps[m.WriterData.(int)%len(ps)] })}
	defer w.Close()
	var msgs []kafka.Message
	for i := range windows * 40 {
		ts := t0.Add(time.Duration(i) * 10 * time.Second / 40)
		msgs = append(msgs, kafka.Message{WriterData: i % 4, Value: fmt.Appendf(nil,
			`{"ts":%d,"model":"m","model_version":"v1","features":{"x":%d}}`, ts.UnixMilli(), i%17)})
	}
	for p := range 4 {
		msgs = append(msgs, kafka.Message{WriterData: p, Value: fmt.Appendf(nil,
			`{"ts":%d,"model":"m","model_version":"v1","features":{"x":1}}`, t0.Add(time.Duration(windows+2)*10*time.Second).UnixMilli())})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))

	evaluations := func(d *daemon) float64 {
		_, metrics := httpGet(t, "http://"+d.server.Addr()+"/metrics")
		m := regexp.MustCompile(`(?m)^normwatch_evaluations_total (\S+)$`).FindStringSubmatch(metrics)
		require.NotNil(t, m, "normwatch_evaluations_total exported")
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v
	}
	require.Eventually(t, func() bool { return evaluations(ds[0])+evaluations(ds[1]) >= windows }, 45*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // room for a second evaluation, were there one
	require.Equal(t, float64(windows), evaluations(ds[0])+evaluations(ds[1]), "one evaluation per window, cluster-wide")
	judges := 0
	for _, d := range ds {
		_, body := httpGet(t, "http://"+d.server.Addr()+"/api/v1/evaluations")
		var evs []engine.Evaluation
		require.NoError(t, json.Unmarshal([]byte(body), &evs))
		_, metrics := httpGet(t, "http://"+d.server.Addr()+"/metrics")
		if evaluations(d) == 0 {
			require.Empty(t, evs)
			require.NotContains(t, metrics, `normwatch_drift_status{`, "only the stage that judges exports drift figures")
			continue
		}
		judges++
		require.Len(t, evs, 1)
		require.Equal(t, uint64(2*40), evs[0].Events, "the last horizon: 2 windows of every partition")
		require.Contains(t, metrics, `normwatch_drift_status{`)
		require.True(t, strings.Contains(metrics, "normwatch_stage_consumer_lag{"), "the stage's consumer metrics")
	}
	require.Equal(t, 1, judges)
}
