package export

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium package, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium with args and the flags that keep it
// quiet, offline and out of the user's profile, and returns its stdout.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium %v: %s", args, stderr.String())
	return string(out)
}

// The status page in a real browser, on the demo's traffic: the page
// loads, lists the demo's features, draws its plots, and leaves a
// screenshot in $NORMWATCH_ARTIFACTS (default: the test's temp dir).
func TestStatusPageChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless Chromium test skipped: %s not found (Debian: apt-get install chromium)", chromiumPath)
	}
	if testing.Short() {
		t.Skip("headless Chromium test skipped in -short mode")
	}
	snaps := demoSnapshots(t)
	reg := prometheus.NewRegistry()
	src := SourceFunc(func() []Snapshot { return snaps })
	reg.MustRegister(NewCollector(src))
	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, Source: src, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	go func() { _ = s.Run() }()
	defer s.Stop()
	url := "http://" + s.Addr() + "/"

	dom := chromium(t, "--dump-dom", url)
	require.Contains(t, dom, "<h1>normwatch</h1>")
	for _, v := range []string{"ranker v3", "ranker v4"} {
		require.Contains(t, dom, v)
	}
	for _, f := range []string{"age", "income", "session_seconds", "retrieval_score", "clicks_7d", "query"} {
		require.Regexp(t, `<tr class="row r\d" data-name="`+f+`">`, dom, "the table lists %s", f)
	}
	// The buggy version's named findings.
	require.Contains(t, dom, string(drift.UnscaledInput))
	require.Contains(t, dom, "income on ranker v4: ")
	// One plot per feature and embedding of both versions, each with a
	// baseline and a current curve with real points.
	svgs := regexp.MustCompile(`(?s)<svg[^>]*>.*?</svg>`).FindAllString(dom, -1)
	require.Len(t, svgs, 12, "one plot per row")
	pts := regexp.MustCompile(`<polyline class="(ref|cur)[^"]*" points="([^"]+)"`)
	for _, svg := range svgs {
		lines := pts.FindAllStringSubmatch(svg, -1)
		require.Len(t, lines, 2, svg)
		for _, l := range lines {
			require.GreaterOrEqual(t, len(strings.Fields(l[2])), 7, "points of %s: %s", l[1], l[2])
			require.NotContains(t, l[2], "NaN")
		}
	}

	dir := os.Getenv("NORMWATCH_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot, err := filepath.Abs(filepath.Join(dir, "status-page.png"))
	require.NoError(t, err)
	_ = os.Remove(shot)
	chromium(t, "--screenshot="+shot, "--window-size=1400,2000", url)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	head := make([]byte, 8)
	_, err = io.ReadFull(f, head)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG\r\n\x1a\n", string(head))
	st, err := f.Stat()
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(10_000), "a blank page is smaller")
	t.Logf("status page screenshot: %s", shot)
}
