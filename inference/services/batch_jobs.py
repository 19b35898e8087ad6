"""Batch scoring jobs: a CSV scored against one version by a Celery worker."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

from core import csvfiles
from core.errors import DomainError, InvalidInput, NotFound
from core.jobs import JobRunner
from inference import batch
from inference.models import BatchScoringJob, PredictionLog
from inference.pipeline import Scored
from inference.services.prediction_log import prediction_logs_write
from inference.serving.cache import model_cache
from inference.serving.routing import resolve, route
from registry.selectors import model_version_get_by_id

logger = logging.getLogger(__name__)

# Rows per prediction-log insert from a batch job: a bounded statement, whatever the chunk
# size (SQLite's multi-row INSERT takes 14 parameters a row).
BATCH_LOG_ROWS = 1000


def batch_scoring_job_create(
    *,
    model_name: str,
    file: BinaryIO,
    filename: str = "",
    version: int | None = None,
    stage: str | None = None,
    actor=None,
) -> BatchScoringJob:
    """Store a CSV to score (QUEUED) and enqueue it once committed.

    The version is resolved now (production unless `version` or `stage` says otherwise), so
    the whole file is scored by one version whatever is promoted meanwhile. The header must
    name every feature the version reads; other columns pass through to the output. Raises
    InvalidInput (file too large, not a CSV, features missing, unknown model or version) or
    Conflict (corrupt version); nothing is stored then.
    """
    if version is not None and stage:
        raise InvalidInput("Choose a version or a stage, not both.", field="version")
    try:
        target = route(
            model_name, version=version, stage=stage, source=PredictionLog.Source.BATCH
        ).target
    except NotFound as exc:
        field = "version" if version is not None else "model"
        raise InvalidInput(exc.message, field=field) from None
    model_version = model_version_get_by_id(target.version_id)
    spooled = csvfiles.spool(
        file, directory=settings.UPLOAD_TMP_DIR, limit=settings.BATCH_SCORING_MAX_BYTES
    )
    directory = None
    try:
        layout = batch.inspect_file(spooled.path)
        batch.check_layout(
            layout,
            features=model_version.feature_names,
            class_labels=model_version.class_labels,
            version_label=str(model_version),
        )
        with transaction.atomic():
            job = BatchScoringJob.objects.create(
                registered_model_id=target.model_id,
                model_version=model_version,
                original_filename=Path(filename).name[:255] if filename else "",
                input_bytes=spooled.size,
                created_by=actor,
            )
            job.input_path = str(batch.job_dir(job.pk) / "input.csv")
            job.save(update_fields=["input_path"])
            directory = job.input_file.parent
            directory.mkdir(parents=True, exist_ok=True)
            os.replace(spooled.path, job.input_file)
            transaction.on_commit(lambda: _batch_enqueue(job.pk))
    except BaseException:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        spooled.path.unlink(missing_ok=True)
    logger.info("batch job %s queued: %s for %s", job.pk, job.original_filename, model_version)
    return job


def _batch_enqueue(job_id: int) -> None:
    from inference.tasks import score_batch_task

    score_batch_task.delay(job_id)


def _batch_lost(job: BatchScoringJob) -> None:
    """After the sweep failed a job whose worker went silent: its logged rows go, as on any
    failure (nobody received them), and so do its partial files."""
    PredictionLog.objects.filter(
        model_version_id=job.model_version_id, request_id=f"batch-{job.pk}"
    ).delete()
    shutil.rmtree(settings.DATA_DIR / batch.job_dir(job.pk), ignore_errors=True)


# Claim, heartbeat, finish and the stale sweep (BATCH_HEARTBEAT_TIMEOUT_SECONDS,
# BATCH_REQUEUE_AFTER_SECONDS): the shared job runner. Batch jobs cannot be cancelled.
BATCH_JOBS = JobRunner(
    kind="batch",
    model=BatchScoringJob,
    enqueue=lambda job: _batch_enqueue(job.pk),
    on_lost=_batch_lost,
    cost_kind="batch_scoring",
    cost_owner=lambda job: (job.registered_model.name, job.model_version.version),
)


def batch_scoring_job_run(*, job_id: int) -> BatchScoringJob | None:
    """Claim a queued job and score its file; a redelivered message finds it claimed and
    returns None.

    Each chunk's good rows go to the prediction log (source batch, request id `batch-<id>`)
    and the row counts and heartbeat are updated. The output is written beside the input and
    renamed into place at the end, so a download never sees half a file. Any failure is the
    job's outcome (FAILED with the error); the predictions it logged are removed then, since
    nobody received them. The input is deleted either way: the output repeats its columns.
    """
    if not BATCH_JOBS.claim(job_id=job_id):
        return None
    job = BatchScoringJob.objects.select_related("registered_model", "model_version").get(pk=job_id)
    pulse = BATCH_JOBS.pulse(job_id=job_id)
    request_id = f"batch-{job.pk}"
    final = settings.DATA_DIR / batch.job_dir(job.pk) / "output.csv"
    partial = final.with_name("output.csv.partial")
    try:
        target = resolve(job.registered_model.name, version=job.model_version.version)
        serving = model_cache.get(target)
        layout = batch.read_layout(job.input_file)
        pulse.progress(rows_total=batch.count_rows(job.input_file, layout.delimiter))
        done = {"rows": 0, "failed": 0}

        def on_chunk(chunk: batch.ScoredChunk) -> None:
            for start in range(0, len(chunk.ids), BATCH_LOG_ROWS):
                part = slice(start, start + BATCH_LOG_ROWS)
                prediction_logs_write(
                    target=target,
                    ids=chunk.ids[part],
                    instances=chunk.instances[part],
                    scored=Scored(
                        proba=chunk.scored.proba[part],
                        labels=chunk.scored.labels[part],
                        unknown=chunk.scored.unknown[part],
                    ),
                    class_labels=serving.class_labels,
                    unit_hash="",
                    source=PredictionLog.Source.BATCH,
                    request_id=request_id,
                    latency_ms=chunk.seconds * 1000.0,
                )
            done["rows"] += len(chunk)
            done["failed"] += len(chunk.errors)
            pulse.progress(rows_done=done["rows"], rows_failed=done["failed"])

        rows, failed = batch.score_file(
            input_path=job.input_file,
            layout=layout,
            output_path=partial,
            serving=serving,
            chunk_rows=settings.BATCH_SCORING_CHUNK_ROWS,
            on_chunk=on_chunk,
        )
        os.replace(partial, final)
        finished = BATCH_JOBS.finish(
            job_id=job.pk,
            status=BatchScoringJob.Status.SUCCEEDED,
            output_path=str(batch.job_dir(job.pk) / "output.csv"),
            rows_total=rows,
            rows_done=rows,
            rows_failed=failed,
        )
        if not finished:  # something else (an operator, a sweep) ended the job meanwhile
            final.unlink(missing_ok=True)
    except Exception as exc:  # any failure is the job's outcome, written on its row
        logger.exception("batch job %s failed", job.pk)
        partial.unlink(missing_ok=True)
        PredictionLog.objects.filter(
            model_version_id=job.model_version_id,
            created_at__gte=job.started_at,
            request_id=request_id,
        ).delete()
        error = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        BATCH_JOBS.finish(job_id=job.pk, status=BatchScoringJob.Status.FAILED, reason=error)
    finally:
        job.input_file.unlink(missing_ok=True)
    job.refresh_from_db()
    return job


def batch_scoring_jobs_sweep() -> dict:
    """Beat task body: fail RUNNING jobs whose worker went silent (their logged rows go, as on
    any failure); re-enqueue QUEUED jobs no worker picked up (the claim makes a duplicate
    delivery a no-op)."""
    return BATCH_JOBS.sweep()
