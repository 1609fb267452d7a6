package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/config"
)

// kustomizeBin finds kustomize on PATH or where `go install` puts it
// (.ci/run installs it there).
func kustomizeBin(t *testing.T) string {
	if p, err := exec.LookPath("kustomize"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "kustomize")
	if _, err := os.Stat(p); err != nil {
		t.Skip("kustomize is not installed (go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1; .ci/run does)")
	}
	return p
}

// TestKustomizeBaselines builds deployments/kubernetes with kustomize, as
// `kubectl apply -k` would, under an overlay that adds two baseline files
// to the baselines ConfigMap; lays the rendered ConfigMap out as the kubelet
// mounts it (files that are links into ..data); and opens it as the daemon
// would at the path the Deployment mounts it, which is the configuration's
// baselines.dir. The probes point at http.probe_listen.
func TestKustomizeBaselines(t *testing.T) {
	bin := kustomizeBin(t)
	overlay := t.TempDir()
	store := t.TempDir()
	var files []string
	for i, k := range []baseline.Key{{Model: "ranker", Version: "v4"}, {Model: "team/search", Version: "v1 (canary)"}} {
		path, err := baseline.Write(store, tinyBaseline(t, k, i))
		require.NoError(t, err)
		name := fmt.Sprintf("baseline-%d.json", i)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(overlay, name), data, 0o644))
		files = append(files, name)
	}
	base, err := filepath.Rel(overlay, filepath.Join(root(t), "deployments", "kubernetes"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
configMapGenerator:
  - name: normwatch-baselines
    behavior: merge
    files: [%s]
`, base, strings.Join(files, ", "))), 0o644))
	out := runTool(t, overlay, bin, "build", ".")

	docs := map[string]map[string]any{} // by kind/name
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		md := doc["metadata"].(map[string]any)
		docs[doc["kind"].(string)+"/"+md["name"].(string)] = doc
	}
	var cmName string
	for k := range docs {
		if strings.HasPrefix(k, "ConfigMap/normwatch-baselines-") {
			cmName = strings.TrimPrefix(k, "ConfigMap/")
		}
	}
	require.NotEmpty(t, cmName, "a generated baselines ConfigMap: %v", slices.Sorted(maps.Keys(docs)))
	data := docs["ConfigMap/"+cmName]["data"].(map[string]any)
	require.Len(t, data, 2)

	// The configuration, as the daemon loads it.
	cfgPath := filepath.Join(t.TempDir(), "normwatch.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(docs["ConfigMap/normwatch"]["data"].(map[string]any)["normwatch.yml"].(string)), 0o600))
	cfg, err := config.Load(cfgPath, nil)
	require.NoError(t, err)
	require.NoError(t, cfg.CheckBrokers())

	// The Deployment mounts the generated ConfigMap at baselines.dir, and
	// probes the probe address.
	spec := dig(t, docs["Deployment/normwatch"], "spec", "template", "spec").(map[string]any)
	var mountedAt string
	container := spec["containers"].([]any)[0].(map[string]any)
	for _, m := range container["volumeMounts"].([]any) {
		if m := m.(map[string]any); m["name"] == "baselines" {
			mountedAt = m["mountPath"].(string)
		}
	}
	require.Equal(t, cfg.Baselines.Dir, mountedAt)
	var sources []string
	for _, v := range spec["volumes"].([]any) {
		if v := v.(map[string]any); v["name"] == "baselines" {
			for _, s := range dig(t, v, "projected", "sources").([]any) {
				sources = append(sources, dig(t, s, "configMap", "name").(string))
			}
		}
	}
	require.Equal(t, []string{cmName}, sources)
	_, probePort, err := net.SplitHostPort(cfg.HTTP.ProbeListen)
	require.NoError(t, err)
	ports := map[string]string{}
	for _, p := range container["ports"].([]any) {
		p := p.(map[string]any)
		ports[p["name"].(string)] = fmt.Sprint(p["containerPort"])
	}
	require.Equal(t, probePort, ports["probes"])
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		require.Equal(t, "probes", dig(t, container, probe, "httpGet", "port"))
	}

	// The kubelet's layout of a ConfigMap volume, read by the store.
	dir := filepath.Join(t.TempDir(), "baselines")
	ts := filepath.Join(dir, "..2026_12_01_20_50_00.000000001")
	require.NoError(t, os.MkdirAll(ts, 0o755))
	for name, content := range data {
		require.NoError(t, os.WriteFile(filepath.Join(ts, name), []byte(content.(string)), 0o644))
		require.NoError(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
	}
	require.NoError(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")))
	s, err := baseline.OpenStore(dir)
	require.NoError(t, err)
	require.Empty(t, s.Refused())
	require.Equal(t, []baseline.Key{{Model: "ranker", Version: "v4"}, {Model: "team/search", Version: "v1 (canary)"}}, s.Keys())
}

func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s: not a map", p)
		v = m[p]
	}
	return v
}

// tinyBaseline builds a baseline of k from a few rows of CSV.
func tinyBaseline(t *testing.T, k baseline.Key, seed int) *baseline.Baseline {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("x,y\n")
	for i := range 300 {
		fmt.Fprintf(&b, "%d,%d\n", (i*7+seed)%100, i%13)
	}
	path := filepath.Join(t.TempDir(), "train.csv")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	bl, _, err := baseline.Build(context.Background(), path, baseline.BuildOptions{Model: k.Model, Version: k.Version})
	require.NoError(t, err)
	return bl
}
