#!/usr/bin/env python3
"""Writes reference.json: reference values from scipy.stats for the drift
package's KS, KS critical values, KS p-values and Wasserstein distance.

The datasets are small, seeded and written into the JSON, so the Go test
needs neither scipy nor this script. Values are rounded so every sample has
few distinct values (ties included, and the Go sketches stay exact).

Regenerate (scipy and numpy needed):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scipy numpy
    /tmp/venv/bin/python3 gen_reference.py > reference.json
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats


def dataset(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    n, m = len(x), len(y)
    en = n * m / (n + m)
    asymp = stats.ks_2samp(x, y, method="asymp")
    exact = stats.ks_2samp(x, y, method="exact") if n * m <= 250000 else None
    d = float(asymp.statistic)
    return {
        "name": name,
        "ref": x,
        "cur": y,
        "ks": d,
        # The limiting Kolmogorov distribution at d*sqrt(nm/(n+m)): what
        # drift.KSPValue computes.
        "ks_pvalue_kstwobign": float(stats.kstwobign.sf(d * np.sqrt(en))),
        # scipy's own two-sample p-values, for information: 'asymp' uses
        # kstwo with round(en), 'exact' the exact permutation distribution.
        "ks_pvalue_scipy_asymp": float(asymp.pvalue),
        "ks_pvalue_scipy_exact": None if exact is None else float(exact.pvalue),
        "wasserstein": float(stats.wasserstein_distance(x, y)),
    }


def main():
    rng = np.random.default_rng(20261125)
    sets = []
    sets.append(dataset("tiny-disjoint", [1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]))
    sets.append(dataset("tiny-ties", [0, 0, 1, 1, 1, 2, 3, 3], [0, 1, 1, 2, 2, 2, 3, 4, 4, 5]))
    sets.append(dataset("flags", rng.binomial(1, 0.3, 500), rng.binomial(1, 0.36, 400)))
    sets.append(dataset("poisson", rng.poisson(3.0, 1000), rng.poisson(3.4, 800)))
    sets.append(dataset("normal-shift", np.round(rng.normal(0, 1, 300), 1), np.round(rng.normal(0.3, 1, 250), 1)))
    sets.append(dataset("normal-same", np.round(rng.normal(0, 1, 2000), 1), np.round(rng.normal(0, 1, 1500), 1)))
    sets.append(dataset("normal-scale", np.round(rng.normal(0, 1, 1000), 1), np.round(rng.normal(0, 1.5, 1000), 1)))
    sets.append(dataset("lognormal", np.round(rng.lognormal(0, 0.5, 600), 1), np.round(rng.lognormal(0.1, 0.6, 700), 1)))
    sets.append(dataset("constant-vs-spread", [2.5] * 50, np.round(rng.normal(2.5, 0.2, 60), 1)))

    crit = []
    for n, m in [(100, 100), (200, 100000), (1000, 1000), (5000, 20000), (1000000, 1000000)]:
        for alpha in [0.1, 0.05, 0.01, 0.001]:
            c = float(stats.kstwobign.isf(alpha))
            crit.append({
                "n": n, "m": m, "alpha": alpha,
                "c_alpha": c,
                "critical": c * float(np.sqrt((n + m) / (n * m))),
                # The finite-sample one-sample distribution at round(en),
                # for information.
                "critical_kstwo": float(stats.kstwo.isf(alpha, round(n * m / (n + m)))),
            })

    sf = [{"x": x, "sf": float(stats.kstwobign.sf(x))}
          for x in [0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.36, 1.5, 1.95, 2.5, 3.0]]

    out = {
        "generator": "testdata/gen_reference.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "datasets": sets,
        "critical_values": crit,
        "kolmogorov_sf": sf,
    }
    # One record a line: small, and diffs show which record changed.
    lines = []
    for key, val in out.items():
        if isinstance(val, list):
            body = ",\n  ".join(json.dumps(v, separators=(",", ":")) for v in val)
            lines.append(f" {json.dumps(key)}: [\n  {body}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(val)}")
    sys.stdout.write("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    main()
