package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
)

func runMonitor(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runMain(args, &o, &e)
	return code, o.String(), e.String()
}

// TestUsageErrors: every flag or configuration error is one line naming the
// flag or key, the bad value and what is accepted, then the usage, and exit
// 2 (3 for `monitor baseline`, whose diff exits 2 on a critical finding).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(badFile, []byte("window:\n  horizon_windows: 0\n"), 0o600))
	badOverride := filepath.Join(dir, "override.yml")
	require.NoError(t, os.WriteFile(badOverride, []byte("drift:\n  overrides:\n    - feature: income\n      thresholds:\n        ks: {warning: 0.3, critical: 0.2}\n"), 0o600))
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		code  int
		first string   // the first line of stderr
		also  []string // more of stderr, after it
	}{
		{
			name: "bad duration", args: []string{"run", "--window.size", "5x"}, code: 2,
			first: `monitor run: --window.size: "5x" is not a duration (a number with a unit: 500ms, 30s, 5m, 1h30m)`,
			also:  []string{"Usage: monitor run", "--window.size duration", "event-time window", "Run 'monitor run --help' for every flag."},
		},
		{
			name: "a key without a flag before", args: []string{"run", "--limits.max_versions_per_model", "20"}, code: 2,
			first: "monitor run: kafka.brokers: none given; want host:port of your brokers",
		},
		{
			name: "no value", args: []string{"run", "--window.size"}, code: 2,
			first: "monitor run: --window.size: needs a value: a duration",
		},
		{
			name: "unknown flag of demo", args: []string{"demo", "--bogus"}, code: 2,
			first: "monitor demo: --bogus: unknown flag",
			also:  []string{"Usage: monitor demo [flags]", "Run 'monitor demo --help' for every flag."},
		},
		{
			name: "typo", args: []string{"run", "--kafka.embeded"}, code: 2,
			first: "monitor run: --kafka.embeded: unknown flag; did you mean --kafka.embedded?",
		},
		{
			name: "bad int", args: []string{"run", "--limits.max_models", "many"}, code: 2,
			first: `monitor run: --limits.max_models: "many" is not a whole number`,
		},
		{
			name: "out of range", args: []string{"run", "--kafka.embedded", "--limits.max_models", "0"}, code: 2,
			first: "monitor run: limits.max_models: 0 is out of range [1, 10000]",
			also:  []string{"--limits.max_models int"},
		},
		{
			name: "file", args: []string{"run", "--kafka.embedded", "--config.file", badFile}, code: 2,
			first: "monitor run: window.horizon_windows: 0 is out of range [1, 10000]",
			also:  []string{"Usage: monitor run", "--window.horizon_windows int"},
		},
		{
			name: "override", args: []string{"run", "--kafka.embedded", "--config.file", badOverride}, code: 2,
			first: "monitor run: drift.overrides[0].thresholds.ks.critical: 0.2 is out of range [0.3 (the warning), 1]",
			also:  []string{"Usage: monitor run", "Run 'monitor run --help' for every flag."},
		},
		{
			name: "override from the environment", env: map[string]string{"NORMWATCH_DRIFT_OVERRIDES": "[]"}, args: []string{"run", "--kafka.embedded"}, code: 2,
			first: "monitor run: NORMWATCH_DRIFT_OVERRIDES: is set, but drift.overrides is set in the file only (--config.file); unset it",
		},
		{
			name: "environment", env: map[string]string{"NORMWATCH_LOG_LEVEL": "loud"}, args: []string{"run", "--kafka.embedded"}, code: 2,
			first: `monitor run: log.level: "loud" is not one of "debug", "info", "warn", "error"`,
			also:  []string{"--log.level string"},
		},
		{
			name: "no brokers", args: []string{"run"}, code: 2,
			first: "monitor run: kafka.brokers: none given; want host:port of your brokers (--kafka.brokers, NORMWATCH_KAFKA_BROKERS or kafka.brokers in the file), or --kafka.embedded",
		},
		{
			name: "empty brokers from the environment", env: map[string]string{"NORMWATCH_KAFKA_BROKERS": ""}, args: []string{"run"}, code: 2,
			first: "monitor run: kafka.brokers: none given",
		},
		{
			name: "brokers and embedded", args: []string{"run", "--kafka.embedded", "--kafka.brokers", "k:9092"}, code: 2,
			first: "monitor run: kafka.embedded: is true but kafka.brokers is set too (k:9092); use one of them",
		},
		{
			name: "missing baselines dir", args: []string{"run", "--kafka.embedded", "--baselines.dir", filepath.Join(dir, "nope")}, code: 2,
			first: `monitor run: baselines.dir: "` + filepath.Join(dir, "nope") + `" does not exist; want a directory of baselines`,
			also:  []string{"--baselines.dir string"},
		},
		{
			name: "argument", args: []string{"run", "kafka:9092"}, code: 2,
			first: `monitor run: unexpected argument "kafka:9092": monitor run takes flags only`,
		},
		{
			name: "demo rate", args: []string{"demo", "--rate", "5"}, code: 2,
			first: "monitor demo: --rate: 5 is below 10; want at least 10 events per second",
			also:  []string{"--rate int"},
		},
		{
			name: "demo setting", args: []string{"demo", "--log.level", "loud"}, code: 2,
			first: `monitor demo: --log.level: "loud" is not one of`,
		},
		{
			name: "baseline flag", args: []string{"baseline", "build", "--progress-rows", "x"}, code: 3,
			first: `monitor baseline build: --progress-rows: "x" is not a whole number`,
			also:  []string{"Usage: monitor baseline build", "Run 'monitor baseline build --help' for every flag."},
		},
		{
			name: "baseline unknown flag", args: []string{"baseline", "diff", "--jsn"}, code: 3,
			first: "monitor baseline diff: --jsn: unknown flag; did you mean --json?",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runMonitor(tt.args...)
			require.Equal(t, tt.code, code, stderr)
			require.Empty(t, stdout)
			lines := strings.Split(stderr, "\n")
			require.Equal(t, tt.first, lines[0][:min(len(lines[0]), len(tt.first))], stderr)
			rest := strings.Join(lines[1:], "\n")
			for _, s := range tt.also {
				require.Contains(t, rest, s)
			}
			require.Contains(t, rest, "Usage: monitor ", "the usage follows the error")
		})
	}
}

