"""Request rows checked against a version's signature and encoded with plain numpy.

Django-free and pandas-free: this is the per-request hot path. The rules, each a
`RequestError` (HTTP 400) naming the row index and the field:

- the batch is a non-empty list of JSON objects, at most `max_rows` long;
- every signature feature is present in every row (JSON `null` is a missing value, which the
  fitted imputer fills) and no other key is;
- numeric features take JSON numbers (not booleans, not strings), finite ones: NaN and
  Infinity are refused even though Python's JSON parser would let them through;
- boolean features take true/false, 0/1 or the strings true/false/yes/no/t/f/y/n/1/0;
- categorical features take strings (numbers are read as their text, "3" for 3.0); a category
  training never saw is served (the encoder's "unknown" code) and reported back per row.

Encoding follows `engine.preprocess.TabularPreprocessor.encode` exactly (the tests
compare both on the same rows), so training and serving never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.preprocess import TabularPreprocessor
from engine.values import FALSE_STRINGS, TRUE_STRINGS

_NUMBER_TYPES = frozenset({int, float, type(None)})
_BOOL_CODES: dict = {True: 1.0, False: 0.0}
_BOOL_CODES.update({s: 1.0 for s in TRUE_STRINGS})
_BOOL_CODES.update({s: 0.0 for s in FALSE_STRINGS})


class RequestError(Exception):
    """A malformed prediction request (HTTP 400). `reason` is a short code for metrics."""

    def __init__(
        self, message: str, *, reason: str, field: str | None = None, row: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field
        self.row = row

    def as_dict(self) -> dict:
        body: dict = {"error": self.message, "reason": self.reason}
        if self.field is not None:
            body["field"] = self.field
        if self.row is not None:
            body["row"] = self.row
        return body


def _describe(value) -> str:
    kind = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} ({shown[:40]}{'…' if len(shown) > 40 else ''})"


@dataclass
class EncodedBatch:
    """Stage-1 codes (one float column per feature) and what validation noticed."""

    encoded: np.ndarray
    # Per row, the features whose category training never saw (empty lists for most rows).
    unknown: list[list[str]] = field(default_factory=list)

    @property
    def unknown_count(self) -> int:
        return sum(len(u) for u in self.unknown)


class RowEncoder:
    """The signature's checks and the preprocessor's statistics, compiled once per version."""

    def __init__(self, preprocessor: TabularPreprocessor, *, max_rows: int):
        self.max_rows = max_rows
        self.features = preprocessor.features
        self.names = [f["name"] for f in self.features]
        self.name_set = frozenset(self.names)
        self.kinds = {f["name"]: f["kind"] for f in self.features}
        self.codes = {
            f["name"]: {c: float(i) for i, c in enumerate(f["categories"])}
            for f in self.features
            if f["kind"] == "categorical"
        }
        # The same with null mapped to the missing-value code (the number of categories).
        self.codes_or_missing = {
            name: {**codes, None: float(len(codes))} for name, codes in self.codes.items()
        }
        # The expanded layout (TabularPreprocessor.expand): one column per numeric or boolean
        # feature, categories + a missing indicator per categorical one.
        self.width = len(preprocessor.feature_names_out)
        numeric, self.booleans, self.categoricals = [], [], []
        offset = 0
        for f in self.features:
            if f["kind"] == "numeric":
                numeric.append((f["name"], offset, f["median"], f["mean"], f["std"]))
                offset += 1
            elif f["kind"] == "boolean":
                self.booleans.append((f["name"], offset, f["mode"]))
                offset += 1
            else:
                self.categoricals.append((f["name"], offset))
                offset += len(f["categories"]) + 1
        self.numeric_names = [n for n, *_ in numeric]
        self.numeric_cols = np.array([c for _, c, *_ in numeric], dtype=np.int64)
        self.numeric_median = np.array([m for *_, m, _, _ in numeric], dtype=np.float64)
        self.numeric_mean = np.array([m for *_, m, _ in numeric], dtype=np.float64)
        self.numeric_std = np.array([s for *_, s in numeric], dtype=np.float64)

    # -- row objects (REST, V2 "pd" rows) --------------------------------------------------

    def columns_from_rows(self, instances) -> dict[str, list]:
        """Check the batch shape and keys; return one list of raw values per feature."""
        if not isinstance(instances, list):
            raise RequestError(
                "`instances` must be a list of objects, one per row.",
                reason="bad_request",
                field="instances",
            )
        self.check_row_count(len(instances))
        names, name_set = self.names, self.name_set
        for i, row in enumerate(instances):
            if type(row) is not dict:
                raise RequestError(
                    f"Row {i} must be an object of feature values, not {_describe(row)}.",
                    reason="bad_request",
                    row=i,
                )
            if row.keys() != name_set:
                self._raise_key_error(i, row)
        return {name: [row[name] for row in instances] for name in names}

    def check_row_count(self, n: int) -> None:
        if n == 0:
            raise RequestError(
                "The batch is empty: send at least one row.",
                reason="empty_batch",
                field="instances",
            )
        if n > self.max_rows:
            raise RequestError(
                f"The batch has {n} rows; the limit is {self.max_rows} per request.",
                reason="too_many_rows",
                field="instances",
            )

    def _raise_key_error(self, i: int, row: dict) -> None:
        missing = [n for n in self.names if n not in row]
        if missing:
            raise RequestError(
                f"Row {i} is missing feature {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; send null for a missing value.",
                reason="missing_feature",
                field=missing[0],
                row=i,
            )
        extra = sorted(str(k) for k in row if k not in self.name_set)
        raise RequestError(
            f"Row {i} has unexpected feature {extra[0]!r}; the model reads "
            f"{', '.join(self.names)}.",
            reason="unexpected_feature",
            field=extra[0],
            row=i,
        )

    # -- columns -----------------------------------------------------------------------------

    def encode(self, columns: dict[str, list | np.ndarray], n_rows: int) -> EncodedBatch:
        """Stage-1 encoding of raw columns (lists of JSON values, or float arrays)."""
        out = np.empty((n_rows, len(self.features)), dtype=np.float64)
        unknown: list[list[str]] | None = None
        for j, feature in enumerate(self.features):
            name = feature["name"]
            values = columns[name]
            if len(values) != n_rows:
                raise RequestError(
                    f"Feature {name!r} has {len(values)} values for {n_rows} rows.",
                    reason="bad_request",
                    field=name,
                )
            kind = feature["kind"]
            if kind == "numeric":
                arr = self._numeric(name, values)
                out[:, j] = (np.where(np.isnan(arr), feature["median"], arr) - feature["mean"]) / (
                    feature["std"]
                )
            elif kind == "boolean":
                out[:, j] = self._boolean(name, values, feature["mode"])
            else:
                codes, unseen = self._categorical(name, values)
                out[:, j] = codes
                if unseen:
                    if unknown is None:
                        unknown = [[] for _ in range(n_rows)]
                    for i in unseen:
                        unknown[i].append(name)
        return EncodedBatch(encoded=out, unknown=unknown or [[] for _ in range(n_rows)])

    def encode_expanded(self, columns: dict[str, list | np.ndarray], n_rows: int):
        """`TabularPreprocessor.expand(encode(...))` in one pass, the serving hot path: the
        numeric features imputed and standardised as one block, each categorical value
        written straight to its one-hot column. Returns (float32 matrix, unknown per row)."""
        for name in self.names:
            if len(columns[name]) != n_rows:
                raise RequestError(
                    f"Feature {name!r} has {len(columns[name])} values for {n_rows} rows.",
                    reason="bad_request",
                    field=name,
                )
        out = np.zeros((n_rows, self.width), dtype=np.float32)
        if self.numeric_names:
            block = np.empty((n_rows, len(self.numeric_names)), dtype=np.float64)
            for c, name in enumerate(self.numeric_names):
                block[:, c] = self._numeric(name, columns[name])
            nan = np.isnan(block)
            if nan.any():
                block = np.where(nan, self.numeric_median, block)
            out[:, self.numeric_cols] = (block - self.numeric_mean) / self.numeric_std
        for name, col, mode in self.booleans:
            out[:, col] = self._boolean(name, columns[name], mode)
        unknown: list[list[str]] | None = None
        rows = np.arange(n_rows)
        for name, offset in self.categoricals:
            codes, unseen = self._categorical(name, columns[name])
            if unseen:
                if unknown is None:
                    unknown = [[] for _ in range(n_rows)]
                for i in unseen:
                    unknown[i].append(name)
                known = np.ones(n_rows, dtype=bool)
                known[unseen] = False
                out[rows[known], offset + codes[known].astype(np.int64)] = 1.0
            else:
                out[rows, offset + codes.astype(np.int64)] = 1.0
        return out, unknown or [[] for _ in range(n_rows)]

    def _numeric(self, name: str, values) -> np.ndarray:
        if isinstance(values, np.ndarray):  # a V2 FP32/FP64 tensor column
            arr = values.astype(np.float64, copy=True)
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise RequestError(
                    f"Row {i}: {name!r} is {arr[i]!r}; send a finite number.",
                    reason="not_finite",
                    field=name,
                    row=i,
                )
            return arr
        if not _NUMBER_TYPES.issuperset(map(type, values)):
            i = next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
            raise RequestError(
                f"Row {i}: {name!r} must be a number or null, not {_describe(values[i])}.",
                reason="wrong_type",
                field=name,
                row=i,
            )
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            i = next(i for i, v in enumerate(values) if type(v) is int and abs(v) > 1e308)
            raise RequestError(
                f"Row {i}: {name!r} is too large for a 64-bit float.",
                reason="not_finite",
                field=name,
                row=i,
            ) from None
        nan = np.isnan(arr)
        if not np.isfinite(arr[~nan]).all() or (
            nan.any() and any(values[i] is not None for i in np.flatnonzero(nan))
        ):
            i = next(
                i for i, v in enumerate(values) if v is not None and not np.isfinite(np.float64(v))
            )
            raise RequestError(
                f"Row {i}: {name!r} is {values[i]!r}; send a finite number, or null for a "
                "missing value.",
                reason="not_finite",
                field=name,
                row=i,
            )
        return arr

    def _boolean(self, name: str, values, mode: float) -> np.ndarray:
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            if v is None:
                out[i] = mode
                continue
            key = v.strip().lower() if type(v) is str else v
            code = _BOOL_CODES.get(key) if type(key) in (str, bool, int, float) else None
            if code is None:
                raise RequestError(
                    f"Row {i}: {name!r} must be true or false, not {_describe(v)}.",
                    reason="wrong_type",
                    field=name,
                    row=i,
                )
            out[i] = code
        return out

    def _categorical(self, name: str, values) -> tuple[np.ndarray, list[int]]:
        fast = self.codes_or_missing[name]
        try:
            # Every value a category seen in training or null: one comprehension. Anything
            # else (a number, an unseen or unhashable value) raises and takes the loop below.
            return np.array([fast[v] for v in values], dtype=np.float64), []
        except (KeyError, TypeError):
            pass
        codes = self.codes[name]
        k = float(len(codes))
        out = np.empty(len(values), dtype=np.float64)
        unseen: list[int] = []
        for i, v in enumerate(values):
            t = type(v)
            if t is str:
                code = codes.get(v)
            elif v is None:
                out[i] = k
                continue
            elif t is int or t is bool:
                code = codes.get(str(v))
            elif t is float:
                if v != v or v in (float("inf"), float("-inf")):
                    raise RequestError(
                        f"Row {i}: {name!r} is {v!r}; send a category, or null for a missing "
                        "value.",
                        reason="not_finite",
                        field=name,
                        row=i,
                    )
                code = codes.get(str(int(v)) if v.is_integer() else str(v))
            else:
                raise RequestError(
                    f"Row {i}: {name!r} must be a category (a string) or null, not {_describe(v)}.",
                    reason="wrong_type",
                    field=name,
                    row=i,
                )
            if code is None:
                if t is str and "\x00" in v:  # no known category holds one; the log can't
                    raise RequestError(
                        f"Row {i}: {name!r} contains a NUL character (\\u0000).",
                        reason="wrong_type",
                        field=name,
                        row=i,
                    )
                out[i] = k + 1.0
                unseen.append(i)
            else:
                out[i] = code
        return out, unseen
