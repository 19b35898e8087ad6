from celery import shared_task
from django.conf import settings

from inference import services

# A large file scores for minutes; the limits only catch a runaway. A soft limit is an
# exception inside the job, so it ends FAILED with the reason.
LIMITS = {
    "soft_time_limit": settings.TASK_MAX_SECONDS,
    "time_limit": settings.TASK_MAX_SECONDS + 120,
}


@shared_task(name="inference.score_batch", **LIMITS)
def score_batch_task(job_id: int) -> str | None:
    job = services.batch_scoring_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="inference.sweep_stale_batch_jobs", soft_time_limit=60, time_limit=90)
def sweep_stale_batch_jobs_task() -> dict:
    return services.batch_scoring_jobs_sweep()