// TestHelpOnceToStdout: --help prints the help once, on stdout.
func TestHelpOnceToStdout(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--help"}, {"run", "-h"}, {"demo", "--help"},
		{"baseline", "build", "--help"}, {"baseline", "inspect", "--help"},
		{"baseline", "diff", "--help"}, {"baseline", "pin", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runMonitor(args...)
			require.Equal(t, 0, code)
			require.Empty(t, stderr)
			require.Equal(t, 1, strings.Count(stdout, "Usage: monitor "+args[0]), stdout)
			require.Contains(t, stdout, "Flags:")
			require.Contains(t, stdout, "--")
		})
	}
}

// TestRunHelpCoversEveryKey: every key is a flag of `monitor run`, or its
// help says it is file or environment only.
func TestRunHelpCoversEveryKey(t *testing.T) {
	_, stdout, _ := runMonitor("run", "--help")
	for _, k := range config.Keys() {
		if k.Secret {
			require.Regexp(t, `(?m)^  `+strings.ReplaceAll(k.Name, ".", `\.`)+` +`+k.Env()+`$`, stdout)
			require.NotContains(t, stdout, "--"+k.Name)
			continue
		}
		if k.FileOnly {
			_, inFile, _ := strings.Cut(stdout, "Keys in the file only")
			require.Regexp(t, `(?m)^  `+strings.ReplaceAll(k.Name, ".", `\.`)+` +\S`, inFile)
			require.NotContains(t, stdout, "--"+k.Name)
			continue
		}
		require.Contains(t, stdout, "--"+k.Name+" ")
	}
	require.Contains(t, stdout, "Keys without a flag")
}

func TestDemoHelp(t *testing.T) {
	_, stdout, _ := runMonitor("demo", "--help")
	require.NotContains(t, stdout, "--produce-only monitor", "no back-quoted word taken for a value name")
	require.Regexp(t, `--produce-only +only produce`, stdout)
	require.Contains(t, stdout, `--http.listen string`)
	require.Contains(t, stdout, `(default "127.0.0.1:10308")`, "the demo listens on loopback unless told")
}

// TestNoSecretInErrors: a configuration error never echoes a secret.
func TestNoSecretInErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NORMWATCH_KAFKA_SASL_PASSWORD", "sasl-s3cret")
	t.Setenv("NORMWATCH_ALERTING_BEARER_TOKEN", "token-s3cret")
	for _, tc := range []struct{ name, file, want string }{
		{"urls", `
alerting:
  alertmanager_urls: ["am:url-s3cret@alertmanager:9093", "http://u:url2-s3cret@am:9093"]
`, `alerting.alertmanager_urls[0]: "am:xxxxx@alertmanager:9093" is not an http or https URL`},
		{"wrong type", `
alerting:
  basic_auth:
    password: [basic-s3cret]
`, `alerting.basic_auth.password: "xxxxx" is not a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".yml")
			require.NoError(t, os.WriteFile(file, []byte(tc.file), 0o600))
			code, stdout, stderr := runMonitor("run", "--kafka.embedded", "--config.file", file)
			require.Equal(t, 2, code)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stdout+stderr, "s3cret")
		})
	}
}

func TestBrowseURL(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"every interface, v6", "[::]:10308", "http://localhost:10308/"},
		{"every interface, v4", "0.0.0.0:10308", "http://localhost:10308/"},
		{"loopback", "127.0.0.1:10308", "http://localhost:10308/"},
		{"a host", "10.1.2.3:80", "http://10.1.2.3:80/"},
		{"a name", "monitor.example:10308", "http://monitor.example:10308/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, browseURL(tt.addr))
		})
	}
}
