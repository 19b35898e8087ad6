"""The job runner (core.jobs) against the real database, on training-job rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict
from core.jobs import JobRunner
from registry.builtin import SYNTHETIC_REFERENCE
from registry.services import dataset_generate_synthetic
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued():
    return []


@pytest.fixture
def runner(enqueued):
    return JobRunner(
        kind="training", model=TrainingJob, enqueue=lambda job: enqueued.append(job.pk)
    )


def _job(**fields) -> TrainingJob:
    dataset, _ = dataset_generate_synthetic(params=SYNTHETIC_REFERENCE)
    return TrainingJob.objects.create(dataset=dataset, model_name="m", n_trials=1, **fields)


def test_claim_runs_once_and_a_redelivered_message_is_a_no_op(runner):
    # given
    job = _job()
    # when
    first = runner.claim(job_id=job.pk, worker="w1")
    second = runner.claim(job_id=job.pk, worker="w2")
    # then
    job.refresh_from_db()
    assert (first, second) == (True, False)
    assert job.status == TrainingJob.Status.RUNNING
    assert job.worker == "w1"
    assert job.started_at is not None and job.heartbeat_at is not None


def test_the_sweep_fails_a_silent_job_and_its_late_finish_changes_nothing(runner, settings):
    # given a running job whose heartbeat is older than the kind's timeout
    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 60
    job = _job()
    runner.claim(job_id=job.pk)
    TrainingJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=61)
    )
    # when
    swept = runner.sweep()
    late = runner.finish(job_id=job.pk, status=TrainingJob.Status.SUCCEEDED)
    # then
    job.refresh_from_db()
    assert swept == {"failed_lost": 1, "requeued": 0}
    assert late is False
    assert job.status == TrainingJob.Status.FAILED
    assert job.error == "Worker lost: no heartbeat for more than 60 s."


def test_the_sweep_leaves_a_job_that_beats_within_the_timeout(runner, settings):
    # given
    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 60
    job = _job()
    runner.claim(job_id=job.pk)
    TrainingJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=30)
    )
    # when
    swept = runner.sweep()
    # then
    job.refresh_from_db()
    assert swept["failed_lost"] == 0
    assert job.status == TrainingJob.Status.RUNNING


def test_the_sweep_reenqueues_only_jobs_waiting_longer_than_the_requeue_delay(
    runner, settings, enqueued, django_capture_on_commit_callbacks
):
    # given one job queued long ago and one just now
    settings.TRAINING_REQUEUE_AFTER_SECONDS = 600
    old, _new = _job(), _job()
    TrainingJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=601))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        swept = runner.sweep()
    # then
    assert swept == {"failed_lost": 0, "requeued": 1}
    assert enqueued == [old.pk]


def test_finish_writes_status_reason_and_fields_once(runner):
    # given
    job = _job()
    runner.claim(job_id=job.pk)
    # when
    done = runner.finish(
        job_id=job.pk, status=TrainingJob.Status.FAILED, reason="x" * 5000, cpu_seconds=2.5
    )
    again = runner.finish(job_id=job.pk, status=TrainingJob.Status.SUCCEEDED)
    # then
    job.refresh_from_db()
    assert (done, again) == (True, False)
    assert job.status == TrainingJob.Status.FAILED
    assert len(job.error) == 4000
    assert job.cpu_seconds == 2.5
    assert job.finished_at is not None


def test_finish_refuses_a_status_that_is_not_an_end(runner):
    job = _job()
    runner.claim(job_id=job.pk)
    with pytest.raises(ValueError):
        runner.finish(job_id=job.pk, status=TrainingJob.Status.RUNNING)


def test_cancel_ends_a_queued_job_at_once_and_flags_a_running_one(runner):
    # given
    queued, running = _job(), _job()
    runner.claim(job_id=running.pk)
    # when
    runner.cancel(job=queued)
    runner.cancel(job=running)
    # then
    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.status == TrainingJob.Status.CANCELLED
    assert queued.finished_at is not None
    assert running.status == TrainingJob.Status.RUNNING
    assert running.cancel_requested is True
    assert runner.pulse(job_id=running.pk).cancel_requested() is True
    assert runner.pulse(job_id=queued.pk).cancel_requested() is True


def test_cancelling_a_finished_job_is_a_conflict(runner):
    job = _job()
    runner.claim(job_id=job.pk)
    runner.finish(job_id=job.pk, status=TrainingJob.Status.SUCCEEDED)
    with pytest.raises(Conflict):
        runner.cancel(job=job)


def test_a_pulse_writes_progress_only_on_an_unfinished_job(runner):
    # given
    job = _job()
    runner.claim(job_id=job.pk)
    pulse = runner.pulse(job_id=job.pk)
    # when
    pulse.progress(trials_done=3)
    runner.finish(job_id=job.pk, status=TrainingJob.Status.SUCCEEDED)
    pulse.progress(trials_done=9)
    # then
    job.refresh_from_db()
    assert job.trials_done == 3
