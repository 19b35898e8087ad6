"""Batch scoring of a CSV: the upload's size limit, the header check, and the scoring loop.

The file is read with the `csv` module rather than pandas: every record must stay a row of
the output, in order. pandas pads a short record with NaN (which the imputer would then fill
silently) and refuses a long one for the whole read; here a record of the wrong width is one
bad row with its own error. Cells are kept as text for the output and converted per feature
the way a JSON client would send them: numbers for numeric features, text for categorical
and boolean ones (0/1 as numbers), `None` for the missing markers training used
(`core.csvfiles.NA_VALUES`: empty, NA, null, ? ...).

A chunk is encoded in one call; only when that fails is it encoded row by row, so a bad row
costs its chunk a slower pass but never fails the other rows.
"""

from __future__ import annotations

import csv
import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import csvfiles
from core.errors import InvalidInput
from core.uploads import SizeLimitedUploadHandler
from inference.ids import new_prediction_ids
from inference.pipeline import Scored, ServingModel
from inference.validation import RequestError

ERROR_COLUMN = "error"
ID_COLUMN = "prediction_id"
PREDICTION_COLUMN = "prediction"
UNKNOWN_COLUMN = "unknown_categories"
_MISSING = frozenset(csvfiles.NA_VALUES)
_ROW_PREFIX = re.compile(r"^Row \d+: ")


def job_dir(job_id: int) -> Path:
    """Where a job's files live, relative to settings.DATA_DIR."""
    return Path("batch") / str(job_id)


# -- the upload --------------------------------------------------------------------------------


class BatchUploadHandler(SizeLimitedUploadHandler):
    """The dataset upload handler with the batch-scoring limit."""

    limit_setting = "BATCH_SCORING_MAX_BYTES"


def use_batch_upload_limit(request) -> None:
    """Swap the request's upload handlers before anything reads its body.

    Views must be csrf_exempt for this (Django's CSRF middleware reads request.POST before
    the view runs); page views re-check the token with csrf_protect after the swap.
    """
    request.upload_handlers = [BatchUploadHandler(request)]


# -- the header ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    columns: list[str]

    def index(self, name: str) -> int:
        return self.columns.index(name)


def _blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _records(path: Path, delimiter: str) -> Iterator[list[str]]:
    """The file's non-blank records, header first."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for record in csv.reader(handle, delimiter=delimiter):
            if not _blank(record):
                yield record


def inspect_file(path: Path) -> CsvLayout:
    """Check that an uploaded file is a UTF-8 CSV with a header and at least one data row.

    Raises InvalidInput naming the problem. Record widths are not checked here: a record of
    the wrong width is reported as a bad row in the output.
    """
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    csvfiles._check_utf8_and_binary(path)
    return read_layout(path)


def read_layout(path: Path) -> CsvLayout:
    """The delimiter and header of a CSV (InvalidInput if there is none, or no data row)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(csvfiles.SNIFF_BYTES)
    delimiter = csvfiles._sniff_delimiter(sample)
    records = _records(path, delimiter)
    header = next(records, None)
    if header is None:
        raise InvalidInput("The file is empty: no header row and no data.", field="file")
    columns = [name.strip() for name in header]
    if all(csvfiles._looks_numeric(name) for name in columns):
        raise InvalidInput(
            "No header row: the first row holds only numbers. The first row must name the columns.",
            field="file",
        )
    named = [name for name in columns if name]
    duplicates = sorted({name for name in named if named.count(name) > 1})
    if duplicates:
        raise InvalidInput(
            f"Duplicate column names: {', '.join(duplicates)}. Each column needs its own name.",
            field="file",
        )
    if next(records, None) is None:
        raise InvalidInput("The file has a header row but no data rows.", field="file")
    return CsvLayout(delimiter=delimiter, columns=columns)


def output_columns(layout: CsvLayout, class_labels: list[str]) -> list[str]:
    """The input's columns, then what scoring adds."""
    return [
        *layout.columns,
        ID_COLUMN,
        PREDICTION_COLUMN,
        *[f"proba_{label}" for label in class_labels],
        UNKNOWN_COLUMN,
        ERROR_COLUMN,
    ]


def check_layout(
    layout: CsvLayout, *, features: list[str], class_labels: list[str], version_label: str
) -> None:
    """Every feature the version reads must be a column; other columns pass through, unless
    their name is one scoring adds (the output would hold it twice)."""
    present = set(layout.columns)
    missing = [name for name in features if name not in present]
    if missing:
        raise InvalidInput(
            f"The file lacks {len(missing)} feature column(s) that {version_label} reads: "
            f"{', '.join(missing)}. Columns in the file: {', '.join(layout.columns)}.",
            field="file",
        )
    added = output_columns(CsvLayout(layout.delimiter, []), class_labels)
    clashing = [name for name in added if name in present]
    if clashing:
        raise InvalidInput(
            f"The file already has column(s) {', '.join(clashing)}, which scoring adds to the "
            "output; rename or remove them.",
            field="file",
        )


def count_rows(path: Path, delimiter: str) -> int:
    return sum(1 for _ in _records(path, delimiter)) - 1  # less the header


# -- scoring ---------------------------------------------------------------------------------


