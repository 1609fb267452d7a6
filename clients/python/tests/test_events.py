"""encode_event and b64f32 against the decoder's format: what the CLI
reads back from a JSONL file of encoded events."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import normwatch
from conftest import CLI


def test_b64f32_is_little_endian_float32() -> None:
    s = normwatch.b64f32([1.0, 2.0, -0.1])
    assert s.startswith("b64f32:")
    raw = base64.b64decode(s[len("b64f32:"):])
    assert struct.unpack("<3f", raw) == struct.unpack("<3f", struct.pack("<3f", 1.0, 2.0, -0.1))
    assert normwatch.b64f32(np.array([1.0, 2.0, -0.1], dtype=np.float64)) == s
    assert normwatch.b64f32([1, 2]) == "b64f32:AACAPwAAAEA="  # the design's example
    with pytest.raises(ValueError):
        normwatch.b64f32([])
    with pytest.raises(ValueError):
        normwatch.b64f32(np.ones((2, 2)))


def test_encode_event_fields() -> None:
    t = dt.datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=dt.timezone.utc)
    ev = json.loads(normwatch.encode_event("ranker", "v4", {"age": 0.41, "n": np.int64(3), "gone": None},
                                           raw={"age": 52}, embeddings={"q": [0.6, 0.8]}, ts=t, b64=False))
    # Nine digits say a float32 exactly: the decoder gets the same vector.
    assert [np.float32(x) for x in ev.pop("embeddings")["q"]] == [np.float32(0.6), np.float32(0.8)]
    assert ev == {"ts": "2026-11-25T10:00:00.123Z", "model": "ranker", "model_version": "v4",
                  "features": {"age": 0.41, "n": 3, "gone": None}, "raw": {"age": 52}}
    # pandas' missing values of nullable columns are missing values.
    assert json.loads(normwatch.encode_event("m", "v", {"x": pd.NA, "t": pd.NaT}))["features"] == {"x": None, "t": None}
    with pytest.raises(TypeError, match=r"features\['x'\]: 'a' is not a number"):
        normwatch.encode_event("m", "v", {"x": "a"})
    with pytest.raises(ValueError, match="naive datetime"):
        normwatch.encode_event("m", "v", {"x": 1}, ts=dt.datetime(2026, 1, 1))


def test_events_read_back_by_the_cli(cli: CLI, tmp_path: Path) -> None:
    """NaN and ±Inf are counted, None is missing, b64f32 and arrays give
    the same vectors."""
    rng = np.random.default_rng(3)
    lines = []
    for i in range(400):
        x: float = float(rng.normal())
        if i % 50 == 0:
            x = float("nan")
        if i % 80 == 1:
            x = float("inf") if i % 160 == 1 else float("-inf")
        v = rng.normal(size=6)
        v = v / np.linalg.norm(v)
        lines.append(normwatch.encode_event("m", "v", {"x": x, "y": None if i % 4 == 0 else i},
                                            embeddings={"q": v}, b64=i % 2 == 0))
    # Non-finite components of arrays (b64=False) are written as the decoder
    # reads them: the vector is left out and counted, never the event.
    for bad in (float("nan"), float("inf"), float("-inf")):
        lines.append(normwatch.encode_event("m", "v", {"x": 0.0, "y": 1}, embeddings={"q": [bad, 0.0, 0.0, 0.0, 0.0, 1.0]}, b64=False))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    ins = cli.inspect(cli.build(path, "v", model="m").path)
    assert ins["source"]["rows"] == 403, "no event refused"
    f = {r["name"]: r for r in ins["features"]}
    assert f["x"]["nonfinite"] == 8 + 5
    assert f["x"]["count"] == 403 - 13
    assert f["y"]["missing"] == 100
    assert ins["embeddings"][0]["dim"] == 6
    assert ins["embeddings"][0]["count"] == 400
    assert ins["embeddings"][0]["unit_norm_ratio"] == 1.0
