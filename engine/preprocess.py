"""Tabular preprocessing fitted on training rows only and applied with plain numpy.

Two stages, so that SMOTENC can resample between them:

1. `encode(frame)`: one float column per feature. Numeric: imputed with the training median,
   then standardised with the training mean and standard deviation. Boolean: 0/1, missing →
   the training mode. Categorical: integer code 0..k-1 for the k training categories, k for
   missing, k+1 for a category training never saw.
2. `expand(encoded)`: categorical codes become one-hot columns, k category columns plus one
   missing indicator; an unknown category (code k+1) gives all zeros.

`transform(frame) == expand(encode(frame))`. The fitted state is a small JSON document
(`to_dict` / `from_dict`): it is the preprocessing artifact, applied at serving time without
pickle and without scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.values import boolean_values, category_strings, numeric_values

FORMAT = "modelyard-preprocessor/1"


class TabularPreprocessor:
    def __init__(self) -> None:
        self.features: list[dict] = []

    # -- fitting -------------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, signature: dict) -> TabularPreprocessor:
        """Learn the statistics of the signature's features from `frame` (training rows)."""
        fitted: list[dict] = []
        for spec in signature["features"]:
            name, kind = spec["name"], spec["kind"]
            if name not in frame.columns:
                raise ValueError(f"Column {name!r} of the signature is not in the data.")
            values = frame[name]
            if kind == "numeric":
                arr = numeric_values(values, name=name)
                finite = arr[np.isfinite(arr)]
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 0.0
                fitted.append(
                    {
                        "name": name,
                        "kind": kind,
                        "median": float(np.median(finite)) if finite.size else 0.0,
                        "mean": mean,
                        # A constant column would divide by zero; 1 leaves it centred at 0.
                        "std": std if std > 1e-12 else 1.0,
                    }
                )
            elif kind == "boolean":
                arr = boolean_values(values)
                ones = int(np.nansum(arr))
                zeros = int(np.sum(arr == 0.0))
                fitted.append({"name": name, "kind": kind, "mode": 1.0 if ones > zeros else 0.0})
            elif kind == "categorical":
                categories = sorted(set(category_strings(values).dropna()))
                fitted.append({"name": name, "kind": kind, "categories": categories})
            else:
                raise ValueError(f"Column {name!r} has unknown kind {kind!r}.")
        self.features = fitted
        return self

    # -- stage 1 -------------------------------------------------------------------------

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        missing = [f["name"] for f in self.features if f["name"] not in frame.columns]
        if missing:
            raise ValueError(f"Missing feature column(s): {', '.join(missing)}.")
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, feature in enumerate(self.features):
            values = frame[feature["name"]]
            if feature["kind"] == "numeric":
                arr = numeric_values(values, name=feature["name"])
                arr = np.where(np.isnan(arr), feature["median"], arr)
                out[:, j] = (arr - feature["mean"]) / feature["std"]
            elif feature["kind"] == "boolean":
                arr = boolean_values(values)
                out[:, j] = np.where(np.isnan(arr), feature["mode"], arr)
            else:
                categories = feature["categories"]
                k = len(categories)
                codes = {c: float(i) for i, c in enumerate(categories)}
                text = category_strings(values)
                mapped = text.map(codes).to_numpy(dtype=float, na_value=np.nan)
                is_missing = text.isna().to_numpy()
                # Present but not a training category → k + 1 ("unknown").
                out[:, j] = np.where(
                    is_missing, float(k), np.where(np.isnan(mapped), k + 1, mapped)
                )
        return out

    # -- stage 2 -------------------------------------------------------------------------

    def expand(self, encoded: np.ndarray) -> np.ndarray:
        self._check_fitted()
        encoded = np.asarray(encoded, dtype=np.float64)
        if encoded.ndim != 2 or encoded.shape[1] != len(self.features):
            raise ValueError(
                f"Expected an encoded matrix with {len(self.features)} columns, "
                f"got shape {encoded.shape}."
            )
        n = encoded.shape[0]
        out = np.zeros((n, len(self.feature_names_out)), dtype=np.float32)
        offset = 0
        rows = np.arange(n)
        for j, feature in enumerate(self.features):
            if feature["kind"] != "categorical":
                out[:, offset] = encoded[:, j]
                offset += 1
                continue
            width = len(feature["categories"]) + 1  # categories + missing indicator
            codes = np.rint(encoded[:, j]).astype(np.int64)
            known = (codes >= 0) & (codes < width)  # unknown (k + 1) stays all zeros
            out[rows[known], offset + codes[known]] = 1.0
            offset += width
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.expand(self.encode(frame))

    # -- description ---------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        """Encoded columns that hold category codes, for SMOTENC.

        Boolean columns are included: synthetic rows must keep them at exactly 0 or 1
        rather than interpolate between the two.
        """
        return [j for j, f in enumerate(self.features) if f["kind"] in ("categorical", "boolean")]

    @property
    def feature_names_out(self) -> list[str]:
        names: list[str] = []
        for feature in self.features:
            if feature["kind"] == "categorical":
                names.extend(f"{feature['name']}={c}" for c in feature["categories"])
                names.append(f"{feature['name']}=<missing>")
            else:
                names.append(feature["name"])
        return names

    @property
    def groups(self) -> list[tuple[str, int, int]]:
        """(input feature, first expanded column, column count) in order: a categorical
        feature's one-hot columns (with its missing indicator) form one group."""
        out, offset = [], 0
        for feature in self.features:
            width = len(feature["categories"]) + 1 if feature["kind"] == "categorical" else 1
            out.append((feature["name"], offset, width))
            offset += width
        return out

    # -- JSON artifact -------------------------------------------------------------------

    def to_dict(self) -> dict:
        self._check_fitted()
        return {"format": FORMAT, "features": [dict(f) for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> TabularPreprocessor:
        if data.get("format") != FORMAT:
            raise ValueError(f"Not a {FORMAT} document (format {data.get('format')!r}).")
        pre = cls()
        pre.features = [dict(f) for f in data["features"]]
        return pre

    def _check_fitted(self) -> None:
        if not self.features:
            raise ValueError("The preprocessor is not fitted (or the signature has no features).")
