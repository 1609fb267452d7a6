"""The producer side end to end: a baseline built with the CLI from a
scikit-learn scaler's output, `monitor run --kafka.embedded`, events
produced with kafka-python over the Kafka protocol by the example
producer, and the diagnosis read from /api/v1/evaluations."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
from kafka import KafkaProducer
from sklearn.preprocessing import StandardScaler

import normwatch
from conftest import CLI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import producer as example  # noqa: E402

WINDOW = 5  # seconds


class Daemon:
    def __init__(self, binary: Path, baselines: Path, work: Path) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "run", "--kafka.embedded", "--baselines.dir", str(baselines),
             "--checkpoint.dir", str(work / "checkpoints"), "--http.listen", "127.0.0.1:0",
             "--window.size", f"{WINDOW}s", "--window.allowed_lateness", "0s", "--window.max_future_skew", "0s",
             "--log.format", "logfmt"],
            stderr=subprocess.PIPE, text=True)
        self.log: List[str] = []
        self.broker: Optional[str] = None
        self.url: Optional[str] = None
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "kafka.embedded: started" in line:
                m = re.search(r"\baddr=(\S+)", line)
                self.broker = m.group(1) if m else None
            m = re.search(r"msg=serving addr=(http://\S+)", line)
            if m:
                self.url = m.group(1)
                self.ready.set()
        self.ready.set()

    def get(self, path: str) -> Any:
        assert self.url is not None
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_embedded_broker_diagnosis(cli: CLI, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    train = pd.DataFrame({"income": 10000 + 50000 * rng.lognormal(0, 0.35, 5000), "age": rng.integers(18, 91, 5000).astype(float)})
    scaler = StandardScaler().fit(train)
    scaler_file = tmp_path / "scaler.json"
    normwatch.export_scalers(scaler, scaler_file, embeddings={"query": "l2"})
    table = pd.DataFrame(scaler.transform(train), columns=train.columns)
    q = rng.normal(size=(5000, 16))
    table["query"] = list(q / np.linalg.norm(q, axis=1, keepdims=True))
    table.to_parquet(tmp_path / "train.parquet", index=False)
    cli.build(tmp_path / "train.parquet", "v4", "--scaler", str(scaler_file))

    d = Daemon(cli.binary, cli.store, tmp_path)
    try:
        assert d.ready.wait(60) and d.url, "".join(d.log)
        assert d.broker, "".join(d.log)
        kp = KafkaProducer(bootstrap_servers=d.broker.split(","), linger_ms=10)
        parts = sorted(kp.partitions_for("normwatch.events"))
        # Serving: income skips the scaler, age goes through it, query
        # vectors arrive unnormalized; event times in past windows.
        epoch = (int(time.time()) // WINDOW - 20) * WINDOW
        n, windows = 600, 4
        rows: List[Dict[str, Any]] = []
        for k in range(windows):
            for j in range(n):
                x = {"income": 10000 + 50000 * rng.lognormal(0, 0.35), "age": float(rng.integers(18, 91))}
                age = float(scaler.transform(pd.DataFrame([x]))[0][1])
                t = dt.datetime.fromtimestamp(epoch + k * WINDOW + j * WINDOW / n, dt.timezone.utc)
                rows.append({"ts": t, "income": x["income"], "age": age, "query": rng.normal(size=16) * 3})
        msgs = list(example.events(rows, "ranker", "v4"))
        for i, m in enumerate(msgs):
            kp.send("normwatch.events", m, partition=parts[i % len(parts)])
        # The clock: one event per partition past the last window closes it.
        clock = dt.datetime.fromtimestamp(epoch + (windows + 1) * WINDOW, dt.timezone.utc)
        for p in parts:
            kp.send("normwatch.events", normwatch.encode_event("zz-clock", "v1", {}, ts=clock), partition=p)
        kp.flush()
        kp.close()

        got: Dict[str, str] = {}
        deadline = time.time() + 90
        while time.time() < deadline:
            for ev in d.get("/api/v1/evaluations") or []:
                if ev["model"] == "ranker" and ev["model_version"] == "v4" and ev.get("events", 0) >= (windows - 1) * n:
                    got = {f["name"]: f["diagnosis"] for f in ev["report"]["features"] or []}
                    got.update({e["name"]: e["diagnosis"] for e in ev["report"].get("embeddings") or []})
            if got.get("income") == "unscaled_input":
                break
            time.sleep(0.5)
        assert got == {"income": "unscaled_input", "age": "ok", "query": "embedding_unnormalized"}, "".join(d.log[-30:])
    finally:
        d.stop()
