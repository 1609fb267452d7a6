package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// memStore is a CheckpointStore in memory; loadErr makes Load fail.
type memStore struct {
	mu      sync.Mutex
	data    map[string][]byte
	loadErr error
}

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (s *memStore) Load(topic string, partition int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	return s.data[fmt.Sprintf("%s/%d", topic, partition)], nil
}

func (s *memStore) Save(topic string, partition int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[fmt.Sprintf("%s/%d", topic, partition)] = append([]byte(nil), data...)
	return nil
}

// baselines serves fixed reference sets; each Lookup builds a fresh set.
type baselines map[string]func() drift.Set

func (b baselines) Lookup(model, version string) (drift.Set, string, bool) {
	f, ok := b[model+"/"+version]
	if !ok {
		return drift.Set{}, "", false
	}
	return f(), "id-" + model + "-" + version, true
}

// collect is a Sink that keeps what it gets.
type collect struct {
	mu  sync.Mutex
	got []Evaluation
}

func (c *collect) Publish(e Evaluation) {
	c.mu.Lock()
	c.got = append(c.got, e)
	c.mu.Unlock()
}

func (c *collect) all() []Evaluation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Evaluation(nil), c.got...)
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// testOptions: 1-minute windows, 10 s lateness, horizon 2, a small
// MinSamples so that small tests are judged.
func testOptions() Options {
	th := drift.DefaultThresholds()
	th.MinSamples = 50
	return Options{WindowSize: time.Minute, AllowedLateness: 10 * time.Second, HorizonWindows: 2, Thresholds: th}
}

func newEngine(t testing.TB, opts Options, b Baselines, store stream.CheckpointStore, sinks ...Sink) (*Engine, *prometheus.Registry) {
	t.Helper()
	if b == nil {
		b = baselines{}
	}
	if store == nil {
		store = newMemStore()
	}
	reg := prometheus.NewRegistry()
	e, err := New(opts, b, store, reg, sinks...)
	require.NoError(t, err)
	return e, reg
}

func open(t testing.TB, e *Engine, part int) *partition {
	t.Helper()
	pp, err := e.OpenPartition("events", part)
	require.NoError(t, err)
	return pp.(*partition)
}

// event builds an event; features are given as name, value pairs in order.
func event(ts time.Time, model, version string, feats ...any) *stream.Event {
	ev := &stream.Event{Time: ts, TimeSource: stream.TimePayload, Model: model, Version: version}
	for i := 0; i < len(feats); i += 2 {
		fv := stream.FeatureValue{Name: feats[i].(string)}
		switch v := feats[i+1].(type) {
		case nil:
			fv.Missing = true
		case float64:
			fv.Value = v
		case string:
			fv.TypeError = true
		}
		ev.Features = append(ev.Features, fv)
	}
	return ev
}

// closeAll closes every open window of p as an idle flush would.
func closeAll(p *partition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := p.closedEnd
	for _, pv := range p.order {
		if n := len(pv.open); n > 0 {
			end = max(end, pv.open[n-1].start+p.e.window)
		}
	}
	p.closeThrough(end, true)
}

func normal(r *rand.Rand, mu, sigma float64) float64 { return mu + sigma*r.NormFloat64() }

var errBoom = errors.New("disk on fire")
