from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from celery import current_app as app
from django.conf import settings
from django.db.models import Count, F, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import ChannelError

from abtests.selectors import abtest_decisions_of_model, abtest_running_by_model
from inference.selectors import batch_job_list, live_accuracy_list
from monitoring.models import (
    CostRate,
    CostRecord,
    DriftCheck,
    DriftMonitor,
    Event,
    PerformanceSnapshot,
    Retraining,
    Webhook,
    WorkerProbe,
)
from registry.selectors import (
    Stage,
    model_version_production_of,
    model_version_serving_ids,
    stage_transition_promotions,
)
from training.selectors import training_job_list

if TYPE_CHECKING:
    from registry.models import ModelVersion

BEAT_TASK_NAME = "modelyard-beat-heartbeat"


@dataclass
class SystemStatus:
    workers: list[str] = field(default_factory=list)
    worker_error: str = ""
    beat_last_tick: datetime | None = None
    beat_alive: bool = False
    last_probe: WorkerProbe | None = None

    @property
    def worker_alive(self) -> bool:
        return bool(self.workers)


def worker_ping(timeout: float = 1.0) -> tuple[list[str], str]:
    """Hostnames of the workers that answer a control-channel ping within `timeout`."""
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:  # broker down: report it, do not break the page
        return [], f"{type(exc).__name__}: {exc}"
    return sorted(host for reply in replies for host in reply), ""


def beat_last_tick() -> datetime | None:
    return (
        PeriodicTask.objects.filter(name=BEAT_TASK_NAME)
        .values_list("last_run_at", flat=True)
        .first()
    )


def beat_is_alive(tick: datetime | None) -> bool:
    """Beat is alive when it sent the heartbeat within three intervals (plus restart slack)."""
    window = timedelta(seconds=3 * settings.BEAT_HEARTBEAT_SECONDS + 5)
    return tick is not None and timezone.now() - tick <= window


def system_status_get(*, ping_timeout: float = 1.0) -> SystemStatus:
    workers, error = worker_ping(ping_timeout)
    tick = beat_last_tick()
    return SystemStatus(
        workers=workers,
        worker_error=error,
        beat_last_tick=tick,
        beat_alive=beat_is_alive(tick),
        last_probe=WorkerProbe.objects.first(),
    )


# -- drift -------------------------------------------------------------------------------------


def drift_check_list(monitor: DriftMonitor) -> list[DriftCheck]:
    return list(monitor.checks.select_related("model_version").order_by("-created_at", "-id")[:500])


def drift_timeline_events(monitor: DriftMonitor) -> tuple[list[tuple], list[tuple]]:
    """(retrainings, promotions) of the monitor's model as [(when, text)], for the timeline."""
    retrainings = [
        (r.created_at, f"retraining {r.pk} ({r.get_trigger_display().lower()})")
        for r in monitor.retrainings.order_by("created_at")[:200]
    ]
    promotions = [
        (t.created_at, f"v{t.model_version.version} promoted to production")
        for t in stage_transition_promotions(monitor.registered_model_id)
    ]
    return retrainings, promotions


def production_version(monitor: DriftMonitor) -> ModelVersion | None:
    return model_version_production_of(monitor.registered_model_id)


def drift_monitor_next_run(monitor: DriftMonitor) -> datetime | None:
    """When Beat next sends the monitor's check (None when disabled or never scheduled)."""
    task = monitor.periodic_task
    if task is None or not task.enabled:
        return None
    now = timezone.now()
    last = task.last_run_at or task.date_changed or now
    try:
        remaining = task.schedule.remaining_estimate(last)
    except (AttributeError, ValueError):  # a schedule Beat could not read either
        return None
    return max(now, now + remaining)


def drift_monitor_rows() -> list[dict]:
    """The Drift tab: every monitor, its latest check and next run, newest models first."""
    monitors = list(
        DriftMonitor.objects.select_related("registered_model", "periodic_task").order_by(
            "registered_model__name"
        )
    )
    return [
        {
            "monitor": m,
            "latest": m.checks.select_related("model_version")
            .order_by("-created_at", "-id")
            .first(),
            "next_run": drift_monitor_next_run(m),
        }
        for m in monitors
    ]


def retraining_for_ab_test(test_id: int) -> Retraining | None:
    """The retraining whose challenger the A/B test compares (the loop's previous step)."""
    return (
        Retraining.objects.select_related("drift_check", "training_job")
        .filter(ab_test_id=test_id)
        .first()
    )


RANGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}


# Points on a history chart: the range's snapshots in buckets of this many seconds.
BUCKETS = {"hour": 60, "day": 300, "week": 3600}


