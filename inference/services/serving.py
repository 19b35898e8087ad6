"""Serving: validate, predict and log one request's rows."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np
import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone

from inference import metrics
from inference.cache import Target, model_cache
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.validation import RequestError

logger = logging.getLogger(__name__)

MAX_UNIT_ID_CHARS = 200


@dataclass
class Served:
    target: Target
    class_labels: list[str]
    ids: list[uuid.UUID]
    scored: Scored

    def rows(self) -> list[dict]:
        """Per row: id, label, probability per class (the REST answer's `predictions`)."""
        labels = self.class_labels
        return [
            {
                "id": str(pid),
                "label": label,
                "probabilities": dict(zip(labels, probs, strict=True)),
                **({"unknown_categories": unknown} if unknown else {}),
            }
            for pid, label, probs, unknown in zip(
                self.ids,
                self.scored.labels,
                self.scored.proba.tolist(),
                self.scored.unknown,
                strict=True,
            )
        ]


def unit_id_hash(unit_id) -> str:
    """A keyed hash of the caller's unit id: stable per id, the id itself never stored."""
    if unit_id is None or unit_id == "":
        return ""
    if not isinstance(unit_id, str | int) or isinstance(unit_id, bool):
        raise RequestError(
            "`unit_id` must be a string or an integer.", reason="bad_request", field="unit_id"
        )
    text = str(unit_id)
    if len(text) > MAX_UNIT_ID_CHARS:
        raise RequestError(
            f"`unit_id` is longer than {MAX_UNIT_ID_CHARS} characters.",
            reason="bad_request",
            field="unit_id",
        )
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def predictions_serve(
    *,
    model_name: str,
    instances: list | None = None,
    columns: dict | None = None,
    n_rows: int | None = None,
    version: int | None = None,
    stage: str | None = None,
    unit_id=None,
    source: str = PredictionLog.Source.REST,
    request_id: str = "",
    started: float | None = None,
) -> Served:
    """Validate, predict and log one request's rows (either `instances`, row objects, or
    `columns`, one list per feature with `n_rows` values).

    Raises NotFound (unknown model or version), Conflict (corrupt version), RequestError
    (malformed rows; counted by reason). Every served row is in the prediction log when this
    returns: one insert per request.
    """
    started = time.perf_counter() if started is None else started
    target = model_cache.resolve(model_name, version=version, stage=stage)
    serving = model_cache.get(target)
    unit_hash = unit_id_hash(unit_id)
    try:
        if columns is not None:
            scored = serving.score_columns(columns, n_rows)
            instances = _rows_from_columns(columns, serving.feature_names, n_rows)
        else:
            scored = serving.score_rows(instances)
    except RequestError as exc:
        metrics.record_error(model_name, exc.reason)
        raise
    n = len(scored.labels)
    ids = [uuid.uuid4() for _ in range(n)]
    latency = time.perf_counter() - started
    prediction_logs_write(
        target=target,
        ids=ids,
        instances=instances,
        scored=scored,
        class_labels=serving.class_labels,
        unit_hash=unit_hash,
        source=source,
        request_id=request_id,
        latency_ms=latency * 1000.0,
    )
    metrics.record_served(
        target, source, scored, serving.class_labels, time.perf_counter() - started
    )
    return Served(target=target, class_labels=serving.class_labels, ids=ids, scored=scored)


def _rows_from_columns(columns: dict, names: list[str], n: int) -> list[dict]:
    lists = [
        columns[name].tolist() if isinstance(columns[name], np.ndarray) else columns[name]
        for name in names
    ]
    return (
        [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)] if n else []
    )


# -- the prediction log ----------------------------------------------------------------------

_LOG_COLUMNS = (
    "id",
    "registered_model_id",
    "model_version_id",
    "ab_test_id",
    "arm",
    "unit_hash",
    "source",
    "request_id",
    "features",
    "prediction",
    "probabilities",
    "unknown_categories",
    "latency_ms",
    "created_at",
)


def _json_bytes(value) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which the json module takes
        return json.dumps(value, default=str).encode()


def prediction_logs_write(
    *,
    target: Target,
    ids: list[uuid.UUID],
    instances: list[dict],
    scored: Scored,
    class_labels: list[str],
    unit_hash: str,
    source: str,
    request_id: str,
    latency_ms: float,
    ab_test_id: int | None = None,
    arm: str = "",
) -> None:
    """Insert the request's rows with one statement.

    Not `bulk_create`: the ORM's per-field preparation cost more than the model on 100-row
    requests, and psycopg's client-side parsing of a 1,400-placeholder INSERT cost more
    still (bench/serving/README.md). On PostgreSQL the rows travel as one JSON document to
    the function `modelyard_log_predictions` (migration 0002), which expands them with
    `jsonb_populate_recordset`: one short statement and one round trip, where BEGIN / SET
    LOCAL / INSERT / COMMIT took four. On SQLite they go as one multi-row INSERT. The ORM
    reads them back unchanged (tested).

    On PostgreSQL the insert commits asynchronously (the function turns synchronous_commit
    off for its own transaction; setting PREDICTION_LOG_ASYNC_COMMIT): a row is visible at
    once and durable within
    PostgreSQL's wal_writer_delay; a server crash (not a restart) could lose the last fraction
    of a second of log rows, never corrupt them. Registry writes keep full durability.
    """
    if not ids:
        return
    now = timezone.now()
    probabilities = scored.proba.tolist()
    records = [
        {
            "id": pid,
            "registered_model_id": target.model_id,
            "model_version_id": target.version_id,
            "ab_test_id": ab_test_id,
            "arm": arm,
            "unit_hash": unit_hash,
            "source": source,
            "request_id": request_id,
            "features": instances[i],
            "prediction": scored.labels[i],
            "probabilities": dict(zip(class_labels, probabilities[i], strict=True)),
            "unknown_categories": scored.unknown[i],
            "latency_ms": latency_ms,
            "created_at": now,
        }
        for i, pid in enumerate(ids)
    ]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT modelyard_log_predictions(%s::jsonb, %s)",
                [_json_bytes(records).decode(), settings.PREDICTION_LOG_ASYNC_COMMIT],
            )
        return
    table = connection.ops.quote_name(PredictionLog._meta.db_table)
    sql, params = _values_insert(table, ", ".join(_LOG_COLUMNS), records)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _values_insert(table: str, columns: str, records: list[dict]) -> tuple[str, list]:
    uuid_prep = PredictionLog._meta.pk.get_db_prep_value
    json_columns = ("features", "probabilities", "unknown_categories")
    params: list = []
    for record in records:
        record = dict(record)
        record["id"] = uuid_prep(record["id"], connection)
        record["created_at"] = connection.ops.adapt_datetimefield_value(record["created_at"])
        for name in json_columns:
            record[name] = _json_bytes(record[name]).decode()
        params.extend(record[name] for name in _LOG_COLUMNS)
    placeholders = "(" + ", ".join(["%s"] * len(_LOG_COLUMNS)) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join(
        [placeholders] * len(records)
    ), params
