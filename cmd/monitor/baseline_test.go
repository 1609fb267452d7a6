package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runBaseline(args, &o, &e)
	return code, o.String(), e.String()
}

// writeIncome writes n incomes, z-scored or raw, and a unit-norm embedding.
func writeIncome(t *testing.T, path string, n int, seed uint64, zscored bool) {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("income,age,q\n")
	for range n {
		x := 52100 + 18300*r.NormFloat64()
		if zscored {
			x = (x - 52100) / 18300
		}
		fmt.Fprintf(&b, "%s,%d,\"[0.6,0.8]\"\n", strconv.FormatFloat(x, 'g', -1, 64), 18+r.IntN(60))
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

func TestBaselineCLI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "baselines")
	train3, train4, prod := filepath.Join(dir, "v3.csv"), filepath.Join(dir, "v4.csv"), filepath.Join(dir, "prod.csv")
	writeIncome(t, train3, 5000, 1, true)
	writeIncome(t, train4, 5000, 2, true)
	writeIncome(t, prod, 5000, 3, false)
	scaler := filepath.Join(dir, "scaler.json")
	require.NoError(t, os.WriteFile(scaler, []byte(`{"mean_": [52100], "scale_": [18300], "feature_names_in_": ["income"]}`), 0o644))

	buildOne := func(in, version string, extra ...string) string {
		code, stdout, stderr := runCLI(append([]string{"build", "--input", in, "--model", "ranker", "--model-version", version, "--out", out}, extra...)...)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "read 5000 rows")
		path := strings.Fields(stdout)[1]
		require.FileExists(t, path)
		return path
	}
	a := buildOne(train3, "v3", "--scaler", scaler)
	b := buildOne(train4, "v4", "--scaler", scaler)
	p := buildOne(prod, "prod", "--infer-normalization")

	// inspect: table and JSON.
	code, stdout, stderr := runCLI("inspect", a)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "zscore mean 52100 std 18300")
	require.Contains(t, stdout, "norm p50")
	code, stdout, _ = runCLI("inspect", "--json", p)
	require.Equal(t, 0, code)
	var ins inspectOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &ins))
	require.Len(t, ins.Features, 2)
	require.Equal(t, "raw", ins.Features[1].Inferred.Looks)
	require.Equal(t, "l2", ins.Embeddings[0].Normalization)
	require.InDelta(t, 1, *ins.Embeddings[0].UnitNormRatio, 1e-9)

	// diff: a clean pair exits 0; a skipped scaler exits 2.
	code, stdout, stderr = runCLI("diff", a, b)
	require.Equal(t, 0, code, stdout+stderr)
	require.Contains(t, stdout, "OK")
	code, stdout, _ = runCLI("diff", a, p)
	require.Equal(t, 2, code, stdout)
	require.Contains(t, stdout, "unscaled_input")
	require.Contains(t, stdout, "income on ranker prod: production ≈ ")
	require.Contains(t, stdout, "looks skipped at serving")
	code, stdout, _ = runCLI("diff", "--json", a, p)
	require.Equal(t, 2, code)
	require.Contains(t, stdout, `"severity": "critical"`)

	// Building the same version again refuses, and leaves the one file.
	code, _, stderr = runCLI("build", "--input", train4, "--model", "ranker", "--model-version", "v4", "--out", out, "--quiet")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "baseline already exists")

	// pin twice: two new versions.
	code, stdout, stderr = runCLI("pin", "--from-file", p, "--out", out, "--declared-from", a)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "pinned ranker prod as prod-pinned-")
	code, _, stderr = runCLI("pin", "--from-file", p, "--out", out)
	require.Equal(t, 0, code, stderr)
	entries, err := os.ReadDir(filepath.Join(out, "ranker"))
	require.NoError(t, err)
	require.Len(t, entries, 5) // v3, v4, prod and two pinned
}

func TestBaselineCLIErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.csv")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	badScaler := filepath.Join(dir, "s.yml")
	require.NoError(t, os.WriteFile(badScaler, []byte("features:\n  x: {kind: zscore, mean: 1, std: 2, oops: 3}\n"), 0o644))
	out := filepath.Join(dir, "out")
	cases := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no command", nil, exitUsage, "Commands:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"build without input", []string{"build", "--model", "m", "--model-version", "v"}, exitUsage, "give one of --input and --topic"},
		{"build both inputs", []string{"build", "--input", empty, "--topic", "t", "--model", "m", "--model-version", "v"}, exitUsage, "give one of --input and --topic"},
		{"build topic without brokers", []string{"build", "--topic", "t", "--model", "m", "--model-version", "v"}, exitUsage, "--topic and --brokers (or kafka.brokers of --config.file) required"},
		{"build offset and time", []string{"build", "--topic", "t", "--brokers", "127.0.0.1:1", "--from-offset", "3", "--from-time", "2026-11-25T10:00:00Z", "--model", "m", "--model-version", "v"}, exitUsage, "not both"},
		{"build bad time", []string{"build", "--topic", "t", "--brokers", "127.0.0.1:1", "--to-time", "yesterday", "--model", "m", "--model-version", "v"}, exitUsage, "RFC 3339"},
		{"build bad flag", []string{"build", "--nope"}, exitUsage, "--nope: unknown flag"},
		{"build empty", []string{"build", "--input", empty, "--model", "m", "--model-version", "v", "--out", out}, exitFailure, empty + ": no rows"},
		{"build scaler and infer", []string{"build", "--input", empty, "--model", "m", "--model-version", "v", "--scaler", badScaler, "--infer-normalization"}, exitUsage, "exclude each other"},
		{"build bad scaler", []string{"build", "--input", empty, "--model", "m", "--model-version", "v", "--scaler", badScaler}, exitFailure, "features.x.oops: not a parameter of a zscore scaler (it takes mean, std)"},
		{"build bad model", []string{"build", "--input", empty, "--model", strings.Repeat("m", 300), "--model-version", "v"}, exitFailure, "model: name longer than 256 bytes"},
		{"inspect missing", []string{"inspect", filepath.Join(dir, "nope.json")}, exitFailure, "no such file"},
		{"inspect not a baseline", []string{"inspect", badScaler}, exitFailure, badScaler + ": "},
		{"diff one file", []string{"diff", badScaler}, exitUsage, "want two files"},
		{"pin without source", []string{"pin"}, exitUsage, "give exactly one of --from-daemon, --replay and --from-file"},
		{"pin two sources", []string{"pin", "--from-file", empty, "--replay"}, exitUsage, "exactly one"},
		{"pin daemon without model", []string{"pin", "--from-daemon", "http://127.0.0.1:1"}, exitUsage, "--model and --model-version required"},
		{"pin daemon bad url", []string{"pin", "--from-daemon", "127.0.0.1:1", "--model", "m", "--model-version", "v"}, exitFailure, "want http(s)://host:port"},
		{"pin topic flags without replay", []string{"pin", "--from-file", empty, "--topic", "t"}, exitUsage, "go with --replay"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			require.Equal(t, c.code, code, stderr)
			require.Contains(t, stderr, c.wantErr)
		})
	}
	require.NoDirExists(t, out)
}

func TestBaselineHelp(t *testing.T) {
	for _, cmd := range []string{"build", "inspect", "diff", "pin"} {
		code, stdout, _ := runCLI(cmd, "--help")
		require.Equal(t, 0, code)
		require.Contains(t, stdout, "Usage: monitor baseline "+cmd)
		require.Contains(t, stdout, "Flags:")
	}
	code, stdout, _ := runCLI("--help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "Commands:")
}

// TestBaselineTrainingEvents: events logged as version "train" build v4
// with --select-version; a small baseline warns at build and is marked
// in inspect, in the table and in JSON.
func TestBaselineTrainingEvents(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "baselines")
	in := filepath.Join(dir, "train.jsonl")
	var b strings.Builder
	for i := range 120 {
		fmt.Fprintf(&b, `{"model": "ranker", "model_version": "train", "features": {"income": %d}, "embeddings": {"q": [0.6, 0.8]}}`+"\n", 40000+i)
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))

	code, _, stderr := runCLI("build", "--input", in, "--model", "ranker", "--model-version", "v4", "--out", out, "--quiet")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "--select-model and --select-version")

	code, stdout, stderr := runCLI("build", "--input", in, "--model", "ranker", "--model-version", "v4", "--out", out, "--quiet", "--select-version", "train")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "warning: feature income: 120 values, below min_samples 200")
	require.Contains(t, stderr, "warning: embedding q: 120 vectors, below min_samples 200")
	path := strings.Fields(stdout)[1]
	require.Contains(t, path, filepath.Join("ranker", "v4"))

	code, stdout, _ = runCLI("inspect", path)
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "120 (small)")
	require.Contains(t, stdout, "(events of ranker train)")
	require.Contains(t, stdout, "warning: feature income: 120 values")
	code, stdout, _ = runCLI("inspect", "--json", "--min-samples", "100", path)
	require.Equal(t, 0, code)
	var ins inspectOutput
	require.NoError(t, json.Unmarshal([]byte(stdout), &ins))
	require.False(t, ins.Features[0].Small)
	require.Empty(t, ins.Warnings)
	code, stdout, _ = runCLI("inspect", "--json", path)
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &ins))
	require.True(t, ins.Features[0].Small)
	require.True(t, ins.Embeddings[0].Small)
	require.Equal(t, "train", ins.Source.FromVersion)

	// --help lists the flags.
	code, stdout, _ = runCLI("build", "--help")
	require.Equal(t, 0, code)
	for _, f := range []string{"--select-model", "--select-version", "--min-samples"} {
		require.Contains(t, stdout, f)
	}
}
