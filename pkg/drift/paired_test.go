package drift

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// pairedVectors pairs n live unit vectors with the candidate's: the same
// direction, scaled by scale on share of the requests (1 elsewhere), and
// returns what JudgePairedEmbedding takes, computed one pair at a time
// as the engine does.
func pairedVectors(n int, share, scale float64) (meanCos, minCos, meanRatio float64, off uint64, offRatio float64) {
	r := rand.New(rand.NewPCG(uint64(n), 4))
	minCos = math.Inf(1)
	var sumCos, sumRatio, sumOff float64
	for i := range n {
		live := make([]float64, 16)
		var ss float64
		for j := range live {
			live[j] = r.NormFloat64()
			ss += live[j] * live[j]
		}
		k := 1.0
		if float64(i) < share*float64(n) {
			k = scale
		}
		var ll, cc, lc float64
		for j := range live {
			l := live[j] / math.Sqrt(ss)
			c := k * l
			ll, cc, lc = ll+l*l, cc+c*c, lc+l*c
		}
		cos, ratio := lc/math.Sqrt(ll*cc), math.Sqrt(cc/ll)
		sumCos, sumRatio, minCos = sumCos+cos, sumRatio+ratio, math.Min(minCos, cos)
		if math.Abs(ratio-1) > 0.05 {
			off++
			sumOff += ratio
		}
	}
	if off > 0 {
		offRatio = sumOff / float64(off)
	}
	return sumCos / float64(n), minCos, sumRatio / float64(n), off, offRatio
}

// TestJudgePairedEmbedding: the candidate's vectors against live's on the
// same requests: equal is ok; scaled on every request is
// embedding_unnormalized; scaled on a share (down to 5%) is
// embedding_mixed_norms with the share and the ratio in the sentence,
// also under 5% when they move the mean ratio; a few slightly odd
// requests are not named; few pairs are not judged.
func TestJudgePairedEmbedding(t *testing.T) {
	th := DefaultThresholds()
	for _, c := range []struct {
		name         string
		n            int
		share, scale float64
		want         Diagnosis
		sentence     string
	}{
		{"equal", 2000, 0, 1, OK, ""},
		{"all unnormalized", 2000, 1, 8.5, EmbeddingUnnormalized, "has cosine 1.000 with live's (least 1.000) and 8.5 times its norm: the candidate's vectors are scaled otherwise"},
		{"31% unnormalized", 2000, 0.31, 8.5, EmbeddingMixedNorms, "points as live's (cosine 1.000, least 1.000), but on 31% of them it has 8.5 times live's norm: a normalization is skipped or added on part of the candidate's traffic."},
		{"5% normalized twice over", 2000, 0.05, 0.125, EmbeddingMixedNorms, "on 5% of them it has 0.125 times live's norm"},
		{"2% odd, enough to move the mean", 2000, 0.02, 8.5, EmbeddingMixedNorms, "on 2% of them it has 8.5 times live's norm"},
		{"1% slightly odd", 2000, 0.01, 1.2, OK, ""},
		{"too few pairs", 50, 1, 8.5, InsufficientData, "50 requests seen by both versions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mc, mn, mr, off, or := pairedVectors(c.n, c.share, c.scale)
			r := JudgePairedEmbedding("query", uint64(c.n), mc, mn, mr, off, or, th)
			require.Equal(t, c.want, r.Diagnosis, r.Summary)
			require.InDelta(t, c.share, r.OffNormShare, 1e-12)
			if c.want == EmbeddingUnnormalized || c.want == EmbeddingMixedNorms {
				require.Equal(t, Critical, r.Severity)
			}
			require.Contains(t, r.Summary, c.sentence)
		})
	}
}
