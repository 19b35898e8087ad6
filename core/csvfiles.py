"""Reading an uploaded CSV safely: spool with a size limit, validate, parse and profile.

Every check raises `InvalidInput` with a message naming the problem (and the line, column or
byte where it was found), so the upload page and the API can show it as it is.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core.errors import InvalidInput

CHUNK = 1024 * 1024
SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# Cells read as missing. "?" is how UCI files (Adult among them) mark unknowns.
NA_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?"]
BOOLEAN_PAIRS = [
    {"true", "false"},
    {"yes", "no"},
    {"t", "f"},
    {"y", "n"},
    {"0", "1"},
]
TOP_CATEGORIES = 20
HISTOGRAM_BINS = 30
ID_LIKE_MIN_ROWS = 20


@dataclass
class SpooledFile:
    path: Path
    sha256: str
    size: int


@dataclass
class ParsedCsv:
    frame: pd.DataFrame
    delimiter: str


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def spool(source: BinaryIO, *, directory: Path, limit: int) -> SpooledFile:
    """Copy `source` to a temporary file while hashing it, stopping as soon as it passes `limit`.

    The caller owns the returned file and must delete it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".csv", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(
                        f"The file is larger than the {human_bytes(limit)} upload limit.",
                        field="file",
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledFile(path=path, sha256=digest.hexdigest(), size=size)


def _check_utf8_and_binary(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    line = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            if b"\x00" in chunk:
                raise InvalidInput(
                    "The file looks binary (it contains NUL bytes), not a CSV text file.",
                    field="file",
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                line += chunk[: exc.start].count(b"\n")
                raise InvalidInput(
                    f"The file is not valid UTF-8 (byte {bad}, line {line}). "
                    "Save it as UTF-8 and upload it again.",
                    field="file",
                ) from exc
            line += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                "The file is not valid UTF-8 (it ends inside a multi-byte character).",
                field="file",
            ) from exc


def _sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines() if ln.strip()][:50]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or too little text to tell: take the most frequent candidate in the
        # header, else a comma.
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_header_and_rows(path: Path, delimiter: str, min_rows: int) -> list[str]:
    """One streaming pass: header sanity, every row's width, and the row count."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = None
        for row in reader:
            if any(cell.strip() for cell in row):
                header = [cell.strip() for cell in row]
                break
        if header is None:
            raise InvalidInput("The file is empty: no header row and no data.", field="file")
        blank = [i + 1 for i, name in enumerate(header) if not name]
        if blank:
            raise InvalidInput(
                f"The header row has empty column names (column {', '.join(map(str, blank))}). "
                "The first row must name every column.",
                field="file",
            )
        if all(_looks_numeric(name) for name in header):
            raise InvalidInput(
                "No header row: the first row holds only numbers "
                f"({', '.join(header[:5])}{', ...' if len(header) > 5 else ''}). "
                "The first row must name the columns.",
                field="file",
            )
        seen: dict[str, int] = {}
        duplicates = []
        for name in header:
            if name in seen and name not in duplicates:
                duplicates.append(name)
            seen[name] = seen.get(name, 0) + 1
        if duplicates:
            raise InvalidInput(
                f"Duplicate column names: {', '.join(duplicates)}. Each column needs its own name.",
                field="file",
            )
        width = len(header)
        rows = 0
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != width:
                raise InvalidInput(
                    f"Ragged rows: line {reader.line_num} has {len(row)} fields, "
                    f"the header has {width}.",
                    field="file",
                )
            rows += 1
    if rows == 0:
        raise InvalidInput("The file has a header row but no data rows.", field="file")
    if rows < min_rows:
        raise InvalidInput(
            f"Too few rows: {rows} data rows, at least {min_rows} are needed to train and "
            "evaluate a model.",
            field="file",
        )
    return header


def read_frame(path: Path, delimiter: str, *, usecols: list[str] | None = None) -> pd.DataFrame:
    """Read a validated CSV with pandas' own type inference (C speed, compact numeric columns);
    text cells are stripped and the missing markers become NaN."""
    frame = pd.read_csv(
        path,
        sep=delimiter,
        keep_default_na=False,
        na_values=NA_VALUES,
        encoding="utf-8-sig",
        skip_blank_lines=True,
        skipinitialspace=True,
        usecols=usecols,
        low_memory=False,
    )
    frame.columns = [str(c).strip() for c in frame.columns]
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            stripped = col.str.strip()
            # A cell of spaces only is missing too.
            frame[name] = stripped.mask(stripped.isin(NA_VALUES))
    return frame


def parse_csv(path: Path, *, min_rows: int) -> ParsedCsv:
    """Validate and parse a spooled CSV. Nothing is read into memory before the checks pass."""
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    _check_utf8_and_binary(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(SNIFF_BYTES)
    if not sample.strip():
        raise InvalidInput("The file is empty: it holds only whitespace.", field="file")
    delimiter = _sniff_delimiter(sample)
    header = _check_header_and_rows(path, delimiter, min_rows)
    try:
        frame = read_frame(path, delimiter)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInput(f"The file could not be parsed as CSV: {exc}", field="file") from exc
    frame.columns = header
    return ParsedCsv(frame=frame, delimiter=delimiter)


def label_strings(values: pd.Series) -> pd.Series:
    """Class labels as text, without the ".0" pandas adds to integer columns that have gaps."""
    present = values.dropna()
    if pd.api.types.is_float_dtype(present) and bool(np.all(np.mod(present, 1) == 0)):
        present = present.astype("int64")
    return present.astype(str)


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def profile_column(name: str, values: pd.Series) -> dict:
    """Kind, flags and summary statistics of one column as `read_frame` typed it."""
    n = len(values)
    present = values.dropna()
    missing = n - len(present)
    distinct = int(present.nunique())
    profile: dict = {
        "name": name,
        "missing_count": int(missing),
        "missing_share": round(missing / n, 6) if n else 0.0,
        "distinct": distinct,
        "flags": [],
    }
    is_numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if pd.api.types.is_bool_dtype(present):
        profile["kind"] = "boolean"
    elif distinct == 2:
        lowered = {str(v).lower() for v in present.unique()}
        if is_numeric:
            lowered = {format(float(v), "g") for v in present.unique()}
        is_pair = any(lowered == pair for pair in BOOLEAN_PAIRS)
        profile["kind"] = "boolean" if is_pair else ("numeric" if is_numeric else "categorical")
    else:
        profile["kind"] = "numeric" if is_numeric and len(present) else "categorical"

    if distinct <= 1:
        profile["flags"].append("constant")
    arr = present.to_numpy(dtype=float) if is_numeric else None
    integer_valued = arr is not None and bool(np.all(np.mod(arr[np.isfinite(arr)], 1) == 0))
    if (
        len(present) >= ID_LIKE_MIN_ROWS
        and distinct == len(present)
        and (profile["kind"] == "categorical" or integer_valued)
    ):
        profile["flags"].append("id_like")

    if profile["kind"] == "numeric":
        finite = arr[np.isfinite(arr)]
        if finite.size:
            p25, median, p75 = np.percentile(finite, [25, 50, 75])
            counts, edges = np.histogram(finite, bins=min(HISTOGRAM_BINS, max(1, distinct)))
            profile.update(
                min=_finite(finite.min()),
                max=_finite(finite.max()),
                mean=_finite(finite.mean()),
                std=_finite(finite.std(ddof=1)) if finite.size > 1 else None,
                p25=_finite(p25),
                median=_finite(median),
                p75=_finite(p75),
                integer=integer_valued,
                histogram={
                    "edges": [float(e) for e in edges],
                    "counts": [int(c) for c in counts],
                },
            )
    else:
        counts = label_strings(present).value_counts()
        top = counts.head(TOP_CATEGORIES)
        profile["top"] = [[str(k), int(v)] for k, v in top.items()]
        profile["other_count"] = int(counts.iloc[TOP_CATEGORIES:].sum())
    return profile


def profile_frame(frame: pd.DataFrame) -> list[dict]:
    return [profile_column(name, frame[name]) for name in frame.columns]


def target_classes(frame: pd.DataFrame, target: str, *, max_classes: int) -> list[list]:
    """Validate `target` as a classification target; return [[label, count], ...]."""
    if target not in frame.columns:
        raise InvalidInput(
            f"Target column {target!r} is not in the file. Columns: {', '.join(frame.columns)}.",
            field="target",
        )
    counts = label_strings(frame[target]).value_counts()
    if len(counts) < 2:
        only = f" (every labelled row is {counts.index[0]!r})" if len(counts) == 1 else ""
        raise InvalidInput(
            f"Target column {target!r} has a single class{only}; a classifier needs at least two.",
            field="target",
        )
    if len(counts) > max_classes:
        raise InvalidInput(
            f"Target column {target!r} has {len(counts)} distinct values; a classification "
            f"target has at most {max_classes} classes. Is it a numeric measurement or an id?",
            field="target",
        )
    return [[str(label), int(count)] for label, count in counts.items()]


def read_column(path: Path, delimiter: str, column: str) -> pd.DataFrame:
    """Re-read one column of a stored, already validated dataset."""
    return read_frame(path, delimiter, usecols=[column])