@dataclass
class HistoryPoint:
    """One version's snapshots of one bucket, combined: counts summed; latency percentiles
    the mean of the minutes' percentiles weighted by their requests (percentiles do not add
    up; this is the usual dashboard approximation, exact for one-minute buckets); live
    accuracy the bucket's last; estimated accuracy weighted by rows."""

    interval_start: datetime
    model_version_id: int
    version: int
    snapshots: int = 0
    requests: int = 0
    rows: int = 0
    errors: int = 0
    seconds: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    live_accuracy: float | None = None
    estimated_accuracy: float | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float | None:
        attempts = self.requests + self.errors
        return self.errors / attempts if attempts else None


def performance_history(model_id: int, *, since: datetime, bucket_seconds: int = 60) -> list:
    """The model's snapshots since `since` combined per version into buckets of
    `bucket_seconds` (HistoryPoint), oldest first. Reads the snapshots' numbers only, so a
    week of minutes (10,080 rows a version) stays a few tens of milliseconds."""
    rows = (
        PerformanceSnapshot.objects.filter(registered_model_id=model_id, interval_start__gte=since)
        .order_by("interval_start", "model_version_id")
        .values_list(
            "interval_start",
            "model_version_id",
            "model_version__version",
            "interval_seconds",
            "requests",
            "rows",
            "errors",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "live_accuracy",
            "estimated_accuracy",
        )
    )
    points: dict[tuple[int, datetime], HistoryPoint] = {}
    weights: dict[tuple[int, datetime], list[float]] = {}
    for (
        start,
        version_id,
        number,
        seconds,
        requests,
        n_rows,
        errors,
        p50,
        p95,
        p99,
        live,
        estimated,
    ) in rows:
        epoch = int(start.timestamp())
        bucket = datetime.fromtimestamp(epoch - epoch % bucket_seconds, tz=start.tzinfo)
        key = (version_id, bucket)
        point = points.get(key)
        if point is None:
            point = points[key] = HistoryPoint(bucket, version_id, number)
            weights[key] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # latency w, p50, p95, p99, est w, est
        w = weights[key]
        point.snapshots += 1
        point.requests += requests
        point.rows += n_rows
        point.errors += errors
        point.seconds += seconds
        if p50 is not None and requests:
            w[0] += requests
            w[1] += p50 * requests
            w[2] += (p95 or 0.0) * requests
            w[3] += (p99 or 0.0) * requests
        if estimated is not None and n_rows:
            w[4] += n_rows
            w[5] += estimated * n_rows
        if live is not None:
            point.live_accuracy = live
    for key, point in points.items():
        w = weights[key]
        if w[0]:
            point.latency_p50_ms = w[1] / w[0]
            point.latency_p95_ms = w[2] / w[0]
            point.latency_p99_ms = w[3] / w[0]
        if w[4]:
            point.estimated_accuracy = w[5] / w[4]
    return sorted(points.values(), key=lambda p: (p.interval_start, p.model_version_id))


def performance_events(model_id: int, *, since: datetime) -> list[tuple[datetime, str, str]]:
    """(when, kind, text) on the model's time axis: promotions, drift found, A/B decisions."""
    events = [
        (t.created_at, "promotion", f"v{t.model_version.version} promoted to production")
        for t in stage_transition_promotions(model_id, limit=500)
        if t.created_at >= since
    ]
    events += [
        (c.created_at, "drift", f"drift check {c.pk}: drift in {', '.join(c.drifted_features)}")
        for c in DriftCheck.objects.filter(
            monitor__registered_model_id=model_id,
            created_at__gte=since,
            verdict=DriftCheck.Verdict.DRIFT,
        ).order_by("created_at")[:500]
    ]
    events += [
        (d.created_at, "abtest", f"A/B test {d.test_id}: {d.sentence}")
        for d in abtest_decisions_of_model(model_id, since=since)
    ]
    return sorted(events)


def performance_overview() -> list[dict]:
    """Per model with a production version: its last hour of snapshots, summed."""
    since = timezone.now() - timedelta(hours=1)
    rows = []
    for version_id, _model, stage in model_version_serving_ids():
        if stage != Stage.PRODUCTION:
            continue
        snaps = list(
            PerformanceSnapshot.objects.filter(
                model_version_id=version_id, interval_start__gte=since
            ).select_related("registered_model", "model_version")
        )
        if not snaps:
            continue
        requests = sum(s.requests for s in snaps)
        errors = sum(s.errors for s in snaps)
        p95 = [s.latency_p95_ms for s in snaps if s.latency_p95_ms is not None]
        rows.append(
            {
                "model": snaps[-1].registered_model,
                "version": snaps[-1].model_version,
                "requests": requests,
                "rows": sum(s.rows for s in snaps),
                "error_rate": errors / (requests + errors) if requests + errors else None,
                "worst_p95_ms": max(p95) if p95 else None,
                "live_accuracy": snaps[-1].live_accuracy,
                "estimated_accuracy": next(
                    (s.estimated_accuracy for s in reversed(snaps) if s.estimated_accuracy), None
                ),
            }
        )
    return sorted(rows, key=lambda r: r["model"].name)


