from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from celery import current_app as app
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import ChannelError

from abtests.selectors import abtest_decisions_of_model, abtest_running_by_model
from inference.selectors import batch_job_list, live_accuracy_list
from monitoring.models import (
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


def performance_history(model_id: int, *, since: datetime) -> list:
    """The model's snapshots since `since`, oldest first, with their versions."""
    return list(
        PerformanceSnapshot.objects.filter(registered_model_id=model_id, interval_start__gte=since)
        .select_related("model_version")
        .order_by("interval_start", "model_version_id")
    )


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
