package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/demo"
	"github.com/normwatch/normwatch/pkg/engine"
)

// gateCmd runs `monitor gate` with args, as the binary does.
func gateCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runMain(append([]string{"gate"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestDaemonGate runs the gate through the daemon's whole path: events
// of the demo's ranker produced over the Kafka protocol to the embedded
// broker, three versions on the same traffic: v3 live (its baseline),
// v3.1 a healthy candidate declared in the configuration, v4 a candidate
// marked by its events' route header whose income skips its z-score
// scaler and 31% of whose query vectors are not normalized. `monitor
// gate` answers pending for v3.1 after one window, clear once
// gate.min_windows were compared, blocked for v4 from its first window
// with the reason named against live, and no answer (exit 4) for a
// version that is not a candidate.
func TestDaemonGate(t *testing.T) {
	cfg := testConfig(t)
	writeDemoBaseline(t, cfg.Baselines.Dir, demo.Healthy)
	cfg.Window.Size, cfg.Window.AllowedLateness = time.Second, 0
	cfg.Limits.VersionStaleAfter = 30 * time.Minute // the test's pauses are not staleness
	cfg.Gate.Candidates = []config.Candidate{{Model: demo.Model, ModelVersion: "v3.1"}}
	cfg.Log.Level = "info"
	d, logs, _ := testDaemon(t, cfg)
	base := "http://" + d.server.Addr()

	w := &kafka.Writer{Addr: kafka.TCP(d.brokers...), Topic: cfg.Kafka.Topics[0], BatchTimeout: time.Millisecond, Balancer: &kafka.Hash{},
		BatchSize: 1000, BatchBytes: 4 << 20} // a window a batch: no idle second inside one
	defer w.Close()
	g := demo.NewGenerator(demo.DefaultOptions(), 1)
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	produce := func(from, to int) {
		var msgs []kafka.Message
		for k := from; k < to; k++ {
			for i := range 300 {
				ts := start.Add(time.Duration(k)*time.Second + time.Duration(i)*time.Second/301)
				for _, v := range []string{demo.Healthy, "v3.1", demo.Buggy} {
					m := kafka.Message{Key: []byte("k"), Value: append([]byte(nil), g.Event(v, ts)...)}
					if v == demo.Buggy {
						m.Headers = []kafka.Header{{Key: "route", Value: []byte("shadow")}}
					}
					msgs = append(msgs, m)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, w.WriteMessages(ctx, msgs...))
	}
	compared := func(version string) int {
		a, err := d.engine.Gate(demo.Model, version)
		require.NoError(t, err)
		return a.WindowsCompared
	}

	// One window: too little evidence for clear, enough to block.
	produce(0, 1)
	require.Eventually(t, func() bool { return compared("v3.1") >= 1 && compared(demo.Buggy) >= 1 }, 30*time.Second, 50*time.Millisecond, logs.String())
	code, out, errOut := gateCmd("--url", base, "--model", demo.Model, "--model-version", "v3.1")
	require.Equal(t, 3, code, out+errOut)
	require.Contains(t, out, "ranker v3.1: pending (exit 3), against live v3 (the most traffic), 1 window compared (3 needed)")
	require.Contains(t, out, "1 of 3 windows compared with live v3 so far")

	code, out, errOut = gateCmd("--url", base, "--model", demo.Model, "--model-version", demo.Buggy)
	require.Equal(t, 2, code, out+errOut)
	require.Contains(t, out, "ranker v4: blocked (exit 2), against live v3")
	// The events carry raw income beside the normalized: the pairs name it.
	require.Regexp(t, `\n  critical income on ranker v4 against live v3: serving passes raw values through unchanged \(normalized = raw over \d+ pairs\): the z-score scaler \(mean 52100, std 18300\) looks skipped at serving\.\n`, out)
	require.Regexp(t, `query on ranker v4 against live v3: [^\n]*candidate vectors[^\n]*normalized and unnormalized vectors are mixed`, out)

	// JSON for machines: the answer with its figures.
	code, out, _ = gateCmd("--url", base, "--model", demo.Model, "--model-version", demo.Buggy, "--output", "json")
	require.Equal(t, 2, code)
	var a engine.GateAnswer
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	require.Equal(t, engine.GateBlocked, a.State)
	require.Equal(t, "v3", a.Live)
	require.NotNil(t, a.AgainstLive)
	// The same traffic: each request's three events are consecutive, so
	// the counts are equal (but for a request cut by the window's close).
	require.InDelta(t, a.AgainstLive.LiveEvents, a.AgainstLive.Events, 1)
	require.InDelta(t, 300, a.AgainstLive.Events, 60)
	var diag []string
	for _, r := range a.Reasons {
		if r.Against == "live" {
			diag = append(diag, r.Feature+r.Embedding+"="+string(r.Diagnosis))
		}
	}
	require.Contains(t, diag, "income=unscaled_input")
	require.Contains(t, diag, "query=embedding_mixed_norms")

	// Enough windows: the healthy candidate clears, and a pipeline
	// waiting on it (--wait) is let through.
	type result struct {
		code        int
		out, errOut string
	}
	waited := make(chan result, 1)
	go func() {
		code, out, errOut := gateCmd("--url", base, "--model", demo.Model, "--model-version", "v3.1", "--wait", "60s", "--interval", "200ms")
		waited <- result{code, out, errOut}
	}()
	time.Sleep(500 * time.Millisecond) // it asks, and hears pending, before the windows come
	produce(1, 4)
	var r result
	select {
	case r = <-waited:
	case <-time.After(70 * time.Second):
		t.Fatalf("monitor gate --wait did not return\n%s", logs)
	}
	require.Equal(t, 0, r.code, r.out+r.errOut)
	require.Contains(t, r.out, "ranker v3.1: clear (exit 0), against live v3 (the most traffic)")
	require.Contains(t, r.errOut, "monitor gate: ranker v3.1 pending (1 of 3 windows compared); asking again in 200ms")
	require.GreaterOrEqual(t, compared("v3.1"), 3)
	code, _, _ = gateCmd("--url", base, "--model", demo.Model, "--model-version", demo.Buggy)
	require.Equal(t, 2, code)

	// Not a candidate, or not there at all: no answer, said plainly.
	code, out, errOut = gateCmd("--url", base, "--model", demo.Model, "--model-version", demo.Healthy)
	require.Equal(t, 4, code, out)
	require.Contains(t, errOut, `monitor gate: the daemon at `+base+`: model "ranker" version "v3" is not a candidate: tracked, but neither declared`)
	require.Contains(t, errOut, "; the candidates are ranker v3.1, ranker v4 (HTTP 404)")
	code, _, errOut = gateCmd("--url", base, "--model", demo.Model, "--model-version", "v9")
	require.Equal(t, 4, code)
	require.Contains(t, errOut, `version "v9" is not a candidate: no events`)

	// The API lists every candidate; metrics and the status page show them.
	resp, err := http.Get(base + "/api/v1/gate")
	require.NoError(t, err)
	var all []engine.GateAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&all))
	resp.Body.Close()
	require.Len(t, all, 2)
	_, metrics := httpGet(t, base+"/metrics")
	require.Contains(t, metrics, `normwatch_candidate_gate{model="ranker",model_version="v3.1"} 0`)
	require.Contains(t, metrics, `normwatch_candidate_gate{model="ranker",model_version="v4"} 2`)
	require.Contains(t, metrics, `normwatch_candidate_live_info{live_version="v3",model="ranker",model_version="v4"} 1`)
	require.Contains(t, metrics, `normwatch_candidate_status{diagnosis="unscaled_input",embedding="",feature="income",model="ranker",model_version="v4"} 2`)
	require.Regexp(t, `normwatch_candidate_windows_compared\{model="ranker",model_version="v3.1"\} [3-9]`, metrics)
	_, page := httpGet(t, base+"/")
	require.Contains(t, page, `<tr class="gate" data-model="ranker" data-model-version="v4" data-state="blocked" data-code="2" data-live="v3"`)
	require.Contains(t, page, `data-model-version="v3.1" data-state="clear" data-code="0"`)

	require.Contains(t, logs.String(), `msg="model version marked a candidate by its events' route: it is compared with the live version of its model on the same windows" component=engine model=ranker model_version=v4`)
	require.Regexp(t, `msg="candidate gate" component=engine model=ranker model_version=v3.1 live_version=v3 state=clear was=pending`, logs.String())
	require.NotContains(t, logs.String(), "level=ERROR")
}

// TestGateFlags: flag errors are loud and never read as an answer.
func TestGateFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--model-version", "v2"}, "monitor gate: --model: is required"},
		{"bad output", []string{"--model", "m", "--model-version", "v2", "--output", "yaml"}, `monitor gate: --output: "yaml" is not text or json`},
		{"bad url", []string{"--model", "m", "--model-version", "v2", "--url", "localhost:10308"}, `monitor gate: --url: "localhost:10308" is not an http(s)://host:port URL`},
		{"unknown flag", []string{"--model", "m", "--modelversion", "v2"}, "monitor gate: --modelversion: unknown flag; did you mean --model-version?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := gateCmd(tt.args...)
			require.Equal(t, 4, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tt.want)
			require.Contains(t, errOut, "Usage: monitor gate")
		})
	}
	// No daemon there: no answer.
	code, _, errOut := gateCmd("--url", "http://127.0.0.1:1", "--model", "m", "--model-version", "v2")
	require.Equal(t, 4, code)
	require.Contains(t, errOut, "asking the daemon at http://127.0.0.1:1")
	require.True(t, strings.HasSuffix(strings.TrimSpace(errOut), "(is it running? --url sets its address)"), errOut)
}
