package drift_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
)

// A z-score scaler fitted in training (mean 52100, std 18300) is skipped at
// serving: the model gets raw incomes. The summary names the scaler; the
// fit differs from its parameters by the sampling noise of 20,000 values.
func Example_skippedScaler() {
	r := rand.New(rand.NewPCG(1, 2))
	income := func() float64 { return 52100 + 18300*r.NormFloat64() }
	norm := drift.Normalization{Kind: drift.ScalerZScore, Mean: 52100, Std: 18300}

	training := sketch.NewNumeric() // what the model saw: normalized incomes
	for range 50_000 {
		training.Add((income() - norm.Mean) / norm.Std)
	}
	production := sketch.NewNumeric() // what it gets now: raw incomes
	for range 20_000 {
		production.Add(income())
	}

	rep := drift.CompareFeature(drift.Feature{
		Name: "income", Ref: training, Cur: production, Norm: norm,
	}, drift.DefaultThresholds())
	fmt.Println(rep.Diagnosis, rep.Severity)
	fmt.Println(drift.Sentence(drift.Subject(rep.Name, "ranker", "v4"), rep.Summary))
	// Output:
	// unscaled_input critical
	// income on ranker v4: production ≈ 18400 × training + 51900 (fit r² 0.999): the z-score scaler (mean 52100, std 18300) looks skipped at serving.
}
