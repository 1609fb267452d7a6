#!/usr/bin/env python3
"""Reference values for pkg/drift's outcome tests (outcome_test.go).

Run once, its output committed: python3 outcome_tests.py > outcome_tests.json

The two-proportion z-test is checked against scipy's chi-square test of
the 2x2 table without continuity correction (chi2 = z^2, the same p-value,
computed by another route); Welch's t-test against
scipy.stats.ttest_ind_from_stats(equal_var=False).
"""
import json

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(17)
out = {"scipy": scipy.__version__, "ztest": [], "welch": []}

props = [(412, 500, 455, 500), (30, 40, 36, 40), (8000, 10000, 8210, 10000),
         (1, 10, 9, 10), (50, 100, 50, 100), (970, 1000, 999, 1000)]
for _ in range(6):
    n1, n2 = int(rng.integers(20, 5000)), int(rng.integers(20, 5000))
    p = rng.uniform(0.15, 0.85)
    props.append((int(rng.binomial(n1, p)), n1, int(rng.binomial(n2, p + rng.uniform(-0.1, 0.1))), n2))
for x1, n1, x2, n2 in props:
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    chi2, pval, _, _ = stats.chi2_contingency(table, correction=False)
    sign = 1.0 if x1 / n1 >= x2 / n2 else -1.0
    out["ztest"].append({"x1": x1, "n1": n1, "x2": x2, "n2": n2,
                         "z": sign * float(np.sqrt(chi2)), "p": float(pval)})

cases = [(0.78, 0.2, 300, 0.82, 0.18, 320), (0.5, 1.0, 5, 0.9, 0.5, 7),
         (10.0, 3.0, 1000, 10.1, 0.5, 40), (0.0, 1.0, 2, 3.0, 1.0, 2),
         (0.70, 0.15, 5000, 0.71, 0.15, 5000)]
for _ in range(6):
    cases.append((float(rng.normal()), float(rng.uniform(0.1, 3)), int(rng.integers(2, 3000)),
                  float(rng.normal()), float(rng.uniform(0.1, 3)), int(rng.integers(2, 3000))))
for m1, s1, n1, m2, s2, n2 in cases:
    r = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False)
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    out["welch"].append({"m1": m1, "sd1": s1, "n1": n1, "m2": m2, "sd2": s2, "n2": n2,
                         "t": float(r.statistic), "df": float(df), "p": float(r.pvalue)})

print(json.dumps(out, indent=1))
