package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Watchdog is the alertname of the heartbeat the Alertmanager sink keeps
// firing while normwatch runs: route it to a dead man's switch, which pages
// when it stops arriving.
const Watchdog = "NormwatchWatchdog"

// HTTPDoer sends one HTTP request: *http.Client, or a fake in tests.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// AlertmanagerOptions configures an Alertmanager sink.
type AlertmanagerOptions struct {
	// URLs are Alertmanager base URLs (http://am:9093); every alert goes to
	// each, through a queue of its own.
	URLs []string
	// PathPrefix is put before /api/v2/alerts, for an Alertmanager served
	// under a sub-path (--web.route-prefix).
	PathPrefix string
	// ResendInterval re-sends firing alerts, with endsAt four intervals
	// ahead, and the watchdog. Default one minute.
	ResendInterval time.Duration
	// ResolvedRetention is how long a resolved alert keeps being re-sent
	// (with endsAt its resolution time), so an Alertmanager that was away
	// when it resolved learns of it. Default 15 minutes.
	ResolvedRetention time.Duration
	// Timeout bounds one POST. Default 10 seconds.
	Timeout time.Duration
	// FlushTimeout bounds the last attempts at the queues once Run is
	// told to stop: the part of the daemon's shutdown deadline the sink
	// may take. What is still queued then is logged and Run's error
	// counts it. Default Timeout.
	FlushTimeout time.Duration
	// QueueCapacity bounds the alerts queued per URL; beyond it the oldest
	// are dropped and counted. Default 10000.
	QueueCapacity int
	// MaxBatch bounds the alerts of one POST. Default 256.
	MaxBatch int

	// TLS is the client side of TLS to Alertmanager (a CA to verify it by,
	// a client certificate for mutual TLS); nil takes the system roots.
	TLS *tls.Config
	// Username and Password, when Username is set, are sent as basic
	// auth; BearerToken, when set, as an Authorization bearer token. At
	// most one of the two.
	Username, Password string
	BearerToken        string
	// GeneratorURL is where an alert links back to: normwatch's status
	// page as users reach it.
	GeneratorURL string
	// Watchdog keeps the NormwatchWatchdog alert firing.
	Watchdog bool

	// Client sends the requests; nil builds an http.Client with TLS.
	Client HTTPDoer
	Logger *slog.Logger
	// Registerer takes the sink metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (o AlertmanagerOptions) withDefaults() AlertmanagerOptions {
	if o.ResendInterval <= 0 {
		o.ResendInterval = time.Minute
	}
	if o.ResolvedRetention <= 0 {
		o.ResolvedRetention = 15 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = o.Timeout
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 10000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// PostableAlert is one alert as Alertmanager's API v2 takes it: the JSON of
// its models.PostableAlert, without importing Alertmanager.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Alertmanager is the sink of Alertmanager API v2. Notify queues at once;
// Run sends, re-sends firing alerts every resend interval, and keeps
// resolved ones going out for a while.
type Alertmanager struct {
	opts    AlertmanagerOptions
	targets []*amTarget
	started time.Time

	mu     sync.Mutex
	active map[string]*amAlert // by fingerprint: firing, or resolved within retention

	// minBackoff is the first wait after a failed send: a second, or the
	// resend interval if shorter.
	minBackoff time.Duration

	stopOnce sync.Once
	stop     chan struct{}
}

type amAlert struct {
	alert    Alert
	resolved bool
}

// amTarget is one Alertmanager: its endpoint and queue.
type amTarget struct {
	sink     string // metrics label: alertmanager:<url without credentials>
	endpoint string
	user     *url.Userinfo // from the URL, if any
	q        *queue[PostableAlert]
	m        *sinkMetrics
}

// NewAlertmanager returns the sink, with its metrics created at zero.
func NewAlertmanager(opts AlertmanagerOptions) (*Alertmanager, error) {
	opts = opts.withDefaults()
	if len(opts.URLs) == 0 {
		return nil, errors.New("alert: Alertmanager sink needs at least one URL")
	}
	if opts.Username != "" && opts.BearerToken != "" {
		return nil, errors.New("alert: Alertmanager sink takes basic auth or a bearer token, not both")
	}
	if opts.PathPrefix != "" && !strings.HasPrefix(opts.PathPrefix, "/") {
		return nil, fmt.Errorf("alert: path prefix %q must start with /", opts.PathPrefix)
	}
	if opts.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = opts.TLS
		opts.Client = &http.Client{Transport: tr}
	}
	m := newMetrics(opts.Registerer)
	a := &Alertmanager{opts: opts, active: map[string]*amAlert{}, stop: make(chan struct{}),
		minBackoff: min(time.Second, opts.ResendInterval)}
	for _, raw := range opts.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("alert: Alertmanager URL %q is not an http or https URL", raw)
		}
		t := &amTarget{user: u.User}
		u.User = nil
		u.Path = strings.TrimSuffix(u.Path, "/")
		t.sink = "alertmanager:" + u.String()
		u.Path = path.Join("/", u.Path, opts.PathPrefix, "/api/v2/alerts")
		t.endpoint = u.String()
		t.m = m.forSink(t.sink)
		t.q = newQueue[PostableAlert](opts.QueueCapacity, t.m)
		a.targets = append(a.targets, t)
	}
	return a, nil
}

