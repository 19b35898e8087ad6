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


@shared_task(name="monitoring.run_drift_check", soft_time_limit=600, time_limit=660)
def run_drift_check_task(check_id: int) -> str | None:
    """Run one queued drift check (a redelivered message finds it claimed and does nothing)."""
    check = services.drift_check_run(check_id=check_id)
    return None if check is None else check.verdict or check.status


@shared_task(name="monitoring.run_scheduled_drift_check", soft_time_limit=600, time_limit=660)
def run_scheduled_drift_check_task(monitor_id: int) -> str | None:
    """Sent by a monitor's PeriodicTask: create a check of the production version and run it
    here, on the monitoring queue. A disabled monitor, or a model without a production
    version, is skipped and says why in the worker log."""
    check = services.drift_check_scheduled(monitor_id=monitor_id)
    if check is None:
        return None
    ran = services.drift_check_run(check_id=check.pk)
    return None if ran is None else ran.verdict or ran.status


@shared_task(name="monitoring.run_scheduled_retraining", soft_time_limit=300)
def run_scheduled_retraining_task(monitor_id: int) -> int | None:
    """Sent by a monitor's retraining calendar: start a retraining (the job trains on the
    training queue)."""
    retraining = services.retraining_scheduled(monitor_id=monitor_id)
    return None if retraining is None else retraining.pk


@shared_task(name="monitoring.settle_retrainings", ignore_result=True, soft_time_limit=600)
def settle_retrainings_task() -> int:
    """Compare and stage the challengers of retrainings whose training job finished."""
    return services.retrainings_settle()


@shared_task(name="monitoring.sweep_stale_drift_checks", ignore_result=True)
def sweep_stale_drift_checks_task() -> dict:
    return services.drift_checks_sweep()


@shared_task(name="monitoring.write_performance_snapshots", ignore_result=True, soft_time_limit=120)
def write_performance_snapshots_task() -> int:
    """Sent by Beat every PERFORMANCE_SNAPSHOT_SECONDS: each version's serving figures for the
    intervals that are complete (monitoring.services.performance)."""
    return services.performance_snapshots_write()


@shared_task(name="monitoring.prediction_log_retention", ignore_result=True, soft_time_limit=3000)
def prediction_log_retention_task() -> int:
    """Sent by Beat hourly: delete log rows past PREDICTION_LOG_RETENTION_DAYS in batches,
    keeping what running A/B tests and drift windows need (monitoring.services.retention)."""
    return services.prediction_log_retention()


@shared_task(name="monitoring.deliver_webhook", ignore_result=True, soft_time_limit=60)
def deliver_webhook_task(delivery_id: int) -> None:
    """One attempt at a webhook delivery; a failed one is sent again with backoff."""
    wait = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if wait is not None:
        deliver_webhook_task.apply_async((delivery_id,), countdown=wait)


@shared_task(name="monitoring.record_inference_costs", ignore_result=True, soft_time_limit=300)
def record_inference_costs_task() -> int:
    """Sent by Beat: price the serving CPU time of each closed COST_INTERVAL_SECONDS interval
    (monitoring.services.costs)."""
    return services.inference_costs_record()


@shared_task(name="monitoring.record_storage_costs", ignore_result=True, soft_time_limit=1800)
def record_storage_costs_task() -> int:
    """Sent by Beat every COST_STORAGE_SECONDS: measure and price artifacts, datasets and the
    prediction log's rows."""
    return services.storage_costs_record()