def event_feed(*, model_name: str | None = None, limit: int = 30) -> list[Event]:
    events = Event.objects.all()
    if model_name:
        events = events.filter(model_name=model_name)
    return list(events[:limit])


def webhook_rows() -> list[dict]:
    """Each webhook with its last ten deliveries."""
    return [
        {"webhook": w, "deliveries": list(w.deliveries.select_related("event")[:10])}
        for w in Webhook.objects.all()
    ]


def operator_board(models: list[dict]) -> dict:
    """The dashboard's operator view for `models` (registry summaries): per production
    model its live accuracy, latest drift verdict and running A/B test; and the work in
    flight (training jobs, batch jobs, drift checks)."""
    production = [row["production"] for row in models if row["production"]]
    live = live_accuracy_list(version_ids=[v.pk for v in production])
    latest_check = {
        row["monitor"].registered_model_id: row["latest"] for row in drift_monitor_rows()
    }
    tests = abtest_running_by_model()
    rows = [
        {
            **row,
            "live": live.get(row["production"].pk) if row["production"] else None,
            "drift": latest_check.get(row["model"].pk),
            "ab_test": tests.get(row["model"].pk),
        }
        for row in models
    ]
    unfinished = ("queued", "running")
    return {
        "rows": rows,
        "running": {
            "training": list(training_job_list().filter(status__in=unfinished)[:10]),
            "batch": [j for j in batch_job_list(limit=50) if j.status in unfinished][:10],
            "drift": list(
                DriftCheck.objects.filter(status__in=unfinished)
                .select_related("model_version__registered_model")
                .order_by("-created_at")[:10]
            ),
        },
    }


QUEUES = ("training", "batch", "monitoring", "default")


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue, asked of the broker (Redis or the filesystem
    transport) with a passive declare; {} when the broker does not answer."""
    depths = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
            channel = connection.default_channel
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue, passive=True).message_count
                except ChannelError:  # Redis: an empty queue is no key at all
                    depths[queue] = 0
    except Exception:  # noqa: BLE001 - a broker down leaves the series out, /metrics still answers
        return {}
    return depths


def event_counts() -> dict[str, int]:
    return dict(
        Event.objects.order_by().values("kind").annotate(n=Count("id")).values_list("kind", "n")
    )


# -- costs ----------------------------------------------------------------------------------

COST_GROUPS = ("day", "kind", "model", "version")
COST_RANGES = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


def cost_records(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    version: int | None = None,
    kind: str | None = None,
) -> QuerySet[CostRecord]:
    records = CostRecord.objects.all()
    if since is not None:
        records = records.filter(started_at__gte=since)
    if until is not None:
        records = records.filter(started_at__lt=until)
    if model:
        records = records.filter(model_name=model)
    if version is not None:
        records = records.filter(version=version)
    if kind:
        records = records.filter(kind=kind)
    return records


def _decimal(value) -> Decimal:
    """A summed amount at the records' precision (SQLite sums decimals as floats)."""
    return Decimal(value or 0).quantize(Decimal("1e-8"))


def cost_report(*, group_by: tuple[str, ...] = ("day", "kind"), **filters) -> dict:
    """Costs summed per `group_by` (any of day, kind, model, version; a day is a UTC date of
    the records' start) over the records `cost_records(**filters)` selects, with the
    totals. Amounts are Decimals in the records' currency."""
    unknown = [g for g in group_by if g not in COST_GROUPS]
    if unknown:
        raise ValueError(f"Cannot group costs by {', '.join(unknown)}.")
    columns = {
        "day": TruncDate("started_at", tzinfo=UTC),
        "kind": F("kind"),
        "model": F("model_name"),
        "version": F("version"),
    }
    records = cost_records(**filters)
    sums = {
        "amount": Sum("amount"),
        "cpu_seconds": Sum("cpu_seconds"),
        "bytes": Sum("bytes"),
        "predictions": Sum("predictions"),
        "records": Count("id"),
    }
    rows = list(
        records.annotate(**{f"g_{g}": columns[g] for g in group_by})
        .values(*[f"g_{g}" for g in group_by])
        .annotate(**sums)
        .order_by(*[f"g_{g}" for g in group_by])
    )
    totals = records.aggregate(**sums)
    return {
        "group_by": list(group_by),
        "currency": records.values_list("currency", flat=True).first() or settings.COST_CURRENCY,
        "rows": [
            {
                **{g: row[f"g_{g}"] for g in group_by},
                "amount": _decimal(row["amount"]),
                "cpu_seconds": row["cpu_seconds"] or 0.0,
                "bytes": row["bytes"] or 0,
                "predictions": row["predictions"] or 0,
                "records": row["records"],
            }
            for row in rows
        ],
        "totals": {
            "amount": _decimal(totals["amount"]),
            "cpu_seconds": totals["cpu_seconds"] or 0.0,
            "bytes": totals["bytes"] or 0,
            "predictions": totals["predictions"] or 0,
            "records": totals["records"],
        },
    }


