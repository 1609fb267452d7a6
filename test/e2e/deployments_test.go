package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/normwatch/normwatch/pkg/config"
)

func TestPrometheusRules(t *testing.T) {
	requireBinaries(t, promtoolBin)
	dir := filepath.Join(root(t), "deployments", "prometheus")
	out := runTool(t, dir, promtoolBin, "check", "rules", "rules/normwatch.rules.yml")
	require.Contains(t, out, "SUCCESS")
	out = runTool(t, filepath.Join(dir, "rules"), promtoolBin, "test", "rules", "normwatch.rules.test.yml")
	require.Contains(t, out, "SUCCESS")
	out = runTool(t, dir, promtoolBin, "check", "config", "prometheus.yml")
	require.Contains(t, out, "is valid prometheus config file")
}

func TestAlertmanagerConfig(t *testing.T) {
	requireBinaries(t, amtoolBin)
	dir := filepath.Join(root(t), "deployments", "alertmanager")
	require.Contains(t, runTool(t, dir, amtoolBin, "check-config", "alertmanager.yml"), "SUCCESS")
	for _, tc := range []struct {
		name     string
		labels   []string
		receiver string
	}{
		{"watchdog", []string{"alertname=NormwatchWatchdog", "severity=none"}, "deadmansswitch"},
		{"owned model, critical", []string{"alertname=NormalizationDrift", "model=ranker", "severity=critical"}, "ranker-team-pager"},
		{"owned model, warning", []string{"alertname=FeatureDrift", "model=ranker", "severity=warning"}, "ranker-team"},
		{"other model, critical", []string{"alertname=EmbeddingDrift", "model=search", "severity=critical"}, "ml-platform-pager"},
		{"normwatch down", []string{"alertname=NormwatchDown", "severity=critical"}, "ml-platform-pager"},
		{"other model, warning", []string{"alertname=NormwatchConsumerLag", "severity=warning"}, "ml-platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, tc.labels...)
			lines := strings.Split(strings.TrimSpace(runTool(t, dir, amtoolBin, args...)), "\n")
			require.Equal(t, tc.receiver, lines[len(lines)-1]) // after amtool's warnings
		})
	}
}

func TestDockerCompose(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed (Debian: apt-get install docker-compose; .ci/run does)")
	}
	out := runTool(t, root(t), bin, "-f", "docker-compose.yml", "config")
	var c struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &c))
	for _, s := range []string{"kafka", "kafka-init", "baselines", "normwatch", "producer", "prometheus", "alertmanager", "grafana"} {
		require.Contains(t, c.Services, s)
	}
	require.True(t, strings.HasPrefix(c.Services["kafka"].Image, "apache/kafka:"), "the official Apache Kafka image")
	require.Equal(t, []string{"run"}, c.Services["normwatch"].Command)
}

// TestKubernetes parses the manifests and loads the ConfigMap's
// configuration as the daemon would.
func TestKubernetes(t *testing.T) {
	dir := filepath.Join(root(t), "deployments", "kubernetes")
	kinds := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			kind, _ := doc["kind"].(string)
			kinds[kind] = true
			if kind != "ConfigMap" {
				continue
			}
			data := doc["data"].(map[string]any)
			path := filepath.Join(t.TempDir(), "normwatch.yml")
			require.NoError(t, os.WriteFile(path, []byte(data["normwatch.yml"].(string)), 0o600))
			_, err = config.Load(path, nil)
			require.NoError(t, err, "the ConfigMap's normwatch.yml")
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PodMonitor", "Kustomization"} {
		require.True(t, kinds[k], "a %s", k)
	}
}

