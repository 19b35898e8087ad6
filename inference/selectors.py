"""Reads of the prediction log reused by pages, the API and /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection
from django.db.models import Count, Sum

from inference.models import (
    BatchScoringJob,
    ErrorTally,
    PredictionLog,
    PredictionTally,
    UsageTally,
)
from inference.serving.tally import COUNTS


@dataclass(frozen=True)
class LiveAccuracy:
    """Accuracy over the labelled predictions of one version (None until one is labelled)."""

    version_id: int
    predictions: int
    labelled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    @property
    def labelled_share(self) -> float | None:
        return self.labelled / self.predictions if self.predictions else None


def live_accuracy_list(*, version_ids: list[int] | None = None) -> dict[int, LiveAccuracy]:
    """Per version id: predictions served, how many are labelled, how many were right; from
    the tallies the write path keeps (a few rows a version, whatever the log's size)."""
    tallies = PredictionTally.objects.all()
    if version_ids is not None:
        tallies = tallies.filter(model_version_id__in=version_ids)
    counted = (
        tallies.order_by()
        .values("model_version_id")
        .annotate(predictions=Sum("predictions"), labelled=Sum("labelled"), correct=Sum("correct"))
    )
    return {
        row["model_version_id"]: LiveAccuracy(
            version_id=row["model_version_id"],
            predictions=int(row["predictions"] or 0),
            labelled=int(row["labelled"] or 0),
            correct=int(row["correct"] or 0),
        )
        for row in counted
        if row["predictions"]
    }


def live_accuracy_get(*, version_id: int) -> LiveAccuracy:
    return live_accuracy_list(version_ids=[version_id]).get(
        version_id, LiveAccuracy(version_id=version_id, predictions=0, labelled=0, correct=0)
    )


def prediction_list_recent(*, model_name: str, limit: int = 20):
    """The newest predictions of a model (uses the (model, -created_at) index)."""
    return (
        PredictionLog.objects.filter(registered_model__name=model_name)
        .select_related("model_version")
        .order_by("-created_at")[:limit]
    )


def batch_job_list(*, model_name: str | None = None, limit: int = 20):
    jobs = BatchScoringJob.objects.select_related("registered_model", "model_version")
    if model_name:
        jobs = jobs.filter(registered_model__name=model_name)
    return jobs[:limit]


def prediction_window(
    *,
    version_id: int,
    columns: tuple[str, ...],
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled_only: bool = False,
) -> list[tuple]:
    """The newest `limit` live predictions of a version (batch scoring left out), between
    `since` and `until` when given, oldest first, as tuples of `columns`. Drift checks and
    retraining read their windows here (the (version, created_at) index serves the order)."""
    rows = PredictionLog.objects.filter(model_version_id=version_id).exclude(
        source=PredictionLog.Source.BATCH
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lte=until)
    if labelled_only:
        rows = rows.filter(label__isnull=False)
    picked = list(rows.order_by("-created_at", "-id").values_list(*columns)[:limit])
    return picked[::-1]


def arm_tallies(*, ab_test_id: int, arms: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Each arm's running counts ({arm: {requests, predictions, units, errors, labelled,
    correct, pairs, ...}}), summed over its versions: a few rows whatever the log's size.
    Every arm named in `arms` is there, with zeros when it has served nothing yet."""
    rows = (
        PredictionTally.objects.filter(ab_test_id=ab_test_id)
        .values("arm")
        .annotate(**{c: Sum(c) for c in COUNTS})
    )
    tallies = {arm: dict.fromkeys(COUNTS, 0) for arm in arms}
    tallies.update({row.pop("arm"): {c: int(row[c] or 0) for c in COUNTS} for row in rows})
    return tallies


def arm_latency_p95(*, ab_test_id: int, arm: str, last: int = 5000) -> float | None:
    """p95 of the request latency (ms) over the arm's newest `last` logged rows, None
    without rows; read along the (test, arm, created_at) index."""
    table = PredictionLog._meta.db_table
    recent = (
        f"SELECT latency_ms FROM {table} WHERE ab_test_id = %s AND arm = %s "
        "ORDER BY created_at DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) "
                f"FROM ({recent}) AS recent",
                [ab_test_id, arm, last],
            )
            value = cursor.fetchone()[0]
            return None if value is None else float(value)
        cursor.execute(recent, [ab_test_id, arm, last])
        values = [row[0] for row in cursor.fetchall()]
    if not values:
        return None
    import numpy as np

    return float(np.percentile(values, 95))


@dataclass(frozen=True)
class IntervalTraffic:
    """What one version served in [since, until): live traffic only (no batch scoring, no
    shadow rows), read along the (version, created_at) index."""

    requests: int = 0
    rows: int = 0
    labelled: int = 0
    correct: int = 0
    latency_ms: tuple[float | None, float | None, float | None] = (None, None, None)
    estimated_accuracy: float | None = None  # mean probability of the predicted class
    errors_by_reason: dict | None = None


_INTERVAL_PG = """
WITH r AS (
    SELECT created_at, latency_ms, label, is_correct, prediction, probabilities
    FROM {table}
    WHERE model_version_id = %s AND created_at >= %s AND created_at < %s
      AND source <> 'batch' AND shadow_of IS NULL
), q AS (SELECT DISTINCT created_at, latency_ms FROM r)
SELECT (SELECT count(*) FROM q), (SELECT count(*) FROM r), (SELECT count(label) FROM r),
       (SELECT count(*) FROM r WHERE is_correct),
       (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) FROM q),
       (SELECT avg((probabilities ->> prediction)::float8) FROM r)
