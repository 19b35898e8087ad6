"""The prediction log's write path: API rows through the buffered writer (one COPY per flush
interval, inference.serving.logwriter), pages, batch jobs and SQLite one bulk write per request.

Measured on the serving benchmark (bench/serving/README.md), PostgreSQL's side of the log was
half the machine's CPU on 100-row requests, so this path is shaped by those numbers:

- `COPY ... FROM STDIN` of rows formatted here, not an INSERT: PostgreSQL parses nothing but
  the values (8 µs a row here, where `jsonb_populate_recordset` from one JSON document took
  15 µs and a client-side-bound multi-row INSERT spent milliseconds in the client).
- No database-level foreign keys on the log (migration 0003): each one is a lookup and a
  key-share lock on the same model-version row for every logged row, 6 µs a row and
  contention between concurrent writers. Deleting a model or version still deletes its log
  rows (Django's on_delete), and only this module writes the table.
- UUIDv7 ids (`inference.ids`): new keys land at the right edge of the primary-key index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.serving.cache import Target
from inference.serving.logrow import JSON_COLUMNS, LOG_COLUMNS, LogRow
from inference.serving.logwriter import log_writer

COPY_SQL = f"COPY {PredictionLog._meta.db_table} ({', '.join(LOG_COLUMNS)}) FROM STDIN"


def json_text(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which the json module takes
        return json.dumps(value, default=str)


def _json_field(value) -> str:
    """A value as JSON, escaped for COPY's text format."""
    text = json_text(value)
    return text.replace("\\", "\\\\") if "\\" in text else text


