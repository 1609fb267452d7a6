package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/demo"
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
	if f := e.Frozen; f != nil {
		out = append(out, fmt.Sprintf("frozen reference of %d queries, top-%d", len(f.Queries), f.K))
	}
	if a := e.Activation; a != nil {
		p := drift.FitActivation(a.Sketch)
		out = append(out, fmt.Sprintf("activations of %d vectors fit %s (per-vector mean %.3g ± %.3g, std %.3g ± %.1f%%, RMS %.3g ± %.1f%%)",
			p.Vectors, a.Fit, p.Mean, p.MeanSD, p.Std, 100*p.StdCV, p.RMS, 100*p.RMSCV))
	}
	return out
}

// demoSearchBaselines builds the baselines of the demo's search model from
// generated training events (JSONL: retrievals and activations are
// events' fields), through the same builder as `monitor baseline build
// --activations hidden`.
func demoSearchBaselines(dir, work string) error {
	scalerPath := filepath.Join(work, "search-scaler.yaml")
	if err := os.WriteFile(scalerPath, []byte(demo.SearchScalerYAML()), 0o644); err != nil {
		return err
	}
	scaler, err := baseline.LoadScaler(scalerPath)
	if err != nil {
		return err
	}
	for i, version := range []string{demo.SearchHealthy, demo.SearchBuggy} {
		if _, ok := existing(dir, demo.SearchModel, version); ok {
			continue
		}
		path := filepath.Join(work, "train-search-"+version+".jsonl")
		if err := writeTraining(path, func(w io.Writer) error {
			return demo.NewSearchGenerator(demo.DefaultSearchOptions(), uint64(200+i)).WriteTrainingJSONL(w, version, 5000)
		}); err != nil {
			return err
		}
		b, _, err := baseline.Build(context.Background(), path, baseline.BuildOptions{
			Model: demo.SearchModel, Version: version, Scaler: scaler, Activations: []string{demo.Hidden},
		})
		if err != nil {
			return fmt.Errorf("building the search %s baseline: %w", version, err)
		}
		if _, err := baseline.Write(dir, b); err != nil {
			return fmt.Errorf("writing the search %s baseline: %w", version, err)
		}
	}
	return nil
}

// writeTraining writes a demo's training data to path through write.
func writeTraining(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing training data: %w", err)
	}
	return nil
}