"""


def interval_traffic(*, version_id: int, since: datetime, until: datetime) -> IntervalTraffic:
    """Requests (the rows of one request share their created_at), rows, labels so far,
    request latency p50 / p95 / p99 (PostgreSQL's percentile_cont in the database; numpy's
    linear percentiles, the same definition, on SQLite), the confidence-based accuracy
    estimate, and the failed requests by reason (ErrorTally)."""
    errors = dict(
        ErrorTally.objects.filter(model_version_id=version_id, minute__gte=since, minute__lt=until)
        .values("reason")
        .annotate(n=Sum("errors"))
        .values_list("reason", "n")
    )
    table = PredictionLog._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_INTERVAL_PG.format(table=table), [version_id, since, until])
            requests, rows, labelled, correct, quantiles, estimate = cursor.fetchone()
            return IntervalTraffic(
                requests=requests,
                rows=rows,
                labelled=labelled,
                correct=correct,
                latency_ms=tuple(quantiles) if quantiles else (None, None, None),
                estimated_accuracy=float(estimate) if estimate is not None else None,
                errors_by_reason=errors,
            )
    picked = list(
        PredictionLog.objects.filter(
            model_version_id=version_id,
            created_at__gte=since,
            created_at__lt=until,
            shadow_of__isnull=True,
        )
        .exclude(source=PredictionLog.Source.BATCH)
        .values_list(
            "created_at", "latency_ms", "label", "is_correct", "prediction", "probabilities"
        )
    )
    if not picked:
        return IntervalTraffic(errors_by_reason=errors)
    import numpy as np

    per_request = {(created, latency) for created, latency, *_ in picked}
    latencies = np.array([latency for _, latency in per_request])
    return IntervalTraffic(
        requests=len(per_request),
        rows=len(picked),
        labelled=sum(1 for row in picked if row[2] is not None),
        correct=sum(1 for row in picked if row[3]),
        latency_ms=tuple(float(q) for q in np.percentile(latencies, [50, 95, 99])),
        estimated_accuracy=float(np.mean([row[5].get(row[4], 0.0) for row in picked])),
        errors_by_reason=errors,
    )


def usage_list(*, since: datetime, until: datetime) -> list[tuple[int, datetime, int, int, int]]:
    """(version id, minute, requests, predictions, CPU microseconds) of the measured prediction
    requests (UsageTally) in [since, until)."""
    return list(
        UsageTally.objects.filter(minute__gte=since, minute__lt=until).values_list(
            "model_version_id", "minute", "requests", "predictions", "cpu_us"
        )
    )


def usage_totals(*, version_ids: list[int], since: datetime) -> dict[int, tuple[int, int]]:
    """Per version: (predictions, CPU microseconds) of its measured requests since `since`."""
    rows = (
        UsageTally.objects.filter(model_version_id__in=version_ids, minute__gte=since)
        .values("model_version_id")
        .annotate(predictions=Sum("predictions"), cpu_us=Sum("cpu_us"))
    )
    return {r["model_version_id"]: (r["predictions"] or 0, r["cpu_us"] or 0) for r in rows}


def prediction_log_storage() -> dict[int, tuple[int, int]]:
    """Per version: (rows in the prediction log, bytes they take). The bytes are the table's
    (with its indexes and TOAST on PostgreSQL; its pages on SQLite) shared out by rows: one
    grouped count over the version index, meant for a daily measurement, not a page."""
    table = PredictionLog._meta.db_table
    counts = dict(
        PredictionLog.objects.order_by()
        .values("model_version_id")
        .annotate(n=Count("id"))
        .values_list("model_version_id", "n")
    )
    total_rows = sum(counts.values())
    if not total_rows:
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        else:
            try:
                cursor.execute(
                    "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name = %s)",
                    [table],
                )
            except DatabaseError:  # SQLite built without the dbstat table
                cursor.execute(
                    f"SELECT COALESCE(SUM(LENGTH(features) + LENGTH(probabilities) + 200), 0) "
                    f"FROM {table}"
                )
        total_bytes = int(cursor.fetchone()[0] or 0)
    return {version: (n, round(total_bytes * n / total_rows)) for version, n in counts.items()}
