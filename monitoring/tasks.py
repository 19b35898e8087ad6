from celery import shared_task

from monitoring import services


@shared_task(name="monitoring.answer_worker_probe", bind=True, soft_time_limit=30, time_limit=60)
def answer_worker_probe_task(self, probe_id: int) -> bool:
    return services.worker_probe_answer(probe_id=probe_id, worker=self.request.hostname or "")


@shared_task(
    name="monitoring.beat_heartbeat", ignore_result=True, soft_time_limit=10, time_limit=20
)
def beat_heartbeat_task() -> None:
    """Sent by Beat on a fixed schedule. Sending it is the heartbeat: Beat writes the entry's
    last_run_at as it dispatches (CELERY_BEAT_SYNC_EVERY = 1), and the status page reads that,
    so the body has nothing left to do."""
