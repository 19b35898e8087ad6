"""Performance history: one PerformanceSnapshot per version per interval, written by Beat.

Every PERFORMANCE_SNAPSHOT_SECONDS (60) Beat sends `performance_snapshots_write`, which
writes each complete interval that ended at least PERFORMANCE_SNAPSHOT_LAG_SECONDS ago (the
log writers flush within a fraction of a second; the lag leaves room) and has no row yet,
catching up at most PERFORMANCE_SNAPSHOT_CATCH_UP intervals after a pause. Production
versions get a row for every interval, zeros included, so a chart shows a gap as a gap;
other versions only for intervals in which they served. Writing an interval again changes
nothing (a unique constraint), so two Beat deliveries or two workers are harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from inference.selectors import interval_traffic, live_accuracy_list
from monitoring.models import PerformanceSnapshot
from registry.selectors import Stage, model_version_serving_ids

logger = logging.getLogger(__name__)


def _floor(when: datetime, seconds: int) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=when.tzinfo)


def performance_snapshots_write(*, now: datetime | None = None) -> int:
    """Write the snapshots that are due (see the module docstring); returns how many."""
    seconds = settings.PERFORMANCE_SNAPSHOT_SECONDS
    step = timedelta(seconds=seconds)
    now = now or timezone.now()
    last_end = _floor(now - timedelta(seconds=settings.PERFORMANCE_SNAPSHOT_LAG_SECONDS), seconds)
    earliest = last_end - step * settings.PERFORMANCE_SNAPSHOT_CATCH_UP
    versions = model_version_serving_ids()
    if not versions:
        return 0
    live = live_accuracy_list(version_ids=[pk for pk, _, _ in versions])
    written = {
        (version_id, start)
        for version_id, start in PerformanceSnapshot.objects.filter(
            model_version_id__in=[pk for pk, _, _ in versions], interval_start__gte=earliest
        ).values_list("model_version_id", "interval_start")
    }
    new = []
    for version_id, model_id, stage in versions:
        start = earliest
        while start + step <= last_end:
            if (version_id, start) not in written:
                traffic = interval_traffic(version_id=version_id, since=start, until=start + step)
                errors = sum((traffic.errors_by_reason or {}).values())
                if stage == Stage.PRODUCTION or traffic.rows or errors:
                    accuracy = live.get(version_id)
                    p50, p95, p99 = traffic.latency_ms
                    new.append(
                        PerformanceSnapshot(
                            registered_model_id=model_id,
                            model_version_id=version_id,
                            interval_start=start,
                            interval_seconds=seconds,
                            requests=traffic.requests,
                            rows=traffic.rows,
                            errors=errors,
                            errors_by_reason=traffic.errors_by_reason or {},
                            latency_p50_ms=p50,
                            latency_p95_ms=p95,
                            latency_p99_ms=p99,
                            rows_per_second=traffic.rows / seconds,
                            labelled=traffic.labelled,
                            correct=traffic.correct,
                            live_accuracy=accuracy.accuracy if accuracy else None,
                            estimated_accuracy=traffic.estimated_accuracy,
                        )
                    )
            start += step
    PerformanceSnapshot.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    if new:
        logger.info("performance snapshots: %d written up to %s", len(new), last_end)
    return len(new)
