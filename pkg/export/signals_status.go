package export

import (
	"fmt"
	"html"
	"html/template"
	"strconv"

	"github.com/normwatch/normwatch/pkg/drift"
)

func fig(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

// attrs makes data-* attributes of name, value pairs. Dynamic attribute
// names are refused by html/template (only letters and digits pass its
// filter), so the attribute is built here, its value escaped.
func attrs(kv ...string) []template.HTMLAttr {
	var out []template.HTMLAttr
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, template.HTMLAttr("data-"+kv[i]+`="`+html.EscapeString(kv[i+1])+`"`))
	}
	return out
}

// signalRows are the status page rows of an embedding's retrieval and
// activation signals, after the embedding's own: what the signal measured,
// named by the embedding's diagnosis when the signal is its cause. The
// sentence is always the signal's own figures: the embedding's row above
// already says the diagnosis's sentence, and a second copy of it told the
// reader nothing more.
func signalRows(e drift.EmbeddingReport, subject string) []rowView {
	var out []rowView
	row := func(signal string, d drift.Diagnosis, samples uint64, text string, data []string) rowView {
		r := rowView{Name: e.Name, Embedding: true, Signal: signal, Samples: samples, Diagnosis: drift.OK,
			Sentence: drift.Sentence(subject, text), Data: attrs(data...)}
		if e.Diagnosis == d {
			r.Diagnosis, r.Severity = e.Diagnosis, e.Severity
		}
		return r
	}
	if s := e.Similarity; s != nil {
		var text string
		data := []string{"samples", strconv.FormatUint(s.Samples, 10)}
		if len(s.Quantiles) == 0 {
			text = fmt.Sprintf("similarity of %d retrieval scores; not judged (no baseline of them, or too few).", s.Samples)
		} else {
			text = fmt.Sprintf("similarity band %s wide against %s in the baseline (p5–p95, ratio %s), median %s against %s.",
				fig(s.Band), fig(s.RefBand), fig(s.SpreadRatio), fig(s.Quantiles[2].Cur), fig(s.Quantiles[2].Ref))
			data = append(data, "spread-ratio", fig(s.SpreadRatio), "band", fig(s.Band), "ref-band", fig(s.RefBand))
		}
		if s.QueryNorms > 0 {
			text += fmt.Sprintf(" Query norm median %s (%s unit-norm).", fig(s.QueryNormMedian), pctText(s.QueryUnitRatio))
			data = append(data, "query-norm", fig(s.QueryNormMedian))
		}
		if s.DocNorms > 0 {
			text += fmt.Sprintf(" Document norm median %s (%s unit-norm).", fig(s.DocNormMedian), pctText(s.DocUnitRatio))
			data = append(data, "doc-norm", fig(s.DocNormMedian))
		}
		r := row("similarity", drift.SimilarityCompressed, s.Samples, text, data)
		if len(s.Quantiles) == 0 && r.Diagnosis == drift.OK {
			r.Diagnosis = drift.InsufficientData
		}
		out = append(out, r)
	}
	if f := e.Frozen; f != nil {
		text := fmt.Sprintf("recall@%d %s and rank-biased overlap %s against the frozen reference over %d frozen queries (%d runs; reference of %d queries).",
			f.K, fig(f.Recall), fig(f.Overlap), f.Queries, f.Runs, f.RefQueries)
		if f.Unknown+f.OverCap > 0 {
			text += fmt.Sprintf(" %d runs of ids not in the reference and %d past limits.max_frozen_queries left out.", f.Unknown, f.OverCap)
		}
		r := row("frozen", drift.RetrievalRegression, f.Runs, text,
			[]string{"recall", fig(f.Recall), "overlap", fig(f.Overlap), "queries", strconv.Itoa(f.Queries)})
		if f.Queries == 0 && r.Diagnosis == drift.OK {
			r.Diagnosis = drift.InsufficientData
		}
		out = append(out, r)
	}
	if a := e.Activation; a != nil {
		c := a.Current
		want := a.Reference.Fit
		if a.Declared != "" {
			want = a.Declared
		}
		text := fmt.Sprintf("activations of %d vectors fit %s (per-vector mean %s ± %s, std %s ± %s, RMS %s ± %s); baseline %s.",
			c.Vectors, c.Fit, fig(c.Mean), fig(c.MeanSD), fig(c.Std), pctText(c.StdCV), fig(c.RMS), pctText(c.RMSCV), want)
		out = append(out, row("activation", drift.ActivationNormChange, c.Vectors, text,
			[]string{"fit", c.Fit, "baseline-fit", want, "std-cv", fig(c.StdCV), "rms-cv", fig(c.RMSCV)}))
	}
	return out
}

func pctText(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }
