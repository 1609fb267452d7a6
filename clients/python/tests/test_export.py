"""export_scalers against real scikit-learn, through the real CLI.

Each scaler is fitted on raw training data; its transform of the training
data is built into a baseline with the exported scaler file. Then baselines
of fresh data, served as trained, with the scaler skipped and with it
applied twice, are diffed against it with `monitor baseline diff`: the
diagnosis is right only if the declared normalization is the transform
scikit-learn applied (a StandardScaler(with_mean=False) declared as a
z-score around its mean would be named a shift, not a skipped scaler).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

import normwatch
from conftest import CLI, diagnoses, features, normalizations

COLUMNS = ["income", "age", "tenure"]


def raw_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "income": 10000 + 50000 * rng.lognormal(0, 0.35, n),
        "age": rng.integers(18, 91, n).astype(float),
        "tenure": rng.gamma(2.0, 3.0, n),
        "country": rng.choice(["de", "fr", "us"], n),
    })


SCALERS: Dict[str, Callable[[], Any]] = {
    "standard": StandardScaler,
    "standard with_mean=False": lambda: StandardScaler(with_mean=False),
    "standard with_std=False": lambda: StandardScaler(with_std=False),
    "minmax": MinMaxScaler,
    "minmax (-1, 1)": lambda: MinMaxScaler(feature_range=(-1, 1)),
    "minmax (-1, 1) clip": lambda: MinMaxScaler(feature_range=(-1, 1), clip=True),
    "robust": RobustScaler,
    "robust (10, 90) unit_variance": lambda: RobustScaler(quantile_range=(10, 90), unit_variance=True),
    "robust with_centering=False": lambda: RobustScaler(with_centering=False),
    "maxabs": MaxAbsScaler,
}

KINDS = {
    "standard": "zscore", "standard with_mean=False": "scale", "standard with_std=False": "center",
    "minmax": "minmax", "minmax (-1, 1)": "minmax", "minmax (-1, 1) clip": "minmax", "robust": "robust",
    "robust (10, 90) unit_variance": "robust", "robust with_centering=False": "scale", "maxabs": "maxabs",
}


def transformed(scaler: Any, df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(scaler.transform(df[COLUMNS]), columns=COLUMNS)


@pytest.mark.parametrize("name", list(SCALERS))
def test_scaler_declared_as_applied(name: str, cli: CLI, tmp_path: Path) -> None:
    train, prod = raw_data(6000, 1), raw_data(3000, 2)
    scaler = SCALERS[name]().fit(train[COLUMNS])
    scaler_file = tmp_path / "scaler.json"
    doc = normwatch.export_scalers(scaler, scaler_file)
    assert sorted(doc["features"]) == sorted(COLUMNS)
    assert {d["kind"] for d in doc["features"].values()} == {KINDS[name]}

    def table(df: pd.DataFrame, label: str) -> Path:
        p = tmp_path / f"{label}.csv"
        df.to_csv(p, index=False)
        return p

    ref = cli.build(table(transformed(scaler, train), "train"), "v4", "--scaler", str(scaler_file))
    inspected = cli.inspect(ref.path)
    # The file keeps what the export wrote, number for number.
    assert normalizations(inspected) == doc["features"]

    served = cli.build(table(transformed(scaler, prod), "served"), "served")
    skipped = cli.build(table(prod[COLUMNS], "skipped"), "skipped")
    assert set(diagnoses(cli.diff(ref.path, served.path)).values()) == {"ok"}
    assert diagnoses(cli.diff(ref.path, skipped.path)) == {c: "unscaled_input" for c in COLUMNS}
    if "clip" not in name:  # clipping twice flattens, rather than rescales
        twice = cli.build(table(pd.DataFrame(scaler.transform(transformed(scaler, prod)), columns=COLUMNS), "twice"), "twice")
        assert diagnoses(cli.diff(ref.path, twice.path)) == {c: "double_scaled" for c in COLUMNS}


def test_pipeline_and_column_transformer(cli: CLI, tmp_path: Path) -> None:
    df = raw_data(8000, 3)
    df.loc[df.index[::50], "tenure"] = np.nan
    y = (df["income"] > 60000).astype(int)
    ct = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler(with_mean=False))]), ["income", "tenure"]),
        ("age", MinMaxScaler(feature_range=(-1, 1)), ["age"]),
        ("cat", OneHotEncoder(sparse_output=False), ["country"]),
    ])
    model = Pipeline([("prep", ct), ("model", LogisticRegression(max_iter=200))])
    x_train, _, y_train, _ = train_test_split(df, y, random_state=0)
    model.fit(x_train, y_train)

    scaler_file = tmp_path / "scaler.json"
    doc = normwatch.export_scalers(model, scaler_file, embeddings={"query": "l2"})
    assert sorted(doc["features"]) == ["age__age", "num__income", "num__tenure"]
    assert doc["features"]["num__income"]["kind"] == "scale"
    assert doc["features"]["age__age"]["range"] == [-1.0, 1.0]
    assert doc["embeddings"] == {"query": "l2"}

    # The training table as a pipeline writes it: the transformer's output
    # after train_test_split, with pandas' index, to Parquet.
    out = pd.DataFrame(ct.transform(x_train), columns=ct.get_feature_names_out(), index=x_train.index)
    out["query"] = [list(v / np.linalg.norm(v)) for v in np.random.default_rng(4).normal(size=(len(out), 8))]
    pq = tmp_path / "train.parquet"
    out.to_parquet(pq)  # index=True by default: __index_level_0__
    built = cli.build(pq, "v4", "--scaler", str(scaler_file))
    assert built.stderr.count("__index_level_0__") == 1
    assert "index=False" in built.stderr
    inspected = cli.inspect(built.path)
    assert "__index_level_0__" not in features(inspected)
    assert sorted(features(inspected)) == sorted(ct.get_feature_names_out())
    assert normalizations(inspected, doc["features"]) == doc["features"]
    assert {n: f["normalization"]["kind"] for n, f in ((f["name"], f) for f in inspected["features"])
            if n.startswith("cat__")} == {"cat__country_de": "none", "cat__country_fr": "none", "cat__country_us": "none"}
    assert inspected["embeddings"][0]["normalization"] == "l2"

    # A subset of the columns with the fuller scaler file: the rest listed once.
    sub = cli.build(pq, "v5", "--scaler", str(scaler_file), "--features", "num__income,age__age", "--embeddings", "query")
    assert sub.stderr.count("num__tenure") == 1
    assert "left out: num__tenure" in sub.stderr
    # Without --features, a scaler entry the table lacks is an error.
    out.drop(columns=["num__tenure"]).to_parquet(tmp_path / "less.parquet", index=False)
    p = cli.run("baseline", "build", "--input", str(tmp_path / "less.parquet"), "--model", "ranker", "--model-version", "v6",
                "--out", str(cli.store), "--scaler", str(scaler_file), check=False)
    assert p.returncode != 0
    assert 'feature "num__tenure" is not among' in p.stderr


def test_passthrough_columns_left_out(cli: CLI, tmp_path: Path) -> None:
    """A fitted ColumnTransformer holds "passthrough" (named or as its
    remainder) as an identity FunctionTransformer: its columns are left
    out, as no scaler touched them, not refused as an arbitrary function."""
    train, prod = raw_data(6000, 10), raw_data(3000, 11)
    ct = ColumnTransformer([("s", StandardScaler(), ["income"]), ("keep", "passthrough", ["age"])],
                           remainder="passthrough", verbose_feature_names_out=False).set_output(transform="pandas")
    ct.fit(train[COLUMNS])
    scaler_file = tmp_path / "scaler.json"
    doc = normwatch.export_scalers(Pipeline([("prep", ct), ("model", LogisticRegression())]).fit(
        train[COLUMNS], (train["income"] > 60000).astype(int)), scaler_file)
    scaler = ct.named_transformers_["s"]
    assert doc["features"] == {"income": {"kind": "zscore", "mean": float(scaler.mean_[0]), "std": float(scaler.scale_[0])}}

    def table(df: pd.DataFrame, label: str) -> Path:
        p = tmp_path / f"{label}.parquet"
        df.to_parquet(p, index=False)
        return p

    ref = cli.build(table(ct.transform(train[COLUMNS]), "train"), "v4", "--scaler", str(scaler_file))
    assert {n: d["kind"] for n, d in normalizations(cli.inspect(ref.path)).items()} == {
        "income": "zscore", "age": "none", "tenure": "none"}
    served = cli.build(table(ct.transform(prod[COLUMNS]), "served"), "served")
    skipped = cli.build(table(prod[COLUMNS], "skipped"), "skipped")
    assert set(diagnoses(cli.diff(ref.path, served.path)).values()) == {"ok"}
    assert diagnoses(cli.diff(ref.path, skipped.path))["income"] == "unscaled_input"


@pytest.mark.parametrize("est,reason", [
    (lambda: QuantileTransformer(n_quantiles=100), "QuantileTransformer maps values through their training quantiles"),
    (lambda: Normalizer(), "Normalizer scales each row to unit norm"),
    (lambda: Pipeline([("a", StandardScaler()), ("b", MinMaxScaler())]), "MinMaxScaler (at b) comes after StandardScaler (at a)"),
    (lambda: ColumnTransformer([("q", QuantileTransformer(n_quantiles=100), ["income"]), ("s", StandardScaler(), ["age"])]),
     "QuantileTransformer (at q) maps values"),
    (lambda: Pipeline([("s", StandardScaler()), ("oh", OneHotEncoder())]), "OneHotEncoder (at oh) re-encodes columns that StandardScaler (at s) scaled"),
])
def test_refused_with_reason(est: Callable[[], Any], reason: str) -> None:
    df = raw_data(500, 5)[["income", "age"]]
    fitted = est().fit(df)
    with pytest.raises(normwatch.ExportError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        normwatch.export_scalers(fitted)


def test_refused_unfitted_and_unnamed() -> None:
    with pytest.raises(normwatch.ExportError, match="not fitted"):
        normwatch.export_scalers(StandardScaler())
    with pytest.raises(normwatch.ExportError, match="without column names"):
        normwatch.export_scalers(StandardScaler().fit(np.ones((10, 2)) * np.arange(10)[:, None]))
    named = normwatch.export_scalers(StandardScaler().fit(np.arange(20.0).reshape(10, 2)), feature_names=["a", "b"])
    assert sorted(named["features"]) == ["a", "b"]


def test_pickle_and_joblib_told_how_to_export(cli: CLI, tmp_path: Path) -> None:
    scaler = StandardScaler().fit(raw_data(100, 6)[COLUMNS])
    table = tmp_path / "t.csv"
    transformed(scaler, raw_data(100, 6)).to_csv(table, index=False)
    for name, compress in [("scaler.joblib", 0), ("scaler.bin", 3), ("scaler.json", 0)]:
        joblib.dump(scaler, tmp_path / name, compress=compress)
        p = cli.run("baseline", "build", "--input", str(table), "--model", "m", "--model-version", "v",
                    "--out", str(cli.store), "--scaler", str(tmp_path / name), check=False)
        assert p.returncode != 0, name
        assert "normwatch.export_scalers" in p.stderr, p.stderr
        assert "pip install ./clients/python" in p.stderr


def test_scaler_file_forms_and_errors(cli: CLI, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = [normwatch.encode_event("m", "v", {"x": float(x)}, embeddings={"q": v / np.linalg.norm(v), "d": v})
            for x, v in zip(rng.normal(size=300), rng.normal(size=(300, 4)))]
    events = tmp_path / "train.jsonl"
    events.write_bytes(b"\n".join(rows) + b"\n")
    good = tmp_path / "s.yml"
    good.write_text("features:\n  x: {kind: scale, scale: 2}\nembeddings:\n  q: l2\n  d: {kind: none}\n")
    built = cli.build(events, "v", "--scaler", str(good), model="m")
    ins = cli.inspect(built.path)
    assert {e["name"]: e["normalization"] for e in ins["embeddings"]} == {"q": "l2", "d": "none"}
    bad = tmp_path / "bad.yml"
    for text, message in [
        ("embeddings:\n  q: {kind: cosine}\n", 'embeddings.q.kind: "cosine": want l2 or none, as query: l2 or query: {kind: l2}'),
        ("features:\n  x: {kind: minmax, min: 0, max: 1, range: -1}\n", "features.x.range: -1: want a list of two numbers, such as [-1, 1]"),
        ("features:\n  x: {kind: zscore, mean: 0}\n", "features.x.std: missing for a zscore scaler"),
    ]:
        bad.write_text(text)
        p = cli.run("baseline", "build", "--input", str(events), "--model", "m", "--model-version", "w",
                    "--out", str(cli.store), "--scaler", str(bad), check=False)
        assert p.returncode != 0
        assert message in p.stderr, p.stderr


def test_pandas_csv_index_refused(cli: CLI, tmp_path: Path) -> None:
    train, _ = train_test_split(raw_data(400, 8)[COLUMNS], random_state=1)
    path = tmp_path / "train.csv"
    train.to_csv(path)  # index=True by default: an unnamed first column
    p = cli.run("baseline", "build", "--input", str(path), "--model", "m", "--model-version", "v",
                "--out", str(cli.store), check=False)
    assert p.returncode != 0
    assert "to_csv(path, index=False)" in p.stderr
    train.to_csv(path, index=False)
    assert sorted(features(cli.inspect(cli.build(path, "v", model="m").path))) == sorted(COLUMNS)


def test_training_events_as_another_version(cli: CLI, tmp_path: Path) -> None:
    """Training rows logged as events of version "train" become the
    baseline of v4; 150 of them are below min_samples: a warning, and
    inspect marks them small."""
    rng = np.random.default_rng(9)
    lines = [normwatch.encode_event("ranker", "train", {"income": float(x)}) for x in rng.normal(size=150)]
    lines += [normwatch.encode_event("ranker", "v3", {"income": float(x)}) for x in rng.normal(size=50)]
    path = tmp_path / "logged.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    built = cli.build(path, "v4", "--select-version", "train")
    assert "skipped 50 rows: other_model" in built.stderr
    assert "warning: feature income: 150 values, below min_samples 200" in built.stderr
    ins = cli.inspect(built.path)
    assert ins["model_version"] == "v4"
    assert ins["source"]["from_version"] == "train"
    assert ins["source"]["rows"] == 150
    assert ins["features"][0]["small"] is True
    assert ins["warnings"] == ["feature income: 150 values, below min_samples 200: a reference this small makes comparisons weak"]
    assert cli.inspect(built.path, "--min-samples", "100")["warnings"] == []
