"""Serving, prediction logging and ground-truth feedback."""

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
from django.db import connection, transaction
from django.utils import timezone

from inference import metrics
from inference.cache import Target, model_cache
from inference.models import PredictionLog
from inference.pipeline import Scored
from inference.validation import RequestError
from mlops_site.errors import Conflict, InvalidInput, NotFound

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


def _json(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which the json module takes
        return json.dumps(value)


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
    """Insert the request's rows with one INSERT statement.

    Written as SQL rather than `bulk_create` because the ORM's per-field preparation cost
    more than the model on 100-row requests (bench/serving/README.md). The values go through
    the same adapters Django uses, so the ORM reads the rows back unchanged (tested).

    On PostgreSQL the insert commits asynchronously (`SET LOCAL synchronous_commit TO OFF`,
    setting PREDICTION_LOG_ASYNC_COMMIT): the row is visible at once and durable within
    PostgreSQL's wal_writer_delay; a server crash (not a restart) could lose the last fraction
    of a second of log rows, never corrupt them. Registry writes keep full durability.
    """
    if not ids:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    uuid_prep = PredictionLog._meta.pk.get_db_prep_value
    model_id, version_id = target.model_id, target.version_id
    probabilities = scored.proba.tolist()
    rows = []
    for i, pid in enumerate(ids):
        rows.extend(
            (
                uuid_prep(pid, connection),
                model_id,
                version_id,
                ab_test_id,
                arm,
                unit_hash,
                source,
                request_id,
                _json(instances[i]),
                scored.labels[i],
                _json(dict(zip(class_labels, probabilities[i], strict=True))),
                _json(scored.unknown[i]),
                latency_ms,
                now,
            )
        )
    table = connection.ops.quote_name(PredictionLog._meta.db_table)
    placeholders = "(" + ", ".join(["%s"] * len(_LOG_COLUMNS)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(_LOG_COLUMNS)}) VALUES " + ", ".join(
        [placeholders] * len(ids)
    )
    async_commit = connection.vendor == "postgresql" and settings.PREDICTION_LOG_ASYNC_COMMIT
    with transaction.atomic(), connection.cursor() as cursor:
        if async_commit:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(sql, rows)


# -- ground truth ----------------------------------------------------------------------------


@dataclass
class FeedbackOutcome:
    prediction_id: str
    status: str  # "recorded", "unchanged", "overwritten", "not_found", "invalid", "conflict"
    detail: str = ""
    correct: bool | None = None

    def as_dict(self) -> dict:
        body = {"prediction_id": self.prediction_id, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.correct is not None:
            body["correct"] = self.correct
        return body


def _parse_id(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _label_text(label) -> str | None:
    """Labels compare as text, as training stored them ("1" for 1 or 1.0)."""
    if isinstance(label, bool) or label is None:
        return None
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    if isinstance(label, str | int | float):
        return str(label)
    return None


def feedback_record(*, prediction_id, label, overwrite: bool = False) -> FeedbackOutcome:
    """Record the true label of one prediction. Raises NotFound, InvalidInput or Conflict."""
    outcome = feedback_record_bulk(
        items=[{"prediction_id": prediction_id, "label": label}], overwrite=overwrite
    )[0]
    if outcome.status == "not_found":
        raise NotFound(outcome.detail, field="prediction_id")
    if outcome.status == "invalid":
        raise InvalidInput(outcome.detail, field="label")
    if outcome.status == "conflict":
        raise Conflict(outcome.detail, field="label")
    return outcome


def feedback_record_bulk(*, items: list[dict], overwrite: bool = False) -> list[FeedbackOutcome]:
    """Record many labels in one transaction; each item gets its own outcome, in order.

    1. Parse the ids; unparseable ones are "not_found" (no such prediction can exist).
    2. Load the predictions with their version's class labels, locking them.
    3. Per item: a label outside the version's classes is "invalid"; the same label again is
       "unchanged"; a different label on a labelled prediction is a "conflict" unless
       `overwrite`; else the label is written with `is_correct`.
    An id that appears twice is handled in order (the second sees the first's label).
    """
    parsed = [_parse_id(item.get("prediction_id")) for item in items]
    wanted = {pid for pid in parsed if pid is not None}
    outcomes: list[FeedbackOutcome] = []
    now = timezone.now()
    with transaction.atomic():
        found = {
            p.id: p
            for p in PredictionLog.objects.select_for_update()
            .filter(id__in=wanted)
            .select_related("model_version")
        }
        changed: dict[uuid.UUID, PredictionLog] = {}
        for item, pid in zip(items, parsed, strict=True):
            shown = str(item.get("prediction_id"))
            prediction = found.get(pid) if pid is not None else None
            if prediction is None:
                outcomes.append(FeedbackOutcome(shown, "not_found", "No such prediction."))
                continue
            classes = prediction.model_version.class_labels
            label = _label_text(item.get("label"))
            if label is None or label not in classes:
                outcomes.append(
                    FeedbackOutcome(
                        shown,
                        "invalid",
                        f"{item.get('label')!r} is not one of the model's classes "
                        f"({', '.join(classes)}).",
                    )
                )
                continue
            if prediction.label == label:
                outcomes.append(FeedbackOutcome(shown, "unchanged", correct=prediction.is_correct))
                continue
            status = "recorded"
            if prediction.label is not None:
                if not overwrite:
                    outcomes.append(
                        FeedbackOutcome(
                            shown,
                            "conflict",
                            f"Already labelled {prediction.label!r}; send overwrite=true to "
                            f"replace it with {label!r}.",
                        )
                    )
                    continue
                status = "overwritten"
            prediction.label = label
            prediction.labelled_at = now
            prediction.is_correct = prediction.prediction == label
            changed[prediction.id] = prediction
            outcomes.append(FeedbackOutcome(shown, status, correct=prediction.is_correct))
        if changed:
            PredictionLog.objects.bulk_update(
                list(changed.values()), ["label", "labelled_at", "is_correct"], batch_size=1000
            )
    return outcomes
