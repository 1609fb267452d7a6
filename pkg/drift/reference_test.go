package drift

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// reference is testdata/reference.json, written by testdata/gen_reference.py
// from scipy.stats.
type reference struct {
	Scipy    string `json:"scipy"`
	Datasets []struct {
		Name          string    `json:"name"`
		Ref           []float64 `json:"ref"`
		Cur           []float64 `json:"cur"`
		KS            float64   `json:"ks"`
		KSPValue      float64   `json:"ks_pvalue_kstwobign"`
		KSPValueAsymp float64   `json:"ks_pvalue_scipy_asymp"`
		KSPValueExact *float64  `json:"ks_pvalue_scipy_exact"`
		Wasserstein   float64   `json:"wasserstein"`
	} `json:"datasets"`
	CriticalValues []struct {
		N, M          uint64
		Alpha         float64 `json:"alpha"`
		CAlpha        float64 `json:"c_alpha"`
		Critical      float64 `json:"critical"`
		CriticalKSTwo float64 `json:"critical_kstwo"`
	} `json:"critical_values"`
	KolmogorovSF []struct {
		X, SF float64
	} `json:"kolmogorov_sf"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var ref reference
	require.NoError(t, json.Unmarshal(b, &ref))
	require.NotEmpty(t, ref.Datasets)
	return ref
}

func TestAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	for _, d := range ref.Datasets {
		t.Run(d.Name, func(t *testing.T) {
			r, c := numericOf(t, d.Ref), numericOf(t, d.Cur)
			require.True(t, r.Exact() && c.Exact(), "fixture must stay within the exact limit")
			rd, cd := distOf(t, r), distOf(t, c)
			ks, err := KS(rd, cd)
			require.NoError(t, err)
			require.InDelta(t, d.KS, ks, 1e-12, "ks")
			require.InDelta(t, d.KS, exactKS(sorted(d.Ref), sorted(d.Cur)), 1e-12, "exact ks of the test")
			w, err := W1(rd, cd)
			require.NoError(t, err)
			require.InDelta(t, d.Wasserstein, w, 1e-9*max(1, d.Wasserstein), "wasserstein")
			require.InDelta(t, d.Wasserstein, exactW1(sorted(d.Ref), sorted(d.Cur)), 1e-9*max(1, d.Wasserstein))
			p := KSPValue(ks, r.Count(), c.Count())
			require.InDelta(t, d.KSPValue, p, 1e-9, "p-value against kstwobign")
			// scipy's finite-sample 'asymp' p-value differs by O(1/sqrt(n)).
			require.InDelta(t, d.KSPValueAsymp, p, 0.05, "p-value against ks_2samp asymp")
		})
	}
	t.Run("critical values", func(t *testing.T) {
		for _, c := range ref.CriticalValues {
			require.InDelta(t, c.CAlpha, KolmogorovISF(c.Alpha), 1e-9, "c(%v)", c.Alpha)
			require.InEpsilon(t, c.Critical, KSCritical(c.N, c.M, c.Alpha), 1e-9, "n=%d m=%d alpha=%v", c.N, c.M, c.Alpha)
			// The limiting distribution is conservative by a few percent at
			// small n against the finite-sample one.
			require.InEpsilon(t, c.CriticalKSTwo, KSCritical(c.N, c.M, c.Alpha), 0.03, "n=%d m=%d alpha=%v kstwo", c.N, c.M, c.Alpha)
		}
	})
	t.Run("kolmogorov sf", func(t *testing.T) {
		for _, s := range ref.KolmogorovSF {
			require.InDelta(t, s.SF, KolmogorovSF(s.X), 1e-10, "x=%v", s.X)
		}
	})
}
