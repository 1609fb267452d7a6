package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/drift"
)

// TestOneAlertPerSubjectInAlertmanager drives normwatch's alert lifecycle
// and its Alertmanager sink against a real Alertmanager with the shipped
// configuration: a feature first diagnosed as distribution_change
// (FeatureDrift), then, once the horizon holds the bug, as unscaled_input
// (NormalizationDrift). Alertmanager must hold one active alert for the
// feature at every step, the current one, and the old one resolved.
func TestOneAlertPerSubjectInAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	requireBinaries(t, alertmanagerBin)
	repo := root(t)
	port := freePort(t)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, "alertmanager", alertmanagerBin, "--config.file="+filepath.Join(repo, "deployments", "alertmanager", "alertmanager.yml"),
		"--storage.path="+t.TempDir(), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	waitFor(t, 30*time.Second, "Alertmanager up", func() (bool, string) {
		_, err := amAlerts(amURL)
		return err == nil, fmt.Sprint(err)
	})

	sink, err := alert.NewAlertmanager(alert.AlertmanagerOptions{URLs: []string{amURL}, ResendInterval: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sink.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	m, err := alert.NewManager(alert.Options{ForEvaluations: 2, ResolveAfter: 3}, sink)
	require.NoError(t, err)

	report := func(d drift.Diagnosis) drift.Report {
		return drift.Report{Features: []drift.FeatureReport{{Name: "amount", Diagnosis: d, Severity: drift.Critical, Summary: string(d) + "."}}}
	}
	active := func() ([]amAlert, error) {
		all, err := amAlerts(amURL)
		var out []amAlert
		for _, a := range all {
			if a.Labels["feature"] == "amount" && a.Status.State == "active" {
				out = append(out, a)
			}
		}
		return out, err
	}
	now := time.Now()
	for i, step := range []struct {
		d    drift.Diagnosis
		want string // the alertname active after this evaluation; "" none yet
	}{
		{drift.DistributionChange, ""},
		{drift.DistributionChange, alert.FeatureDrift},
		{drift.UnscaledInput, alert.NormalizationDrift},
		{drift.UnscaledInput, alert.NormalizationDrift},
		{drift.ScaleChange, alert.NormalizationDrift},
	} {
		m.Observe("ranker", "v4", report(step.d), now.Add(time.Duration(i)*time.Second))
		if step.want == "" {
			continue
		}
		waitFor(t, 20*time.Second, fmt.Sprintf("step %d: only %s [%s] active for amount", i, step.want, step.d), func() (bool, string) {
			as, err := active()
			if err != nil {
				return false, err.Error()
			}
			return len(as) == 1 && as[0].Labels["alertname"] == step.want && as[0].Labels["diagnosis"] == string(step.d), fmt.Sprint(as)
		})
		// And it stays the only one while the sink re-sends.
		time.Sleep(1500 * time.Millisecond)
		as, err := active()
		require.NoError(t, err)
		require.Len(t, as, 1, "step %d: one alert for the feature: %v", i, as)
	}
}
