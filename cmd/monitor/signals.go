package main

import (
	"fmt"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

// signalsText says what a baseline embedding holds of the retrieval and
// activation signals, for inspect.
func signalsText(e *baseline.Embedding) []string {
	var out []string
	if s := e.Similarity; s != nil {
		c := s.Clone() // quantile queries cache inside a sketch
		q := func(n *sketch.Numeric, p float64) string {
			x, err := n.Quantile(p)
			if err != nil {
				return "-"
			}
			return g(&x)
		}
		line := fmt.Sprintf("similarity of %d scores, p5 %s, median %s, p95 %s", c.Scores().Count(),
			q(c.Scores(), 0.05), q(c.Scores(), 0.5), q(c.Scores(), 0.95))
		if n := c.QueryNorms().Count(); n > 0 {
			line += fmt.Sprintf("; query norm median %s (%.1f%% unit-norm)", q(c.QueryNorms(), 0.5), 100*c.QueryUnitRatio())
		}
		if n := c.DocNorms().Count(); n > 0 {
			line += fmt.Sprintf("; document norm median %s (%.1f%% unit-norm)", q(c.DocNorms(), 0.5), 100*c.DocUnitRatio())
		}
		out = append(out, line)
	}
	if a := e.Activation; a != nil {
		p := drift.FitActivation(a.Sketch)
		out = append(out, fmt.Sprintf("activations of %d vectors fit %s (per-vector mean %.3g ± %.3g, std %.3g ± %.1f%%, RMS %.3g ± %.1f%%)",
			p.Vectors, a.Fit, p.Mean, p.MeanSD, p.Std, 100*p.StdCV, p.RMS, 100*p.RMSCV))
	}
	return out
}
