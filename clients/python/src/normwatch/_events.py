"""encode_event and b64f32: events in the format normwatch's decoder reads.

One Kafka message is one JSON event (docs/event.schema.json):

    {"ts": "2026-11-25T10:00:00.123Z", "model": "ranker", "model_version": "v4",
     "features": {"income": -1.2}, "raw": {"income": 52000},
     "embeddings": {"query": "b64f32:AACAPwAAAEA="}}
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import struct
from typing import Any, Dict, Iterable, Mapping, Optional, Union

__all__ = ["B64F32_PREFIX", "b64f32", "encode_event"]

B64F32_PREFIX = "b64f32:"
"""The prefix of an embedding sent as base64 of little-endian float32."""

Number = Union[int, float, None]


def b64f32(vector: Iterable[Any]) -> str:
    """Returns "b64f32:" + base64 of vector's components as little-endian
    float32: about a quarter of a JSON array's size, and faster to decode.

    vector is any iterable of numbers (a list, a numpy array of any float
    dtype). Components are rounded to float32, as the decoder keeps them.
    """
    try:
        import numpy as np  # an optional fast path; the package needs no numpy

        arr = np.asarray(vector, dtype="<f4")
        if arr.ndim != 1:
            raise ValueError(f"an embedding is one vector, not an array of shape {arr.shape}")
        data = arr.tobytes()
    except ImportError:
        values = [float(x) for x in vector]
        data = struct.pack(f"<{len(values)}f", *values)
    if not data:
        raise ValueError("an embedding needs at least one component")
    return B64F32_PREFIX + base64.b64encode(data).decode("ascii")


def _number(name: str, v: Any) -> Number:
    # pandas' missing values of nullable columns (pd.NA, pd.NaT) are
    # missing values, as None is; pandas is not imported for it.
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(v, bool):
        raise TypeError(f"{name}: {v!r} is a bool, not a number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: {v!r} is not a number") from None
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return int(v)
    return f


def _encode_float(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "1e999" if x > 0 else "-1e999"
    return repr(x)


def _dumps(doc: Any) -> str:
    # json.dumps writes NaN and Infinity; normwatch's decoder reads NaN and
    # 1e999, so non-finite values are written by hand.
    if isinstance(doc, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + _dumps(v) for k, v in doc.items()) + "}"
    if isinstance(doc, (list, tuple)):
        # An embedding as a JSON array (b64=False) may hold NaN or ±Inf too.
        return "[" + ",".join(_dumps(v) for v in doc) + "]"
    if isinstance(doc, float):
        return _encode_float(doc)
    return json.dumps(doc)


def _time(ts: Union[str, int, float, _dt.datetime, None]) -> Union[str, int, float, None]:
    if ts is None or isinstance(ts, (str, int, float)):
        return ts
    if ts.tzinfo is None:
        raise ValueError("ts: a naive datetime has no time zone; give an aware one (datetime.now(timezone.utc))")
    return ts.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_event(
    model: str,
    model_version: str,
    features: Optional[Mapping[str, Any]] = None,
    *,
    raw: Optional[Mapping[str, Any]] = None,
    embeddings: Optional[Mapping[str, Iterable[Any]]] = None,
    ts: Union[str, int, float, _dt.datetime, None] = None,
    b64: bool = True,
) -> bytes:
    """Returns one event as the bytes of a Kafka message's value.

    features are the values the model got (normalized); None (or pandas'
    pd.NA and pd.NaT) is a missing value, NaN and ±Inf are sent as such
    (normwatch counts them, in embedding components too). raw, when
    given, are the same features before normalization: with them normwatch
    measures the serving transform itself. embeddings are vectors, sent as
    b64f32 strings (b64=False: JSON arrays). ts is the event time: an aware
    datetime, an RFC 3339 string or epoch milliseconds; None leaves the
    Kafka timestamp to tell it.
    """
    if not model or not model_version:
        raise ValueError("model and model_version are required")
    doc: Dict[str, Any] = {}
    t = _time(ts)
    if t is not None:
        doc["ts"] = t
    doc["model"] = str(model)
    doc["model_version"] = str(model_version)
    if features:
        doc["features"] = {str(k): _number(f"features[{k!r}]", v) for k, v in features.items()}
    if raw:
        doc["raw"] = {str(k): _number(f"raw[{k!r}]", v) for k, v in raw.items()}
    if embeddings:
        embs: Dict[str, Any] = {}
        for k, vec in embeddings.items():
            if b64:
                embs[str(k)] = b64f32(vec)
            else:
                # float32, as the decoder keeps them: 9 digits say it exactly.
                xs = [float(x) for x in vec]
                values = struct.unpack(f"<{len(xs)}f", struct.pack(f"<{len(xs)}f", *xs))
                embs[str(k)] = [float(f"{x:.9g}") for x in values]
        doc["embeddings"] = embs
    return _dumps(doc).encode("utf-8")
