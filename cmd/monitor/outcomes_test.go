package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
)

// TestDaemonOutcomes: through the daemon over the embedded broker, a
// version whose pass rate fell and whose context relevance and recall fell
// together against the version first seen before it is named on /metrics
// (outcome_status with its diagnosis, the deltas against previous) and
// pages OutcomeRegression; labels that arrive as outcome-only events count
// no feature as missing; a non-numeric outcome is dead-lettered and
// counted as bad_outcome.
func TestDaemonOutcomes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Window.Size, cfg.Window.AllowedLateness, cfg.Window.HorizonWindows = time.Second, 200*time.Millisecond, 3
	cfg.Window.MinSamples = 50
	cfg.Alerting.ForEvaluations = 1
	cfg.Log.Level = "info"
	cfg.Outcomes = []config.Outcome{
		{Name: "eval_pass", Kind: "rate", MaxDeltaPoints: 2},
		{Name: "context_relevance", Kind: "mean", MaxDeltaPoints: 3, FallsWith: "context_recall"},
		{Name: "context_recall", Kind: "mean", MaxDeltaPoints: 3},
	}
	d, logs, _ := testDaemon(t, cfg)
	w := &kafka.Writer{Addr: kafka.TCP(d.brokers...), Topic: cfg.Kafka.Topics[0], BatchTimeout: time.Millisecond, Balancer: &kafka.Hash{}}
	defer w.Close()
	r := rand.New(rand.NewPCG(17, 2))
	clip := func(x float64) float64 { return min(1, max(0, x)) }
	var msgs []kafka.Message
	add := func(s string) { msgs = append(msgs, kafka.Message{Key: []byte("rag"), Value: []byte(s)}) }
	start := time.Now().Truncate(time.Second)
	for i := range 1200 {
		ts := start.Add(time.Duration(i) * 4 * time.Millisecond)
		for _, v := range []struct {
			version        string
			pass, rel, rec float64
		}{{"v1", 0.9, 0.8, 0.82}, {"v2", 0.78, 0.66, 0.7}} {
			ts = ts.Add(time.Millisecond)
			add(fmt.Sprintf(`{"ts":%d,"model":"rag","model_version":%q,"features":{"x":%g}}`, ts.UnixMilli(), v.version, r.NormFloat64()))
			pass := 0
			if r.Float64() < v.pass {
				pass = 1
			}
			add(fmt.Sprintf(`{"ts":%d,"model":"rag","model_version":%q,"outcomes":{"eval_pass":%d,"context_relevance":%.3f,"context_recall":%.3f}}`,
				ts.UnixMilli(), v.version, pass, clip(v.rel+0.15*r.NormFloat64()), clip(v.rec+0.15*r.NormFloat64())))
		}
	}
	add(`{"model":"rag","model_version":"v2","outcomes":{"eval_pass":"yes"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))

	base := "http://" + d.server.Addr()
	var metrics string
	require.Eventually(t, func() bool {
		_, metrics = httpGet(t, base+"/metrics")
		// The bad message is the last: once it is counted, all was read.
		return strings.Contains(metrics, `normwatch_outcome_status{diagnosis="query_normalization_suspect",model="rag",model_version="v2",outcome="context_recall"} 2`) &&
			strings.Contains(metrics, `normwatch_decode_errors_total{reason="bad_outcome"} 1`)
	}, 30*time.Second, 200*time.Millisecond, logs.String())
	require.Contains(t, metrics, `normwatch_outcome_status{diagnosis="query_normalization_suspect",model="rag",model_version="v2",outcome="context_relevance"} 2`)
	require.Regexp(t, `normwatch_outcome_status\{diagnosis="outcome_regression",model="rag",model_version="v2",outcome="eval_pass"\} [12]`, metrics)
	require.Contains(t, metrics, `normwatch_outcome_reference_mean{against="previous",model="rag",model_version="v2",outcome="eval_pass",ref_version="v1"}`)
	require.Contains(t, metrics, `normwatch_decode_errors_total{reason="bad_outcome"} 1`)
	require.Contains(t, metrics, `normwatch_feature_missing_ratio{feature="x",model="rag",model_version="v1"} 0`)
	require.NotContains(t, metrics, `normwatch_outcome_status{diagnosis="outcome_regression",model="rag",model_version="v1"`)
	require.Eventually(t, func() bool {
		_, alerts := httpGet(t, base+"/api/v1/alerts")
		return strings.Contains(alerts, `"alertname": "OutcomeRegression"`) && strings.Contains(alerts, `"outcome": "context_recall"`) &&
			strings.Contains(alerts, "inspect query-side normalization")
	}, 10*time.Second, 100*time.Millisecond)
	require.NotContains(t, logs.String(), "level=ERROR")
}
