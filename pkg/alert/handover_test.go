package alert

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/stretchr/testify/require"
)

// forgetting records changes and the versions it was told to forget.
type forgetting struct {
	recorder
	forgot []string
}

func (f *forgetting) Forget(model, version string) { f.forgot = append(f.forgot, model+" "+version) }

func states(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.From.String()+">"+c.To.String())
	}
	return out
}

// TestHandover: the lifecycle of a model version's alerts, exported after
// any prefix of a sequence of evaluations and restored in another
// Manager, goes on there exactly as in one Manager that saw the whole
// sequence: the same changes from then on, with the same ActiveAt, FiredAt
// and ResolvedAt; a firing alert is told again on restore, from Firing to
// Firing with its original ActiveAt.
func TestHandover(t *testing.T) {
	bad := report(drift.UnscaledInput, drift.Critical)
	bad.Features[0].FitR2 = math.NaN() // values that JSON has no number for
	bad.Features[0].Scale = math.Inf(1)
	clean := report(drift.OK, drift.SeverityOK)
	seq := []drift.Report{bad, bad, bad, clean, clean, bad, clean, clean, clean, bad, clean}
	opts := Options{ForEvaluations: 2, ResolveAfter: 3}
	at := func(i int) time.Time { return time.Unix(1_800_000_000, 0).Add(time.Duration(i) * time.Minute) }

	ref := &recorder{}
	one, err := NewManager(opts, ref)
	require.NoError(t, err)
	var byStep [][]Change
	for i, r := range seq {
		byStep = append(byStep, one.Observe("ranker", "v4", r, at(i)))
	}
	for cut := range len(seq) + 1 {
		a, err := NewManager(opts)
		require.NoError(t, err)
		for i, r := range seq[:cut] {
			a.Observe("ranker", "v4", r, at(i))
		}
		a.Observe("ranker", "v5", bad, at(0)) // another version: not exported
		data, err := a.ExportVersion("ranker", "v4")
		require.NoError(t, err)

		rec := &forgetting{}
		b, err := NewManager(opts, rec)
		require.NoError(t, err)
		told, err := b.RestoreVersion("ranker", "v4", data)
		require.NoError(t, err)
		var firing []Alert
		for _, x := range a.Active() {
			if x.State == Firing && x.Labels.Get("model_version") == "v4" {
				firing = append(firing, x)
			}
		}
		require.Len(t, told, len(firing), "cut %d", cut)
		for i, c := range told {
			require.Equal(t, Firing, c.From)
			require.Equal(t, Firing, c.To)
			requireSameTime(t, firing[i].ActiveAt, c.Alert.ActiveAt)
			requireSameTime(t, firing[i].FiredAt, c.Alert.FiredAt)
			require.Equal(t, firing[i].Labels, c.Alert.Labels)
		}
		again, err := b.ExportVersion("ranker", "v4")
		require.NoError(t, err)
		require.JSONEq(t, string(data), string(again), "cut %d: the state round-trips", cut)
		require.Empty(t, rec.forgot, "nothing tracked here before the restore")

		for i := cut; i < len(seq); i++ {
			got := b.Observe("ranker", "v4", seq[i], at(i))
			require.Equal(t, len(byStep[i]), len(got), "cut %d step %d: %v vs %v", cut, i, states(got), states(byStep[i]))
			for j := range got {
				w, g := byStep[i][j], got[j]
				require.Equal(t, w.From, g.From, "cut %d step %d", cut, i)
				require.Equal(t, w.To, g.To, "cut %d step %d", cut, i)
				require.Equal(t, w.Alert.Labels, g.Alert.Labels)
				requireSameTime(t, w.Alert.ActiveAt, g.Alert.ActiveAt, "cut", cut, "step", i)
				requireSameTime(t, w.Alert.FiredAt, g.Alert.FiredAt, "cut", cut, "step", i)
				requireSameTime(t, w.Alert.ResolvedAt, g.Alert.ResolvedAt, "cut", cut, "step", i)
			}
		}
	}
	require.Equal(t, []string{"inactive>pending", "pending>firing", "firing>inactive", "inactive>pending", "pending>inactive"}, states(ref.changes))
}

// TestRestoreReplaces: a restore replaces what the Manager tracked of the
// version: an alert the state does not hold is dropped without a
// resolution (Forgetter sinks forget the version), one it holds firing is
// told again, and other versions are untouched.
func TestRestoreReplaces(t *testing.T) {
	opts := Options{ForEvaluations: 1, ResolveAfter: 1}
	at := time.Unix(1_800_000_000, 0)
	a, err := NewManager(opts)
	require.NoError(t, err)
	a.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), at)
	data, err := a.ExportVersion("ranker", "v4")
	require.NoError(t, err)

	rec := &forgetting{}
	b, err := NewManager(opts, rec)
	require.NoError(t, err)
	other := drift.Report{Features: []drift.FeatureReport{{Name: "age", Diagnosis: drift.Shift, Severity: drift.Critical}}}
	b.Observe("ranker", "v4", other, at)
	b.Observe("ranker", "v5", other, at)
	rec.changes = nil
	told, err := b.RestoreVersion("ranker", "v4", data)
	require.NoError(t, err)
	require.Equal(t, []string{"firing>firing"}, states(rec.changes))
	require.Equal(t, rec.changes, told)
	require.Equal(t, "income", told[0].Alert.Labels.Get("feature"))
	require.Equal(t, []string{"ranker v4"}, rec.forgot)
	var subjects []string
	for _, x := range b.Active() {
		subjects = append(subjects, x.Labels.Get("model_version")+"/"+x.Labels.Get("feature"))
	}
	require.ElementsMatch(t, []string{"v4/income", "v5/age"}, subjects)

	// An empty state drops the version's alerts silently.
	empty, err := NewManager(opts)
	require.NoError(t, err)
	none, err := empty.ExportVersion("ranker", "v4")
	require.NoError(t, err)
	rec.changes = nil
	told, err = b.RestoreVersion("ranker", "v4", none)
	require.NoError(t, err)
	require.Empty(t, told)
	require.Empty(t, rec.changes)
	require.Len(t, b.Active(), 1)
}

