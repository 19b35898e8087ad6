"""Prediction-log retention: rows older than PREDICTION_LOG_RETENTION_DAYS are deleted by a
Beat task, in short batches, except the rows something still needs: every row of a running
A/B test (or of a promotion under watch), and each production version's drift window (its
monitor's last N predictions, or last T hours). Snapshots, tallies, checks, decisions and
cost records are kept, so history and /metrics survive the rows they were computed from."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from abtests.selectors import abtest_ids_needing_rows
from inference.selectors import prediction_window
from inference.services import prediction_logs_prune
from monitoring.models import DriftMonitor
from registry.selectors import model_version_production_of

logger = logging.getLogger(__name__)


def _drift_windows(now) -> dict[int, object]:
    """Production version id -> the oldest created_at its monitor's window still reads."""
    keep = {}
    for monitor in DriftMonitor.objects.all():
        version = model_version_production_of(monitor.registered_model_id)
        if version is None:
            continue
        if monitor.window == DriftMonitor.Window.HOURS:
            keep[version.pk] = now - timedelta(hours=monitor.window_hours)
            continue
        oldest = prediction_window(
            version_id=version.pk, columns=("created_at",), limit=monitor.window_rows
        )
        if oldest:
            keep[version.pk] = oldest[0][0]
    return keep


def prediction_log_retention(*, now=None, batch_rows: int | None = None) -> int:
    """Delete what retention allows (see the module docstring); returns rows deleted."""
    days = settings.PREDICTION_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    deleted = prediction_logs_prune(
        before=now - timedelta(days=days),
        keep_tests=set(abtest_ids_needing_rows()),
        keep_since=_drift_windows(now),
        batch_rows=batch_rows or settings.PREDICTION_LOG_RETENTION_BATCH_ROWS,
    )
    if deleted:
        logger.info("prediction log retention: %d rows older than %d days deleted", deleted, days)
    return deleted
