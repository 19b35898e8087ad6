"""Training end to end on a real Celery worker, and the job lifecycle around it."""

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from sklearn.metrics import roc_auc_score

from core.csvfiles import read_frame
from core.errors import Conflict
from registry import services as registry_services
from registry.models import ModelVersion, StageTransition
from tests.conftest import wait_for
from tests.training.adult_sample import adult_sample_dataset
from training import services
from training.models import TrainingJob, Trial
from training.tasks import run_training_job_task, sweep_stale_training_jobs_task


def _wait_finished(job, timeout=240):
    def finished():
        job.refresh_from_db()
        return job.is_finished

    wait_for(finished, timeout=timeout, interval=0.5, what=f"training job {job.pk} to finish")
    return job


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_small_job_on_a_real_worker_registers_a_version_that_reloads(celery_worker_process):
    # given 2,000 real Adult rows
    dataset = adult_sample_dataset(2000)

    # when a three-trial job is started through the service and a worker picks it up
    job = services.training_job_create(
        dataset=dataset, model_name="adult", n_trials=3, max_epochs=8, seed=1
    )
    job = _wait_finished(job)

    # then it succeeded with three recorded trials and a registered, auto-promoted version
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert job.trials_finished == 3
    assert Trial.objects.filter(job=job).count() == 3
    complete = Trial.objects.filter(job=job, state="complete").values_list("value", flat=True)
    assert job.best_value == max(complete)
    assert job.cpu_seconds > 0
    version = job.result_version
    assert version.version == 1
    assert version.stage == ModelVersion.Stage.PRODUCTION
    assert StageTransition.objects.get(model_version=version).actor_label == "system"
    assert version.metrics["roc_auc"] > 0.8
    assert set(version.artifact_files) >= {"manifest.json", "preprocessor.json"}
    assert version.reference_file.exists()
    assert version.dataset_sha256 == dataset.sha256

    # and the artifacts reload and give the same test-set probabilities the worker scored
    from engine.search import prepare_data

    frame = read_frame(dataset.absolute_path, dataset.delimiter)
    prepared = prepare_data(frame, services._engine_config(job), columns=dataset.columns)
    model = registry_services.model_version_load(version=version)
    test_rows = frame.iloc[prepared.test_idx]
    proba = model.predict_proba(test_rows)
    assert np.allclose(proba.sum(axis=1), 1.0)
    positive = version.class_labels.index(">50K")
    reloaded_auc = roc_auc_score(prepared.y_test == positive, proba[:, positive])
    assert reloaded_auc == pytest.approx(version.metrics["roc_auc"], abs=1e-9)

    # and a redelivered message for the finished job does nothing
    assert run_training_job_task.run(job.pk) is None
    assert Trial.objects.filter(job=job).count() == 3
    assert ModelVersion.objects.count() == 1

    # and once a byte of an artifact changes, the loader refuses the version and flags it
    tampered = version.artifact_dir / "preprocessor.json"
    data = bytearray(tampered.read_bytes())
    data[10] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(Conflict, match="preprocessor.json: checksum mismatch"):
        registry_services.model_version_load(version=version)
    version.refresh_from_db()
    assert version.is_corrupt
    client = Client()
    client.force_login(get_user_model().objects.create_user("viewer"))
    page = client.get(f"/models/adult/versions/{version.version}/").content.decode()
    assert "checksum mismatch" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_job_and_keeps_its_trials(celery_worker_process):
    # given a long MLP-only search running on the worker
    dataset = adult_sample_dataset(2000)
    job = services.training_job_create(
        dataset=dataset,
        model_name="adult-cancel",
        families=["mlp"],
        n_trials=200,
        max_epochs=400,
        seed=2,
    )

    def running_with_a_trial():
        job.refresh_from_db()
        return job.status == TrainingJob.Status.RUNNING and job.trials_finished >= 1

    wait_for(running_with_a_trial, timeout=180, interval=0.5, what="the first trial")

    # when it is cancelled
    services.training_job_cancel(job=job)
    job = _wait_finished(job, timeout=120)

    # then it ends CANCELLED with its trials kept and no version registered
    assert job.status == TrainingJob.Status.CANCELLED
    assert 1 <= Trial.objects.filter(job=job).count() < 200
    assert job.result_version is None
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_job_whose_every_trial_fails_ends_failed_with_the_reason(monkeypatch):
    # given a job whose every model fit raises (fault injected into the model fit)
    dataset = adult_sample_dataset(600)
    job = services.training_job_create(dataset=dataset, model_name="doomed", n_trials=3)

    def broken_fit(*args, **kwargs):
        raise RuntimeError("out of GPU memory (simulated)")

    import engine.search as search

    monkeypatch.setattr(search, "fit_model", broken_fit)

    # when a worker runs it
    job = services.training_job_run(job_id=job.pk, worker="test")

    # then it is FAILED, says why, and keeps the failed trials
    assert job.status == TrainingJob.Status.FAILED
    assert "out of GPU memory (simulated)" in job.error
    assert job.trials_failed == 3
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_sweep_fails_running_jobs_whose_worker_went_silent(settings):
    # given a running job that last sent a heartbeat ten minutes ago, and a healthy one
    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 300
    dataset = adult_sample_dataset(600)
    lost = services.training_job_create(dataset=dataset, model_name="lost", n_trials=2)
    alive = services.training_job_create(dataset=dataset, model_name="alive", n_trials=2)
    TrainingJob.objects.filter(pk=lost.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    TrainingJob.objects.filter(pk=alive.pk).update(status="running", heartbeat_at=timezone.now())

    # when the Beat task runs
    outcome = sweep_stale_training_jobs_task.run()

    # then only the silent one is failed, with the reason
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert outcome["failed_lost"] == 1
    assert lost.status == TrainingJob.Status.FAILED
    assert lost.error.startswith("Worker lost")
    assert alive.status == TrainingJob.Status.RUNNING


@pytest.mark.django_db
def test_sweep_requeues_jobs_nobody_picked_up(settings, django_capture_on_commit_callbacks):
    settings.TRAINING_REQUEUE_AFTER_SECONDS = 60
    dataset = adult_sample_dataset(600)
    job = services.training_job_create(dataset=dataset, model_name="waiting", n_trials=2)
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = sweep_stale_training_jobs_task.run()

    assert outcome["requeued"] == 1
    assert len(callbacks) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "not config.getoption('--ds') and __import__('django.db').db.connection.vendor != 'postgresql'",
    reason="parallel trials share an Optuna RDB study on PostgreSQL; SQLite runs one worker",
)
def test_parallel_job_spreads_trials_over_two_worker_processes(celery_worker_process):
    # given a job asking for two trial workers on PostgreSQL
    dataset = adult_sample_dataset(1500)
    job = services.training_job_create(
        dataset=dataset,
        model_name="adult-parallel",
        families=["logreg", "hgb"],
        n_trials=6,
        parallelism=2,
        seed=3,
    )
    assert job.parallelism == 2

    # when the worker (two processes) runs it
    job = _wait_finished(job)

    # then both shares ran into one study and the job registered one version
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert job.helpers_started == 1
    trials = Trial.objects.filter(job=job)
    assert trials.count() >= 6
    assert sorted(trials.values_list("number", flat=True))[:6] == list(range(6))
    assert ModelVersion.objects.count() == 1
