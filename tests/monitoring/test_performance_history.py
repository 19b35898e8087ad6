"""Performance snapshots: one per version per interval, counted from the log (request latency
percentiles in the database on PostgreSQL, in Python on SQLite) and the error tallies;
production gets zero rows for quiet intervals; writing again changes nothing."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inference.models import ErrorTally, PredictionLog
from inference.pipeline import Scored
from inference.services import new_prediction_ids, prediction_logs_write
from inference.services.prediction_log import tallies_write
from inference.serving.cache import model_cache
from inference.serving.tally import TallyDelta
from monitoring.models import PerformanceSnapshot
from monitoring.services import performance_snapshots_write
from tests.inference.models import feature_rows, register

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _request(target, rows: int, latency: float, at: datetime, label: str | None = None):
    ids = new_prediction_ids(rows)
    prediction_logs_write(
        target=target,
        ids=ids,
        instances=feature_rows(rows),
        scored=Scored(
            proba=np.tile([0.2, 0.8], (rows, 1)), labels=[">50K"] * rows, unknown=[[]] * rows
        ),
        class_labels=["<=50K", ">50K"],
        unit_hash="",
        source="rest",
        request_id="",
        latency_ms=latency,
    )
    PredictionLog.objects.filter(id__in=ids).update(
        created_at=at, label=label, is_correct=None if label is None else label == ">50K"
    )


def test_a_snapshot_counts_requests_rows_latency_labels_and_errors():
    # given production v1 serving, in 10:00-10:01, ten requests with latencies 1..10 ms,
    # requests 0, 3, 6 and 9 of three rows (18 rows); the first four requests labelled
    model_cache.clear()
    v1 = register("logreg")
    target = model_cache.resolve("adult")
    labels = [">50K", ">50K", "<=50K", ">50K"]
    for i in range(10):
        _request(
            target,
            3 if i % 3 == 0 else 1,
            float(i + 1),
            T0 + timedelta(seconds=5 * i),
            label=labels[i] if i < 4 else None,
        )
    # and a request in the next minute, and two failed requests in the first
    _request(target, 1, 50.0, T0 + timedelta(seconds=70))
    tallies_write([TallyDelta(0, "", v1.pk, errors=2, reason="missing_feature")])
    ErrorTally.objects.update(minute=T0)

    # when Beat writes the snapshots two minutes later
    written = performance_snapshots_write(now=T0 + timedelta(minutes=2, seconds=31))

    # then the first minute's row holds the hand-counted figures
    first = PerformanceSnapshot.objects.get(model_version=v1, interval_start=T0)
    assert (first.requests, first.rows, first.errors) == (10, 18, 2)
    assert first.errors_by_reason == {"missing_feature": 2}
    # linear-interpolated percentiles of 1..10 ms: 5.5, 9.55, 9.91
    assert first.latency_p50_ms == pytest.approx(5.5)
    assert first.latency_p95_ms == pytest.approx(9.55)
    assert first.latency_p99_ms == pytest.approx(9.91)
    assert first.rows_per_second == pytest.approx(18 / 60)
    # requests 0 and 3 have three rows each: 3 + 1 + 1 + 3 labelled rows, right but request 2
    assert (first.labelled, first.correct) == (8, 7)
    assert first.estimated_accuracy == pytest.approx(0.8)
    assert first.error_rate == pytest.approx(2 / 12)
    second = PerformanceSnapshot.objects.get(
        model_version=v1, interval_start=T0 + timedelta(minutes=1)
    )
    assert (second.requests, second.rows, second.latency_p50_ms) == (1, 1, 50.0)
    assert written == PerformanceSnapshot.objects.count()

    # when Beat runs again over the same intervals, nothing changes
    assert performance_snapshots_write(now=T0 + timedelta(minutes=2, seconds=45)) == 0


def test_quiet_intervals_of_production_are_written_as_zeros():
    # given production v1 and candidate v2, neither serving
    model_cache.clear()
    v1 = register("logreg")
    v2 = register("hgb")

    # when Beat writes five minutes of snapshots
    performance_snapshots_write(now=T0 + timedelta(minutes=5, seconds=31))

    # then production has a zero row for each complete interval, the candidate none
    rows = PerformanceSnapshot.objects.filter(model_version=v1, interval_start__gte=T0)
    assert rows.count() == 5
    assert {(r.requests, r.rows, r.latency_p50_ms) for r in rows} == {(0, 0, None)}
    assert not PerformanceSnapshot.objects.filter(model_version=v2).exists()


def test_the_monitoring_pages_and_api_show_the_history(page_client, api_client):
    # given production v1 with a minute of traffic two minutes ago, written to snapshots
    from django.utils import timezone

    model_cache.clear()
    v1 = register("logreg")
    target = model_cache.resolve("adult")
    now = timezone.now()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    for i in range(4):
        _request(target, 1, 2.0 + i, start + timedelta(seconds=i))
    performance_snapshots_write(now=now)

    # when a person opens the tab and the model's page
    overview = page_client.get("/monitoring/").content.decode()
    page = page_client.get("/monitoring/adult/?range=hour").content.decode()

    # then the model is listed with its hour, and its page has the four charts and the
    # promotion on the time axis
    assert "/monitoring/adult/" in overview and 'id="monitoring-table"' in overview
    for chart in ("chart-latency", "chart-throughput", "chart-errors", "chart-accuracy-history"):
        assert f'id="{chart}"' in page
    assert "v1 promoted to production" in page
    assert page_client.get("/monitoring/adult/?range=year").status_code == 200
    assert page_client.get("/monitoring/nope/").status_code == 404

    # and the API lists the snapshots, filtered
    since = (start - timedelta(seconds=1)).isoformat()
    listed = api_client.get(
        "/api/v1/performance-snapshots/", {"model": "adult", "version": v1.version, "since": since}
    ).json()["results"]
    assert any(r["requests"] == 4 and r["latency_p50_ms"] == pytest.approx(3.5) for r in listed)
    bad = api_client.get("/api/v1/performance-snapshots/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.content.decode()


def test_a_longer_range_draws_buckets_of_snapshots_combined():
    # given three minutes of v1 snapshots in one five-minute bucket, and one in the next
    from monitoring.selectors import performance_history

    v1 = register("logreg")
    minutes = [
        # start, requests, rows, errors, p50, p95, p99, live, estimated
        (T0, 10, 10, 0, 1.0, 2.0, 3.0, 0.80, 0.70),
        (T0 + timedelta(minutes=1), 30, 60, 2, 2.0, 4.0, 8.0, 0.82, 0.90),
        (T0 + timedelta(minutes=2), 0, 0, 1, None, None, None, 0.84, None),
        (T0 + timedelta(minutes=5), 5, 5, 0, 9.0, 9.0, 9.0, 0.85, 0.5),
    ]
    for start, requests, rows, errors, p50, p95, p99, live, estimated in minutes:
        PerformanceSnapshot.objects.create(
            registered_model=v1.registered_model,
            model_version=v1,
            interval_start=start,
            interval_seconds=60,
            requests=requests,
            rows=rows,
            errors=errors,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            rows_per_second=rows / 60,
            live_accuracy=live,
            estimated_accuracy=estimated,
        )

    # when drawn per five minutes
    first, second = performance_history(
        v1.registered_model_id, since=T0 - timedelta(hours=1), bucket_seconds=300
    )

    # then the first bucket sums its counts, weights the percentiles by requests and the
    # estimate by rows, and keeps the last live accuracy
    assert (first.interval_start, first.version, first.snapshots) == (T0, 1, 3)
    assert (first.requests, first.rows, first.errors) == (40, 70, 3)
    assert first.rows_per_second == pytest.approx(70 / 180)
    assert first.error_rate == pytest.approx(3 / 43)
    assert first.latency_p50_ms == pytest.approx((10 * 1.0 + 30 * 2.0) / 40)
    assert first.latency_p95_ms == pytest.approx((10 * 2.0 + 30 * 4.0) / 40)
    assert first.latency_p99_ms == pytest.approx((10 * 3.0 + 30 * 8.0) / 40)
    assert first.estimated_accuracy == pytest.approx((10 * 0.70 + 60 * 0.90) / 70)
    assert first.live_accuracy == 0.84
    assert (second.interval_start, second.requests, second.latency_p95_ms) == (
        T0 + timedelta(minutes=5),
        5,
        9.0,
    )
