"""Monitoring services: the worker probe, drift monitors and checks, retraining, performance
history, retention, events and webhooks, costs."""

from monitoring.services.costs import (
    cost_rate,
    cost_record,
    inference_costs_record,
    storage_costs_record,
)
from monitoring.services.drift import (
    DRIFT_CHECKS,
    drift_check_create,
    drift_check_run,
    drift_check_scheduled,
    drift_checks_sweep,
    drift_monitor_delete_schedule,
    drift_monitor_ensure,
    drift_monitor_save,
)
from monitoring.services.performance import performance_snapshots_write
from monitoring.services.probes import worker_probe_answer, worker_probe_request
from monitoring.services.retention import prediction_log_retention
from monitoring.services.retraining import (
    retraining_after_check,
    retraining_blocker,
    retraining_scheduled,
    retraining_settle,
    retraining_start,
    retrainings_settle,
)
from monitoring.services.webhooks import (
    event_record,
    signature_verify,
    webhook_create,
    webhook_delivery_attempt,
    webhook_send_test,
    webhook_update,
)

__all__ = [
    "cost_rate",
    "cost_record",
    "inference_costs_record",
    "storage_costs_record",
    "DRIFT_CHECKS",
    "drift_check_create",
    "drift_check_run",
    "drift_check_scheduled",
    "drift_checks_sweep",
    "drift_monitor_delete_schedule",
    "drift_monitor_ensure",
    "drift_monitor_save",
    "performance_snapshots_write",
    "prediction_log_retention",
    "retraining_after_check",
    "retraining_blocker",
    "retraining_scheduled",
    "retraining_settle",
    "retraining_start",
    "retrainings_settle",
    "event_record",
    "signature_verify",
    "webhook_create",
    "webhook_delivery_attempt",
    "webhook_send_test",
    "webhook_update",
    "worker_probe_answer",
    "worker_probe_request",
]
