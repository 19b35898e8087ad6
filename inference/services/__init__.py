"""Inference services: serving and the prediction log, feedback, batch scoring jobs."""

from inference.ids import new_prediction_ids
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
from inference.services.prediction_log import prediction_logs_prune, prediction_logs_write
from inference.services.serving import (
    Explained,
    Served,
    explanations_serve,
    predictions_serve,
)
from inference.serving.cache import model_cache
from inference.serving.routing import Route, RouteRequest, register_router, unregister_router

__all__ = [
    "Explained",
    "explanations_serve",
    "FeedbackOutcome",
    "Route",
    "RouteRequest",
    "Served",
    "batch_scoring_job_create",
    "batch_scoring_job_run",
    "batch_scoring_jobs_sweep",
    "feedback_record",
    "feedback_record_bulk",
    "new_prediction_ids",
    "prediction_logs_prune",
    "prediction_logs_write",
    "predictions_serve",
    "model_cache",
    "register_router",
    "unregister_router",
]
