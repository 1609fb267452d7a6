package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestRollingDeploy runs `monitor run` with the shipped caps (5 versions
// per model) through a rolling deploy of one model over 30 versions, each
// live for four windows and overlapping the next for two (a canary beside
// the live one), against a real Alertmanager with the shipped
// configuration. Every other version carries a scaler bug, so each version
// differs from the previous one it is compared with, and pages. While it
// runs the newest version is always tracked and every version is
// evaluated while live; /metrics stays bounded; at the end every version's
// alerts are resolved in Alertmanager, the versions retired or evicted,
// and /api/v1/series lists them with why.
func TestRollingDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if raceEnabled {
		t.Skip("end-to-end: runs in the plain pass of scripts/test.sh, not again under -race")
	}
	requireBinaries(t, alertmanagerBin)
	repo := root(t)
	tmp := t.TempDir()
	monitor := filepath.Join(tmp, "monitor")
	build := exec.Command("go", "build", "-o", monitor, "./cmd/monitor")
	build.Dir = repo
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	amPort, nwPort := freePort(t), freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	nwURL := fmt.Sprintf("http://127.0.0.1:%d", nwPort)
	start(t, "alertmanager", alertmanagerBin, "--config.file="+filepath.Join(repo, "deployments", "alertmanager", "alertmanager.yml"),
		"--storage.path="+filepath.Join(tmp, "am"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address=")
	waitFor(t, 30*time.Second, "Alertmanager up", func() (bool, string) {
		_, err := amAlerts(amURL)
		return err == nil, fmt.Sprint(err)
	})

	const (
		versions = 30
		window   = time.Second
		live     = 4 * window // each version's traffic
		stride   = 2 * window // a new version every two windows: two live at once
	)
	require.NoError(t, exec.Command("mkdir", "-p", filepath.Join(tmp, "baselines")).Run())
	nw := start(t, "monitor", monitor, "run", "--kafka.embedded", "--kafka.topics", "events",
		"--window.size", window.String(), "--window.allowed_lateness", "0s", "--window.min_samples", "100",
		"--limits.version_stale_after", "3s", "--limits.version_idle_timeout", "8s",
		"--checkpoint.dir", filepath.Join(tmp, "ckpt"), "--checkpoint.interval", "1s",
		"--baselines.dir", filepath.Join(tmp, "baselines"),
		"--http.listen", fmt.Sprintf("127.0.0.1:%d", nwPort),
		"--alerting.alertmanager_urls", amURL, "--alerting.resend_interval", "1s", "--log.level", "info")
	var broker string
	addr := regexp.MustCompile(`embedded Kafka-protocol broker.* addr=(\S+)`)
	waitFor(t, 30*time.Second, "the embedded broker's address in the log", func() (bool, string) {
		if m := addr.FindStringSubmatch(nw.output()); m != nil {
			broker = m[1]
			return true, ""
		}
		return false, nw.output()
	})
	waitFor(t, 30*time.Second, "normwatch ready", func() (bool, string) {
		code, _ := status(nwURL + "/readyz")
		return code == 200, fmt.Sprint(code)
	})

	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: "events", BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne}
	defer w.Close()
	event := func(v int, r *rand.Rand) kafka.Message {
		x := r.NormFloat64()
		if v%2 == 1 {
			x = 52100 + 18300*x // this version skips the scaler
		}
		return kafka.Message{Value: fmt.Appendf(nil, `{"ts":%d,"model":"ranker","model_version":"v%d","features":{"income":%g}}`,
			time.Now().UnixMilli(), v, x)}
	}

	type seen struct {
		mu        sync.Mutex
		evaluated map[string]bool
		paged     map[string]bool
		maxSeries int
		maxRSS    int64 // KiB
	}
	obs := seen{evaluated: map[string]bool{}, paged: map[string]bool{}}
	var newestMissing []string
	began := time.Now()
	r := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for tick := 0; ; tick++ {
		now := time.Since(began)
		var liveNow []int
		for v := range versions {
			if s := time.Duration(v) * stride; now >= s && now < s+live {
				liveNow = append(liveNow, v)
			}
		}
		if len(liveNow) == 0 && now > time.Duration(versions)*stride {
			break
		}
		var msgs []kafka.Message
		for _, v := range liveNow {
			for range 25 { // 250 events a second per live version
				msgs = append(msgs, event(v, r))
			}
		}
		require.NoError(t, w.WriteMessages(ctx, msgs...))
		if tick%5 == 0 && len(liveNow) > 0 {
			newest := fmt.Sprintf("v%d", liveNow[len(liveNow)-1])
			var series []struct {
				Version string `json:"model_version"`
				State   string `json:"state"`
			}
			require.NoError(t, getJSON(nwURL+"/api/v1/series", &series))
			found := false
			for _, s := range series {
				if s.Version == newest && s.State == "active" {
					found = true
				}
			}
			// The newest is admitted with its first event; it may be a
			// few events away at the very start of its life.
			if !found && now-time.Duration(liveNow[len(liveNow)-1])*stride > window {
				newestMissing = append(newestMissing, newest)
			}
			var evs []struct {
				Version string `json:"model_version"`
			}
			require.NoError(t, getJSON(nwURL+"/api/v1/evaluations", &evs))
			as, _ := amAlerts(amURL)
			m := get(t, nwURL+"/metrics")
			obs.mu.Lock()
			for _, e := range evs {
				obs.evaluated[e.Version] = true
			}
			for _, a := range as {
				if a.Labels["model"] == "ranker" && a.Status.State == "active" {
					obs.paged[a.Labels["model_version"]] = true
				}
			}
			obs.maxSeries = max(obs.maxSeries, seriesCount(m))
			obs.maxRSS = max(obs.maxRSS, rssKiB(nw.cmd.Process.Pid))
			obs.mu.Unlock()
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Empty(t, newestMissing, "the newest version was not tracked")
	for v := 1; v < versions; v++ { // v0 has nothing before it to be compared with
		require.True(t, obs.evaluated[fmt.Sprintf("v%d", v)], "v%d was never evaluated while live", v)
	}
	require.GreaterOrEqual(t, len(obs.paged), versions/2, "versions paged in Alertmanager: %v", obs.paged)
	t.Logf("%d versions evaluated, %d paged; /metrics at most %d series; RSS at most %d MiB", len(obs.evaluated), len(obs.paged), obs.maxSeries, obs.maxRSS>>10)
	require.Less(t, obs.maxSeries, 1500, "/metrics bounded by the caps, not by the 30 versions")
	require.Less(t, obs.maxRSS, int64(200<<10), "memory bounded by the caps")

	// Traffic over: every version goes stale then retires, and every
	// alert resolves in Alertmanager.
	waitFor(t, 60*time.Second, "no normwatch alert of ranker active in Alertmanager", func() (bool, string) {
		as, err := amAlerts(amURL)
		if err != nil {
			return false, err.Error()
		}
		var active []string
		for _, a := range as {
			if a.Labels["model"] == "ranker" && a.Status.State == "active" {
				active = append(active, a.Labels["model_version"]+"/"+a.Labels["alertname"])
			}
		}
		return len(active) == 0, strings.Join(active, " ")
	})
	waitFor(t, 30*time.Second, "every version retired or evicted", func() (bool, string) {
		var series []struct {
			Version string `json:"model_version"`
			State   string `json:"state"`
			Reason  string `json:"reason"`
		}
		if err := getJSON(nwURL+"/api/v1/series", &series); err != nil {
			return false, err.Error()
		}
		left := 0
		for _, s := range series {
			if s.State == "active" || s.State == "stale" {
				return false, s.Version + " still " + s.State
			}
			if s.Reason != "" {
				left++
			}
		}
		return left >= 20, fmt.Sprintf("%d listed as left", left)
	})
	logs := nw.output()
	require.Contains(t, logs, "model version retired")
	require.NotContains(t, logs, "level=ERROR")
	require.NoError(t, nw.stop(t, 30*time.Second))
}

// seriesCount counts the samples of a Prometheus text exposition.
func seriesCount(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// status GETs u and returns the status code.
func status(u string) (int, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// rssKiB returns the resident set size of process pid, in KiB (0 if it
// cannot be read).
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
