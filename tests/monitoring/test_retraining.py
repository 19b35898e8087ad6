"""Retraining: a drift verdict starts one under the monitor's policy, on a derived dataset with
its lineage; the challenger is compared on held-out recent rows and lands in staging; the
cooldown and single flight hold, also under concurrent checks."""

import io
import threading

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection

from core.errors import Conflict
from monitoring import services
from monitoring.models import DriftCheck, DriftMonitor, Retraining
from registry.models import Dataset, ModelVersion, StageTransition
from tests.monitoring.test_drift import _check, _drifted, _label, _production, _serve
from training.models import TrainingJob
from training.services import training_job_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_trial(settings):
    settings.RETRAIN_TRIALS = 1


def _drifted_and_labelled(api_client, django_capture_on_commit_callbacks, **policy):
    """Production v1, a policy, and drifted traffic of which a third is labelled."""
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    services.drift_monitor_save(
        monitor=monitor, retrain_enabled=True, retrain_min_labelled=300, **policy
    )
    frame = _drifted(mean_shift=1.0, drift_features=2)
    _label(api_client, _serve(api_client, frame), frame, share=1 / 3)
    return version, monitor


def test_a_drift_verdict_starts_a_retraining_with_lineage(
    api_client, django_capture_on_commit_callbacks
):
    version, monitor = _drifted_and_labelled(api_client, django_capture_on_commit_callbacks)

    # when the check finds drift
    with django_capture_on_commit_callbacks(execute=False):
        check = _check(monitor)
    assert check.verdict == DriftCheck.Verdict.DRIFT

    # then a retraining started, linked to the check, on a derived dataset
    retraining = Retraining.objects.get()
    assert (retraining.drift_check, retraining.trigger) == (check, Retraining.Trigger.DRIFT)
    assert retraining.champion == version
    job = retraining.training_job
    assert job.trigger == TrainingJob.Trigger.DRIFT and job.status == TrainingJob.Status.QUEUED
    assert job.model_name == "synth" and job.dataset == retraining.dataset
    dataset = retraining.dataset
    lineage = dataset.source_params["lineage"]
    assert dataset.origin == Dataset.Origin.RETRAINING
    assert lineage["parent_dataset"] == version.dataset_id
    assert lineage["drift_check"] == check.pk
    assert lineage["rows_from_parent"] == version.dataset.row_count == retraining.n_parent_rows
    # 1,001 labelled predictions: 30 % newest held out, the rest added to the training rows
    assert (retraining.n_window_rows, retraining.n_holdout_rows) == (701, 300)
    assert dataset.row_count == version.dataset.row_count + 701
    holdout = pd.read_csv(retraining.holdout_path)
    assert len(holdout) == 300 and "label" in holdout.columns
    assert lineage["held_out_from"] >= lineage["predictions_to"]


