package drift

import (
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/sentences.json with this run's sentences")

// goldenSentence is one row of testdata/sentences.json.
type goldenSentence struct {
	Case      string    `json:"case"`
	Diagnosis Diagnosis `json:"diagnosis"`
	Sentence  string    `json:"sentence"`
}

// TestSentences holds every sentence a diagnosis can carry to the table in
// testdata/sentences.json, word for word, and each to consistent shares.
// After a change of wording, look at the diff and record it with
// `go test ./pkg/drift -run TestSentences -update`.
func TestSentences(t *testing.T) {
	z := scalerOf(t, ScalerZScore, income)
	zs := viaScaler(z)
	secs := uniform(20, 80)
	mm := scalerOf(t, ScalerMinMax, secs)
	zref, mmref := scaled(income, z), scaled(secs, mm)
	std := normal(0, 1)
	latency := lognormal(5, 0.6)
	th := DefaultThresholds()

	feature := func(ref gen, norm Normalization, serve serving, pairs bool, n int) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			f, _ := servedFeature(t, ref, norm, serve, pairs, 20000, n)
			r := CompareFeature(f, th)
			return r.Diagnosis, r.Summary
		}
	}
	featureOf := func(f func(t *testing.T) Feature) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			r := CompareFeature(f(t), th)
			return r.Diagnosis, r.Summary
		}
	}
	const dim = 32
	mu := direction(dim, 1)
	unit := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: always(true)}
	raw := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0), scale: 1}
	mixed := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0.7), scale: 1}
	fewUnit := embeddingGen{dim: dim, mean: mu, spread: 1, normalize: share(0.003), scale: 1}
	other := embeddingGen{dim: dim, mean: direction(dim, 2), spread: 1, normalize: always(true)}
	shorter := embeddingGen{dim: dim / 2, mean: mu, spread: 1, normalize: always(true)}
	embedding := func(e func(t *testing.T) Embedding) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			r := CompareEmbedding(e(t), th)
			return r.Diagnosis, r.Summary
		}
	}
	vs := func(ref, cur *embeddingGen, n int) func(t *testing.T) Embedding {
		return func(t *testing.T) Embedding {
			e := Embedding{Name: "query", Cur: cur.vector(t, n, 2)}
			if ref != nil {
				e.Ref = ref.vector(t, 5000, 1)
			}
			return e
		}
	}

	similarity := func(qs, ds float64) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			ref, _ := retrievals(1, 300, 5, dim, 1, 1, sketch.MetricL2)
			cur, _ := retrievals(2, 300, 5, dim, qs, ds, sketch.MetricL2)
			r := CompareEmbedding(Embedding{Name: "query", RefSim: ref, CurSim: cur}, th)
			return r.Diagnosis, r.Summary
		}
	}
	frozen := func(ref, cur *embeddingGen, keep float64) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			fr, fc := frozenRuns(t, 3, 140, 2, 10, keep)
			e := Embedding{Name: "query", RefFrozen: fr, CurFrozen: fc}
			if ref != nil {
				e.Ref, e.Cur = ref.vector(t, 5000, 1), cur.vector(t, 400, 2)
			}
			r := CompareEmbedding(e, th)
			return r.Diagnosis, r.Summary
		}
	}
	activation := func(ref, cur string) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			ra, _ := activations(1, 600, 64, ref)
			ca, _ := activations(2, 300, 64, cur)
			r := CompareEmbedding(Embedding{Name: "hidden", RefAct: ra, CurAct: ca}, th)
			return r.Diagnosis, r.Summary
		}
	}

	outcome := func(name string, kind OutcomeKind, cur, ref sketch.Moments, together bool) func(t *testing.T) (Diagnosis, string) {
		return func(t *testing.T) (Diagnosis, string) {
			specs := []OutcomeSpec{
				{Name: name, Kind: kind, MaxDeltaPoints: 2, Alpha: 0.01, MinSamples: 200, FallsWith: "context_recall"},
				{Name: "context_recall", Kind: OutcomeMean, MaxDeltaPoints: 2, Alpha: 0.01, MinSamples: 200},
			}
			reps := []OutcomeReport{CompareOutcome(specs[0], cur, ref, VersusPrevious, "v3")}
			if together {
				reps = append(reps, CompareOutcome(specs[1], sketch.Moments{N: 3000, Mean: 0.72, M2: 0.05 * 2999}, sketch.Moments{N: 2800, Mean: 0.78, M2: 0.05 * 2799}, VersusPrevious, "v3"))
			}
			FallTogether(specs, reps)
			return reps[0].Diagnosis, reps[0].Summary
		}
	}
	rateOf := func(p, n float64) sketch.Moments { return sketch.Moments{N: n, Mean: p, M2: p * (1 - p) * n} }
	cases := []struct {
		name string
		run  func(t *testing.T) (Diagnosis, string)
	}{
		{"outcome/eval pass rate fell", outcome("eval_pass", OutcomeRate, rateOf(0.84, 3000), rateOf(0.9, 2800), false)},
		{"outcome/eval pass rate fell on few requests", outcome("eval_pass", OutcomeRate, rateOf(0.84, 250), rateOf(0.9, 240), false)},
		{"outcome/eval pass rate too few", outcome("eval_pass", OutcomeRate, rateOf(0.84, 150), rateOf(0.9, 2800), false)},
		{"outcome/relevance and recall fell together", outcome("context_relevance", OutcomeMean,
			sketch.Moments{N: 3000, Mean: 0.68, M2: 0.04 * 2999}, sketch.Moments{N: 2800, Mean: 0.77, M2: 0.04 * 2799}, true)},
		{"feature/no baseline", featureOf(func(t *testing.T) Feature { return Feature{Cur: numericOf(t, draw(std, 500, 2))} })},
		{"feature/no values", featureOf(func(t *testing.T) Feature { return Feature{Ref: numericOf(t, draw(std, 500, 1))} })},
		{"feature/too few values", feature(std, Normalization{}, served(std, identity), false, 150)},
		{"feature/too few finite values", featureOf(func(t *testing.T) Feature {
			f := Feature{Ref: numericOf(t, draw(std, 20000, 1)), Cur: numericOf(t, draw(std, 150, 2))}
			f.Cur.AddMissing(2) // under the missing floor, but the finite values are too few
			for range 100 {
				f.Cur.Add(math.Inf(1))
			}
			f.Ref.AddBatch(slices.Repeat([]float64{math.Inf(1)}, 15000))
			return f
		})},
		{"feature/absent key", featureOf(func(t *testing.T) Feature { return Feature{Ref: numericOf(t, draw(std, 20000, 1)), Events: 3000} })},
		{"feature/null in every event", featureOf(func(t *testing.T) Feature {
			f := Feature{Ref: numericOf(t, draw(std, 20000, 1)), Cur: sketch.NewNumeric()}
			f.Cur.AddMissing(3000)
			return f
		})},
		{"feature/missing rose", featureOf(func(t *testing.T) Feature {
			f := Feature{Ref: numericOf(t, draw(std, 20000, 1)), Cur: numericOf(t, draw(std, 3500, 2))}
			f.Ref.AddMissing(200)
			f.Cur.AddMissing(1500)
			return f
		})},
		{"feature/nan and inf", featureOf(func(t *testing.T) Feature {
			f := Feature{Ref: numericOf(t, draw(std, 20000, 1)), Cur: numericOf(t, draw(std, 5000, 2))}
			f.Cur.AddBatch(slices.Repeat([]float64{math.NaN()}, 120))
			f.Cur.AddBatch([]float64{math.Inf(1), math.Inf(-1), math.Inf(1)})
			return f
		})},
		{"feature/ok", feature(zref, z, served(income, zs), false, 5000)},
		{"feature/ok with pairs", feature(zref, z, served(income, zs), true, 5000)},

		{"unscaled_input/pairs", feature(zref, z, served(income, identity), true, 5000)},
		{"unscaled_input/quantiles", feature(zref, z, served(income, identity), false, 5000)},
		{"unscaled_input/undeclared standardized", feature(std, Normalization{}, served(normal(40, 10), identity), false, 5000)},
		{"unscaled_input/undeclared unit range", feature(uniform(0, 1), Normalization{}, served(uniform(20, 80), identity), false, 5000)},
		{"unscaled_input/12% by the distribution", feature(zref, z, faulty(income, z, 0.12, identity), false, 5000)},
		{"unscaled_input/12% with pairs", feature(zref, z, faulty(income, z, 0.12, identity), true, 5000)},
		{"unscaled_input/5% beyond the range", feature(zref, z, faulty(income, z, 0.05, identity), false, 1000)},
		{"unscaled_input/5% beyond the range with pairs", feature(zref, z, faulty(income, z, 0.05, identity), true, 1000)},
		{"unscaled_input/5% of 200 values", feature(zref, z, faulty(income, z, 0.05, identity), false, 200)},
		{"unscaled_input/5% of 200 values with pairs", feature(zref, z, faulty(income, z, 0.05, identity), true, 200)},
		{"double_scaled/pairs", feature(zref, z, served(income, func(x float64) float64 { return zs(zs(x)) }), true, 5000)},
		{"double_scaled/quantiles", feature(zref, z, served(income, func(x float64) float64 { return zs(zs(x)) }), false, 5000)},
		{"double_scaled/20% by the distribution", feature(zref, z, faulty(income, z, 0.2, func(x float64) float64 { return zs(zs(x)) }), false, 5000)},
		{"scale_change/pairs, cents into a dollar scaler", feature(zref, z, served(income, unitThen(100, 0, zs)), true, 5000)},
		{"scale_change/unit before the scaler", feature(zref, z, served(income, unitThen(100, 0, zs)), false, 5000)},
		{"scale_change/unit after the scaler", feature(zref, z, served(income, thenUnit(zs, 10, 0)), false, 5000)},
		{"scale_change/pairs, unit after the scaler", feature(zref, z, served(income, thenUnit(zs, 10, 0)), true, 5000)},
		{"scale_change/5% ×10 after the scaler", feature(zref, z, faulty(income, z, 0.05, thenUnit(zs, 10, 0)), false, 1000)},
		{"scale_change/unit without a scaler", feature(latency, Normalization{}, served(latency, thenUnit(identity, 0.001, 0)), false, 5000)},
		{"scale_change/°C → °F", feature(normal(20, 6), Normalization{}, served(normal(20, 6), thenUnit(identity, 1.8, 32)), false, 5000)},
		{"scale_change/spread", feature(std, Normalization{}, served(std, thenUnit(identity, 1.4, 0)), false, 5000)},
		{"scale_change/15% in cents", feature(zref, z, faulty(income, z, 0.15, unitThen(100, 0, zs)), false, 5000)},
		{"scale_change/20% in ms without a scaler", feature(lognormal(0, 0.5), Normalization{}, faulty(lognormal(0, 0.5), Normalization{}, 0.2, thenUnit(identity, 1000, 0)), false, 5000)},
		{"shift", feature(std, Normalization{}, served(std, thenUnit(identity, 1, 0.4)), false, 5000)},
		{"scaler_refit/pairs", feature(zref, z, served(income, func(x float64) float64 { return (x - 58000) / (1.2 * z.Std) }), true, 5000)},
		{"scaler_refit/pairs, order reversed", feature(zref, z, served(income, func(x float64) float64 { return -zs(x) }), true, 5000)},
		{"scaler_refit/30% through a stale scaler", feature(zref, z, faulty(income, z, 0.3, func(x float64) float64 { return (x - 58000) / (1.3 * z.Std) }), true, 5000)},
		{"range_violation/min-max", feature(mmref, mm, faulty(secs, mm, 0.6, func(x float64) float64 { return 1 + 0.009*(x-20)/60 }), false, 5000)},
		{"range_violation/min-max both sides", feature(mmref, mm, func(r *rand.Rand) (float64, float64, bool) {
			x := secs(r)
			switch u := r.Float64(); {
			case u < 0.0123:
				return x, -0.05, true
			case u < 0.0123+0.456:
				return x, 1.05, true
			}
			return x, viaScaler(mm)(x), false
		}, false, 5000)},
		{"range_violation/sentinel", feature(latency, Normalization{}, faulty(latency, Normalization{}, 0.05, func(float64) float64 { return -999 }), false, 5000)},
		{"score_compression", feature(uniform(0, 1), Normalization{}, served(normal(0.5, 0.05), identity), false, 5000)},
		{"distribution_change", feature(bimodal(0.3), Normalization{}, served(bimodal(0.7), identity), false, 5000)},

		{"judge/named in the newest window", func(t *testing.T) (Diagnosis, string) {
			// The horizon still looks clean; its newest window is all
			// skipped.
			clean, _ := servedFeature(t, zref, z, served(income, zs), false, 20000, 5000)
			skipped, _ := servedFeature(t, zref, z, served(income, identity), false, 20000, 1000)
			set := func(f Feature) Set { return Set{Features: map[string]FeatureSketch{"income": {Sketch: f.Cur}}} }
			rep := Judge(Input{Model: "ranker", Version: "v4",
				Ref: Set{Features: map[string]FeatureSketch{"income": {Sketch: clean.Ref, Norm: z}}},
				Cur: set(clean), Recent: set(skipped)}, DefaultPolicy())
			return rep.Features[0].Diagnosis, rep.Features[0].Summary
		}},

		{"embedding/no baseline", embedding(vs(nil, &unit, 500))},
		{"embedding/too few vectors", embedding(vs(&unit, &unit, 100))},
		{"embedding/no vectors", embedding(func(t *testing.T) Embedding { return Embedding{Ref: unit.vector(t, 5000, 1)} })},
		{"embedding/absent", embedding(func(t *testing.T) Embedding { return Embedding{Ref: unit.vector(t, 5000, 1), Events: 3000} })},
		{"embedding/partly absent", embedding(func(t *testing.T) Embedding {
			return Embedding{Ref: unit.vector(t, 5000, 1), Cur: unit.vector(t, 2000, 2), Events: 3000}
		})},
		{"embedding/other dimension", embedding(vs(&unit, &shorter, 3000))},
		{"embedding/some of another dimension", embedding(func(t *testing.T) Embedding {
			e := Embedding{Ref: unit.vector(t, 5000, 1), Cur: unit.vector(t, 3000, 2)}
			for range 40 {
				e.Cur.Add(make([]float32, dim/2))
			}
			return e
		})},
		{"embedding/nan", embedding(func(t *testing.T) Embedding {
			e := Embedding{Ref: unit.vector(t, 5000, 1), Cur: unit.vector(t, 3000, 2)}
			v := make([]float32, dim)
			v[3] = float32(math.NaN())
			for range 30 {
				e.Cur.Add(v)
			}
			return e
		})},
		{"embedding/unnormalized", embedding(vs(&unit, &raw, 3000))},
		{"embedding/unnormalized, a few unit", embedding(vs(&unit, &fewUnit, 3000))},
		{"embedding/mixed", embedding(vs(&unit, &mixed, 3000))},
		{"embedding/mixed, unnormalized reference", embedding(vs(&raw, &mixed, 3000))},
		{"embedding/model change", embedding(vs(&unit, &other, 3000))},
		{"embedding/ok", embedding(vs(&unit, &unit, 3000))},
		{"embedding/similarity compressed, query side", similarity(7.3, 1)},
		{"embedding/similarity compressed, document side", similarity(1, 5)},
		{"embedding/similarity compressed, both sides", similarity(6, 4)},
		{"embedding/similarity ok", similarity(1, 1)},
		{"embedding/activations layernorm to rmsnorm", activation(ActLayerNorm, ActRMSNorm)},
		{"embedding/activations rmsnorm to layernorm", activation(ActRMSNorm, ActLayerNorm)},
		{"embedding/activations layernorm to none", activation(ActLayerNorm, ActNone)},
		{"embedding/activations ok", activation(ActLayerNorm, ActLayerNorm)},
		{"embedding/frozen recall fell, query vectors not unit", frozen(&unit, &raw, 0.62)},
		{"embedding/frozen recall fell, query vectors unit", frozen(&unit, &unit, 0.8)},
		{"embedding/frozen recall fell, no vectors", frozen(nil, nil, 0.62)},
		{"embedding/frozen recall ok", frozen(nil, nil, 1)},
	}

	var got []goldenSentence
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, summary := c.run(t)
			s := Sentence(Subject("income", "ranker", "v4"), summary)
			if strings.HasPrefix(c.name, "embedding/") {
				s = Sentence(Subject("query", "ranker", "v4"), summary)
			}
			if strings.HasPrefix(c.name, "outcome/") {
				s = Sentence(Subject("eval_pass", "ranker", "v4"), summary)
				if strings.Contains(c.name, "relevance") {
					s = Sentence(Subject("context_relevance", "ranker", "v4"), summary)
				}
			}
			requireConsistentShares(t, s)
			got = append(got, goldenSentence{Case: c.name, Diagnosis: d, Sentence: s})
		})
	}

	// Every diagnosis has its sentences in the table.
	seen := map[Diagnosis]bool{}
	for _, g := range got {
		seen[g.Diagnosis] = true
	}
	for _, d := range Diagnoses {
		require.True(t, seen[d], "no case gives %s", d)
	}

	path := filepath.Join("testdata", "sentences.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
		return
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err, "record the table with -update")
	var want []goldenSentence
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got, "sentences changed; if for the better, record them with -update")
}

