from celery import shared_task
from django.conf import settings

from training import services

# A job's own limits (timeout_s) stop it cleanly; these only catch a runaway.
LIMITS = {
    "soft_time_limit": settings.TASK_MAX_SECONDS,
    "time_limit": settings.TASK_MAX_SECONDS + 120,
}


@shared_task(name="training.run_training_job", bind=True, **LIMITS)
def run_training_job_task(self, job_id: int) -> str | None:
    job = services.training_job_run(job_id=job_id, worker=self.request.hostname or "")
    return job.status if job is not None else None


@shared_task(name="training.run_training_trials", **LIMITS)
def run_training_trials_task(job_id: int) -> int:
    return services.training_job_run_trials(job_id=job_id)


@shared_task(name="training.sweep_stale_jobs", soft_time_limit=60, time_limit=90)
def sweep_stale_training_jobs_task() -> dict:
    return services.training_jobs_sweep()
