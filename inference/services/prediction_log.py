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
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inference.models import PredictionLog, PredictionTally
from inference.pipeline import Scored
from inference.serving.cache import Target
from inference.serving.logrow import JSON_COLUMNS, LOG_COLUMNS, LogRow
from inference.serving.logwriter import log_writer
from inference.serving.tally import TallyDelta, tally_apply, write_cpu

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


@dataclass(frozen=True, slots=True)
class ShadowRows:
    """A shadow test's challenger answers for the same rows: logged beside the answered rows
    (in the same statement, so feedback finds both), never returned."""

    target: Target
    ids: Sequence[str]
    scored: Scored
    class_labels: list[str]
    arm: str
    latency_ms: float
    cpu_seconds: float = 0.0  # the serving thread's CPU time scoring them


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
    shadow: ShadowRows | None = None,
    cpu_started: float | None = None,
    buffered: bool = False,
) -> None:
    """Write one request's rows to the prediction log in one bulk statement.

    The request also adds to its version's tally (its A/B arm's, when a test routed it;
    `inference.serving.tally`) in the same transaction, and so do its `shadow` rows.

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

    `cpu_started` (the serving thread's CPU clock when the request arrived): the CPU time
    until the rows are formatted is charged to the version, less the shadow's own scoring,
    which is charged to the shadow version (core.costs).
    """
    if not ids:
        return
    created_at = timezone.now()
    probabilities = scored.probability_dicts(class_labels)

    def tallies() -> list[TallyDelta]:
        """The version's (and the A/B arm's) running counts and CPU time, written in the
        same transaction as the rows."""
        shadow_us = int(shadow.cpu_seconds * 1e6) if shadow is not None else 0
        cpu_us = 0
        if cpu_started is not None:
            cpu_us = max(int((time.thread_time() - cpu_started) * 1e6) - shadow_us, 0)
        deltas = [
            TallyDelta(
                ab_test_id or 0,
                arm,
                target.version_id,
                1,
                len(ids),
                unit_hash=unit_hash,
                cpu_us=cpu_us,
            )
        ]
        if cpu_started is not None:
            deltas += write_cpu.drain()  # the previous write's (see WriteCpu)
        if ab_test_id is not None and shadow is not None:
            deltas.append(
                TallyDelta(
                    ab_test_id,
                    shadow.arm,
                    shadow.target.version_id,
                    1,
                    len(shadow.ids),
                    own_unit=False,
                    cpu_us=shadow_us,
                )
            )
        return deltas

    n_rows = len(ids) + (len(shadow.ids) if shadow is not None else 0)
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
        if shadow is not None:
            data += copy_rows_text(
                target=shadow.target,
                ids=shadow.ids,
                instances=instances,
                labels=shadow.scored.labels,
                probabilities=shadow.scored.probability_dicts(shadow.class_labels),
                unknown=shadow.scored.unknown,
                shared=(ab_test_id, shadow.arm, unit_hash, source, request_id),
                latency_ms=shadow.latency_ms,
                created_at=created_at,
                shadow_of=ids,
            )
        deltas = tallies()
        if not (
            buffered
            and settings.PREDICTION_LOG_BUFFERED
            and log_writer.submit(data, n_rows, deltas)
        ):
            writing = time.thread_time()
            copy_rows(connection, data, tallies=deltas)
            if cpu_started is not None:
                write_cpu.charge(time.thread_time() - writing, deltas)
        return

    def log_rows(target, ids, scored, probabilities, arm, latency_ms, shadow_of=None):
        return [
            LogRow(
                id=pid.replace("-", ""),  # Django keeps UUIDs as 32 hex digits on SQLite
                registered_model_id=target.model_id,
                model_version_id=target.version_id,
                ab_test_id=ab_test_id,
                arm=arm,
                shadow_of=shadow_of[i].replace("-", "") if shadow_of else None,
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

    rows = log_rows(target, ids, scored, probabilities, arm, latency_ms)
    if shadow is not None:
        rows += log_rows(
            shadow.target,
            shadow.ids,
            shadow.scored,
            shadow.scored.probability_dicts(shadow.class_labels),
            shadow.arm,
            shadow.latency_ms,
            shadow_of=ids,
        )
    deltas = tallies()
    writing = time.thread_time()
    _sqlite_insert(rows, deltas)
    if cpu_started is not None:
        write_cpu.charge(time.thread_time() - writing, deltas)


def tallies_write(deltas: list[TallyDelta], *, buffered: bool = False) -> None:
    """Add to A/B arms' tallies with no rows (a request that failed after routing): through
    the buffered writer when it is on, else at once."""
    if not deltas:
        return
    if connection.vendor == "postgresql":
        if buffered and settings.PREDICTION_LOG_BUFFERED and log_writer.submit(b"", 0, deltas):
            return
        copy_rows(connection, b"", tallies=deltas)
        return
    _sqlite_insert([], deltas)


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
    shadow_of: Sequence[str] | None = None,
) -> bytes:
    """The rows in COPY's text format, one line per row, columns in LOG_COLUMNS order
    (`probabilities`: per row {class label: probability}; `shadow_of`: per row, the id of
    the row a shadow row answers).

    Formatted by hand rather than from LogRow objects: this is the hot path of every API
    prediction. tests/inference/test_prediction_log.py parses the text back into LogRows.
    """
    ab_test_id, arm, unit_hash, source, request_id = shared
    # Every row of a request shares these columns: formatted once.
    head = "\t".join(
        [
            "",
            str(target.model_id),
            str(target.version_id),
            "\\N" if ab_test_id is None else str(int(ab_test_id)),
            _copy_text(arm),
            "",
        ]
    )
    middle = "\t".join(["", _copy_text(unit_hash), _copy_text(source), _copy_text(request_id), ""])
    tail = f"\t{float(latency_ms)!r}\t{created_at.isoformat()}\n"
    label_text = {label: _copy_text(label) for label in set(labels)}
    shadows = shadow_of if shadow_of is not None else ["\\N"] * len(ids)
    # orjson's output holds no raw tab, newline or carriage return (JSON escapes them), so
    # only its backslashes need doubling.
    lines = [
        f"{pid}{head}{of}{middle}{_json_field(features)}\t{label_text[label]}\t"
        f"{_json_field(probs)}\t{_json_field(unseen) if unseen else '[]'}{tail}"
        for pid, of, features, label, probs, unseen in zip(
            ids, shadows, instances, labels, probabilities, unknown, strict=True
        )
    ]
    return "".join(lines).encode()


def copy_rows(
    db, data: bytes, *, tallies: Sequence[TallyDelta] = (), async_commit: bool | None = None
) -> None:
    """One COPY of formatted rows through the Django connection `db`, and the A/B tallies
    they add, in one transaction.

    In autocommit, a transaction of its own, whose commit skips the WAL flush with
    `async_commit` (default PREDICTION_LOG_ASYNC_COMMIT); in a caller's transaction, as part
    of it.
    """
    if async_commit is None:
        async_commit = settings.PREDICTION_LOG_ASYNC_COMMIT
    with db.wrap_database_errors, db.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        own = db.get_autocommit() and not db.in_atomic_block and (async_commit or tallies)
        if own:
            # One round trip: in autocommit this opens a transaction (whose commit alone
            # skips the WAL flush).
            raw.execute("BEGIN; SET LOCAL synchronous_commit TO off" if async_commit else "BEGIN")
        try:
            if data:
                with raw.copy(COPY_SQL) as copy:
                    copy.write(data)
            if tallies:
                tally_apply(raw, tallies)
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


def _sqlite_insert(rows: list[LogRow], tallies: Sequence[TallyDelta] = ()) -> None:
    records = [
        tuple(
            _sqlite_value(name, value)
            for name, value in zip(LOG_COLUMNS, row.values(), strict=True)
        )
        for row in rows
    ]
    table = connection.ops.quote_name(PredictionLog._meta.db_table)
    placeholders = "(" + ", ".join(["%s"] * len(LOG_COLUMNS)) + ")"
    # SQLite binds at most 32,766 variables per statement: 2,000 rows of 15 columns at a time.
    step = 2000
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(records), step):
            part = records[start : start + step]
            sql = f"INSERT INTO {table} ({', '.join(LOG_COLUMNS)}) VALUES " + ", ".join(
                [placeholders] * len(part)
            )
            cursor.execute(sql, [value for record in part for value in record])
        if tallies:
            tally_apply(cursor, tallies)


