"""export_scalers: fitted scikit-learn scalers as a normwatch scaler file.

The file declares, per feature, exactly the affine map the scaler applied
(normalized = (raw - center) / spread), in normwatch's kinds: zscore,
scale, center, minmax (with its target range and clip), robust (with its
quantile range and unit variance) and maxabs. What none of them expresses
is refused with the reason, never approximated: a wrong declaration would
make every later diagnosis of the feature wrong.

scikit-learn is not imported: estimators are told apart by their class
(and its module), so the package installs and type-checks without it.
"""

from __future__ import annotations

import json
import math
import os
from statistics import NormalDist
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["ExportError", "export_scalers"]

Declaration = Dict[str, Any]
"""One feature's entry of the scaler file: {"kind": "zscore", "mean": ..., "std": ...}."""


class ExportError(ValueError):
    """An estimator normwatch cannot declare, with the reason."""


# Transformers that leave every value of a column as it is, or fill its
# missing values, one output column per input column.
_VALUE_PRESERVING = {"SimpleImputer"}

# Transformers whose outputs are new columns that no scaler touched
# (codes, indicators): nothing to declare, as for a passthrough.
_UNSCALED_OUTPUTS = {"OneHotEncoder", "OrdinalEncoder", "MissingIndicator", "LabelEncoder"}

# Normalizations that no kind expresses, and why.
_NOT_AFFINE = {
    "QuantileTransformer": "maps values through their training quantiles, not an affine map",
    "PowerTransformer": "applies a Box-Cox or Yeo-Johnson power transform, not an affine map",
    "Normalizer": "scales each row to unit norm: the scale depends on the other columns of the row",
    "KBinsDiscretizer": "replaces values by bins",
    "SplineTransformer": "replaces a column by spline features",
    "PolynomialFeatures": "makes products of columns",
    "FunctionTransformer": "applies an arbitrary function normwatch cannot see",
    "PCA": "mixes columns into components",
    "TruncatedSVD": "mixes columns into components",
    "Binarizer": "thresholds values",
    "TargetEncoder": "replaces categories by target statistics",
}

_SCALERS = {"StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler"}


def _cls(est: Any) -> str:
    return type(est).__name__


def _is_identity(est: Any) -> bool:
    """A FunctionTransformer without a function: what a fitted
    ColumnTransformer holds for "passthrough" (and its remainder)."""
    return _cls(est) == "FunctionTransformer" and getattr(est, "func", None) is None


def _is_sklearn(est: Any) -> bool:
    return type(est).__module__.split(".")[0] == "sklearn"


def _floats(values: Any) -> List[float]:
    return [float(v) for v in list(values)]


def _check_fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise ExportError(f"{_cls(est)} is not fitted (no {attr}): fit it on the training data first")


def _scaler(est: Any) -> List[Optional[Declaration]]:
    """The declarations of one fitted scaler, in its column order; None for
    a column it leaves unchanged."""
    name = _cls(est)
    if name == "StandardScaler":
        _check_fitted(est, "n_features_in_")
        n = int(est.n_features_in_)
        with_mean, with_std = bool(est.with_mean), bool(est.with_std)
        mean = _floats(est.mean_) if with_mean else [0.0] * n
        scale = _floats(est.scale_) if with_std else [1.0] * n
        out: List[Optional[Declaration]] = []
        for i in range(n):
            if with_mean and with_std:
                out.append({"kind": "zscore", "mean": mean[i], "std": scale[i]})
            elif with_std:
                out.append({"kind": "scale", "scale": scale[i]})
            elif with_mean:
                out.append({"kind": "center", "center": mean[i]})
            else:
                out.append(None)
        return out
    if name == "MinMaxScaler":
        _check_fitted(est, "data_min_")
        lo, hi = _floats(est.data_min_), _floats(est.data_max_)
        a, b = (float(x) for x in est.feature_range)
        out = []
        for i in range(len(lo)):
            mx = hi[i]
            if mx == lo[i]:
                # scikit-learn divides a constant column's range by 1.
                mx = lo[i] + 1.0
            d: Declaration = {"kind": "minmax", "min": lo[i], "max": mx}
            if (a, b) != (0.0, 1.0):
                d["range"] = [a, b]
            if bool(getattr(est, "clip", False)):
                d["clip"] = True
            out.append(d)
        return out
    if name == "RobustScaler":
        _check_fitted(est, "n_features_in_")
        n = int(est.n_features_in_)
        centering, scaling = bool(est.with_centering), bool(est.with_scaling)
        q1, q3 = (float(q) for q in est.quantile_range)
        unit_variance = bool(getattr(est, "unit_variance", False))
        center = _floats(est.center_) if centering else [0.0] * n
        scale = _floats(est.scale_) if scaling else [1.0] * n
        out = []
        for i in range(n):
            if centering and scaling:
                # scale_ is the divisor; the file keeps the quantile range's
                # width, which unit_variance divides by its normal width.
                width = scale[i]
                if unit_variance:
                    z = NormalDist()
                    width = scale[i] * (z.inv_cdf(q3 / 100) - z.inv_cdf(q1 / 100))
                d = {"kind": "robust", "median": center[i], "iqr": width}
                if (q1, q3) != (25.0, 75.0):
                    d["quantile_range"] = [q1, q3]
                if unit_variance:
                    d["unit_variance"] = True
                out.append(d)
            elif scaling:
                out.append({"kind": "scale", "scale": scale[i]})
            elif centering:
                out.append({"kind": "center", "center": center[i]})
            else:
                out.append(None)
        return out
    if name == "MaxAbsScaler":
        _check_fitted(est, "max_abs_")
        out = []
        for m in _floats(est.max_abs_):
            # scikit-learn leaves an all-zero column as it is (divides by 1).
            out.append({"kind": "maxabs", "max_abs": abs(m) if m != 0 else 1.0})
        return out
    raise AssertionError(name)


