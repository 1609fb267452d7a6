package drift

import (
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"

	"github.com/stretchr/testify/require"
)

// TestHoldNames is the hysteresis of names on verdicts: an alerting name
// changes to another alerting one of no higher specificity only once the
// new one is seen twice in a row; a more specific one, a resolve or a
// first alert change at once.
func TestHoldNames(t *testing.T) {
	v := func(d Diagnosis, sev Severity) verdict {
		return verdict{Diagnosis: d, Severity: sev, Summary: string(d) + "."}
	}
	tests := []struct {
		name       string
		prev, cur  verdict
		want       Diagnosis
		wantSev    Severity
		wantPendng Diagnosis
	}{
		{"same name", v(UnscaledInput, Critical), v(UnscaledInput, Warning), UnscaledInput, Warning, ""},
		{"another named cause, seen once, is held", v(UnscaledInput, Critical), v(ScaleChange, Critical), UnscaledInput, Critical, ScaleChange},
		{"a generic change after a named cause is held", v(DoubleScaled, Critical), v(DistributionChange, Warning), DoubleScaled, Warning, DistributionChange},
		{"a more specific name wins at once", v(DistributionChange, Warning), v(UnscaledInput, Critical), UnscaledInput, Critical, ""},
		{"a resolve is not held", v(UnscaledInput, Critical), v(OK, SeverityOK), OK, SeverityOK, ""},
		{"a first alert is not held", v(OK, SeverityOK), v(ScaleChange, Warning), ScaleChange, Warning, ""},
		{"a rescaling that names no unit after a shift is held", v(Shift, Warning),
			verdict{Diagnosis: ScaleChange, Severity: Warning, Summary: "in the newest window, production ≈ 0.883 × training + 51.4 (fit r² 0.997): " + spreadChanged + "0.883."}, Shift, Warning, ScaleChange},
		{"a unit change after a shift wins at once", v(Shift, Warning),
			verdict{Diagnosis: ScaleChange, Severity: Critical, Summary: "production ≈ 0.001 × training: the values are 1000 times smaller: a unit change (e.g. ms → s)."}, ScaleChange, Critical, ""},
		{"a shift after a change no affine map explains wins at once", v(DistributionChange, Warning), v(Shift, Warning), Shift, Warning, ""},
		{"the name pending before wins now", verdict{Diagnosis: UnscaledInput, Severity: Critical, Pending: ScaleChange}, v(ScaleChange, Critical), ScaleChange, Critical, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hold(tt.prev, tt.cur)
			require.Equal(t, tt.want, got.Diagnosis)
			require.Equal(t, tt.wantSev, got.Severity, "severity is the current evidence's")
			require.Equal(t, tt.wantPendng, got.Pending)
			if got.Diagnosis == tt.prev.Diagnosis && tt.cur.Diagnosis != tt.prev.Diagnosis {
				require.Equal(t, tt.prev.Summary, got.Summary, "a held name keeps its sentence")
			}
		})
	}
}

// TestPreferRecent: the newest window's name replaces the horizon's only
// where it is more specific (a shifted heavy-tailed feature's single
// window may fit a spread 12% narrower: no more specific than the shift).
func TestPreferRecent(t *testing.T) {
	spread := verdict{Diagnosis: ScaleChange, Severity: Warning, Summary: "production ≈ 0.883 × training + 51.4 (fit r² 0.997): " + spreadChanged + "0.883."}
	v := func(d Diagnosis, sev Severity) verdict {
		return verdict{Diagnosis: d, Severity: sev, Summary: string(d) + "."}
	}
	require.False(t, preferRecent(v(Shift, Warning), spread))
	require.True(t, preferRecent(v(DistributionChange, Warning), spread))
	require.True(t, preferRecent(v(DistributionChange, Warning), v(UnscaledInput, Critical)))
	require.True(t, preferRecent(v(Shift, Critical), v(UnscaledInput, Critical)))
	require.False(t, preferRecent(v(UnscaledInput, Critical), v(DistributionChange, Critical)))
	require.False(t, preferRecent(v(OK, SeverityOK), v(Shift, Warning)), "a generic change of one window at warning does not override a clean horizon")
	require.True(t, preferRecent(v(OK, SeverityOK), v(DoubleScaled, Warning)))
	require.False(t, preferRecent(v(Shift, Warning), v(OK, SeverityOK)))
}

