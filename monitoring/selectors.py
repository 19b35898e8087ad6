from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app as app
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from monitoring.models import WorkerProbe

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
