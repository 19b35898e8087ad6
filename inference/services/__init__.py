"""Inference services: serving and the prediction log, feedback, batch scoring jobs."""

from inference.services.batch_jobs import (
    batch_scoring_job_create,
    batch_scoring_job_run,
    batch_scoring_jobs_sweep,
)
from inference.services.feedback import (
    FeedbackOutcome,
    feedback_record,
    feedback_record_bulk,
)
from inference.services.serving import (
    Served,
    prediction_logs_write,
    predictions_serve,
    unit_id_hash,
)

__all__ = [
    "FeedbackOutcome",
    "Served",
    "batch_scoring_job_create",
    "batch_scoring_job_run",
    "batch_scoring_jobs_sweep",
    "feedback_record",
    "feedback_record_bulk",
    "prediction_logs_write",
    "predictions_serve",
    "unit_id_hash",
]
