package drift

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAgainstLiveWords holds every sentence of the golden file, rewritten
// for a candidate against live, free of the words of a comparison with a
// baseline: a sentence added with a new phrase of them fails here until
// liveWords says it for a candidate.
func TestAgainstLiveWords(t *testing.T) {
	data, err := os.ReadFile("testdata/sentences.json")
	require.NoError(t, err)
	var cases []struct{ Case, Diagnosis, Sentence string }
	require.NoError(t, json.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	leftover := regexp.MustCompile(`production|reference|baseline|training`)
	for _, c := range cases {
		r := AgainstLive(Report{Features: []FeatureReport{{Summary: c.Sentence}}})
		s := r.Features[0].Summary
		// The declared scaler's own range is its training's, whatever the reference.
		check := regexp.MustCompile(`saw in training`).ReplaceAllString(s, "")
		require.False(t, leftover.MatchString(check), "%s: %q", c.Case, s)
	}
}

func TestAgainstLive(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			name: "skipped scaler",
			in:   "production ≈ 19100 × training + 53200 (fit r² 0.999): the z-score scaler (mean 53100, std 19200) looks skipped at serving.",
			want: "candidate ≈ 19100 × live + 53200 (fit r² 0.999): the z-score scaler (mean 53100, std 19200) looks skipped at serving.",
		},
		{
			name: "unnormalized embeddings",
			in:   "no production vector is unit-norm (median norm 7.71, p5–p95 6.34–9.18) against 100% in the reference: L2 normalization looks skipped.",
			want: "no candidate vector is unit-norm (median norm 7.71, p5–p95 6.34–9.18) against 100% on live: L2 normalization looks skipped.",
		},
		{
			name: "similarity",
			in:   "similarity scores compressed to a band 0.0181 wide (baseline 0.529; p5–p95), median 0.131 (baseline 0.576): query vectors are not unit-norm",
			want: "similarity scores compressed to a band 0.0181 wide (live 0.529; p5–p95), median 0.131 (live 0.576): query vectors are not unit-norm",
		},
		{
			name: "range",
			in:   "5.5% of production values fall outside the training range [11.7, 1760] (5.5% below, 0% above; production min -999, max 1320).",
			want: "5.5% of candidate values fall outside live's range [11.7, 1760] (5.5% below, 0% above; candidate min -999, max 1320).",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Report{Features: []FeatureReport{{Name: "f", Diagnosis: UnscaledInput, Summary: tt.in}}, Embeddings: []EmbeddingReport{{Summary: tt.in}}}
			out := AgainstLive(in)
			require.Equal(t, tt.want, out.Features[0].Summary)
			require.Equal(t, tt.want, out.Embeddings[0].Summary)
			require.Equal(t, UnscaledInput, out.Features[0].Diagnosis)
			require.Equal(t, tt.in, in.Features[0].Summary, "the input is left as it was")
		})
	}
}