// A share as a sentence shows it: "12.8%", "<0.1%", ">99.9%".
const shareRE = `(<0\.1%|>99\.9%|\d+(?:\.\d+)?%)`

var (
	anyShare     = regexp.MustCompile(`-?` + shareRE)
	unitAndRest  = regexp.MustCompile(shareRE + ` of production vectors are not unit-norm and ` + shareRE + ` are`)
	twoLines     = regexp.MustCompile(shareRE + ` of the serving traffic .*lie on two lines, ` + shareRE + ` on the scaler's .* and ` + shareRE + ` on normalized`)
	belowAbove   = regexp.MustCompile(shareRE + ` of production values (?:lie beyond|fall outside) .*?\(` + shareRE + ` below(?: its min)?, ` + shareRE + ` above`)
	roundedShare = regexp.MustCompile(`(?:only|no more than) 0% `)
)

// shareValue reads a share as a sentence shows it, and whether it is
// bounded rather than rounded ("<0.1%").
func shareValue(t *testing.T, s string) (float64, bool) {
	t.Helper()
	switch s {
	case "<0.1%":
		return 0.05, true
	case ">99.9%":
		return 99.95, true
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	require.NoError(t, err, s)
	return v, false
}

// requireConsistentShares checks the shares of a sentence: each within
// [0%, 100%], none a rounded 0 said of what is there, and the shares that
// partition a population adding up: the unit-norm vectors and the rest to
// 100%, the two lines of the pairs to 100% (the share named first being
// the second line's), the values below and above a range to the share
// beyond it.
func requireConsistentShares(t *testing.T, s string) {
	t.Helper()
	for _, m := range anyShare.FindAllString(s, -1) {
		require.False(t, strings.HasPrefix(m, "-"), "a negative share in %q", s)
		v, _ := shareValue(t, m)
		require.True(t, v >= 0 && v <= 100, "share %s in %q", m, s)
	}
	require.NotRegexp(t, roundedShare, s)
	sum := func(total string, parts ...string) {
		t.Helper()
		want, b := shareValue(t, total)
		var got float64
		for _, p := range parts {
			v, bp := shareValue(t, p)
			got += v
			b = b || bp
		}
		tol := 1e-9
		if b {
			tol = 0.051 * float64(len(parts)+1)
		}
		require.InDelta(t, want, got, tol, "%v do not add up to %s in %q", parts, total, s)
	}
	if m := unitAndRest.FindStringSubmatch(s); m != nil {
		sum("100%", m[1], m[2])
	}
	if m := twoLines.FindStringSubmatch(s); m != nil {
		require.Equal(t, m[1], m[3], "the share of the traffic is the second line's in %q", s)
		sum("100%", m[2], m[3])
	}
	if m := belowAbove.FindStringSubmatch(s); m != nil {
		sum(m[1], m[2], m[3])
	}
}
