from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from celery import current_app as app
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from monitoring.models import DriftCheck, DriftMonitor, Retraining, WorkerProbe
from registry.selectors import model_version_production_of, stage_transition_promotions

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
