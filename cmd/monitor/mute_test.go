package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/run"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/demo"
	"github.com/normwatch/normwatch/pkg/drift"
)

// recordSink keeps every alert state change.
type recordSink struct {
	mu      sync.Mutex
	changes []alert.Change
}

func (s *recordSink) Notify(cs []alert.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes = append(s.changes, cs...)
}

func (s *recordSink) all() []alert.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert.Change(nil), s.changes...)
}

// TestMutedFeatureDoesNotPage runs the daemon as `monitor run` wires it,
// from a configuration file that mutes v4's income, on the demo's live
// traffic over Kafka: v4's other bug (query vectors not normalized) pages,
// income never does, not even pending, while its report and its metrics
// still show what it is (unscaled_input, a large KS distance) with
// drift_status 0, so dashboards keep it and no Prometheus rule pages.
func TestMutedFeatureDoesNotPage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon on live traffic for several seconds")
	}
	work := t.TempDir()
	bdir := filepath.Join(work, "baselines")
	require.NoError(t, demoBaselines(bdir, work))
	file := filepath.Join(work, "normwatch.yml")
	require.NoError(t, os.WriteFile(file, []byte(`
kafka:
  embedded: true
baselines:
  dir: `+bdir+`
checkpoint:
  dir: `+filepath.Join(work, "checkpoints")+`
http:
  listen: 127.0.0.1:0
window:
  size: 1s
  allowed_lateness: 200ms
  horizon_windows: 3
drift:
  overrides:
    - model: ranker
      model_version: "v4*"
      feature: "inc*"
      mute: true
log:
  level: warn
`), 0o600))
	cmd := newCommand("monitor run", "", "", exitUsageError, io.Discard, io.Discard)
	config.AddFlags(cmd.fs)
	require.NoError(t, cmd.fs.Parse(nil))
	cfg, err := config.Load(file, cmd.fs)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &recordSink{}
	d, err := newDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &extras{sinks: []alert.Sink{rec}}, newStopClock(cfg.ShutdownTimeout))
	require.NoError(t, err)
	defer d.close()
	var g run.Group
	d.addActors(ctx, &g, nil)
	g.Add(func() error { return produceDemo(ctx, d.brokers, cfg.Kafka.Topics[0], 800, &atomic.Bool{}) }, func(error) { cancel() })
	done := make(chan struct{})
	g.Add(func() error { <-done; return nil }, func(error) {})
	stopped := make(chan error, 1)
	go func() { stopped <- g.Run() }()
	defer func() {
		close(done)
		require.NoError(t, <-stopped)
	}()

	isV4 := func(l alert.Labels, subject string) bool {
		return l.Get("model_version") == demo.Buggy && l.Get("feature")+l.Get("embedding") == subject
	}
	var income drift.FeatureReport
	require.Eventually(t, func() bool {
		fired := false
		for _, c := range rec.all() {
			fired = fired || (c.To == alert.Firing && isV4(c.Alert.Labels, "query"))
		}
		for _, e := range d.engine.Latest() {
			if e.Version != demo.Buggy {
				continue
			}
			for _, f := range e.Report.Features {
				if f.Name == "income" {
					income = f
				}
			}
		}
		return fired && income.Diagnosis == drift.UnscaledInput
	}, 45*time.Second, 50*time.Millisecond, "v4's query fires and its income is named")
	require.True(t, income.Muted)
	require.Equal(t, drift.SeverityOK, income.Severity)
	require.Contains(t, income.Summary, "looks skipped at serving")
	for _, c := range rec.all() {
		require.False(t, isV4(c.Alert.Labels, "income"), "muted income changed alert state: %+v", c)
	}
	for _, a := range d.alerts.Active() {
		require.False(t, isV4(a.Labels, "income"), "muted income has an alert: %+v", a)
	}

	// Its metrics show.
	resp, err := http.Get("http://" + d.server.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, line := range strings.Split(string(body), "\n") {
			series, val, ok := strings.Cut(line, " ")
			if !ok || !strings.HasPrefix(series, name+"{") {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && strings.Contains(series, k+"="+strconv.Quote(v))
			}
			if match {
				f, err := strconv.ParseFloat(val, 64)
				require.NoError(t, err, line)
				return f, true
			}
		}
		return 0, false
	}
	v4income := map[string]string{"model": demo.Model, "model_version": demo.Buggy, "feature": "income"}
	ks, ok := value("normwatch_drift_ks", v4income)
	require.True(t, ok, "normwatch_drift_ks of the muted feature")
	require.Greater(t, ks, 0.5, "a skipped scaler moves every value")
	status := map[string]string{"diagnosis": string(drift.UnscaledInput)}
	for k, v := range v4income {
		status[k] = v
	}
	st, ok := value("normwatch_drift_status", status)
	require.True(t, ok, "normwatch_drift_status names the muted feature's diagnosis")
	require.Equal(t, 0.0, st)
	q, ok := value("normwatch_drift_status", map[string]string{"model_version": demo.Buggy, "embedding": "query"})
	require.True(t, ok)
	require.Equal(t, float64(drift.Critical), q, "the unmuted bug's status")
}
