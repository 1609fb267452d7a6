package process

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/engine"
)

// alertmanagerBin is Debian's prometheus-alertmanager, as test/e2e runs it.
const alertmanagerBin = "/usr/bin/prometheus-alertmanager"

// startAlertmanager runs a real Alertmanager on loopback with the
// repository's configuration until the test ends, and returns its URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(alertmanagerBin); err != nil {
		t.Skipf("%s is not installed (Debian: apt-get install prometheus-alertmanager; .ci/run does): %v", alertmanagerBin, err)
	}
	port := freePort(t)
	cfg, err := filepath.Abs(filepath.Join("..", "..", "deployments", "alertmanager", "alertmanager.yml"))
	require.NoError(t, err)
	cmd := exec.Command(alertmanagerBin, "--config.file="+cfg, "--storage.path="+t.TempDir(),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "alertmanager ready", 20*time.Second, func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

func alertsOf(t *testing.T, url string) []amAlert {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []amAlert
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// buildBaselines writes ranker v1's baseline into each named daemon's
// baselines directory (startDaemon's: beside the test's temporary
// directories): a, b and c as the events carry them, c declared z-scored
// with mean 52100 and std 18300 while the events carry it raw, the
// scaler forgotten at serving.
func buildBaselines(t *testing.T, names ...string) {
	t.Helper()
	work := t.TempDir()
	var csv strings.Builder
	csv.WriteString("a,b,c\n")
	r := rand.New(rand.NewPCG(11, 13))
	for i := range 4000 {
		b, c := strconv.FormatFloat(float64(i%100)*0.25-3, 'g', -1, 64), strconv.FormatFloat(r.NormFloat64(), 'g', -1, 64)
		if i%7 == 0 {
			b = ""
		}
		if i%11 == 0 {
			c = ""
		}
		fmt.Fprintf(&csv, "%g,%s,%s\n", 10+3*r.NormFloat64(), b, c)
	}
	train := filepath.Join(work, "train.csv")
	require.NoError(t, os.WriteFile(train, []byte(csv.String()), 0o644))
	scaler := filepath.Join(work, "scaler.yml")
	require.NoError(t, os.WriteFile(scaler, []byte("features:\n  c: {kind: zscore, mean: 52100, std: 18300}\n"), 0o644))
	parent := filepath.Dir(t.TempDir())
	for _, name := range names {
		out := filepath.Join(parent, "baselines-"+name)
		cmd := exec.Command(monitorBin, "baseline", "build", "--input", train, "--model", model, "--model-version", versions[0],
			"--scaler", scaler, "--out", out)
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", b)
	}
}

var judgedLine = regexp.MustCompile(`time=(\S+) .*msg="window judged".* model=(\S+) model_version=(\S+) window_start=(\S+)`)

// judged counts, per version and window, the "window judged" lines of d.
func (d *daemon) judged() map[string]int {
	out := map[string]int{}
	for _, m := range judgedLine.FindAllStringSubmatch(d.stderr(), -1) {
		out[m[3]+"@"+m[4]]++
	}
	return out
}

// judgedAt returns when d last judged each version and window.
func (d *daemon) judgedAt(t *testing.T) map[string]time.Time {
	out := map[string]time.Time{}
	for _, m := range judgedLine.FindAllStringSubmatch(d.stderr(), -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		require.NoError(t, err)
		out[m[3]+"@"+m[4]] = at
	}
	return out
}

// TestClusterJudgesOnce: the cluster of TestClusterKillJoinPause in
// evaluation.mode cluster, with a real Alertmanager and ranker v1's
// baseline declaring c z-scored (the events carry it raw). Three
// processes on 6 partitions; one killed with SIGKILL mid stream, a fourth
// joining, another paused past the session timeout and resumed. Every
// window of each version is judged, each once but for the windows the
// killed process judged after its stage's last checkpoint, or the paused
// one just before its pause (judged again by the process that restored
// it); the exact counts are in the cumulative
// view of the process that judges the model; and Alertmanager holds one
// alert for the cause, not one per process.
func TestClusterJudgesOnce(t *testing.T) {
	const n = 12000
	amURL := startAlertmanager(t)
	names := []string{"a", "b", "c", "d"}
	buildBaselines(t, names...)
	c := newCluster(t, clusterPartitions,
		"NORMWATCH_EVALUATION_MODE=cluster",
		"NORMWATCH_EVALUATION_PARTIALS_TOPIC="+uniqueName(t, "partials"),
		"NORMWATCH_EVALUATION_PARTIALS_PARTITIONS=3",
		"NORMWATCH_EVALUATION_MAX_WAIT=30s",
		"NORMWATCH_ALERTING_ALERTMANAGER_URLS="+amURL,
		"NORMWATCH_ALERTING_RESEND_INTERVAL=1s",
	)
	a, b, d3 := c.start(names[0]), c.start(names[1]), c.start(names[2])
	if dir := os.Getenv("NORMWATCH_TEST_LOGS"); dir != "" {
		t.Cleanup(func() {
			for _, d := range c.member {
				_ = os.WriteFile(filepath.Join(dir, d.name+".log"), []byte(d.stderr()), 0o644)
			}
		})
	}
	waitFor(t, "three members holding partitions", 45*time.Second, func() bool {
		return c.settled(clusterPartitions) && len(a.held()) > 0 && len(b.held()) > 0 && len(d3.held()) > 0
	})

	producerDone := produceInBackground(c.b.addrs, c.cfg.topic, 0, 3*n/4, 40*time.Millisecond)
	waitFor(t, "a fifth of the stream consumed, and checkpoints written", 45*time.Second, func() bool {
		return c.metric("normwatch_events_total") >= n/5 && a.metric(`normwatch_checkpoints_total{result="ok"}`) > 0
	})
	killedAt := time.Now()
	a.kill9()
	waitFor(t, "a's partitions taken over", 45*time.Second, func() bool { return c.settled(clusterPartitions) })
	d4 := c.start(names[3])
	waitFor(t, "the fourth member holding partitions", 45*time.Second, func() bool {
		return len(d4.held()) > 0 && c.settled(clusterPartitions)
	})
	c.pause(b)
	pausedAt := time.Now()
	waitFor(t, "b's partitions moved while it is paused", 45*time.Second, func() bool { return c.settled(clusterPartitions) })
	time.Sleep(max(0, 2*sessionTimeout-time.Since(pausedAt)))
	require.NoError(t, producerDone())
	c.resume(b)
	resumedAt := time.Now()
	mustProduce(t, c.b.addrs, c.cfg.topic, 3*n/4, n)

	// Every window judged: the stream's windows, of both versions.
	windows := int(math.Ceil(float64(n) * float64(eventStep) / float64(windowSize)))
	all := []*daemon{a, b, d3, d4}
	counts := func() map[string]map[string]int {
		out := map[string]map[string]int{}
		for _, d := range all {
			for k, v := range d.judged() {
				if out[k] == nil {
					out[k] = map[string]int{}
				}
				out[k][d.name] += v
			}
		}
		return out
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(counts()) < 2*windows && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := counts(); len(got) < 2*windows {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("%d of %d windows judged: %v", len(got), 2*windows, keys)
	}
	time.Sleep(2 * windowSize) // room for a second judgement, were there one

	// Exact counts, in the view of the process that judges the model.
	want := expect(n, nil)
	for _, v := range versions {
		var best *engine.CumulativeStats
		waitFor(t, "the judge's cumulative view of "+v+" complete", 30*time.Second, func() bool {
			best = nil
			for _, d := range c.live() {
				if cs, ok := d.cumulative()[v]; ok && (best == nil || cs.Events > best.Events) {
					best = cs
				}
			}
			return best != nil && best.Events == want[v].Events
		})
		requireStats(t, want[v], best)
	}

	judgedTwice, byKilled := 0, 0
	keys := make([]string, 0)
	for k := range counts() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		by := counts()[k]
		total := 0
		for _, v := range by {
			total += v
		}
		if total == 1 {
			continue
		}
		judgedTwice++
		t.Logf("%s judged %d times: %v", k, total, by)
		// At least once: the judgements the killed process made after
		// its stage's last checkpoint, and those the paused one made
		// just before its pause after its last, are made again where
		// the partition is restored.
		require.Positive(t, by[a.name]+by[b.name], "%s judged twice, not by the killed or paused process: %v", k, by)
		// Within a checkpoint interval (and the checkpoint's own time)
		// of the kill or the pause: the stage's checkpoints cover the rest.
		// Or by the paused process after it resumed, before it learnt of
		// the rebalance: a zombie's judgement, whose alert changes the
		// fence withholds.
		if by[a.name] > 0 {
			require.WithinDuration(t, killedAt, a.judgedAt(t)[k], 2*checkpointInterval,
				"%s judged by the killed process a checkpoint interval or more before it was killed", k)
		}
		if at := b.judgedAt(t)[k]; by[b.name] > 0 && at.Before(resumedAt) {
			require.WithinDuration(t, pausedAt, at, 2*checkpointInterval,
				"%s judged by the paused process a checkpoint interval or more before its pause", k)
		}
		require.Equal(t, 2, total, "%s: %v", k, by)
		byKilled++
	}
	require.Len(t, keys, 2*windows, "windows judged: %v", keys)
	t.Logf("%d windows of %d versions judged; %d judged twice, all by the killed or paused process and its successor; b resumed %v before the end",
		len(keys), len(versions), judgedTwice, time.Since(resumedAt).Round(time.Millisecond))

	// One alert per cause in Alertmanager: c's scaler skipped on v1, also
	// when the model's judging moved (its alert state moves with its
	// stage partition's checkpoint).
	judges := map[string]bool{}
	for _, by := range counts() {
		for name := range by {
			judges[name] = true
		}
	}
	var mine []amAlert
	waitFor(t, "the cause's alert in alertmanager", 30*time.Second, func() bool {
		mine = mine[:0]
		for _, al := range alertsOf(t, amURL) {
			if al.Labels["model"] == model {
				mine = append(mine, al)
			}
		}
		return len(mine) > 0
	})
	t.Logf("the model judged by %v", judges)
	subjects := map[string]int{}
	for _, al := range mine {
		subjects[al.Labels["model_version"]+"/"+al.Labels["feature"]+al.Labels["embedding"]]++
		t.Logf("alert: %v (%s)", al.Labels, al.Status.State)
	}
	for s, k := range subjects {
		require.Equal(t, 1, k, "alerts for %s in alertmanager", s)
	}
	require.Equal(t, 1, subjects[versions[0]+"/c"], "the cause: c unscaled on v1")
	for _, al := range mine {
		if al.Labels["feature"] == "c" {
			require.Equal(t, "unscaled_input", al.Labels["diagnosis"])
			require.Equal(t, "NormalizationDrift", al.Labels["alertname"])
		}
	}
	for _, d := range c.live() {
		d.stop()
	}
}