// Notify queues firing alerts and resolutions for every Alertmanager;
// pending alerts stay here. A change from Firing to Firing (an alert taken
// over from another process) is sent as firing, with its startsAt.
func (a *Alertmanager) Notify(changes []Change) {
	now := a.opts.Now()
	var out []PostableAlert
	a.mu.Lock()
	for _, c := range changes {
		fp := c.Alert.Fingerprint()
		switch {
		case c.To == Firing:
			a.active[fp] = &amAlert{alert: c.Alert}
		case c.From == Firing && c.To == Inactive:
			a.active[fp] = &amAlert{alert: c.Alert, resolved: true}
		default:
			continue
		}
		out = append(out, a.postable(a.active[fp], now))
	}
	a.mu.Unlock()
	a.push(out)
}

// Forget drops the firing alerts and recent resolutions of model/version
// that the sink re-sends, without sending anything: another process took
// their lifecycle over (its evaluation stage partition moved there) and
// sends them from now on.
func (a *Alertmanager) Forget(model, version string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for fp, x := range a.active {
		if x.alert.Labels.Get("model") == model && x.alert.Labels.Get("model_version") == version {
			delete(a.active, fp)
		}
	}
}

func (a *Alertmanager) push(alerts []PostableAlert) {
	for _, t := range a.targets {
		t.q.push(alerts...)
	}
}

// postable is what is sent for x at now: a firing alert ends four resend
// intervals ahead unless re-sent, a resolved one at its resolution.
func (a *Alertmanager) postable(x *amAlert, now time.Time) PostableAlert {
	endsAt := now.Add(4 * a.opts.ResendInterval)
	if x.resolved {
		endsAt = x.alert.ResolvedAt
		if endsAt.IsZero() {
			endsAt = now
		}
	}
	return PostableAlert{
		Labels:       x.alert.Labels.Map(),
		Annotations:  maps.Clone(x.alert.Annotations),
		StartsAt:     timestamp(x.alert.ActiveAt),
		EndsAt:       timestamp(endsAt),
		GeneratorURL: a.opts.GeneratorURL,
	}
}

// resend queues every firing alert, the resolutions still within
// retention, and the watchdog.
func (a *Alertmanager) resend() {
	now := a.opts.Now()
	var out []PostableAlert
	if a.opts.Watchdog {
		out = append(out, a.watchdog(now))
	}
	a.mu.Lock()
	for fp, x := range a.active {
		if x.resolved && now.Sub(x.alert.ResolvedAt) > a.opts.ResolvedRetention {
			delete(a.active, fp)
			continue
		}
		out = append(out, a.postable(x, now))
	}
	a.mu.Unlock()
	a.push(out)
}

func (a *Alertmanager) watchdog(now time.Time) PostableAlert {
	return PostableAlert{
		Labels: map[string]string{"alertname": Watchdog, "severity": "none"},
		Annotations: map[string]string{
			"summary": "normwatch is running and reaches this Alertmanager.",
			"description": "This alert always fires while normwatch runs, re-sent every " + a.opts.ResendInterval.String() +
				". Route it to a dead man's switch: when it stops, normwatch is down or cannot reach Alertmanager, and drift goes unseen.",
		},
		StartsAt:     timestamp(a.started),
		EndsAt:       timestamp(now.Add(4 * a.opts.ResendInterval)),
		GeneratorURL: a.opts.GeneratorURL,
	}
}

