"""Fixtures: the real monitor binary (built once from the repository, or
NORMWATCH_MONITOR), and helpers that run `monitor baseline` as a user
would, reading its JSON output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def monitor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("NORMWATCH_MONITOR")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("bin") / "monitor"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/monitor"], cwd=REPO, check=True)
    return out


class CLI:
    """`monitor baseline` through the binary."""

    def __init__(self, binary: Path, store: Path) -> None:
        self.binary = binary
        self.store = store

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"monitor {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def build(self, path: Path, version: str, *extra: str, model: str = "ranker") -> "Built":
        p = self.run("baseline", "build", "--input", str(path), "--model", model, "--model-version", version,
                     "--out", str(self.store), "--quiet", *extra)
        # "wrote PATH (id ...): ..."
        return Built(Path(p.stdout.split()[1]), p.stderr)

    def inspect(self, path: Path, *extra: str) -> Dict[str, Any]:
        out: Dict[str, Any] = json.loads(self.run("baseline", "inspect", "--json", str(path), *extra).stdout)
        return out

    def diff(self, a: Path, b: Path) -> Dict[str, Any]:
        p = self.run("baseline", "diff", "--json", str(a), str(b), check=False)
        if p.returncode not in (0, 1, 2):
            raise AssertionError(f"diff exited {p.returncode}:\n{p.stderr}")
        out: Dict[str, Any] = json.loads(p.stdout)
        return out


class Built:
    def __init__(self, path: Path, stderr: str) -> None:
        self.path = path
        self.stderr = stderr


@pytest.fixture
def cli(monitor: Path, tmp_path: Path) -> CLI:
    store = tmp_path / "baselines"
    store.mkdir()
    return CLI(monitor, store)


def diagnoses(report: Dict[str, Any]) -> Dict[str, str]:
    """feature (or embedding) name -> diagnosis of a diff's report."""
    out = {f["name"]: f["diagnosis"] for f in report["report"]["features"] or []}
    out.update({e["name"]: e["diagnosis"] for e in report["report"].get("embeddings") or []})
    return out


def normalizations(inspected: Dict[str, Any], names: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, Any]]:
    return {f["name"]: f["normalization"] for f in inspected["features"] if names is None or f["name"] in names}


def features(inspected: Dict[str, Any]) -> List[str]:
    return [f["name"] for f in inspected["features"]]
