"""normwatch's training side in Python.

- export_scalers(obj, path): the scaler file of fitted scikit-learn
  scalers, pipelines and column transformers, for
  ``monitor baseline build --scaler PATH``.
- encode_event(...) and b64f32(vector): events for producers, in the
  format normwatch's decoder reads.

See README.md beside this package, and docs/design.md ("Normalization
kinds") in the repository.
"""

from ._events import B64F32_PREFIX, b64f32, encode_event
from ._export import ExportError, export_scalers

__all__ = ["B64F32_PREFIX", "ExportError", "b64f32", "encode_event", "export_scalers"]
__version__ = "0.1.0"