def _copy_text(value: str) -> str:
    """A value escaped for COPY's text format (backslash, tab, newline, carriage return)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def prediction_logs_write(
    *,
    target: Target,
    ids: Sequence[str],
    instances: Sequence[dict],
    scored: Scored,
    class_labels: list[str],
    unit_hash: str,
    source: str,
    request_id: str,
    latency_ms: float,
    ab_test_id: int | None = None,
    arm: str = "",
    buffered: bool = False,
) -> None:
    """Write one request's rows to the prediction log in one bulk statement.

    `buffered` (the prediction endpoints, PostgreSQL, PREDICTION_LOG_BUFFERED): the rows are
    formatted here and handed to this process's `inference.serving.logwriter`, which writes what
    every request of the last PREDICTION_LOG_FLUSH_SECONDS gave it in one COPY; see there for
    what that trades. When its buffer is full, or it is off, the rows are written as below.

    Otherwise PostgreSQL: one COPY. Outside a transaction it runs in its own, with
    `synchronous_commit` off when PREDICTION_LOG_ASYNC_COMMIT is set (the default): the rows
    are visible at once and durable within PostgreSQL's wal_writer_delay, so a database
    server crash (not a restart, and never a web-process crash) can lose the last fraction of
    a second of log rows, never corrupt them. Registry writes keep full durability. Inside a
    caller's transaction the COPY joins it. SQLite: one multi-row INSERT.

    Unbuffered, the rows are in the log when this returns, and a failure raises with nothing
    written.
    """
    if not ids:
        return
    created_at = timezone.now()
    probabilities = scored.probability_dicts(class_labels)
    if connection.vendor == "postgresql":
        data = copy_rows_text(
            target=target,
            ids=ids,
            instances=instances,
            labels=scored.labels,
            probabilities=probabilities,
            unknown=scored.unknown,
            shared=(ab_test_id, arm, unit_hash, source, request_id),
            latency_ms=latency_ms,
            created_at=created_at,
        )
        if not (
            buffered and settings.PREDICTION_LOG_BUFFERED and log_writer.submit(data, len(ids))
        ):
            copy_rows(connection, data)
        return
    rows = [
        LogRow(
            id=pid.replace("-", ""),  # Django keeps UUIDs as 32 hex digits on SQLite
            registered_model_id=target.model_id,
            model_version_id=target.version_id,
            ab_test_id=ab_test_id,
            arm=arm,
            unit_hash=unit_hash,
            source=source,
            request_id=request_id,
            features=instances[i],
            prediction=scored.labels[i],
            probabilities=probabilities[i],
            unknown_categories=scored.unknown[i],
            latency_ms=latency_ms,
            created_at=created_at,
        )
        for i, pid in enumerate(ids)
    ]
    _sqlite_insert(rows)


def copy_rows_text(
    *,
    target: Target,
    ids,
    instances,
    labels,
    probabilities: list[dict],
    unknown,
    shared,
    latency_ms: float,
    created_at,
) -> bytes:
    """The rows in COPY's text format, one line per row, columns in LOG_COLUMNS order
    (`probabilities`: per row {class label: probability}).

    Formatted by hand rather than from LogRow objects: this is the hot path of every API
    prediction. tests/inference/test_prediction_log.py parses the text back into LogRows.
    """
    ab_test_id, arm, unit_hash, source, request_id = shared
    # Every row of a request shares these columns: formatted once.
    middle = "\t".join(
        [
            "",
            str(target.model_id),
            str(target.version_id),
            "\\N" if ab_test_id is None else str(int(ab_test_id)),
            _copy_text(arm),
            _copy_text(unit_hash),
            _copy_text(source),
            _copy_text(request_id),
            "",
        ]
    )
    tail = f"\t{float(latency_ms)!r}\t{created_at.isoformat()}\n"
    label_text = {label: _copy_text(label) for label in set(labels)}
    # orjson's output holds no raw tab, newline or carriage return (JSON escapes them), so
    # only its backslashes need doubling.
    lines = [
        f"{pid}{middle}{_json_field(features)}\t{label_text[label]}\t{_json_field(probs)}\t"
        f"{_json_field(unseen) if unseen else '[]'}{tail}"
        for pid, features, label, probs, unseen in zip(
            ids, instances, labels, probabilities, unknown, strict=True
        )
    ]
    return "".join(lines).encode()


def copy_rows(db, data: bytes, *, async_commit: bool | None = None) -> None:
    """One COPY of formatted rows through the Django connection `db`.

    In autocommit, with `async_commit` (default PREDICTION_LOG_ASYNC_COMMIT), inside a
    transaction of its own whose commit skips the WAL flush; in a caller's transaction, as
    part of it.
    """
    if async_commit is None:
        async_commit = settings.PREDICTION_LOG_ASYNC_COMMIT
    with db.wrap_database_errors, db.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        own = async_commit and db.get_autocommit() and not db.in_atomic_block
        if own:
            # One round trip: in autocommit this opens a transaction whose commit alone
            # skips the WAL flush.
            raw.execute("BEGIN; SET LOCAL synchronous_commit TO off")
        try:
            with raw.copy(COPY_SQL) as copy:
                copy.write(data)
        except BaseException:
            if own:
                # A refused row leaves the transaction aborted; a dropped connection has none.
                with suppress(Exception):
                    raw.execute("ROLLBACK")
            raise
        if own:
            raw.execute("COMMIT")


def _sqlite_value(name: str, value):
    if name in JSON_COLUMNS:
        return json_text(value)
    if name == "created_at":
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _sqlite_insert(rows: list[LogRow]) -> None:
    records = [
        tuple(
            _sqlite_value(name, value)
            for name, value in zip(LOG_COLUMNS, row.values(), strict=True)
        )
        for row in rows
    ]
    table = connection.ops.quote_name(PredictionLog._meta.db_table)
    placeholders = "(" + ", ".join(["%s"] * len(LOG_COLUMNS)) + ")"
    # SQLite binds at most 32,766 variables per statement: 2,000 rows of 14 columns at a time.
    step = 2000
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(records), step):
            part = records[start : start + step]
            sql = f"INSERT INTO {table} ({', '.join(LOG_COLUMNS)}) VALUES " + ", ".join(
                [placeholders] * len(part)
            )
            cursor.execute(sql, [value for record in part for value in record])
