package alert

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// fakeProducer records messages; its first fail calls return an error.
type fakeProducer struct {
	mu   sync.Mutex
	fail int
	keys []string
	msgs []KafkaMessage
}

func (p *fakeProducer) Produce(_ context.Context, key, value []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("broker unavailable")
	}
	var m KafkaMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return err
	}
	p.keys = append(p.keys, string(key))
	p.msgs = append(p.msgs, m)
	return nil
}

func (p *fakeProducer) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

func TestKafkaSink(t *testing.T) {
	prod := &fakeProducer{fail: 2}
	reg := prometheus.NewRegistry()
	k, err := NewKafka(KafkaOptions{Producer: prod, Registerer: reg, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 2, ResolveAfter: 1}, k)
	require.NoError(t, err)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	bad := report(drift.UnscaledInput, drift.Critical)
	bad.Features[0].FitR2 = math.NaN()
	m.Observe("ranker", "v4", bad, at)
	m.Observe("ranker", "v4", bad, at.Add(time.Minute))
	m.Observe("ranker", "v4", report(drift.OK, drift.SeverityOK), at.Add(2*time.Minute))
	run(t, k)

	require.Eventually(t, func() bool { return prod.len() == 3 }, 5*time.Second, 5*time.Millisecond)
	var states []string
	for i, msg := range prod.msgs {
		require.Equal(t, msg.Fingerprint, prod.keys[i], "keyed by fingerprint")
		states = append(states, msg.From+">"+msg.State)
	}
	require.Equal(t, []string{"inactive>pending", "pending>firing", "firing>resolved"}, states, "in order, despite the retries")
	last := prod.msgs[2]
	require.Equal(t, "unscaled_input", last.Labels.Get("diagnosis"))
	require.Contains(t, last.Annotations["summary"], "income on ranker v4")
	require.Nil(t, last.Values["fit_r2"], "NaN is null")
	require.NotNil(t, last.Values["psi"])
	require.Equal(t, at, *last.ActiveAt)
	require.Equal(t, at.Add(time.Minute), *last.FiredAt)
	require.Equal(t, at.Add(2*time.Minute), *last.ResolvedAt)
	require.Nil(t, prod.msgs[0].FiredAt)

	require.Equal(t, 3.0, testutil.ToFloat64(k.m.sent[ResultOK]))
	require.Equal(t, 2.0, testutil.ToFloat64(k.m.sent[ResultError]))
	require.Equal(t, 0.0, testutil.ToFloat64(k.m.queue))
}

func TestKafkaSinkDropsOldest(t *testing.T) {
	prod := &fakeProducer{}
	k, err := NewKafka(KafkaOptions{Producer: prod, QueueCapacity: 2})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, k)
	require.NoError(t, err)
	at := time.Now()
	for i := range 4 { // fire, resolve, fire, resolve before Run
		d := drift.OK
		if i%2 == 0 {
			d = drift.UnscaledInput
		}
		sev := drift.SeverityOK
		if d != drift.OK {
			sev = drift.Critical
		}
		m.Observe("ranker", "v4", report(d, sev), at.Add(time.Duration(i)*time.Minute))
	}
	require.Equal(t, 2.0, testutil.ToFloat64(k.m.dropped))
	run(t, k)
	require.Eventually(t, func() bool { return prod.len() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, "firing", prod.msgs[0].State, "the newest two are kept")
	require.Equal(t, "resolved", prod.msgs[1].State)
}

// hungProducer is a broker that accepts and never answers: Produce blocks
// until its context ends.
type hungProducer struct{ calls atomic.Int64 }

func (p *hungProducer) Produce(ctx context.Context, _, _ []byte) error {
	p.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// A hung alert topic: Run returns within the flush timeout of Stop, not
// after the per-request timeout, with an error counting what was left.
func TestKafkaSinkShutdownBounded(t *testing.T) {
	prod := &hungProducer{}
	k, err := NewKafka(KafkaOptions{Producer: prod, Timeout: time.Minute, FlushTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, k)
	require.NoError(t, err)
	firingChange(t, m, time.Now())
	done := make(chan error, 1)
	go func() { done <- k.Run(context.Background()) }()
	require.Eventually(t, func() bool { return prod.calls.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
	k.Stop()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "1 alert changes not written to the alert topic")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within its flush timeout")
	}
}