@dataclass
class ScoredChunk:
    """One chunk's rows in file order; `good` are the positions that were scored."""

    numbers: list[int]  # 1-based data row numbers
    records: list[list[str]]
    errors: dict[int, str] = field(default_factory=dict)
    good: list[int] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)  # feature values of the good rows
    scored: Scored | None = None
    ids: list[str] = field(default_factory=list)  # UUIDv7 strings
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.records)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _shown(text: str) -> str:
    shown = repr(text)
    return f"{shown[:40]}{'…' if len(shown) > 40 else ''}"


def _cell_value(kind: str, name: str, text: str):
    """A CSV cell as the JSON value a client would send; ValueError(message) if it cannot be
    one. The encoder checks the rest (finite numbers, boolean words) as for any request."""
    text = text.strip()
    if text in _MISSING:
        return None
    if kind == "numeric":
        value = _number(text)
        if value is None:
            raise ValueError(f"{name!r} must be a number, not a string ({_shown(text)})")
        return value
    if kind == "boolean":
        value = _number(text)
        return value if value in (0.0, 1.0) else text
    return text


def _row_error(number: int, message: str) -> str:
    return f"row {number}: {_ROW_PREFIX.sub('', message).rstrip('.')}"


def score_chunk(
    serving: ServingModel, layout: CsvLayout, numbers: list[int], records: list[list[str]]
) -> ScoredChunk:
    """Convert, validate and score one chunk; bad rows get an error and are left out."""
    started = time.perf_counter()
    chunk = ScoredChunk(numbers=numbers, records=records)
    width = len(layout.columns)
    features = serving.encoder.features
    positions = [(f["name"], f["kind"], layout.index(f["name"])) for f in features]
    candidates: list[int] = []
    instances: list[dict] = []
    for pos, record in enumerate(records):
        if len(record) != width:
            chunk.errors[pos] = _row_error(
                numbers[pos], f"{len(record)} fields, the header has {width}"
            )
            continue
        try:
            row = {name: _cell_value(kind, name, record[i]) for name, kind, i in positions}
        except ValueError as exc:
            chunk.errors[pos] = _row_error(numbers[pos], str(exc))
            continue
        candidates.append(pos)
        instances.append(row)
    encoder = serving.encoder
    names = encoder.names
    columns = {name: [row[name] for row in instances] for name in names}
    try:
        batch = encoder.encode(columns, len(instances))
        good, encoded, unknown = candidates, batch.encoded, batch.unknown
    except RequestError:
        good, rows, unknown, kept = [], [], [], []
        for pos, row in zip(candidates, instances, strict=True):
            try:
                one = encoder.encode({name: [row[name]] for name in names}, 1)
            except RequestError as exc:
                chunk.errors[pos] = _row_error(numbers[pos], exc.message)
                continue
            good.append(pos)
            rows.append(one.encoded[0])
            unknown.append(one.unknown[0])
            kept.append(row)
        instances = kept
        encoded = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    chunk.good = good
    chunk.instances = instances
    if good:
        proba, labels = serving.predict_encoded(encoded)
        chunk.scored = Scored(proba=proba, labels=labels, unknown=unknown)
        chunk.ids = new_prediction_ids(len(good))
    chunk.seconds = time.perf_counter() - started
    return chunk


def _output_rows(chunk: ScoredChunk, width: int, n_classes: int) -> Iterator[list]:
    scored_at = dict(zip(chunk.good, range(len(chunk.good)), strict=True))
    proba = chunk.scored.proba.tolist() if chunk.scored is not None else []
    for pos, record in enumerate(chunk.records):
        # A record of the wrong width is cut or padded to the header's, so the added columns
        # stay in place; its error says how wide it was.
        fields = (record + [""] * width)[:width]
        k = scored_at.get(pos)
        if k is None:
            yield [*fields, "", "", *[""] * n_classes, "", chunk.errors[pos]]
        else:
            yield [
                *fields,
                str(chunk.ids[k]),
                chunk.scored.labels[k],
                *proba[k],
                ";".join(chunk.scored.unknown[k]),
                "",
            ]


def score_file(
    *,
    input_path: Path,
    layout: CsvLayout,
    output_path: Path,
    serving: ServingModel,
    chunk_rows: int,
    on_chunk: Callable[[ScoredChunk], None],
) -> tuple[int, int]:
    """Score `input_path` (of `layout`) into `output_path`, one output row per input row, in
    order.

    `on_chunk` runs after each chunk is scored and before its rows are written (to log the
    predictions and record progress). Returns (rows, failed rows).
    """
    width = len(layout.columns)
    n_classes = len(serving.class_labels)
    rows = failed = 0
    with open(output_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(output_columns(layout, serving.class_labels))
        records = _records(input_path, layout.delimiter)
        next(records)  # the header
        while batch := list(itertools.islice(records, chunk_rows)):
            numbers = list(range(rows + 1, rows + len(batch) + 1))
            chunk = score_chunk(serving, layout, numbers, batch)
            on_chunk(chunk)
            writer.writerows(_output_rows(chunk, width, n_classes))
            rows += len(chunk)
            failed += len(chunk.errors)
    return rows, failed
