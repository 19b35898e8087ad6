"""Retention deletes log rows older than PREDICTION_LOG_RETENTION_DAYS in batches, and keeps
what is still needed: a running A/B test's rows and the production version's drift window;
tallies and snapshots stay."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inference.models import PredictionLog
from inference.selectors import live_accuracy_list
from monitoring.models import DriftMonitor
from monitoring.services import drift_monitor_ensure, prediction_log_retention
from tests.abtests.helpers import champion_and_challenger, serve, start_test

pytestmark = pytest.mark.django_db


def _age(ids, days: float) -> None:
    PredictionLog.objects.filter(id__in=ids).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def test_old_rows_go_in_batches_and_what_is_needed_stays(settings):
    # given production v1 with 30 rows 100 days old and 5 rows from today, its monitor's
    # window the last 10 predictions, and a running test of v2 with 8 rows 100 days old
    settings.PREDICTION_LOG_RETENTION_DAYS = 90
    v1, v2 = champion_and_challenger()
    monitor = drift_monitor_ensure(model=v1.registered_model)
    DriftMonitor.objects.filter(pk=monitor.pk).update(window="rows", window_rows=10)
    test = start_test(v2)
    old = serve(test, "champion", requests=30)
    PredictionLog.objects.filter(id__in=old).update(ab_test_id=None, arm="")
    for i, pid in enumerate(old):
        _age([pid], 100 + i / 100)  # old[0] the newest of them
    recent = serve(test, "champion", requests=5)
    PredictionLog.objects.filter(id__in=recent).update(ab_test_id=None, arm="")
    tested = serve(test, "challenger", requests=8)
    _age(tested, 100)
    before = live_accuracy_list()

    # when retention runs with batches of 4 rows
    with CaptureQueriesContext(connection) as queries:
        deleted = prediction_log_retention(batch_rows=4)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]

    # then v1's old rows went, but for the five newest of them (the window's last 10 rows
    # with today's five), and the running test's rows all stayed
    kept_old = set(PredictionLog.objects.filter(id__in=old).values_list("id", flat=True))
    assert deleted == 25
    assert len(deletes) == 7  # 25 rows, at most 4 a statement
    assert kept_old == {uuid.UUID(str(pid)) for pid in old[:5]}
    assert PredictionLog.objects.filter(id__in=recent).count() == 5
    assert PredictionLog.objects.filter(id__in=tested).count() == 8
    # and the counts computed from the rows are unchanged
    assert live_accuracy_list() == before

    # when the test has ended, its old rows may go too
    from abtests.services import abtest_stop

    abtest_stop(test=test)
    assert prediction_log_retention(batch_rows=4) == 8


def test_retention_zero_keeps_everything(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 0
    _, v2 = champion_and_challenger()
    test = start_test(v2)
    ids = serve(test, "champion", requests=3)
    _age(ids, 1000)
    assert prediction_log_retention() == 0
    assert PredictionLog.objects.filter(id__in=ids).count() == 3
