"""Beat's liveness as the status page sees it, with a real Beat process."""

import pytest
from django_celery_beat.models import PeriodicTask

from monitoring import selectors
from tests.conftest import wait_for

pytestmark = [pytest.mark.beat]


def test_beat_tick_is_recorded_and_reported_alive(celery_beat_process):
    # given no heartbeat recorded yet
    assert selectors.beat_last_tick() is None
    assert not selectors.system_status_get(ping_timeout=0.1).beat_alive

    # when Beat runs with a one-second heartbeat
    tick = wait_for(
        selectors.beat_last_tick,
        timeout=60,
        interval=0.25,
        what="Beat to record its first tick",
    )

    # then its schedule entry lives in the database and the status reports Beat alive
    assert PeriodicTask.objects.filter(name=selectors.BEAT_TASK_NAME).exists()
    assert tick is not None
    assert selectors.system_status_get(ping_timeout=0.1).beat_alive, celery_beat_process.output()


@pytest.mark.django_db
def test_stale_beat_tick_is_reported_not_alive(settings):
    # given a heartbeat entry last sent ten minutes ago
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=15, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name=selectors.BEAT_TASK_NAME,
        task="monitoring.beat_heartbeat",
        interval=every,
        last_run_at=timezone.now() - timedelta(minutes=10),
    )

    # when the status is read
    status = selectors.system_status_get(ping_timeout=0.1)

    # then Beat is not alive
    assert status.beat_last_tick is not None
    assert not status.beat_alive