def prediction_logs_prune(
    *,
    before,
    keep_tests: set[int] = frozenset(),
    keep_since: dict[int, object] | None = None,
    batch_rows: int = 10_000,
    max_batches: int = 1_000,
) -> int:
    """Delete log rows created before `before`, a batch of at most `batch_rows` at a time,
    each batch its own short transaction (so no lock is held for long), version by version
    along the (version, created_at) index. Rows of the A/B tests in `keep_tests` are kept,
    and of a version in `keep_since`, every row from that time on. Returns rows deleted.
    The tallies, snapshots, checks and decisions computed from the rows stay."""
    keep_since = keep_since or {}
    versions = PredictionTally.objects.values_list("model_version_id", flat=True).distinct()
    deleted = 0
    batches = 0
    for version_id in sorted(set(versions)):
        cutoff = before
        if version_id in keep_since:
            cutoff = min(cutoff, keep_since[version_id])
        while batches < max_batches:
            ids = PredictionLog.objects.filter(model_version_id=version_id, created_at__lt=cutoff)
            if keep_tests:
                ids = ids.exclude(ab_test_id__in=keep_tests)
            ids = list(ids.order_by("created_at").values_list("id", flat=True)[:batch_rows])
            if not ids:
                break
            with transaction.atomic():
                # Nothing references a log row, so this is one DELETE ... WHERE id IN (...).
                deleted += PredictionLog.objects.filter(id__in=ids).delete()[0]
            batches += 1
    return deleted
