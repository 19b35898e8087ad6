from celery import shared_task

from registry import services


@shared_task(name="registry.run_hub_export", soft_time_limit=3600, time_limit=3700)
def run_hub_export_task(job_id: int) -> str | None:
    """Run one queued Hub export (a redelivered message finds it claimed and does nothing)."""
    job = services.hub_export_run(job_id=job_id)
    return None if job is None else job.status


@shared_task(name="registry.sweep_stale_hub_exports", ignore_result=True)
def sweep_stale_hub_exports_task() -> dict:
    return services.hub_exports_sweep()
