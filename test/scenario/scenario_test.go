package scenario

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	sizeFlag   = flag.String("scenario.size", "small", "suite to run: small (CI) or full")
	updateFlag = flag.Bool("scenario.update", false, "rewrite testdata/<size>.json with this run's verdicts")
	onlyFlag   = flag.String("scenario.only", "", "run only the scenarios whose ID matches this regexp (no regression check)")
	outFlag    = flag.String("scenario.out", "", "write the table, the details and the daemon's log under this directory")
)

// TestScenarios runs a suite through `monitor run` and prints its table.
// The small suite (about a minute on two cores) fails on any regression
// against the verdicts recorded in testdata/small.json: a scenario no
// longer detected or named, named later, a false alarm, two alerts at once
// for one subject, a lost share, more flips.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("scenario suite: skipped with -short")
	}
	if raceEnabled {
		t.Skip("scenario suite: runs in the plain pass of scripts/test.sh, not again under -race")
	}
	size := Small
	switch *sizeFlag {
	case "small":
	case "full":
		size = Full
	default:
		t.Fatalf("-scenario.size %q: want small or full", *sizeFlag)
	}
	dir := t.TempDir()
	monitor := filepath.Join(dir, "monitor")
	build := exec.Command("go", "build", "-o", monitor, "github.com/normwatch/normwatch/cmd/monitor")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	opts := Options{Size: size, Monitor: monitor, Dir: dir, Progress: testWriter{t}}
	if *onlyFlag != "" {
		opts.Only = regexp.MustCompile(*onlyFlag)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	res, err := Run(ctx, opts)
	require.NoError(t, err)

	var table, details strings.Builder
	require.NoError(t, res.WriteTable(&table))
	res.WriteDetails(&details)
	t.Logf("%s suite, %d windows, %d scenarios, %v:\n%s", size.Name, res.Windows, len(res.Outcomes), res.Elapsed.Round(time.Second), table.String())
	if testing.Verbose() {
		t.Logf("details:\n%s", details.String())
	}
	if *outFlag != "" {
		require.NoError(t, os.MkdirAll(*outFlag, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(*outFlag, size.Name+"-table.txt"), []byte(table.String()), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(*outFlag, size.Name+"-details.txt"), []byte(details.String()), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(*outFlag, size.Name+"-daemon.log"), []byte(res.DaemonLog), 0o644))
	}
	require.NotContains(t, res.DaemonLog, "level=ERROR", "the daemon logged an error")

	if opts.Only != nil {
		return
	}
	record := filepath.Join("testdata", size.Name+".json")
	got := res.Verdicts()
	if *updateFlag {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(record, append(b, '\n'), 0o644))
		return
	}
	b, err := os.ReadFile(record)
	if os.IsNotExist(err) {
		t.Skipf("no %s to hold the suite to; run with -args -scenario.update to record one", record)
	}
	require.NoError(t, err)
	var want map[string]Verdict
	require.NoError(t, json.Unmarshal(b, &want))
	require.Empty(t, Regressions(want, got), "regressions against %s (after an improvement, record it with -args -scenario.update)", record)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
