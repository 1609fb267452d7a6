package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/stretchr/testify/require"
)

// TestNoFalseAlarmMillion compares a million stationary values with an
// independent million of the same distribution: negligible differences
// that are significant at this size must not alert.
func TestNoFalseAlarmMillion(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	cases := []struct {
		name string
		g    gen
	}{
		{"normal", normal(10, 3)},
		{"lognormal", lognormal(0, 1)},
		{"bimodal", bimodal(0.4)},
		{"flags", bernoulli(0.2)},
		{"poisson", poisson(3)},
		{"student-t3", studentT(3)},
		{"pareto1.5", pareto(1.5)},
		{"cauchy", cauchy()},
	}
	th := DefaultThresholds()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := numericOf(t, draw(c.g, n, uint64(100+2*i)))
			cur := numericOf(t, draw(c.g, n, uint64(101+2*i)))
			r := CompareFeature(Feature{Name: c.name, Ref: ref, Cur: cur}, th)
			require.Equal(t, OK, r.Diagnosis, "%+v", r)
			require.Equal(t, SeverityOK, r.Severity)
			t.Logf("ks %.5f (critical %.5f) psi %.6f w %.5f", r.KS, r.KSCritical, r.PSI, r.Wasserstein)
		})
	}
}

// stationaryFeature is the generator of one of many stationary features,
// with rates of missing and NaN values of its own.
type stationaryFeature struct {
	g          gen
	missing    float64
	nan        float64
	norm       Normalization
	descriptor string
}

func stationaryFeatures(k int) []stationaryFeature {
	r := rand.New(rand.NewPCG(5, 5))
	out := make([]stationaryFeature, k)
	for i := range out {
		var f stationaryFeature
		mu, sigma := 100*r.NormFloat64(), 0.1+10*r.Float64()
		switch i % 11 {
		case 0:
			f.g, f.descriptor = normal(mu, sigma), "normal"
		case 1:
			f.g, f.descriptor = lognormal(r.NormFloat64(), 0.2+r.Float64()), "lognormal"
		case 2:
			f.g, f.descriptor = bimodal(0.1+0.8*r.Float64()), "bimodal"
		case 3:
			f.g, f.descriptor = bernoulli(0.01+0.98*r.Float64()), "flag"
		case 4:
			f.g, f.descriptor = poisson(0.2+10*r.Float64()), "poisson"
		case 5:
			f.g, f.descriptor = affineGen(studentT(2+r.IntN(4)), sigma, mu), "student-t"
		case 6:
			f.g, f.descriptor = pareto(1+2*r.Float64()), "pareto"
		case 7:
			f.g, f.descriptor = affineGen(cauchy(), sigma, mu), "cauchy"
		case 8:
			f.g, f.descriptor = uniform(0, 1), "unit-range"
			f.norm = Normalization{Kind: ScalerMinMax, Min: 3, Max: 9}
		case 9:
			f.g, f.descriptor = constant(float64(r.IntN(5))), "constant"
		case 10:
			f.g, f.descriptor = normal(0, 1), "z-scored"
			f.norm = Normalization{Kind: ScalerZScore, Mean: mu, Std: sigma}
		}
		if r.Float64() < 0.3 {
			f.missing = 0.2 * r.Float64()
		}
		if r.Float64() < 0.2 {
			f.nan = 0.002 * r.Float64()
		}
		out[i] = f
	}
	return out
}

// sample sketches n values of f, with missing and NaN values drawn at f's
// rates.
func (f stationaryFeature) sample(t testing.TB, n int, seed uint64) *sketch.Numeric {
	r := rand.New(rand.NewPCG(seed, 13))
	s := sketch.NewNumeric()
	for range n {
		u := r.Float64()
		switch {
		case u < f.missing:
			s.AddMissing(1)
		case u < f.missing+f.nan:
			s.Add(math.NaN())
		default:
			s.Add(f.g(r))
		}
	}
	return s
}

// TestNoFalseAlarmManyFeatures evaluates 1,000 stationary features over 10
// windows of 1,000 values against baselines of 20,000: zero alarms.
func TestNoFalseAlarmManyFeatures(t *testing.T) {
	features, windows := 1000, 10
	if testing.Short() {
		features = 200
	}
	th := DefaultThresholds()
	fs := stationaryFeatures(features)
	alarms := map[string]int{}
	var examples []string
	for i, f := range fs {
		ref := f.sample(t, 20_000, uint64(1_000_000+i))
		for w := range windows {
			cur := f.sample(t, 1000, uint64(i*windows+w))
			r := CompareFeature(Feature{Name: f.descriptor, Ref: ref, Cur: cur, Norm: f.norm}, th)
			if r.Severity > SeverityOK {
				alarms[string(r.Diagnosis)]++
				if len(examples) < 5 {
					examples = append(examples, fmt.Sprintf("%s #%d window %d: %s %s", f.descriptor, i, w, r.Diagnosis, r.Summary))
				}
			}
		}
	}
	require.Empty(t, alarms, "alarms by diagnosis; examples: %v", examples)
}
