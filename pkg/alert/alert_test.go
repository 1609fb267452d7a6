package alert

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/stretchr/testify/require"
)

type recorder struct{ changes []Change }

func (r *recorder) Notify(c []Change) { r.changes = append(r.changes, c...) }

func report(d drift.Diagnosis, s drift.Severity) drift.Report {
	return drift.Report{Features: []drift.FeatureReport{{
		Name: "income", Diagnosis: d, Severity: s,
		Summary: "production ≈ 18300 × training + 52100 (fit r² 0.999): the z-score scaler (mean 52100, std 18300) looks skipped at serving.",
	}}}
}

func TestLifecycle(t *testing.T) {
	bad := report(drift.UnscaledInput, drift.Critical)
	clean := report(drift.OK, drift.SeverityOK)
	worse := report(drift.UnscaledInput, drift.Warning)
	for _, tc := range []struct {
		name    string
		reports []drift.Report
		want    []string // "from>to" per change, in order
	}{
		{"one breach stays pending, then clears", []drift.Report{bad, clean}, []string{"inactive>pending", "pending>inactive"}},
		{"fires after two", []drift.Report{bad, bad, bad}, []string{"inactive>pending", "pending>firing"}},
		{"resolves after three clean", []drift.Report{bad, bad, clean, clean, bad, clean, clean, clean},
			[]string{"inactive>pending", "pending>firing", "firing>inactive"}},
		{"severity change re-fires", []drift.Report{bad, bad, worse},
			[]string{"inactive>pending", "pending>firing", "firing>inactive", "inactive>firing"}},
		{"a diagnosis under another alertname replaces the alert at once",
			[]drift.Report{report(drift.DistributionChange, drift.Critical), report(drift.DistributionChange, drift.Critical), bad, bad},
			[]string{"inactive>pending", "pending>firing", "firing>inactive", "inactive>firing"}},
		{"insufficient data never alerts", []drift.Report{report(drift.InsufficientData, drift.SeverityOK)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			m, err := NewManager(Options{ForEvaluations: 2, ResolveAfter: 3, RunbookURL: "https://runbooks.example/{alertname}"}, rec)
			require.NoError(t, err)
			at := time.Unix(1_800_000_000, 0)
			for i, r := range tc.reports {
				m.Observe("ranker", "v4", r, at.Add(time.Duration(i)*time.Minute))
			}
			var got []string
			for _, c := range rec.changes {
				got = append(got, c.From.String()+">"+c.To.String())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAlertContent(t *testing.T) {
	var buf bytes.Buffer
	rec := &recorder{}
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1, DashboardURL: "http://grafana/d/x?var-model={model}&var-feature={subject}"},
		rec, LogSink{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	m.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), at)
	require.Len(t, rec.changes, 1)
	a := rec.changes[0].Alert
	require.Equal(t, map[string]string{
		"alertname": NormalizationDrift, "model": "ranker", "model_version": "v4", "feature": "income",
		"severity": "critical", "diagnosis": "unscaled_input",
	}, a.Labels.Map())
	require.True(t, strings.HasPrefix(a.Annotations["summary"], "income on ranker v4: production ≈ 18300 × training"))
	require.Equal(t, "http://grafana/d/x?var-model=ranker&var-feature=income", a.Annotations["dashboard_url"])
	require.Len(t, m.Active(), 1)
	require.Contains(t, buf.String(), `"diagnosis":"unscaled_input"`)

	// A version that retires resolves its alerts.
	changes := m.Retire("ranker", "v4", at.Add(time.Minute))
	require.Len(t, changes, 1)
	require.Equal(t, at.Add(time.Minute), changes[0].Alert.ResolvedAt)
	require.Empty(t, m.Active())
}

// TestOneAlertPerSubject holds the identity policy: whatever its
// diagnosis, a feature has at most one alert pending or firing, and a
// change of alertname resolves the old label set in the same notification
// as the new one fires.
func TestOneAlertPerSubject(t *testing.T) {
	rec := &recorder{}
	m, err := NewManager(Options{ForEvaluations: 2, ResolveAfter: 3}, rec)
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	seq := []drift.Report{
		report(drift.DistributionChange, drift.Critical), report(drift.DistributionChange, drift.Critical),
		report(drift.UnscaledInput, drift.Critical), report(drift.MissingSpike, drift.Critical),
		report(drift.UnscaledInput, drift.Warning),
	}
	for i, r := range seq {
		rec.changes = nil
		m.Observe("ranker", "v4", r, at.Add(time.Duration(i)*time.Minute))
		require.LessOrEqual(t, len(m.Active()), 1, "evaluation %d: %v", i, m.Active())
		if i >= 2 {
			require.Len(t, rec.changes, 2, "evaluation %d", i)
			old, cur := rec.changes[0], rec.changes[1]
			require.Equal(t, Firing, old.From)
			require.Equal(t, Inactive, old.To)
			require.Equal(t, at.Add(time.Duration(i)*time.Minute), old.Alert.ResolvedAt)
			require.Equal(t, Firing, cur.To)
			require.Equal(t, string(r.Features[0].Diagnosis), cur.Alert.Labels.Get("diagnosis"))
			require.Equal(t, Name(r.Features[0].Diagnosis), cur.Alert.Labels.Get("alertname"))
			require.Equal(t, m.Active()[0].Fingerprint(), cur.Alert.Fingerprint())
		}
	}
}

func TestName(t *testing.T) {
	for _, d := range drift.Diagnoses {
		n := Name(d)
		switch d {
		case drift.OK, drift.InsufficientData, drift.NoBaseline:
			require.Empty(t, n, d)
		default:
			require.NotEmpty(t, n, d)
		}
	}
}

// An alert's JSON (/api/v1/alerts) leaves out the times that have not
// happened, instead of 0001-01-01T00:00:00Z.
func TestAlertJSONZeroTimes(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		a       Alert
		present []string
		absent  []string
	}{
		{name: "pending", a: Alert{State: Pending, ActiveAt: at}, present: []string{`"active_at":"2026-11-25T10:00:00Z"`}, absent: []string{"fired_at", "resolved_at"}},
		{name: "firing", a: Alert{State: Firing, ActiveAt: at, FiredAt: at.Add(time.Minute)}, present: []string{`"fired_at":"2026-11-25T10:01:00Z"`}, absent: []string{"resolved_at"}},
		{name: "resolved", a: Alert{State: Inactive, ActiveAt: at, FiredAt: at, ResolvedAt: at.Add(time.Hour)}, present: []string{`"resolved_at":"2026-11-25T11:00:00Z"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.a)
			require.NoError(t, err)
			for _, p := range tc.present {
				require.Contains(t, string(b), p)
			}
			for _, a := range tc.absent {
				require.NotContains(t, string(b), a)
			}
			require.NotContains(t, string(b), "0001-01-01")
		})
	}
}
