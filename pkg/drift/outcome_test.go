package drift

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// TestOutcomeTestsAgainstSciPy: the two-proportion z-test and Welch's
// t-test give scipy's statistics and p-values (testdata/outcome_tests.py).
func TestOutcomeTestsAgainstSciPy(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "outcome_tests.json"))
	require.NoError(t, err)
	var ref struct {
		Z []struct{ X1, N1, X2, N2, Z, P float64 } `json:"ztest"`
		W []struct {
			M1, SD1, N1, M2, SD2, N2, T, DF, P float64
		} `json:"welch"`
	}
	require.NoError(t, json.Unmarshal(raw, &ref))
	require.NotEmpty(t, ref.Z)
	require.NotEmpty(t, ref.W)
	rel := func(want, got float64) float64 {
		if want == 0 {
			return math.Abs(got)
		}
		return math.Abs(got-want) / math.Abs(want)
	}
	for _, c := range ref.Z {
		z, p := TwoProportionZ(c.X1, c.N1, c.X2, c.N2)
		require.LessOrEqual(t, rel(c.Z, z), 1e-9, "z of %+v: %v", c, z)
		require.LessOrEqual(t, rel(c.P, p), 1e-9, "p of %+v: %v", c, p)
	}
	for _, c := range ref.W {
		tt, df, p := WelchT(c.M1, c.SD1*c.SD1, c.N1, c.M2, c.SD2*c.SD2, c.N2)
		require.LessOrEqual(t, rel(c.T, tt), 1e-9, "t of %+v: %v", c, tt)
		require.LessOrEqual(t, rel(c.DF, df), 1e-9, "df of %+v: %v", c, df)
		require.LessOrEqual(t, rel(c.P, p), 1e-8, "p of %+v: %v", c, p)
	}
}

// TestStudentTExact: the t distribution's tails in closed form: df 1 is
// Cauchy (p = 1 − 2·atan|t|/π), df 2 is p = 1 − |t|/√(2+t²).
func TestStudentTExact(t *testing.T) {
	for _, x := range []float64{0, 0.1, 0.5, 1, 2, 5, 30} {
		require.InDelta(t, 1-2*math.Atan(x)/math.Pi, StudentTSF2(x, 1), 1e-13, "df 1, t %v", x)
		require.InDelta(t, 1-x/math.Sqrt(2+x*x), StudentTSF2(x, 2), 1e-13, "df 2, t %v", x)
	}
}

func moments(mean, sd float64, n int) sketch.Moments {
	return sketch.Moments{N: float64(n), Mean: mean, M2: sd * sd * float64(n-1)}
}

// TestCompareOutcome: a drop beyond the points pages only with enough
// samples for the test; the same drop on few samples is not significant
// (insufficient_data: more values are needed to tell), a tiny drop on
// many samples is within the points (ok), and fewer values than
// min_samples is insufficient_data.
func TestCompareOutcome(t *testing.T) {
	rate := OutcomeSpec{Name: "eval_pass", Kind: OutcomeRate, MaxDeltaPoints: 2, Alpha: 0.01, MinSamples: 30}
	rm := func(p float64, n int) sketch.Moments {
		return moments(p, math.Sqrt(p*(1-p)*float64(n)/float64(n-1)), n)
	}
	for _, tc := range []struct {
		name     string
		spec     OutcomeSpec
		cur, ref sketch.Moments
		want     Diagnosis
		sev      Severity
	}{
		{"drop of 5 points on 2000 each", rate, rm(0.85, 2000), rm(0.90, 2000), OutcomeRegression, Critical},
		{"drop of 3 points on 5000 each", rate, rm(0.87, 5000), rm(0.90, 5000), OutcomeRegression, Warning},
		{"drop of 5 points on 40 each", rate, rm(0.85, 40), rm(0.90, 40), InsufficientData, SeverityOK},
		{"drop of 1 point on 100000 each", rate, rm(0.89, 100000), rm(0.90, 100000), OK, SeverityOK},
		{"rise of 5 points", rate, rm(0.95, 2000), rm(0.90, 2000), OK, SeverityOK},
		{"under min_samples", rate, rm(0.5, 20), rm(0.9, 2000), InsufficientData, SeverityOK},
		{"error rate up, lower is better", OutcomeSpec{Name: "eval_fail", Kind: OutcomeRate, LowerIsBetter: true, MaxDeltaPoints: 2, Alpha: 0.01, MinSamples: 30},
			rm(0.15, 2000), rm(0.10, 2000), OutcomeRegression, Critical},
		{"recall mean down", OutcomeSpec{Name: "context_recall", Kind: OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 30},
			moments(0.74, 0.2, 600), moments(0.82, 0.2, 600), OutcomeRegression, Critical},
		{"recall mean down, noisy", OutcomeSpec{Name: "context_recall", Kind: OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 30},
			moments(0.74, 0.4, 40), moments(0.82, 0.4, 40), InsufficientData, SeverityOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CompareOutcome(tc.spec, tc.cur, tc.ref, VersusPrevious, "v1")
			require.Equal(t, tc.want, r.Diagnosis, "%+v", r)
			require.Equal(t, tc.sev, r.Severity, "%+v", r)
			require.InDelta(t, 100*(tc.cur.Mean-tc.ref.Mean), r.DeltaPoints, 1e-9)
			require.NotEmpty(t, r.Summary)
		})
	}
}

// TestFallTogether: recall and relevance both regressed against the same
// version become query_normalization_suspect; one alone stays a
// regression.
func TestFallTogether(t *testing.T) {
	specs := []OutcomeSpec{
		{Name: "context_relevance", Kind: OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 30, FallsWith: "context_recall"},
		{Name: "context_recall", Kind: OutcomeMean, MaxDeltaPoints: 3, Alpha: 0.01, MinSamples: 30},
	}
	both := []OutcomeReport{
		CompareOutcome(specs[0], moments(0.6, 0.2, 800), moments(0.7, 0.2, 800), VersusPrevious, "v1"),
		CompareOutcome(specs[1], moments(0.7, 0.2, 800), moments(0.8, 0.2, 800), VersusPrevious, "v1"),
	}
	FallTogether(specs, both)
	for _, r := range both {
		require.Equal(t, QueryNormalizationSuspect, r.Diagnosis)
		require.Equal(t, Critical, r.Severity)
		require.Contains(t, r.Summary, "inspect query-side normalization")
	}
	one := []OutcomeReport{
		CompareOutcome(specs[0], moments(0.6, 0.2, 800), moments(0.7, 0.2, 800), VersusPrevious, "v1"),
		CompareOutcome(specs[1], moments(0.8, 0.2, 800), moments(0.8, 0.2, 800), VersusPrevious, "v1"),
	}
	FallTogether(specs, one)
	require.Equal(t, OutcomeRegression, one[0].Diagnosis)
	require.Equal(t, OK, one[1].Diagnosis)
}

// TestWorstOutcomes: one report per name, in first-seen order, the most
// severe of its comparisons and the first on a tie.
func TestWorstOutcomes(t *testing.T) {
	reps := []OutcomeReport{
		{Name: "pass", Against: VersusPrevious, Severity: Warning},
		{Name: "recall", Against: VersusPrevious, Severity: SeverityOK},
		{Name: "pass", Against: VersusLive, Severity: Critical},
		{Name: "recall", Against: VersusLive, Severity: SeverityOK},
	}
	got := WorstOutcomes(reps)
	if len(got) != 2 || got[0].Name != "pass" || got[0].Against != VersusLive || got[1].Name != "recall" || got[1].Against != VersusPrevious {
		t.Fatalf("WorstOutcomes = %+v", got)
	}
}