// TestReleaseVersion: a version released is dropped without a notice
// (its alerts firing elsewhere now), unlike a retired one, whose firing
// alerts resolve.
func TestReleaseVersion(t *testing.T) {
	opts := Options{ForEvaluations: 1, ResolveAfter: 1}
	at := time.Unix(1_800_000_000, 0)
	rec := &forgetting{}
	m, err := NewManager(opts, rec)
	require.NoError(t, err)
	m.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), at)
	m.Observe("ranker", "v5", report(drift.UnscaledInput, drift.Critical), at)
	rec.changes = nil
	require.Equal(t, 1, m.ReleaseVersion("ranker", "v4"))
	require.Empty(t, rec.changes)
	require.Equal(t, []string{"ranker v4"}, rec.forgot)
	require.Empty(t, m.Retire("ranker", "v4", at.Add(time.Minute)), "nothing left to resolve")
	got := m.Retire("ranker", "v5", at.Add(time.Minute))
	require.Equal(t, []string{"firing>inactive"}, states(got))
	require.Equal(t, at.Add(time.Minute), got[0].Alert.ResolvedAt)
}

// TestRestoreRefuses: a state that does not decode, or holds another
// version's alerts or an inactive one, is refused with an error and
// changes nothing.
func TestRestoreRefuses(t *testing.T) {
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1})
	require.NoError(t, err)
	m.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), time.Unix(1_800_000_000, 0))
	data, err := m.ExportVersion("ranker", "v4")
	require.NoError(t, err)
	for name, bad := range map[string]string{
		"not JSON":        "{",
		"unknown state":   `{"alerts":[{"kind":"feature","subject":"x","labels":{"model":"ranker","model_version":"v4"},"state":"exploded"}]}`,
		"inactive":        `{"alerts":[{"kind":"feature","subject":"x","labels":{"model":"ranker","model_version":"v4"},"state":"inactive"}]}`,
		"another version": string(data),
		"bad value":       `{"alerts":[{"kind":"feature","subject":"x","labels":{"model":"ranker","model_version":"v9"},"state":"firing","values":{"psi":"many"}}]}`,
	} {
		_, err := m.RestoreVersion("ranker", "v9", []byte(bad))
		require.Error(t, err, name)
	}
	require.Len(t, m.Active(), 1)
}

// TestAlertmanagerForget: the Alertmanager sink re-sends no alert of a
// version it was told to forget, and keeps re-sending the others.
func TestAlertmanagerForget(t *testing.T) {
	fake := &fakeAM{}
	am, err := NewAlertmanager(AlertmanagerOptions{URLs: []string{"http://am:9093"}, Client: fake})
	require.NoError(t, err)
	m, err := NewManager(Options{ForEvaluations: 1, ResolveAfter: 1}, am)
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	m.Observe("ranker", "v4", report(drift.UnscaledInput, drift.Critical), at)
	m.Observe("ranker", "v5", report(drift.UnscaledInput, drift.Critical), at)
	require.Equal(t, 2, am.targets[0].q.len())
	am.targets[0].q.pop(10)
	m.ReleaseVersion("ranker", "v4")
	am.resend()
	sent := am.targets[0].q.pop(10)
	require.Len(t, sent, 1)
	require.Equal(t, "v5", sent[0].Labels["model_version"])
}

func requireSameTime(t *testing.T, want, got time.Time, msg ...any) {
	t.Helper()
	require.True(t, want.Equal(got), "want %v, got %v %s", want, got, fmt.Sprint(msg...))
}

// TestHeld: changes observed under a hold wait, in order, until taken and
// delivered; changes returned go before those held since; other holds
// and plain Observe are not held.
func TestHeld(t *testing.T) {
	rec := &recorder{}
	m, err := NewManager(Options{ForEvaluations: 2, ResolveAfter: 1}, rec)
	require.NoError(t, err)
	at := time.Unix(1_800_000_000, 0)
	bad := report(drift.UnscaledInput, drift.Critical)
	m.ObserveHeld("partials/0", "ranker", "v4", bad, at)
	m.ObserveHeld("partials/0", "ranker", "v4", bad, at.Add(time.Minute))
	m.Observe("ranker", "v5", bad, at)
	require.Equal(t, []string{"inactive>pending"}, states(rec.changes), "only the unheld change sent")
	require.Equal(t, Firing, m.Active()[0].State, "the state moves on while its changes wait")

	first := m.TakeHeld("partials/0")
	require.Equal(t, []string{"inactive>pending", "pending>firing"}, states(first))
	require.Empty(t, m.TakeHeld("partials/0"))
	m.RetireHeld("partials/0", "ranker", "v4", at.Add(2*time.Minute))
	m.ReturnHeld("partials/0", first)
	all := m.TakeHeld("partials/0")
	require.Equal(t, []string{"inactive>pending", "pending>firing", "firing>inactive"}, states(all))
	rec.changes = nil
	m.Deliver(all)
	require.Equal(t, states(all), states(rec.changes))
	require.Empty(t, m.TakeHeld("partials/1"))
}