def test_the_challenger_is_compared_and_staged_never_promoted(
    api_client, page_client, django_capture_on_commit_callbacks
):
    version, monitor = _drifted_and_labelled(api_client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        _check(monitor)
    retraining = Retraining.objects.get()

    # when its training job runs and the settle task passes
    training_job_run(job_id=retraining.training_job_id)
    assert services.retrainings_settle() == 1

    # then the challenger is in staging with the comparison as its evidence
    retraining.refresh_from_db()
    assert retraining.status == Retraining.Status.STAGED, retraining.error
    challenger = retraining.challenger
    assert challenger.version == 2 and challenger.stage == ModelVersion.Stage.STAGING
    version.refresh_from_db()
    assert version.stage == ModelVersion.Stage.PRODUCTION
    metrics = retraining.comparison["metrics"]
    assert retraining.comparison["rows"] == 300
    for name in ("roc_auc", "accuracy", "log_loss"):
        m = metrics[name]
        assert m["low"] <= m["difference"] <= m["high"]
    transition = StageTransition.objects.get(model_version=challenger, to_stage="staging")
    assert transition.evidence["comparison"] == retraining.comparison
    # and settling again does nothing
    assert services.retrainings_settle() == 0
    # and the check page shows the job, the challenger and the comparison
    html = page_client.get(f"/drift/checks/{retraining.drift_check_id}/").content.decode()
    assert 'id="comparison-table"' in html and "is in staging" in html


def test_one_in_flight_then_the_cooldown(api_client, django_capture_on_commit_callbacks):
    _, monitor = _drifted_and_labelled(
        api_client, django_capture_on_commit_callbacks, retrain_cooldown_hours=24
    )
    with django_capture_on_commit_callbacks(execute=False):
        _check(monitor)
        second = _check(monitor)
    # a second drifted check while the first retraining trains starts nothing, and says why
    assert Retraining.objects.count() == 1
    assert "still in flight" in second.retraining_note

    retraining = Retraining.objects.get()
    training_job_run(job_id=retraining.training_job_id)
    services.retrainings_settle()
    with django_capture_on_commit_callbacks(execute=False):
        third = _check(monitor)
    assert Retraining.objects.count() == 1
    assert third.retraining_note.startswith("Cooldown")
    # a person may still retrain within the cooldown
    with django_capture_on_commit_callbacks(execute=False):
        manual = services.retraining_start(monitor=monitor)
    assert manual.trigger == Retraining.Trigger.MANUAL
    assert manual.training_job.trigger == TrainingJob.Trigger.MANUAL


def test_too_few_labels_or_policy_off_start_nothing(api_client, django_capture_on_commit_callbacks):
    version = _production(django_capture_on_commit_callbacks)
    monitor = DriftMonitor.objects.get(registered_model=version.registered_model)
    frame = _drifted(mean_shift=1.0, drift_features=2)
    _label(api_client, _serve(api_client, frame), frame, share=0.02)
    # the policy is off by default: drift alone changes nothing
    assert _check(monitor).verdict == DriftCheck.Verdict.DRIFT
    assert not Retraining.objects.exists()
    # on, but with 61 labels where 200 are needed
    services.drift_monitor_save(monitor=monitor, retrain_enabled=True)
    check = _check(monitor)
    assert (
        "at least 200 labelled predictions" in check.retraining_note
        and "61" in check.retraining_note
    )
    with pytest.raises(Conflict, match="at least 200"):
        services.retraining_start(monitor=monitor)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "sqlite" in str(__import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"]),
    reason="SQLite serialises writers: two transactions cannot race there",
)
def test_concurrent_checks_start_one_retraining(api_client):
    # given a drifted, labelled model with the policy on (committed: threads see it)
    from django.test.utils import CaptureQueriesContext  # noqa: F401  (keeps imports honest)

    class _Commit:
        def __call__(self, execute=True):
            from contextlib import nullcontext

            return nullcontext()

    version, monitor = _drifted_and_labelled(api_client, _Commit())
    checks = [
        services.drift_check_create(monitor=monitor, enqueue=False),
        services.drift_check_create(monitor=monitor, enqueue=False),
    ]
    barrier = threading.Barrier(2)

    def run(check):
        try:
            barrier.wait()
            services.drift_check_run(check_id=check.pk)
        finally:
            connection.close()

    # when both checks finish at the same time
    threads = [threading.Thread(target=run, args=(c,)) for c in checks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then both found drift, exactly one retraining started, the other check says why
    finished = list(DriftCheck.objects.order_by("pk"))
    assert [c.verdict for c in finished] == ["drift", "drift"]
    assert Retraining.objects.count() == 1
    assert sum("in flight" in c.retraining_note for c in finished) == 1


def test_manual_retraining_from_api_page_and_command(
    api_client, staff_api_client, staff_user, django_capture_on_commit_callbacks
):
    version, monitor = _drifted_and_labelled(api_client, django_capture_on_commit_callbacks)
    url = f"/api/v1/drift-monitors/{monitor.pk}/retrain/"
    assert api_client.post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=False):
        created = staff_api_client.post(url)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["trigger"], body["status"], body["n_holdout_rows"]) == ("manual", "training", 300)
    # a second one while it trains is a 409 naming the one in flight
    again = staff_api_client.post(url)
    assert again.status_code == 409 and "still in flight" in again.json()["detail"]

    from django.test import Client

    page = Client()
    page.force_login(staff_user)
    response = page.post("/drift/synth/retrain")
    assert response.status_code == 302 and response["Location"] == "/drift/synth/"

    out = io.StringIO()
    Retraining.objects.update(status=Retraining.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=False):
        call_command("retrain", "synth", stdout=out)
    assert "Retraining" in out.getvalue() and "held out" in out.getvalue()


def test_a_retraining_calendar_is_a_periodic_task_that_starts_one(
    api_client, django_capture_on_commit_callbacks
):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    _, monitor = _drifted_and_labelled(api_client, django_capture_on_commit_callbacks)
    # when staff ask for a retraining every 7 days
    services.drift_monitor_save(monitor=monitor, retrain_every_days=7)
    task = PeriodicTask.objects.get(pk=DriftMonitor.objects.get(pk=monitor.pk).retrain_task_id)
    assert task.task == "monitoring.run_scheduled_retraining" and task.enabled
    assert (task.interval.every, task.interval.period) == (7, IntervalSchedule.DAYS)

    # then the task starts a scheduled retraining, which the cooldown then holds back
    with django_capture_on_commit_callbacks(execute=False):
        first = services.retraining_scheduled(monitor_id=monitor.pk)
    assert first.trigger == Retraining.Trigger.SCHEDULE
    assert first.training_job.trigger == TrainingJob.Trigger.SCHEDULE
    assert services.retraining_scheduled(monitor_id=monitor.pk) is None

    # and turning the policy off disables the calendar
    services.drift_monitor_save(monitor=monitor, retrain_enabled=False)
    task.refresh_from_db()
    assert not task.enabled


@pytest.mark.parametrize(("policy", "mode"), [("ab_test", "split"), ("shadow_test", "shadow")])
def test_the_policy_starts_a_test_of_the_staged_challenger(
    api_client, page_client, django_capture_on_commit_callbacks, policy, mode
):
    # given a monitor whose policy tests a retraining's challenger against production
    version, monitor = _drifted_and_labelled(
        api_client, django_capture_on_commit_callbacks, after_retraining=policy
    )
    with django_capture_on_commit_callbacks(execute=False):
        _check(monitor)
    retraining = Retraining.objects.get()

    # when the retraining's job finishes and it settles
    training_job_run(job_id=retraining.training_job_id)
    assert services.retrainings_settle() == 1

    # then an A/B test of the staged challenger against production runs, started by the loop
    retraining.refresh_from_db()
    test = retraining.ab_test
    assert test is not None, retraining.ab_test_note
    assert (test.mode, test.status, test.origin) == (mode, "running", "retraining")
    assert test.champion == version and test.challenger == retraining.challenger
    assert test.auto_promote
    # and the check page links to it
    html = page_client.get(f"/drift/checks/{retraining.drift_check_id}/").content.decode()
    assert f"/ab-tests/{test.pk}/" in html