def _n_out(est: Any) -> int:
    if hasattr(est, "get_feature_names_out"):
        return len(est.get_feature_names_out())
    raise ExportError(f"{_cls(est)} has no get_feature_names_out: normwatch cannot tell which columns it makes")


def _walk(est: Any, where: str) -> List[Optional[Declaration]]:
    """The declarations of est's output columns, in order: a Declaration
    for a column a scaler made, None for one no scaler touched."""
    name = _cls(est)
    at = f" (at {where})" if where else ""
    if isinstance(est, str):
        raise ExportError(f"{est!r}{at}: not a fitted estimator")
    if not _is_sklearn(est):
        raise ExportError(f"{type(est).__module__}.{name}{at}: not a scikit-learn estimator; normwatch cannot tell what it does to values")
    if name in _SCALERS:
        return _scaler(est)
    if name == "Pipeline":
        return _pipeline(est, where)
    if name == "ColumnTransformer":
        return _column_transformer(est, where)
    if name in _VALUE_PRESERVING or name in _UNSCALED_OUTPUTS or _is_identity(est):
        return [None] * _n_out(est)
    if name in _NOT_AFFINE:
        raise ExportError(f"{name}{at} {_NOT_AFFINE[name]}: no normalization kind of normwatch expresses it; "
                          "leave its columns out of what you export and declare them by hand, if at all")
    raise ExportError(f"{name}{at}: not a scaler normwatch knows (StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler, "
                      "in a Pipeline or ColumnTransformer); normwatch cannot tell what it does to values")


def _transformer_steps(pipe: Any) -> List[Any]:
    steps = list(pipe.steps)
    # The final step may be the model itself: it has no transform.
    if steps and not hasattr(steps[-1][1], "transform") and steps[-1][1] not in ("passthrough", None):
        steps = steps[:-1]
    return steps


def _pipeline(pipe: Any, where: str) -> List[Optional[Declaration]]:
    decl: Optional[List[Optional[Declaration]]] = None
    prev_scaler = ""
    for step_name, step in _transformer_steps(pipe):
        at = f"{where}.{step_name}" if where else step_name
        if step is None or step == "passthrough":
            continue
        cls = _cls(step)
        if cls in _SCALERS or cls in ("Pipeline", "ColumnTransformer"):
            inner = _walk(step, at)
            if decl is not None and any(d is not None for d in decl):
                raise ExportError(f"{cls} (at {at}) comes after {prev_scaler}, which already scaled these columns: "
                                  "normwatch declares one scaler per feature; fit a single scaler")
            decl = inner
            if any(d is not None for d in inner):
                prev_scaler = f"{cls} (at {at})" if cls in _SCALERS else f"the scalers in {cls} (at {at})"
            continue
        out = _walk(step, at)  # raises for what cannot be expressed
        if cls in _VALUE_PRESERVING or _is_identity(step):
            if decl is not None and len(out) != len(decl):
                raise ExportError(f"{cls} (at {at}) drops columns after {prev_scaler} "
                                  "(keep_empty_features=False with a column missing in every row): normwatch cannot match them up")
            if decl is None:
                decl = out
            continue
        # New columns no scaler made.
        if decl is not None and any(d is not None for d in decl):
            raise ExportError(f"{cls} (at {at}) re-encodes columns that {prev_scaler} scaled: their values are no longer the scaler's")
        decl = out
    if decl is None:
        return [None] * _n_out(pipe) if hasattr(pipe, "get_feature_names_out") else []
    return decl


