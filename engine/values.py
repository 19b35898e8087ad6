"""Turning raw cells into numbers, booleans and category strings, the same way everywhere.

The signature, the preprocessor (at training and at serving time) and the label encoder all go
through these helpers, so a value means the same thing in each.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

TRUE_STRINGS = frozenset({"true", "yes", "t", "y", "1"})
FALSE_STRINGS = frozenset({"false", "no", "f", "n", "0"})


def label_strings(values: pd.Series) -> pd.Series:
    """Class labels as text; the rule of `core.csvfiles.label_strings` (copied, not
    imported, because the engine must not import the Django project): missing labels are
    dropped, and a float column whose values are all integers is printed without ".0"."""
    present = values.dropna()
    if pd.api.types.is_float_dtype(present) and bool(np.all(np.mod(present, 1) == 0)):
        present = present.astype("int64")
    return present.astype(str)


def _cell_string(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_strings(values: pd.Series) -> pd.Series:
    """Category text per cell (object dtype, NaN where missing).

    Unlike `label_strings`, the ".0" rule is applied cell by cell, so a value maps to the same
    category whether it arrives in a training column or alone in a one-row serving request.
    """
    mask = values.isna().to_numpy()
    out = np.empty(len(values), dtype=object)
    out[:] = np.nan
    raw = values.to_numpy(dtype=object)
    for i in np.flatnonzero(~mask):
        out[i] = _cell_string(raw[i])
    return pd.Series(out, index=values.index, dtype=object)


def numeric_values(values: pd.Series, *, name: str) -> np.ndarray:
    """Float64 array with NaN where missing; ±inf and blank strings count as missing.

    Raises ValueError naming the column when a present cell is not a number.
    """
    if pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype=float)
    elif pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        cleaned = values.map(lambda v: np.nan if isinstance(v, str) and not v.strip() else v)
        coerced = pd.to_numeric(cleaned, errors="coerce")
        bad = coerced.isna() & cleaned.notna()
        # pd.to_numeric already reads "nan"/"NaN" strings as missing: those are not errors.
        bad &= ~cleaned.map(lambda v: isinstance(v, str) and v.strip().lower() == "nan")
        if bad.any():
            example = cleaned[bad].iloc[0]
            raise ValueError(
                f"Column {name!r} must be numeric, but it holds {example!r} "
                f"({int(bad.sum())} non-numeric value(s))."
            )
        arr = coerced.to_numpy(dtype=float, na_value=np.nan)
    arr = arr.astype(float, copy=True)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def boolean_values(values: pd.Series) -> np.ndarray:
    """Float64 array of 1.0 / 0.0, NaN where missing.

    true/yes/t/y/1 (any case, or a true bool, or the number 1) give 1; false/no/f/n/0 give 0.
    Anything else is treated as missing rather than rejected: a boolean column only ever has
    two values in training, so a third one at serving time carries no learnt meaning.
    """
    out = np.full(len(values), np.nan)
    raw = values.to_numpy(dtype=object)
    for i, value in enumerate(raw):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if value is pd.NA or value is pd.NaT:
            continue
        text = _cell_string(value).strip().lower()
        if text in TRUE_STRINGS:
            out[i] = 1.0
        elif text in FALSE_STRINGS:
            out[i] = 0.0
    return out


def json_safe(value: Any) -> Any:
    """A plain Python value for JSON: numpy scalars unwrapped, NaN/inf and pandas NA → None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
