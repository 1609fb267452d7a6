package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDemoNamesTheBugs runs `monitor demo` end to end (embedded broker over
// TCP, baselines built from generated training data, the daemon, live
// traffic) with short windows, and checks that both of v4's bugs are named.
func TestDemoNamesTheBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo for about 25 s")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()

	// The demo runs until it has printed every alert the test waits for
	// (at most 3 minutes: a loaded machine, or the race detector, slow
	// its traffic and the windows it takes), then 6 s more, so that an
	// alert printed twice or resolved would show.
	var stdout syncBuffer
	var stderr bytes.Buffer
	start := time.Now()
	demoStop = make(chan struct{})
	defer func() { demoStop = nil }()
	done := make(chan int, 1)
	go func() {
		done <- runDemo([]string{"--window", "2s", "--duration", "3m", "--http.listen", addr, "--dir", t.TempDir()}, &stdout, &stderr)
	}()
	wanted := []string{"[unscaled_input]", "[embedding_mixed_norms]", "[similarity_compressed]", "[activation_norm_change]",
		"[outcome_regression]", "[query_normalization_suspect]"}
	var seen time.Time
	for ; ; time.Sleep(200 * time.Millisecond) {
		all, so := true, stdout.String()
		for _, w := range wanted {
			all = all && strings.Contains(so, w)
		}
		if all && seen.IsZero() {
			seen = time.Now()
		}
		if (!seen.IsZero() && time.Since(seen) > 6*time.Second) || time.Since(start) > 3*time.Minute {
			break
		}
	}
	close(demoStop)
	code := <-done
	out := stdout.String()
	t.Logf("demo ran %v\n%s", time.Since(start).Round(time.Second), out)
	require.Equal(t, 0, code, stderr.String())

	require.Contains(t, out, "FIRING   NormalizationDrift critical [unscaled_input]")
	require.Contains(t, out, "income on ranker v4:")
	require.Contains(t, out, "the z-score scaler (mean 52100, std 18300) looks skipped at serving")
	require.Contains(t, out, "FIRING   EmbeddingDrift")
	require.Contains(t, out, "[embedding_mixed_norms]")
	require.Contains(t, out, "query on ranker v4:")
	// The second model: search v2's query side lost its L2
	// normalization, and its LayerNorm became an RMSNorm.
	require.Contains(t, out, "FIRING   EmbeddingDrift critical [similarity_compressed]")
	require.Contains(t, out, "query on search v2: similarity scores compressed to a band")
	require.Contains(t, out, "while documents are: L2 normalization is missing on the query side. With it, a retrieval regression: recall@10 of the frozen queries fell to 0.")
	require.Contains(t, out, "FIRING   EmbeddingDrift critical [activation_norm_change]")
	require.Contains(t, out, "hidden on search v2: activations fit RMSNorm")
	require.Contains(t, out, "baseline LayerNorm")
	// Its outcomes: the pass rate dropped as relevance and recall fell
	// together, against v1.
	require.Contains(t, out, "OutcomeRegression critical [outcome_regression]")
	require.Contains(t, out, "eval_pass on search v2: the rate fell to")
	require.Contains(t, out, "OutcomeRegression critical [query_normalization_suspect]")
	require.Contains(t, out, "context_recall on search v2: context_recall and context_relevance fell together against the previous version v1")
	require.Contains(t, out, "inspect query-side normalization.")
	// A URL a person can click, and each alert printed once, not also
	// logged.
	_, port, _ := net.SplitHostPort(addr)
	require.Contains(t, out, "status page:       http://localhost:"+port+"/\n")
	// An alert is its FIRING line and the summary under it (two outcomes
	// that fell together share the first).
	firing := map[string]int{}
	lines := strings.Split(out, "\n")
	for k, line := range lines {
		if i := strings.Index(line, "FIRING"); i >= 0 && k+1 < len(lines) {
			firing[line[i:]+"\n"+lines[k+1]]++
		}
	}
	require.NotEmpty(t, firing)
	// The bugs stay (no --bugs-for): nothing resolves, not even an
	// outcome on thin traffic.
	require.NotContains(t, out, "RESOLVED")
	for l, n := range firing {
		require.Equal(t, 1, n, "printed %d times: %s", n, l)
	}
	require.NotContains(t, stderr.String(), "alert firing", "the demo prints alerts; the log does not repeat them")
	// The healthy version never alerts.
	for _, line := range strings.Split(out, "\n") {
		require.NotContains(t, line, "on ranker v3", "v3 is healthy")
		require.NotContains(t, line, "on search v1", "search v1 is healthy")
	}
}
