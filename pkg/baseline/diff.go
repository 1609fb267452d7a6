package baseline

import (
	"github.com/normwatch/normwatch/pkg/drift"
)

// Diff compares baseline b (current, for example v4's training data) with
// reference a (for example v3's) using the drift engine, and returns the
// report with an exit code for CI gates: 0 when all is ok, 1 on a warning,
// 2 on a critical finding. Declared normalizations come from a, so a
// feature that a's model scaled and b's data holds raw shows as
// unscaled_input.
func Diff(a, b *Baseline, th drift.Thresholds) (drift.Report, int) {
	rep := drift.Compare(a.Set(), b.Set(), th)
	return rep, int(rep.Severity())
}