// TestWeigh: what Judge reports from the horizon's verdict, its newest
// window's and the previous report's.
func TestWeigh(t *testing.T) {
	v := func(d Diagnosis, sev Severity, share float64) *verdict {
		return &verdict{Diagnosis: d, Severity: sev, Share: share, Summary: string(d) + "."}
	}
	unit := &verdict{Diagnosis: ScaleChange, Severity: Critical, Summary: "production ≈ 0.46 × training − 0.68: the raw values reach the z-score scaler 2.2 times smaller: a unit change upstream of the scaler (e.g. lb → kg)."}
	spread := &verdict{Diagnosis: ScaleChange, Severity: Warning, Summary: "production ≈ 0.516 × training − 0.65: " + spreadChanged + "0.516."}
	tests := []struct {
		name        string
		h, n, p     *verdict
		want        Diagnosis
		wantSummary string
		wantShare   float64
	}{
		{"the horizon and the newest window agree on a new name: no hold", unit, unit, v(ScoreCompression, Critical, 0), ScaleChange, unit.Summary, 0},
		{"the horizon alone names another cause: held", v(ScoreCompression, Critical, 0), spread, unit, ScaleChange, unit.Summary, 0},
		{"the newest window keeps the previous name while the horizon mixes", v(DistributionChange, Critical, 0), v(UnscaledInput, Critical, 0), v(UnscaledInput, Critical, 0), UnscaledInput, "in the newest window, unscaled_input.", 0},
		{"a rescaling of the newest window does not keep a unit change's name", v(ScoreCompression, Critical, 0), spread, nil, ScoreCompression, "score_compression.", 0},
		{"the same cause on a larger share of the newest window", v(UnscaledInput, Critical, 0.06), v(UnscaledInput, Critical, 0.3), v(UnscaledInput, Critical, 0.04), UnscaledInput, "in the newest window, unscaled_input.", 0.3},
		{"the same cause on all of the newest window", v(ScaleChange, Warning, 0.27), unit, nil, ScaleChange, "in the newest window, " + unit.Summary, 0},
		{"about the same share: the horizon's", v(UnscaledInput, Critical, 0.25), v(UnscaledInput, Critical, 0.3), nil, UnscaledInput, "unscaled_input.", 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := weigh(*tt.h, tt.n, tt.p)
			require.Equal(t, tt.want, got.Diagnosis)
			require.Equal(t, tt.wantSummary, got.Summary)
			require.Equal(t, tt.wantShare, got.Share)
		})
	}
}

// TestJudgeOverWindows judges a stream window by window as the engine
// does (horizon of the last five windows, its newest beside it, the
// previous report): clean, then the z-score scaler skipped from window 4.
// The name is the right one from the onset's window on, never another in
// between, and it stays while the horizon fills with the bug; a muted
// feature is named the same but never alerts.
func TestJudgeOverWindows(t *testing.T) {
	z := scalerOf(t, ScalerZScore, income)
	zref := scaled(income, z)
	const perWindow, horizon, onset, windows = 400, 5, 4, 12
	ref, _ := servedFeature(t, zref, z, served(income, viaScaler(z)), false, 20000, 1)
	var wins []*sketch.Numeric
	for w := range windows {
		serve := served(income, viaScaler(z))
		if w >= onset {
			serve = faulty(income, z, 0.3, identity) // 30% of the traffic skips it
		}
		r := rand.New(rand.NewPCG(uint64(w), 11))
		n := sketch.NewNumeric()
		for range perWindow {
			_, y, _ := serve(r)
			n.Add(y)
		}
		wins = append(wins, n)
	}
	for _, muted := range []bool{false, true} {
		p := DefaultPolicy()
		if muted {
			p.Overrides = []Override{{Feature: "inc*", Mute: true}}
		}
		var prev *Report
		for w := range windows {
			cur := wins[max(0, w-horizon+1)].Clone()
			for _, n := range wins[max(0, w-horizon+1)+1 : w+1] {
				require.NoError(t, cur.Merge(n))
			}
			in := Input{Model: "ranker", Version: "v4",
				Ref:      Set{Features: map[string]FeatureSketch{"income": {Sketch: ref.Ref, Norm: z}}},
				Cur:      Set{Features: map[string]FeatureSketch{"income": {Sketch: cur}}, Events: uint64(perWindow * min(w+1, horizon))},
				Previous: prev}
			if w > 0 {
				in.Recent = Set{Features: map[string]FeatureSketch{"income": {Sketch: wins[w]}}, Events: perWindow}
			}
			rep := Judge(in, p)
			f := rep.Features[0]
			t.Logf("muted %v, window %d: %s [%s] share %.3f: %s", muted, w, f.Diagnosis, f.Severity, f.Share, f.Summary)
			if w < onset {
				require.Equal(t, SeverityOK, f.Severity, "window %d, before the onset: %s", w, f.Summary)
			} else {
				require.Equal(t, UnscaledInput, f.Diagnosis, "window %d: %s", w, f.Summary)
				require.InDelta(t, 0.3, f.Share, 0.08, "window %d", w)
				if muted {
					require.Equal(t, SeverityOK, f.Severity)
					require.True(t, f.Muted)
				} else {
					require.Equal(t, Critical, f.Severity)
				}
			}
			prev = &rep
		}
	}
}
