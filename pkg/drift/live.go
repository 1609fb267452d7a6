package drift

import "strings"

// liveWords rewrites the words of a sentence about production against a
// reference into one about a candidate version against the live version,
// longest phrases first. The declared scaler's own training range ("the
// range the min-max scaler saw in training") stays: it is the scaler's,
// whichever version is the reference.
var liveWords = strings.NewReplacer(
	"production ≈ ", "candidate ≈ ",
	" × training", " × live",
	"no production vector", "no candidate vector",
	"production vectors", "candidate vectors",
	"production values", "candidate values",
	"production min", "candidate min",
	"but production has", "but the candidate has",
	"the serving traffic", "the candidate's traffic",
	"the training range", "live's range",
	"the training share", "live's share",
	"no baseline to compare with", "live has none of it to compare with",
	"where the reference has", "where live has",
	"the reference's", "live's",
	"in the reference", "on live",
	"matches the reference", "matches live",
	"the reference looks", "live looks",
	"the reference", "live",
	"as in the baseline", "as on live",
	"(baseline ", "(live ",
	", baseline ", ", live ",
)

// AgainstLive returns r with its sentences naming the two sides of a
// candidate's comparison with the live version of its model: r judged
// the candidate's sketches (as the current side) against the live
// version's in the same windows (as the reference), so "production ≈ 0.5
// × training" reads "candidate ≈ 0.5 × live". Diagnoses and figures are
// unchanged: a skipped scaler has the same signature against live
// traffic that went through it as against the training data.
func AgainstLive(r Report) Report {
	out := Report{
		Features:   make([]FeatureReport, len(r.Features)),
		Embeddings: make([]EmbeddingReport, len(r.Embeddings)),
	}
	for i, f := range r.Features {
		f.Summary = liveWords.Replace(f.Summary)
		out.Features[i] = f
	}
	for i, e := range r.Embeddings {
		e.Summary = liveWords.Replace(e.Summary)
		out.Embeddings[i] = e
	}
	return out
}
