package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
)

// fakeAM records the posts it gets and answers with status, or with err.
type fakeAM struct {
	mu     sync.Mutex
	posts  []recordedPost
	status int
	err    error
}

type recordedPost struct {
	url    string
	header http.Header
	alerts []PostableAlert
}

func (f *fakeAM) Do(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	var alerts []PostableAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, recordedPost{url: r.URL.String(), header: r.Header.Clone(), alerts: alerts})
	if f.err != nil {
		return nil, f.err
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(""))}, nil
}

func (f *fakeAM) all() []recordedPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedPost(nil), f.posts...)
}

// sent returns every alert posted, in order.
func (f *fakeAM) sent() []PostableAlert {
	var out []PostableAlert
	for _, p := range f.all() {
		out = append(out, p.alerts...)
	}
	return out
}

func firingChange(t *testing.T, m *Manager, at time.Time) []Change {
	t.Helper()
	changes := m.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), at)
	require.Len(t, changes, 1)
	require.Equal(t, Firing, changes[0].To)
	return changes
}

func run(t *testing.T, r interface {
	Run(context.Context) error
	Stop()
}) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Stop()
		r.Stop() // idempotent
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Stop")
		}
	})
}

func TestAlertmanagerPayload(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		opts       AlertmanagerOptions
		wantURL    string
		wantHeader string
	}{
		{"plain", AlertmanagerOptions{URLs: []string{"http://am:9093"}}, "http://am:9093/api/v2/alerts", ""},
		{"path prefix and bearer", AlertmanagerOptions{URLs: []string{"https://am.example/base/"}, PathPrefix: "/alertmanager", BearerToken: "t0ken"},
			"https://am.example/base/alertmanager/api/v2/alerts", "Bearer t0ken"},
		{"basic auth", AlertmanagerOptions{URLs: []string{"http://am:9093"}, Username: "nw", Password: "pw"},
			"http://am:9093/api/v2/alerts", "Basic bnc6cHc="},
		{"basic auth from the URL", AlertmanagerOptions{URLs: []string{"http://nw:pw@am:9093"}},
			"http://am:9093/api/v2/alerts", "Basic bnc6cHc="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAM{}
			opts := tc.opts
			opts.Client, opts.Now = fake, func() time.Time { return now }
			opts.ResendInterval, opts.GeneratorURL = time.Hour, "http://normwatch:10308/"
			am, err := NewAlertmanager(opts)
			require.NoError(t, err)
			m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
			require.NoError(t, err)
			firingChange(t, m, now.Add(-time.Minute))
			run(t, am)

			require.Eventually(t, func() bool { return len(fake.sent()) == 1 }, 5*time.Second, 10*time.Millisecond)
			p := fake.all()[0]
			require.Equal(t, tc.wantURL, p.url)
			require.Equal(t, tc.wantHeader, p.header.Get("Authorization"))
			require.Equal(t, "application/json", p.header.Get("Content-Type"))
			a := p.alerts[0]
			require.Equal(t, map[string]string{
				"alertname": NormalizationDrift, "model": "ranker", "model_version": "v4", "feature": "income",
				"severity": "critical", "diagnosis": "unscaled_input",
			}, a.Labels)
			require.Contains(t, a.Annotations["summary"], "income on ranker v4: production ≈ 18300 × training + 52100")
			require.Equal(t, "2026-11-25T09:59:00Z", a.StartsAt)
			require.Equal(t, "2026-11-25T14:00:00Z", a.EndsAt, "four resend intervals ahead")
			require.Equal(t, "http://normwatch:10308/", a.GeneratorURL)
			require.NotContains(t, am.Sinks()[0], "pw", "no credentials in metric labels")
		})
	}
}

func TestAlertmanagerOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts AlertmanagerOptions
		err  string
	}{
		{"no URL", AlertmanagerOptions{}, "at least one URL"},
		{"bad URL", AlertmanagerOptions{URLs: []string{"am:9093"}}, `"am:9093" is not an http or https URL`},
		{"both auths", AlertmanagerOptions{URLs: []string{"http://am"}, Username: "u", BearerToken: "t"}, "not both"},
		{"relative prefix", AlertmanagerOptions{URLs: []string{"http://am"}, PathPrefix: "am"}, `"am" must start with /`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAlertmanager(tc.opts)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// TestAlertmanagerLifecycle: firing alerts and the watchdog are re-sent
// every interval; a resolution goes out with endsAt its time, is repeated
// within retention, then no more.
func TestAlertmanagerLifecycle(t *testing.T) {
	fake := &fakeAM{}
	var clock atomic.Int64
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock.Store(start.UnixNano())
	const interval = 40 * time.Millisecond
	am, err := NewAlertmanager(AlertmanagerOptions{
		URLs: []string{"http://am-1:9093", "http://am-2:9093"}, Client: fake, ResendInterval: interval,
		ResolvedRetention: time.Minute, Watchdog: true,
		Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() },
	})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
	require.NoError(t, err)
	run(t, am)
	firingChange(t, m, start)

	count := func(name, endsAt string) (n int) {
		for _, a := range fake.sent() {
			if a.Labels["alertname"] == name && (endsAt == "" || a.EndsAt == endsAt) {
				n++
			}
		}
		return n
	}
	// Re-sent: at least three posts of the firing alert to each of two
	// Alertmanagers.
	require.Eventually(t, func() bool { return count(NormalizationDrift, "") >= 6 && count(Watchdog, "") >= 6 },
		5*time.Second, 5*time.Millisecond)
	for _, a := range fake.sent() {
		if a.Labels["alertname"] == Watchdog {
			require.Equal(t, "none", a.Labels["severity"])
			require.Equal(t, timestamp(start.Add(4*interval)), a.EndsAt)
		}
	}

	resolvedAt := start.Add(30 * time.Second)
	clock.Store(resolvedAt.UnixNano())
	changes := m.Observe("ranker", "v4", report(drift.OK, drift.SeverityOK), resolvedAt)
	require.Len(t, changes, 1)
	// The resolution and its repeats, with endsAt the resolution time.
	require.Eventually(t, func() bool { return count(NormalizationDrift, timestamp(resolvedAt)) >= 6 },
		5*time.Second, 5*time.Millisecond)

	// Past retention it is no longer sent; the watchdog goes on.
	clock.Store(resolvedAt.Add(2 * time.Minute).UnixNano())
	time.Sleep(2 * interval) // a resend cycle prunes it
	before := count(NormalizationDrift, "")
	watchdogs := count(Watchdog, "")
	time.Sleep(4 * interval)
	require.Equal(t, before, count(NormalizationDrift, ""))
	require.Greater(t, count(Watchdog, ""), watchdogs)

	// Pending changes never reach Alertmanager.
	am.Notify([]Change{{Alert: Alert{Labels: makeLabels("alertname", "X")}, From: Inactive, To: Pending}})
	time.Sleep(2 * interval)
	require.Zero(t, count("X", ""))
}

// TestAlertmanagerErrors injects failures through a real HTTP server: a 5xx
// and a timeout are retried, a 4xx is counted and dropped.
func TestAlertmanagerErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		// respond answers the n-th request (from 0).
		respond   func(n int, w http.ResponseWriter)
		wantPosts int // requests before the alert is settled
		wantOK    float64
		wantErr   float64
		wantRej   float64
	}{
		{"5xx retried", func(n int, w http.ResponseWriter) {
			if n < 2 {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
			}
		}, 3, 1, 2, 0},
		{"4xx not retried", func(n int, w http.ResponseWriter) {
			http.Error(w, `{"message":"bad alert"}`, http.StatusBadRequest)
		}, 1, 0, 0, 1},
		{"timeout retried", func(n int, w http.ResponseWriter) {
			if n == 0 {
				time.Sleep(300 * time.Millisecond)
			}
		}, 2, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/api/v2/alerts", r.URL.Path)
				tc.respond(int(n.Add(1)-1), w)
			}))
			defer srv.Close()
			reg := prometheus.NewRegistry()
			am, err := NewAlertmanager(AlertmanagerOptions{
				URLs: []string{srv.URL}, ResendInterval: time.Hour, Timeout: 100 * time.Millisecond, Registerer: reg,
			})
			require.NoError(t, err)
			am.minBackoff = 20 * time.Millisecond // a short retry cycle
			m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
			require.NoError(t, err)
			firingChange(t, m, time.Now())
			run(t, am)

			sink := am.Sinks()[0]
			sent := func(result string) float64 {
				return testutil.ToFloat64(am.targets[0].m.sent[result])
			}
			require.Eventually(t, func() bool {
				return sent(ResultOK)+sent(ResultRejected) >= 1
			}, 5*time.Second, 5*time.Millisecond)
			require.Equal(t, tc.wantOK, sent(ResultOK), sink)
			require.Equal(t, tc.wantErr, sent(ResultError))
			require.Equal(t, tc.wantRej, sent(ResultRejected))
			require.Equal(t, tc.wantPosts, int(n.Load()))
			require.Zero(t, am.targets[0].q.len())
		})
	}
}