def cost_per_version(**filters) -> list[dict]:
    """Per model and version: every kind's cost, the inference cost and its predictions, and
    the inference cost per 1,000 predictions (None before any measured prediction)."""
    rows: dict[tuple[str, int | None], dict] = {}
    for row in cost_report(group_by=("model", "version", "kind"), **filters)["rows"]:
        if not row["model"]:
            continue  # datasets: nobody's version
        entry = rows.setdefault(
            (row["model"], row["version"]),
            {
                "model": row["model"],
                "version": row["version"],
                "by_kind": {},
                "total": Decimal(0),
                "inference": Decimal(0),
                "predictions": 0,
            },
        )
        entry["by_kind"][row["kind"]] = row["amount"]
        entry["total"] += row["amount"]
        if row["kind"] == "inference":
            entry["inference"] = row["amount"]
            entry["predictions"] = row["predictions"]
    for entry in rows.values():
        entry["per_1k"] = (
            entry["inference"] / entry["predictions"] * 1000 if entry["predictions"] else None
        )
    return sorted(rows.values(), key=lambda e: (e["model"], e["version"] or 0))


def costliest_training_jobs(*, limit: int = 10, **filters) -> list[dict]:
    """Training jobs by what they cost, the whole search (every worker that ran trials)."""
    rows = (
        cost_records(kind="training", **filters)
        .values("source_id")
        .annotate(
            amount=Sum("amount"),
            cpu_seconds=Sum("cpu_seconds"),
            workers=Count("id"),
            model=Max("model_name"),
            version=Max("version"),
            started_at=Min("started_at"),
        )
        .order_by("-amount")[:limit]
    )
    return [dict(row, job_id=row.pop("source_id"), amount=_decimal(row["amount"])) for row in rows]


def cost_models() -> list[str]:
    """The models that have costs on record (the page's model picker)."""
    return list(
        CostRecord.objects.exclude(model_name="")
        .order_by("model_name")
        .values_list("model_name", flat=True)
        .distinct()
    )


def cost_rates_in_effect() -> list[dict]:
    """Each resource's price now, and where it comes from (a CostRate row or the settings)."""
    from monitoring.services import cost_rate

    now = timezone.now()
    rows = []
    for resource, label in CostRate.Resource.choices:
        price, currency = cost_rate(resource, now)
        row = CostRate.objects.filter(resource=resource, effective_from__lte=now).first()
        rows.append(
            {
                "resource": label,
                "price": price,
                "currency": currency,
                "source": f"rate set {row.effective_from:%Y-%m-%d}" if row else "settings default",
            }
        )
    return rows


def cost_totals() -> list[dict]:
    """Every cost on record summed per kind, model and currency (/metrics)."""
    return list(
        CostRecord.objects.values("kind", "model_name", "currency")
        .annotate(amount=Sum("amount"), cpu_seconds=Sum("cpu_seconds"))
        .order_by("kind", "model_name")
    )


def training_job_cost(job_id: int) -> dict | None:
    """What a training job cost: its workers' records summed (None before it finished)."""
    rows = cost_records(kind="training").filter(source_id=job_id)
    totals = rows.aggregate(amount=Sum("amount"), cpu_seconds=Sum("cpu_seconds"), n=Count("id"))
    if not totals["n"]:
        return None
    currency = rows.values_list("currency", flat=True).first()
    price = rows.values_list("unit_price", flat=True).first()
    return {**totals, "amount": _decimal(totals["amount"]), "currency": currency, "price": price}


def drift_checks_of_version(version_id: int, *, limit: int = 20) -> list[dict]:
    """The version's newest finished drift checks, newest first (model cards)."""
    checks = DriftCheck.objects.filter(
        model_version_id=version_id, status=DriftCheck.Status.SUCCEEDED
    ).order_by("-created_at")[:limit]
    return [
        {
            "at": c.created_at,
            "check": c.pk,
            "verdict": c.verdict,
            "drift_share": c.drift_share,
            "drifted": list(c.drifted_features),
        }
        for c in checks
    ]
