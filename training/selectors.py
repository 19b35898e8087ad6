"""Read side of training jobs: lists, trials, progress, the search direction and best trial.
The figures of a job's trials are built from these in `training.charts`."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet
from django.utils import timezone

from engine import vocabulary
from training.models import TrainingJob, Trial

# For the other apps, which may not import training.models: what started a job.
TrainingTrigger = TrainingJob.Trigger


def training_job_get(pk: int) -> TrainingJob:
    """The job with its result version; TrainingJob.DoesNotExist when there is none."""
    return TrainingJob.objects.select_related("result_version").get(pk=pk)


def training_job_list() -> QuerySet[TrainingJob]:
    return TrainingJob.objects.select_related(
        "dataset", "created_by", "result_version__registered_model"
    )


def training_job_trials(job: TrainingJob) -> list[Trial]:
    return list(job.trials.order_by("number"))


def training_job_get_progress(job: TrainingJob, *, now=None) -> dict:
    """Trials finished of total, elapsed wall time, and an ETA from the mean time per trial."""
    now = now or timezone.now()
    finished = job.trials_finished
    total = job.n_trials
    elapsed = None
    if job.started_at is not None:
        end = job.finished_at or now
        elapsed = max(0.0, (end - job.started_at).total_seconds())
    eta = None
    if job.status == TrainingJob.Status.RUNNING and elapsed is not None and finished:
        eta = elapsed / finished * max(0, total - finished)
        timeout_s = (job.config or {}).get("timeout_s")
        if timeout_s:
            eta = min(eta, max(0.0, float(timeout_s) - elapsed))
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "is_finished": job.is_finished,
        "finished": finished,
        "total": total,
        "done": job.trials_done,
        "pruned": job.trials_pruned,
        "failed": job.trials_failed,
        "share": job.progress_share,
        "percent": round(job.progress_share * 100),
        "best_value": job.best_value,
        "elapsed_s": elapsed,
        "eta_s": eta,
    }


def training_job_direction(job: TrainingJob, trials: Iterable[Trial] = ()) -> str:
    """ "maximize" or "minimize": only log loss is minimised ("auto" resolves to ROC AUC for
    binary targets and macro F1 for multiclass ones, both maximised)."""
    metric = (job.config or {}).get("metric", "auto")
    return vocabulary.direction(metric)


def training_job_best_trial(job: TrainingJob, trials: list[Trial]) -> Trial | None:
    complete = [t for t in trials if t.state == Trial.State.COMPLETE and t.value is not None]
    if not complete:
        return None
    pick = min if training_job_direction(job, trials) == "minimize" else max
    return pick(complete, key=lambda t: t.value)


def training_job_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(TrainingJob.Status.values, 0)
    counts.update(
        TrainingJob.objects.order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return counts


def training_job_durations() -> tuple[int, float]:
    """(how many finished jobs have both timestamps, their summed wall seconds)."""
    finished = TrainingJob.objects.filter(started_at__isnull=False, finished_at__isnull=False)
    total = 0.0
    count = 0
    for started, ended in finished.values_list("started_at", "finished_at").iterator():
        total += (ended - started).total_seconds()
        count += 1
    return count, total
