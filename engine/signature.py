"""The model signature: which raw columns a model reads, of what kind, and what it saw."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.values import (
    category_strings,
    json_safe,
    label_strings,
    numeric_values,
)

KINDS = ("numeric", "categorical", "boolean")
# Profile flags that make a column useless as a feature, in the order their reason is given.
DROP_FLAGS = ("constant", "id_like")


def _guess_kind(values: pd.Series) -> str:
    """Kind of a column the dataset profile does not describe (pandas' dtype decides)."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "categorical"


def build_signature(frame: pd.DataFrame, *, target: str, columns: list[dict]) -> dict:
    """Describe the features of `frame` (the TRAINING rows) for the target `target`.

    Features are every column but the target and those whose profile in `columns` is flagged
    constant or id_like. A column without a profile gets its kind from its dtype. Statistics
    (categories, min/max/mean, missing share) come from `frame` alone, so pass training rows.
    """
    if target not in frame.columns:
        raise ValueError(f"Target column {target!r} is not in the data.")
    profiles = {str(c["name"]): c for c in columns}
    features: list[dict] = []
    dropped: list[dict] = []
    for name in frame.columns:
        name = str(name)
        if name == target:
            continue
        profile = profiles.get(name, {})
        flags = profile.get("flags") or []
        reason = next((flag for flag in DROP_FLAGS if flag in flags), None)
        if reason:
            dropped.append({"name": name, "reason": reason})
            continue
        values = frame[name]
        kind = profile.get("kind") or _guess_kind(values)
        if kind not in KINDS:
            raise ValueError(f"Column {name!r} has unknown kind {kind!r}.")
        n = len(values)
        missing = int(values.isna().sum())
        feature: dict = {"name": name, "kind": kind}
        if kind == "numeric":
            arr = numeric_values(values, name=name)
            finite = arr[np.isfinite(arr)]
            missing = n - finite.size
            feature.update(
                min=float(finite.min()) if finite.size else None,
                max=float(finite.max()) if finite.size else None,
                mean=float(finite.mean()) if finite.size else None,
            )
        else:
            feature["categories"] = sorted(set(category_strings(values).dropna()))
        feature["missing_share"] = round(missing / n, 6) if n else 0.0
        features.append(feature)

    labels = sorted(set(label_strings(frame[target])))
    return json_safe(
        {
            "target": target,
            "features": features,
            "class_labels": labels,
            "dropped_columns": dropped,
        }
    )
