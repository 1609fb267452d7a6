package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEndToEnd runs `monitor demo` (embedded broker, v4 with its two bugs)
// against a real Alertmanager and Prometheus started with the shipped
// configurations, and checks through their APIs what an operator would
// see: normwatch's alert in Alertmanager, the shipped rule firing in
// Prometheus, data behind every dashboard query, delivery surviving an
// Alertmanager outage, and the alert resolving once v4 is healed.
//
// The test copy of prometheus.yml points at loopback ports and scrapes and
// evaluates every second; the test copy of the rules is the shipped file
// with every `for:` shortened to 5s (keep_firing_for and expressions
// unchanged). It takes about 30 seconds (25 to 28 on two shared cores).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if raceEnabled {
		t.Skip("end-to-end: runs in the plain pass of scripts/test.sh, not again under -race")
	}
	requireBinaries(t, prometheusBin, alertmanagerBin, promtoolBin)
	repo := root(t)
	tmp := t.TempDir()

	monitor := filepath.Join(tmp, "monitor")
	build := exec.Command("go", "build", "-o", monitor, "./cmd/monitor")
	build.Dir = repo
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	amPort, promPort, nwPort := freePort(t), freePort(t), freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	promURL := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	nwURL := fmt.Sprintf("http://127.0.0.1:%d", nwPort)

	// Alertmanager with the shipped configuration as it is.
	amConfig := filepath.Join(repo, "deployments", "alertmanager", "alertmanager.yml")
	amData := filepath.Join(tmp, "am-data")
	startAM := func() *proc {
		return start(t, "alertmanager", alertmanagerBin, "--config.file="+amConfig, "--storage.path="+amData,
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address=")
	}
	am := startAM()

	// Prometheus with a test copy of the shipped configuration and rules.
	shipped, err := os.ReadFile(filepath.Join(repo, "deployments", "prometheus", "prometheus.yml"))
	require.NoError(t, err)
	promConfig := rewrite(t, string(shipped),
		`'normwatch:10308'`, fmt.Sprintf("'127.0.0.1:%d'", nwPort),
		`'alertmanager:9093'`, fmt.Sprintf("'127.0.0.1:%d'", amPort),
		`'localhost:9090'`, fmt.Sprintf("'127.0.0.1:%d'", promPort),
		`scrape_interval: 15s`, "scrape_interval: 1s",
		`evaluation_interval: 15s`, "evaluation_interval: 1s",
	)
	rules, err := os.ReadFile(filepath.Join(repo, "deployments", "prometheus", "rules", "normwatch.rules.yml"))
	require.NoError(t, err)
	testRules := rewrite(t, string(rules), `(?m)^(\s+)for: \S+$`, "${1}for: 5s")
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "prom", "rules"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "prom", "prometheus.yml"), []byte(promConfig), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "prom", "rules", "normwatch.rules.yml"), []byte(testRules), 0o644))
	start(t, "prometheus", prometheusBin, "--config.file="+filepath.Join(tmp, "prom", "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(tmp, "prom-data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))

	// The demo: 2s windows; alerts re-sent every second; a small queue so
	// that an Alertmanager outage of a few seconds overflows it, yet above
	// the demo's firing alerts and the heartbeat (ten), which are all
	// re-sent each second: a queue below them drops the oldest each time,
	// and the heartbeat's endsAt passes.
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "demo"), 0o755))
	nw := start(t, "monitor", monitor, "demo", "--window", "2s", "--http.listen", fmt.Sprintf("127.0.0.1:%d", nwPort),
		"--alerting.alertmanager_urls", amURL, "--alerting.resend_interval", "1s", "--alerting.queue_capacity", "16",
		"--dir", filepath.Join(tmp, "demo"), "--log.level", "info")

	// normwatch's own alert, pushed to Alertmanager (no source label: that
	// is the Prometheus rule's).
	normwatchAlert := func() (*amAlert, string) {
		alerts, err := amAlerts(amURL)
		if err != nil {
			return nil, err.Error()
		}
		var seen []string
		for i, a := range alerts {
			seen = append(seen, fmt.Sprint(a.Labels))
			if a.Labels["alertname"] == "NormalizationDrift" && a.Labels["source"] == "" && a.Labels["feature"] == "income" {
				return &alerts[i], ""
			}
		}
		return nil, strings.Join(seen, "; ")
	}
	t.Log("waiting for normwatch's alert in Alertmanager")
	waitFor(t, 90*time.Second, "NormalizationDrift of income from normwatch in Alertmanager", func() (bool, string) {
		select {
		case <-nw.done:
			t.Fatalf("the monitor exited: %v", nw.err)
		default:
		}
		a, detail := normwatchAlert()
		return a != nil, detail
	})
	a, _ := normwatchAlert()
	require.Equal(t, "unscaled_input", a.Labels["diagnosis"])
	require.Equal(t, "v4", a.Labels["model_version"])
	require.Equal(t, "ranker", a.Labels["model"])
	require.Equal(t, "critical", a.Labels["severity"])
	require.Contains(t, a.Annotations["summary"], "income on ranker v4: ")
	require.Contains(t, a.Annotations["summary"], "the z-score scaler (mean 52100, std 18300) looks skipped at serving.")
	require.Equal(t, "active", a.Status.State)
	watchdog := func() bool {
		alerts, _ := amAlerts(amURL)
		for _, a := range alerts {
			if a.Labels["alertname"] == "NormwatchWatchdog" && a.Labels["severity"] == "none" {
				return true
			}
		}
		return false
	}
	require.True(t, watchdog(), "the heartbeat is in Alertmanager")

	// The shipped Prometheus rule for the same condition fires, and in
	// Alertmanager it is inhibited by normwatch's own alert.
	t.Log("waiting for the Prometheus rule")
	waitFor(t, 60*time.Second, "the NormalizationDrift rule firing in Prometheus", func() (bool, string) {
		alerts, err := promAlerts(promURL)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			l := a.Labels
			if l["alertname"] == "NormalizationDrift" && l["diagnosis"] == "unscaled_input" && l["feature"] == "income" &&
				l["model_version"] == "v4" && a.State == "firing" {
				return true, ""
			}
		}
		return false, fmt.Sprint(alerts)
	})
	waitFor(t, 30*time.Second, "the Prometheus rule's alert in Alertmanager, inhibited by normwatch's", func() (bool, string) {
		alerts, err := amAlerts(amURL)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if a.Labels["source"] == "prometheus" && a.Labels["alertname"] == "NormalizationDrift" && a.Labels["feature"] == "income" {
				return a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0, fmt.Sprintf("%v %+v", a.Labels, a.Status)
			}
		}
		return false, "not there"
	})

	// The retrieval and activation signals of the demo's search v2: each
	// pushed by normwatch, and fired by the shipped rule with its figures
	// (inhibited in Alertmanager by normwatch's own).
	for _, sig := range []struct{ diagnosis, embedding, signal, summary string }{
		{"similarity_compressed", "query", "retrieval", "query on search v2: similarity scores compressed to "},
		{"activation_norm_change", "hidden", "activation", "hidden on search v2: activations fit rmsnorm, baseline layernorm: the normalization layer changed."},
	} {
		t.Log("waiting for " + sig.diagnosis)
		waitFor(t, 90*time.Second, sig.diagnosis+" of search v2 from normwatch and from the rule", func() (bool, string) {
			alerts, err := amAlerts(amURL)
			if err != nil {
				return false, err.Error()
			}
			own, rule := false, false
			var seen []string
			for _, a := range alerts {
				l := a.Labels
				if l["alertname"] != "EmbeddingDrift" || l["diagnosis"] != sig.diagnosis || l["model"] != "search" || l["model_version"] != "v2" || l["embedding"] != sig.embedding {
					continue
				}
				seen = append(seen, fmt.Sprintf("%v %v %s", l, a.Status.State, a.Annotations["summary"]))
				switch l["source"] {
				case "":
					own = l["severity"] == "critical"
				case "prometheus":
					rule = l["signal"] == sig.signal && strings.HasPrefix(a.Annotations["summary"], sig.summary) &&
						a.Status.State == "suppressed"
				}
			}
			return own && rule, strings.Join(seen, "; ")
		})
	}

	// The outcome curves of search v2: its relevance and recall fell
	// together, pushed by normwatch and fired by the shipped rule with
	// its points (inhibited by normwatch's own).
	t.Log("waiting for query_normalization_suspect")
	waitFor(t, 90*time.Second, "query_normalization_suspect of search v2 from normwatch and from the rule", func() (bool, string) {
		alerts, err := amAlerts(amURL)
		if err != nil {
			return false, err.Error()
		}
		own, rule := false, false
		var seen []string
		for _, a := range alerts {
			l := a.Labels
			if l["alertname"] != "OutcomeRegression" || l["diagnosis"] != "query_normalization_suspect" || l["model"] != "search" ||
				l["model_version"] != "v2" || l["outcome"] != "context_recall" {
				continue
			}
			seen = append(seen, fmt.Sprintf("%v %v %s", l, a.Status.State, a.Annotations["summary"]))
			switch l["source"] {
			case "":
				own = l["severity"] == "critical" && strings.Contains(a.Annotations["summary"], "inspect query-side normalization")
			case "prometheus":
				rule = strings.HasPrefix(a.Annotations["summary"], "context_recall on search v2: -") &&
					strings.HasSuffix(a.Annotations["summary"], "inspect query-side normalization.") && a.Status.State == "suppressed"
			}
		}
		return own && rule, strings.Join(seen, "; ")
	})

	// Every dashboard query has data.
	t.Log("querying the dashboards' expressions")
	for name, q := range dashboardQueries(t) {
		waitFor(t, 30*time.Second, "data for "+name+": "+q, func() (bool, string) {
			n, err := promQuery(promURL, q)
			if err != nil {
				return false, err.Error()
			}
			return n > 0, "no series"
		})
	}

	// The status page's history strips and the detail view drawn from the
	// daemon's own horizon and baseline: 99 Q–Q dots and the fit.
	page := get(t, nwURL+"/")
	require.Contains(t, page, `<svg class="strip"`)
	require.Contains(t, page, `data-diagnosis="unscaled_input"`)
	detail := get(t, nwURL+"/detail?model=ranker&model_version=v4&feature=income")
	require.Contains(t, detail, `data-diagnosis="unscaled_input"`)
	require.Contains(t, detail, `data-line="fit"`)
	require.Contains(t, detail, `data-line="skipped" data-slope="18300" data-intercept="52100"`)
	require.Equal(t, 99, strings.Count(detail, "<circle "), "the Q–Q plot from the horizon's sketches")
	require.Contains(t, detail, `<svg class="chart" id="hist"`)
	// The signals' rows of search v2 on the status page.
	search := get(t, nwURL+"/?model=search&model_version=v2")
	require.Contains(t, search, `data-signal="similarity"`)
	require.Contains(t, search, `data-signal="activation" data-fit="rmsnorm" data-baseline-fit="layernorm"`)

	// promtool's lint of normwatch's /metrics.
	lint := exec.Command(promtoolBin, "check", "metrics")
	lint.Stdin = strings.NewReader(get(t, nwURL+"/metrics"))
	lintOut, err := lint.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", lintOut)
	require.Empty(t, strings.TrimSpace(string(lintOut)), "promtool check metrics finds nothing")

	// Alertmanager away for a while: sends fail and the queue overflows;
	// once it is back (with no memory of alerts) the alert arrives again.
	sink := map[string]string{"sink": "alertmanager:" + amURL}
	before := get(t, nwURL+"/metrics")
	require.Zero(t, metric(before, "normwatch_alerts_dropped_total", sink))
	require.Positive(t, metric(before, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "ok"}))
	t.Log("stopping Alertmanager")
	require.NoError(t, am.stop(t, 10*time.Second))
	time.Sleep(8 * time.Second)
	during := get(t, nwURL+"/metrics")
	errorsBefore := metric(before, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "error"})
	require.Greater(t, metric(during, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "error"}), errorsBefore,
		"failed sends are counted")
	require.Positive(t, metric(during, "normwatch_alerts_dropped_total", sink), "the bounded queue dropped its oldest")
	require.Equal(t, metric(during, "normwatch_alerts_dropped_total", sink),
		metric(during, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "dropped"}))
	require.Positive(t, metric(during, "normwatch_alert_queue_length", sink))
	okDuring := metric(during, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "ok"})

	t.Log("starting Alertmanager again")
	am = startAM()
	waitFor(t, 30*time.Second, "normwatch's alert in the restarted Alertmanager", func() (bool, string) {
		a, detail := normwatchAlert()
		return a != nil, detail
	})
	require.True(t, watchdog())
	waitFor(t, 10*time.Second, "the queue drained", func() (bool, string) {
		m := get(t, nwURL+"/metrics")
		q := metric(m, "normwatch_alert_queue_length", sink)
		return q == 0 && metric(m, "normwatch_alerts_sent_total", map[string]string{"sink": sink["sink"], "result": "ok"}) > okDuring,
			fmt.Sprintf("queue length %v", q)
	})

	// v4 healed: the alert resolves in normwatch and in Alertmanager; the
	// heartbeat stays.
	t.Log("healing v4")
	require.NoError(t, nw.cmd.Process.Signal(syscall.SIGUSR1))
	waitFor(t, 60*time.Second, "NormalizationDrift resolved in Alertmanager", func() (bool, string) {
		a, detail := normwatchAlert()
		return a == nil, detail
	})
	// The demo prints the change as its own sink is told, which may come
	// a moment after Alertmanager's.
	waitFor(t, 10*time.Second, "the demo printed the resolve", func() (bool, string) {
		return strings.Contains(nw.output(), "RESOLVED NormalizationDrift [unscaled_input] income v4"), ""
	})
	require.True(t, watchdog())

	// SIGTERM stops the monitor cleanly.
	require.NoError(t, nw.stop(t, 30*time.Second))
}
