"""Prediction URLs: REST under /api/v1/ and the V2 protocol under /v2 (no trailing slashes),
and the Predict pages under /predict/ (namespace "inference")."""

from django.urls import path

from inference import api, v2, views

api_urlpatterns = [
    path("models/<slug:name>/predict", api.predict, name="predict"),
    path("models/<slug:name>/explain", api.explain, name="explain"),
    path("predictions/<str:prediction_id>/feedback", api.prediction_feedback, name="feedback"),
    path("feedback", api.bulk_feedback, name="feedback_bulk"),
]

v2_urlpatterns = [
    path("v2", v2.server_metadata, name="v2_server"),
    path("v2/health/live", v2.health_live, name="v2_live"),
    path("v2/health/ready", v2.health_ready, name="v2_ready"),
    path("v2/models/<slug:name>", v2.model_metadata, name="v2_model"),
    path("v2/models/<slug:name>/ready", v2.model_ready, name="v2_model_ready"),
    path("v2/models/<slug:name>/infer", v2.model_infer, name="v2_infer"),
    path("v2/models/<slug:name>/versions/<str:version>", v2.model_metadata, name="v2_version"),
    path(
        "v2/models/<slug:name>/versions/<str:version>/ready",
        v2.model_ready,
        name="v2_version_ready",
    ),
    path(
        "v2/models/<slug:name>/versions/<str:version>/infer",
        v2.model_infer,
        name="v2_version_infer",
    ),
]

page_urlpatterns = [
    path("", views.predict_model_list, name="predict"),
    path("batch-jobs/<int:pk>/", views.batch_job_detail, name="batch_job_detail"),
    path(
        "batch-jobs/<int:pk>/status/",
        views.batch_job_status_fragment,
        name="batch_job_status_fragment",
    ),
    path("<slug:name>/", views.predict_model, name="predict_model"),
    path("<slug:name>/feedback/", views.prediction_feedback, name="prediction_feedback"),
    path("<slug:name>/batch/", views.batch_job_new, name="batch_job_new"),
    path("<slug:name>/batch/rows/", views.batch_job_rows_fragment, name="batch_job_rows_fragment"),
]