def _column_transformer(ct: Any, where: str) -> List[Optional[Declaration]]:
    if not hasattr(ct, "transformers_"):
        raise ExportError(f"ColumnTransformer{' (at ' + where + ')' if where else ''} is not fitted: fit it on the training data first")
    n = len(ct.get_feature_names_out())
    decl: List[Optional[Declaration]] = [None] * n
    indices: Mapping[str, slice] = ct.output_indices_
    for name, trans, _cols in ct.transformers_:
        at = f"{where}.{name}" if where else name
        sl = indices.get(name, slice(0, 0))
        width = sl.stop - sl.start
        if trans in ("drop", "passthrough") or width == 0:
            continue
        inner = _walk(trans, at)
        if len(inner) != width:
            raise ExportError(f"{_cls(trans)} (at {at}) gives {len(inner)} columns where the ColumnTransformer has {width}")
        decl[sl] = inner
    return decl


def _output_names(est: Any) -> List[str]:
    target = est
    if _cls(est) == "Pipeline":
        steps = _transformer_steps(est)
        if len(steps) < len(est.steps):
            target = est[: len(steps)]
    if not hasattr(target, "get_feature_names_out"):
        raise ExportError(f"{_cls(est)} has no get_feature_names_out: normwatch cannot name its columns")
    names = [str(x) for x in target.get_feature_names_out()]
    if not hasattr(target, "feature_names_in_") and _cls(target) != "ColumnTransformer" and any(
            n == f"x{i}" for i, n in enumerate(names)):
        raise ExportError(f"{_cls(est)} was fitted on an array without column names, so its columns are x0, x1, ...: "
                          "fit it on a pandas DataFrame, or pass feature_names=")
    return names


def _declarations(est: Any, feature_names: Optional[Sequence[str]]) -> Dict[str, Declaration]:
    decl = _walk(est, "")
    names = list(feature_names) if feature_names is not None else _output_names(est)
    if len(names) != len(decl):
        raise ExportError(f"{len(names)} feature names for the {len(decl)} columns {_cls(est)} makes")
    out: Dict[str, Declaration] = {}
    for n, d in zip(names, decl):
        if d is None:
            continue
        if n in out:
            raise ExportError(f"column {n!r} is made twice")
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ExportError(f"column {n!r}: {k} is {v}: the scaler was fitted on non-finite data")
        out[n] = d
    return out


def export_scalers(
    obj: Union[Any, Sequence[Any]],
    path: Union[str, "os.PathLike[str]", None] = None,
    *,
    embeddings: Optional[Mapping[str, str]] = None,
    feature_names: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Declares the normalization of every column that obj's scalers made.

    obj is a fitted StandardScaler, MinMaxScaler, RobustScaler or
    MaxAbsScaler, a Pipeline or ColumnTransformer holding them (walked to
    its scalers, columns named by get_feature_names_out), or a list of
    these. Columns no scaler touched (encoders, passthrough, imputers) are
    left out: normwatch takes them as declared none. embeddings declares
    embedding fields, {"query": "l2"}. feature_names overrides the names
    of a single estimator's columns (for one fitted on an array).

    Returns the scaler file's document and, with path, writes it as JSON
    for ``monitor baseline build --scaler PATH``. Raises ExportError naming
    the estimator and the reason for anything no kind expresses.
    """
    estimators = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if feature_names is not None and len(estimators) != 1:
        raise ExportError("feature_names goes with a single estimator")
    features: Dict[str, Declaration] = {}
    for est in estimators:
        for name, d in _declarations(est, feature_names).items():
            if name in features:
                raise ExportError(f"column {name!r} is declared by two of the estimators given")
            features[name] = d
    embs: Dict[str, str] = {}
    for name, kind in (embeddings or {}).items():
        if kind not in ("l2", "none"):
            raise ExportError(f"embeddings[{name!r}]: {kind!r}: want 'l2' or 'none'")
        embs[name] = kind
    if not features and not embs:
        raise ExportError("nothing to declare: no scaler in what was given, and no embeddings")
    doc: Dict[str, Any] = {"features": features}
    if embs:
        doc["embeddings"] = embs
    if path is not None:
        tmp = os.fspath(path) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    return doc