// dashboard is what the tests read of a Grafana dashboard.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Requires []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"__requires"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Query      any        `json:"query"`
			Datasource datasource `json:"datasource"`
			Current    struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string     `json:"type"`
		Title      string     `json:"title"`
		Datasource datasource `json:"datasource"`
		Targets    []struct {
			Datasource datasource `json:"datasource"`
			Expr       string     `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), "deployments", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), f)
		out[filepath.Base(f)] = d
	}
	return out
}

var templateVar = regexp.MustCompile(`\$\{?(\w+)`)

// TestGrafanaDashboards holds the dashboards importable into any Grafana:
// an __inputs entry for the Prometheus datasource (the import dialog asks
// for it), a datasource template variable that every panel, target and
// query variable uses (no hard-coded uid), model and model_version
// variables, and no reference to an undefined variable.
func TestGrafanaDashboards(t *testing.T) {
	ds := readDashboards(t)
	for name, vars := range map[string][]string{
		"normwatch-overview.json":           {"datasource", "model", "model_version"},
		"normwatch-feature-drill-down.json": {"datasource", "model", "model_version", "feature", "embedding"},
	} {
		d, ok := ds[name]
		require.True(t, ok, name)
		require.NotEmpty(t, d.UID)
		require.Len(t, d.Inputs, 1, name)
		require.Equal(t, "DS_PROMETHEUS", d.Inputs[0].Name)
		require.Equal(t, "datasource", d.Inputs[0].Type)
		require.Equal(t, "prometheus", d.Inputs[0].PluginID)
		required := map[string]bool{}
		for _, r := range d.Requires {
			required[r.Type+"/"+r.ID] = true
		}
		require.True(t, required["datasource/prometheus"], "%s: __requires names the prometheus datasource", name)
		var got []string
		for _, v := range d.Templating.List {
			got = append(got, v.Name)
			switch v.Type {
			case "datasource":
				require.Equal(t, "prometheus", v.Query, "%s: the datasource variable lists Prometheus datasources", name)
				require.Equal(t, "${DS_PROMETHEUS}", v.Current.Value, "%s: the import's choice is the variable's value", name)
			case "query":
				require.Equal(t, datasource{"prometheus", "${datasource}"}, v.Datasource, "%s: variable %s", name, v.Name)
			}
		}
		require.Equal(t, vars, got, name)
		for _, p := range d.Panels {
			require.Equal(t, datasource{"prometheus", "${datasource}"}, p.Datasource, "%s: %s uses the datasource variable", name, p.Title)
			require.True(t, required["panel/"+p.Type], "%s: __requires names panel type %s", name, p.Type)
			require.NotEmpty(t, p.Targets, p.Title)
			for _, tg := range p.Targets {
				require.Equal(t, datasource{"prometheus", "${datasource}"}, tg.Datasource, "%s: a target of %s", name, p.Title)
				for _, m := range templateVar.FindAllStringSubmatch(tg.Expr, -1) {
					if !strings.HasPrefix(m[1], "__") {
						require.Contains(t, vars, m[1], "%s: %s refers to an undefined variable", name, p.Title)
					}
				}
			}
		}
	}
	// No hard-coded datasource uid is left anywhere in the files.
	files, err := filepath.Glob(filepath.Join(root(t), "deployments", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotContains(t, string(b), `"uid": "prometheus"`, f)
	}
	// Provisioning points at the dashboards and provides a default
	// Prometheus datasource, which the datasource variable picks there.
	prov := filepath.Join(root(t), "deployments", "grafana", "provisioning")
	b, err := os.ReadFile(filepath.Join(prov, "datasources", "prometheus.yml"))
	require.NoError(t, err)
	require.Contains(t, string(b), "type: prometheus")
	require.Contains(t, string(b), "isDefault: true")
	_, err = os.Stat(filepath.Join(prov, "dashboards", "normwatch.yml"))
	require.NoError(t, err)
}

// dashboardQueries returns every PromQL expression of the dashboards with
// the template variables set to the demo's v4 and the Grafana interval
// variables to durations that suit a 1s scrape interval: the panels'
// targets, and the query variables' label_values(selector, label) as the
// selector (whose series must carry the label).
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	r := strings.NewReplacer(
		"$__rate_interval", "15s", "$__interval", "5s", "$__range", "1m",
		"$model_version", "v4", "$model", "ranker", "$feature", "income", "$embedding", "query",
	)
	// The panels of the retrieval and activation signals and of the
	// outcomes: the demo's search v2, whose query embedding has
	// retrievals and whose outcomes fell against v1.
	signals := strings.NewReplacer(
		"$__rate_interval", "15s", "$__interval", "5s", "$__range", "1m",
		"$model_version", "v2", "$model", "search", "$embedding", "query",
	)
	labelValues := regexp.MustCompile(`^label_values\((.+), *(\w+)\)$`)
	out := map[string]string{}
	for name, d := range readDashboards(t) {
		for _, p := range d.Panels {
			rp := r
			if strings.HasPrefix(p.Title, "Retrieval:") || strings.HasPrefix(p.Title, "Activation") || strings.HasPrefix(p.Title, "Outcomes:") {
				rp = signals
			}
			for i, tg := range p.Targets {
				out[name+": "+p.Title+": "+string(rune('A'+i))] = rp.Replace(tg.Expr)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, ok := v.Query.(map[string]any)
			require.True(t, ok, "%s: variable %s has a query object", name, v.Name)
			m := labelValues.FindStringSubmatch(q["query"].(string))
			require.NotNil(t, m, "%s: variable %s: %v", name, v.Name, q["query"])
			sel, label := r.Replace(m[1]), m[2]
			if strings.HasSuffix(sel, "}") {
				sel = strings.TrimSuffix(sel, "}") + `, ` + label + `!=""}`
			} else {
				sel += `{` + label + `!=""}`
			}
			out[name+": variable "+v.Name] = sel
		}
	}
	return out
}

// TestImageName holds the image's name in agreement: the one the
// Kubernetes Deployment runs is the one the Dockerfile's build line tags,
// docker-compose builds and the README pushes.
func TestImageName(t *testing.T) {
	read := func(parts ...string) string {
		b, err := os.ReadFile(filepath.Join(append([]string{root(t)}, parts...)...))
		require.NoError(t, err)
		return string(b)
	}
	m := regexp.MustCompile(`(?m)^\s+image: (\S+):(\S+)$`).FindStringSubmatch(read("deployments", "kubernetes", "deployment.yaml"))
	require.NotNil(t, m, "the Deployment names an image")
	repo := m[1]
	require.Equal(t, "ghcr.io/normwatch/normwatch", repo)
	require.Regexp(t, `(?m)^#\s+docker build --build-arg VERSION=\S+ -t `+regexp.QuoteMeta(repo)+`:\S+ \.$`, read("Dockerfile"))
	require.Regexp(t, `(?m)^  image: `+regexp.QuoteMeta(repo)+`:local$`, read("docker-compose.yml"))
	readme := read("README.md")
	require.Regexp(t, `docker build --build-arg VERSION=\S+ -t `+regexp.QuoteMeta(repo)+`:`, readme)
	require.Regexp(t, `docker push `+regexp.QuoteMeta(repo)+`:`, readme)
	// The kustomize image override the README shows names the same image.
	require.Contains(t, readme, "  - name: "+repo+"\n")
}