// Run sends until ctx ends or Stop is called, then keeps trying what is
// queued for up to FlushTimeout, each POST within Timeout. It returns an
// error counting the alerts left unsent, nil when none are.
func (a *Alertmanager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	a.started = a.opts.Now()
	if a.opts.Watchdog {
		a.push([]PostableAlert{a.watchdog(a.started)})
	}

	var wg sync.WaitGroup
	errs := make([]error, len(a.targets))
	for i, t := range a.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.sendLoop(ctx, t)
		}()
	}
	tick := time.NewTicker(a.opts.ResendInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(errs...)
		case <-tick.C:
			a.resend()
		}
	}
}

// Stop ends Run. It returns at once and is safe to call more than once.
func (a *Alertmanager) Stop() {
	a.stopOnce.Do(func() { close(a.stop) })
}

// sendLoop posts t's queue in batches. After a failure it waits a backoff
// that grows to the resend interval before the next attempt.
func (a *Alertmanager) sendLoop(ctx context.Context, t *amTarget) error {
	return deliver(ctx, t.q.wake, func(ctx context.Context) bool { return a.drain(ctx, t) },
		func() error { return a.flush(t) }, a.minBackoff, a.opts.ResendInterval)
}

// drain sends batches until the queue is empty (true) or a send failed
// and must be retried later (false).
func (a *Alertmanager) drain(ctx context.Context, t *amTarget) bool {
	for {
		batch := t.q.pop(a.opts.MaxBatch)
		if len(batch) == 0 {
			return true
		}
		if !a.sendBatch(ctx, t, batch) {
			t.q.requeue(batch)
			return false
		}
	}
}

// flush keeps trying the queue at shutdown, for up to FlushTimeout.
func (a *Alertmanager) flush(t *amTarget) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.FlushTimeout)
	defer cancel()
	drain := func(ctx context.Context) bool { return a.drain(ctx, t) }
	if n := lastDrain(ctx, drain, t.q.len, min(a.minBackoff, 100*time.Millisecond)); n > 0 {
		a.opts.Logger.Error("alerts not sent to Alertmanager at shutdown", "sink", t.sink, "alerts", n, "flush_timeout", a.opts.FlushTimeout)
		return fmt.Errorf("alert: %d alerts not sent to %s within %v at shutdown", n, t.sink, a.opts.FlushTimeout)
	}
	return nil
}

// sendBatch posts batch and counts the outcome; false means retry.
func (a *Alertmanager) sendBatch(ctx context.Context, t *amTarget, batch []PostableAlert) bool {
	status, msg, err := a.post(ctx, t, batch)
	n := float64(len(batch))
	switch {
	case err == nil && status/100 == 2:
		t.m.sent[ResultOK].Add(n)
		return true
	case err == nil && status/100 == 4:
		t.m.sent[ResultRejected].Add(n)
		a.opts.Logger.Error("Alertmanager rejected alerts; not retrying them", "sink", t.sink, "alerts", len(batch),
			"status", status, "response", msg)
		return true
	}
	if err == nil {
		err = fmt.Errorf("status %d: %s", status, msg)
	}
	t.m.sent[ResultError].Add(n)
	a.opts.Logger.Warn("sending alerts to Alertmanager; retrying", "sink", t.sink, "alerts", len(batch), "err", err)
	return false
}

// maxErrorBody bounds what is read of a response body for the log.
const maxErrorBody = 4 << 10

// post sends batch and returns the status and the start of the body.
func (a *Alertmanager) post(ctx context.Context, t *amTarget, batch []PostableAlert) (int, string, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return 0, "", fmt.Errorf("encoding alerts: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "normwatch")
	switch {
	case a.opts.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+a.opts.BearerToken)
	case a.opts.Username != "":
		req.SetBasicAuth(a.opts.Username, a.opts.Password)
	case t.user != nil:
		p, _ := t.user.Password()
		req.SetBasicAuth(t.user.Username(), p)
	}
	resp, err := a.opts.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	return resp.StatusCode, strings.TrimSpace(string(msg)), nil
}

// Sinks names the sink of each URL, as in the metrics' sink label.
func (a *Alertmanager) Sinks() []string {
	out := make([]string, len(a.targets))
	for i, t := range a.targets {
		out[i] = t.sink
	}
	return out
}