// TestAlertmanagerDown: with Alertmanager down the queue stays within its
// bound, dropping the oldest, and what is left arrives once it is back.
func TestAlertmanagerDown(t *testing.T) {
	fake := &fakeAM{err: errors.New("connection refused")}
	reg := prometheus.NewRegistry()
	am, err := NewAlertmanager(AlertmanagerOptions{
		URLs: []string{"http://am:9093"}, Client: fake, ResendInterval: 20 * time.Millisecond,
		QueueCapacity: 5, MaxBatch: 2, Watchdog: true, Registerer: reg,
	})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
	require.NoError(t, err)
	firingChange(t, m, time.Now())
	run(t, am)
	tm := am.targets[0].m
	require.Eventually(t, func() bool { return testutil.ToFloat64(tm.dropped) >= 3 }, 5*time.Second, 5*time.Millisecond)
	require.LessOrEqual(t, am.targets[0].q.len(), 5)
	require.Positive(t, testutil.ToFloat64(tm.sent[ResultError]))
	require.Equal(t, testutil.ToFloat64(tm.dropped), testutil.ToFloat64(tm.sent[ResultDropped]))
	require.Zero(t, testutil.ToFloat64(tm.sent[ResultOK]))

	fake.mu.Lock()
	fake.err = nil
	fake.mu.Unlock()
	require.Eventually(t, func() bool {
		for _, a := range fake.sent() {
			if a.Labels["alertname"] == NormalizationDrift && testutil.ToFloat64(tm.sent[ResultOK]) > 0 {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
}

func TestMetricsAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := NewAlertmanager(AlertmanagerOptions{URLs: []string{"http://am-1:9093"}, Registerer: reg})
	require.NoError(t, err)
	_, err = NewKafka(KafkaOptions{Producer: &fakeProducer{}, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP normwatch_alert_queue_length Alerts waiting in a sink's queue.
# TYPE normwatch_alert_queue_length gauge
normwatch_alert_queue_length{sink="alertmanager:http://am-1:9093"} 0
normwatch_alert_queue_length{sink="kafka"} 0
# HELP normwatch_alerts_dropped_total Alerts dropped, oldest first, because a sink's queue was full.
# TYPE normwatch_alerts_dropped_total counter
normwatch_alerts_dropped_total{sink="alertmanager:http://am-1:9093"} 0
normwatch_alerts_dropped_total{sink="kafka"} 0
# HELP normwatch_alerts_sent_total Alerts handed to a sink, by result: ok, error (retried), rejected (4xx, not retried), dropped (queue full).
# TYPE normwatch_alerts_sent_total counter
normwatch_alerts_sent_total{result="dropped",sink="alertmanager:http://am-1:9093"} 0
normwatch_alerts_sent_total{result="dropped",sink="kafka"} 0
normwatch_alerts_sent_total{result="error",sink="alertmanager:http://am-1:9093"} 0
normwatch_alerts_sent_total{result="error",sink="kafka"} 0
normwatch_alerts_sent_total{result="ok",sink="alertmanager:http://am-1:9093"} 0
normwatch_alerts_sent_total{result="ok",sink="kafka"} 0
normwatch_alerts_sent_total{result="rejected",sink="alertmanager:http://am-1:9093"} 0
normwatch_alerts_sent_total{result="rejected",sink="kafka"} 0
`)))
}

func TestQueueDropsOldest(t *testing.T) {
	m := newMetrics(nil).forSink("test")
	q := newQueue[int](3, m)
	q.push(1, 2, 3, 4, 5)
	require.Equal(t, 2.0, testutil.ToFloat64(m.dropped))
	require.Equal(t, 3.0, testutil.ToFloat64(m.queue))
	got := q.pop(2)
	require.Equal(t, []int{3, 4}, got)
	q.push(6, 7)
	q.requeue(got) // no room: the requeued, being oldest, go first
	require.Equal(t, []int{5, 6, 7}, q.pop(10))
	require.Equal(t, 4.0, testutil.ToFloat64(m.dropped))
	require.Equal(t, 0.0, testutil.ToFloat64(m.queue))
}

// hungAM accepts and never answers: Do blocks until the request's context
// ends.
type hungAM struct{ calls atomic.Int64 }

func (h *hungAM) Do(r *http.Request) (*http.Response, error) {
	h.calls.Add(1)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// A hung Alertmanager: Run returns within the flush timeout of Stop, not
// after the per-request timeout, with an error counting what was left.
func TestAlertmanagerShutdownBounded(t *testing.T) {
	hung := &hungAM{}
	am, err := NewAlertmanager(AlertmanagerOptions{
		URLs: []string{"http://am-1:9093", "http://am-2:9093"}, Client: hung,
		Timeout: time.Minute, FlushTimeout: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
	require.NoError(t, err)
	firingChange(t, m, time.Now())
	done := make(chan error, 1)
	go func() { done <- am.Run(context.Background()) }()
	require.Eventually(t, func() bool { return hung.calls.Load() >= 2 }, 5*time.Second, 5*time.Millisecond)
	am.Stop()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "1 alerts not sent to alertmanager:http://am-1:9093")
		require.ErrorContains(t, err, "1 alerts not sent to alertmanager:http://am-2:9093")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within its flush timeout")
	}
}
