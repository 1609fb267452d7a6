"""Writes pyarrow.parquet and the same rows as pyarrow.csv, for
TestPyarrowParquet: a Parquet file made by an independent implementation.

Run with pyarrow installed (pip install pyarrow); CI only reads the output.
The values are chosen to be exact in both files: integers, binary fractions
and float32 embedding components written with enough digits.
"""
import csv
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq

random.seed(7)
N = 300
ages, incomes, scores, embs = [], [], [], []
for i in range(N):
    ages.append(None if i % 17 == 0 else random.randint(18, 90))
    incomes.append(round(random.gauss(52100, 18300) * 4) / 4)  # quarters: exact
    scores.append(None if i % 23 == 0 else random.randint(0, 1000) / 1024)
    v = [random.gauss(0, 1) for _ in range(4)]
    n = sum(x * x for x in v) ** 0.5
    # float32 components, written back from float32 so both files agree.
    embs.append([float(pa.scalar(x / n, pa.float32()).as_py()) for x in v])

table = pa.table({
    "age": pa.array(ages, pa.int64()),
    "income": pa.array(incomes, pa.float64()),
    "score": pa.array(scores, pa.float32()),
    "q": pa.array(embs, pa.list_(pa.float32())),
    "name": pa.array([f"user{i}" for i in range(N)], pa.string()),
})
# Two row groups and dictionary encoding, as real files have.
pq.write_table(table, "pyarrow.parquet", row_group_size=128, compression="snappy")

with open("pyarrow.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["age", "income", "score", "q", "name"])
    for i in range(N):
        w.writerow([
            "" if ages[i] is None else ages[i],
            repr(incomes[i]),
            "" if scores[i] is None else repr(float(pa.scalar(scores[i], pa.float32()).as_py())),
            json.dumps(embs[i]),
            f"user{i}",
        ])
