// Command monitor is normwatch: a drift monitor for ML features and
// embeddings that names the normalization bug. See `monitor --help`.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/normwatch/normwatch/pkg/export"
)

const usage = `normwatch: a drift monitor for ML features and embeddings that names the
normalization bug ("production ≈ 18300 × training + 52100: the z-score scaler
looks skipped at serving").

Usage:
  monitor demo [flags]        embedded Kafka broker, demo traffic with two bugs,
                              baselines, the daemon and its alerts: start here
  monitor run [flags]         the daemon: consume events from Kafka, compare
                              them with baselines, serve /metrics, page
  monitor baseline COMMAND    build, inspect, diff and pin training baselines
  monitor gate [flags]        ask a running daemon whether a candidate version
                              may go live: exit 0 clear, 1 warning, 2 blocked,
                              3 pending
  monitor version             print the version

Run 'monitor COMMAND --help' for a command's flags. Configuration: a YAML file
(--config.file), NORMWATCH_* environment variables, then flags.
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes of the daemon commands.
const (
	exitError      = 1
	exitUsageError = 2
	// exitUncleanShutdown: stopped as asked, but something could not be
	// written within shutdown_timeout (logged with counts; re-read at the
	// next start).
	exitUncleanShutdown = 3
)

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsageError
	}
	switch args[0] {
	case "run":
		return runDaemon(args[1:], stdout, stderr)
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "baseline":
		return runBaseline(args[1:], stdout, stderr)
	case "gate":
		return runGate(args[1:], stdout, stderr)
	case "version", "--version":
		b := buildInfo()
		fmt.Fprintf(stdout, "normwatch %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "monitor: unknown command %q\n\n%s", args[0], usage)
	return exitUsageError
}

// version is the release's version, stamped by scripts/release.sh with
// -ldflags "-X main.version=v0.1.0"; empty in other builds, whose version
// comes from the go command's build info.
var version string

// buildInfo is the running binary's version, revision and Go version.
func buildInfo() export.BuildInfo { return export.ReadBuildInfo(version) }
