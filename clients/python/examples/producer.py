"""Sends a table of model inputs to Kafka as normwatch events.

    pip install ./clients/python kafka-python pandas pyarrow
    python clients/python/examples/producer.py --brokers localhost:9092 \\
        --topic normwatch.events --model ranker --model-version v4 served.parquet

Each row is one event. Numeric columns are the features the model got;
a column named raw.<feature> is that feature before normalization (with
it, normwatch measures the serving transform itself); a column of vectors
(lists or arrays) is an embedding, sent as b64f32. A serving process would
call normwatch.encode_event the same way, one event per prediction.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from kafka import KafkaProducer

import normwatch


def events(rows: Iterable[Dict[str, Any]], model: str, version: str) -> Iterator[bytes]:
    """Encodes rows (column -> value) as events."""
    for row in rows:
        features: Dict[str, Any] = {}
        raw: Dict[str, Any] = {}
        embeddings: Dict[str, Any] = {}
        ts: Optional[Any] = None
        for col, v in row.items():
            if col == "ts":
                ts = v
            elif hasattr(v, "__len__") and not isinstance(v, str):
                embeddings[col] = v
            elif isinstance(v, str):
                continue  # an id or a category: not a feature
            elif col.startswith("raw."):
                raw[col[4:]] = v
            else:
                features[col] = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        yield normwatch.encode_event(model, version, features, raw=raw or None, embeddings=embeddings or None, ts=ts)


def send(producer: KafkaProducer, topic: str, messages: Iterable[bytes]) -> int:
    """Sends messages and waits until the broker has them all; returns the count."""
    n = 0
    for m in messages:
        producer.send(topic, m)
        n += 1
    producer.flush()
    return n


def read_table(path: str) -> List[Dict[str, Any]]:
    import pandas as pd

    df = pd.read_parquet(path) if path.endswith((".parquet", ".pq")) else pd.read_csv(path)
    records: List[Dict[str, Any]] = df.to_dict(orient="records")
    return records


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True, help="host:port, comma-separated")
    ap.add_argument("--topic", default="normwatch.events")
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-version", required=True)
    ap.add_argument("table", help="CSV or Parquet file, one row per event")
    args = ap.parse_args(argv)
    producer = KafkaProducer(bootstrap_servers=args.brokers.split(","), linger_ms=20)
    try:
        n = send(producer, args.topic, events(read_table(args.table), args.model, args.model_version))
    finally:
        producer.close()
    print(f"sent {n} events to {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
