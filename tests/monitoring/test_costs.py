"""Costs: CPU time measured where the work ran, attributed to the right model and version,
priced at the rate in effect, and summed by the report exactly as the records say."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from abtests.services import abtest_evaluate
from core.costs import CostReport, cpu_report
from inference.models import UsageTally
from inference.services import batch_scoring_job_create, predictions_serve
from inference.serving.cache import model_cache
from inference.serving.tally import write_cpu
from inference.tasks import score_batch_task
from monitoring import selectors, services
from monitoring.models import CostRate, CostRecord, DriftMonitor
from monitoring.services.costs import HOURS_PER_MONTH
from tests.abtests.helpers import champion_and_challenger, serve, start_test
from tests.conftest import wait_for
from tests.inference.models import feature_rows, register
from tests.inference.test_batch_scoring import make_csv
from tests.training.adult_sample import adult_sample_dataset
from training import services as training_services
from training.models import TrainingJob, Trial

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def _report(key: str, **fields) -> CostRecord:
    fields.setdefault("started_at", DAY)
    fields.setdefault("ended_at", DAY + timedelta(hours=1))
    return services.cost_record(report=CostReport(key=key, **fields))


# -- prices ------------------------------------------------------------------------------------


def test_a_cost_is_priced_at_the_rate_in_effect_and_keeps_it(settings):
    # given the settings' price, then a rate from a date on
    settings.COST_CPU_HOUR = "0.05"
    first = _report("a", kind="training", cpu_seconds=7200)
    CostRate.objects.create(
        resource="cpu_hour", unit_price=Decimal("0.10"), effective_from=DAY - timedelta(days=1)
    )
    CostRate.objects.create(
        resource="cpu_hour", unit_price=Decimal("9"), effective_from=DAY + timedelta(days=9)
    )

    # when costs are recorded before and after the rate was set
    second = _report("b", kind="training", cpu_seconds=7200)

    # then each is two CPU-hours at its price: the setting's, then the rate of its day
    assert first.amount == Decimal("0.1")
    assert second.amount == Decimal("0.2")
    assert (second.unit_price, second.currency) == (Decimal("0.10"), "USD")
    first.refresh_from_db()
    assert first.amount == Decimal("0.1")  # a record keeps the price it was given


def test_a_key_adds_or_replaces(settings):
    settings.COST_CPU_HOUR = "3.6"  # a CPU-second costs 0.001
    _report("k", kind="ab_evaluation", cpu_seconds=2.0, mode="add")
    added = _report("k", kind="ab_evaluation", cpu_seconds=3.0, mode="add")
    assert (added.cpu_seconds, added.amount) == (5.0, Decimal("0.005"))
    replaced = _report("k", kind="ab_evaluation", cpu_seconds=1.0, mode="set")
    assert (replaced.cpu_seconds, replaced.amount) == (1.0, Decimal("0.001"))
    assert CostRecord.objects.count() == 1


def test_storage_is_priced_per_gb_month_for_the_period(settings):
    settings.COST_GB_MONTH = "0.10"
    record = _report(
        "s", kind="storage", bytes=3 * 10**9, ended_at=DAY + timedelta(hours=HOURS_PER_MONTH)
    )
    assert record.amount == Decimal("0.3")  # 3 GB for a month
    day = _report("d", kind="storage", bytes=10**9, ended_at=DAY + timedelta(days=1))
    assert day.amount == pytest.approx(Decimal("0.1") * 24 / HOURS_PER_MONTH, rel=Decimal("1e-6"))


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown cost kind 'gpu'"):
        cpu_report("gpu", key="x", started_at=DAY, ended_at=DAY)


# -- the report --------------------------------------------------------------------------------


def _some_records():
    rows = [
        ("t1", "training", "adult", 1, 0, 400.0, 0, 0),
        ("t2", "training", "adult", 2, 1, 800.0, 0, 0),
        ("i1", "inference", "adult", 1, 0, 36.0, 0, 12000),
        ("i2", "inference", "adult", 1, 1, 72.0, 0, 30000),
        ("i3", "inference", "credit", 1, 1, 18.0, 0, 500),
        ("d1", "drift_check", "adult", 1, 2, 3.5, 0, 0),
        ("s1", "storage", "", None, 1, 0.0, 5 * 10**8, 0),
        ("s2", "storage", "adult", 2, 2, 0.0, 10**8, 0),
    ]
    for key, kind, model, version, day, cpu, size, predictions in rows:
        start = DAY + timedelta(days=day, hours=3)
        _report(
            key,
            kind=kind,
            model_name=model,
            version=version,
            started_at=start,
            ended_at=start + timedelta(hours=1),
            cpu_seconds=cpu,
            bytes=size,
            predictions=predictions,
            source_id=int(key[1]) if kind == "training" else None,
        )
    return rows


def test_the_report_sums_match_the_records():
    _some_records()
    records = list(CostRecord.objects.all())

    # when grouped by day and kind
    report = selectors.cost_report(group_by=("day", "kind"), since=DAY - timedelta(days=1))

    # then every group is the sum of its records, and the totals the sum of all
    expected: dict = {}
    for r in records:
        key = (r.started_at.date(), r.kind)
        expected[key] = expected.get(key, Decimal(0)) + r.amount
    assert {(row["day"], row["kind"]): row["amount"] for row in report["rows"]} == expected
    assert report["totals"]["amount"] == sum(r.amount for r in records)
    assert report["totals"]["records"] == len(records)
    assert report["totals"]["cpu_seconds"] == pytest.approx(sum(r.cpu_seconds for r in records))

    # and a filtered report is the sum of the filtered records
    adult = selectors.cost_report(group_by=("version",), model="adult")
    by_version = {row["version"]: row["amount"] for row in adult["rows"]}
    for number in (1, 2):
        assert by_version[number] == sum(
            r.amount for r in records if r.model_name == "adult" and r.version == number
        )


def test_cost_per_thousand_predictions_and_the_costliest_jobs():
    _some_records()
    inference = {(r.model_name, r.version): r for r in CostRecord.objects.filter(kind="inference")}
    rows = {(e["model"], e["version"]): e for e in selectors.cost_per_version()}

    # adult v1 served 42,000 predictions for its two inference records
    adult = rows["adult", 1]
    amount = sum(r.amount for r in CostRecord.objects.filter(kind="inference", model_name="adult"))
    assert adult["predictions"] == 42000
    assert adult["per_1k"] == amount / 42000 * 1000
    assert rows["credit", 1]["per_1k"] == inference["credit", 1].amount / 500 * 1000
    assert rows["adult", 2]["per_1k"] is None  # no measured prediction
    assert adult["total"] == sum(
        r.amount for r in CostRecord.objects.filter(model_name="adult", version=1)
    )
    assert ("", None) not in rows  # a dataset is nobody's version

    jobs = selectors.costliest_training_jobs()
    assert [j["job_id"] for j in jobs] == [2, 1]
    assert jobs[0]["cpu_seconds"] == 800.0


def test_the_report_api_and_its_errors(api_client):
    _some_records()
    answer = api_client.get(
        "/api/v1/costs/report",
        {"group_by": "kind", "since": (DAY - timedelta(days=1)).isoformat()},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert {row["kind"] for row in body["rows"]} == {
        "training",
        "inference",
        "drift_check",
        "storage",
    }
    assert Decimal(body["totals"]["amount"]) == sum(r.amount for r in CostRecord.objects.all())
    assert body["training_jobs"][0]["job_id"] == 2

    bad = api_client.get("/api/v1/costs/report", {"group_by": "colour"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "group_by" and "'colour'" in bad.json()["detail"]
    assert api_client.get("/api/v1/costs/report", {"since": "yesterday"}).status_code == 400
    listed = api_client.get("/api/v1/cost-records/", {"kind": "inference", "model": "adult"})
    assert listed.status_code == 200
    assert {r["model"] for r in listed.json()["results"]} == {"adult"}


def test_only_staff_set_rates(api_client, staff_api_client):
    rate = {"resource": "cpu_hour", "unit_price": "0.07", "effective_from": DAY.isoformat()}
    assert api_client.post("/api/v1/cost-rates/", rate, format="json").status_code == 403
    assert staff_api_client.post("/api/v1/cost-rates/", rate, format="json").status_code == 201
    assert services.cost_rate("cpu_hour")[0] == Decimal("0.07")


# -- inference ---------------------------------------------------------------------------------


def _usage(version) -> tuple[int, int, int]:
    rows = UsageTally.objects.filter(model_version=version)
    return (
        sum(r.requests for r in rows),
        sum(r.predictions for r in rows),
        sum(r.cpu_us for r in rows),
    )


def test_inference_cpu_is_charged_to_the_version_that_served(api_client, settings):
    # given two versions of a model
    v1, v2 = champion_and_challenger()
    settings.COST_INTERVAL_SECONDS = 60
    for number in (1, 2):  # loaded already (a first request's load is its version's cost too)
        model_cache.get(model_cache.resolve("adult", version=number))
    write_cpu.drain()  # an earlier test's last write

    # when v1 answers 30 requests of 50 rows and v2 5 single rows, timed from this thread
    own_start = time.thread_time()
    for _ in range(30):
        answer = api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": feature_rows(50), "version": 1},
            format="json",
        )
        assert answer.status_code == 200
    for _ in range(5):
        api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": feature_rows(1), "version": 2},
            format="json",
        )
    own = time.thread_time() - own_start

    # then each version's measured requests and rows are its own
    requests1, predictions1, cpu1 = _usage(v1)
    requests2, predictions2, cpu2 = _usage(v2)
    assert (requests1, predictions1) == (30, 1500)
    assert (requests2, predictions2) == (5, 5)
    # and the CPU time charged is part of what this thread spent (the test client's own work
    # is the rest), and fifty-row requests cost more per request
    assert 0 < (cpu1 + cpu2) / 1e6 <= own
    assert cpu1 / 30 > cpu2 / 5

    # when the interval is priced (twice: the second finds it done)
    later = timezone.now() + timedelta(minutes=3)
    assert services.inference_costs_record(now=later) >= 2
    assert services.inference_costs_record(now=later) == 0

    # then each version's records hold its seconds, predictions and their price
    price = services.cost_rate("cpu_hour")[0]
    for version, cpu, predictions in ((v1, cpu1, 1500), (v2, cpu2, 5)):
        records = CostRecord.objects.filter(
            kind="inference", model_name="adult", version=version.version
        )
        assert sum(r.predictions for r in records) == predictions
        assert sum(r.cpu_seconds for r in records) == pytest.approx(cpu / 1e6)
        for r in records:
            exact = Decimal(repr(r.cpu_seconds)) / 3600 * price
            assert r.amount == exact.quantize(Decimal("1e-8"))


def test_the_charged_cpu_is_the_serving_calls_own(settings):
    # given a loaded version
    v1, _v2 = champion_and_challenger()
    model_cache.get(model_cache.resolve("adult", version=1))
    rows = feature_rows(200)
    write_cpu.drain()  # an earlier test's last write

    # when it serves 20 requests, each timed around the call by this thread's clock
    own = 0.0
    for _ in range(20):
        start = time.thread_time()
        predictions_serve(model_name="adult", instances=rows, version=1, cpu_started=start)
        own += time.thread_time() - start

    # then what was charged is that time: the last write's own share waits to be charged
    # with the next write
    _requests, predictions, cpu = _usage(v1)
    assert predictions == 4000
    charged = (cpu + write_cpu.pending_us()) / 1e6
    assert 0.9 * own <= charged <= own


def test_a_shadow_challengers_scoring_is_charged_to_it(api_client):
    # given a shadow test
    _v1, v2 = champion_and_challenger()
    test = start_test(v2, mode="shadow")

    # when ten requests are answered by the champion and scored by the challenger too
    for i in range(10):
        api_client.post(
            "/api/v1/models/adult/predict",
            {"instances": feature_rows(20), "unit_id": f"u{i}"},
            format="json",
        )

    # then both versions were charged for ten requests of 20 rows, each its own scoring
    for version in (test.champion, test.challenger):
        requests, predictions, cpu = _usage(version)
        assert (requests, predictions) == (10, 200)
        assert cpu > 0


def test_no_measurement_when_it_is_off(api_client, settings):
    champion_and_challenger()
    settings.COST_INFERENCE_CPU = False
    api_client.post("/api/v1/models/adult/predict", {"instances": feature_rows(3)}, format="json")
    assert not UsageTally.objects.exists()


# -- jobs and evaluations ----------------------------------------------------------------------


def test_ab_evaluations_add_up_per_test_and_hour(django_capture_on_commit_callbacks):
    _v1, v2 = champion_and_challenger()
    test = start_test(v2)
    serve(test, "champion", requests=20, accuracy=0.8)
    serve(test, "challenger", requests=20, accuracy=0.9)

    with django_capture_on_commit_callbacks(execute=True):
        abtest_evaluate(test_id=test.pk)
    first = CostRecord.objects.get(kind="ab_evaluation")
    with django_capture_on_commit_callbacks(execute=True):
        abtest_evaluate(test_id=test.pk)
    second = CostRecord.objects.get(kind="ab_evaluation")

    assert (first.model_name, first.version, first.source_id) == ("adult", 2, test.pk)
    assert 0 < first.cpu_seconds < second.cpu_seconds
    assert second.detail == {} and second.source == f"A/B test {test.pk}"


def test_a_drift_check_and_a_batch_job_record_their_cpu(django_capture_on_commit_callbacks):
    register("hgb")
    model_cache.clear()
    from registry.models import ModelVersion

    version = ModelVersion.objects.get(registered_model__name="adult", version=1)
    monitor, _ = DriftMonitor.objects.get_or_create(registered_model=version.registered_model)
    rows = make_csv(feature_rows(200), extra=False).decode()
    with django_capture_on_commit_callbacks(execute=True):
        check = services.drift_check_create(
            monitor=monitor, enqueue=False, upload=io.BytesIO(rows.encode())
        )
        services.drift_check_run(check_id=check.pk)
        job = batch_scoring_job_create(
            model_name="adult", file=io.BytesIO(rows.encode()), filename="x.csv"
        )
        score_batch_task(job.pk)

    drift = CostRecord.objects.get(kind="drift_check")
    assert (drift.model_name, drift.version, drift.source_id) == ("adult", 1, check.pk)
    assert drift.cpu_seconds > 0
    batch = CostRecord.objects.get(kind="batch_scoring")
    assert (batch.model_name, batch.version, batch.source_id) == ("adult", 1, job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert batch.cpu_seconds > 0 and batch.detail == {"status": "succeeded"}


# -- storage -----------------------------------------------------------------------------------


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_storage_measures_artifacts_datasets_and_log_rows(api_client):
    # given a model with a version, its dataset, and some logged predictions
    version = register("hgb")
    model_cache.clear()
    for _ in range(3):
        api_client.post(
            "/api/v1/models/adult/predict", {"instances": feature_rows(10)}, format="json"
        )

    # when storage is measured (twice in one period: the second replaces the first)
    written = services.storage_costs_record()
    assert services.storage_costs_record() == written

    # then the artifacts and the dataset are their bytes on disk, the log its 30 rows
    artifacts = CostRecord.objects.get(kind="storage", detail__what="artifacts")
    assert artifacts.bytes == _tree_bytes(version.artifact_dir)
    assert (artifacts.model_name, artifacts.version) == ("adult", 1)
    dataset = CostRecord.objects.get(kind="storage", detail__what="dataset")
    assert dataset.bytes == os.path.getsize(version.dataset.absolute_path)
    log = CostRecord.objects.get(kind="storage", detail__what="prediction_log")
    assert log.detail["rows"] == 30 and log.bytes > 0
    assert CostRecord.objects.filter(kind="storage").count() == written == 3


# -- the page ----------------------------------------------------------------------------------


def test_the_costs_page_draws_what_was_recorded(page_client):
    _some_records()
    CostRecord.objects.update(started_at=timezone.now() - timedelta(hours=2))
    page = page_client.get("/costs/", {"range": "week"})
    assert page.status_code == 200
    html = page.content.decode()
    for chart in ("chart-cost-days", "chart-cost-versions", "chart-cost-per-1k"):
        assert chart in html
    assert "Most expensive training jobs" in html
    assert page_client.get("/costs/", {"range": "century", "model": "adult"}).status_code == 200


# -- a real worker -----------------------------------------------------------------------------


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid`'s child processes, read from /proc (the prefork
    pool's processes, where tasks run)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:  # ppid
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_training_jobs_recorded_cpu_is_what_the_worker_used(celery_worker_process):
    # given a dataset and the worker's pool processes' CPU time so far
    dataset = adult_sample_dataset(2000)
    before = _tree_cpu_seconds(celery_worker_process.process.pid)

    # when a three-trial job runs on the worker
    job = training_services.training_job_create(
        dataset=dataset, model_name="adult", n_trials=3, max_epochs=8, seed=3
    )
    wait_for(
        lambda: CostRecord.objects.filter(kind="training", source_id=job.pk).exists(),
        timeout=240,
        interval=0.5,
        what=f"training job {job.pk}'s cost",
    )
    used = _tree_cpu_seconds(celery_worker_process.process.pid) - before

    # then the recorded CPU time is the job's: within what the pool used (stray tasks of
    # earlier tests and the process's own bookkeeping are the rest) and most of it
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    record = CostRecord.objects.get(kind="training", source_id=job.pk)
    assert record.cpu_seconds == pytest.approx(job.cpu_seconds)
    assert record.cpu_seconds <= used + 0.1
    assert record.cpu_seconds >= 0.6 * used - 0.2
    assert (record.model_name, record.version) == ("adult", job.result_version.version)
    # and the trials' own CPU time is within the job's (data preparation and the refit are
    # the rest)
    trials = sum(Trial.objects.filter(job=job).values_list("cpu_seconds", flat=True))
    assert 0 < trials <= record.cpu_seconds


# -- the A/B cost guardrail -------------------------------------------------------------------


@pytest.mark.parametrize(("challenger_us", "holds"), [(1_200_000, True), (2_000_000, False)])
def test_an_ab_test_can_hold_the_challenger_to_a_cost_per_thousand(challenger_us, holds):
    # given a test whose challenger may cost at most 50 % more per 1,000 predictions
    _v1, v2 = champion_and_challenger()
    test = start_test(v2, max_cost_increase=0.5)
    minute = timezone.now().replace(second=0, microsecond=0)
    # and 1,000 measured predictions each: the champion's took 1 CPU second
    for version, cpu_us in ((test.champion, 1_000_000), (test.challenger, challenger_us)):
        UsageTally.objects.create(
            model_version=version, minute=minute, requests=1000, predictions=1000, cpu_us=cpu_us
        )

    # when the test is evaluated
    snapshot = abtest_evaluate(test_id=test.pk)

    # then the guardrail compares the two costs per 1,000 predictions at the CPU price
    price = float(services.cost_rate("cpu_hour")[0])
    rail = next(r for r in snapshot.stats["guardrails"] if r["name"].startswith("cost per"))
    assert rail["champion"] == pytest.approx(1.0 / 3600 * price)
    assert rail["value"] == pytest.approx(challenger_us / 1e6 / 3600 * price)
    assert rail["limit"] == pytest.approx(1.5 * rail["champion"])
    assert rail["holds"] is holds and rail["enough"] is True
